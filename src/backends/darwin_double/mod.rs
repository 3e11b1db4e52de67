//! The darwin double: IOKit, CoreFoundation and Mach, as the macOS backend calls them, written in Rust at
//! the C ABI (`#[no_mangle] extern "C"`) and linked on Linux under `--features darwin-double`, so the
//! backend's own unsafe FFI (`backends/macos`) runs here unchanged, on every commit.
//!
//! It serves a lab as "the kernel" (`served`): by default a fresh [`SimLab`] per scenario (the sim station's
//! registry as the sim builds it, opens and calls answered by the sim's dext model), or, with
//! `DEXTHIL_DOUBLE_IOREG=<file>`, any `ioreg -a -l` plist read by the replay reader. Apple's user-space
//! rules are encoded with their sources beside them: `objects` (class names and overrides), `served`
//! (numbers as `IOCFUnserializeBinary` makes them), `matching` and `registry_fns` (matching dictionaries,
//! consumed), `notify` (arming, the notification messages), `mach` (the 5-message queue), `connect` (MIG
//! limits, completions), `runloop`; CoreFoundation's objects in `cf_object`, `cf_string`, `cf_values`,
//! `cf_collections`, `cf_dictionary`. `audit` checks ownership of every object handed out.
//!
//! A scenario with printer roles is served a sim seated where libusb sees the real printers (`seating`;
//! in the USB VM, its gadgets), so the backend pairs each real device with its doubled registry entry by
//! bus and `USB Address`, as on a Mac; what a real bus cannot have under the double (a replug, a
//! re-enumeration fault) is refused before the scenario starts, saying why.
//!
//! What it cannot prove is what closed source does (IOUSBHostFamily, libdriverkit): `dexthil selftest`
//! checks those assumptions on a real Mac. The libusb side is never doubled: it is the real bus (empty here,
//! or the USB VM's).
//!
//! [`SimLab`]: crate::backends::sim::SimLab

pub mod audit;
pub mod cf_collections;
pub mod cf_dictionary;
pub mod cf_object;
pub mod cf_string;
pub mod cf_values;
pub mod connect;
pub mod mach;
pub mod matching;
pub mod notify;
pub mod objects;
pub mod registry_fns;
pub mod runloop;
pub mod seating;
pub mod served;

#[cfg(test)]
pub mod testing;
#[cfg(test)]
mod tests;

use super::macos::{MacosLab, UsbSide};
use super::{LabFactory, LabSpec};
use crate::lab::{Lab, LabError, UsbBus};
use crate::logs::LogCapture;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The environment variable naming an `ioreg -a -l` plist to serve instead of the sim station.
pub const IOREG_ENV: &str = "DEXTHIL_DOUBLE_IOREG";
/// What the run says about who served it.
pub const LAB_NAME: &str = "macos (darwin double)";

/// The macOS lab with the double as its kernel, for one scenario.
pub struct DoubledLab {
    pub lab: Arc<MacosLab>,
    /// The sim lab served for this scenario (its log is what the kernel and dext "logged").
    pub sim: Option<Arc<crate::backends::sim::SimLab>>,
}

crate::forward_usb_bus!(DoubledLab, lab);
crate::forward_registry!(DoubledLab, lab);
crate::forward_user_clients!(DoubledLab, lab);

impl Lab for DoubledLab {
    fn name(&self) -> &'static str {
        LAB_NAME
    }
    fn logs(&self) -> Option<&dyn LogCapture> {
        self.sim.as_deref().map(|s| s as &dyn LogCapture)
    }
}

/// Hands out the one macOS lab, serving each scenario its own sim lab (or the `DEXTHIL_DOUBLE_IOREG` dump).
pub struct DoubleFactory {
    lab: Arc<MacosLab>,
    ioreg: Option<Arc<dyn Lab>>,
    /// The scenario served last, whose ownership errors are checked when the next one starts.
    previous: Mutex<Option<String>>,
    errors: Mutex<Vec<String>>,
}

impl DoubleFactory {
    /// Check the ownership audit of the scenario served last; its errors are kept for the end of the run.
    fn check_previous(&self) {
        let errors = audit::check();
        let name = self
            .previous
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if errors.is_empty() {
            return;
        }
        let who = name.map_or_else(
            || "before any scenario".to_string(),
            |n| format!("in scenario {n}"),
        );
        let mut all = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        for e in errors {
            eprintln!("darwin double: ownership error {who}: {e}");
            all.push(format!("{who}: {e}"));
        }
    }
}

