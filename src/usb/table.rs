//! The device table `dexthil list-devices` prints: every USB device in the libusb view, with the catalog
//! model, its serial and 1284 id, and (on a Mac) the `IOUSBHostDevice` registry entry at the same
//! locationID, so a broken port path on either side shows at a glance (reference §5).

use super::location;
use crate::lab::{Matching, Readable, Registry, UsbBus};
use crate::printer::catalog;
use std::fmt::Write;

fn readable(r: &Readable<String>) -> String {
    match r {
        Readable::Value(v) if v.is_empty() => "\"\"".into(),
        Readable::Value(v) => v.clone(),
        Readable::Absent => "-".into(),
        Readable::Unreadable(why) => format!("unreadable ({why})"),
    }
}

/// The `MODEL:` field of a 1284 device id.
fn model_1284(r: &Readable<String>) -> String {
    match r {
        Readable::Value(id) => id
            .split(';')
            .find_map(|f| {
                // IEEE 1284 allows the short key: DS480 / DS680 answer `MDL:` (Gutenprint dyesub.xml).
                let f = f.trim();
                f.strip_prefix("MODEL:")
                    .or_else(|| f.strip_prefix("MDL:"))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "-".into()),
        other => readable(other),
    }
}

/// One text table: a line per libusb device, then the registry's USB devices libusb did not show.
pub fn device_table(bus: &dyn UsbBus, registry: Option<&dyn Registry>) -> String {
    let mut out = String::new();
    let devices = match bus.devices() {
        Ok(d) => d,
        Err(e) => {
            let _ = writeln!(out, "libusb view: {e}");
            Vec::new()
        }
    };
    let reg_devices = registry.map(|r| {
        r.find(&Matching {
            class: Some("IOUSBHostDevice".into()),
            ..Matching::default()
        })
    });
    let located: Vec<_> = match &reg_devices {
        Some(Ok(entries)) => entries
            .iter()
            .map(|e| {
                let place = e
                    .int("locationID")
                    .and_then(|l| u32::try_from(l).ok())
                    .map(location::decode);
                (e, place)
            })
            .collect(),
        _ => Vec::new(),
    };
    let _ = writeln!(
        out,
        "{:<4} {:<10} {:<4} {:<9} {:<8} {:<14} {:<10} registry",
        "bus", "port", "addr", "ids", "model", "serial", "1284"
    );
    if devices.is_empty() {
        let _ = writeln!(out, "(libusb sees no USB devices)");
    }
    let mut seen = Vec::new();
    let mut guessed_id = false;
    for d in &devices {
        // `*`: the catalog's 1284 id for this model is a guess (printer::catalog::IdSource).
        let model = match catalog::by_ids(d.vendor_id, d.product_id) {
            Some(m) if m.device_id_source == catalog::IdSource::Unconfirmed => {
                guessed_id = true;
                format!("{}*", m.name)
            }
            Some(m) => m.name.to_string(),
            None => "-".into(),
        };
        let reg = match &reg_devices {
            None => "n/a".to_string(),
            Some(Err(e)) => format!("error: {e}"),
            Some(Ok(_)) => match located
                .iter()
                .find(|(_, p)| p.as_ref() == Some(&(d.bus, d.port_path.clone())))
            {
                Some((e, _)) => {
                    seen.push(e.id);
                    format!("{} 0x{:X}", e.name, e.id)
                }
                None => "not at this locationID".into(),
            },
        };
        let _ = writeln!(
            out,
            "{:<4} {:<10} {:<4} {:04x}:{:04x} {:<8} {:<14} {:<10} {}",
            d.bus,
            d.port_path_text(),
            d.address,
            d.vendor_id,
            d.product_id,
            model,
            readable(&d.serial),
            model_1284(&d.device_id_1284),
            reg
        );
    }
    if guessed_id {
        let _ = writeln!(
            out,
            "* the catalog's 1284 id for this model is {}: the sim and the printer emulator answer that guess",
            catalog::IdSource::Unconfirmed.label()
        );
    }
    for (e, place) in located.iter().filter(|(e, _)| !seen.contains(&e.id)) {
        let (bus, ports) = place.clone().unwrap_or_default();
        let ids = match (e.int("idVendor"), e.int("idProduct")) {
            (Some(v), Some(p)) => format!("{v:04x}:{p:04x}"),
            _ => "?".into(),
        };
        let _ = writeln!(
            out,
            "registry only: {} 0x{:X} ids {ids} bus {bus} port {} (libusb does not show it)",
            e.name,
            e.id,
            location::port_path_text(&ports)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::{EntryId, LabError, Prop, RegEntry, UsbView, WaitError, WaitFor};
    use crate::usb::replug::tests::printer;
    use std::time::Instant;

    struct OneBus(Vec<UsbView>);
    impl UsbBus for OneBus {
        fn devices(&self) -> Result<Vec<UsbView>, LabError> {
            Ok(self.0.clone())
        }
        fn replug(&self, _: &UsbView) -> Result<(), LabError> {
            Ok(())
        }
        fn wait_usb(
            &self,
            _: &(dyn Fn(&UsbView) -> bool + Sync),
            _: bool,
            _: Instant,
        ) -> Result<Option<UsbView>, WaitError> {
            Ok(None)
        }
    }

    struct Reg(Vec<RegEntry>);
    impl Registry for Reg {
        fn find(&self, m: &Matching) -> Result<Vec<RegEntry>, LabError> {
            Ok(self.0.iter().filter(|e| m.matches(e)).cloned().collect())
        }
        fn entry(&self, id: EntryId) -> Result<RegEntry, LabError> {
            Err(LabError::NoEntry(id))
        }
        fn children(&self, _: EntryId) -> Result<Vec<RegEntry>, LabError> {
            Ok(vec![])
        }
        fn wait(
            &self,
            _: &Matching,
            _: WaitFor,
            _: Instant,
        ) -> Result<Option<RegEntry>, WaitError> {
            Ok(None)
        }
    }

    fn usb_device(id: u64, location: u32) -> RegEntry {
        RegEntry {
            id,
            name: "DS620".into(),
            location: None,
            class: "IOUSBHostDevice".into(),
            class_chain: vec!["IOUSBHostDevice".into(), "IOService".into()],
            parent: None,
            path: String::new(),
            registered: true,
            properties: [
                ("locationID".to_string(), Prop::Int(location as i128)),
                ("idVendor".to_string(), Prop::Int(0x1452)),
                ("idProduct".to_string(), Prop::Int(0x8B01)),
            ]
            .into(),
        }
    }

    #[test]
    fn a_model_whose_catalog_id_is_a_guess_is_starred_and_ds480_shows_its_mdl() {
        let cz = catalog::find("CZ-01").unwrap().usb_view(1, vec![1, 2], 4);
        let ds480 = catalog::find("DS480").unwrap().usb_view(1, vec![1, 3], 5);
        let table = device_table(&OneBus(vec![cz, ds480]), None);
        assert!(table.contains("CZ-01*"), "{table}");
        assert!(
            table.contains("DS480 ") && table.contains("DPDS480"),
            "{table}"
        );
        assert!(
            table.contains("* the catalog's 1284 id for this model is UNCONFIRMED"),
            "{table}"
        );
        let ds620 = catalog::find("DS620").unwrap().usb_view(1, vec![1, 1], 3);
        assert!(!device_table(&OneBus(vec![ds620]), None).contains('*'));
    }

    #[test]
    fn both_views_line_up_by_location_and_mismatches_show() {
        let mut p = printer("DS6C98031738", 5, vec![1, 2]);
        p.device_id_1284 =
            Readable::Value("MANUFACTURER:Dai Nippon Printing ;MODEL:DP-DS620;".into());
        let mut q = printer("", 6, vec![3]);
        q.serial = Readable::Unreadable("Access denied".into());
        let bus = OneBus(vec![p, q]);
        let reg = Reg(vec![
            usb_device(0x1000, 0x0112_0000),
            usb_device(0x2000, 0x0140_0000),
        ]);
        let table = device_table(&bus, Some(&reg));
        let lines: Vec<_> = table.lines().collect();
        assert!(
            lines[1].contains("1.2") && lines[1].contains("DS620"),
            "{table}"
        );
        assert!(
            lines[1].contains("DP-DS620") && lines[1].contains("DS620 0x1000"),
            "{table}"
        );
        assert!(lines[2].contains("unreadable (Access denied)"), "{table}");
        assert!(lines[2].contains("not at this locationID"), "{table}");
        assert!(
            lines[3].starts_with("registry only: DS620 0x2000"),
            "{table}"
        );
        assert!(lines[3].contains("port 4"), "{table}");
    }

    #[test]
    fn an_empty_bus_says_so_and_no_registry_is_marked() {
        let table = device_table(&OneBus(vec![]), None);
        assert!(table.contains("libusb sees no USB devices"));
        let one = device_table(&OneBus(vec![printer("X", 1, vec![1])]), None);
        assert!(one.lines().nth(1).unwrap().ends_with("n/a"));
    }
}
