//! `dexthil selftest` on a Mac: the probe that observes what the darwin double assumes of closed source,
//! through the macOS backend's own lab (`MacosLab`) and its wrappers. The assumptions and verdicts are
//! `crate::selftest`'s; the checks shared with tests are `crate::selftest::lab_probe`'s. It lives with the
//! self-test, not the backend: a backend knows nothing of the commands that use it.

use crate::backends::macos::{MacosLab, object_get_class};
use crate::driver::Driver;
use crate::lab::{LabError, UsbBus};
use crate::logs::{crash, ndjson};
use crate::selftest::lab_probe::{self, LOG_STREAM_WINDOW};
use crate::selftest::{
    AsyncRoundTrip, FolderCheck, LogStreamCheck, PrinterSighting, RegisteredPrinter, SelftestProbe,
    check_folders,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The lab Mac as the self-test sees it.
pub struct MacosProbe {
    lab: MacosLab,
    sample: Driver,
}

/// The probe of this Mac, with Apple's sample described by `sample`.
pub fn probe(sample: Driver) -> Result<Box<dyn SelftestProbe>, LabError> {
    Ok(probe_on(MacosLab::new()?, sample))
}

/// The probe over a lab already made (the darwin double makes its own, serving Apple's sample).
pub fn probe_on(lab: MacosLab, sample: Driver) -> Box<dyn SelftestProbe> {
    Box::new(MacosProbe { lab, sample })
}

/// A tool's output, or what went wrong, for the report.
fn tool(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(o) => format!(
            "({program} exited with {}: {})",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("({program}: {e})"),
    }
}

impl SelftestProbe for MacosProbe {
    fn machine(&self) -> String {
        let v = rusb::version();
        if !cfg!(target_os = "macos") {
            return format!(
                "Linux, not a Mac: the darwin double served the real macOS backend ({}, libusb {}.{}.{})",
                std::env::consts::ARCH,
                v.major(),
                v.minor(),
                v.micro()
            );
        }
        format!(
            "macOS {} ({}), {}, libusb {}.{}.{}",
            tool("/usr/bin/sw_vers", &["-productVersion"]),
            tool("/usr/bin/sw_vers", &["-buildVersion"]),
            tool("/usr/bin/uname", &["-m"]),
            v.major(),
            v.minor(),
            v.micro()
        )
    }

    fn printers(&self) -> Result<Vec<PrinterSighting>, String> {
        lab_probe::printers(&self.lab, &|bus, address| {
            self.lab.usb.libusb_port_numbers(bus, address)
        })
    }

    fn registered_printers(&self) -> Result<Vec<RegisteredPrinter>, String> {
        // The lab's entries carry the kernel class; the assumption is about what IOObjectGetClass answers.
        let mut printers = lab_probe::registered_printers(&self.lab)?;
        for p in &mut printers {
            let entries = std::iter::once(&mut p.device).chain(p.interface.as_mut());
            for e in entries {
                if let Some(class) = object_get_class(e.id) {
                    e.class = class;
                }
            }
        }
        Ok(printers)
    }

    fn async_round_trip(&self) -> Option<Result<AsyncRoundTrip, String>> {
        lab_probe::async_round_trip(&self.lab, &self.sample, &|connection| {
            self.lab.clients.take_completions(connection).len()
        })
    }

    fn call_round_trip(&self) -> Option<Result<Duration, String>> {
        lab_probe::call_round_trip(&self.lab, &self.sample)
    }

    fn log_stream(&self) -> LogStreamCheck {
        let args: Vec<String> = [
            "stream",
            "--style",
            "ndjson",
            "--level",
            "debug",
            "--predicate",
            "process == \"kernel\"",
        ]
        .map(String::from)
        .to_vec();
        lab_probe::log_stream(Path::new(ndjson::LOG_TOOL), &args, LOG_STREAM_WINDOW)
    }

    fn crash_folders(&self) -> Vec<FolderCheck> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        check_folders(&crash::report_dirs(home.as_deref()))
    }

    fn attachments(&self) -> Vec<(String, String)> {
        let printers = self.printers().unwrap_or_default();
        let usb = self.lab.usb.devices().unwrap_or_default();
        vec![
            (
                "printers.json".into(),
                serde_json::to_string_pretty(&printers).unwrap_or_default(),
            ),
            (
                "usb.json".into(),
                serde_json::to_string_pretty(&usb).unwrap_or_default(),
            ),
            (
                "ioreg-usb.plist".into(),
                tool(
                    "/usr/sbin/ioreg",
                    &["-a", "-l", "-r", "-c", "IOUSBHostDevice"],
                ),
            ),
            ("sw_vers.txt".into(), tool("/usr/bin/sw_vers", &[])),
        ]
    }
}
