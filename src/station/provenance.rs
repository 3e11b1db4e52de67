//! Gathering [`Provenance`] from the host, the lab and the station: what the JUnit properties and the
//! journal's `run_started` say a run ran on. Whatever cannot be told is "unknown", never a guess.

use super::Station;
use crate::driver::Driver;
use crate::lab::{Lab, Matching, Prop, UsbView, WaitFor};
use crate::report::provenance::{DextInfo, PrinterInfo, Provenance, UNKNOWN};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the registry may take to show the dext's service when gathering provenance.
const LOOKUP_WAIT: Duration = Duration::from_millis(500);

/// `(name, version, build)` of the host OS.
fn host_os() -> (String, String, String) {
    if crate::os::IS_MAC {
        let ask = |flag: &str| {
            std::process::Command::new("sw_vers")
                .arg(flag)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| UNKNOWN.to_string())
        };
        (
            ask("-productName"),
            ask("-productVersion"),
            ask("-buildVersion"),
        )
    } else {
        (
            std::env::consts::OS.to_string(),
            UNKNOWN.into(),
            UNKNOWN.into(),
        )
    }
}

/// This machine's host name (which lab Mac ran the run), or "unknown".
pub fn hostname() -> String {
    crate::os::hostname().unwrap_or_else(|| UNKNOWN.to_string())
}

fn libusb_version() -> String {
    let v = rusb::version();
    format!(
        "{}.{}.{}.{}{}",
        v.major(),
        v.minor(),
        v.micro(),
        v.nano(),
        v.rc().unwrap_or("")
    )
}

fn text_of(p: Option<&Prop>) -> Option<String> {
    match p? {
        Prop::Str(s) => Some(s.clone()),
        Prop::Data(d) => Some(d.iter().map(|b| format!("{b:02x}")).collect()),
        Prop::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Bundle id, version and cdhash of a dext as the registry tells them. `IOUserServerCDHash` sits on the
/// dext's *services* (reference §5: the keys a dext service carries, copied from its matched personality;
/// xnu's source defines the key in IOKitKeys.h and never sets it, so it comes from the closed-source
/// personality publisher), not on its `IOUserServer`: read it from the services named for the dext's server,
/// every instance of one dext sharing one code signature. `CFBundleVersion` has no confirmed place: it is
/// taken from the same entries when one carries it, else unknown.
pub fn dext_info(lab: Option<&dyn Lab>, driver: &Driver) -> DextInfo {
    let named = Matching {
        properties: [(
            "IOUserServerName".to_string(),
            Prop::Str(driver.server_name.clone()),
        )]
        .into(),
        ..Matching::default()
    };
    // Waiting (briefly) for the first to appear: a run gathers this as it starts, maybe before the match.
    let mut entries = lab
        .and_then(|lab| {
            lab.wait(&named, WaitFor::Matched, Instant::now() + LOOKUP_WAIT)
                .ok()?;
            lab.find(&named).ok()
        })
        .unwrap_or_default();
    // A service first, then (should some dump carry the key there) a server.
    entries.sort_by_key(|e| e.conforms_to("IOUserServer"));
    let get = |key: &str| {
        entries
            .iter()
            .find_map(|e| text_of(e.prop(key)))
            .unwrap_or_else(|| UNKNOWN.to_string())
    };
    DextInfo {
        bundle_id: driver.bundle_id.clone(),
        version: get("CFBundleVersion"),
        cdhash: get("IOUserServerCDHash"),
    }
}

/// One printer as the lab sees it.
pub fn printer_info(lab: &dyn Lab, role: &str, model: &str, view: Option<&UsbView>) -> PrinterInfo {
    PrinterInfo {
        role: role.to_string(),
        model: model.to_string(),
        serial: view
            .and_then(|v| v.serial.value().cloned())
            .unwrap_or_else(|| UNKNOWN.into()),
        firmware: view
            .and_then(|v| lab.printer_firmware(v))
            .unwrap_or_else(|| UNKNOWN.into()),
        port: view.map_or_else(
            || "not on the bus".to_string(),
            |v| match crate::usb::location::encode(v.bus, &v.port_path) {
                Ok(loc) => format!(
                    "bus {} port {} (locationID 0x{loc:08x})",
                    v.bus,
                    v.port_path_text()
                ),
                Err(_) => format!("bus {} port {}", v.bus, v.port_path_text()),
            },
        ),
    }
}

/// Everything known about this run's setting. Without a station, the printers are those the scenarios'
/// roles resolve to on the lab (`roles`: name for reports, model).
pub fn gather(
    lab: Option<&dyn Lab>,
    station: Option<&Station>,
    drivers: &[Arc<Driver>],
    roles: &[(String, String, crate::scenario::Role)],
) -> Provenance {
    let (host_os, host_os_version, host_os_build) = host_os();
    let devices = lab.and_then(|l| l.devices().ok()).unwrap_or_default();
    let mut printers = Vec::new();
    if let Some(lab) = lab {
        match station {
            Some(st) => {
                for p in &st.printers {
                    let view = devices.iter().find(|v| p.matches(v));
                    printers.push(printer_info(lab, &p.name, &p.model, view));
                }
            }
            None => {
                for (name, model, role) in roles {
                    let view = role.resolve(&devices).ok();
                    printers.push(printer_info(lab, name, model, view.as_ref()));
                }
            }
        }
    }
    Provenance {
        host_os,
        host_os_version,
        host_os_build,
        dexthil_version: env!("CARGO_PKG_VERSION").to_string(),
        dexthil_commit: crate::report::provenance::GIT_COMMIT.to_string(),
        hostname: hostname(),
        libusb_version: libusb_version(),
        station: station.map(|s| s.name.clone()),
        partition: None,
        started_at: crate::report::utc::rfc3339(std::time::SystemTime::now()),
        dexts: drivers.iter().map(|d| dext_info(lab, d)).collect(),
        printers,
    }
}
