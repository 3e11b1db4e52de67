//! `record` on a Mac: the printers' USB view through the macOS backend, and the registry as `ioreg -a -l`
//! prints it (its own output, untouched, is what a bug report should carry), with `sw_vers` in the
//! provenance. Declared only on a Mac (`crate::os::on_mac!`).

use super::{RecordError, Target, create, finish, matching, provenance, write};
use std::path::{Path, PathBuf};

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
