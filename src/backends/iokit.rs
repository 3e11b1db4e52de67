//! IOKit logic with no FFI, used by the `macos` backend and tested on every machine: how a [`Matching`] is
//! built from IOKit's matching helpers, how a CFNumber becomes a [`Prop`], how the superclass walk becomes a
//! class chain, how raw entry parts become a [`RegEntry`], and how an async completion message reads.

use crate::lab::{EntryId, Matching, Prop, RegEntry};
use std::collections::BTreeMap;

/// Matching-dictionary keys (IOKit framework `IOKitKeys.h`).
pub const PROVIDER_CLASS_KEY: &str = "IOProviderClass";
pub const NAME_MATCH_KEY: &str = "IONameMatch";
pub const PROPERTY_MATCH_KEY: &str = "IOPropertyMatch";
pub const PARENT_MATCH_KEY: &str = "IOParentMatch";
pub const REGISTRY_ENTRY_ID_KEY: &str = "IORegistryEntryID";

/// Which IOKit helper creates the base of the matching dictionary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatchBase {
    /// `IORegistryEntryIDMatching`: at most one entry, the most selective.
    Id(EntryId),
    /// `IOServiceMatching(class)`.
    Class(String),
    /// `IOServiceNameMatching(name)`.
    Name(String),
}

/// The dictionary for a [`Matching`]: a base plus the keys to add. Whatever the kernel's own matching does,
/// the backend filters the results again with [`Matching::matches`] so both backends answer alike.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchPlan {
    pub base: MatchBase,
    /// `IONameMatch`, when the name is not already the base.
    pub name: Option<String>,
    /// `IOPropertyMatch`.
    pub properties: BTreeMap<String, Prop>,
    /// `IOParentMatch = { IORegistryEntryID = parent }`.
    pub parent: Option<EntryId>,
}

pub fn match_plan(m: &Matching) -> MatchPlan {
    let base = match (&m.id, &m.class, &m.name) {
        (Some(id), _, _) => MatchBase::Id(*id),
        (None, Some(class), _) => MatchBase::Class(class.clone()),
        (None, None, Some(name)) => MatchBase::Name(name.clone()),
        // Every registered service conforms to IOService.
        (None, None, None) => MatchBase::Class("IOService".into()),
    };
    let name = match base {
        MatchBase::Name(_) => None,
        _ => m.name.clone(),
    };
    MatchPlan {
        base,
        name,
        properties: m.properties.clone(),
        parent: m.parent,
    }
}

/// A CFNumber as extracted: `CFNumberIsFloatType`, its `CFNumberGetType`, and the value read as
/// `kCFNumberSInt64Type` or `kCFNumberFloat64Type`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CfNumber {
    /// A 32-bit (or narrower) integer CFNumber: `IOCFUnserializeBinary` (IOKitUser `IOCFSerialize.c`)
    /// makes one of `kCFNumberSInt32Type` for every OSNumber of 32 bits or fewer, from its low 32 bits.
    Int32(i32),
    Int(i64),
    Float(f64),
}

/// Whether a `CFNumberType` is an integer type of 32 bits or fewer (`CFNumber.h`: SInt8, SInt16, SInt32,
/// Char, Short, Int).
pub fn is_narrow_int_type(number_type: u32) -> bool {
    matches!(number_type, 1..=3 | 7..=9)
}

/// Keys whose values are unsigned 64-bit in the kernel (`IORegistryEntryGetRegistryEntryID` is a `uint64_t`).
pub const UNSIGNED_KEYS: &[&str] = &[REGISTRY_ENTRY_ID_KEY, "sessionID"];

