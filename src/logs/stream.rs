//! A running `log stream --style ndjson`: a child process, a thread that parses each line of its output into
//! the [`LogBuffer`] as it arrives, and, when the tool is missing or refuses (an exit status, a message on
//! stderr), one warning and a [`LogBuffer::trouble`] instead of lines. The run goes on either way.
//!
//! Generic over the program so the reader is tested on any machine (`/bin/sh` playing `log`); only the
//! macOS backend starts the real [`super::ndjson::LOG_TOOL`].

use super::crash::{self, CrashReport};
use super::{LogBuffer, LogCapture, ndjson};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// How late a line may reach us after its event: `log` batches its output. Not measured on a lab Mac yet;
/// 500 ms is a guess on the safe side.
pub const STREAM_LATENCY: Duration = Duration::from_millis(500);

/// How long to wait for the stream's first output line before going on without it.
pub const READY_WAIT: Duration = Duration::from_secs(3);

/// Where crash reports are looked for, and which process names are the dext's.
#[derive(Clone, Debug, Default)]
pub struct CrashSource {
    pub dirs: Vec<PathBuf>,
    pub process_names: Vec<String>,
}

pub struct LogStream {
    buffer: Arc<LogBuffer>,
    child: Option<Arc<Mutex<Child>>>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    crashes: CrashSource,
    latency: Duration,
}

impl LogStream {
    /// Start `program args..` and read its ndjson output; `prefix` tells the dext's lines from the kernel's.
    /// Never fails: a program that cannot start leaves a trouble in the buffer (and a warning).
    pub fn spawn(program: &Path, args: &[String], prefix: &str, crashes: CrashSource) -> LogStream {
        let buffer = Arc::new(LogBuffer::new());
        let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let shown = format!("{} {}", program.display(), args.join(" "));
        let mut stream = LogStream {
            buffer: Arc::clone(&buffer),
            child: None,
            stopping: Arc::clone(&stopping),
            crashes,
            latency: STREAM_LATENCY,
        };
        let spawned = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                trouble(&buffer, format!("cannot start `{shown}`: {e}"));
                return stream;
            }
        };
        let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            trouble(&buffer, format!("`{shown}` gave no output pipes"));
            return stream;
        };
        let child = Arc::new(Mutex::new(child));
        stream.child = Some(Arc::clone(&child));
        let errors = std::thread::Builder::new()
            .name("log-stream-stderr".into())
            .spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                text
            });
        let prefix = prefix.to_string();
        let (ready_tx, ready) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::Builder::new()
            .name("log-stream".into())
            .spawn(move || {
                let mut n = 0;
                for (i, line) in BufReader::new(stdout).lines().enumerate() {
                    let _ = ready_tx.send(());
                    let Ok(line) = line else { break };
                    match ndjson::parse_line(&line, "log stream", i + 1, &prefix) {
                        Ok(Some(l)) => {
                            n += 1;
                            buffer.push(l);
                        }
                        Ok(None) => {}
                        Err(e) => tracing::debug!(error = %e, "skipped a log stream line"),
                    }
                }
                if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let status = child.lock().unwrap_or_else(|p| p.into_inner()).wait();
                let said = errors.ok().and_then(|h| h.join().ok()).unwrap_or_default();
                let said = said.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                let status = match status {
                    Ok(s) => s.to_string(),
                    Err(e) => format!("cannot tell how it ended: {e}"),
                };
                let said = if said.is_empty() {
                    String::new()
                } else {
                    format!(": {said}")
                };
                trouble(
                    &buffer,
                    format!("`{shown}` stopped after {n} lines ({status}){said}"),
                );
            });
        match reader {
            // `log stream` prints its `Filtering the log data using ...` banner once it is streaming: wait
            // for it (or for the end), so a scenario's first step is not over before capture began.
            Ok(_) => {
                let _ = ready.recv_timeout(READY_WAIT);
            }
            Err(e) => stream
                .buffer
                .set_trouble(format!("cannot start the log reader thread: {e}")),
        }
        stream
    }

    /// How late lines may arrive (for tests that play `log` with a fixture).
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
}

/// Say once (as a warning) that the kernel and dext lines will be missing, and why.
fn trouble(buffer: &LogBuffer, why: String) {
    if buffer.trouble().is_none() {
        tracing::warn!("kernel and dext log lines are not captured: {why}");
    }
    buffer.set_trouble(why);
}

impl LogCapture for LogStream {
    fn buffer(&self) -> &LogBuffer {
        &self.buffer
    }

    fn latency(&self) -> Duration {
        self.latency
    }

    fn crash_report(&self, since: SystemTime, wait: Duration) -> Option<CrashReport> {
        if self.crashes.process_names.is_empty() {
            return None;
        }
        let until = std::time::Instant::now() + wait;
        // ReportCrash writes the file some time after the crash and nothing here can be told when: look
        // again every 200 ms, only after a crash was seen, never past `wait`.
        loop {
            let found =
                crash::newest_report(&self.crashes.dirs, &self.crashes.process_names, since);
            if found.is_some() || std::time::Instant::now() >= until {
                return found;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(child) = &self.child {
            let mut child = child.lock().unwrap_or_else(|p| p.into_inner());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
