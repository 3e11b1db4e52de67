//! One scenario from start to finish: steps in order (repeats numbered `4.2.1`), events around each,
//! the first failure ends it, and every connection it left open is closed whatever happened.

use super::deadline::{Worker, panic_text};
use super::stop::Stop;
use super::{failure, summary::summary};
use crate::lab::{ConnectionId, Lab, UsbView};
use crate::report::{EventKind, EventSink, Failure, RunEvent, StepOutcome, Verdict};
use crate::scenario::{Scenario, Step, StepKind};
use crate::span::Span;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How long closing a leftover connection may take at the end of a scenario.
pub const CLEANUP_WAIT: Duration = Duration::from_secs(1);

/// A connection a scenario opened and has not closed.
pub(super) struct Conn {
    pub name: String,
    pub id: ConnectionId,
    /// A call on it hung: its worker was abandoned; only closing it is still tried.
    pub abandoned: bool,
    /// A call on it already found the dext dead (and looked for its crash report).
    pub dead_seen: bool,
}

/// The state of one running scenario.
pub(super) struct Run<'a> {
    pub scenario: &'a Scenario,
    pub lab: Arc<dyn Lab>,
    pub worker: Worker,
    /// The scenario's own deadline.
    pub deadline: Instant,
    /// The last USB view of each role (replug changes the address).
    pub views: HashMap<String, UsbView>,
    pub conns: Vec<Conn>,
    /// The time the current step was given: its deadline, or what is left of the scenario's.
    pub budget: Duration,
    /// The lab's log lines read so far, and where the current step's start.
    pub log_cursor: usize,
    pub step_cursor: usize,
    /// Lines the current step found besides the lab's log (a crash report).
    pub extra_lines: Vec<crate::logs::LogLine>,
    /// When the scenario started, by the wall clock (crash reports are files with times).
    pub started_wall: SystemTime,
    /// A stop asked for (SIGINT, SIGTERM): checked before each step; a `sleep` waits on it.
    pub stop: Stop,
    /// Steps started and not finished, innermost last (`2 sleep 30s`).
    running: Vec<String>,
    /// Set when the stop ended the scenario: the step it was in.
    interrupted: Option<Option<String>>,
    /// Where the run's events go, for steps that emit their own (a `fuzz` step's cases).
    pub sink: &'a dyn EventSink,
    pub run_start: Instant,
}

/// How a scenario ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "end", rename_all = "snake_case")]
pub enum ScenarioEnd {
    /// It ran to a verdict, and `ScenarioFinished` was sent.
    Finished { verdict: Verdict },
    /// A stop came first. The step it was in gets no `StepFinished` and the scenario no
    /// `ScenarioFinished`, so every report shows it as a killed run's: interrupted in that step. Its
    /// connections were closed all the same (`closed` names them).
    Interrupted {
        reason: String,
        /// The innermost step running when it stopped (`2 sleep 30s`), if any.
        step: Option<String>,
        closed: Vec<String>,
    },
}

struct Emitter<'a> {
    sink: &'a dyn EventSink,
    run_start: Instant,
    scenario: &'a str,
}

impl Emitter<'_> {
    fn emit(&self, kind: EventKind) {
        self.sink.event(&RunEvent {
            elapsed: self.run_start.elapsed(),
            kind,
        });
    }
}

/// Run one scenario against `lab`, emitting events to `sink` (times relative to `run_start`).
pub fn run_scenario(
    scenario: &Scenario,
    lab: Arc<dyn Lab>,
    sink: &dyn EventSink,
    run_start: Instant,
) -> Verdict {
    match run_scenario_until(scenario, lab, sink, run_start, &Stop::new()) {
        ScenarioEnd::Finished { verdict } => verdict,
        // Nobody holds this stop, so it never comes; said as a lab failure rather than trusted blindly.
        ScenarioEnd::Interrupted { reason, .. } => Verdict::Failed {
            span: scenario.span.clone(),
            failure: failure::lab(format!("interrupted ({reason})")),
        },
    }
}

/// [`run_scenario`] that ends early when `stop` is asked for: before the next step, or at once in a
/// `sleep`. A step already waiting on the lab (a call, an await) ends at its own deadline first.
pub fn run_scenario_until(
    scenario: &Scenario,
    lab: Arc<dyn Lab>,
    sink: &dyn EventSink,
    run_start: Instant,
    stop: &Stop,
) -> ScenarioEnd {
    let started = Instant::now();
    let em = Emitter {
        sink,
        run_start,
        scenario: &scenario.name,
    };
    let _span = tracing::debug_span!("scenario", name = %scenario.name).entered();
    em.emit(EventKind::ScenarioStarted {
        scenario: scenario.name.clone(),
        file: scenario.source.display().to_string(),
    });
    // Lines from before the scenario (a shared lab's earlier scenarios) are not this scenario's.
    let log_cursor = lab.logs().map_or(0, |c| c.buffer().cursor());
    let mut run = Run {
        scenario,
        lab,
        worker: Worker::new(&scenario.name),
        deadline: started + scenario.deadline,
        views: HashMap::new(),
        conns: Vec::new(),
        budget: Duration::ZERO,
        log_cursor,
        step_cursor: log_cursor,
        extra_lines: Vec::new(),
        started_wall: SystemTime::now(),
        stop: stop.clone(),
        running: Vec::new(),
        interrupted: None,
        sink,
        run_start,
    };
    let verdict = match run.steps(&scenario.steps, "", &em) {
        Ok(()) => Verdict::Passed,
        Err((span, failure)) => Verdict::Failed { span, failure },
    };
    let closed = run.close_leftovers();
    if let Some(step) = run.interrupted.take() {
        tracing::info!(scenario = %scenario.name, ?step, ?closed, "interrupted");
        return ScenarioEnd::Interrupted {
            reason: stop.reason().unwrap_or_else(|| "a stop".into()),
            step,
            closed,
        };
    }
    em.emit(EventKind::ScenarioFinished {
        scenario: scenario.name.clone(),
        verdict: verdict.clone(),
        took: started.elapsed(),
    });
    ScenarioEnd::Finished { verdict }
}

