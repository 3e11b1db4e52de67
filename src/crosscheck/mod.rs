//! Cross-checking the libusb view of a printer against its IORegistry entries.
//!
//! Pure rules: which registry entry is the device libusb sees ([`pair`]), which fields disagree
//! ([`compare`]), and what a scenario's `skip` / `expect_mismatch` make of that ([`judge`]). No lab, no I/O.

use crate::lab::{Prop, RegEntry, UsbView};
use crate::usb::location;
use std::fmt;

/// The serial number keys an `IOUSBHostDevice` carries (both are seen in real dumps; reference §5).
pub const SERIAL_KEYS: [&str; 2] = ["USB Serial Number", "kUSBSerialNumberString"];

/// A compared field, by the name scenarios use in `skip` and `expect_mismatch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Vendor,
    Product,
    BcdDevice,
    Serial,
    Location,
}

impl Field {
    pub const ALL: [Field; 5] = [
        Field::Vendor,
        Field::Product,
        Field::BcdDevice,
        Field::Serial,
        Field::Location,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Vendor => "vendor",
            Field::Product => "product",
            Field::BcdDevice => "bcd_device",
            Field::Serial => "serial",
            Field::Location => "location",
        }
    }

    pub fn by_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// What the registry holds for a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryValue {
    Value(String),
    /// The entry has none of the keys this field is read from.
    Absent {
        keys: Vec<&'static str>,
    },
}

impl fmt::Display for RegistryValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryValue::Value(v) => f.write_str(v),
            RegistryValue::Absent { keys } => write!(f, "no `{}` key", keys.join("` or `")),
        }
    }
}

/// One field on which the two views disagree, with both values as a person reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub field: Field,
    pub usb: String,
    pub registry: RegistryValue,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: libusb says {}, the registry {}",
            self.field.name(),
            self.usb,
            match &self.registry {
                RegistryValue::Value(v) => format!("says {v}"),
                absent => format!("has {absent}"),
            }
        )
    }
}

/// The registry's `IOUSBHostDevice` entry for a libusb device: the one with the same vendor, product and
/// serial, else the one at the same `locationID`.
pub fn pair<'a>(view: &UsbView, devices: &'a [RegEntry]) -> Option<&'a RegEntry> {
    let by_ids = devices.iter().find(|e| {
        e.int("idVendor") == Some(view.vendor_id.into())
            && e.int("idProduct") == Some(view.product_id.into())
            && view
                .serial
                .value()
                .is_some_and(|s| registry_serial(e) == Some(s.as_str()))
    });
    by_ids.or_else(|| {
        let loc = location::encode(view.bus, &view.port_path).ok()?;
        devices
            .iter()
            .find(|e| e.int("locationID") == Some(loc.into()))
    })
}

/// Every field on which `view` and `device` disagree.
pub fn compare(view: &UsbView, device: &RegEntry) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut int_field = |field: Field, key: &'static str, usb: i128, width: usize| {
        let want = hex(usb, width);
        let registry = match device.prop(key) {
            None => Some(RegistryValue::Absent { keys: vec![key] }),
            Some(Prop::Int(v)) if *v == usb => None,
            Some(Prop::Int(v)) => Some(RegistryValue::Value(hex(*v, width))),
            Some(other) => Some(RegistryValue::Value(format!("{other:?} (not a number)"))),
        };
        if let Some(registry) = registry {
            found.push(Finding {
                field,
                usb: want,
                registry,
            });
        }
    };
    int_field(Field::Vendor, "idVendor", view.vendor_id.into(), 4);
    int_field(Field::Product, "idProduct", view.product_id.into(), 4);
    int_field(Field::BcdDevice, "bcdDevice", view.bcd_device.into(), 4);
    match location::encode(view.bus, &view.port_path) {
        Ok(loc) => int_field(Field::Location, "locationID", loc.into(), 8),
        Err(e) => found.push(Finding {
            field: Field::Location,
            usb: format!("bus {} port {} ({e})", view.bus, view.port_path_text()),
            registry: match device.int("locationID") {
                Some(v) => RegistryValue::Value(hex(v, 8)),
                None => RegistryValue::Absent {
                    keys: vec!["locationID"],
                },
            },
        }),
    }
    if let Some(f) = compare_serial(view, device) {
        found.push(f);
    }
    found
}

