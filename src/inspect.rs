//! The read-only commands a person triaging a printer runs: `list-devices` (both views of the live bus)
//! and `ioreg` (what a dump attached to a bug report holds). Output is text for a person or JSON.

use crate::backends::replay::{DumpError, DumpSummary, load_dump, load_recording};
use crate::lab::{Lab, LabError, Registry, UsbBus};
use crate::usb::table::device_table;
use std::path::Path;

/// The device table of the live lab: libusb everywhere, plus the IORegistry on a Mac.
pub fn live_devices() -> Result<String, LabError> {
    if let Some(lab) = live_registry_lab() {
        let lab = lab?;
        return Ok(device_table(
            &*lab as &dyn UsbBus,
            Some(&*lab as &dyn Registry),
        ));
    }
    match crate::usb::libusb::LibusbBus::new() {
        Ok(bus) => Ok(device_table(&bus, None::<&dyn Registry>)),
        // A machine with no USB host stack at all (CI, containers) has nothing to list: say so plainly
        // rather than report libusb's "Other error".
        Err(e) if !Path::new("/sys/bus/usb").exists() => Ok(format!(
            "no USB devices: this machine has no USB host stack (/sys/bus/usb is absent; {e})\n"
        )),
        Err(e) => Err(e),
    }
}

/// The IORegistry and the bus as the Mac backend reads them; off a Mac, none (the darwin double serves labs,
/// not this machine).
fn live_registry_lab() -> Option<Result<Box<dyn Lab>, LabError>> {
    crate::os::if_mac!(
        Some(crate::backends::macos::MacosLab::new().map(|lab| Box::new(lab) as Box<dyn Lab>)),
        else None
    )
}

/// The device table of a recording directory (`ioreg.plist` or `ioreg.txt`, and `usb.json` if present).
pub fn recorded_devices(dir: &Path) -> Result<String, DumpError> {
    let lab = load_recording(dir)?;
    Ok(device_table(
        &lab as &dyn UsbBus,
        Some(&lab as &dyn Registry),
    ))
}

/// `dexthil ioreg <dump>`: every USB device in a dump with its interfaces and dext services, and every
/// dext service of any family. What a pasted text dump had to skip is said on stderr (and in the JSON).
pub fn ioreg_summary(dump: &Path, json: bool) -> Result<String, DumpError> {
    let summary = DumpSummary::of(&load_dump(dump)?);
    for w in &summary.warnings {
        eprintln!("warning: {w}");
    }
    Ok(if json {
        summary.to_json()
    } else {
        summary.render()
    })
}
