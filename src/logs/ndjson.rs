//! `log stream --style ndjson` (reference §6): the command line that captures the kernel and the dext, and
//! the parse of each output line. Pure; the process around it is in [`super::stream`].
//!
//! One JSON object a line with (among others) `timestamp`, `processImagePath`, `senderImagePath`,
//! `subsystem`, `category`, `messageType` and `eventMessage`. Unknown fields are ignored; lines that are not
//! JSON (the `Filtering the log data using ...` banner `log` prints first) are skipped.

use super::LogLine;
use serde::Deserialize;
use thiserror::Error;

/// Use the full path: zsh has a builtin `log` that shadows the tool (reference §6).
pub const LOG_TOOL: &str = "/usr/bin/log";

/// `--level`: info and debug lines need it (reference §6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogLevel {
    Default,
    Info,
    #[default]
    Debug,
}

impl LogLevel {
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Default => "default",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }

    pub fn parse(text: &str) -> Option<LogLevel> {
        match text {
            "default" => Some(LogLevel::Default),
            "info" => Some(LogLevel::Info),
            "debug" => Some(LogLevel::Debug),
            _ => None,
        }
    }

    pub const NAMES: &[&str] = &["default", "info", "debug"];
}

/// The driver file's `log:` block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogConfig {
    /// Replaces the built-in predicate entirely.
    pub predicate: Option<String>,
    pub level: LogLevel,
}

/// The built-in predicate: the kernel's lines that carry the dext's prefix (its own `os_log`, which the
/// kernel logs for it) or that are the kernel's DriverKit (`DK: `) and user-client (`IOUC `) lines of
/// reference §2. `IOUC` is added to the issue's predicate: without it `IOUC %s missing entitlement in
/// process %s` would never be seen.
pub fn default_predicate(prefix: &str) -> String {
    let quoted = prefix.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "process == \"kernel\" AND (eventMessage CONTAINS \"{quoted}\" OR eventMessage BEGINSWITH \"DK: \" OR eventMessage BEGINSWITH \"IOUC \")"
    )
}

/// The arguments after [`LOG_TOOL`].
pub fn stream_args(config: &LogConfig, prefix: &str) -> Vec<String> {
    let predicate = config
        .predicate
        .clone()
        .unwrap_or_else(|| default_predicate(prefix));
    vec![
        "stream".into(),
        "--style".into(),
        "ndjson".into(),
        "--level".into(),
        config.level.name().into(),
        "--predicate".into(),
        predicate,
    ]
}

/// One entry of the stream, the fields reference §6 names. Every field may be missing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StreamEntry {
    pub timestamp: Option<String>,
    pub process_image_path: Option<String>,
    pub sender_image_path: Option<String>,
    pub subsystem: Option<String>,
    pub category: Option<String>,
    pub message_type: Option<String>,
    pub event_message: Option<String>,
}

/// A line that looked like an entry and was not one.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct NdjsonError {
    /// Where the text came from: a file, or `log stream`.
    pub origin: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// One output line: `Ok(None)` for a line that is not an entry (the banner, a blank line, an entry with no
/// message, such as an activity event).
pub fn parse_entry(text: &str) -> Result<Option<StreamEntry>, (usize, String)> {
    let trimmed = text.trim();
    if !trimmed.starts_with('{') {
        return Ok(None);
    }
    match serde_json::from_str::<StreamEntry>(trimmed) {
        Ok(e) if e.event_message.is_some() => Ok(Some(e)),
        Ok(_) => Ok(None),
        Err(e) => {
            let lead = text.len() - text.trim_start().len();
            Err((e.column() + lead, format!("not a log entry: {e}")))
        }
    }
}

/// Parse one output line into a [`LogLine`], telling the dext's lines from the kernel's by `prefix`.
pub fn parse_line(
    text: &str,
    origin: &str,
    line: usize,
    prefix: &str,
) -> Result<Option<LogLine>, NdjsonError> {
    match parse_entry(text) {
        Ok(Some(e)) => Ok(Some(to_line(e, prefix))),
        Ok(None) => Ok(None),
        Err((column, message)) => Err(NdjsonError {
            origin: origin.to_string(),
            line,
            column,
            message,
        }),
    }
}

/// Every entry of a whole output, and the lines that were broken (the rest is still read).
pub fn parse_all(text: &str, origin: &str, prefix: &str) -> (Vec<LogLine>, Vec<NdjsonError>) {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for (i, l) in text.lines().enumerate() {
        match parse_line(l, origin, i + 1, prefix) {
            Ok(Some(line)) => lines.push(line),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    (lines, errors)
}

fn to_line(e: StreamEntry, prefix: &str) -> LogLine {
    let text = e.event_message.unwrap_or_default();
    let kernel_own = text.starts_with("DK: ") || text.starts_with("IOUC ");
    let mut line = LogLine::classify(e.timestamp.unwrap_or_default(), text, "");
    if !kernel_own && !prefix.is_empty() && line.text.contains(prefix) {
        line.source = super::LineSource::Dext;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LineSource;

    #[test]
    fn the_predicate_quotes_the_prefix_and_keeps_the_kernels_lines() {
        let args = stream_args(&LogConfig::default(), "My \"Driver\"");
        assert_eq!(
            &args[..5],
            ["stream", "--style", "ndjson", "--level", "debug"]
        );
        assert_eq!(
            args[6],
            r#"process == "kernel" AND (eventMessage CONTAINS "My \"Driver\"" OR eventMessage BEGINSWITH "DK: " OR eventMessage BEGINSWITH "IOUC ")"#
        );
        let own = LogConfig {
            predicate: Some("process == \"kernel\"".into()),
            level: LogLevel::Info,
        };
        assert_eq!(
            stream_args(&own, "x")[4..],
            ["info", "--predicate", "process == \"kernel\""]
        );
    }

    #[test]
    fn dk_lines_are_the_kernels_even_when_they_name_the_dext() {
        let dk = r#"{"eventMessage":"DK: DNPPrinterDriver-0x100000a3c:UC entitlements check failed","timestamp":"t"}"#;
        let own = r#"{"eventMessage":"DNPPrinterDriver: NewUserClient(0)"}"#;
        let p = "DNPPrinterDriver";
        let dk = parse_line(dk, "x", 1, p).unwrap().unwrap();
        assert_eq!((dk.source, &*dk.timestamp), (LineSource::Kernel, "t"));
        let own = parse_line(own, "x", 2, p).unwrap().unwrap();
        assert_eq!(own.source, LineSource::Dext);
    }

    #[test]
    fn a_broken_entry_names_its_line_and_column() {
        let e = parse_line("  {\"eventMessage\": 3", "log stream", 7, "p").unwrap_err();
        assert_eq!((e.line, e.origin.as_str()), (7, "log stream"));
        assert!(e.column >= 3, "{e}");
        assert!(e.to_string().starts_with("log stream:7:"), "{e}");
    }
}
