//! `dexthil record`: a recording folder that `--lab replay:<dir>` reads back. `usb.json` is the libusb
//! view of the matching printers; beside it the registry: on a Mac the output of
//! `/usr/sbin/ioreg -a -l -r -c IOUSBHostDevice` kept as `ioreg.plist` (plus the IOUserServers, which that
//! query leaves out, as `ioreg-userservers.plist`), from a sim or replay lab its entries rendered as
//! `ioreg.txt`; and `provenance.json` saying where and when.
//!
//! Knows labs through their traits only; the command line lives in `main.rs`.

pub mod ioreg_text;
crate::os::on_mac! {
    mod macos;
}

use crate::backends::LabChoice;
use crate::lab::{LabError, Matching, Registry, UsbBus, UsbView};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RecordError {
    #[error(
        "`{0}` is not a printer model or vendor:product in hex: use a model name (`DS620`; `dexthil list` shows the models scenarios use) or `1452:8b01`"
    )]
    BadTarget(String),
    #[error("no USB devices matched {target} on the {lab} lab{detail}")]
    NoMatch {
        target: String,
        lab: &'static str,
        detail: String,
    },
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{command}` failed: {why}")]
    Command { command: String, why: String },
    #[error("cannot load the driver file: {0}")]
    Driver(String),
    #[error("cannot load the station file:\n{0}")]
    Station(String),
    #[error("the station {station} has no role `{role}` (its roles: {roles})")]
    NoRole {
        station: String,
        role: String,
        roles: String,
    },
}

/// Which printers to record: a catalog model, or vendor and product ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub text: String,
    pub vendor: u16,
    pub product: u16,
    /// A station role also pins the printer's serial and locationID, when the station gives them.
    pub serial: Option<String>,
    pub location: Option<u32>,
}

impl Target {
    pub fn parse(text: &str) -> Result<Target, RecordError> {
        let bad = || RecordError::BadTarget(text.to_string());
        if let Some(m) = crate::printer::catalog::find(text) {
            return Ok(Target {
                text: text.into(),
                vendor: m.vendor,
                product: m.product,
                serial: None,
                location: None,
            });
        }
        let (v, p) = text.split_once(':').ok_or_else(bad)?;
        let hex = |s: &str| u16::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|_| bad());
        Ok(Target {
            text: text.into(),
            vendor: hex(v)?,
            product: hex(p)?,
            serial: None,
            location: None,
        })
    }

    /// A role of a station file (`ds620` in `ci/labs/lab-mac-1.yaml`): its model, serial and location.
    pub fn from_station(role: &str, station: &crate::station::Station) -> Option<Target> {
        let p = station.printers.iter().find(|p| p.name == role)?;
        let m = crate::printer::catalog::find(&p.model)?;
        Some(Target {
            text: role.into(),
            vendor: m.vendor,
            product: m.product,
            serial: p.serial.clone(),
            location: p.location,
        })
    }

    pub fn matches(&self, v: &UsbView) -> bool {
        v.vendor_id == self.vendor
            && v.product_id == self.product
            && self
                .serial
                .as_deref()
                .is_none_or(|s| v.serial.value().is_some_and(|have| have == s))
            && self.location.is_none_or(|loc| {
                crate::usb::location::encode(v.bus, &v.port_path).is_ok_and(|l| l == loc)
            })
    }
}

/// Where and when a recording was made.
#[derive(Clone, Debug, Serialize)]
pub struct Provenance {
    pub dexthil_version: &'static str,
    pub lab: &'static str,
    pub target: String,
    /// Seconds since 1970-01-01 UTC.
    pub recorded_at_unix: u64,
    /// `sw_vers` output on a Mac.
    pub macos: Option<String>,
    /// The dext's `CFBundleVersion`, when the registry shows it (UNCONFIRMED key; often absent).
    pub dext_version: Option<String>,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), RecordError> {
    std::fs::write(path, bytes).map_err(|source| RecordError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn matching(
    bus: &dyn UsbBus,
    target: &Target,
    lab: &'static str,
) -> Result<Vec<UsbView>, RecordError> {
    let all = bus.devices()?;
    let found: Vec<UsbView> = all.iter().filter(|v| target.matches(v)).cloned().collect();
    if found.is_empty() {
        return Err(RecordError::NoMatch {
            target: format!(
                "{} ({:04x}:{:04x})",
                target.text, target.vendor, target.product
            ),
            lab,
            detail: if all.is_empty() {
                ": the bus has no devices at all".into()
            } else {
                format!(
                    "; it has {}",
                    all.iter()
                        .map(UsbView::label)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        });
    }
    Ok(found)
}

fn provenance(lab: &'static str, target: &Target, macos: Option<String>) -> Provenance {
    Provenance {
        dexthil_version: env!("CARGO_PKG_VERSION"),
        lab,
        target: target.text.clone(),
        recorded_at_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        macos,
        dext_version: None,
    }
}

fn to_json(v: &impl Serialize) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

fn finish(
    out: &Path,
    views: &[UsbView],
    prov: &Provenance,
    mut written: Vec<PathBuf>,
) -> Result<Vec<PathBuf>, RecordError> {
    let usb = out.join("usb.json");
    write(&usb, to_json(&views).as_bytes())?;
    let p = out.join("provenance.json");
    write(&p, to_json(prov).as_bytes())?;
    written.insert(0, usb);
    written.push(p);
    Ok(written)
}

/// Record from a lab whose registry this process can read whole (sim, replay): the matching printers'
/// USB view and every registry entry, rendered as `ioreg.txt`. Waits up to `settle` for the dext to match
/// each printer (the sim matches a moment after it starts); a printer it does not match is recorded as is.
pub fn record_lab(
    bus: &dyn UsbBus,
    registry: &dyn Registry,
    driver: Option<&crate::driver::Driver>,
    lab: &'static str,
    target: &Target,
    out: &Path,
    settle: Duration,
) -> Result<Vec<PathBuf>, RecordError> {
    let views = matching(bus, target, lab)?;
    if let Some(d) = driver {
        let until = Instant::now() + settle;
        for v in &views {
            // Best effort: a dext that does not match is part of what the recording shows.
            let _ = crate::ops::service::printer_service(registry, v, d, until);
        }
    }
    create(out)?;
    let entries = registry.find(&Matching::default())?;
    let ioreg = out.join("ioreg.txt");
    write(&ioreg, ioreg_text::render(&entries).as_bytes())?;
    finish(out, &views, &provenance(lab, target, None), vec![ioreg])
}

fn create(out: &Path) -> Result<(), RecordError> {
    std::fs::create_dir_all(out).map_err(|source| RecordError::Write {
        path: out.to_path_buf(),
        source,
    })
}

/// Record from the live machine: libusb everywhere, and on a Mac the registry through `ioreg` itself (its
/// own output, untouched, is what a bug report should carry; `macos.rs`). Off a Mac, the libusb view alone:
/// the darwin double serves labs, not this machine.
pub fn record_live(target: &Target, out: &Path) -> Result<Vec<PathBuf>, RecordError> {
    crate::os::if_mac!(macos::record_live(target, out), else record_libusb(target, out))
}

crate::os::off_mac! {
    /// Record the USB view only, through libusb (what a machine without an IORegistry can show). Not on a
    /// Mac, which records through IOKit (`macos.rs`).
    fn record_libusb(target: &Target, out: &Path) -> Result<Vec<PathBuf>, RecordError> {
        let bus = match crate::usb::libusb::LibusbBus::new() {
            Ok(bus) => bus,
            Err(e) => {
                return Err(RecordError::NoMatch {
                    target: format!(
                        "{} ({:04x}:{:04x})",
                        target.text, target.vendor, target.product
                    ),
                    lab: "libusb",
                    detail: format!(": this machine's USB bus cannot be read ({e})"),
                });
            }
        };
        let views = matching(&bus, target, "libusb")?;
        create(out)?;
        finish(out, &views, &provenance("libusb", target, None), vec![])
    }
}

/// `dexthil record <target> -o <dir> [--lab ...]`: the live machine without `--lab`, else that lab.
/// `driver` is the driver file whose dext the sim runs (the sim needs one; others ignore it).
pub fn record(
    target: &str,
    out: &Path,
    lab: Option<&LabChoice>,
    driver: &Path,
    station: Option<&Path>,
) -> Result<Vec<PathBuf>, RecordError> {
    // With a station, the target is one of its roles (`ds620`); else a model or `vendor:product`.
    let target = match station {
        Some(path) => {
            let st = crate::station::load_station(path)
                .map_err(|e| RecordError::Station(e.to_string()))?;
            Target::from_station(target, &st).ok_or_else(|| RecordError::NoRole {
                station: path.display().to_string(),
                role: target.to_string(),
                roles: st
                    .printers
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?
        }
        None => Target::parse(target)?,
    };
    let settle = Duration::from_secs(5);
    match lab {
        // Inside the USB VM the bus is real: record it as a live machine.
        None | Some(LabChoice::Macos) | Some(LabChoice::Vm) => record_live(&target, out),
        Some(LabChoice::Replay(dir)) => {
            let lab = crate::backends::replay::load_recording(dir)
                .map_err(|e| LabError::Other(format!("replay: {e}")))?;
            record_lab(&lab, &lab, None, "replay", &target, out, settle)
        }
        Some(LabChoice::Sim) => {
            let driver = crate::scenario::load_driver(driver)
                .map_err(|e| RecordError::Driver(e.to_string()))?;
            let spec = crate::backends::LabSpec::probe("record", std::sync::Arc::new(driver));
            let lab = crate::backends::sim::SimLab::for_spec(
                &spec,
                1,
                crate::backends::sim::station::seats(),
            )?;
            record_lab(&lab, &lab, Some(&spec.driver), "sim", &target, out, settle)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_models_or_hex_ids() {
        let t = Target::parse("DS620").unwrap();
        assert_eq!((t.vendor, t.product), (0x1452, 0x8B01));
        let t = Target::parse("1343:000a").unwrap();
        assert_eq!((t.vendor, t.product), (0x1343, 0x000A));
        let e = Target::parse("DS621").unwrap_err().to_string();
        assert!(e.contains("`DS621` is not a printer model"), "{e}");
    }
}
