//! IOReturn, Mach and MIG codes: names, meanings, families, and the header each name is defined in.
//!
//! The IOKit common, Mach and MIG codes are every name xnu-11417.101.15's `iokit/IOKit/IOReturn.h`,
//! `osfmk/mach/kern_return.h`, `osfmk/mach/message.h` and `osfmk/mach/mig_errors.h` define, in
//! [`headers`] (generated from committed copies of those headers by `tests/header_codes.rs`; see
//! `ci/codes/`). The USB family and USBDriverKit codes are not in xnu: they are listed here from
//! `shared/reference/iokit.md` §1 (IOUSBFamily `USB.h`). This module is the one decoder: anything that
//! prints a code goes through [`decode`].

use std::fmt;

#[rustfmt::skip]
mod headers;

/// Which header family a code belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Success,
    IoKitCommon,
    IoKitUsb,
    UsbHost,
    MachKern,
    MachSend,
    MachRcv,
    /// One of the special bits `MACH_MSG_MASK` covers, OR'd into a send or receive code (message.h).
    MachMsgBit,
    Mig,
    Unknown,
}

impl Family {
    pub fn label(self) -> &'static str {
        match self {
            Family::Success => "success",
            Family::IoKitCommon => "IOKit common (sys_iokit | sub_iokit_common)",
            Family::IoKitUsb => "IOKit USB family (sys_iokit | sub_iokit_usb)",
            Family::UsbHost => "USBDriverKit host",
            Family::MachKern => "Mach kern_return_t",
            Family::MachSend => "Mach message send",
            Family::MachRcv => "Mach message receive",
            Family::MachMsgBit => "Mach message special bit",
            Family::Mig => "MIG",
            Family::Unknown => "unknown",
        }
    }
}

/// One known code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownCode {
    pub name: &'static str,
    pub value: u32,
    /// The header's own comment for it (or the reference's words for the USB codes).
    pub meaning: &'static str,
    pub family: Family,
    /// Where the name is defined: an xnu header path, or `IOUSBFamily USB.h` for the USB codes.
    pub header: &'static str,
}

const USB_HEADER: &str = "IOUSBFamily USB.h / USBDriverKit (reference §1)";

macro_rules! usb_codes {
    ($($fam:ident $name:ident = $val:expr, $meaning:expr;)*) => {
        /// The USB family codes, which xnu's headers do not define.
        const USB_CODES: &[KnownCode] = &[
            $(KnownCode { name: stringify!($name), value: $val, meaning: $meaning, family: Family::$fam, header: USB_HEADER },)*
        ];
        /// Every known name as a constant: the xnu header names and the USB ones.
        #[allow(non_upper_case_globals)]
        pub mod code {
            pub use super::headers::names::*;
            $(pub const $name: u32 = $val;)*
        }
    };
}

usb_codes! {
    IoKitUsb kIOUSBInterfaceNotFound = 0xE000_404E, "interface not found";
    IoKitUsb kIOUSBPipeStalled = 0xE000_404F, "pipe stalled";
    IoKitUsb kIOUSBTransactionReturned = 0xE000_4050, "transaction returned";
    IoKitUsb kIOUSBTransactionTimeout = 0xE000_4051, "transaction timed out";
    IoKitUsb kIOUSBConfigNotFound = 0xE000_4056, "configuration not found";
    IoKitUsb kIOUSBEndpointNotFound = 0xE000_4057, "endpoint not found";
    IoKitUsb kIOUSBNotEnoughPowerErr = 0xE000_405D, "not enough power";
    IoKitUsb kIOUSBNotEnoughPipesErr = 0xE000_405E, "not enough pipes";
    IoKitUsb kIOUSBNoAsyncPortErr = 0xE000_405F, "no async port";
    IoKitUsb kIOUSBTooManyPipesErr = 0xE000_4060, "too many pipes";
    IoKitUsb kIOUSBUnknownPipeErr = 0xE000_4061, "unknown pipe";
    UsbHost kUSBHostReturnPipeStalled = 0xE000_5000, "pipe stalled (USBDriverKit)";
    UsbHost kUSBHostReturnNoPower = 0xE000_5001, "no power (USBDriverKit)";
}

