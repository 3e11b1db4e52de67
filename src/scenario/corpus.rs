//! Files on disk: reading them (bytes → UTF-8 → YAML), walking a corpus for scenario files, loading each
//! scenario's driver relative to it (once per driver, shared), and gathering every error of every file
//! before answering. Knows file layout, not what the keys mean.

use super::error::Diag;
use super::root::{Refusal, Roots};
use super::{LoadError, LoadErrors, Scenario, driver_file, limits, raw::RawScenario, validate};
use crate::driver::Driver;
use crate::span::Span;
use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Directories with this name hold driver files, never scenarios.
const DRIVERS_DIR: &str = "drivers";

/// Read and parse one YAML file into `T`; any failure is pushed to `diag`.
pub(crate) fn parse_file<T: DeserializeOwned>(diag: &mut Diag, path: &Path) -> Option<T> {
    let bytes = match read_bounded(path) {
        Ok(b) => b,
        Err(message) => {
            diag.whole_file(message);
            return None;
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = good.iter().filter(|b| **b == b'\n').count() + 1;
            let column = good.iter().rev().take_while(|b| **b != b'\n').count() + 1;
            diag.push(
                Span::new(diag.file.clone(), line as u32, column as u32),
                "the file is not UTF-8 text: expected YAML".to_string(),
                None,
            );
            return None;
        }
    };
    if text.trim().is_empty() {
        diag.push(
            Span::new(diag.file.clone(), 1, 1),
            "the file is empty: expected a map of keys".to_string(),
            None,
        );
        return None;
    }
    match serde_saphyr::from_str_with_options::<T>(&text, limits::yaml_options()) {
        Ok(v) => Some(v),
        Err(e) => {
            diag.yaml(&e);
            None
        }
    }
}

/// The file's bytes, refusing (before reading it all, so `/dev/zero` or a huge file costs nothing)
/// anything over [`limits::MAX_FILE_BYTES`].
/// Opened through [`crate::input`], so a FIFO or a device is refused instead of blocking or growing.
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use crate::input::{Cap, InputError, read_capped};
    let cap = Cap {
        bytes: limits::MAX_FILE_BYTES,
        what: "scenario, driver and station files",
    };
    read_capped(path, cap).map_err(|e| match e {
        InputError::Open { source, .. } => format!("cannot read the file: {source}"),
        InputError::Directory { .. } => "cannot read the file: it is a directory".to_string(),
        InputError::Special { kind, .. } => format!(
            "not a regular file (it is {kind}): refusing to read it, since it could block or never end"
        ),
        InputError::TooLarge { .. } => format!(
            "the file is larger than {} KiB: scenario and driver files are small; is this the right file?",
            limits::MAX_FILE_BYTES / 1024
        ),
    })
}

pub fn load_driver(path: &Path) -> Result<Driver, LoadErrors> {
    let mut diag = Diag::new(Arc::new(path.to_path_buf()));
    let driver = parse_file::<driver_file::RawDriver>(&mut diag, path)
        .and_then(|raw| driver_file::validate(&mut diag, path, raw));
    match driver {
        Some(d) if diag.errors.is_empty() => Ok(d),
        _ => Err(LoadErrors(diag.errors)),
    }
}

/// Drivers by canonical path: each loaded once however many scenarios use it; a broken one is
/// reported once.
/// `scenarios/smoke/../drivers/x.yaml` → `scenarios/drivers/x.yaml`, for messages (lexically: a `..` after a
/// normal component removes it; leading `..` stay).
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.iter().collect()
}

#[derive(Default)]
struct Drivers {
    loaded: HashMap<PathBuf, Option<Arc<Driver>>>,
}

