//! What libusb on macOS gets wrong, corrected from the IORegistry (reference §5), as pure logic over registry
//! snapshots: pairing a libusb device with its `IOUSBHostDevice`, its port path, and whether a reset really
//! re-enumerated the device.
//!
//! libusb's darwin backend (libusb `libusb/os/darwin_usb.c`, `process_new_device`) takes the bus from
//! `locationID >> 24` and the address from `GetDeviceAddress` (the registry's `USB Address`); those stay right.
//! The port number comes from `get_device_port`: the device's `PortNum`, else the parent's `port` property,
//! which macOS 26 renamed `usb-port-number` (fixed upstream after 1.0.27; libusb1-sys 0.7 vendors 1.0.27), so
//! `libusb_get_port_numbers` comes back empty there. The port path is in `locationID` itself.
//!
//! A reset (`darwin_reset_device` → `darwin_reenumerate_device`) hides the re-enumeration: the device keeps its
//! `libusb_device` and old address, `darwin_devices_detached` skips it while `in_reenumerate`, and
//! `darwin_get_cached_device` adopts the replacement at the same `locationID`. The registry does show it: the
//! replacement is a new `IOUSBHostDevice` with a new `sessionID` at the same `locationID`.
//!
//! Knows the `Registry` trait, nothing of IOKit or libusb.

use super::location;
use crate::lab::{EntryId, LabError, Matching, RegEntry, Registry};
use std::time::{Duration, Instant};

/// libusb's own wait for a re-enumeration (`DARWIN_REENUMERATE_TIMEOUT_US`, 10 s, libusb `darwin_usb.c`).
pub const LIBUSB_REENUMERATE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long dexthil gives a reset replug: libusb's own wait plus a second for the registry to settle.
pub const RESET_REPLUG_WAIT: Duration = Duration::from_secs(11);

/// The registry's view of one USB device: what pairs it with libusb and tells its enumerations apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegUsbDevice {
    pub entry: EntryId,
    pub location_id: u32,
    /// `USB Address` (or `kUSBAddress`).
    pub address: Option<u8>,
    /// `sessionID`: new on every enumeration of the device.
    pub session_id: Option<u64>,
    pub vendor_id: Option<u16>,
    pub product_id: Option<u16>,
}

impl RegUsbDevice {
    pub fn bus(&self) -> u8 {
        (self.location_id >> 24) as u8
    }
    pub fn port_path(&self) -> Vec<u8> {
        location::decode(self.location_id).1
    }
}

/// A registry number as the 32 bits it was: `IOCFUnserializeBinary` (IOKitUser `IOCFSerialize.c`) hands a
/// 32-bit OSNumber over as a signed SInt32, so `locationID` 0x80000000 and above reads back negative.
pub fn as_u32(value: i128) -> Option<u32> {
    if (i32::MIN as i128..0).contains(&value) {
        Some(value as i32 as u32)
    } else {
        u32::try_from(value).ok()
    }
}

/// A 64-bit registry number (`sessionID`) as unsigned, whichever sign it arrived with.
fn as_u64(value: i128) -> Option<u64> {
    if (i64::MIN as i128..0).contains(&value) {
        Some(value as i64 as u64)
    } else {
        u64::try_from(value).ok()
    }
}

/// One `IOUSBHostDevice` entry as a [`RegUsbDevice`]; `None` for an entry without a `locationID`.
pub fn reg_usb_device(e: &RegEntry) -> Option<RegUsbDevice> {
    let location_id = as_u32(e.int("locationID")?)?;
    let small = |key: &str| e.int(key).and_then(as_u32);
    Some(RegUsbDevice {
        entry: e.id,
        location_id,
        address: small("USB Address")
            .or_else(|| small("kUSBAddress"))
            .and_then(|a| u8::try_from(a).ok()),
        session_id: e.int("sessionID").and_then(as_u64),
        vendor_id: small("idVendor").and_then(|v| u16::try_from(v).ok()),
        product_id: small("idProduct").and_then(|v| u16::try_from(v).ok()),
    })
}