impl Run<'_> {
    fn steps(&mut self, steps: &[Step], prefix: &str, em: &Emitter) -> Result<(), (Span, Failure)> {
        for (i, step) in steps.iter().enumerate() {
            let number = if prefix.is_empty() {
                (i + 1).to_string()
            } else {
                format!("{prefix}.{}", i + 1)
            };
            let text = summary(self.scenario, &step.kind);
            if let Some(why) = self.stop.reason() {
                self.interrupted = Some(self.running.last().cloned());
                return Err((
                    step.span.clone(),
                    failure::lab(format!("interrupted ({why})")),
                ));
            }
            self.running.push(format!("{number} {text}"));
            em.emit(EventKind::StepStarted {
                scenario: em.scenario.to_string(),
                step: number.clone(),
                span: step.span.clone(),
                summary: text.clone(),
            });
            tracing::debug!(step = %number, what = %text, at = %step.span, "step started");
            let t = Instant::now();
            let (outcome, inner) = match &step.kind {
                StepKind::Repeat { times, steps } => self.repeat(*times, steps, &number, em),
                _ => {
                    self.begin_step_log();
                    let r = self.guarded(step);
                    for line in self.end_step_log(r.is_err()) {
                        em.emit(EventKind::LogLine {
                            scenario: em.scenario.to_string(),
                            step: number.clone(),
                            at: line.timestamp,
                            source: line.source,
                            text: line.text,
                        });
                    }
                    match r {
                        Ok(detail) => (StepOutcome::Passed { detail }, None),
                        Err(f) => (StepOutcome::Failed(f.clone()), Some((step.span.clone(), f))),
                    }
                }
            };
            if let Some(failed) = inner.as_ref().filter(|_| self.stop.reason().is_some()) {
                // Left unfinished on purpose: the reports show the scenario interrupted in this step.
                self.interrupted
                    .get_or_insert_with(|| self.running.last().cloned());
                return Err(failed.clone());
            }
            self.running.pop();
            tracing::debug!(step = %number, ?outcome, "step finished");
            em.emit(EventKind::StepFinished {
                scenario: em.scenario.to_string(),
                step: number,
                span: step.span.clone(),
                summary: text,
                outcome,
                took: t.elapsed(),
            });
            if let Some(failed) = inner {
                return Err(failed);
            }
        }
        Ok(())
    }

    fn repeat(
        &mut self,
        times: u32,
        steps: &[Step],
        number: &str,
        em: &Emitter,
    ) -> (StepOutcome, Option<(Span, Failure)>) {
        for it in 1..=times {
            if let Err((span, inner)) = self.steps(steps, &format!("{number}.{it}"), em) {
                let summary = Failure {
                    expected: None,
                    actual: None,
                    code: None,
                    message: format!("iteration {it} of {times} failed at {span}"),
                    ..inner.clone()
                };
                return (StepOutcome::Failed(summary), Some((span, inner)));
            }
        }
        let detail = format!("{times} iterations");
        (StepOutcome::Passed { detail }, None)
    }

    /// One step; a panic in it is a failure of this step (the scenario still cleans up).
    fn guarded(&mut self, step: &Step) -> Result<String, Failure> {
        if Instant::now() >= self.deadline {
            return Err(failure::driver(format!(
                "the scenario's deadline of {} passed before this step",
                crate::report::human_duration(self.scenario.deadline)
            )));
        }
        let now = Instant::now();
        self.budget = step
            .deadline
            .min(self.deadline.saturating_duration_since(now));
        let until = now + self.budget;
        let checked = |run: &mut Self| {
            let detail = run.step(step, until)?;
            run.check_logs(step, until)?;
            Ok(detail)
        };
        match catch_unwind(AssertUnwindSafe(|| checked(self))) {
            Ok(r) => r,
            Err(payload) => Err(failure::lab(format!(
                "dexthil panicked in this step (a bug in dexthil or its lab backend): {}",
                panic_text(payload.as_ref())
            ))),
        }
    }

    /// Close every connection the scenario left open, a hung one too, each with a bounded wait; the names
    /// of those that closed.
    fn close_leftovers(&mut self) -> Vec<String> {
        let mut closed = Vec::new();
        while let Some(conn) = self.conns.pop() {
            let lab = self.lab.clone();
            let id = conn.id;
            let r = self
                .worker
                .run(Instant::now() + CLEANUP_WAIT, move || lab.close(id));
            match r {
                Ok(Ok(code)) if code.is_success() => {
                    tracing::debug!(connection = %conn.name, "closed at scenario end");
                    closed.push(conn.name);
                }
                Ok(Ok(code)) => {
                    tracing::warn!(connection = %conn.name, %code, "closing at scenario end failed")
                }
                Ok(Err(e)) => {
                    tracing::warn!(connection = %conn.name, error = %e, abandoned = conn.abandoned, "closing at scenario end failed")
                }
                Err(e) => {
                    tracing::warn!(connection = %conn.name, error = %e, "closing at scenario end did not finish")
                }
            }
        }
        closed
    }
}
