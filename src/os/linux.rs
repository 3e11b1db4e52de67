//! Linux: the sim is the default; the USB VM lab runs here (inside the guest); no IOKit.

use crate::backends::{LabChoice, LabFactory};
use crate::lab::LabError;
use crate::record::{RecordError, Target};
use std::path::{Path, PathBuf};

pub fn default_lab() -> LabChoice {
    LabChoice::Sim
}

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
