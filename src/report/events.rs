//! The whole interface between the engine and whoever shows or stores a run: typed events.
//!
//! The engine calls an [`EventSink`] and never knows who listens. Each sink matches every [`EventKind`]
//! with no catch-all arm, so a new event forces every sink to decide what to do with it.

use super::provenance::Provenance;
use crate::ioreturn::ReturnCode;
use crate::span::Span;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    /// Since the run started.
    pub elapsed: Duration,
    pub kind: EventKind,
}

/// Why a run had no scenario to run, by who is to answer for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "because", rename_all = "snake_case")]
pub enum NothingToRun {
    /// The paths, filter, tags or the station left nothing: a typo must not pass a gate (exit 2).
    Refused { reason: String },
    /// As `Refused`, but the run was told to accept it (`--allow-empty`): a pass.
    Allowed { reason: String },
    /// `--partition` gave this shard none of a selection that holds scenarios: the shard passes, and a
    /// merge passes only if another shard ran something.
    Partition { reason: String },
}

impl NothingToRun {
    pub fn reason(&self) -> &str {
        match self {
            NothingToRun::Refused { reason }
            | NothingToRun::Allowed { reason }
            | NothingToRun::Partition { reason } => reason,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    RunStarted {
        lab: String,
        scenarios: usize,
        /// Where the run happened and what it ran against (JUnit properties). Boxed: it is most of this
        /// once-per-run event, and every other event (a dozen per call step) would carry its size.
        #[serde(default)]
        provenance: Box<Provenance>,
        /// The names of the selected scenarios, in order: a report of a killed run lists those never started.
        #[serde(default)]
        selected: Vec<String>,
        /// Set when the run has no scenario to run: why, and whether that passes (a merge of shards needs it
        /// to tell "this Mac had nothing to do" from "this Mac ran nothing by mistake").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nothing_to_run: Option<NothingToRun>,
    },
    ScenarioStarted {
        scenario: Arc<str>,
        file: String,
    },
    StepStarted {
        scenario: Arc<str>,
        /// Position in the scenario, `3` or `4.2.1` inside repeats (iteration and inner index).
        step: Arc<str>,
        #[serde(serialize_with = "ser_span", deserialize_with = "de_span")]
        span: Span,
        summary: Arc<str>,
    },
    StepFinished {
        scenario: Arc<str>,
        step: Arc<str>,
        #[serde(serialize_with = "ser_span", deserialize_with = "de_span")]
        span: Span,
        summary: Arc<str>,
        outcome: StepOutcome,
        took: Duration,
    },
    ScenarioFinished {
        scenario: Arc<str>,
        verdict: Verdict,
        took: Duration,
    },
    RunFinished {
        passed: usize,
        failed: usize,
        lab_errors: usize,
        took: Duration,
        /// Scenarios that passed only on a retry of an infrastructure failure.
        #[serde(default)]
        flaky: usize,
        /// A signal stopped the run before every scenario had started.
        #[serde(default)]
        interrupted: bool,
        /// Selected scenarios not run on purpose (not for this station, not applicable to a recording).
        #[serde(default)]
        skipped: usize,
    },
    /// The station's health check, before any scenario: every printer present and its dext matched.
    HealthChecked {
        station: String,
        /// What is missing, one line each; empty when healthy.
        problems: Vec<String>,
    },
    /// An attempt of a scenario failed for an infrastructure reason and the scenario runs again.
    ScenarioRetried {
        scenario: Arc<str>,
        /// The attempt that failed (1 is the first run).
        attempt: u32,
        failure: Failure,
    },
    /// A selected scenario this run does not run, and why (`not for this station: ...`): a station runs only
    /// the scenarios whose printer roles it can serve. Reported as skipped, never as a failure.
    ScenarioSkipped {
        scenario: Arc<str>,
        file: String,
        reason: String,
    },
    /// SIGINT or SIGTERM: no new scenario starts; running ones stop before their next step (a `sleep` at
    /// once) and close their connections.
    Interrupted {
        signal: String,
    },
    /// A line the kernel or the dext logged (or a crash report's summary) while `step` ran. Sent before
    /// that step's `StepFinished`, in arrival order; a scenario's lines together are its system-out.
    LogLine {
        scenario: Arc<str>,
        step: Arc<str>,
        /// The line's own timestamp, as its source wrote it.
        at: Arc<str>,
        source: crate::logs::LineSource,
        text: Arc<str>,
    },
    /// The fuzzer is about to run one operation of a case: written before it runs, so a killed run's
    /// journal ends with the operation that was running. `sync`: the line was fsynced too
    /// (`--durability case`); otherwise the journal fsyncs every few hundred cases (docs/fuzz.md).
    FuzzCase {
        /// Counts every case run, shrinking attempts too.
        case: u64,
        /// The operation's place in its case, from 0.
        step: u32,
        /// The case is a simplification of a failing one.
        shrinking: bool,
        #[serde(default)]
        sync: bool,
        op: super::fuzz_op::FuzzOp,
    },
    /// A case broke an invariant. Sent once per distinct finding, after shrinking: `ops` is the minimal case
    /// and `step` the operation that broke it; `signature` what makes it distinct (selector, shape class,
    /// answer or broken invariant: later cases with the same signature are counted, not reported again).
    FuzzFinding {
        #[serde(default)]
        signature: String,
        seed: u64,
        case: u64,
        ops: Vec<super::fuzz_op::FuzzOp>,
        step: u32,
        message: String,
        expected: String,
        actual: String,
        /// The scenario written for it, if any.
        scenario: Option<String>,
    },
    /// What the fuzzer's calls covered, sent once before [`EventKind::FuzzFinished`]: a count per selector,
    /// shape class and answer (for the closing summary and the HTML report).
    FuzzCoverage {
        rows: Vec<CoverageRow>,
    },
    /// The fuzzer stopped: all cases run, the budget spent, or a finding with `--stop-at-first`.
    FuzzFinished {
        seed: u64,
        /// Cases run, shrinking attempts included.
        cases: u64,
        /// Cases generated (without shrinking attempts).
        #[serde(default)]
        generated: u64,
        /// Why it stopped: `all cases`, `budget` or `first finding` (`--stop-at-first`).
        #[serde(default)]
        ended: String,
        ops: u64,
        findings: usize,
        took: Duration,
    },
}

/// One cell of a fuzz run's coverage table: how many calls of `selector` in `shape` got `answer`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CoverageRow {
    /// The selector's name from the driver file (`#7` for one past the table).
    pub selector: String,
    /// `valid`, `near miss: struct input size`, `past the table`, `closed connection`.
    pub shape: String,
    /// The answer's name (`kIOReturnBadArgument`), or `no answer` for a hang.
    pub answer: String,
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StepOutcome {
    Passed { detail: String },
    Failed(Failure),
}

/// Why a step failed, with what a person needs to see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Is this the driver's fault (1) or the lab's (2)?
    pub class: FailureClass,
    pub message: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// Codes involved, decoded once here so every reporter shows the same.
    pub code: Option<ReturnCode>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// An expectation the driver broke.
    Driver,
    /// The lab could not do what the step needed (printer missing, backend cannot).
    Lab,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed {
        #[serde(serialize_with = "ser_span", deserialize_with = "de_span")]
        span: Span,
        failure: Failure,
    },
}

/// `file:line:col` back into a span (the file may itself hold colons).
fn de_span<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
    let text = String::deserialize(d)?;
    parse_span(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "`{text}` is not a place of the form file:line:column"
        ))
    })
}

pub fn parse_span(text: &str) -> Option<Span> {
    let mut parts = text.rsplitn(3, ':');
    let column = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    let file = parts.next()?;
    Some(Span::new(
        std::sync::Arc::new(std::path::PathBuf::from(file)),
        line,
        column,
    ))
}

fn ser_span<S: serde::Serializer>(span: &Span, s: S) -> Result<S::Ok, S::Error> {
    // Straight into the output (serde_json escapes as it goes), not through a `String` per event.
    s.collect_str(span)
}

/// A listener for run events.
pub trait EventSink: Send + Sync {
    fn event(&self, event: &RunEvent);

    /// Events that happened together (a step's log lines and its end, and the next step's start: produced
    /// in one moment with no lab operation between them), in order. A sink that writes may write them with one syscall (the
    /// journal does); the default takes them one by one. Forwarding sinks must forward this, not
    /// [`EventSink::event`] per event, or the batch is lost on the way.
    fn events(&self, events: &[RunEvent]) {
        for e in events {
            self.event(e);
        }
    }
}
