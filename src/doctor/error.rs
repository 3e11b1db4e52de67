//! Why doctor could not read an input: the file, and the line and column where that applies, with what was
//! expected there and how to capture the file again. Doctor never panics on input; these make it exit 2.

use crate::backends::replay::{DumpError, Place};
use crate::input::Cap;
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DoctorError {
    #[error(transparent)]
    Read(#[from] crate::input::InputError),
    /// The input was not what was expected at `place`.
    #[error("{place}: {what}")]
    Syntax { place: Place, what: String },
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error(transparent)]
    Crash(Box<crate::logs::CrashReportError>),
    #[error("--code: {0}")]
    Code(String),
    /// `--live` off a Mac, or a tool doctor runs could not be started.
    #[error("{0}")]
    Live(String),
}

impl DoctorError {
    pub(crate) fn syntax(
        path: &Path,
        line: usize,
        column: Option<usize>,
        what: impl Into<String>,
    ) -> Self {
        DoctorError::Syntax {
            place: Place {
                path: path.to_path_buf(),
                line,
                column,
            },
            what: what.into(),
        }
    }
}

/// Read a whole input file: a regular file, not over `cap` (see [`crate::input`]).
pub(crate) fn read(path: &Path, cap: Cap) -> Result<Vec<u8>, DoctorError> {
    Ok(crate::input::read_capped(path, cap)?)
}

/// Read a text input file; bytes that are not UTF-8 are placed.
pub(crate) fn read_text(path: &Path, cap: Cap) -> Result<String, DoctorError> {
    let bytes = read(path, cap)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let (line, column) = line_column(e.as_bytes(), at);
        DoctorError::syntax(path, line, Some(column), "this byte is not UTF-8 text")
    })
}

/// 1-based line and column of a byte offset (clamped to the end of the input).
pub(crate) fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, before.len() - start + 1)
}