/// Every code the project knows: the xnu headers' in header order, then the USB ones.
pub fn known_codes() -> impl Iterator<Item = &'static KnownCode> {
    headers::HEADER_CODES.iter().chain(USB_CODES)
}

/// Every name `value` has, in header order (0 is kIOReturnSuccess, KERN_SUCCESS and MACH_MSG_SUCCESS).
pub fn names_of(value: u32) -> Vec<&'static KnownCode> {
    known_codes().filter(|k| k.value == value).collect()
}

/// A Mach send or receive code with special bits set (`MACH_RCV_HEADER_ERROR | MACH_MSG_IPC_SPACE`):
/// the base code and the bits, when the base is known. message.h: "MACH_MSG_MASK masks off these special
/// bits".
pub fn mach_special_bits(value: u32) -> Option<(&'static KnownCode, Vec<&'static KnownCode>)> {
    let bits = value & headers::MACH_MSG_MASK;
    if bits == 0 || (value >> 26) & 0x3f != 4 {
        return None;
    }
    let base = lookup(value & !headers::MACH_MSG_MASK)?;
    let named: Vec<_> = headers::MACH_MSG_SPECIAL_BITS
        .iter()
        .filter(|b| bits & b.value != 0)
        .collect();
    Some((base, named))
}

/// A raw 32-bit return code as the caller saw it (IOReturn, kern_return_t or MIG code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ReturnCode(pub u32);

impl ReturnCode {
    pub const SUCCESS: ReturnCode = ReturnCode(0);

    pub fn is_success(self) -> bool {
        self.0 == 0
    }

    pub fn known(self) -> Option<&'static KnownCode> {
        lookup(self.0)
    }

    /// The symbolic name, or the hex value when the code is not known.
    pub fn name(self) -> String {
        match self.known() {
            Some(k) => k.name.to_string(),
            None => format!("0x{:08X}", self.0),
        }
    }
}

impl From<u32> for ReturnCode {
    fn from(v: u32) -> Self {
        ReturnCode(v)
    }
}

impl fmt::Display for ReturnCode {
    /// `kIOReturnBadArgument (0xE00002C2)`: the form every report uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.known() {
            Some(k) => write!(f, "{} (0x{:08X})", k.name, self.0),
            None => write!(f, "0x{:08X} ({})", self.0, decode(self.0).family_text()),
        }
    }
}

/// The first name of `value` in header order.
pub fn lookup(value: u32) -> Option<&'static KnownCode> {
    known_codes().find(|k| k.value == value)
}

pub fn by_name(name: &str) -> Option<&'static KnownCode> {
    known_codes().find(|k| k.name == name)
}

/// The name closest to `name` among the known ones, for "did you mean" hints.
pub fn nearest_name(name: &str) -> Option<&'static str> {
    crate::names::nearest(name, known_codes().map(|k| k.name))
}

/// A decoded code: known entry if any, plus the system / subsystem / code split of `err_system`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub value: u32,
    /// The first name in header order; [`Decoded::names`] has them all.
    pub known: Option<&'static KnownCode>,
    /// Every name of the value (several where headers agree: 0 is kIOReturnSuccess and KERN_SUCCESS).
    pub names: Vec<&'static KnownCode>,
    pub system: u32,
    pub subsystem: u32,
    pub code: u32,
}