/// Every USB device the registry has now (hubs included: they conform to `IOUSBHostDevice`).
pub fn reg_usb_devices(registry: &dyn Registry) -> Result<Vec<RegUsbDevice>, LabError> {
    let entries = registry.find(&Matching {
        class: Some("IOUSBHostDevice".into()),
        ..Matching::default()
    })?;
    Ok(entries.iter().filter_map(reg_usb_device).collect())
}

/// The registry entry of the libusb device at `bus` / `address`: bus from `locationID >> 24`, address from
/// `USB Address` (how libusb's darwin backend fills both). `None` when none or more than one match.
pub fn pair(bus: u8, address: u8, registry: &[RegUsbDevice]) -> Option<&RegUsbDevice> {
    let mut found = registry
        .iter()
        .filter(|r| r.bus() == bus && r.address == Some(address));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// Where a device's port path came from, for messages and the self-test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortPathSource {
    /// libusb's `port_numbers` (no registry to ask: not a Mac).
    Libusb,
    /// The paired entry's `locationID` (a Mac).
    LocationId(u32),
    /// A Mac, but no registry entry pairs with the device: libusb's answer, which may be empty.
    Unpaired,
}

/// The port path to use for a libusb device. Off a Mac (`registry` `None`) libusb's answer; on a Mac the
/// paired entry's `locationID`, whatever libusb said ([`disagreement`] says when that differed).
pub fn port_path(
    bus: u8,
    address: u8,
    libusb_ports: Vec<u8>,
    registry: Option<&[RegUsbDevice]>,
) -> (Vec<u8>, PortPathSource) {
    let Some(registry) = registry else {
        return (libusb_ports, PortPathSource::Libusb);
    };
    match pair(bus, address, registry) {
        Some(r) => (r.port_path(), PortPathSource::LocationId(r.location_id)),
        None => (libusb_ports, PortPathSource::Unpaired),
    }
}

/// A message when libusb gave a port path of its own that `locationID` contradicts (an empty one is the
/// known macOS 26 gap, not worth a word).
pub fn disagreement(
    bus: u8,
    address: u8,
    libusb_ports: &[u8],
    source: &PortPathSource,
) -> Option<String> {
    let PortPathSource::LocationId(location_id) = *source else {
        return None;
    };
    let from_location = location::decode(location_id).1;
    (!libusb_ports.is_empty() && libusb_ports != from_location).then(|| {
        format!(
            "bus {bus} address {address}: libusb says port {} but locationID 0x{location_id:08x} says {}; \
             using the registry's",
            location::port_path_text(libusb_ports),
            location::port_path_text(&from_location)
        )
    })
}

/// What the registry says about a reset device at one `locationID`, comparing a snapshot taken before the
/// reset with one taken after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reenumeration {
    /// The same enumeration is still there: the reset has not re-enumerated (yet).
    NotYet,
    /// Nothing at the location: the device left and has not come back (yet).
    Departed,
    /// A new enumeration at the same location: the device left and came back.
    Returned {
        old_session: u64,
        new_session: u64,
        entry: EntryId,
    },
    /// The snapshot before has no device with a `sessionID` at the location: nothing to compare.
    Unknown,
}

fn session_at(registry: &[RegUsbDevice], location_id: u32) -> Option<(u64, EntryId)> {
    registry
        .iter()
        .filter(|r| r.location_id == location_id)
        .find_map(|r| r.session_id.map(|s| (s, r.entry)))
}

/// Did the device at `location_id` re-enumerate between `before` and `after`?
pub fn reenumeration(
    before: &[RegUsbDevice],
    after: &[RegUsbDevice],
    location_id: u32,
) -> Reenumeration {
    let Some((old_session, _)) = session_at(before, location_id) else {
        return Reenumeration::Unknown;
    };
    match session_at(after, location_id) {
        None => Reenumeration::Departed,
        Some((s, _)) if s == old_session => Reenumeration::NotYet,
        Some((new_session, entry)) => Reenumeration::Returned {
            old_session,
            new_session,
            entry,
        },
    }
}

