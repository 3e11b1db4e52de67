//! Where a thing came from in a YAML file, so every failure can print `scenarios/x.yaml:14:5`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: Arc<PathBuf>,
    /// 1-based; 0 when unknown.
    pub line: u32,
    /// 1-based; 0 when unknown.
    pub column: u32,
}

impl Span {
    pub fn new(file: Arc<PathBuf>, line: u32, column: u32) -> Self {
        Span { file, line, column }
    }

    /// A span for something that has no place in a file (built-in defaults).
    pub fn builtin(what: &str) -> Self {
        Span {
            file: Arc::new(PathBuf::from(format!("<{what}>"))),
            line: 0,
            column: 0,
        }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }
}

impl fmt::Display for Span {
    /// `file:line:column`. Written piece by piece: every journal line of a step carries one, so this avoids
    /// `Path::display`'s lossy scan of a path that is text anyway and `core::fmt` for the two numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.file.to_str() {
            Some(text) => f.write_str(text)?,
            None => write!(f, "{}", self.file.display())?,
        }
        let mut digits = itoa::Buffer::new();
        f.write_str(":")?;
        f.write_str(digits.format(self.line))?;
        f.write_str(":")?;
        f.write_str(digits.format(self.column))
    }
}
