//! What the kernel and the dext said while a scenario ran: the log lines a lab captures, the
//! [`LogCapture`] capability a lab offers for them, the macOS `log stream --style ndjson` reader, and the
//! `.ips` crash-report reader.
//!
//! A dext's `os_log` goes through the kernel (reference §6): its lines show under `process == "kernel"`,
//! beside the kernel's own `DK: ` lines. Parsing is pure and tested everywhere; only the wiring that starts
//! `/usr/bin/log` lives in the macOS backend. This module knows no backend and no scenario.

mod buffer;
pub mod classify;
pub mod crash;
pub mod crash_text;
pub mod ndjson;
pub mod stream;
mod timestamp;

pub use buffer::LogBuffer;
pub use crash::{CrashFrame, CrashReport, CrashReportError};
pub use ndjson::{LogConfig, LogLevel, NdjsonError};
pub use stream::LogStream;
pub use timestamp::log_timestamp;

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Who wrote a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineSource {
    /// The kernel's own lines (`DK: ...`, `IOUC ...`).
    Kernel,
    /// The dext's `os_log`, recognised by the driver file's `log_prefix`.
    Dext,
    /// A crash report of the dext's process, summarised on one line per fact.
    CrashReport,
}

impl LineSource {
    pub fn label(self) -> &'static str {
        match self {
            LineSource::Kernel => "kernel",
            LineSource::Dext => "dext",
            LineSource::CrashReport => "crash",
        }
    }
}

/// One captured line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// As `log stream` prints it (`2025-03-14 09:26:53.512345-0700`); the sim writes the same shape in UTC.
    /// Shared text: a line is kept in the lab's buffer and handed to every reader and sink without a copy.
    pub timestamp: Arc<str>,
    pub source: LineSource,
    pub text: Arc<str>,
}

impl LogLine {
    /// A line of the kernel or of the dext, told apart by the dext's log prefix.
    pub fn classify(timestamp: String, text: String, dext_prefix: &str) -> LogLine {
        let source = if !dext_prefix.is_empty() && text.starts_with(dext_prefix) {
            LineSource::Dext
        } else {
            LineSource::Kernel
        };
        LogLine {
            timestamp: timestamp.into(),
            source,
            text: text.into(),
        }
    }

    pub fn now(source: LineSource, text: impl Into<String>) -> LogLine {
        LogLine {
            timestamp: log_timestamp(SystemTime::now()).into(),
            source,
            text: text.into().into(),
        }
    }
}

/// A lab's log capture: a buffer of lines (with a cursor per reader), how late lines can arrive, and the
/// dext's crash reports. A lab without one answers `None` from [`crate::lab::Lab::logs`].
pub trait LogCapture: Send + Sync {
    /// Every line captured so far, and why capture is not working if it is not.
    fn buffer(&self) -> &LogBuffer;

    /// How long a line may take from its event to the buffer. The sim logs as it acts: zero.
    fn latency(&self) -> Duration {
        Duration::ZERO
    }

    /// The newest crash report of the dext's process written at or after `since`, waiting up to `wait` for
    /// one to appear (a crash reporter writes it some time after the crash).
    fn crash_report(&self, since: SystemTime, wait: Duration) -> Option<CrashReport> {
        let _ = (since, wait);
        None
    }
}
