//! What the double serves for a scenario with printer roles: a sim lab seated where libusb sees the real
//! printers (the USB VM's gadgets, `backends::sim::seating::seated_sim`), so the macOS backend pairs each real
//! device with its doubled registry entry by bus (`locationID >> 24`) and `USB Address`, as on a Mac
//! (`usb::darwin::pair`). And what such a scenario cannot have on a real bus under the double (a replug,
//! a re-enumeration), said before it starts, as the lab's limit rather than the driver's failure.

use crate::backends::LabSpec;
use crate::backends::sim::SimLab;
use crate::lab::{LabError, UsbView};
use crate::scenario::FaultKind;

/// Why `scenario` cannot run under the double against real printers; `None` when it can.
///
/// - A replug (a `replug` step, or a `fuzz` step on a printer, whose sequences replug): the macOS backend
///   replugs by hub port power or a libusb reset, which the doubled registry (a sim) never sees, and the
///   USB VM's gadgets replug only by their UDC file, which the backend has no method for.
/// - A `reenumerate` sim fault: its subject is the printer arriving at a new port, which it would do in the
///   doubled registry only, while libusb still sees the real one where it was. (An `unplug` or
///   `unplug_mid_call` fault runs: the printer's service terminates in the doubled registry, which is what
///   such scenarios check; libusb still lists the real printer, so a `cross_check` after one would fail.)
pub fn real_bus_refusal(spec: &LabSpec) -> Option<String> {
    if let Some(role) = spec.replugs.first() {
        return Some(format!(
            "it replugs printer `{role}`: the macOS backend replugs by hub port power or a libusb reset, which \
             the doubled registry never sees, and the USB VM's gadgets replug only through their UDC file"
        ));
    }
    spec.sim.faults.iter().find_map(|f| match &f.kind {
        FaultKind::Reenumerate { role, .. } => Some(format!(
            "its sim fault re-enumerates printer `{role}` at a new port, but only in the doubled registry: \
             the real printer stays where libusb sees it"
        )),
        _ => None,
    })
}

