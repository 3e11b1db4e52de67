//! Loading scenario and driver files: YAML (serde-saphyr, spans kept) → raw serde structs → validated
//! [`Scenario`] / [`Driver`](crate::driver::Driver). Knows nothing of backends.

pub mod model;

pub use model::*;

use crate::driver::Driver;
use crate::span::Span;
use std::path::{Path, PathBuf};

/// One thing wrong in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub span: Span,
    /// What is wrong and what was expected.
    pub message: String,
    /// The nearest valid key or name, when there is one.
    pub hint: Option<String>,
}

/// Everything wrong in a corpus, all files checked before anything runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<LoadError>);

/// Load every scenario under `paths` (files, or directories searched recursively for `*.yaml`, skipping
/// `drivers/` directories), each with its driver file.
pub fn load_corpus(_paths: &[PathBuf]) -> Result<Vec<Scenario>, LoadErrors> {
    unimplemented!("scenario loader")
}

pub fn load_scenario(_path: &Path) -> Result<Scenario, LoadErrors> {
    unimplemented!("scenario loader")
}

pub fn load_driver(_path: &Path) -> Result<Driver, LoadErrors> {
    unimplemented!("driver loader")
}
