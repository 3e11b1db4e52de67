//! The JSON Lines journal: one line per event, appended and written through as it happens, so a run that
//! is killed (or a Mac that panics) leaves every event up to the kill on disk. `dexthil report` reads it
//! back into the same [`RunEvent`]s the live reporters saw. The format is documented message by message
//! in docs/nightly.md.

use super::events::{EventKind, EventSink, RunEvent};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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

/// When a journal line is made durable (reaches the disk, not only the page cache). Every line is written
/// with one `write` as its event comes in either way, so a killed process loses nothing already reported:
/// the page cache outlives the process. The choice is what a kernel panic or a power loss can take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// The default: `fsync` at each verdict (the end of a scenario, of a run, a failed step, a retry, an
    /// interruption, the health check, a fuzz finding and the end of a fuzz run) and otherwise at most
    /// every [`SYNC_INTERVAL`], on the next event after it has passed. A panic loses at most the events of
    /// the last [`SYNC_INTERVAL`] before the last event written, never a verdict already reported.
    #[default]
    Verdicts,
    /// `fsync` after every event, so each lab operation's line is on disk before the operation runs
    /// (`--durability case`, for hunting kernel panics): a panic loses at most the line being written.
    /// Costs one sync per event (0.5 to 4 ms on the disks measured, BENCHMARKS.md).
    EveryEvent,
}

impl From<crate::scenario::Durability> for Durability {
    fn from(d: crate::scenario::Durability) -> Self {
        match d {
            crate::scenario::Durability::Case => Durability::EveryEvent,
            crate::scenario::Durability::Batch => Durability::Verdicts,
        }
    }
}

pub use super::syncer::SYNC_INTERVAL;
use super::syncer::Syncer;

/// The sink that writes the journal.
pub struct Journal {
    path: PathBuf,
    durability: Durability,
    file: Arc<File>,
    state: Mutex<WriteState>,
    /// Syncs what is not a verdict at most every [`SYNC_INTERVAL`], off the emitting thread
    /// ([`Durability::Verdicts`]; `None` with [`Durability::EveryEvent`], or without a thread to run it).
    syncer: Option<Syncer>,
    /// The first write or sync error, kept so the run can end with exit 2 naming the file (issue 18).
    error: Arc<Mutex<Option<String>>>,
}

struct WriteState {
    /// One line's text, kept between events so writing one allocates nothing.
    line: Vec<u8>,
    /// Without a sync thread: lines written since the last sync, and when that sync was.
    unsynced: bool,
    synced_at: Instant,
}