/// Wait, up to `deadline`, for the registry to show the device at `location_id` re-enumerated.
pub fn confirm_reenumeration(
    registry: &dyn Registry,
    before: &[RegUsbDevice],
    location_id: u32,
    deadline: Instant,
) -> Result<(), LabError> {
    loop {
        let after = reg_usb_devices(registry)?;
        let last = match reenumeration(before, &after, location_id) {
            Reenumeration::Returned {
                old_session,
                new_session,
                ..
            } => {
                tracing::info!(
                    "the registry shows locationID 0x{location_id:08x} re-enumerated (sessionID \
                     0x{old_session:x} → 0x{new_session:x})"
                );
                return Ok(());
            }
            Reenumeration::Unknown => {
                tracing::warn!(
                    "locationID 0x{location_id:08x} had no sessionID before the reset: its \
                     re-enumeration cannot be confirmed"
                );
                return Ok(());
            }
            other => other,
        };
        if Instant::now() >= deadline {
            let state = match last {
                Reenumeration::Departed => "it left and has not come back",
                _ => "the same sessionID is still there",
            };
            return Err(LabError::Other(format!(
                "libusb reset returned but the registry shows no re-enumeration at locationID \
                 0x{location_id:08x} within {:?}: {state}",
                RESET_REPLUG_WAIT
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A reset the registry confirmed while libusb still lists the device at its old address (no hotplug event,
/// no departure): the next wait for that device's departure counts it as gone, once; waits for its presence
/// see it as libusb does.
#[derive(Debug, Default)]
pub struct ConfirmedReset(Option<(u8, u8)>);

impl ConfirmedReset {
    pub fn confirm(&mut self, bus: u8, address: u8) {
        self.0 = Some((bus, address));
    }
    pub fn clear(&mut self) {
        self.0 = None;
    }
    /// In a wait for a departure that found the device at `bus` / `address` still listed: has it left?
    pub fn departed(&mut self, bus: u8, address: u8) -> bool {
        if self.0 == Some((bus, address)) {
            self.0 = None;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Prop;

    fn dev(entry: u64, location_id: u32, address: u8, session: u64) -> RegUsbDevice {
        RegUsbDevice {
            entry,
            location_id,
            address: Some(address),
            session_id: Some(session),
            vendor_id: Some(0x1452),
            product_id: Some(0x9201),
        }
    }

    #[test]
    fn macos_26_empty_libusb_ports_take_the_path_from_location_id() {
        // libusb 1.0.27 on macOS 26: bus and address right, port numbers empty.
        let registry = [dev(1, 0x0213_0000, 5, 77), dev(2, 0x0214_0000, 6, 78)];
        let (path, source) = port_path(2, 6, Vec::new(), Some(&registry));
        assert_eq!(path, vec![1, 4]);
        assert_eq!(source, PortPathSource::LocationId(0x0214_0000));
        // A wrong non-empty answer is replaced too, and said; an empty one is not.
        let (path, source) = port_path(2, 5, vec![9], Some(&registry));
        assert_eq!(path, vec![1, 3]);
        let said = disagreement(2, 5, &[9], &source).unwrap();
        assert!(
            said.contains("libusb says port 9 but locationID 0x02130000 says 1.3"),
            "{said}"
        );
        assert_eq!(disagreement(2, 5, &[], &source), None);
        assert_eq!(disagreement(2, 5, &[1, 3], &source), None);
        assert_eq!(disagreement(2, 5, &[9], &PortPathSource::Libusb), None);
    }

    #[test]
    fn pairing_needs_bus_and_address_and_is_unambiguous() {
        let registry = [dev(1, 0x0113_0000, 5, 1), dev(2, 0x0213_0000, 5, 2)];
        assert_eq!(pair(2, 5, &registry).map(|r| r.entry), Some(2));
        assert_eq!(pair(1, 5, &registry).map(|r| r.entry), Some(1));
        assert_eq!(pair(3, 5, &registry), None);
        let twins = [dev(1, 0x0113_0000, 5, 1), dev(2, 0x0114_0000, 5, 2)];
        assert_eq!(pair(1, 5, &twins), None);
        // Unpaired on a Mac: libusb's answer, said so.
        assert_eq!(
            port_path(3, 5, vec![2], Some(&registry)),
            (vec![2], PortPathSource::Unpaired)
        );
        assert_eq!(
            port_path(3, 5, vec![2], None),
            (vec![2], PortPathSource::Libusb)
        );
    }

    #[test]
    fn a_negative_location_id_is_its_32_bits() {
        assert_eq!(as_u32(-0x7EED_0000), Some(0x8113_0000));
        assert_eq!(as_u32(0x8113_0000), Some(0x8113_0000));
        assert_eq!(as_u32(1 << 40), None);
        let mut e = RegEntry {
            id: 9,
            name: "DP-DS620".into(),
            location: None,
            class: "IOUSBHostDevice".into(),
            class_chain: vec![],
            parent: None,
            path: String::new(),
            registered: true,
            properties: Default::default(),
        };
        e.properties.insert(
            "locationID".into(),
            Prop::Int(0x8113_0000u32 as i32 as i128),
        );
        e.properties.insert("USB Address".into(), Prop::Int(3));
        e.properties.insert("sessionID".into(), Prop::Int(-5));
        let r = reg_usb_device(&e).unwrap();
        assert_eq!((r.bus(), r.port_path()), (0x81, vec![1, 3]));
        assert_eq!(r.session_id, Some(u64::MAX - 4));
    }

    #[test]
    fn a_reset_counts_only_with_a_new_session_at_the_same_location() {
        let before = [dev(1, 0x0113_0000, 5, 100)];
        assert_eq!(
            reenumeration(&before, &before, 0x0113_0000),
            Reenumeration::NotYet
        );
        assert_eq!(
            reenumeration(&before, &[], 0x0113_0000),
            Reenumeration::Departed
        );
        // Same address (libusb keeps the old one) but a new session: it came back.
        let after = [dev(7, 0x0113_0000, 5, 101)];
        assert_eq!(
            reenumeration(&before, &after, 0x0113_0000),
            Reenumeration::Returned {
                old_session: 100,
                new_session: 101,
                entry: 7
            }
        );
        // A new session elsewhere is another device.
        let elsewhere = [dev(1, 0x0113_0000, 5, 100), dev(7, 0x0114_0000, 6, 101)];
        assert_eq!(
            reenumeration(&before, &elsewhere, 0x0113_0000),
            Reenumeration::NotYet
        );
        assert_eq!(
            reenumeration(&[], &after, 0x0113_0000),
            Reenumeration::Unknown
        );
    }

    #[test]
    fn a_confirmed_reset_departs_once_and_only_that_device() {
        let mut reset = ConfirmedReset::default();
        assert!(!reset.departed(1, 5), "no reset, no departure");
        reset.confirm(1, 5);
        assert!(!reset.departed(1, 6));
        assert!(reset.departed(1, 5));
        // The next departure wait is a real one again.
        assert!(!reset.departed(1, 5));
        reset.confirm(1, 5);
        reset.clear();
        assert!(!reset.departed(1, 5));
    }

    #[test]
    fn the_reset_wait_outlasts_libusbs_own() {
        assert!(RESET_REPLUG_WAIT > LIBUSB_REENUMERATE_TIMEOUT);
    }

    #[test]
    fn the_sim_registry_pairs_with_its_own_usb_view() {
        use crate::lab::UsbBus;
        let lab = crate::testkit::sim_lab();
        let registry = reg_usb_devices(&lab).unwrap();
        let views = lab.devices().unwrap();
        assert!(!views.is_empty());
        for v in views {
            let (path, source) = port_path(v.bus, v.address, Vec::new(), Some(&registry));
            assert_eq!(path, v.port_path, "{}", v.label());
            assert!(matches!(source, PortPathSource::LocationId(_)));
        }
    }
}
