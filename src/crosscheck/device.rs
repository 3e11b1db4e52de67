//! Device-level rules: the `IOUSBHostDevice` entry against libusb's device descriptor, strings, address,
//! location and speed. Keys are those of reference §5; where two spellings exist the `kUSB…` one is read
//! first and the older spelling is the fallback.

use super::{Findings, RegistryValue, UsbValue};
use crate::lab::{Prop, Readable, RegEntry, Speed, UsbView};
use crate::usb::location;

/// The serial number keys an `IOUSBHostDevice` carries (both are seen in real dumps; reference §5).
pub const SERIAL_KEYS: [&str; 2] = ["kUSBSerialNumberString", "USB Serial Number"];
const VENDOR_KEYS: [&str; 2] = ["kUSBVendorString", "USB Vendor Name"];
const PRODUCT_KEYS: [&str; 2] = ["kUSBProductString", "USB Product Name"];

pub(crate) fn registry_serial(e: &RegEntry) -> Option<&str> {
    SERIAL_KEYS.iter().find_map(|k| e.string(k))
}

/// `Device Speed` as a [`Speed`]: the values of `kUSBDeviceSpeedLow` 0, `Full` 1, `High` 2, `Super` 3,
/// `SuperPlus` 4 and `SuperPlusBy2` 5 from IOKit `usb/USB.h` (libusb's darwin backend maps the same
/// constants). The reference names the key, not its values: that the key holds these constants is
/// UNCONFIRMED, so a scenario can `skip: [speed]`. `SuperPlusBy2` has no [`Speed`] of its own.
pub fn registry_speed(value: i128) -> Option<Speed> {
    match value {
        0 => Some(Speed::Low),
        1 => Some(Speed::Full),
        2 => Some(Speed::High),
        3 => Some(Speed::Super),
        4 | 5 => Some(Speed::SuperPlus),
        _ => None,
    }
}

pub(crate) fn hex(v: i128, width: usize) -> String {
    if v < 0 {
        format!("{v}")
    } else {
        format!("0x{v:0width$x}")
    }
}

/// How a number is shown: hex for ids and BCD, decimal for counts.
#[derive(Clone, Copy)]
pub(crate) enum Shown {
    Hex(usize),
    Dec,
}

impl Shown {
    fn show(self, v: i128) -> String {
        match self {
            Shown::Hex(w) => hex(v, w),
            Shown::Dec => v.to_string(),
        }
    }
}

