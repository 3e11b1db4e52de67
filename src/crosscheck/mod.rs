//! Cross-checking the libusb view of a printer against its IORegistry entries, field by field.
//!
//! Pure rules, no lab and no I/O: which registry entry is the device libusb sees ([`pair`]), which fields
//! disagree ([`check`], in `device`, `interfaces` and `dext`), and what a scenario's `skip` /
//! `expect_mismatch` make of that ([`judge`]). Field names are kept in one list ([`FIELDS`]) that the
//! scenario loader validates against.

mod device;
mod dext;
mod fields;
mod interfaces;

pub use device::{SERIAL_KEYS, registry_speed};
pub use fields::{FIELDS, is_field, nearest_field, skips};

use crate::driver::Driver;
use crate::lab::{RegEntry, UsbView};
use crate::usb::location;
use std::fmt;

/// What libusb (or, for `dext.*` fields, the driver file and the device) says a field should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsbValue {
    Value(String),
    /// libusb could not read it (a string descriptor a driver refuses, an unknown speed); the reason.
    Unreadable(String),
}

/// What the registry holds for a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryValue {
    Value(String),
    /// The entry has none of the keys this field is read from.
    Absent {
        keys: Vec<&'static str>,
    },
    /// An object the field is about is not in the registry at all (a service, an interface).
    Missing(String),
}

impl fmt::Display for RegistryValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryValue::Value(v) => f.write_str(v),
            RegistryValue::Absent { keys } => write!(f, "no `{}` key", keys.join("` or `")),
            RegistryValue::Missing(what) => write!(f, "no {what}"),
        }
    }
}

/// How two views disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingKind {
    /// Both sides have a value, and they differ.
    Differs,
    /// The registry lacks the key (or the object) the field is read from.
    AbsentInRegistry,
    /// libusb could not read its side.
    UnreadableOnUsb,
}

/// One field on which the two views disagree, with both values as a person reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// A name from [`FIELDS`], with the interface number filled in (`interface.0.class`).
    pub field: String,
    pub usb: UsbValue,
    pub registry: RegistryValue,
}

impl Finding {
    pub fn kind(&self) -> FindingKind {
        match (&self.usb, &self.registry) {
            (UsbValue::Unreadable(_), _) => FindingKind::UnreadableOnUsb,
            (_, RegistryValue::Absent { .. } | RegistryValue::Missing(_)) => {
                FindingKind::AbsentInRegistry
            }
            _ => FindingKind::Differs,
        }
    }

    /// The libusb side alone, for a failure's "expected" line.
    pub fn usb_text(&self) -> String {
        match &self.usb {
            UsbValue::Value(v) => v.clone(),
            UsbValue::Unreadable(why) => format!("unreadable on the libusb side: {why}"),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expected_by = if self.field.starts_with("dext.") {
            "the driver file and the device say"
        } else {
            "libusb says"
        };
        let registry = match &self.registry {
            RegistryValue::Value(v) => format!("the registry says {v}"),
            other => format!("the registry has {other}"),
        };
        match &self.usb {
            UsbValue::Value(v) => write!(f, "{}: {expected_by} {v}, {registry}", self.field),
            UsbValue::Unreadable(why) => write!(
                f,
                "{}: unreadable on the libusb side: {why}; {registry}",
                self.field
            ),
        }
    }
}

/// Fields compared and what disagreed. Checkers record every field they compare, so `expect_mismatch`
/// can tell "agreed" from "not compared".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    pub compared: Vec<String>,
    pub findings: Vec<Finding>,
}

impl Findings {
    pub(crate) fn agree(&mut self, field: impl Into<String>) {
        self.compared.push(field.into());
    }

    pub(crate) fn push(
        &mut self,
        field: impl Into<String>,
        usb: UsbValue,
        registry: RegistryValue,
    ) {
        let field = field.into();
        self.compared.push(field.clone());
        self.findings.push(Finding {
            field,
            usb,
            registry,
        });
    }

    /// Record `field` as agreeing, or as a finding when `outcome` has one.
    pub(crate) fn record(
        &mut self,
        field: impl Into<String>,
        outcome: Option<(UsbValue, RegistryValue)>,
    ) {
        match outcome {
            Some((usb, registry)) => self.push(field, usb, registry),
            None => self.agree(field),
        }
    }
}

/// What the registry holds around one printer, as the engine gathers it.
#[derive(Clone, Copy, Debug)]
pub struct RegistrySide<'a> {
    /// The printer's `IOUSBHostDevice`.
    pub device: &'a RegEntry,
    /// Its `IOUSBHostInterface` children.
    pub interfaces: &'a [RegEntry],
    /// The children of those interfaces (where a dext's service sits).
    pub services: &'a [RegEntry],
    /// Every `IOUserServer` in the registry.
    pub user_servers: &'a [RegEntry],
}

/// Every field check of one printer: the device, each interface of the active configuration, and the dext.
pub fn check(view: &UsbView, reg: RegistrySide<'_>, driver: &Driver) -> Findings {
    let mut out = Findings::default();
    device::check(view, reg.device, &mut out);
    interfaces::check(view, reg.interfaces, &mut out);
    dext::check(view, reg, driver, &mut out);
    out
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
                .is_some_and(|s| device::registry_serial(e) == Some(s.as_str()))
    });
    by_ids.or_else(|| {
        let loc = location::encode(view.bus, &view.port_path).ok()?;
        devices
            .iter()
            .find(|e| e.int("locationID") == Some(loc.into()))
    })
}

