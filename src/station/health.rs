//! The health check a nightly runs before any scenario: every printer the station names is on the USB bus,
//! and the dext under test has matched it (the lab-operation layer's service walk, [`crate::ops::service`]). A failure here
//! is the lab's, not the driver's: the run exits 2 without running scenarios, saying what is missing.

use super::Station;
use crate::driver::{Driver, Provider};
use crate::lab::Lab;
use crate::ops::service;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the check needs: for each station printer (by name), the drivers of the scenarios that use it.
pub type Needs = Vec<(String, Arc<Driver>)>;

/// Check the station; the problems found, one sentence each (empty: healthy).
pub fn check(station: &Station, lab: &dyn Lab, needs: &Needs, wait: Duration) -> Vec<String> {
    let mut problems = Vec::new();
    let devices = match lab.devices() {
        Ok(d) => d,
        Err(e) => return vec![format!("cannot list the USB devices: {e}")],
    };
    let deadline = Instant::now() + wait;
    for p in &station.printers {
        let Some(view) = devices.iter().find(|v| p.matches(v)) else {
            problems.push(format!(
                "printer `{}` ({}, {}) is not on the USB bus; the bus has {}",
                p.name,
                p.describe(),
                p.span,
                crate::lab::bus_text(&devices)
            ));
            continue;
        };
        for (_, driver) in needs.iter().filter(|(name, _)| *name == p.name) {
            if let Provider::UsbInterface { .. } = driver.provider
                && let Err(e) = service::printer_service(lab, view, driver, deadline)
            {
                problems.push(format!(
                    "printer `{}`: the dext {} has not matched it: {e}",
                    p.name, driver.bundle_id
                ));
            }
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for (_, driver) in needs {
        if matches!(driver.provider, Provider::UserResources) && !seen.contains(&&*driver.bundle_id)
        {
            seen.push(&driver.bundle_id);
            if let Err(e) = service::resource_service(lab, driver, deadline) {
                problems.push(format!(
                    "the dext {} is not activated: {e}",
                    driver.bundle_id
                ));
            }
        }
    }
    problems
}
