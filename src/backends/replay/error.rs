//! Why a registry dump or a recorded USB view could not be loaded: always the file, and the 1-based line
//! (and column where known) of the place that was wrong, with what was expected there.

use std::fmt;
use std::path::PathBuf;
use thiserror::Error;

/// A place in a dump file: `dump.txt:14:5`, or `dump.txt:14` when the column is unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based, when known.
    pub column: Option<usize>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)?;
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Error)]
pub enum DumpError {
    #[error(transparent)]
    Read(#[from] crate::input::InputError),
    #[error(
        "{}:1: the file is empty: expected the output of `ioreg -a -l` (a plist) or `ioreg -l` (text)",
        path.display()
    )]
    Empty { path: PathBuf },
    /// The text was not what was expected at `place`.
    #[error("{place}: {what}")]
    Syntax { place: Place, what: String },
    /// A binary plist that does not parse: binary files have no lines, so the byte offset is given.
    #[error(
        "{}: damaged binary plist (bplist00){}: {what}; re-record it with `ioreg -a -l > ioreg.plist`",
        path.display(),
        offset.map(|o| format!(" at byte {o}")).unwrap_or_default()
    )]
    Binary {
        path: PathBuf,
        offset: Option<u64>,
        what: String,
    },
    /// The file parsed but is not shaped like an ioreg dump (a node without `IOObjectClass`, say).
    #[error("{}: {what}", path.display())]
    Shape { path: PathBuf, what: String },
    #[error(
        "{}: no registry dump: expected `ioreg.plist` (from `ioreg -a -l`) or `ioreg.txt` (from `ioreg -l`) in this folder",
        dir.display()
    )]
    NoDump { dir: PathBuf },
}

impl DumpError {
    pub(crate) fn syntax(
        path: &std::path::Path,
        line: usize,
        column: Option<usize>,
        what: impl Into<String>,
    ) -> Self {
        DumpError::Syntax {
            place: Place {
                path: path.to_path_buf(),
                line,
                column,
            },
            what: what.into(),
        }
    }
}
