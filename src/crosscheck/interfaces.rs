//! Interface rules: each `IOUSBHostInterface` child of the device against the interface of the same
//! number in libusb's active configuration (reference §5 keys), and every interface of that configuration
//! present in the registry.

use super::device::{Shown, int_rule};
use super::{Findings, RegistryValue, UsbValue};
use crate::lab::{InterfaceView, Prop, RegEntry, UsbView};

/// A class / subclass / protocol triple against three keys, as one field.
pub(crate) fn class_rule(
    out: &mut Findings,
    field: &str,
    e: &RegEntry,
    keys: [&'static str; 3],
    usb: (u8, u8, u8),
) {
    let triple = |a: i128, b: i128, c: i128| format!("0x{a:02x}/0x{b:02x}/0x{c:02x}");
    let want = triple(usb.0.into(), usb.1.into(), usb.2.into());
    let got: Vec<Option<i128>> = keys.iter().map(|k| e.int(k)).collect();
    let outcome = match got.as_slice() {
        [Some(a), Some(b), Some(c)]
            if (*a, *b, *c) == (usb.0.into(), usb.1.into(), usb.2.into()) =>
        {
            None
        }
        [Some(a), Some(b), Some(c)] => Some(RegistryValue::Value(triple(*a, *b, *c))),
        _ => Some(RegistryValue::Absent {
            keys: keys
                .iter()
                .zip(&got)
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| *k)
                .collect(),
        }),
    };
    out.record(field, outcome.map(|r| (UsbValue::Value(want), r)));
}

fn number(e: &RegEntry) -> Option<u8> {
    e.int("bInterfaceNumber").and_then(|v| u8::try_from(v).ok())
}

fn one(out: &mut Findings, config: u8, usb_alts: &[&InterfaceView], e: &RegEntry, n: u8) {
    let field = |f: &str| format!("interface.{n}.{f}");
    out.agree(field("present"));
    let alt = e.int("bAlternateSetting");
    let Some(usb) = usb_alts
        .iter()
        .find(|i| alt == Some(i.alternate_setting.into()))
        .or(usb_alts.first())
    else {
        return;
    };
    int_rule(
        out,
        &field("alternate_setting"),
        e,
        &["bAlternateSetting"],
        usb.alternate_setting.into(),
        Shown::Dec,
    );
    class_rule(
        out,
        &field("class"),
        e,
        [
            "bInterfaceClass",
            "bInterfaceSubClass",
            "bInterfaceProtocol",
        ],
        (usb.class, usb.subclass, usb.protocol),
    );
    int_rule(
        out,
        &field("num_endpoints"),
        e,
        &["bNumEndpoints"],
        usb.endpoints.len() as i128,
        Shown::Dec,
    );
    int_rule(
        out,
        &field("configuration_value"),
        e,
        &["bConfigurationValue"],
        config.into(),
        Shown::Dec,
    );
}

/// Every interface rule. Without an active configuration on the libusb side there is nothing to pair the
/// registry's interfaces with; that is one `configuration` finding already, so nothing is added here.
pub(crate) fn check(view: &UsbView, interfaces: &[RegEntry], out: &mut Findings) {
    let Some(config) = view.active_configuration else {
        return;
    };
    let usb: Vec<&InterfaceView> = view
        .configurations
        .iter()
        .filter(|c| c.value == config)
        .flat_map(|c| &c.interfaces)
        .collect();
    let mut numbers: Vec<u8> = usb.iter().map(|i| i.number).collect();
    numbers.extend(interfaces.iter().filter_map(number));
    numbers.sort_unstable();
    numbers.dedup();
    for n in numbers {
        let alts: Vec<&InterfaceView> = usb.iter().copied().filter(|i| i.number == n).collect();
        let entry = interfaces.iter().find(|e| number(e) == Some(n));
        match (entry, alts.is_empty()) {
            (Some(e), false) => one(out, config, &alts, e, n),
            (Some(e), true) => out.push(
                format!("interface.{n}.present"),
                UsbValue::Value(format!("no interface {n} in configuration {config}")),
                RegistryValue::Value(e.path.clone()),
            ),
            (None, _) => out.push(
                format!("interface.{n}.present"),
                UsbValue::Value(format!("interface {n} in configuration {config}")),
                RegistryValue::Missing(format!(
                    "IOUSBHostInterface with bInterfaceNumber {n} under the device"
                )),
            ),
        }
    }
    // An interface entry without a number cannot be paired: say so rather than drop it.
    for e in interfaces.iter().filter(|e| number(e).is_none()) {
        let shown = match e.prop("bInterfaceNumber") {
            Some(Prop::Int(v)) => v.to_string(),
            Some(p) => format!("{p:?}"),
            None => "none".into(),
        };
        out.push(
            "interface.N.present",
            UsbValue::Value("interfaces numbered 0..=255".into()),
            RegistryValue::Value(format!("{} with bInterfaceNumber {shown}", e.path)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::crosscheck::{clean, view};

    fn run(v: &UsbView, ifs: &[RegEntry]) -> Vec<super::super::Finding> {
        let mut out = Findings::default();
        check(v, ifs, &mut out);
        out.findings
    }

    fn set(e: &mut RegEntry, k: &str, v: i128) {
        e.properties.insert(k.into(), Prop::Int(v));
    }

    #[test]
    fn the_clean_interface_agrees() {
        assert_eq!(run(&view(), &clean().1), vec![]);
    }

    #[test]
    fn each_planted_mismatch_is_found_with_both_values() {
        type Plant = fn(&mut UsbView, &mut RegEntry);
        let cases: &[(Plant, &str, &str, &str)] = &[
            (
                |_, e| set(e, "bInterfaceClass", 0xff),
                "interface.0.class",
                "0x07/0x01/0x02",
                "0xff/0x01/0x02",
            ),
            (
                |_, e| set(e, "bInterfaceProtocol", 1),
                "interface.0.class",
                "0x07/0x01/0x02",
                "0x07/0x01/0x01",
            ),
            (
                |_, e| set(e, "bNumEndpoints", 3),
                "interface.0.num_endpoints",
                "2",
                "3",
            ),
            (
                |_, e| set(e, "bConfigurationValue", 2),
                "interface.0.configuration_value",
                "1",
                "2",
            ),
            (
                |_, e| set(e, "bAlternateSetting", 1),
                "interface.0.alternate_setting",
                "0",
                "1",
            ),
            (
                |v, _| v.configurations[0].interfaces[0].number = 1,
                "interface.0.present",
                "no interface 0 in configuration 1",
                "IOService:/XHC1@01000000/USB2.0 Hub@01100000/DS620@01120000/IOUSBHostInterface@0",
            ),
        ];
        for (plant, field, usb, registry) in cases {
            let (mut v, (_, mut ifs, ..)) = (view(), clean());
            plant(&mut v, &mut ifs[0]);
            let found = run(&v, &ifs);
            assert!(!found.is_empty(), "{field}");
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
    fn an_interface_missing_from_the_registry_is_named() {
        let found = run(&view(), &[]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].field, "interface.0.present");
        assert!(
            found[0]
                .to_string()
                .contains("no IOUSBHostInterface with bInterfaceNumber 0"),
            "{}",
            found[0]
        );
    }
}