impl LabFactory for DoubleFactory {
    fn name(&self) -> &'static str {
        LAB_NAME
    }
    fn use_replug_plan(&self, plan: Vec<crate::usb::libusb::ReplugPlan>) {
        self.lab.usb.set_replug_plan(plan);
    }
    fn lab_for(&self, spec: &LabSpec) -> Result<Arc<dyn Lab>, LabError> {
        self.lab_for_attempt(spec, 1)
    }
    fn lab_for_attempt(&self, spec: &LabSpec, attempt: u32) -> Result<Arc<dyn Lab>, LabError> {
        self.check_previous();
        *self.previous.lock().unwrap_or_else(|p| p.into_inner()) = Some(spec.name.clone());
        // The real printers as libusb sees them: beside the dump it serves (its entries pair with them, as
        // on the Mac it came from), or, for a sim, while the double serves nothing: a registry left from
        // the scenario before would pair with them and lend them its port paths.
        served::serve(self.ioreg.clone());
        let real = self.lab.usb.devices()?;
        // The registry may serve printers the libusb side does not have: such a scenario cannot run.
        for role in &spec.printers {
            role.resolve(&real).map_err(|e| LabError::Unsupported {
                backend: "macos",
                what: "serve this scenario under the darwin double",
                why: format!(
                    "its printer role `{}` needs a printer on the real libusb side, which the double never \
                     fakes ({e})",
                    role.name
                ),
            })?;
        }
        let sim = match &self.ioreg {
            Some(_) => None,
            None => {
                // With printer roles, the sim's printers sit where the real ones are (the USB VM's);
                // without, the sim station as it is.
                let sim = Arc::new(if spec.printers.is_empty() {
                    crate::backends::sim::SimLab::for_spec(
                        spec,
                        attempt,
                        crate::backends::sim::station::seats(),
                    )?
                } else {
                    seating::seated_lab(spec, attempt, &real)?
                });
                served::serve(Some(sim.clone()));
                Some(sim)
            }
        };
        Ok(Arc::new(DoubledLab {
            lab: self.lab.clone(),
            sim,
        }))
    }
}

impl DoubleFactory {
    /// Every ownership error of the run so far (the last scenario's included), each once: what the end of
    /// the run reports.
    pub fn take_ownership_errors(&self) -> Vec<String> {
        self.check_previous();
        std::mem::take(&mut *self.errors.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The end of a run: ownership errors anywhere in it fail it (exit 2, the lab's fault), since no event
/// can carry them once the last scenario has finished.
impl Drop for DoubleFactory {
    fn drop(&mut self) {
        let errors = self.take_ownership_errors();
        served::serve(None);
        if errors.is_empty() {
            eprintln!("darwin double: served the run with no ownership errors");
        } else {
            eprintln!(
                "darwin double: {} ownership error{} (listed above): the run fails",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            std::process::exit(2);
        }
    }
}

/// The macOS lab for `dexthil selftest` under the double: the double serves a sim lab of Apple's sample
/// (`sample`, no printer roles), so the self-test's registry, open, call and completion checks go through
/// the real backend.
pub fn selftest_lab(sample: Arc<crate::driver::Driver>) -> Result<MacosLab, LabError> {
    let spec = LabSpec::probe("selftest", sample);
    let sim =
        crate::backends::sim::SimLab::for_spec(&spec, 1, crate::backends::sim::station::seats())?;
    served::serve(Some(Arc::new(sim)));
    Ok(MacosLab::with_usb(usb_side()))
}

/// A lab over an `ioreg -a -l` dump (plist, XML or binary, or the text form), read by the replay reader.
pub fn ioreg_lab(path: &Path) -> Result<Arc<dyn Lab>, LabError> {
    let tree = crate::backends::replay::load_dump(path)
        .map_err(|e| LabError::Other(format!("{IOREG_ENV}: {e}")))?;
    Ok(Arc::new(crate::backends::replay::ReplayLab::new(
        &tree,
        Some(Vec::new()),
    )))
}

/// Load the `DEXTHIL_DOUBLE_IOREG` dump, if one is named.
fn ioreg_from_env() -> Result<Option<Arc<dyn Lab>>, LabError> {
    std::env::var_os(IOREG_ENV)
        .map(|p| ioreg_lab(Path::new(&p)))
        .transpose()
}

/// libusb when it starts here; otherwise no bus (this machine has no USB for libusb to see).
fn usb_side() -> UsbSide {
    match crate::usb::libusb::LibusbBus::new() {
        Ok(bus) => UsbSide::Libusb(Box::new(bus)),
        Err(e) => {
            eprintln!(
                "note: libusb cannot start here ({e}): the darwin double runs with no USB bus"
            );
            UsbSide::Absent(format!(
                "libusb cannot start on this machine ({e}) and the double fakes no USB device"
            ))
        }
    }
}

pub fn factory() -> Result<Box<dyn LabFactory>, LabError> {
    let ioreg = ioreg_from_env()?;
    eprintln!(
        "note: --lab macos runs the real macOS backend against the darwin double (IOKit, CoreFoundation and \
         Mach doubled in-process; serving {}; libusb is the real bus)",
        match std::env::var_os(IOREG_ENV) {
            Some(p) => format!("the ioreg dump {}", PathBuf::from(p).display()),
            None => "the sim station, seated at libusb's printers for scenarios with printer roles"
                .into(),
        }
    );
    audit::check();
    Ok(Box::new(DoubleFactory {
        lab: Arc::new(MacosLab::with_usb(usb_side())),
        ioreg,
        previous: Mutex::new(None),
        errors: Mutex::new(Vec::new()),
    }))
}
