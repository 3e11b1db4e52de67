//! The JSON Lines journal: one line per event, appended and written through as it happens, so a run that
//! is killed (or a Mac that panics) leaves every event up to the kill on disk. `dexthil report` reads it
//! back into the same [`RunEvent`]s the live reporters saw. The format is documented message by message
//! in docs/nightly.md.

use super::events::{EventKind, EventSink, RunEvent};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use thiserror::Error;

/// The journal format's version, on every line, so a reader can refuse a future format clearly.
pub const JOURNAL_VERSION: u32 = 1;

/// One journal line: the format version, the time since the run started, and the event's own fields
/// (`"event": "step_finished"` names it).
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    v: u32,
    elapsed: Duration,
    #[serde(flatten)]
    kind: EventKind,
}

#[derive(Debug, Error)]
pub enum JournalError {
    #[error("cannot write the journal {}: {source}; pass --journal with a writable path", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the journal {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: not a journal event: {message}", path.display())]
    BadLine {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}:{line}:1: journal format version {found}; this dexthil reads version {JOURNAL_VERSION}", path.display())]
    Version {
        path: PathBuf,
        line: usize,
        found: u32,
    },
}

/// The sink that writes the journal.
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    failed: std::sync::atomic::AtomicBool,
}

impl Journal {
    /// Create (or append to) the journal at `path`, creating its directory.
    pub fn create(path: &Path) -> Result<Journal, JournalError> {
        let err = |source| JournalError::Create {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            failed: Default::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// One event as its journal line (without the newline).
pub fn to_line(event: &RunEvent) -> String {
    let line = Line {
        v: JOURNAL_VERSION,
        elapsed: event.elapsed,
        kind: event.kind.clone(),
    };
    // Every field is a string, number, bool, list or map: serializing cannot fail.
    serde_json::to_string(&line).unwrap_or_default()
}

impl EventSink for Journal {
    fn event(&self, event: &RunEvent) {
        let mut text = to_line(event);
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // One write per line on an unbuffered file: the line reaches the kernel before the next event, so a
        // SIGKILL loses nothing already reported. `sync_data` would also survive a kernel panic; a lab Mac
        // that panics is exactly when the journal matters.
        let r = file
            .write_all(text.as_bytes())
            .and_then(|()| file.flush())
            .and_then(|()| file.sync_data());
        if let Err(e) = r
            && !self.failed.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::error!(journal = %self.path.display(), error = %e, "writing the journal failed; later events may be missing");
        }
    }
}

/// A journal read back.
#[derive(Debug)]
pub struct JournalRead {
    pub events: Vec<RunEvent>,
    /// The last line was cut short (the run was killed while writing it): what was dropped, and where.
    pub truncated: Option<String>,
}

/// Read a journal. A last line without its newline that does not parse is a write cut short by a kill:
/// it is dropped and reported in [`JournalRead::truncated`]; any other bad line is an error with its place.
pub fn read_journal(path: &Path) -> Result<JournalRead, JournalError> {
    let text = std::fs::read_to_string(path).map_err(|source| JournalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let ends_whole = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut events = Vec::new();
    let mut truncated = None;
    for (i, raw) in lines.iter().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(raw) {
            Ok(line) if line.v != JOURNAL_VERSION => {
                return Err(JournalError::Version {
                    path: path.to_path_buf(),
                    line: i + 1,
                    found: line.v,
                });
            }
            Ok(line) => events.push(RunEvent {
                elapsed: line.elapsed,
                kind: line.kind,
            }),
            Err(e) if i + 1 == lines.len() && !ends_whole => {
                truncated = Some(format!(
                    "{}:{}: the last line is cut short ({} bytes; the run was killed while writing it): ignored",
                    path.display(),
                    i + 1,
                    raw.len()
                ));
                tracing::debug!(error = %e, "truncated journal line");
            }
            Err(e) => {
                return Err(JournalError::BadLine {
                    path: path.to_path_buf(),
                    line: i + 1,
                    column: e.column(),
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(JournalRead { events, truncated })
}

/// `target/dexthil/journal-20260504T020000Z.jsonl` for a run starting now.
pub fn default_path(stamp: &str) -> PathBuf {
    PathBuf::from("target/dexthil").join(format!("journal-{stamp}.jsonl"))
}
