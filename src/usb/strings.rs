//! What the libusb view reads from a device rather than from its cached descriptors: the manufacturer,
//! product and serial strings and the IEEE 1284 device id. Reading them opens the device (on a Mac,
//! `USBDeviceOpenSeize`), so they are read once after the device arrives and kept until it leaves, not on every
//! poll of a wait while a printer re-enumerates (issue 19, defect 9).
//!
//! A dext that owns the printer interface may make the Mac refuse these reads (IOUSBHostFamily is closed
//! source: UNCONFIRMED, which `dexthil selftest` checks on a lab Mac). A refusal is `Readable::Unreadable`
//! with the libusb code, and the whole read runs under one deadline, so it never blocks a run (defect 10).

use super::libusb::{PRINTER_CLASS, READ_TIMEOUT, bounded, device_id_setup, parse_device_id};
use crate::lab::{ConfigView, Readable};
use rusb::UsbContext;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Deadline of one device's whole read: open, languages, three strings and GET_DEVICE_ID.
pub const STRINGS_DEADLINE: Duration = Duration::from_secs(3);
/// A device some of whose values could not be read is asked again no sooner than this: often enough to
/// recover from a device that was still settling, rarely enough not to seize it on every poll.
pub const UNREADABLE_RETRY: Duration = Duration::from_secs(2);
/// A 1284 device id longer than this is refused (the length field is 16 bits; real ones are < 1 KiB).
const DEVICE_ID_BUFFER: usize = 1024;

/// The values read from the device itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceStrings {
    pub manufacturer: Readable<String>,
    pub product: Readable<String>,
    pub serial: Readable<String>,
    pub device_id_1284: Readable<String>,
}

impl DeviceStrings {
    /// What a device whose reads all failed for `why` shows: values it does not have (string index 0, no
    /// printer interface) stay `Absent`, the rest are unreadable.
    pub fn failed(indexes: [u8; 3], printer: Option<PrinterInterface>, why: &str) -> Self {
        let u = |has: bool| {
            if has {
                Readable::Unreadable(why.to_string())
            } else {
                Readable::Absent
            }
        };
        let [m, p, s] = indexes;
        DeviceStrings {
            manufacturer: u(m != 0),
            product: u(p != 0),
            serial: u(s != 0),
            device_id_1284: u(printer.is_some()),
        }
    }

    fn complete(&self) -> bool {
        [
            &self.manufacturer,
            &self.product,
            &self.serial,
            &self.device_id_1284,
        ]
        .iter()
        .all(|r| !matches!(r, Readable::Unreadable(_)))
    }
}

/// One enumeration of one device: the address changes on every enumeration except a Mac reset, where the
/// registry's `sessionID` does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Enumeration {
    pub bus: u8,
    pub address: u8,
    pub vendor_id: u16,
    pub product_id: u16,
    /// The paired registry entry's `sessionID` (a Mac), else `None`.
    pub session: Option<u64>,
}

struct Cached {
    strings: DeviceStrings,
    read_at: Instant,
}

/// The strings of the devices on the bus now, each read once per enumeration.
#[derive(Default)]
pub struct StringCache {
    entries: HashMap<Enumeration, Cached>,
}

impl StringCache {
    /// The strings of `key`, reading them with `read` only if this enumeration has not been read, or was
    /// read incompletely at least [`UNREADABLE_RETRY`] before `now`.
    pub fn get_or_read(
        &mut self,
        key: &Enumeration,
        now: Instant,
        read: impl FnOnce() -> DeviceStrings,
    ) -> DeviceStrings {
        if let Some(c) = self.entries.get(key)
            && (c.strings.complete() || now.duration_since(c.read_at) < UNREADABLE_RETRY)
        {
            return c.strings.clone();
        }
        let strings = read();
        self.entries.insert(
            key.clone(),
            Cached {
                strings: strings.clone(),
                read_at: now,
            },
        );
        strings
    }

    /// Whether this enumeration has been read before (it is not new on the bus).
    pub fn knows(&self, key: &Enumeration) -> bool {
        self.entries.contains_key(key)
    }

    /// Forget every enumeration not on the bus any more, so a device that comes back is read again.
    pub fn keep_only(&mut self, present: &[Enumeration]) {
        self.entries.retain(|k, _| present.contains(k));
    }
}

