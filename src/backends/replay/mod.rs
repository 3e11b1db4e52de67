//! The replay backend: registry dumps recorded on a Mac, answered read-only. (Loading comes with the
//! "Cross-check and replay" issue; until then it says so.)

use super::LabFactory;
use crate::lab::LabError;
use std::path::Path;

pub fn factory(dir: &Path) -> Result<Box<dyn LabFactory>, LabError> {
    Err(LabError::Unsupported {
        backend: "replay",
        what: "load recordings",
        why: format!(
            "replaying `{}` is not built yet (issue \"Cross-check and replay\"); use `--lab sim`",
            dir.display()
        ),
    })
}