impl Journal {
    /// Create (or append to) the journal at `path`, creating its directory, with the default durability.
    pub fn create(path: &Path) -> Result<Journal, JournalError> {
        Self::create_with(path, Durability::default())
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
        let file = Arc::new(super::open_out::open_for_writing(path, true).map_err(err)?);
        let error: Arc<Mutex<Option<String>>> = Arc::default();
        let syncer = match durability {
            Durability::Verdicts => Syncer::start(file.clone(), path, error.clone()),
            Durability::EveryEvent => None,
        };
        Ok(Journal {
            path: path.to_path_buf(),
            durability,
            file,
            syncer,
            error,
            state: Mutex::new(WriteState {
                line: Vec::with_capacity(512),
                unsynced: false,
                synced_at: Instant::now(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Make everything written so far durable and say whether every line reached the file: the first write
    /// or sync error since the journal was created, with the file named.
    pub fn finish(&self) -> Result<(), JournalError> {
        let st = lock(&self.state);
        if let Err(e) = self.file.sync_data() {
            note_error(&self.error, &self.path, &e);
        }
        drop(st);
        match lock(&self.error).clone() {
            None => Ok(()),
            Some(message) => Err(JournalError::Write {
                path: self.path.clone(),
                message,
            }),
        }
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }
}

/// Events that are on disk before the sink returns whatever the durability: what a report of a run cut short
/// by a panic must not lose (a verdict, the end of a run, a signal, a failed step, a finding).
fn is_verdict(kind: &EventKind) -> bool {
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
        EventKind::FuzzFinding { .. } | EventKind::FuzzFinished { .. } => true,
        // A case asking for per-case durability (`--durability case`) is on disk before it runs.
        EventKind::FuzzCase { sync, .. } => *sync,
        EventKind::FuzzCoverage { .. }
        | EventKind::RunStarted { .. }
        | EventKind::ScenarioStarted { .. }
        | EventKind::StepStarted { .. }
        | EventKind::LogLine { .. } => false,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keep the first write error (later ones follow from it) and log it once.
pub(super) fn note_error(first: &Mutex<Option<String>>, path: &Path, e: &std::io::Error) {
    let mut first = lock(first);
    if first.is_none() {
        tracing::error!(journal = %path.display(), error = %e, "writing the journal failed; later events may be missing");
        *first = Some(e.to_string());
    }
}

/// The batched journal's writer: take everything queued, write it in one go, sync, repeat.
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
        self.events(std::slice::from_ref(event));
    }

    /// Events that happened together go out in one `write`: each still reaches the kernel the moment it
    /// is reported, with one syscall instead of one per event.
    fn events(&self, events: &[RunEvent]) {
        let mut st = lock(&self.state);
        let WriteState {
            line,
            unsynced,
            synced_at,
        } = &mut *st;
        line.clear();
        for event in events {
            let _ = serde_json::to_writer(
                &mut *line,
                &LineRef {
                    v: JOURNAL_VERSION,
                    elapsed: event.elapsed,
                    kind: &event.kind,
                },
            );
            line.push(b'\n');
        }
        // One write on an unbuffered file: the lines reach the kernel before the next event, so a SIGKILL
        // loses nothing already reported. `sync_data` also survives a kernel panic; a lab Mac that panics is
        // exactly when the journal matters, so verdicts always get one before the sink returns.
        let mut r = (&*self.file).write_all(line);
        let verdict = events.iter().any(|e| is_verdict(&e.kind));
        let sync = match (self.durability, &self.syncer) {
            (Durability::EveryEvent, _) => true,
            (Durability::Verdicts, _) if verdict => true,
            (Durability::Verdicts, Some(s)) => {
                s.written();
                false
            }
            (Durability::Verdicts, None) => synced_at.elapsed() >= SYNC_INTERVAL,
        };
        if sync {
            r = r.and_then(|()| self.file.sync_data());
            *unsynced = false;
            *synced_at = Instant::now();
            if let Some(s) = &self.syncer {
                s.synced();
            }
        } else {
            *unsynced = true;
        }
        if let Err(e) = r {
            note_error(&self.error, &self.path, &e);
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // The syncer's own drop syncs what it was told about; without one, sync here.
        if self.syncer.take().is_none() && lock(&self.state).unsynced {
            let _ = self.file.sync_data();
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
                provenance: Box::new(Provenance {
                    host_os: "macOS".into(),
                    printers: vec![PrinterInfo {
                        role: "ds620".into(),
                        firmware: "DS620 01.20".into(),
                        ..PrinterInfo::default()
                    }],
                    ..Provenance::default()
                }),
                selected: vec!["a".into(), "b".into()],
                nothing_to_run: None,
            },
            EventKind::RunStarted {
                lab: "sim".into(),
                scenarios: 0,
                provenance: Box::default(),
                selected: vec![],
                nothing_to_run: Some(crate::report::NothingToRun::Partition {
                    reason: "--partition hash:2/3 took none of the 4 selected".into(),
                }),
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
                op: super::super::fuzz_op::FuzzOp::Open,
            },
            EventKind::FuzzFinding {
                signature: "`Struct` valid: kIOReturnNoMemory".into(),
                seed: 42,
                case: 9,
                ops: vec![
                    super::super::fuzz_op::FuzzOp::Open,
                    super::super::fuzz_op::FuzzOp::Close,
                ],
                step: 1,
                message: "the dext crashed".into(),
                expected: "kIOReturnSuccess".into(),
                actual: "MACH_SEND_INVALID_DEST".into(),
                scenario: Some("scenarios/field-bugs/x.yaml".into()),
            },
            EventKind::FuzzCoverage {
                rows: vec![crate::report::events::CoverageRow {
                    selector: "CheckedStruct".into(),
                    shape: "near miss: struct input size".into(),
                    answer: "kIOReturnBadArgument".into(),
                    count: 17,
                }],
            },
            EventKind::FuzzFinished {
                seed: 42,
                cases: 10,
                generated: 8,
                ended: "budget".into(),
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
                | EventKind::FuzzCoverage { .. }
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
    fn every_event_is_in_the_file_when_the_sink_returns_in_either_durability() {
        for durability in [Durability::Verdicts, Durability::EveryEvent] {
            every_event_is_written_at_once(durability);
        }
    }

    fn every_event_is_written_at_once(durability: Durability) {
        let dir = std::env::temp_dir().join(format!(
            "dexthil-journal-b-{}-{durability:?}",
            std::process::id()
        ));
        let path = dir.join("written.jsonl");
        let _ = std::fs::remove_file(&path);
        let journal = Journal::create_with(&path, durability).unwrap();
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
        assert!(verdict > 0);
        for (i, e) in events.iter().enumerate() {
            journal.event(e);
            // What a killed process leaves: the file as the kernel has it, without the journal's drop.
            let on_disk = read_journal(&path).unwrap().events;
            assert_eq!(on_disk, events[..=i], "event {i} is in the file at once");
        }
        // Events that happened together go out as one batch: all of them in the file when it returns.
        let before = read_journal(&path).unwrap().events.len();
        journal.events(&events[..3]);
        let on_disk = read_journal(&path).unwrap().events;
        assert_eq!(
            on_disk[before..],
            events[..3],
            "a batch is in the file at once, in order"
        );
        drop(journal);
        let read = read_journal(&path).unwrap();
        assert_eq!(read.events[..events.len()], events[..]);
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