impl Drivers {
    /// The driver a scenario names, or `None` (with errors pushed) when it cannot be had.
    fn get(
        &mut self,
        scenario: &Path,
        roots: &Roots,
        named: &Spanned<String>,
        diag: &mut Diag,
        errors: &mut Vec<LoadError>,
    ) -> Option<Arc<Driver>> {
        let relative = Path::new(&named.value);
        let path = tidy(&scenario.parent().unwrap_or(Path::new(".")).join(relative));
        let canonical = match roots.admit(&path) {
            Ok(c) => c,
            Err(Refusal::Outside(why)) => {
                diag.error(
                    named.referenced,
                    format!("driver file `{}` {why}", named.value),
                );
                return None;
            }
            Err(Refusal::Unreadable(e)) => {
                diag.error(
                    named.referenced,
                    format!(
                        "cannot read driver file `{}` ({}): {e}; the path is relative to this scenario",
                        named.value,
                        path.display()
                    ),
                );
                return None;
            }
        };
        if let Some(known) = self.loaded.get(&canonical) {
            if known.is_none() {
                diag.error(
                    named.referenced,
                    format!("driver file `{}` has errors (reported above)", named.value),
                );
            }
            return known.clone();
        }
        let loaded = match load_driver(&path) {
            Ok(d) => Some(Arc::new(d)),
            Err(LoadErrors(es)) => {
                errors.extend(es);
                diag.error(
                    named.referenced,
                    format!("driver file `{}` has errors (reported above)", named.value),
                );
                None
            }
        };
        self.loaded.insert(canonical, loaded.clone());
        loaded
    }
}

fn load_one(
    path: &Path,
    roots: &Roots,
    drivers: &mut Drivers,
    errors: &mut Vec<LoadError>,
) -> Option<Scenario> {
    let mut diag = Diag::new(Arc::new(path.to_path_buf()));
    let raw = parse_file::<Spanned<RawScenario>>(&mut diag, path);
    let Some(raw) = raw else {
        errors.extend(diag.errors);
        return None;
    };
    let mut driver_errors = Vec::new();
    let driver = drivers.get(
        path,
        roots,
        &raw.value.driver,
        &mut diag,
        &mut driver_errors,
    );
    errors.extend(driver_errors);
    let Some(driver) = driver else {
        errors.extend(diag.errors);
        return None;
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (diag, scenario) = validate::scenario(diag, path, raw, driver, &stem);
    errors.extend(diag.errors);
    scenario
}

/// Every `*.yaml` under `dir`, sorted, skipping `drivers/` directories.
/// Special files (a FIFO named `x.yaml`) are skipped with a warning and each real folder is visited once
/// ([`crate::input::walk`]).
fn walk(dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<LoadError>) {
    let w = crate::input::walk(dir, &|p| p.file_name().is_some_and(|n| n != DRIVERS_DIR));
    for (d, e) in w.errors {
        errors.push(LoadError {
            span: Span::new(Arc::new(d), 0, 0),
            message: format!("cannot read the directory: {e}"),
            hint: None,
        });
    }
    for warning in w.warnings {
        tracing::warn!("{warning}");
    }
    out.extend(
        w.files
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "yaml")),
    );
}

pub fn load_corpus(paths: &[PathBuf]) -> Result<Vec<Scenario>, LoadErrors> {
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for p in paths {
        let roots = Roots::for_path(p);
        let mut found = Vec::new();
        if p.is_dir() {
            walk(p, &mut found, &mut errors);
        } else {
            found.push(p.clone());
        }
        files.extend(found.into_iter().map(|f| (f, roots.clone())));
    }
    let mut drivers = Drivers::default();
    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut names: BTreeMap<String, Span> = BTreeMap::new();
    for (f, roots) in &files {
        let Some(s) = load_one(f, roots, &mut drivers, &mut errors) else {
            continue;
        };
        if let Some(first) = names.get(&s.name) {
            errors.push(LoadError {
                span: s.span.clone(),
                message: format!(
                    "scenario name `{}` is already used by {first}: names must be unique in the corpus (set `name:`)",
                    s.name
                ),
                hint: None,
            });
            continue;
        }
        names.insert(s.name.clone(), s.span.clone());
        scenarios.push(s);
    }
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(LoadErrors(errors))
    }
}

pub fn load_scenario(path: &Path) -> Result<Scenario, LoadErrors> {
    let mut errors = Vec::new();
    match load_one(
        path,
        &Roots::for_path(path),
        &mut Drivers::default(),
        &mut errors,
    ) {
        Some(s) if errors.is_empty() => Ok(s),
        _ => Err(LoadErrors(errors)),
    }
}
