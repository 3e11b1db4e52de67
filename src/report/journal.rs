//! The JSON Lines journal: one line per event, appended and written through as it happens, so a run that
//! is killed (or a Mac that panics) leaves every event up to the kill on disk. `dexthil report` reads it
//! back into the same [`RunEvent`]s the live reporters saw. The format is documented message by message
//! in docs/nightly.md.

use super::events::{EventKind, EventSink, RunEvent};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
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
    #[error("cannot write the journal {}: {message}; the run's record is incomplete (free space, or pass --journal with a writable path)", path.display())]
    Write { path: PathBuf, message: String },
    #[error("cannot read the journal {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A FIFO, a device, a directory or a file over the size cap (crate::input).
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
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

/// When a journal line is made durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Each line is written with one `write` and `fsync`ed before [`EventSink::event`] returns: a SIGKILL or
    /// a kernel panic loses at most the line being written. Costs one sync per event (milliseconds on some
    /// disks), on the thread that emits it.
    #[default]
    EveryEvent,
    /// Group commit: [`EventSink::event`] queues the event and returns; one writer thread serializes what is
    /// queued, writes it with one `write` and syncs it, while the next events queue up behind that sync.
    /// The end of a scenario, of a run, an interruption and a failed step wait until they are synced, so a
    /// kill loses at most the events of the step in flight, never a verdict already reported. Dropping the
    /// journal writes and syncs the rest.
    Batched,
}

/// The sink that writes the journal.
pub struct Journal {
    path: PathBuf,
    writer: Writer,
    /// The first write or sync error, kept so the run can end with exit 2 naming the file (issue 18).
    error: Arc<Mutex<Option<String>>>,
}

enum Writer {
    EveryEvent {
        file: Mutex<File>,
        /// Lines written since the last fsync (fuzz cases in batch durability skip it).
        unsynced: std::sync::atomic::AtomicU64,
    },
    Batched {
        queue: Arc<Queue>,
        thread: Option<std::thread::JoinHandle<()>>,
    },
}

/// What the batched writer shares with the threads that emit events.
struct Queue {
    state: Mutex<QueueState>,
    /// The writer waits here for events; emitters waiting for durability wait here for `synced`.
    changed: Condvar,
}

#[derive(Default)]
struct QueueState {
    pending: Vec<RunEvent>,
    /// Events handed to the writer so far, and how many of them are synced.
    queued: u64,
    synced: u64,
    /// The writer sleeps for new events (only then does an emitter need to wake it: no syscall otherwise).
    writer_idle: bool,
    /// Emitters waiting for `synced` to reach their event.
    waiting: usize,
    closing: bool,
}

impl Journal {
    /// Create (or append to) the journal at `path`, creating its directory; every event synced as it comes.
    pub fn create(path: &Path) -> Result<Journal, JournalError> {
        Self::create_with(path, Durability::EveryEvent)
    }

