//! `.ips` crash reports (macOS 12 and later, reference §6): the first line a JSON header (`app_name`,
//! `timestamp`, `bug_type` "309" for a crash, `os_version`, `incident_id`), the rest one JSON body
//! (`procName`, `pid`, `exception` {`type`, `signal`, `codes`}, `threads` with one `triggered: true` and its
//! `frames` {`imageIndex`, `imageOffset`, `symbol`}, `usedImages`). Every field may be missing; a file
//! that is not JSON is an error naming file, line and column. Also: finding the newest report of the dext
//! in the report directories, which are parameters so this is tested with a temporary directory.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use thiserror::Error;

/// Frames of the crashed thread kept for the report (the top of the stack is what a reader looks at).
pub const TOP_FRAMES: usize = 8;

/// The crash-report directories of a Mac, the user's first (`~` from `home`).
pub fn report_dirs(home: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(h) = home {
        dirs.push(h.join("Library/Logs/DiagnosticReports"));
    }
    dirs.push(PathBuf::from("/Library/Logs/DiagnosticReports"));
    dirs
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrashFrame {
    /// `usedImages[imageIndex].name`.
    pub image: Option<String>,
    pub symbol: Option<String>,
    pub image_offset: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrashReport {
    pub path: PathBuf,
    /// `procName` of the body, else `app_name` of the header.
    pub process: Option<String>,
    pub pid: Option<u64>,
    pub timestamp: Option<String>,
    pub bug_type: Option<String>,
    pub os_version: Option<String>,
    pub incident_id: Option<String>,
    pub exception_type: Option<String>,
    pub signal: Option<String>,
    pub codes: Option<String>,
    /// Index of the thread marked `triggered: true`.
    pub crashed_thread: Option<usize>,
    pub frames: Vec<CrashFrame>,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct CrashReportError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parse a report's text; `path` is only for messages and the result.
pub fn parse(path: &Path, content: &str) -> Result<CrashReport, CrashReportError> {
    let fail = |line: usize, column: usize, message: String| CrashReportError {
        path: path.to_path_buf(),
        line,
        column,
        message,
    };
    let (head, body) = content.split_once('\n').unwrap_or((content, ""));
    let header: Value = serde_json::from_str(head).map_err(|e| {
        fail(
            1,
            e.column(),
            format!("the first line is not a JSON header (an .ips of macOS 12 or later): {e}"),
        )
    })?;
    let body: Value = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).map_err(|e| {
            fail(
                e.line() + 1,
                e.column(),
                format!("the report body is not JSON: {e}"),
            )
        })?
    };
    if !header.is_object() {
        return Err(fail(1, 1, "the header is not a JSON object".into()));
    }
    let exception = body.get("exception").cloned().unwrap_or(Value::Null);
    let codes = match exception.get("codes") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|c| match c {
                    Value::Number(n) => n
                        .as_u64()
                        .map(|n| format!("0x{n:x}"))
                        .unwrap_or_else(|| n.to_string()),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    };
    let images = body.get("usedImages").and_then(Value::as_array);
    let threads = body.get("threads").and_then(Value::as_array);
    let crashed = threads.and_then(|ts| {
        ts.iter()
            .position(|t| t.get("triggered").and_then(Value::as_bool) == Some(true))
    });
    let frames = crashed
        .and_then(|i| threads?.get(i)?.get("frames")?.as_array())
        .map(|fs| {
            fs.iter()
                .take(TOP_FRAMES)
                .map(|f| CrashFrame {
                    image: f
                        .get("imageIndex")
                        .and_then(Value::as_u64)
                        .and_then(|i| images?.get(i as usize))
                        .and_then(|img| text(img, "name")),
                    symbol: text(f, "symbol"),
                    image_offset: f.get("imageOffset").and_then(Value::as_u64),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(CrashReport {
        path: path.to_path_buf(),
        process: text(&body, "procName").or_else(|| text(&header, "app_name")),
        pid: body.get("pid").and_then(Value::as_u64),
        timestamp: text(&header, "timestamp"),
        bug_type: text(&header, "bug_type"),
        os_version: text(&header, "os_version"),
        incident_id: text(&header, "incident_id"),
        exception_type: text(&exception, "type"),
        signal: text(&exception, "signal"),
        codes,
        crashed_thread: crashed,
        frames,
    })
}

/// Read a crash report in either form from disk, through [`crate::input`] (a FIFO or a device is refused).
pub fn load(path: &Path) -> Result<CrashReport, CrashReportError> {
    let bytes =
        crate::input::read_capped(path, crate::input::CRASH).map_err(|e| CrashReportError {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: e.to_string(),
        })?;
    parse_any(path, &String::from_utf8_lossy(&bytes))
}

/// Either form: `.ips` when the first non-blank character opens a JSON object, else the `.crash` text.
pub fn parse_any(path: &Path, content: &str) -> Result<CrashReport, CrashReportError> {
    if content.trim_start().starts_with('{') {
        parse(path, content)
    } else {
        super::crash_text::parse(path, content)
    }
}

impl CrashReport {
    /// True when the report is of a process with this name or bundle id (the `.ips` header's
    /// `app_name` is the bundle id, the body's `procName` the executable name).
    pub fn is_of(&self, bundle_id: &str) -> bool {
        let short = bundle_id.rsplit('.').next().unwrap_or(bundle_id);
        self.process
            .as_deref()
            .is_some_and(|p| p == bundle_id || p == short)
    }

    /// The report as a person reads it beside a failure: where it is, what killed the process, the top of
    /// the crashed thread. One line each.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut out = vec![format!("crash report {}", self.path.display())];
        let who = self.process.as_deref().unwrap_or("unknown process");
        let pid = self.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        let what = match (&self.exception_type, &self.signal) {
            (Some(t), Some(s)) => format!("{t} ({s})"),
            (Some(t), None) => t.clone(),
            (None, Some(s)) => s.clone(),
            (None, None) => "no exception recorded".into(),
        };
        let codes = self
            .codes
            .as_ref()
            .map(|c| format!(", codes {c}"))
            .unwrap_or_default();
        out.push(format!("{who}{pid}: {what}{codes}"));
        match self.crashed_thread {
            Some(t) => out.push(format!("crashed thread {t}:")),
            None => out.push("no thread is marked as the crashed one".into()),
        }
        for (i, f) in self.frames.iter().enumerate() {
            let offset = f
                .image_offset
                .map(|o| format!(" + 0x{o:x}"))
                .unwrap_or_default();
            out.push(format!(
                "  {i} {} {}{offset}",
                f.image.as_deref().unwrap_or("???"),
                f.symbol.as_deref().unwrap_or("???")
            ));
        }
        out
    }

    fn is_crash_of(&self, names: &[String]) -> bool {
        // bug_type 309 is a crash (reference §6); a report that does not say is given the benefit of doubt.
        self.bug_type.as_deref().is_none_or(|b| b == "309")
            && self
                .process
                .as_deref()
                .is_some_and(|p| names.iter().any(|n| n == p))
    }
}

/// The newest `.ips` crash report in `dirs` of a process named one of `names`, modified at or after
/// `since`. Unreadable or malformed files are skipped (with a debug trace): a stranger's broken report
/// must not hide the dext's.
pub fn newest_report(dirs: &[PathBuf], names: &[String], since: SystemTime) -> Option<CrashReport> {
    let mut best: Option<(SystemTime, CrashReport)> = None;
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("ips") {
                continue;
            }
            let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            if modified < since || best.as_ref().is_some_and(|(t, _)| *t >= modified) {
                continue;
            }
            let report = crate::input::read_capped(&path, crate::input::CRASH)
                .map_err(|e| e.to_string())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .and_then(|t| parse(&path, &t).map_err(|e| e.to_string()));
            match report {
                Ok(r) if r.is_crash_of(names) => best = Some((modified, r)),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "skipped a crash report"),
            }
        }
    }
    best.map(|(_, r)| r)
}