/// The sim lab for attempt `attempt` of `scenario`, seated at the real printers of `real` (libusb's views,
/// taken while the double serves nothing, so their port paths are libusb's own).
pub fn seated_lab(spec: &LabSpec, attempt: u32, real: &[UsbView]) -> Result<SimLab, LabError> {
    if let Some(why) = real_bus_refusal(spec) {
        return Err(LabError::Unsupported {
            backend: "macos",
            what: "serve this scenario under the darwin double",
            why,
        });
    }
    crate::backends::sim::seating::seated_sim(spec, attempt, real)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::darwin_double::{served, testing};
    use crate::backends::macos::IoRegistry;
    use crate::printer::catalog;
    use crate::scenario::Scenario;
    use crate::usb::darwin;
    use std::path::Path;
    use std::sync::Arc;

    fn scenario(rel: &str) -> Scenario {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
        crate::scenario::load_corpus(&[path])
            .expect("the scenario loads")
            .remove(0)
    }

    /// A bus unlike the sim station's (bus 1, behind a hub, addresses from 2): what libusb shows in the USB
    /// VM, each printer on a root port of its own `dummy_hcd` bus, beside a root hub that is no printer.
    fn real_bus() -> Vec<UsbView> {
        let model = |name| catalog::find(name).expect("a catalog model");
        let mut root_hub = model("DS620").usb_view(3, vec![], 1);
        (root_hub.vendor_id, root_hub.product_id) = (0x1d6b, 0x0002);
        vec![
            root_hub,
            model("DS620").usb_view(3, vec![1], 9),
            model("CX-02").usb_view(4, vec![1], 4),
        ]
    }

    /// The registry as the macOS backend reads it through the double (`IOServiceGetMatchingServices`,
    /// `IORegistryEntryCreateCFProperties`), while `sim` is served.
    fn backend_registry(sim: Arc<SimLab>) -> Vec<darwin::RegUsbDevice> {
        served::serve(Some(sim));
        let reg = darwin::reg_usb_devices(&IoRegistry).expect("the doubled registry reads");
        served::serve(None);
        reg
    }

    #[test]
    fn the_backend_pairs_each_real_printer_with_its_doubled_entry_by_bus_and_address() {
        let _double = testing::session();
        let real = real_bus();
        let scenario = scenario("scenarios/smoke/ds620.yaml");
        let seated = Arc::new(
            seated_lab(&LabSpec::of(&scenario), 1, &real).expect("the sim seats at the real bus"),
        );
        let reg = backend_registry(seated);
        for v in &real[1..] {
            let entry = darwin::pair(v.bus, v.address, &reg)
                .unwrap_or_else(|| panic!("no doubled entry pairs with {}: {reg:#?}", v.label()));
            assert_eq!(
                (entry.vendor_id, entry.product_id),
                (Some(v.vendor_id), Some(v.product_id)),
                "{}",
                v.label()
            );
            assert_eq!(entry.port_path(), v.port_path, "{}", v.label());
            // What `LibusbBus::devices` does with it: the port path from `locationID`, as on a Mac.
            let (path, source) = darwin::port_path(v.bus, v.address, vec![], Some(&reg));
            assert_eq!(path, v.port_path, "{}", v.label());
            assert!(matches!(source, darwin::PortPathSource::LocationId(_)));
        }
        assert!(
            darwin::pair(real[0].bus, real[0].address, &reg).is_none(),
            "the root hub is no printer: nothing of the sim's sits there"
        );
        // The station as served before (bus 1, behind a hub) pairs with none of the real printers.
        let station = Arc::new(SimLab::for_attempt(&scenario, 1).expect("the station stands up"));
        let reg = backend_registry(station);
        for v in &real[1..] {
            assert!(
                darwin::pair(v.bus, v.address, &reg).is_none(),
                "{}",
                v.label()
            );
        }
        assert_eq!(testing::ownership_errors(), Vec::<String>::new());
    }

    #[test]
    fn a_role_the_real_bus_cannot_fill_names_what_the_bus_has() {
        let real = real_bus();
        let e = seated_lab(
            &LabSpec::of(&scenario("scenarios/smoke/qw410.yaml")),
            1,
            &real,
        )
        .err()
        .expect("no QW410 in the VM");
        let said = e.to_string();
        assert!(
            said.contains("QW410") && said.contains("1452:8b01"),
            "{said}"
        );
    }

    #[test]
    fn what_a_real_bus_cannot_have_under_the_double_is_refused_saying_why() {
        for (rel, why) in [
            (
                "scenarios/smoke/replug-ds620.yaml",
                "the USB VM's gadgets replug only through their UDC file",
            ),
            (
                "scenarios/fuzz/ds620-fuzz.yaml",
                "the macOS backend replugs by hub port power",
            ),
            (
                "scenarios/field-bugs/reenumerate-new-port.yaml",
                "only in the doubled registry",
            ),
        ] {
            let e = seated_lab(&LabSpec::of(&scenario(rel)), 1, &real_bus())
                .err()
                .unwrap_or_else(|| panic!("{rel} is served"));
            assert!(
                matches!(e, LabError::Unsupported { .. }) && e.to_string().contains(why),
                "{rel}: {e}"
            );
        }
        for rel in [
            "scenarios/smoke/ds620.yaml",
            "scenarios/smoke/cx-02.yaml",
            "scenarios/field-bugs/open-iouserserver-unsupported.yaml",
            "scenarios/field-bugs/unplug-mid-call.yaml",
        ] {
            assert_eq!(
                real_bus_refusal(&LabSpec::of(&scenario(rel))),
                None,
                "{rel}"
            );
        }
    }

    /// The scenarios `ci/usb-vm/guest-init.sh` runs under the double (`DOUBLE_SCENARIOS`), as paths.
    fn guest_list() -> Vec<std::path::PathBuf> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let init =
            std::fs::read_to_string(repo.join("ci/usb-vm/guest-init.sh")).expect("guest-init.sh");
        let list = init
            .split_once("DOUBLE_SCENARIOS=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .expect("guest-init.sh sets DOUBLE_SCENARIOS=\"...\"")
            .0;
        list.split_whitespace().map(|p| repo.join(p)).collect()
    }

    /// Every corpus scenario with a printer role that the VM's two printers can serve is in the guest's list,
    /// and every other one is refused saying why: none is left out unnoticed, none listed fails for want of a
    /// printer or a replug the backend cannot do.
    #[test]
    fn the_guests_list_is_every_scenario_the_vms_printers_can_serve() {
        let model = |name| catalog::find(name).expect("a catalog model");
        // As the VM's bus has them: each on root port 1 of its own dummy_hcd bus.
        let vm = [
            model("DS620").usb_view(1, vec![1], 2),
            model("CX-02").usb_view(2, vec![1], 2),
        ];
        let listed =
            crate::scenario::load_corpus(&guest_list()).expect("the listed scenarios load");
        let listed_names: Vec<&str> = listed.iter().map(|s| s.name.as_str()).collect();
        for s in &listed {
            if let Err(e) = seated_lab(&LabSpec::of(s), 1, &vm) {
                panic!(
                    "{} is in DOUBLE_SCENARIOS but cannot be served in the VM: {e}",
                    s.name
                );
            }
        }
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let corpus =
            crate::scenario::load_corpus(&[repo.join("scenarios")]).expect("the corpus loads");
        let mut refused = 0;
        for s in corpus.iter().filter(|s| !s.printers.is_empty()) {
            match seated_lab(&LabSpec::of(s), 1, &vm) {
                Ok(_) => assert!(
                    listed_names.contains(&s.name.as_str()),
                    "{} ({}) can be served in the VM but guest-init.sh does not list it",
                    s.name,
                    s.source.display()
                ),
                Err(e) => {
                    assert!(
                        matches!(e, LabError::Unsupported { .. } | LabError::NoPrinter { .. }),
                        "{}: {e}",
                        s.name
                    );
                    refused += 1;
                }
            }
        }
        assert!(listed.iter().filter(|s| !s.printers.is_empty()).count() >= 9 && refused >= 3);
    }
}
