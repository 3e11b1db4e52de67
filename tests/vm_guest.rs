//! The guest tests of the USB VM (`ci/usb-vm/run.sh`): the project's own libusb backend against printers
//! that are Linux USB gadgets served by `dexthil printer-emu`. Real: the kernel's USB host stack, libusb,
//! hotplug, replug by UDC unbind / bind, bulk transfers. On any other machine each test prints that it was
//! skipped and passes without checking anything (the guest's init sets `USBVM=1`).

#![cfg(target_os = "linux")]

use dexthil::backends::vm::VmBus;
use dexthil::lab::{UsbBus, UsbView};
use dexthil::printer::catalog::{self, Model};
use dexthil::printer::escp::{Command, PrinterState};
use dexthil::usb::bulk::PrinterPipe;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The printers the guest attaches (ci/usb-vm/run.sh).
const MODELS: [&str; 2] = ["DS620", "CX-02"];

/// The tests share two printers and one of them replugs: one test at a time.
static PRINTERS: Mutex<()> = Mutex::new(());

fn in_vm(test: &str) -> Option<MutexGuard<'static, ()>> {
    if std::env::var_os("USBVM").is_none() {
        println!("{test}: skipped: not in the USB VM (USBVM unset); ci/usb-vm/run.sh runs it");
        return None;
    }
    Some(PRINTERS.lock().unwrap_or_else(|p| p.into_inner()))
}

fn model(name: &str) -> &'static Model {
    catalog::find(name).expect("a catalog model")
}

fn view_of(bus: &VmBus, m: &Model) -> UsbView {
    let deadline = Instant::now() + Duration::from_secs(10);
    bus.wait_usb(
        &|v| v.vendor_id == m.vendor && v.product_id == m.product,
        true,
        deadline,
    )
    .unwrap_or_else(|e| {
        panic!(
            "{} ({:04x}:{:04x}) not on the bus: {e}",
            m.name, m.vendor, m.product
        )
    })
    .expect("present")
}

fn control_file(m: &Model) -> std::path::PathBuf {
    let dir = std::env::var("USBVM_CONTROL_DIR").unwrap_or_else(|_| "/run/printers".into());
    std::path::Path::new(&dir).join(format!("{}.state", m.name))
}

#[test]
fn both_printers_enumerate_with_the_catalogs_strings_serials_and_1284_ids() {
    let Some(_lock) = in_vm("enumerate") else {
        return;
    };
    let bus = VmBus::new().expect("the VM bus");
    for name in MODELS {
        let m = model(name);
        let v = view_of(&bus, m);
        println!(
            "{}: bus {} port {} address {} speed {:?} bcdUSB {:04x} interfaces {:?}",
            v.label(),
            v.bus,
            v.port_path_text(),
            v.address,
            v.speed,
            v.bcd_usb,
            v.configurations.first().map(|c| &c.interfaces)
        );
        assert_eq!(
            v.manufacturer.value().map(String::as_str),
            Some(m.manufacturer),
            "{name}"
        );
        assert_eq!(
            v.product.value().map(String::as_str),
            Some(m.product_string),
            "{name}"
        );
        assert_eq!(
            v.serial.value().map(String::as_str),
            Some(m.serial),
            "{name}"
        );
        assert_eq!(v.bcd_device, m.bcd_device, "{name}");
        assert_eq!(
            v.device_id_1284.value().map(String::as_str),
            Some(m.device_id_1284),
            "{name}"
        );
        let iface = &v.configurations[0].interfaces[0];
        assert_eq!(
            (iface.class, iface.subclass, iface.protocol),
            catalog::INTERFACE_CLASS,
            "{name}"
        );
    }
}

