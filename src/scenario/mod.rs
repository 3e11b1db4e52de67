//! Loading scenario and driver files: YAML (serde-saphyr, spans kept) → raw serde structs → validated
//! [`Scenario`] / [`Driver`](crate::driver::Driver). Knows nothing of backends.

mod corpus;
mod driver_file;
mod durability;
pub(crate) mod error;
pub mod limits;
pub mod model;
mod raw;
mod root;
mod validate;
pub(crate) mod values;

pub use durability::{DEFAULT_OPERATION_DEADLINE, Durability};
pub use model::*;

pub use root::Roots;
pub use validate::{CROSS_CHECK_FIELDS, MAX_REPEAT};
pub use values::{MAX_DURATION, MAX_SCALARS, MAX_STRUCT, parse_duration};
// Other YAML files (station files) load the same way, with the same error style.
pub(crate) use corpus::parse_file;

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
/// `drivers/` directories), each with its driver file. Every file is checked and all errors of all files
/// are returned together; scenario names must be unique across the corpus.
pub fn load_corpus(paths: &[PathBuf]) -> Result<Vec<Scenario>, LoadErrors> {
    corpus::load_corpus(paths)
}

/// Load one scenario file and the driver file it names (relative to it).
pub fn load_scenario(path: &Path) -> Result<Scenario, LoadErrors> {
    corpus::load_scenario(path)
}

/// Load one driver file.
pub fn load_driver(path: &Path) -> Result<Driver, LoadErrors> {
    corpus::load_driver(path)
}
