//! The clean printer the rule tests plant mismatches into: the DS620 of `tests/fixtures/ioreg/ds620.txt`
//! (read with the replay text parser) and the catalog's libusb view of the same printer at the same port.

use crate::backends::replay::parse_text;
use crate::driver::Driver;
use crate::lab::{RegEntry, UsbView};
use std::path::Path;

const DUMP: &str = include_str!("../../tests/fixtures/ioreg/ds620.txt");

pub fn view() -> UsbView {
    crate::printer::catalog::find("DS620")
        .expect("DS620 is in the catalog")
        .usb_view(1, vec![1, 2], 5)
}

/// (device, its interfaces, the children of those, every IOUserServer).
pub fn clean() -> (RegEntry, Vec<RegEntry>, Vec<RegEntry>, Vec<RegEntry>) {
    let entries = parse_text(Path::new("ds620.txt"), DUMP)
        .expect("the DS620 fixture parses")
        .entries();
    let of = |class: &'static str| entries.iter().filter(move |e| e.class == class).cloned();
    let device = of("IOUSBHostDevice")
        .find(|e| e.int("idProduct") == Some(0x8B01))
        .expect("the fixture has the DS620");
    let interfaces: Vec<RegEntry> = of("IOUSBHostInterface")
        .filter(|e| e.parent == Some(device.id))
        .collect();
    let services = entries
        .iter()
        .filter(|e| interfaces.iter().any(|i| e.parent == Some(i.id)))
        .cloned()
        .collect();
    (device, interfaces, services, of("IOUserServer").collect())
}

pub fn driver() -> Driver {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/drivers/dnp-printer.yaml");
    crate::scenario::load_driver(&path).expect("the DNP driver file loads")
}