    /// [`Journal::create`] with a choice of when lines are made durable.
    pub fn create_with(path: &Path, durability: Durability) -> Result<Journal, JournalError> {
        let err = |source| JournalError::Create {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let file = super::open_out::open_for_writing(path, true).map_err(err)?;
        let error: Arc<Mutex<Option<String>>> = Arc::default();
        let writer = match durability {
            Durability::EveryEvent => Writer::EveryEvent {
                file: Mutex::new(file),
                unsynced: Default::default(),
            },
            Durability::Batched => {
                let queue = Arc::new(Queue {
                    state: Mutex::new(QueueState::default()),
                    changed: Condvar::new(),
                });
                let q = queue.clone();
                let shown = path.to_path_buf();
                let first_error = error.clone();
                let thread = std::thread::Builder::new()
                    .name("dexthil-journal".into())
                    .spawn(move || write_batches(&q, file, &shown, &first_error))
                    .map_err(err)?;
                Writer::Batched {
                    queue,
                    thread: Some(thread),
                }
            }
        };
        Ok(Journal {
            path: path.to_path_buf(),
            writer,
            error,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Make everything written so far durable and say whether every line reached the file: the first write
    /// or sync error since the journal was created, with the file named.
    pub fn finish(&self) -> Result<(), JournalError> {
        match &self.writer {
            Writer::EveryEvent { file, .. } => {
                let mut file = lock(file);
                if let Err(e) = file.flush().and_then(|()| file.sync_data()) {
                    note_error(&self.error, &self.path, &e);
                }
            }
            Writer::Batched { queue, .. } => {
                let mut st = lock(&queue.state);
                let mine = st.queued;
                st.waiting += 1;
                while st.synced < mine {
                    st = queue.changed.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                st.waiting -= 1;
            }
        }
        match lock(&self.error).clone() {
            None => Ok(()),
            Some(message) => Err(JournalError::Write {
                path: self.path.clone(),
                message,
            }),
        }
    }
}

/// Events after which the batched journal waits until they are on disk: a verdict, the end of a run, a
/// signal, a failed step (what a report of a killed run must not lose).
fn must_be_durable(kind: &EventKind) -> bool {
    match kind {
        EventKind::ScenarioFinished { .. }
        | EventKind::RunFinished { .. }
        | EventKind::Interrupted { .. }
        | EventKind::HealthChecked { .. }
        | EventKind::ScenarioRetried { .. }
        | EventKind::ScenarioSkipped { .. } => true,
        EventKind::StepFinished { outcome, .. } => {
            matches!(outcome, super::events::StepOutcome::Failed(_))
        }
        // A finding is what a fuzz run exists for; its end closes the run's account.
        EventKind::FuzzFinding { .. } | EventKind::FuzzFinished { .. } => true,
        // A case asking for per-case durability waits for the disk before it runs.
        EventKind::FuzzCase { sync, .. } => *sync,
        EventKind::RunStarted { .. }
        | EventKind::ScenarioStarted { .. }
        | EventKind::StepStarted { .. }
        | EventKind::LogLine { .. } => false,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keep the first write error (later ones follow from it) and log it once.
fn note_error(first: &Mutex<Option<String>>, path: &Path, e: &std::io::Error) {
    let mut first = lock(first);
    if first.is_none() {
        tracing::error!(journal = %path.display(), error = %e, "writing the journal failed; later events may be missing");
        *first = Some(e.to_string());
    }
}

/// The batched journal's writer: take everything queued, write it in one go, sync, repeat.
fn write_batches(q: &Queue, mut file: File, path: &Path, first_error: &Mutex<Option<String>>) {
    let mut text = String::new();
    loop {
        let (batch, upto) = {
            let mut st = lock(&q.state);
            while st.pending.is_empty() && !st.closing {
                st.writer_idle = true;
                st = q.changed.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            st.writer_idle = false;
            if st.pending.is_empty() {
                return;
            }
            (std::mem::take(&mut st.pending), st.queued)
        };
        text.clear();
        for event in &batch {
            text.push_str(&to_line(event));
            text.push('\n');
        }
        let r = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_data());
        if let Err(e) = r {
            note_error(first_error, path, &e);
        }
        let mut st = lock(&q.state);
        st.synced = upto;
        if st.waiting > 0 {
            q.changed.notify_all();
        }
    }
}

/// One event as its journal line (without the newline).
pub fn to_line(event: &RunEvent) -> String {
    let line = LineRef {
        v: JOURNAL_VERSION,
        elapsed: event.elapsed,
        kind: &event.kind,
    };
    // Every field is a string, number, bool, list or map: serializing cannot fail.
    serde_json::to_string(&line).unwrap_or_default()
}

/// One journal line read back: the inverse of [`to_line`] (an isolated scenario's child process streams
/// its events to the parent in this form). The error says what is wrong with the line.
pub fn from_line(text: &str) -> Result<RunEvent, String> {
    let line: Line = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if line.v != JOURNAL_VERSION {
        return Err(format!(
            "journal format version {}; this dexthil reads version {JOURNAL_VERSION}",
            line.v
        ));
    }
    Ok(RunEvent {
        elapsed: line.elapsed,
        kind: line.kind,
    })
}

/// How many unsynced fuzz-case lines the journal lets pass before an fsync (batch durability).
pub const FUZZ_SYNC_EVERY: u64 = 256;

/// Whether this event's line must be fsynced now. Every event is, except fuzz cases in batch durability
/// (tens of thousands a minute): those are written at once (a SIGKILL loses none) and fsynced every
/// [`FUZZ_SYNC_EVERY`] lines, and the next other event (a finding, the end) fsyncs them all.
fn must_sync(kind: &EventKind, unsynced: u64) -> bool {
    match kind {
        EventKind::FuzzCase { sync, .. } => *sync || unsynced + 1 >= FUZZ_SYNC_EVERY,
        _ => true,
    }
}

/// [`Line`] borrowing its event, so writing a line copies nothing.
#[derive(Serialize)]
struct LineRef<'a> {
    v: u32,
    elapsed: Duration,
    #[serde(flatten)]
    kind: &'a EventKind,
}

impl EventSink for Journal {
    fn event(&self, event: &RunEvent) {
        match &self.writer {
            Writer::EveryEvent { file, unsynced } => {
                let mut text = to_line(event);
                text.push('\n');
                let mut file = lock(file);
                // One write per line on an unbuffered file: the line reaches the kernel before the next event,
                // so a SIGKILL loses nothing already reported. `sync_data` would also survive a kernel panic;
                // a lab Mac that panics is exactly when the journal matters.
                let before = unsynced.load(Ordering::Relaxed);
                let sync = must_sync(&event.kind, before);
                unsynced.store(if sync { 0 } else { before + 1 }, Ordering::Relaxed);
                let r = file.write_all(text.as_bytes()).and_then(|()| file.flush());
                let r = if sync {
                    r.and_then(|()| file.sync_data())
                } else {
                    r
                };
                if let Err(e) = r {
                    note_error(&self.error, &self.path, &e);
                }
            }
            Writer::Batched { queue, .. } => {
                let durable = must_be_durable(&event.kind);
                let mut st = lock(&queue.state);
                st.pending.push(event.clone());
                st.queued += 1;
                let mine = st.queued;
                // Only a sleeping writer needs a wake-up (a syscall); a busy one takes this with its next batch.
                if st.writer_idle {
                    st.writer_idle = false;
                    queue.changed.notify_all();
                }
                if durable {
                    st.waiting += 1;
                    while st.synced < mine {
                        st = queue.changed.wait(st).unwrap_or_else(|p| p.into_inner());
                    }
                    st.waiting -= 1;
                }
            }
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Writer::Batched { queue, thread } = &mut self.writer {
            lock(&queue.state).closing = true;
            queue.changed.notify_all();
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
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
    let bytes = crate::input::read_capped(path, crate::input::JOURNAL)?;
    let text = String::from_utf8(bytes).map_err(|e| JournalError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
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
                    // serde_json ends its message with ` at line L column C`; the place is said already.
                    message: match e.to_string().rsplit_once(" at line ") {
                        Some((m, _)) => m.to_string(),
                        None => e.to_string(),
                    },
                });
            }
        }
    }
    Ok(JournalRead { events, truncated })
}

/// `target/dexthil/journal-20260504T020000Z.jsonl` for a run starting now.
pub fn default_path() -> PathBuf {
    let stamp = super::utc::compact(std::time::SystemTime::now());
    PathBuf::from("target/dexthil").join(format!("journal-{stamp}.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioreturn::ReturnCode;
    use crate::report::events::{Failure, FailureClass, StepOutcome, Verdict};
    use crate::report::provenance::{PrinterInfo, Provenance};
    use crate::span::Span;
    use std::sync::Arc;

    fn span() -> Span {
        Span::new(Arc::new(PathBuf::from("scenarios/x.yaml")), 14, 5)
    }

    fn failure() -> Failure {
        Failure {
            class: FailureClass::Driver,
            message: "GetStatus answered kIOReturnBusy".into(),
            expected: Some("kIOReturnSuccess (0x00000000)".into()),
            actual: Some("kIOReturnBusy (0xE00002D5)".into()),
            code: Some(ReturnCode(0xE000_02D5)),
        }
    }

    /// One of every event kind; a new kind must be added here (the match below has no catch-all).
    fn every_kind() -> Vec<EventKind> {
        let kinds = vec![
            EventKind::RunStarted {
                lab: "sim".into(),
                scenarios: 2,
                provenance: Provenance {
                    host_os: "macOS".into(),
                    printers: vec![PrinterInfo {
                        role: "ds620".into(),
                        firmware: "DS620 01.20".into(),
                        ..PrinterInfo::default()
                    }],
                    ..Provenance::default()
                },
                selected: vec!["a".into(), "b".into()],
            },
            EventKind::ScenarioStarted {
                scenario: "a".into(),
                file: "scenarios/x.yaml".into(),
            },
            EventKind::StepStarted {
                scenario: "a".into(),
                step: "4.2.1".into(),
                span: span(),
                summary: "call GetStatus on uc".into(),
            },
            EventKind::StepFinished {
                scenario: "a".into(),
                step: "4.2.1".into(),
                span: span(),
                summary: "call GetStatus on uc".into(),
                outcome: StepOutcome::Failed(failure()),
                took: Duration::from_micros(40),
            },
            EventKind::StepFinished {
                scenario: "a".into(),
                step: "1".into(),
                span: span(),
                summary: "close uc".into(),
                outcome: StepOutcome::Passed {
                    detail: "ok".into(),
                },
                took: Duration::from_micros(4),
            },
            EventKind::ScenarioFinished {
                scenario: "a".into(),
                verdict: Verdict::Failed {
                    span: span(),
                    failure: failure(),
                },
                took: Duration::from_millis(3),
            },
            EventKind::ScenarioFinished {
                scenario: "b".into(),
                verdict: Verdict::Passed,
                took: Duration::from_millis(3),
            },
            EventKind::RunFinished {
                passed: 1,
                failed: 1,
                lab_errors: 0,
                took: Duration::from_secs(1),
                flaky: 0,
                interrupted: false,
                skipped: 2,
            },
            EventKind::HealthChecked {
                station: "lab-mac-1".into(),
                problems: vec!["printer `cx02` is not on the USB bus".into()],
            },
            EventKind::ScenarioRetried {
                scenario: "b".into(),
                attempt: 1,
                failure: Failure {
                    class: FailureClass::Lab,
                    ..failure()
                },
            },
            EventKind::Interrupted {
                signal: "SIGTERM".into(),
            },
            EventKind::ScenarioSkipped {
                scenario: "c".into(),
                file: "scenarios/c.yaml".into(),
                reason: "not for this station: no printer serves role `p` (model CX-02)".into(),
            },
            EventKind::LogLine {
                scenario: "a".into(),
                step: "2".into(),
                at: "2025-03-14 09:26:53.401122-0700".into(),
                source: crate::logs::LineSource::Kernel,
                text: "DK: DNPPrinterDriver-0x100000a12:UC failed userclient-access check".into(),
            },
            EventKind::FuzzCase {
                case: 7,
                step: 1,
                shrinking: false,
                sync: true,
                op: crate::fuzz::FuzzOp::Open,
            },
            EventKind::FuzzFinding {
                seed: 42,
                case: 9,
                ops: vec![crate::fuzz::FuzzOp::Open, crate::fuzz::FuzzOp::Close],
                step: 1,
                message: "the dext crashed".into(),
                expected: "kIOReturnSuccess".into(),
                actual: "MACH_SEND_INVALID_DEST".into(),
                scenario: Some("scenarios/field-bugs/x.yaml".into()),
            },
            EventKind::FuzzFinished {
                seed: 42,
                cases: 10,
                ops: 30,
                findings: 1,
                took: Duration::from_millis(5),
            },
        ];
        for k in &kinds {
            match k {
                EventKind::RunStarted { .. }
                | EventKind::ScenarioStarted { .. }
                | EventKind::StepStarted { .. }
                | EventKind::StepFinished { .. }
                | EventKind::ScenarioFinished { .. }
                | EventKind::RunFinished { .. }
                | EventKind::HealthChecked { .. }
                | EventKind::ScenarioRetried { .. }
                | EventKind::Interrupted { .. }
                | EventKind::ScenarioSkipped { .. }
                | EventKind::LogLine { .. }
                | EventKind::FuzzCase { .. }
                | EventKind::FuzzFinding { .. }
                | EventKind::FuzzFinished { .. } => {}
            }
        }
        kinds
    }

    #[test]
    fn every_event_survives_a_round_trip_through_a_journal_line() {
        for kind in every_kind() {
            let event = RunEvent {
                elapsed: Duration::from_nanos(1_234_567),
                kind,
            };
            let line = to_line(&event);
            assert!(!line.contains('\n'), "{line}");
            assert_eq!(from_line(&line).as_ref(), Ok(&event), "{line}");
            let back: Line = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(back.v, JOURNAL_VERSION);
            assert_eq!(
                RunEvent {
                    elapsed: back.elapsed,
                    kind: back.kind
                },
                event,
                "{line}"
            );
        }
    }

    #[test]
    fn a_batched_journal_holds_every_event_in_order_and_a_verdict_is_on_disk_when_reported() {
        let dir = std::env::temp_dir().join(format!("dexthil-journal-b-{}", std::process::id()));
        let path = dir.join("batched.jsonl");
        let _ = std::fs::remove_file(&path);
        let journal = Journal::create_with(&path, Durability::Batched).unwrap();
        let events: Vec<RunEvent> = every_kind()
            .into_iter()
            .enumerate()
            .map(|(i, kind)| RunEvent {
                elapsed: Duration::from_millis(i as u64),
                kind,
            })
            .collect();
        let verdict = events
            .iter()
            .position(|e| matches!(e.kind, EventKind::ScenarioFinished { .. }))
            .unwrap();
        for (i, e) in events.iter().enumerate() {
            journal.event(e);
            if i == verdict {
                let on_disk = read_journal(&path).unwrap().events;
                assert_eq!(
                    on_disk,
                    events[..=i],
                    "a verdict is written before the sink returns"
                );
            }
        }
        drop(journal);
        let read = read_journal(&path).unwrap();
        assert_eq!(read.events, events, "dropping the journal writes the rest");
        assert_eq!(read.truncated, None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error_with_its_place_and_a_cut_last_line_is_not() {
        let dir = std::env::temp_dir().join(format!("dexthil-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = to_line(&RunEvent {
            elapsed: Duration::ZERO,
            kind: EventKind::Interrupted {
                signal: "SIGINT".into(),
            },
        });
        let cut = dir.join("cut.jsonl");
        std::fs::write(&cut, format!("{good}\n{{\"v\":1,\"ela")).unwrap();
        let read = read_journal(&cut).unwrap();
        assert_eq!(read.events.len(), 1);
        assert!(read.truncated.unwrap().contains("cut.jsonl:2:"));

        let bad = dir.join("bad.jsonl");
        std::fs::write(&bad, format!("{good}\n{{\"v\":1}}\n{good}\n")).unwrap();
        let err = read_journal(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.jsonl:2:"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