fn compare_serial(view: &UsbView, device: &RegEntry) -> Option<Finding> {
    use crate::lab::Readable;
    let registry = registry_serial(device);
    let usb = match &view.serial {
        Readable::Value(s) if registry == Some(s.as_str()) => return None,
        Readable::Value(s) => format!("{s:?}"),
        // No serial on either side agrees.
        Readable::Absent if registry.is_none() => return None,
        Readable::Absent => "no serial (string index 0)".to_string(),
        Readable::Unreadable(why) => format!("an unreadable serial ({why})"),
    };
    Some(Finding {
        field: Field::Serial,
        usb,
        registry: match registry {
            Some(s) => RegistryValue::Value(format!("{s:?}")),
            None => RegistryValue::Absent {
                keys: SERIAL_KEYS.to_vec(),
            },
        },
    })
}

fn registry_serial(e: &RegEntry) -> Option<&str> {
    SERIAL_KEYS.iter().find_map(|k| e.string(k))
}

fn hex(v: i128, width: usize) -> String {
    if v < 0 {
        format!("{v}")
    } else {
        format!("0x{v:0width$x}")
    }
}

/// What a scenario makes of the findings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judgement {
    /// Findings not skipped and not expected: each one fails the step.
    pub unexpected: Vec<Finding>,
    /// `expect_mismatch` fields that agreed after all: each one fails the step (the known bug is fixed, or
    /// the check is wrong).
    pub agreed_but_expected_mismatch: Vec<String>,
    /// Expected mismatches that did mismatch.
    pub expected: Vec<Finding>,
    /// Fields compared (not skipped).
    pub compared: usize,
}

impl Judgement {
    pub fn passed(&self) -> bool {
        self.unexpected.is_empty() && self.agreed_but_expected_mismatch.is_empty()
    }
}