/// A libusb error with its code, as a user would look it up: `Pipe error (LIBUSB_ERROR_PIPE -9)`.
pub fn with_code(e: rusb::Error) -> String {
    let (name, code) = match e {
        rusb::Error::Io => ("LIBUSB_ERROR_IO", -1),
        rusb::Error::InvalidParam => ("LIBUSB_ERROR_INVALID_PARAM", -2),
        rusb::Error::Access => ("LIBUSB_ERROR_ACCESS", -3),
        rusb::Error::NoDevice => ("LIBUSB_ERROR_NO_DEVICE", -4),
        rusb::Error::NotFound => ("LIBUSB_ERROR_NOT_FOUND", -5),
        rusb::Error::Busy => ("LIBUSB_ERROR_BUSY", -6),
        rusb::Error::Timeout => ("LIBUSB_ERROR_TIMEOUT", -7),
        rusb::Error::Overflow => ("LIBUSB_ERROR_OVERFLOW", -8),
        rusb::Error::Pipe => ("LIBUSB_ERROR_PIPE", -9),
        rusb::Error::Interrupted => ("LIBUSB_ERROR_INTERRUPTED", -10),
        rusb::Error::NoMem => ("LIBUSB_ERROR_NO_MEM", -11),
        rusb::Error::NotSupported => ("LIBUSB_ERROR_NOT_SUPPORTED", -12),
        rusb::Error::BadDescriptor | rusb::Error::Other => ("LIBUSB_ERROR_OTHER", -99),
    };
    format!("{e} ({name} {code})")
}

fn read_string<T: UsbContext>(
    handle: &rusb::DeviceHandle<T>,
    language: &Result<rusb::Language, String>,
    index: u8,
) -> Readable<String> {
    if index == 0 {
        return Readable::Absent;
    }
    let language = match language {
        Ok(l) => l,
        Err(e) => return Readable::Unreadable(e.clone()),
    };
    match handle.read_string_descriptor(*language, index, READ_TIMEOUT) {
        Ok(s) => Readable::Value(s),
        Err(e) => Readable::Unreadable(format!("string descriptor {index}: {}", with_code(e))),
    }
}

fn read_device_id<T: UsbContext>(
    handle: &rusb::DeviceHandle<T>,
    printer: Option<PrinterInterface>,
) -> Readable<String> {
    let Some(p) = printer else {
        return Readable::Absent;
    };
    // A class request on the default pipe needs no claimed interface: claiming one a dext owns is what
    // blocks (reference §5).
    let (rt, req, value, index) = device_id_setup(p.config_index, p.interface, p.alternate_setting);
    let mut buf = vec![0u8; DEVICE_ID_BUFFER];
    match handle.read_control(rt, req, value, index, &mut buf, READ_TIMEOUT) {
        Ok(n) => match parse_device_id(&buf[..n]) {
            Ok(id) => Readable::Value(id),
            Err(e) => Readable::Unreadable(format!("GET_DEVICE_ID: {e}")),
        },
        Err(e) => Readable::Unreadable(format!("GET_DEVICE_ID: {}", with_code(e))),
    }
}

/// The printer interface GET_DEVICE_ID addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrinterInterface {
    pub config_index: u8,
    pub interface: u8,
    pub alternate_setting: u8,
}

/// The printer interface of the active configuration (any configuration when libusb cannot say which).
pub fn printer_interface(
    configs: &[(u8, ConfigView)],
    active: Option<u8>,
) -> Option<PrinterInterface> {
    configs
        .iter()
        .filter(|(_, c)| active.is_none_or(|a| c.value == a))
        .flat_map(|(index, c)| c.interfaces.iter().map(move |i| (*index, i)))
        .find(|(_, i)| i.class == PRINTER_CLASS)
        .map(|(index, i)| PrinterInterface {
            config_index: index,
            interface: i.number,
            alternate_setting: i.alternate_setting,
        })
}

