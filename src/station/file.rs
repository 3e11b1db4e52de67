//! The station file's YAML: raw serde structs (unknown keys are errors) checked into a [`Station`].

use super::{ReplugChoice, Station, StationPrinter};
use crate::backends::LabChoice;
use crate::scenario::error::Diag;
use crate::scenario::values::{self, RawDuration, RawInt};
use crate::scenario::{LoadErrors, parse_file};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStation {
    name: Spanned<String>,
    backend: Option<Spanned<String>>,
    printers: Option<Vec<Spanned<RawPrinter>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrinter {
    #[serde(alias = "name")]
    role: Spanned<String>,
    model: Spanned<String>,
    serial: Option<Spanned<String>>,
    location: Option<Spanned<RawInt>>,
    hub_port: Option<Spanned<RawInt>>,
    replug: Option<Spanned<ReplugChoice>>,
    power_off: Option<Spanned<RawDuration>>,
    power_off_attempts: Option<Spanned<RawInt>>,
}

const DEFAULT_POWER_OFF: Duration = Duration::from_secs(2);
const DEFAULT_POWER_OFF_ATTEMPTS: u32 = 3;

/// Load and check a station file; every error with file, line and column.
pub fn load_station(path: &Path) -> Result<Station, LoadErrors> {
    let mut diag = Diag::new(Arc::new(path.to_path_buf()));
    let Some(raw) = parse_file::<RawStation>(&mut diag, path) else {
        return Err(LoadErrors(diag.errors));
    };
    let backend = match &raw.backend {
        None => LabChoice::default_here(),
        Some(b) => match LabChoice::parse(&b.value) {
            // A replay directory is relative to the station file, like a scenario's driver file.
            Ok(LabChoice::Replay(dir)) if dir.is_relative() => {
                LabChoice::Replay(path.parent().unwrap_or(Path::new(".")).join(dir))
            }
            Ok(choice) => choice,
            Err(e) => {
                diag.error(b.referenced, format!("`backend`: {e}"));
                LabChoice::Sim
            }
        },
    };
    let mut printers: Vec<StationPrinter> = Vec::new();
    for p in raw.printers.iter().flatten() {
        let at = p.referenced;
        let r = &p.value;
        if printers.iter().any(|q| q.name == r.role.value) {
            diag.error(
                r.role.referenced,
                format!("printer `{}` is named twice in this station", r.role.value),
            );
        }
        if crate::printer::catalog::find(&r.model.value).is_none() {
            let names = crate::printer::catalog::MODELS.iter().map(|m| m.name);
            let hint = crate::scenario::error::nearest_owned(&r.model.value, names);
            diag.error_hint(
                r.model.referenced,
                format!("`{}` is not a printer model of the catalog", r.model.value),
                hint.as_deref(),
            );
        }
        let location = r
            .location
            .as_ref()
            .and_then(|l| values::u32_of(&mut diag, "location", l));
        let hub_port = r.hub_port.as_ref().and_then(|h| {
            values::int_in(&mut diag, "hub_port", h, 1, 15, "a hub port (1..=15)").map(|n| n as u8)
        });
        let power_off = r
            .power_off
            .as_ref()
            .and_then(|d| values::duration_of(&mut diag, "power_off", d))
            .unwrap_or(DEFAULT_POWER_OFF);
        let attempts = r
            .power_off_attempts
            .as_ref()
            .and_then(|n| values::int_in(&mut diag, "power_off_attempts", n, 1, 20, "a count"))
            .map_or(DEFAULT_POWER_OFF_ATTEMPTS, |n| n as u32);
        printers.push(StationPrinter {
            name: r.role.value.clone(),
            span: diag.span(at),
            model: r.model.value.clone(),
            serial: r.serial.as_ref().map(|s| s.value.clone()),
            location,
            hub_port,
            replug: r.replug.as_ref().map_or(ReplugChoice::Auto, |c| c.value),
            power_off,
            power_off_attempts: attempts,
        });
    }
    if !diag.errors.is_empty() {
        return Err(LoadErrors(diag.errors));
    }
    Ok(Station {
        name: raw.name.value,
        source: path.to_path_buf(),
        backend,
        printers,
    })
}