#[test]
fn escp_round_trips_over_the_bulk_pipes_answer_what_a_sim_printer_answers() {
    let Some(_lock) = in_vm("escp") else { return };
    let bus = VmBus::new().expect("the VM bus");
    for name in MODELS {
        let m = model(name);
        let v = view_of(&bus, m);
        let pipe = PrinterPipe::open(bus.libusb(), &v).unwrap_or_else(|e| panic!("{e}"));
        println!(
            "{name}: endpoints from the descriptors {:?}",
            pipe.endpoints
        );
        // The sim's printers answer through the same PrinterState: the bytes must be identical.
        let mut sim = PrinterState::new(m);
        for (command, arg) in [
            (Command::Status, ""),
            (Command::Info, "FVER"),
            (Command::Info, "SERIAL_NUMBER"),
        ] {
            let t0 = Instant::now();
            let wire = pipe
                .query_wire(command, arg)
                .unwrap_or_else(|e| panic!("{name} {command:?} {arg}: {e}"));
            println!(
                "{name}: {command:?} {arg} -> {:?} in {:?}",
                String::from_utf8_lossy(&wire),
                t0.elapsed()
            );
            assert_eq!(
                wire,
                sim.answer(&header(command, arg), &[]).expect("a query"),
                "{name} {command:?} {arg}"
            );
        }
        assert_eq!(
            pipe.query(Command::Info, "FVER").unwrap(),
            m.firmware.as_bytes()
        );
        assert_eq!(
            pipe.query(Command::Info, "SERIAL_NUMBER").unwrap(),
            m.serial.as_bytes()
        );
        pipe.send(Command::Cntrl, "START", &[])
            .expect("CNTRL gets no answer, and the next query still works");
        assert_eq!(pipe.query(Command::Status, "").unwrap(), b"0");
    }
}

fn header(command: Command, arg: &str) -> dexthil::printer::escp::Header {
    dexthil::printer::escp::Header::new(command, arg, None)
}

#[test]
fn a_replugged_printer_leaves_and_comes_back_at_a_new_address_found_by_its_serial() {
    let Some(_lock) = in_vm("replug") else { return };
    let bus = VmBus::new().expect("the VM bus");
    println!(
        "hotplug events drive the waits: {}",
        bus.libusb().event_driven()
    );
    let m = model("DS620");
    let before = view_of(&bus, m);
    let serial = m.serial.to_string();
    let same = move |v: &UsbView| v.serial.value() == Some(&serial) && v.vendor_id == m.vendor;
    let t0 = Instant::now();
    bus.replug(&before).expect("unbinding the UDC");
    let deadline = t0 + Duration::from_secs(10);
    bus.wait_usb(&same, false, deadline)
        .expect("the DS620 leaves the bus");
    let left = t0.elapsed();
    let after = bus
        .wait_usb(&same, true, deadline)
        .expect("the DS620 comes back")
        .expect("present");
    let back = t0.elapsed();
    println!(
        "replug {}: left after {left:?}, back after {back:?} at address {} (was {})",
        after.label(),
        after.address,
        before.address
    );
    assert_ne!(
        after.address, before.address,
        "a re-enumerated device gets a new address"
    );
    assert_eq!(after.device_id_1284, before.device_id_1284);
    let pipe = PrinterPipe::open(bus.libusb(), &after).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        pipe.query(Command::Info, "SERIAL_NUMBER").unwrap(),
        m.serial.as_bytes()
    );
}

#[test]
fn a_printer_out_of_paper_answers_1100() {
    let Some(_lock) = in_vm("paper end") else {
        return;
    };
    let bus = VmBus::new().expect("the VM bus");
    let m = model("CX-02");
    let v = view_of(&bus, m);
    let control = control_file(m);
    std::fs::write(&control, "paper_end\n")
        .unwrap_or_else(|e| panic!("{}: {e}", control.display()));
    let pipe = PrinterPipe::open(bus.libusb(), &v).unwrap_or_else(|e| panic!("{e}"));
    let status = pipe.query(Command::Status, "");
    let _ = std::fs::write(&control, "idle\n");
    assert_eq!(status.unwrap(), b"1100");
    assert_eq!(pipe.query(Command::Status, "").unwrap(), b"0");
}