/// Open the device and read its strings and 1284 id, all under [`STRINGS_DEADLINE`].
pub fn read_device_strings<T: UsbContext + 'static>(
    device: &rusb::Device<T>,
    indexes: [u8; 3],
    printer: Option<PrinterInterface>,
) -> DeviceStrings {
    if indexes == [0; 3] && printer.is_none() {
        // Nothing to read: no reason to open the device at all.
        return DeviceStrings::failed(indexes, printer, "");
    }
    let device = device.clone();
    let read = move || {
        let handle = match device.open() {
            Ok(h) => h,
            Err(e) => {
                return Ok(DeviceStrings::failed(
                    indexes,
                    printer,
                    &format!("opening the device: {}", with_code(e)),
                ));
            }
        };
        let language = match handle.read_languages(READ_TIMEOUT) {
            Ok(langs) => langs
                .first()
                .copied()
                .ok_or_else(|| "the device lists no string language".to_string()),
            Err(e) => Err(format!("string languages: {}", with_code(e))),
        };
        let [m, p, s] = indexes;
        Ok(DeviceStrings {
            manufacturer: read_string(&handle, &language, m),
            product: read_string(&handle, &language, p),
            serial: read_string(&handle, &language, s),
            device_id_1284: read_device_id(&handle, printer),
        })
    };
    bounded("reading strings and the 1284 id", STRINGS_DEADLINE, read)
        .unwrap_or_else(|why| DeviceStrings::failed(indexes, printer, &why))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRINTER: PrinterInterface = PrinterInterface {
        config_index: 0,
        interface: 0,
        alternate_setting: 0,
    };

    fn key(address: u8, session: Option<u64>) -> Enumeration {
        Enumeration {
            bus: 1,
            address,
            vendor_id: 0x1452,
            product_id: 0x9201,
            session,
        }
    }

    fn good(serial: &str) -> DeviceStrings {
        DeviceStrings {
            manufacturer: Readable::Value("Dai Nippon Printing".into()),
            product: Readable::Value("DP-DS620".into()),
            serial: Readable::Value(serial.into()),
            device_id_1284: Readable::Value("MODEL:DP-DS620;".into()),
        }
    }

    #[test]
    fn a_wait_polling_a_present_printer_opens_it_once() {
        let mut cache = StringCache::default();
        let mut opens = 0;
        let t0 = Instant::now();
        for poll in 0..20u32 {
            let now = t0 + Duration::from_millis(250) * poll;
            let s = cache.get_or_read(&key(5, None), now, || {
                opens += 1;
                good("A1")
            });
            assert_eq!(s.serial, Readable::Value("A1".into()));
            cache.keep_only(&[key(5, None)]);
        }
        assert_eq!(opens, 1);
    }

    #[test]
    fn a_new_enumeration_is_read_again() {
        let mut cache = StringCache::default();
        let t0 = Instant::now();
        let mut opens = 0;
        let mut read = |cache: &mut StringCache, k: Enumeration| {
            cache.get_or_read(&k, t0, || {
                opens += 1;
                good("A1")
            });
            cache.keep_only(&[k]);
        };
        read(&mut cache, key(5, Some(1)));
        // A Mac reset: same address, new session.
        read(&mut cache, key(5, Some(2)));
        // Elsewhere: a new address.
        read(&mut cache, key(9, None));
        read(&mut cache, key(5, Some(2)));
        assert_eq!(opens, 4);
    }

    #[test]
    fn a_refused_read_is_retried_but_not_on_every_poll() {
        let mut cache = StringCache::default();
        let t0 = Instant::now();
        let refused = || {
            DeviceStrings::failed(
                [1, 2, 3],
                Some(PRINTER),
                "GET_DEVICE_ID: Access denied (LIBUSB_ERROR_ACCESS -3)",
            )
        };
        let mut opens = 0;
        for ms in [0u64, 250, 500, 1750] {
            cache.get_or_read(&key(5, None), t0 + Duration::from_millis(ms), || {
                opens += 1;
                refused()
            });
        }
        assert_eq!(opens, 1);
        let later = cache.get_or_read(&key(5, None), t0 + UNREADABLE_RETRY, || {
            opens += 1;
            good("A1")
        });
        assert_eq!((opens, later.serial), (2, Readable::Value("A1".into())));
    }

    #[test]
    fn a_failed_open_leaves_what_the_device_does_not_have_absent() {
        let s = DeviceStrings::failed([1, 0, 3], Some(PRINTER), "opening the device: busy");
        assert_eq!(s.product, Readable::Absent);
        assert!(matches!(&s.serial, Readable::Unreadable(w) if w.contains("busy")));
        assert!(matches!(s.device_id_1284, Readable::Unreadable(_)));
        assert_eq!(
            DeviceStrings::failed([0; 3], None, "x").device_id_1284,
            Readable::Absent
        );
    }

    #[test]
    fn refusals_name_the_libusb_code() {
        assert_eq!(
            with_code(rusb::Error::Pipe),
            "Pipe error (LIBUSB_ERROR_PIPE -9)"
        );
        assert!(with_code(rusb::Error::Access).contains("LIBUSB_ERROR_ACCESS -3"));
        let all = DeviceStrings::failed(
            [1, 2, 3],
            Some(PRINTER),
            "reading strings: no answer within 3s",
        );
        assert!(matches!(&all.device_id_1284, Readable::Unreadable(w) if w.contains("no answer")));
    }
}