/// Compare a number with the first of `keys` the entry has.
pub(crate) fn int_rule(
    out: &mut Findings,
    field: &str,
    entry: &RegEntry,
    keys: &[&'static str],
    usb: i128,
    shown: Shown,
) {
    let outcome = match keys.iter().find_map(|k| entry.prop(k)) {
        None => Some(RegistryValue::Absent {
            keys: keys.to_vec(),
        }),
        Some(Prop::Int(v)) if *v == usb => None,
        Some(Prop::Int(v)) => Some(RegistryValue::Value(shown.show(*v))),
        Some(other) => Some(RegistryValue::Value(format!("{other:?} (not a number)"))),
    };
    out.record(
        field,
        outcome.map(|r| (UsbValue::Value(shown.show(usb)), r)),
    );
}

fn string_rule(
    out: &mut Findings,
    field: &str,
    entry: &RegEntry,
    keys: &[&'static str],
    usb: &Readable<String>,
) {
    let registry = keys.iter().find_map(|k| entry.string(k));
    let usb = match usb {
        Readable::Value(s) if registry == Some(s.as_str()) => return out.agree(field),
        Readable::Value(s) => UsbValue::Value(format!("{s:?}")),
        // No string on either side agrees.
        Readable::Absent if registry.is_none() => return out.agree(field),
        Readable::Absent => UsbValue::Value("no string (descriptor index 0)".into()),
        Readable::Unreadable(why) => UsbValue::Unreadable(why.clone()),
    };
    let registry = match registry {
        Some(s) => RegistryValue::Value(format!("{s:?}")),
        None => RegistryValue::Absent {
            keys: keys.to_vec(),
        },
    };
    out.push(field, usb, registry);
}

fn location_rule(out: &mut Findings, view: &UsbView, device: &RegEntry) {
    match location::encode(view.bus, &view.port_path) {
        Ok(loc) => int_rule(
            out,
            "location",
            device,
            &["locationID"],
            loc.into(),
            Shown::Hex(8),
        ),
        Err(e) => out.push(
            "location",
            UsbValue::Value(format!(
                "bus {} port {} ({e})",
                view.bus,
                view.port_path_text()
            )),
            match device.int("locationID") {
                Some(v) => RegistryValue::Value(hex(v, 8)),
                None => RegistryValue::Absent {
                    keys: vec!["locationID"],
                },
            },
        ),
    }
}

fn speed_rule(out: &mut Findings, view: &UsbView, device: &RegEntry) {
    let usb = match view.speed {
        Speed::Unknown => UsbValue::Unreadable("libusb reports the speed as unknown".into()),
        s => UsbValue::Value(format!("{s:?}").to_lowercase()),
    };
    let registry = match device.int("Device Speed") {
        None => RegistryValue::Absent {
            keys: vec!["Device Speed"],
        },
        Some(v) => match registry_speed(v) {
            Some(s) if s == view.speed => return out.agree("speed"),
            Some(s) => RegistryValue::Value(format!("{} ({v})", format!("{s:?}").to_lowercase())),
            None => RegistryValue::Value(format!("{v} (not a kUSBDeviceSpeed value)")),
        },
    };
    out.push("speed", usb, registry);
}

/// Every device-level rule.
pub(crate) fn check(view: &UsbView, d: &RegEntry, out: &mut Findings) {
    use Shown::{Dec, Hex};
    int_rule(
        out,
        "vendor",
        d,
        &["idVendor"],
        view.vendor_id.into(),
        Hex(4),
    );
    int_rule(
        out,
        "product",
        d,
        &["idProduct"],
        view.product_id.into(),
        Hex(4),
    );
    int_rule(
        out,
        "bcd_device",
        d,
        &["bcdDevice"],
        view.bcd_device.into(),
        Hex(4),
    );
    int_rule(out, "bcd_usb", d, &["bcdUSB"], view.bcd_usb.into(), Hex(4));
    super::interfaces::class_rule(
        out,
        "device_class",
        d,
        ["bDeviceClass", "bDeviceSubClass", "bDeviceProtocol"],
        (view.class, view.subclass, view.protocol),
    );
    int_rule(
        out,
        "max_packet_size0",
        d,
        &["bMaxPacketSize0"],
        view.max_packet_size0.into(),
        Dec,
    );
    int_rule(
        out,
        "num_configurations",
        d,
        &["bNumConfigurations"],
        view.num_configurations.into(),
        Dec,
    );
    int_rule(
        out,
        "manufacturer_index",
        d,
        &["iManufacturer"],
        view.manufacturer_index.into(),
        Dec,
    );
    int_rule(
        out,
        "product_index",
        d,
        &["iProduct"],
        view.product_index.into(),
        Dec,
    );
    int_rule(
        out,
        "serial_index",
        d,
        &["iSerialNumber"],
        view.serial_index.into(),
        Dec,
    );
    string_rule(out, "manufacturer", d, &VENDOR_KEYS, &view.manufacturer);
    string_rule(out, "product_string", d, &PRODUCT_KEYS, &view.product);
    string_rule(out, "serial", d, &SERIAL_KEYS, &view.serial);
    int_rule(
        out,
        "address",
        d,
        &["USB Address", "kUSBAddress"],
        view.address.into(),
        Dec,
    );
    location_rule(out, view, d);
    speed_rule(out, view, d);
    match view.active_configuration {
        Some(c) => int_rule(
            out,
            "configuration",
            d,
            &["kUSBCurrentConfiguration"],
            c.into(),
            Dec,
        ),
        None => out.push(
            "configuration",
            UsbValue::Unreadable("libusb could not read the active configuration".into()),
            match d.int("kUSBCurrentConfiguration") {
                Some(v) => RegistryValue::Value(v.to_string()),
                None => RegistryValue::Absent {
                    keys: vec!["kUSBCurrentConfiguration"],
                },
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::crosscheck::{clean, view};

    fn run(v: &UsbView, d: &RegEntry) -> Findings {
        let mut out = Findings::default();
        check(v, d, &mut out);
        out
    }

    type Plant = fn(&mut UsbView, &mut RegEntry);

    fn set(e: &mut RegEntry, k: &str, p: Prop) {
        e.properties.insert(k.into(), p);
    }

    #[test]
    fn each_planted_mismatch_is_found_with_both_values() {
        let cases: &[(Plant, &str, &str, &str)] = &[
            (
                |_, e| set(e, "idVendor", Prop::Int(0x1343)),
                "vendor",
                "0x1452",
                "0x1343",
            ),
            (|v, _| v.product_id = 0x9200, "product", "0x9200", "0x8b01"),
            (
                |_, e| set(e, "bcdDevice", Prop::Int(0x0120)),
                "bcd_device",
                "0x0100",
                "0x0120",
            ),
            (
                |_, e| set(e, "bcdUSB", Prop::Int(0x0110)),
                "bcd_usb",
                "0x0200",
                "0x0110",
            ),
            (
                |_, e| set(e, "bDeviceClass", Prop::Int(7)),
                "device_class",
                "0x00/0x00/0x00",
                "0x07/0x00/0x00",
            ),
            (|v, _| v.max_packet_size0 = 8, "max_packet_size0", "8", "64"),
            (
                |_, e| set(e, "bNumConfigurations", Prop::Int(2)),
                "num_configurations",
                "1",
                "2",
            ),
            (
                |_, e| set(e, "iManufacturer", Prop::Int(4)),
                "manufacturer_index",
                "1",
                "4",
            ),
            (|v, _| v.product_index = 0, "product_index", "0", "2"),
            (
                |_, e| set(e, "iSerialNumber", Prop::Int(0)),
                "serial_index",
                "3",
                "0",
            ),
            (
                |_, e| set(e, "kUSBVendorString", Prop::Str("DNP".into())),
                "manufacturer",
                "\"Dai Nippon Printing\"",
                "\"DNP\"",
            ),
            (
                |v, _| v.product = Readable::Value("DS-620".into()),
                "product_string",
                "\"DS-620\"",
                "\"DS620\"",
            ),
            (
                |_, e| {
                    set(
                        e,
                        "kUSBSerialNumberString",
                        Prop::Str("DS6C98031783".into()),
                    )
                },
                "serial",
                "\"DS6C98031738\"",
                "\"DS6C98031783\"",
            ),
            (
                |_, e| set(e, "USB Address", Prop::Int(6)),
                "address",
                "5",
                "6",
            ),
            (
                |_, e| set(e, "locationID", Prop::Int(0x0113_0000)),
                "location",
                "0x01120000",
                "0x01130000",
            ),
            (
                |v, _| v.port_path = vec![2, 1],
                "location",
                "0x01210000",
                "0x01120000",
            ),
            (
                |_, e| set(e, "Device Speed", Prop::Int(1)),
                "speed",
                "high",
                "full (1)",
            ),
            (
                |_, e| set(e, "Device Speed", Prop::Int(9)),
                "speed",
                "high",
                "9 (not a kUSBDeviceSpeed value)",
            ),
            (
                |_, e| set(e, "kUSBCurrentConfiguration", Prop::Int(2)),
                "configuration",
                "1",
                "2",
            ),
        ];
        for (plant, field, usb, registry) in cases {
            let (mut v, (mut d, ..)) = (view(), clean());
            plant(&mut v, &mut d);
            let found = run(&v, &d).findings;
            assert_eq!(found.len(), 1, "{field}: {found:?}");
            assert_eq!(found[0].field, *field);
            assert_eq!(found[0].usb, UsbValue::Value(usb.to_string()), "{field}");
            assert_eq!(
                found[0].registry,
                RegistryValue::Value(registry.to_string()),
                "{field}"
            );
        }
    }

    #[test]
    fn absent_keys_name_every_key_tried_and_fallbacks_count() {
        let (mut d, ..) = clean();
        d.properties.remove("bcdUSB");
        d.properties.remove("kUSBSerialNumberString");
        d.properties.remove("USB Serial Number");
        d.properties.remove("kUSBVendorString");
        let found = run(&view(), &d).findings;
        let fields: Vec<_> = found
            .iter()
            .map(|f| (f.field.as_str(), f.registry.clone()))
            .collect();
        assert_eq!(
            fields,
            vec![
                (
                    "bcd_usb",
                    RegistryValue::Absent {
                        keys: vec!["bcdUSB"]
                    }
                ),
                (
                    "serial",
                    RegistryValue::Absent {
                        keys: SERIAL_KEYS.to_vec()
                    }
                ),
            ],
            "`USB Vendor Name` stands in for kUSBVendorString"
        );
        assert!(
            found[1]
                .to_string()
                .contains("no `kUSBSerialNumberString` or `USB Serial Number` key")
        );
    }

    #[test]
    fn unreadable_usb_values_are_their_own_finding() {
        let mut v = view();
        v.serial = Readable::Unreadable("LIBUSB_ERROR_ACCESS".into());
        v.speed = Speed::Unknown;
        let found = run(&v, &clean().0).findings;
        assert_eq!(found.len(), 2);
        assert!(
            found
                .iter()
                .all(|f| f.kind() == super::super::FindingKind::UnreadableOnUsb)
        );
        assert_eq!(
            found[0].usb,
            UsbValue::Unreadable("LIBUSB_ERROR_ACCESS".into())
        );
    }

    #[test]
    fn every_usb_h_speed_maps() {
        let got: Vec<_> = (0..=6).map(registry_speed).collect();
        use Speed::*;
        assert_eq!(
            got,
            vec![
                Some(Low),
                Some(Full),
                Some(High),
                Some(Super),
                Some(SuperPlus),
                Some(SuperPlus),
                None
            ]
        );
    }
}
