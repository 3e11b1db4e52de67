//! macOS: the IOKit lab is the default and the real one; no USB VM; `record` reads `ioreg` itself; the
//! doctor's `--live` and `selftest` check this machine. Files, signals and processes as on every Unix
//! (`unix.rs`).

use crate::backends::{LabChoice, LabFactory};
use crate::lab::{Lab, LabError};
use crate::record::{RecordError, Target, create, finish, matching, provenance, write};
use crate::selftest::SelftestProbe;
use std::path::{Path, PathBuf};

#[path = "unix.rs"]
mod unix;
pub use unix::*;

pub const IS_MAC: bool = true;

pub fn default_lab() -> LabChoice {
    LabChoice::Macos
}

/// The IORegistry and the bus as the Mac backend reads them.
pub fn live_registry_lab() -> Option<Result<Box<dyn Lab>, LabError>> {
    Some(crate::backends::macos::MacosLab::new().map(|lab| Box::new(lab) as Box<dyn Lab>))
}

/// The macOS backend's probe, with Apple's sample driver from `sample_driver`.
pub fn selftest_probe(sample_driver: &Path) -> Result<Box<dyn SelftestProbe>, String> {
    let sample = crate::scenario::load_driver(sample_driver).map_err(|e| e.to_string())?;
    crate::selftest::macos::probe(sample).map_err(|e| e.to_string())
}

pub fn macos_factory() -> Result<Box<dyn LabFactory>, LabError> {
    crate::backends::macos::factory()
}

pub fn vm_factory() -> Result<Box<dyn LabFactory>, LabError> {
    Err(LabError::Unsupported {
        backend: "vm",
        what: "run",
        why: "the USB VM lab runs inside the Linux guest of ci/usb-vm/run.sh".into(),
    })
}

/// The printers' USB view through the Mac backend, and the registry as `ioreg -a -l` prints it.
pub fn record_live(target: &Target, out: &Path) -> Result<Vec<PathBuf>, RecordError> {
    let lab = crate::backends::macos::MacosLab::new()?;
    let views = matching(&lab, target, "macos")?;
    create(out)?;
    let ioreg = out.join("ioreg.plist");
    write(
        &ioreg,
        &run(
            "/usr/sbin/ioreg",
            &["-a", "-l", "-r", "-c", "IOUSBHostDevice"],
        )?,
    )?;
    let servers = out.join("ioreg-userservers.plist");
    write(
        &servers,
        &run("/usr/sbin/ioreg", &["-a", "-l", "-r", "-c", "IOUserServer"])?,
    )?;
    let sw = run("/usr/bin/sw_vers", &[])?;
    let prov = provenance(
        "macos",
        target,
        Some(String::from_utf8_lossy(&sw).trim().to_string()),
    );
    finish(out, &views, &prov, vec![ioreg, servers])
}

/// Run a command (no shell) and keep its standard output.
fn run(program: &str, args: &[&str]) -> Result<Vec<u8>, RecordError> {
    let command = format!("{program} {}", args.join(" "));
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| RecordError::Command {
            command: command.clone(),
            why: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(RecordError::Command {
            command,
            why: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(out.stdout)
}
