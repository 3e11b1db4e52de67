//! Linux: the sim is the default; the USB VM lab runs here (inside the guest); no IOKit. Files, signals and
//! processes as on every Unix (`unix.rs`).

use crate::backends::{LabChoice, LabFactory};
use crate::lab::{Lab, LabError};
use crate::record::{RecordError, Target};
use std::path::{Path, PathBuf};

#[path = "unix.rs"]
mod unix;
pub use unix::*;

pub const IS_MAC: bool = false;

pub fn default_lab() -> LabChoice {
    LabChoice::Sim
}

/// No IORegistry here (the darwin double serves labs, not this machine).
pub fn live_registry_lab() -> Option<Result<Box<dyn Lab>, LabError>> {
    None
}

pub use super::imp_shared::selftest_probe;

/// The macOS backend itself, against the darwin double (`--features darwin-double`); else not here.
pub fn macos_factory() -> Result<Box<dyn LabFactory>, LabError> {
    #[cfg(feature = "darwin-double")]
    return crate::backends::darwin_double::factory();
    #[cfg(not(feature = "darwin-double"))]
    Err(super::imp_shared::not_a_mac())
}

pub fn vm_factory() -> Result<Box<dyn LabFactory>, LabError> {
    Ok(Box::new(crate::backends::vm::VmFactory))
}

/// The USB view through libusb; there is no IORegistry to record.
pub fn record_live(target: &Target, out: &Path) -> Result<Vec<PathBuf>, RecordError> {
    crate::record::record_libusb(target, out)
}
