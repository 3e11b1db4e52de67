//! What a run ran on and against: host, dexthil and libusb versions, the dext under test, each printer.
//! Carried by the journal's `run_started` and written as JUnit properties. Pure data; gathering it from a
//! lab is the runner's business (`crate::station::provenance`).

use serde::{Deserialize, Serialize};

/// A value nobody could tell.
pub const UNKNOWN: &str = "unknown";

/// The git commit this dexthil was built from (build.rs), or "unknown".
pub const GIT_COMMIT: &str = env!("DEXTHIL_GIT_COMMIT");

/// `0.1.0 (commit 1a2b3c4d5e6f)`: what `-V` prints.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("DEXTHIL_GIT_COMMIT"),
    ")"
);

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Provenance {
    /// `macOS` with `sw_vers` on a Mac, else the OS name.
    pub host_os: String,
    pub host_os_version: String,
    pub host_os_build: String,
    pub dexthil_version: String,
    /// The git commit dexthil was built from.
    pub dexthil_commit: String,
    /// The machine's host name: which lab Mac ran it.
    pub hostname: String,
    pub libusb_version: String,
    /// The station file's `name`, when one was given.
    pub station: Option<String>,
    /// `hash:M/N`, when the corpus was split.
    pub partition: Option<String>,
    /// UTC, `2026-05-04T02:00:00Z`.
    pub started_at: String,
    pub dexts: Vec<DextInfo>,
    pub printers: Vec<PrinterInfo>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DextInfo {
    pub bundle_id: String,
    pub version: String,
    /// `IOUserServerCDHash` of the dext's `IOUserServer`.
    pub cdhash: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrinterInfo {
    /// The station's name for the printer (or the model, without a station).
    pub role: String,
    pub model: String,
    pub serial: String,
    pub firmware: String,
    /// `bus 1 port 1.3 (locationID 0x01130000)`.
    pub port: String,
}

impl Provenance {
    /// Name / value pairs for JUnit `<property>` elements, in a fixed order.
    pub fn properties(&self) -> Vec<(String, String)> {
        let mut p = vec![
            ("host.os".to_string(), self.host_os.clone()),
            ("host.os.version".into(), self.host_os_version.clone()),
            ("host.os.build".into(), self.host_os_build.clone()),
            ("host.name".into(), self.hostname.clone()),
            ("dexthil.version".into(), self.dexthil_version.clone()),
            ("dexthil.commit".into(), self.dexthil_commit.clone()),
            ("libusb.version".into(), self.libusb_version.clone()),
            ("started_at".into(), self.started_at.clone()),
        ];
        if let Some(s) = &self.station {
            p.push(("station".into(), s.clone()));
        }
        if let Some(s) = &self.partition {
            p.push(("partition".into(), s.clone()));
        }
        for d in &self.dexts {
            let at = format!("dext.{}", d.bundle_id);
            p.push((format!("{at}.version"), d.version.clone()));
            p.push((format!("{at}.cdhash"), d.cdhash.clone()));
        }
        // Keyed by the station's role and the printer's serial, so a dashboard follows one physical printer
        // across nights and stations.
        for pr in &self.printers {
            let at = format!("printer.{}.{}", pr.role, pr.serial);
            p.push((format!("{at}.model"), pr.model.clone()));
            p.push((format!("{at}.firmware"), pr.firmware.clone()));
            p.push((format!("{at}.port"), pr.port.clone()));
        }
        p
    }
}
