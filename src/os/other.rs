//! Neither macOS nor Linux: the sim is the default; neither the IOKit lab nor the USB VM runs here.

use crate::backends::{LabChoice, LabFactory};
use crate::lab::{Lab, LabError};
use crate::record::{RecordError, Target};
use std::path::{Path, PathBuf};

// Another Unix (a BSD) does these as macOS and Linux do.
#[cfg(unix)]
#[path = "unix.rs"]
mod sys;
#[cfg(not(unix))]
#[path = "not_unix.rs"]
mod sys;
pub use sys::*;

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
    Err(LabError::Unsupported {
        backend: "vm",
        what: "run",
        why: "the USB VM lab runs inside the Linux guest of ci/usb-vm/run.sh".into(),
    })
}

/// The USB view through libusb; there is no IORegistry to record.
pub fn record_live(target: &Target, out: &Path) -> Result<Vec<PathBuf>, RecordError> {
    crate::record::record_libusb(target, out)
}