/// A CFNumber as a [`Prop`].
///
/// CFNumber has no unsigned type. The kernel's OSNumber keeps unsigned 64-bit values, and the user-space
/// conversion hands them over as a 64-bit CFNumber with the same bits, so a value of 2^63 or more reads back
/// as a negative SInt64. Nothing in the CFNumber says it was unsigned; for keys known to be unsigned
/// ([`UNSIGNED_KEYS`]) the bits are reinterpreted as u64, every other negative value is kept as read.
/// Floats do not come from OSNumber (integers only); one that is integral is kept as an integer, any other
/// as its decimal text, since [`Prop`] has no float.
///
/// The kernel's OSNumber has no sign: a 32-bit value reaches user space as a *signed* SInt32 (issue 19,
/// defect 4), so a `locationID` of 0x80000000 or more reads back negative; the low 32 bits are taken as
/// unsigned, which is what the kernel holds.
pub fn number_prop(key: &str, n: CfNumber) -> Prop {
    match n {
        CfNumber::Int32(v) => Prop::Int(v as u32 as i128),
        CfNumber::Int(v) if v < 0 && UNSIGNED_KEYS.contains(&key) => Prop::Int(v as u64 as i128),
        CfNumber::Int(v) => Prop::Int(v as i128),
        CfNumber::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Prop::Int(f as i128),
        CfNumber::Float(f) => Prop::Str(f.to_string()),
    }
}

/// A [`Prop::Int`] as the i64 bits a CFNumber holds (values above i64::MAX keep their u64 bits), or `None`
/// when it fits neither.
pub fn int_bits(v: i128) -> Option<i64> {
    i64::try_from(v)
        .ok()
        .or_else(|| u64::try_from(v).ok().map(|u| u as i64))
}

/// The class chain, most derived first: `class`, then each superclass until there is none. The walk stops
/// at a repeat or after 64 steps so a confused answer cannot loop.
pub fn class_chain(
    class: &str,
    mut superclass_of: impl FnMut(&str) -> Option<String>,
) -> Vec<String> {
    let mut chain = vec![class.to_string()];
    while chain.len() < 64 {
        let Some(next) = superclass_of(chain.last().map(String::as_str).unwrap_or_default()) else {
            break;
        };
        if next.is_empty() || chain.contains(&next) {
            break;
        }
        chain.push(next);
    }
    chain
}

/// The property through which user space sees another class name (IOKitUser `IOKitLib.c`,
/// `kIOClassNameOverrideKey`).
pub const CLASS_NAME_OVERRIDE_KEY: &str = "IOClassNameOverride";

/// User-space names and the kernel classes that carry them, as real dumps show (reference §5:
/// IOUSBHostDevice reads as IOUSBDevice, IOUSBHostInterface as IOUSBInterface).
pub const OVERRIDDEN_CLASSES: &[(&str, &str)] = &[
    ("IOUSBDevice", "IOUSBHostDevice"),
    ("IOUSBInterface", "IOUSBHostInterface"),
];

/// The real class of an entry. `IOObjectGetClass` answers the `IOClassNameOverride` property when the entry
/// has one (IOKitUser `IOKitLib.c`, `_IOObjectGetClass` with options 0), so a class equal to the override
/// is replaced by the kernel class known to carry that name, once `IOObjectConformsTo` (which answers
/// for the kernel's class chain) confirms it. Anything else is kept as read.
pub fn real_class(
    read: &str,
    override_name: Option<&str>,
    conforms: impl Fn(&str) -> bool,
) -> String {
    if override_name == Some(read) {
        for (user, kernel) in OVERRIDDEN_CLASSES {
            if *user == read && conforms(kernel) {
                return kernel.to_string();
            }
        }
    }
    read.to_string()
}

/// What the FFI reads of one entry, before it becomes a [`RegEntry`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawEntry {
    pub id: EntryId,
    pub name: String,
    /// `IORegistryEntryGetLocationInPlane`; empty or failed means none.
    pub location: Option<String>,
    pub class: String,
    pub class_chain: Vec<String>,
    /// The parent's id; `IORegistryEntryGetParentEntry` fails for the root.
    pub parent: Option<EntryId>,
    pub path: String,
    /// Attached in the IOService plane (`IORegistryEntryInPlane`): a terminated service is detached.
    pub in_service_plane: bool,
    pub properties: BTreeMap<String, Prop>,
}