/// What a scenario makes of the findings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judgement {
    /// Findings not skipped and not expected: each one fails the step.
    pub unexpected: Vec<Finding>,
    /// `expect_mismatch` fields that agreed (or were not there to compare): each one fails the step (the
    /// known bug is fixed, or the check is wrong).
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

/// Apply `skip` and `expect_mismatch`; either may name a field or a group of fields (`dext`,
/// `interface.0`).
pub fn judge(findings: Findings, skip: &[String], expect_mismatch: &[String]) -> Judgement {
    let skipped = |f: &str| skip.iter().any(|s| skips(s, f));
    let expected = |f: &str| expect_mismatch.iter().any(|s| skips(s, f));
    let mut j = Judgement {
        compared: findings.compared.iter().filter(|f| !skipped(f)).count(),
        ..Judgement::default()
    };
    for f in findings.findings {
        if skipped(&f.field) {
            continue;
        }
        if expected(&f.field) {
            j.expected.push(f);
        } else {
            j.unexpected.push(f);
        }
    }
    for m in expect_mismatch {
        let all_skipped = skip.iter().any(|s| skips(s, m));
        if !all_skipped && !j.expected.iter().any(|f| skips(m, &f.field)) {
            j.agreed_but_expected_mismatch.push(m.clone());
        }
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::crosscheck::{clean, driver, view};

    #[test]
    fn the_clean_printer_has_no_findings_and_compares_every_kind_of_field() {
        let (devs, ifs, svcs, servers) = clean();
        let reg = RegistrySide {
            device: &devs,
            interfaces: &ifs,
            services: &svcs,
            user_servers: &servers,
        };
        let out = check(&view(), reg, &driver());
        assert_eq!(out.findings, vec![]);
        for f in [
            "vendor",
            "speed",
            "interface.0.class",
            "dext.user_server_count",
        ] {
            assert!(out.compared.iter().any(|c| c == f), "{f} not compared");
        }
    }

    #[test]
    fn pairing_prefers_ids_and_serial_then_falls_back_to_location() {
        use crate::lab::Prop;
        let (dev, ..) = clean();
        let mut other = dev.clone();
        other.id = 2;
        other
            .properties
            .insert("locationID".into(), Prop::Int(0x0130_0000));
        let mut wrong_serial = dev.clone();
        wrong_serial.id = 3;
        for k in SERIAL_KEYS {
            wrong_serial
                .properties
                .insert(k.into(), Prop::Str("X".into()));
        }
        assert_eq!(
            pair(&view(), &[wrong_serial.clone(), other]).map(|e| e.id),
            Some(2)
        );
        let mut elsewhere = dev;
        elsewhere.id = 4;
        elsewhere
            .properties
            .insert("locationID".into(), Prop::Int(0x0130_0000));
        for k in SERIAL_KEYS {
            elsewhere.properties.remove(k);
        }
        assert_eq!(
            pair(&view(), &[elsewhere, wrong_serial]).map(|e| e.id),
            Some(3)
        );
        assert_eq!(pair(&view(), &[]), None);
    }

    fn finding(field: &str) -> Finding {
        Finding {
            field: field.into(),
            usb: UsbValue::Value("a".into()),
            registry: RegistryValue::Value("b".into()),
        }
    }

    #[test]
    fn judging_skips_expects_and_flags_mismatches_that_did_not_happen() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let all = |fs: &[&str]| Findings {
            compared: s(&[
                "vendor",
                "serial",
                "bcd_device",
                "interface.0.class",
                "dext.bundle_id",
            ]),
            findings: fs.iter().map(|f| finding(f)).collect(),
        };
        let j = judge(
            all(&["serial", "bcd_device"]),
            &s(&["serial"]),
            &s(&["bcd_device"]),
        );
        assert!(j.passed(), "{j:?}");
        assert_eq!(j.compared, 4);

        let j = judge(all(&["vendor"]), &[], &[]);
        assert!(!j.passed());
        assert_eq!(j.unexpected[0].field, "vendor");

        let j = judge(all(&[]), &[], &s(&["bcd_device"]));
        assert!(!j.passed());
        assert_eq!(j.agreed_but_expected_mismatch, s(&["bcd_device"]));

        // Groups: `dext` skips every dext field, `interface.0` every field of interface 0.
        let j = judge(
            all(&["dext.bundle_id", "interface.0.class"]),
            &s(&["dext"]),
            &s(&["interface.0"]),
        );
        assert!(j.passed(), "{j:?}");
        assert_eq!(j.compared, 4);
    }

    #[test]
    fn finding_kinds_and_messages_name_both_sides() {
        let differs = finding("vendor");
        assert_eq!(differs.kind(), FindingKind::Differs);
        assert_eq!(
            differs.to_string(),
            "vendor: libusb says a, the registry says b"
        );
        let absent = Finding {
            registry: RegistryValue::Absent {
                keys: vec!["bcdUSB"],
            },
            ..finding("bcd_usb")
        };
        assert_eq!(absent.kind(), FindingKind::AbsentInRegistry);
        assert!(
            absent
                .to_string()
                .ends_with("the registry has no `bcdUSB` key")
        );
        let unreadable = Finding {
            usb: UsbValue::Unreadable("LIBUSB_ERROR_PIPE".into()),
            ..finding("serial")
        };
        assert_eq!(unreadable.kind(), FindingKind::UnreadableOnUsb);
        assert!(
            unreadable
                .to_string()
                .contains("unreadable on the libusb side: LIBUSB_ERROR_PIPE")
        );
    }
}
