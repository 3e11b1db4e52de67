//! Load errors as a person reads them (`path:line:col: message` and a did-you-mean hint), and the
//! collector every loading stage pushes into so that all errors of all files are reported together.
//! Owns the translation of serde-saphyr's errors; knows nothing of what the files mean.

use super::{LoadError, LoadErrors};
use crate::span::Span;
use serde_saphyr::{Error as YamlError, Location};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.span, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: did you mean `{hint}`?")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

/// The errors found so far in one file.
pub(crate) struct Diag {
    pub file: Arc<PathBuf>,
    pub errors: Vec<LoadError>,
}

impl Diag {
    pub fn new(file: Arc<PathBuf>) -> Self {
        Diag {
            file,
            errors: Vec::new(),
        }
    }

    pub fn span(&self, at: Location) -> Span {
        Span::new(self.file.clone(), clamp(at.line()), clamp(at.column()))
    }

    pub fn error(&mut self, at: Location, message: impl Into<String>) {
        self.push(self.span(at), message.into(), None);
    }

    pub fn error_hint(&mut self, at: Location, message: impl Into<String>, hint: Option<&str>) {
        self.push(self.span(at), message.into(), hint.map(str::to_owned));
    }

    pub fn push(&mut self, span: Span, message: String, hint: Option<String>) {
        self.errors.push(LoadError {
            span,
            message,
            hint,
        });
    }

    /// An error with no place in the file (unreadable file).
    pub fn whole_file(&mut self, message: impl Into<String>) {
        self.push(Span::new(self.file.clone(), 0, 0), message.into(), None);
    }

    /// Translate a serde-saphyr error, keeping its position and message; unknown keys and variants get
    /// the nearest valid one as hint.
    pub fn yaml(&mut self, err: &YamlError) {
        let err = err.without_snippet();
        let (line, column) = err
            .location()
            .map(|l| (clamp(l.line()), clamp(l.column())))
            .unwrap_or((0, 0));
        let span = Span::new(self.file.clone(), line, column);
        let (message, hint) = match err {
            YamlError::SerdeUnknownField {
                field, expected, ..
            } => unknown("key", field, expected),
            // An enum tag is a key for steps (`sleeep: 1ms`) and a value for choices (`completion:
            // forbiden`); the wording fits both.
            YamlError::SerdeUnknownVariant {
                variant, expected, ..
            } => unknown("name", variant, expected),
            YamlError::DuplicateMappingKey { key, .. } => (
                match key {
                    Some(k) => format!("duplicate key `{k}`: each key may appear once in a map"),
                    None => "duplicate key: each key may appear once in a map".to_string(),
                },
                None,
            ),
            YamlError::Eof { .. } => (
                "the file is empty: expected a map of keys".to_string(),
                None,
            ),
            other => match super::limits::breach_message(other) {
                Some(m) => (m, None),
                None => (plain(&strip_location(&other.to_string())), None),
            },
        };
        self.push(span, message, hint);
    }
}

fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn unknown(what: &str, wrong: &str, expected: &[&'static str]) -> (String, Option<String>) {
    let hint = crate::names::nearest(wrong, expected.iter().copied()).map(str::to_owned);
    let list = expected
        .iter()
        .map(|e| format!("`{e}`"))
        .collect::<Vec<_>>()
        .join(", ");
    (
        format!("unknown {what} `{wrong}`, expected one of {list}"),
        hint,
    )
}

/// serde-saphyr's words for a wrong shape, in a person's.
fn plain(msg: &str) -> String {
    let said = match msg {
        "expected mapping start" => "expected a map of `key: value` entries here",
        "expected sequence start" => "expected a list here (`- item` lines, or `[a, b]`)",
        "expected string scalar" => "expected a text value here",
        "invalid boolean" => "expected `true` or `false`",
        "unexpected sequence end" => {
            "a list item is incomplete: a step is a map such as `- sleep: 1ms`, not a bare word"
        }
        m if m.starts_with("tabs disallowed") => {
            return format!("{m}: YAML indents with spaces, never tabs");
        }
        m => return m.to_string(),
    };
    said.to_string()
}

/// serde-saphyr appends ` at line L, column C`; the span already says where.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(", column ") => msg[..i].to_string(),
        _ => msg.to_string(),
    }
}

/// A located "did you mean" for a name that is not among `candidates`.
pub(crate) fn nearest_owned<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    crate::names::nearest(wrong, candidates).map(str::to_owned)
}