pub fn reg_entry(raw: RawEntry) -> RegEntry {
    let class_chain = if raw.class_chain.first() == Some(&raw.class) {
        raw.class_chain
    } else {
        let mut chain = vec![raw.class.clone()];
        chain.extend(raw.class_chain.into_iter().filter(|c| *c != raw.class));
        chain
    };
    RegEntry {
        id: raw.id,
        name: raw.name,
        location: raw.location.filter(|l| !l.is_empty()),
        class: raw.class,
        class_chain,
        parent: raw.parent,
        path: raw.path,
        registered: raw.in_service_plane,
        properties: raw.properties,
    }
}

/// `kOSAsyncRef64Count`: an async reference is 8 words on the wire (reference §3).
pub const ASYNC_REF64_COUNT: usize = 8;

/// One async completion as the kernel sends it to the wake port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub result: u32,
    pub args: Vec<u64>,
}

/// `kOSNotificationMessageID` (IOKit `OSMessageNotification.h`): the `msgh_id` of every kernel
/// notification message, async completions included.
pub const NOTIFICATION_MESSAGE_ID: u32 = 53;
/// `kIOAsyncCompletionNotificationType` (`OSMessageNotification.h`): the notify header's type of a completion.
pub const ASYNC_COMPLETION_TYPE: u32 = 150;

