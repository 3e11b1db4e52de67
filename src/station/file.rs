//! The station file's YAML: raw serde structs (unknown keys are errors) checked into a [`Station`].

use super::{ReplugChoice, Station, StationPrinter};
use crate::backends::LabChoice;
use crate::scenario::error::Diag;
use crate::scenario::values::{self, RawDuration, RawInt};
use crate::scenario::{LoadErrors, parse_file};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::path::{Path, PathBuf};
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

/// Refuse an empty name or one holding a control character (a newline in a serial could never match a
/// printer; an escape sequence would reach the terminal).
fn name_text(diag: &mut Diag, at: serde_saphyr::Location, what: &str, text: &str) {
    if text.trim().is_empty() {
        diag.error(at, format!("{what} is empty"));
    } else if let Some(c) = text.chars().find(|c| c.is_control()) {
        diag.error(
            at,
            format!(
                "{what} `{}` holds the control character U+{:04X}: only printable characters",
                text.escape_debug(),
                c as u32
            ),
        );
    }
}

/// `replay:<dir>` of a station file: an existing directory inside the station file's folder.
fn confined(folder: &Path, dir: &Path) -> Result<PathBuf, String> {
    let joined = folder.join(dir);
    let shown = dir.display();
    let real = joined
        .canonicalize()
        .map_err(|e| format!("`backend: replay:{shown}`: {}: {e}", joined.display()))?;
    if !real.is_dir() {
        return Err(format!(
            "`backend: replay:{shown}`: {} is not a directory (a recording folder: ioreg.plist or ioreg.txt, usb.json)",
            joined.display()
        ));
    }
    let root = folder
        .canonicalize()
        .map_err(|e| format!("the station file's folder {}: {e}", folder.display()))?;
    if !real.starts_with(&root) {
        return Err(format!(
            "`backend: replay:{shown}` leaves the station file's folder {}: keep the recording beside the station file",
            folder.display()
        ));
    }
    Ok(joined)
}

/// Load and check a station file; every error with file, line and column.
pub fn load_station(path: &Path) -> Result<Station, LoadErrors> {
    let mut diag = Diag::new(Arc::new(path.to_path_buf()));
    let Some(raw) = parse_file::<RawStation>(&mut diag, path) else {
        return Err(LoadErrors(diag.errors));
    };
    name_text(
        &mut diag,
        raw.name.referenced,
        "the station's `name`",
        &raw.name.value,
    );
    let folder = path.parent().unwrap_or(Path::new("."));
    let backend = match &raw.backend {
        None => LabChoice::default_here(),
        Some(b) => match LabChoice::parse(&b.value) {
            // A replay directory is relative to the station file, like a scenario's driver file, and stays
            // inside the station's folder: a station file from elsewhere cannot make dexthil read any path.
            Ok(LabChoice::Replay(dir)) => match confined(folder, &dir) {
                Ok(dir) => LabChoice::Replay(dir),
                Err(message) => {
                    diag.error(b.referenced, message);
                    LabChoice::Sim
                }
            },
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
        name_text(
            &mut diag,
            r.role.referenced,
            "the printer's `role`",
            &r.role.value,
        );
        if let Some(serial) = &r.serial {
            name_text(&mut diag, serial.referenced, "`serial`", &serial.value);
        }
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
            .and_then(|d| {
                let off = values::duration_of(&mut diag, "power_off", d)?;
                if off.is_zero() {
                    // Below the clock's resolution is zero too: a port switched off for no time is no replug.
                    diag.error(
                        d.referenced,
                        "`power_off` is zero: the port would never be off; give how long to cut power (e.g. 2s)",
                    );
                    return None;
                }
                Some(off)
            })
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
