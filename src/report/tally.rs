//! The state of a run as its events tell it: each scenario's outcome (passed, failed, flaky, interrupted,
//! never started), the provenance, the health check. Built live by a sink (for JUnit on a signal) or from a
//! journal read back (`dexthil report`), so both give the same answer.

use super::events::{EventKind, EventSink, Failure, FailureClass, RunEvent, StepOutcome, Verdict};
use super::provenance::Provenance;
use crate::span::Span;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A log line captured while a step ran, kept as it came (shared, not copied) and written out only when a
/// report shows it: `2.1: 09:26:53.401122 kernel DK: ...`.
#[derive(Clone, Debug, PartialEq)]
pub struct CapturedLine {
    pub step: Arc<str>,
    pub at: Arc<str>,
    pub source: crate::logs::LineSource,
    pub text: Arc<str>,
}

impl std::fmt::Display for CapturedLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = super::console::log_line_text(&self.at, self.source, &self.text);
        write!(f, "{}: {line}", self.step)
    }
}

impl ScenarioRecord {
    /// The captured log lines, one per line of text (JUnit system-out, the HTML report).
    pub fn log_text(&self) -> String {
        let mut out = String::new();
        for (i, line) in self.logs.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let _ = std::fmt::Write::write_fmt(&mut out, format_args!("{line}"));
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Passed,
    Failed {
        span: Span,
        failure: Failure,
        /// `3 call GetStatus on uc`: the step that failed, as the console named it.
        step: Option<String>,
    },
    /// Started and never finished: the run was killed or stopped in it.
    Interrupted {
        /// The step that had started and not finished, if any.
        step: Option<String>,
    },
    /// Selected, never started.
    NotRun,
    /// Not run on purpose (`not for this station: ...`): neither a pass nor a failure.
    Skipped {
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioRecord {
    pub name: String,
    pub file: String,
    pub status: Status,
    pub took: Duration,
    /// Infrastructure failures of earlier attempts (retried).
    pub retried: Vec<Failure>,
    /// Kernel and dext log lines captured during the scenario (each shows as `step: time source text`).
    pub logs: Vec<CapturedLine>,
    /// When it (last) started, since the run started.
    pub started: Option<Duration>,
    /// Each finished `call` step's time, by the step's YAML place (`file:line:col`): latency percentiles of
    /// repeated calls in the HTML report, call-time regressions in `compare`.
    pub call_times: Vec<(Span, Duration)>,
    /// Steps started and not yet finished (a repeat and its inner step), innermost last: number and
    /// summary. While a scenario runs its status says only "interrupted"; which step is filled in from this
    /// when the record is read ([`RunRecord::settled`]), not on every step.
    running: Vec<(Arc<str>, Arc<str>)>,
    first_failed_step: Option<String>,
}

impl ScenarioRecord {
    fn new(name: &str, file: &str) -> Self {
        ScenarioRecord {
            name: name.into(),
            file: file.into(),
            status: Status::NotRun,
            took: Duration::ZERO,
            retried: Vec::new(),
            logs: Vec::new(),
            started: None,
            call_times: Vec::new(),
            running: Vec::new(),
            first_failed_step: None,
        }
    }

    /// Passed only after an infrastructure failure was retried.
    pub fn flaky(&self) -> bool {
        self.status == Status::Passed && !self.retried.is_empty()
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunRecord {
    pub lab: String,
    pub provenance: Provenance,
    pub scenarios: Vec<ScenarioRecord>,
    /// Station name and the problems found.
    pub health: Option<(String, Vec<String>)>,
    /// `Some` once `run_finished` was seen.
    pub finished: Option<Duration>,
    pub interrupted_by: Option<String>,
    /// Elapsed time of the last event seen.
    pub last_elapsed: Duration,
    /// Why the run had no scenario to run, when it had none.
    pub nothing_to_run: Option<super::events::NothingToRun>,
}

/// Counts for a summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub flaky: usize,
    pub driver_failed: usize,
    pub lab_failed: usize,
    pub interrupted: usize,
    pub not_run: usize,
    pub skipped: usize,
}

impl RunRecord {
    pub fn from_events(events: &[RunEvent]) -> RunRecord {
        let mut r = RunRecord::default();
        for e in events {
            r.apply(e);
        }
        r.settled()
    }

    /// The record as a reader sees it: a scenario that started and did not finish is interrupted in the
    /// innermost step still running (`2 sleep 30s`), if any.
    fn settled(mut self) -> RunRecord {
        for s in &mut self.scenarios {
            if let Status::Interrupted { step } = &mut s.status {
                *step = s
                    .running
                    .last()
                    .map(|(number, summary)| format!("{number} {summary}"));
            }
        }
        self
    }

    fn scenario(&mut self, name: &str, file: &str) -> &mut ScenarioRecord {
        let i = match self.scenarios.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                self.scenarios.push(ScenarioRecord::new(name, file));
                self.scenarios.len() - 1
            }
        };
        let s = &mut self.scenarios[i];
        if s.file.is_empty() {
            s.file = file.to_string();
        }
        s
    }

    /// Fold one event in. Private: a reader gets the record through [`RunRecord::from_events`] or
    /// [`Tally::record`], which settle it (name the step a running scenario is in).
    fn apply(&mut self, event: &RunEvent) {
        self.last_elapsed = event.elapsed;
        match &event.kind {
            EventKind::RunStarted {
                lab,
                provenance,
                selected,
                scenarios: _,
                nothing_to_run,
            } => {
                self.lab = lab.clone();
                self.provenance = (**provenance).clone();
                self.nothing_to_run = nothing_to_run.clone();
                for name in selected {
                    self.scenario(name, "");
                }
            }
            EventKind::ScenarioStarted { scenario, file } => {
                let s = self.scenario(scenario, file);
                s.status = Status::Interrupted { step: None };
                s.started = Some(event.elapsed);
                s.call_times.clear();
                s.running.clear();
                s.first_failed_step = None;
            }
            EventKind::StepStarted {
                scenario,
                step,
                summary,
                ..
            } => {
                let s = self.scenario(scenario, "");
                s.running.push((step.clone(), summary.clone()));
            }
            EventKind::StepFinished {
                scenario,
                step,
                span,
                summary,
                outcome,
                took,
            } => {
                let s = self.scenario(scenario, "");
                if summary.starts_with("call ") {
                    s.call_times.push((span.clone(), *took));
                }
                s.running.pop();
                match outcome {
                    StepOutcome::Failed(_) if s.first_failed_step.is_none() => {
                        s.first_failed_step = Some(format!("{step} {summary}"));
                    }
                    StepOutcome::Failed(_) | StepOutcome::Passed { .. } => {}
                }
            }
            EventKind::ScenarioFinished {
                scenario,
                verdict,
                took,
            } => {
                let s = self.scenario(scenario, "");
                s.took = *took;
                s.running.clear();
                s.status = match verdict {
                    Verdict::Passed => Status::Passed,
                    Verdict::Failed { span, failure } => Status::Failed {
                        span: span.clone(),
                        failure: failure.clone(),
                        step: s.first_failed_step.clone(),
                    },
                };
            }
            EventKind::RunFinished { took, .. } => self.finished = Some(*took),
            EventKind::HealthChecked { station, problems } => {
                self.health = Some((station.clone(), problems.clone()))
            }
            EventKind::ScenarioRetried {
                scenario, failure, ..
            } => {
                let s = self.scenario(scenario, "");
                s.retried.push(failure.clone());
                s.status = Status::NotRun;
            }
            EventKind::Interrupted { signal } => self.interrupted_by = Some(signal.clone()),
            EventKind::ScenarioSkipped {
                scenario,
                file,
                reason,
            } => {
                self.scenario(scenario, file).status = Status::Skipped {
                    reason: reason.clone(),
                }
            }
            // Fuzz cases are not scenarios; a fuzz step's verdict comes with its scenario.
            EventKind::FuzzCase { .. }
            | EventKind::FuzzFinding { .. }
            | EventKind::FuzzCoverage { .. }
            | EventKind::FuzzFinished { .. } => {}
            EventKind::LogLine {
                scenario,
                step,
                at,
                source,
                text,
            } => self.scenario(scenario, "").logs.push(CapturedLine {
                step: step.clone(),
                at: at.clone(),
                source: *source,
                text: text.clone(),
            }),
        }
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in &self.scenarios {
            match &s.status {
                Status::Passed if s.flaky() => c.flaky += 1,
                Status::Passed => c.passed += 1,
                Status::Failed { failure, .. } => match failure.class {
                    FailureClass::Driver => c.driver_failed += 1,
                    FailureClass::Lab => c.lab_failed += 1,
                },
                Status::Interrupted { .. } => c.interrupted += 1,
                Status::NotRun => c.not_run += 1,
                Status::Skipped { .. } => c.skipped += 1,
            }
        }
        c
    }
}

/// The live sink that keeps a [`RunRecord`].
#[derive(Default)]
pub struct Tally(Mutex<RunRecord>);

impl Tally {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn record(&self) -> RunRecord {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .settled()
    }
}

impl EventSink for Tally {
    fn event(&self, event: &RunEvent) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .apply(event);
    }
}