/// Parse the message `IOUserClient::_sendAsyncResult64` sends (xnu `iokit/Kernel/IOUserClient.cpp`,
/// `OSMessageNotification.h`): a 24-byte `mach_msg_header_t` with `msgh_id` 53, an `OSNotificationHeader64`
/// (u32 size, u32 type 150, 8 × u64 reference), then `IOAsyncCompletionContent` (u32 result) and the u64
/// arguments, packed. `msgh_size` (offset 4) bounds what is read. Any other message (another id or type)
/// is not a completion: `None` (issue 19, defect 7).
pub fn parse_async_completion(msg: &[u8]) -> Option<Completion> {
    const HEADER: usize = 24;
    const NOTIFY: usize = 8 + 8 * ASYNC_REF64_COUNT;
    let u32_at = |o: usize| {
        msg.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if u32_at(20)? != NOTIFICATION_MESSAGE_ID || u32_at(HEADER + 4)? != ASYNC_COMPLETION_TYPE {
        return None;
    }
    let size = (u32_at(4)? as usize).min(msg.len());
    let result = u32_at(HEADER + NOTIFY).filter(|_| size >= HEADER + NOTIFY + 4)?;
    let args = msg[HEADER + NOTIFY + 4..size]
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    Some(Completion { result, args })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_selective_helper_is_the_base() {
        let m = Matching {
            class: Some("IOUSBHostDevice".into()),
            name: Some("DS620".into()),
            id: Some(7),
            ..Matching::default()
        };
        assert_eq!(match_plan(&m).base, MatchBase::Id(7));
        assert_eq!(match_plan(&m).name.as_deref(), Some("DS620"));
        let by_name = Matching {
            name: Some("NullDriver".into()),
            ..Matching::default()
        };
        let plan = match_plan(&by_name);
        assert_eq!(plan.base, MatchBase::Name("NullDriver".into()));
        assert_eq!(plan.name, None);
        assert_eq!(
            match_plan(&Matching::default()).base,
            MatchBase::Class("IOService".into())
        );
    }

    #[test]
    fn big_unsigned_values_read_back_negative_and_are_restored_for_known_keys() {
        let bits = (1u64 << 63) + 5;
        let read = CfNumber::Int(bits as i64);
        assert_eq!(
            number_prop(REGISTRY_ENTRY_ID_KEY, read),
            Prop::Int(bits as i128)
        );
        assert_eq!(
            number_prop("someSignedKey", read),
            Prop::Int(bits as i64 as i128)
        );
        assert_eq!(
            number_prop("idVendor", CfNumber::Int(0x1452)),
            Prop::Int(0x1452)
        );
        assert_eq!(number_prop("x", CfNumber::Float(3.0)), Prop::Int(3));
        assert_eq!(
            number_prop("x", CfNumber::Float(0.5)),
            Prop::Str("0.5".into())
        );
        assert_eq!(
            number_prop("locationID", CfNumber::Int32(0x8010_0000u32 as i32)),
            Prop::Int(0x8010_0000)
        );
        assert!(is_narrow_int_type(3) && !is_narrow_int_type(4) && !is_narrow_int_type(5));
        assert_eq!(int_bits(u64::MAX as i128), Some(-1));
        assert_eq!(int_bits(-3), Some(-3));
        assert_eq!(int_bits(1i128 << 70), None);
    }

    #[test]
    fn an_overridden_class_name_gives_way_to_the_kernel_class_it_stands_for() {
        let usb_host = |c: &str| c == "IOUSBHostDevice" || c == "IOService";
        assert_eq!(
            real_class("IOUSBDevice", Some("IOUSBDevice"), usb_host),
            "IOUSBHostDevice"
        );
        // Not an override, or an override the kernel class does not confirm: kept as read.
        assert_eq!(real_class("IOUSBDevice", None, usb_host), "IOUSBDevice");
        assert_eq!(
            real_class("IOUSBDevice", Some("IOUSBDevice"), |_| false),
            "IOUSBDevice"
        );
        assert_eq!(
            real_class("AppleUSBHub", Some("AppleUSBHub"), usb_host),
            "AppleUSBHub"
        );
    }

    #[test]
    fn class_chain_walks_up_and_stops_on_a_loop() {
        let sup = |c: &str| match c {
            "NullDriver" => Some("IOUserService".to_string()),
            "IOUserService" => Some("IOService".to_string()),
            "IOService" => Some("IORegistryEntry".to_string()),
            "IORegistryEntry" => Some("OSObject".to_string()),
            _ => None,
        };
        assert_eq!(
            class_chain("NullDriver", sup),
            [
                "NullDriver",
                "IOUserService",
                "IOService",
                "IORegistryEntry",
                "OSObject"
            ]
        );
        assert_eq!(class_chain("A", |_| Some("A".into())), ["A"]);
    }

    #[test]
    fn raw_entries_map_to_reg_entries() {
        let e = reg_entry(RawEntry {
            id: 0x100000abc,
            name: "IOUSBHostInterface".into(),
            location: Some(String::new()),
            class: "IOUSBHostInterface".into(),
            class_chain: vec!["IOService".into()],
            in_service_plane: true,
            ..RawEntry::default()
        });
        assert_eq!(e.location, None);
        assert_eq!(e.class_chain, ["IOUSBHostInterface", "IOService"]);
        assert!(e.registered && e.conforms_to("IOService"));
    }

    #[test]
    fn async_completions_parse_and_short_messages_do_not() {
        let mut msg = vec![0u8; 24 + 72 + 4 + 16];
        let len = msg.len() as u32;
        msg[4..8].copy_from_slice(&len.to_le_bytes());
        msg[20..24].copy_from_slice(&NOTIFICATION_MESSAGE_ID.to_le_bytes());
        msg[28..32].copy_from_slice(&ASYNC_COMPLETION_TYPE.to_le_bytes());
        msg[96..100].copy_from_slice(&0xE00002C2u32.to_le_bytes());
        msg[100..108].copy_from_slice(&42u64.to_le_bytes());
        msg[108..116].copy_from_slice(&7u64.to_le_bytes());
        assert_eq!(
            parse_async_completion(&msg),
            Some(Completion {
                result: 0xE00002C2,
                args: vec![42, 7]
            })
        );
        assert_eq!(parse_async_completion(&msg[..50]), None);
        // Another message id (a no-senders notification is 70) or another notify type is no completion.
        let mut other_id = msg.clone();
        other_id[20..24].copy_from_slice(&70u32.to_le_bytes());
        assert_eq!(parse_async_completion(&other_id), None);
        let mut other_type = msg.clone();
        other_type[28..32].copy_from_slice(&100u32.to_le_bytes());
        assert_eq!(parse_async_completion(&other_type), None);
        msg[4..8].copy_from_slice(&60u32.to_le_bytes());
        assert_eq!(parse_async_completion(&msg), None);
    }
}
