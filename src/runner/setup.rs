//! Before the first scenario: a probe lab to look at the bus, each scenario's printer keys (for the
//! per-printer locks), the health check's needs, and the provenance.

use crate::backends::LabFactory;
use crate::driver::Driver;
use crate::lab::{Lab, UsbView};
use crate::scenario::{Role, Scenario};
use crate::station::Station;
use std::sync::Arc;

/// A lab to look at the bus and registry outside any scenario: the factory's lab for a scenario stripped of
/// steps, roles and faults (the sim builds a fresh station; a real lab is the lab).
pub fn probe_lab(factory: &dyn LabFactory, scenarios: &[Scenario]) -> Option<Arc<dyn Lab>> {
    let first = scenarios.first()?;
    let probe = crate::backends::LabSpec::probe(&first.name, first.driver.clone());
    factory
        .lab_for(&probe)
        .map_err(|e| tracing::debug!(error = %e, "no probe lab"))
        .ok()
}

/// The printer a role means: the station's name for it, else where it sits on the probe lab's bus, else
/// the role's own description (two scenarios describing the same printer the same way share it).
fn printer_key(role: &Role, station: Option<&Station>, devices: &[UsbView]) -> String {
    if let Some(p) = station.and_then(|st| st.printers.iter().find(|p| p.serves(role))) {
        return p.name.clone();
    }
    match role.resolve(devices) {
        Ok(v) => format!("bus {} port {}", v.bus, v.port_path_text()),
        Err(_) => role.describe(),
    }
}

/// Each scenario's printer keys, sorted and unique (empty: it uses no printer and runs in its own group).
pub fn printer_keys(
    scenarios: &[Scenario],
    station: Option<&Station>,
    devices: &[UsbView],
) -> Vec<Vec<String>> {
    scenarios
        .iter()
        .map(|s| {
            let mut keys: Vec<String> = s
                .printers
                .iter()
                .map(|r| printer_key(r, station, devices))
                .collect();
            keys.sort();
            keys.dedup();
            keys
        })
        .collect()
}

/// For the health check: each station printer some scenario uses, with that scenario's driver.
pub fn health_needs(scenarios: &[Scenario], station: &Station) -> Vec<(String, Arc<Driver>)> {
    let mut needs: Vec<(String, Arc<Driver>)> = Vec::new();
    for s in scenarios {
        let mut push = |name: String| {
            if !needs
                .iter()
                .any(|(n, d)| *n == name && d.bundle_id == s.driver.bundle_id)
            {
                needs.push((name, s.driver.clone()));
            }
        };
        if s.printers.is_empty() {
            // A resource-matched dext: checked once, not per printer.
            push(String::new());
        }
        for role in &s.printers {
            if let Some(p) = station.printers.iter().find(|p| p.serves(role)) {
                push(p.name.clone());
            }
        }
    }
    needs
}

/// The distinct drivers of the scenarios, by bundle id.
pub fn drivers(scenarios: &[Scenario]) -> Vec<Arc<Driver>> {
    let mut out: Vec<Arc<Driver>> = Vec::new();
    for s in scenarios {
        if !out.iter().any(|d| d.bundle_id == s.driver.bundle_id) {
            out.push(s.driver.clone());
        }
    }
    out
}

/// Without a station: one `(name, model, role)` per distinct printer the scenarios' roles describe, named by
/// the model when the role gives one (`DS620`), else by its description.
pub fn roles(scenarios: &[Scenario]) -> Vec<(String, String, Role)> {
    let mut out: Vec<(String, String, Role)> = Vec::new();
    for r in scenarios.iter().flat_map(|s| &s.printers) {
        let name = match (&r.model, r.vendor, r.product, &r.serial, r.location) {
            (Some(m), None, None, None, None) => m.clone(),
            _ => r.describe(),
        };
        if !out.iter().any(|(n, _, _)| *n == name) {
            let model = r.model.clone().unwrap_or_else(|| "unknown".into());
            out.push((name, model, r.clone()));
        }
    }
    out
}