impl Decoded {
    pub fn family(&self) -> Family {
        if let Some(k) = self.known {
            return k.family;
        }
        match (self.system, self.subsystem) {
            (0x38, 0) => Family::IoKitCommon,
            // Both USBDriverKit host codes of reference §1 (0xE0005000, 0xE0005001) are iokit_usb_err(0x1000
            // + n): same subsystem as the USB family, told apart by the code. Where that range ends is
            // UNCONFIRMED; 0x1000..=0x1FFF is assumed.
            (0x38, 1) if self.code & 0x3000 == 0x1000 => Family::UsbHost,
            (0x38, 1) => Family::IoKitUsb,
            (0x04, 0) => Family::MachSend,
            (0x04, 1) => Family::MachRcv,
            _ if self.value == 0 => Family::Success,
            _ if (self.value as i32) < 0 && (self.value as i32) >= -399 => Family::Mig,
            _ if self.value < 0x100 => Family::MachKern,
            _ => Family::Unknown,
        }
    }

    fn family_text(&self) -> String {
        format!(
            "{}; system 0x{:02X}, subsystem 0x{:03X}, code 0x{:04X}",
            self.family().label(),
            self.system,
            self.subsystem,
            self.code
        )
    }
}

pub fn decode(value: u32) -> Decoded {
    Decoded {
        value,
        known: lookup(value),
        names: names_of(value),
        system: (value >> 26) & 0x3f,
        subsystem: (value >> 14) & 0xfff,
        code: value & 0x3fff,
    }
}

/// Parse a code the way a person writes one: a name, hex (`0xE00002BC`), or decimal (also negative, for MIG).
pub fn parse(text: &str) -> Result<ReturnCode, String> {
    let t = text.trim();
    if let Some(k) = by_name(t) {
        return Ok(ReturnCode(k.value));
    }
    let hex = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"));
    if let Some(h) = hex {
        return u32::from_str_radix(&h.replace('_', ""), 16)
            .map(ReturnCode)
            .map_err(|_| format!("`{t}` is not a 32-bit hex code"));
    }
    if let Ok(v) = t.parse::<i64>() {
        if (i32::MIN as i64..=u32::MAX as i64).contains(&v) {
            return Ok(ReturnCode(v as u32));
        }
        return Err(format!("`{t}` does not fit in 32 bits"));
    }
    let hint = nearest_name(t)
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default();
    Err(format!(
        "`{t}` is not a known return code name, hex value or number{hint}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_code_round_trips_by_name_and_value() {
        for k in known_codes() {
            assert_eq!(parse(k.name).unwrap().0, k.value, "{}", k.name);
            assert!(names_of(k.value).contains(&k), "{}", k.name);
        }
    }

    #[test]
    fn values_match_the_header_macros() {
        // iokit_common_err(r) = 0xE0000000 | r; iokit_usb_err(r) = 0xE0004000 | r (reference §1)
        assert_eq!(code::kIOReturnError, 0xE000_0000 | 0x2BC);
        assert_eq!(code::kIOReturnNotPermitted, 0xE000_0000 | 0x2E2);
        assert_eq!(code::kIOUSBPipeStalled, 0xE000_4000 | 0x4F);
        assert_eq!(code::MIG_ARRAY_TOO_LARGE as i32, -307);
        assert_eq!(decode(code::kIOReturnError).system, 0x38);
    }

    #[test]
    fn display_names_known_and_splits_unknown() {
        assert_eq!(
            ReturnCode(0xE00002BC).to_string(),
            "kIOReturnError (0xE00002BC)"
        );
        let unknown = ReturnCode(0xE00002CB).to_string();
        assert!(
            unknown.contains("0xE00002CB") && unknown.contains("IOKit common"),
            "{unknown}"
        );
    }

    #[test]
    fn parse_accepts_hex_decimal_negative_and_hints_names() {
        assert_eq!(parse("0xe00002c2").unwrap(), ReturnCode(0xE00002C2));
        assert_eq!(
            parse("-307").unwrap(),
            ReturnCode(code::MIG_ARRAY_TOO_LARGE)
        );
        assert_eq!(
            parse("268435459").unwrap(),
            ReturnCode(code::MACH_SEND_INVALID_DEST)
        );
        let err = parse("kIOReturnNotPermited").unwrap_err();
        assert!(err.contains("kIOReturnNotPermitted"), "{err}");
    }
}
