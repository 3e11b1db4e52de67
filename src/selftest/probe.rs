//! What a self-test probe observes on the machine it runs on, raw: judging is `verdict`'s. A probe is the
//! macOS backend on a lab Mac (`selftest::macos`), or [`super::ScriptedProbe`] in tests.

use crate::lab::{RegEntry, UsbView};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// One printer as both views show it.
#[derive(Clone, Debug, Serialize)]
pub struct PrinterSighting {
    /// The libusb view (port path already corrected from the registry on a Mac).
    pub usb: UsbView,
    /// What `libusb_get_port_numbers` itself answered.
    pub libusb_port_numbers: Vec<u8>,
    /// The `IOUSBHostDevice` paired by bus and `USB Address`.
    pub device: Option<RegEntry>,
    /// Its printer-class interface.
    pub interface: Option<RegEntry>,
    /// A dext's service sits below that interface (the reads happened with a dext attached).
    pub dext_attached: bool,
}

/// A printer's entries as the registry alone shows them: what the class-name check needs, so it runs
/// whatever libusb sees (under the darwin double libusb may see nothing).
#[derive(Clone, Debug, Serialize)]
pub struct RegisteredPrinter {
    /// Its `IOUSBHostDevice`.
    pub device: RegEntry,
    /// Its printer-class interface.
    pub interface: Option<RegEntry>,
}

/// An async completion round trip against Apple's sample.
#[derive(Clone, Debug, Serialize)]
pub struct AsyncRoundTrip {
    /// The codes of the register call and of the request call, as text (`kIOReturnSuccess (0x0)`).
    pub codes: Vec<String>,
    /// Completion messages that came back on the notification port.
    pub completions: usize,
}

/// `log stream`, started for a few seconds.
#[derive(Clone, Debug, Serialize)]
pub struct LogStreamCheck {
    /// The command as run.
    pub command: String,
    /// The tool exists on this machine (it always does on a Mac; not where the double runs).
    pub tool_present: bool,
    /// It started and was still running (or ended cleanly) when the probe stopped it.
    pub ran: bool,
    /// Lines it printed in that time.
    pub lines: usize,
    /// What it said on stderr or why it did not start.
    pub trouble: Option<String>,
}

/// One crash-report folder.
#[derive(Clone, Debug, Serialize)]
pub struct FolderCheck {
    pub path: PathBuf,
    pub exists: bool,
    /// `None` when it could be listed; else the error.
    pub unreadable: Option<String>,
    /// `.ips` reports in it.
    pub reports: usize,
}

/// What a self-test probe answers; each method runs one check and never panics on a refusal.
pub trait SelftestProbe {
    /// The machine, for the report: OS name and version, libusb version.
    fn machine(&self) -> String;
    /// Every catalog printer on the bus, with its registry entries.
    fn printers(&self) -> Result<Vec<PrinterSighting>, String>;
    /// Every catalog printer the registry has, whatever libusb sees.
    fn registered_printers(&self) -> Result<Vec<RegisteredPrinter>, String>;
    /// An async completion round trip against Apple's sample; `None` when the sample is not installed.
    fn async_round_trip(&self) -> Option<Result<AsyncRoundTrip, String>>;
    /// How long one synchronous `IOConnectCallMethod` took against the sample; `None` without it.
    fn call_round_trip(&self) -> Option<Result<Duration, String>>;
    /// Start `log stream` for a moment.
    fn log_stream(&self) -> LogStreamCheck;
    /// The crash-report folders.
    fn crash_folders(&self) -> Vec<FolderCheck>;
    /// Files for the bug-report folder, as (file name, contents): registry dumps, the libusb view.
    fn attachments(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Look at the crash-report folders (reference §6): any machine can, so both probes share it.
pub fn check_folders(dirs: &[PathBuf]) -> Vec<FolderCheck> {
    dirs.iter()
        .map(|path| {
            let exists = path.exists();
            let (unreadable, reports) = match std::fs::read_dir(path) {
                Ok(entries) => (
                    None,
                    entries
                        .filter_map(Result::ok)
                        .filter(|e| e.path().extension().is_some_and(|x| x == "ips"))
                        .count(),
                ),
                Err(e) if exists => (Some(e.to_string()), 0),
                Err(_) => (None, 0),
            };
            FolderCheck {
                path: path.clone(),
                exists,
                unreadable,
                reports,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_counted_missing_or_unreadable() {
        let dir =
            std::env::temp_dir().join(format!("dexthil-selftest-folders-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.ips"), "{}").unwrap();
        std::fs::write(dir.join("b.txt"), "").unwrap();
        let checks = check_folders(&[dir.clone(), dir.join("missing")]);
        assert!(checks[0].exists && checks[0].unreadable.is_none());
        assert_eq!(checks[0].reports, 1);
        assert!(!checks[1].exists && checks[1].unreadable.is_none());
        // A file where a folder should be cannot be listed.
        let not_dir = dir.join("b.txt");
        let c = &check_folders(&[not_dir])[0];
        assert!(c.exists && c.unreadable.is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