pub fn judge(findings: Vec<Finding>, skip: &[String], expect_mismatch: &[String]) -> Judgement {
    let skipped = |f: Field| skip.iter().any(|s| s == f.name());
    let mut j = Judgement {
        compared: Field::ALL.iter().filter(|f| !skipped(**f)).count(),
        ..Judgement::default()
    };
    for f in findings {
        if skipped(f.field) {
            continue;
        }
        if expect_mismatch.iter().any(|m| m == f.field.name()) {
            j.expected.push(f);
        } else {
            j.unexpected.push(f);
        }
    }
    for m in expect_mismatch {
        let is_skipped = Field::by_name(m).is_some_and(skipped);
        if !is_skipped && !j.expected.iter().any(|f| f.field.name() == m) {
            j.agreed_but_expected_mismatch.push(m.clone());
        }
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::{Readable, Speed};
    use std::collections::BTreeMap;

    fn view() -> UsbView {
        UsbView {
            vendor_id: 0x1452,
            product_id: 0x9201,
            bcd_device: 0x0120,
            bcd_usb: 0x0200,
            class: 0,
            subclass: 0,
            protocol: 0,
            max_packet_size0: 64,
            num_configurations: 1,
            manufacturer_index: 1,
            product_index: 2,
            serial_index: 3,
            bus: 1,
            address: 5,
            port_path: vec![1, 2],
            speed: Speed::High,
            manufacturer: Readable::Value("Dai Nippon Printing".into()),
            product: Readable::Value("DS620".into()),
            serial: Readable::Value("DS6C98031738".into()),
            active_configuration: Some(1),
            configurations: vec![],
            device_id_1284: Readable::Absent,
        }
    }

    fn entry(id: u64) -> RegEntry {
        let mut p = BTreeMap::new();
        p.insert("idVendor".into(), Prop::Int(0x1452));
        p.insert("idProduct".into(), Prop::Int(0x9201));
        p.insert("bcdDevice".into(), Prop::Int(0x0120));
        p.insert("locationID".into(), Prop::Int(0x0112_0000));
        p.insert("USB Serial Number".into(), Prop::Str("DS6C98031738".into()));
        RegEntry {
            id,
            name: "DS620".into(),
            location: Some("01120000".into()),
            class: "IOUSBHostDevice".into(),
            class_chain: vec!["IOUSBHostDevice".into(), "IOService".into()],
            parent: None,
            path: "IOService:/AppleARMPE/DS620@01120000".into(),
            registered: true,
            properties: p,
        }
    }

    #[test]
    fn agreeing_views_have_no_findings() {
        assert_eq!(compare(&view(), &entry(1)), vec![]);
    }

    #[test]
    fn each_planted_mismatch_is_found_with_both_values() {
        type Plant = fn(&mut UsbView, &mut RegEntry);
        let cases: &[(&str, Plant, Field, &str, &str)] = &[
            (
                "vendor",
                |_, e| {
                    e.properties.insert("idVendor".into(), Prop::Int(0x1343));
                },
                Field::Vendor,
                "0x1452",
                "0x1343",
            ),
            (
                "product",
                |v, _| v.product_id = 0x9200,
                Field::Product,
                "0x9200",
                "0x9201",
            ),
            (
                "bcd_device",
                |_, e| {
                    e.properties.insert("bcdDevice".into(), Prop::Int(0x0100));
                },
                Field::BcdDevice,
                "0x0120",
                "0x0100",
            ),
            (
                "serial",
                |_, e| {
                    e.properties
                        .insert("USB Serial Number".into(), Prop::Str("DS6C9803173".into()));
                },
                Field::Serial,
                "\"DS6C98031738\"",
                "\"DS6C9803173\"",
            ),
            (
                "location: port order reversed",
                |v, _| v.port_path = vec![2, 1],
                Field::Location,
                "0x01210000",
                "0x01120000",
            ),
            (
                "serial unreadable through libusb",
                |v, _| v.serial = Readable::Unreadable("LIBUSB_ERROR_ACCESS".into()),
                Field::Serial,
                "an unreadable serial (LIBUSB_ERROR_ACCESS)",
                "\"DS6C98031738\"",
            ),
        ];
        for (what, plant, field, usb, registry) in cases {
            let (mut v, mut e) = (view(), entry(1));
            plant(&mut v, &mut e);
            let found = compare(&v, &e);
            assert_eq!(
                found,
                vec![Finding {
                    field: *field,
                    usb: usb.to_string(),
                    registry: RegistryValue::Value(registry.to_string()),
                }],
                "{what}"
            );
        }
    }

    #[test]
    fn an_absent_key_is_its_own_finding() {
        let mut e = entry(1);
        e.properties.remove("locationID");
        e.properties.remove("USB Serial Number");
        let found = compare(&view(), &e);
        let fields: Vec<_> = found
            .iter()
            .map(|f| (f.field, f.registry.clone()))
            .collect();
        assert_eq!(
            fields,
            vec![
                (
                    Field::Location,
                    RegistryValue::Absent {
                        keys: vec!["locationID"]
                    }
                ),
                (
                    Field::Serial,
                    RegistryValue::Absent {
                        keys: SERIAL_KEYS.to_vec()
                    }
                ),
            ]
        );
        assert!(found[1].to_string().contains("no `USB Serial Number` or"));
    }

    #[test]
    fn the_other_serial_key_counts() {
        let mut e = entry(1);
        let s = e.properties.remove("USB Serial Number").unwrap();
        e.properties.insert("kUSBSerialNumberString".into(), s);
        assert_eq!(compare(&view(), &e), vec![]);
    }

    #[test]
    fn pairing_prefers_ids_and_serial_then_falls_back_to_location() {
        let mut other = entry(2);
        other
            .properties
            .insert("locationID".into(), Prop::Int(0x0130_0000));
        let mut wrong_serial = entry(3);
        wrong_serial
            .properties
            .insert("USB Serial Number".into(), Prop::Str("X".into()));
        let devices = [wrong_serial.clone(), other];
        // Same ids and serial at another location: paired by serial (and the location is then a finding).
        assert_eq!(pair(&view(), &devices).map(|e| e.id), Some(2));
        // Nothing with that serial: paired by location.
        let mut elsewhere = entry(4);
        elsewhere
            .properties
            .insert("locationID".into(), Prop::Int(0x0130_0000));
        elsewhere.properties.remove("USB Serial Number");
        assert_eq!(
            pair(&view(), &[elsewhere, wrong_serial]).map(|e| e.id),
            Some(3)
        );
        assert_eq!(pair(&view(), &[]), None);
    }

    #[test]
    fn judging_skips_expects_and_flags_mismatches_that_did_not_happen() {
        let finding = |field| Finding {
            field,
            usb: "a".into(),
            registry: RegistryValue::Value("b".into()),
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let j = judge(
            vec![finding(Field::Serial), finding(Field::BcdDevice)],
            &s(&["serial"]),
            &s(&["bcd_device"]),
        );
        assert!(j.passed(), "{j:?}");
        assert_eq!(j.compared, 4);

        let j = judge(vec![finding(Field::Vendor)], &[], &[]);
        assert!(!j.passed());
        assert_eq!(j.unexpected[0].field, Field::Vendor);

        let j = judge(vec![], &[], &s(&["bcd_device"]));
        assert!(!j.passed());
        assert_eq!(j.agreed_but_expected_mismatch, s(&["bcd_device"]));
    }
}
