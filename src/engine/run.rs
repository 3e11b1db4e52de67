//! One scenario from start to finish: steps in order (repeats numbered `4.2.1`), events around each,
//! the first failure ends it, and every connection it left open is closed whatever happened.
//!
//! The steps run on the scenario's own thread ([`run_watched_until`](crate::ops::deadline::run_watched_until)); the caller's thread waits on the
//! [`Watchdog`] and, when a lab operation outlives its deadline, fails the step that hung from what the
//! scenario thread published (its steps, connections and the operation in progress), closes the
//! connections (which releases a hung sim call) and ends the scenario without it.

use super::{failure, summary::summary};
use crate::lab::{ConnectionId, Lab, UsbView};
use crate::ops::CLEANUP_WAIT;
use crate::ops::Stop;
use crate::ops::deadline::{
    DeadlineError, Tripped, Watchdog, Watched, panic_text, run_watched_until,
};
use crate::report::{EventKind, EventSink, Failure, RunEvent, StepOutcome, Verdict};
use crate::scenario::{Scenario, Step, StepKind};
use crate::span::Span;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// A connection a scenario opened and has not closed.
pub(super) struct Conn {
    pub name: String,
    pub id: ConnectionId,
    /// A call on it already found the dext dead (and looked for its crash report).
    pub dead_seen: bool,
}

/// A step in progress: where it is in its list of steps, the iteration of a repeat, when it started.
#[derive(Clone, Copy, Debug)]
pub(super) struct Mark {
    index: usize,
    iteration: u32,
    started: Instant,
}

/// What to say when the armed operation outlives its deadline.
#[derive(Clone, Debug, Default)]
pub(super) enum Hang {
    /// A wait or lookup in the lab (its own deadline plus a grace passed): the lab's fault.
    #[default]
    LabWait,
    /// A user-client operation (`what`: `GetStatus on uc`): the dext hung, the driver's fault.
    UserClient(Arc<str>),
}

/// What the scenario thread publishes for the waiting thread, should a deadline pass.
#[derive(Clone, Debug, Default)]
pub(super) struct Published {
    /// The steps in progress, outermost first (a repeat, then the step inside it).
    marks: Vec<Mark>,
    /// The connections open now, with their names.
    conns: Vec<(ConnectionId, Arc<str>)>,
    hang: Hang,
    /// The current step's budget, and the time the armed operation was given.
    budget: Duration,
    armed_budget: Duration,
    /// Where the current step's log lines start.
    step_cursor: usize,
}

/// The state of one running scenario, on its own thread.
pub(super) struct Run<'a> {
    pub scenario: &'a Scenario,
    pub lab: Arc<dyn Lab>,
    pub watch: &'a Watchdog<Ended, Published>,
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
    /// Steps started and not finished, innermost last: number and summary (`2`, `sleep 30s`).
    running: Vec<(Arc<str>, Arc<str>)>,
    /// The scenario's name, shared by every event it sends.
    pub name: Arc<str>,
    /// What the current step is, for messages (`GetStatus on uc`), made once per step of the scenario.
    pub what: Arc<str>,
    /// Set when the stop ended the scenario: the step it was in.
    interrupted: Option<Option<String>>,
    /// Where the run's events go, for steps that emit their own (a `fuzz` step's cases).
    pub sink: Arc<dyn EventSink>,
    pub run_start: Instant,
}

/// What events and messages say of a step, made once per scenario run rather than once per step run (a
/// step in a repeat runs thousands of times).
pub(super) struct StepText {
    /// `call GetStatus on uc`.
    summary: Arc<str>,
    /// What a user-client operation is called in its messages (`GetStatus on uc`, `IOServiceClose of uc`).
    what: Arc<str>,
    /// A repeat's steps.
    inner: Vec<StepText>,
}

impl StepText {
    fn of(scenario: &Scenario, steps: &[Step]) -> Vec<StepText> {
        steps
            .iter()
            .map(|step| StepText {
                summary: summary(scenario, &step.kind).into(),
                what: match &step.kind {
                    StepKind::Call {
                        connection,
                        selector_name,
                        ..
                    } => format!("{selector_name} on {connection}").into(),
                    StepKind::Close { connection, .. } => {
                        format!("IOServiceClose of {connection}").into()
                    }
                    _ => Arc::from(""),
                },
                inner: match &step.kind {
                    StepKind::Repeat { steps, .. } => StepText::of(scenario, steps),
                    _ => Vec::new(),
                },
            })
            .collect()
    }
}

/// `prefix.index` (`2.31.1`), or `index` at the top, with one allocation: the `Arc` itself.
fn step_number(prefix: &str, index: &str) -> Arc<str> {
    if prefix.is_empty() {
        return Arc::from(index);
    }
    let mut buf = [0u8; 64];
    let n = prefix.len() + 1 + index.len();
    if n <= buf.len() {
        buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
        buf[prefix.len()] = b'.';
        buf[prefix.len() + 1..n].copy_from_slice(index.as_bytes());
        // Two strings joined by '.' are text; the fallback below is never taken.
        if let Ok(text) = std::str::from_utf8(&buf[..n]) {
            return Arc::from(text);
        }
    }
    Arc::from([prefix, ".", index].concat())
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

/// The caller's sink, shared with the scenario thread until [`run_scenario`] returns: a scenario thread that
/// was given up and comes back later finds it revoked and emits nothing (its events would land after the
/// scenario's end). Shared by `Arc`, so nothing outlives what it points to.
struct Lease {
    sink: Mutex<Option<Arc<dyn EventSink>>>,
}

impl Lease {
    fn new(sink: Arc<dyn EventSink>) -> Lease {
        Lease {
            sink: Mutex::new(Some(sink)),
        }
    }

    fn emit(&self, event: &RunEvent) {
        self.emit_all(std::slice::from_ref(event))
    }

    fn emit_all(&self, events: &[RunEvent]) {
        // Held while emitting, so `revoke` waits for an event in flight: after it, nothing more comes.
        let held = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sink) = &*held {
            match events {
                [one] => sink.event(one),
                many => sink.events(many),
            }
        }
    }

    fn revoke(&self) {
        *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl EventSink for Lease {
    fn event(&self, event: &RunEvent) {
        self.emit(event)
    }
    fn events(&self, events: &[RunEvent]) {
        self.emit_all(events)
    }
}

/// What the scenario thread hands back: its verdict, and the step a stop interrupted (if one did). The
/// connections still open it has published, with their names (the waiting thread closes them).
pub(super) struct Ended {
    verdict: Verdict,
    interrupted: Option<Option<String>>,
}

impl Ended {
    fn of(verdict: Verdict) -> Ended {
        Ended {
            verdict,
            interrupted: None,
        }
    }
}

/// Revokes the lease when `run_scenario` leaves, however it leaves.
struct Revoke<'a>(&'a Lease);

impl Drop for Revoke<'_> {
    fn drop(&mut self) {
        self.0.revoke();
    }
}

/// The scenario thread's way to the sinks. A step's end (its log lines and `StepFinished`) is held back
/// until the next thing happens, which is nearly always the next step's start, and goes to the sinks in
/// one batch with it: they happen in one moment with no lab operation between them, so the journal
/// writes them with one `write` and still has every event in the kernel before the next operation
/// runs. Whatever else comes first (a failure, a stop, the scenario's end, a panic unwinding) flushes it.
pub(super) struct Emitter<'a> {
    lease: &'a Lease,
    run_start: Instant,
    /// Events held back for the next batch: a finished step's lines and end.
    pending: std::cell::RefCell<Vec<RunEvent>>,
}

impl Emitter<'_> {
    /// An event that happened at `at` (an instant the caller read anyway: one clock read less per event).
    fn event_at(&self, kind: EventKind, at: Instant) -> RunEvent {
        RunEvent {
            elapsed: at.saturating_duration_since(self.run_start),
            kind,
        }
    }

    /// `kind`, which happened at `at`, now, with whatever was held back before it, as one batch (see
    /// [`EventSink::events`]).
    fn emit_at(&self, kind: EventKind, at: Instant) {
        let event = self.event_at(kind, at);
        let mut pending = self.pending.borrow_mut();
        if pending.is_empty() {
            drop(pending);
            self.lease.emit(&event);
        } else {
            pending.push(event);
            self.lease.emit_all(&pending);
            pending.clear();
        }
    }

    /// Hold `event` back until the next [`Emitter::emit_at`] or [`Emitter::flush`].
    fn defer(&self, event: RunEvent) {
        self.pending.borrow_mut().push(event);
    }

    /// Send what is held back now.
    fn flush(&self) {
        let mut pending = self.pending.borrow_mut();
        if !pending.is_empty() {
            self.lease.emit_all(&pending);
            pending.clear();
        }
    }
}

impl Drop for Emitter<'_> {
    /// However the scenario thread leaves (a panic unwinding too), nothing held back is lost.
    fn drop(&mut self) {
        self.flush();
    }
}

/// Run one scenario against `lab`, emitting events to `sink` (times relative to `run_start`).
pub fn run_scenario(
    scenario: &Scenario,
    lab: Arc<dyn Lab>,
    sink: Arc<dyn EventSink>,
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
    sink: Arc<dyn EventSink>,
    run_start: Instant,
    stop: &Stop,
) -> ScenarioEnd {
    let started = Instant::now();
    let emit = |kind| {
        sink.event(&RunEvent {
            elapsed: run_start.elapsed(),
            kind,
        })
    };
    let _span = tracing::debug_span!("scenario", name = %scenario.name).entered();
    let name: Arc<str> = Arc::from(scenario.name.as_str());
    emit(EventKind::ScenarioStarted {
        scenario: name.clone(),
        file: scenario.source.display().to_string(),
    });
    // Lines from before the scenario (a shared lab's earlier scenarios) are not this scenario's.
    let log_cursor = lab.logs().map_or(0, |c| c.buffer().cursor());
    let lease = Arc::new(Lease::new(sink.clone()));
    let revoke = Revoke(&lease);
    let theirs = Arc::clone(&lease);
    let own = Arc::new(scenario.clone());
    let their_lab = Arc::clone(&lab);
    let deadline = started + scenario.deadline;
    let their_stop = stop.clone();
    let their_name = name.clone();
    let watched = run_watched_until(&scenario.name, Published::default(), stop, move |watch| {
        let em = Emitter {
            lease: &theirs,
            run_start,
            pending: Default::default(),
        };
        let mut run = Run {
            scenario: &own,
            lab: their_lab,
            watch,
            deadline,
            views: HashMap::new(),
            conns: Vec::new(),
            budget: Duration::ZERO,
            log_cursor,
            step_cursor: log_cursor,
            extra_lines: Vec::new(),
            started_wall: SystemTime::now(),
            stop: their_stop,
            running: Vec::new(),
            name: their_name,
            what: Arc::from(""),
            interrupted: None,
            sink: theirs.clone(),
            run_start,
        };
        let texts = StepText::of(&own, &own.steps);
        let verdict = match run.steps(&own.steps, &texts, "", &em) {
            Ok(()) => Verdict::Passed,
            Err((span, failure)) => Verdict::Failed { span, failure },
        };
        em.flush();
        Ended {
            verdict,
            interrupted: run.interrupted.take(),
        }
    });
    // From here on only this thread emits: a scenario thread that comes back late finds the lease revoked.
    drop(revoke);
    let (
        Ended {
            verdict,
            interrupted,
        },
        leftovers,
    ) = match watched {
        Watched::Finished(ended, published) => (ended, published.conns),
        Watched::Panicked(text, published) => {
            let failure = failure::lab(format!(
                "dexthil panicked running this scenario (a bug in dexthil or its lab backend): {text}"
            ));
            (
                Ended::of(Verdict::Failed {
                    span: scenario.span.clone(),
                    failure,
                }),
                published.conns,
            )
        }
        // A stop gave up the operation in flight (issue 18: Ctrl-C within a second, even during a hung
        // call): the scenario is interrupted in that step, as a run killed there would show it.
        Watched::Tripped(published) if stop.reason().is_some() => (
            Ended {
                interrupted: Some(None),
                ..Ended::of(Verdict::Passed)
            },
            published.conns,
        ),
        Watched::Tripped(published) => {
            let verdict = hung(scenario, &name, &*lab, &published, &emit);
            (Ended::of(verdict), published.conns)
        }
    };
    let closed: Vec<String> = close_leftovers(&scenario.name, &lab, leftovers)
        .into_iter()
        .map(|name| name.to_string())
        .collect();
    if let Some(step) = interrupted {
        tracing::info!(scenario = %scenario.name, ?step, ?closed, "interrupted");
        return ScenarioEnd::Interrupted {
            reason: stop.reason().unwrap_or_else(|| "a stop".into()),
            step,
            closed,
        };
    }
    emit(EventKind::ScenarioFinished {
        scenario: name,
        verdict: verdict.clone(),
        took: started.elapsed(),
    });
    ScenarioEnd::Finished { verdict }
}

/// A lab operation outlived its deadline: fail the step it was in (and the repeats around it) as the
/// scenario thread would have, from what it published.
fn hung(
    scenario: &Scenario,
    name: &Arc<str>,
    lab: &dyn Lab,
    p: &Published,
    emit: &dyn Fn(EventKind),
) -> Verdict {
    let failure = match &p.hang {
        Hang::UserClient(what) => hang_failure(
            DeadlineError::Hung {
                budget: p.armed_budget,
            },
            what,
            p.budget,
        ),
        Hang::LabWait => failure::lab(format!(
            "the lab backend did not come back from a wait: {}",
            DeadlineError::Hung {
                budget: p.armed_budget
            }
        )),
    };
    // The steps in progress, outermost first, with their numbers.
    let mut chain: Vec<(&Step, Arc<str>, Mark)> = Vec::new();
    let mut steps = &scenario.steps;
    let mut prefix = String::new();
    let mut iteration = 0;
    for m in &p.marks {
        let Some(step) = steps.get(m.index) else {
            break;
        };
        let number = if prefix.is_empty() {
            (m.index + 1).to_string()
        } else {
            format!("{prefix}.{iteration}.{}", m.index + 1)
        };
        if let StepKind::Repeat { steps: inner, .. } = &step.kind {
            steps = inner;
        }
        let number: Arc<str> = Arc::from(number);
        prefix = number.to_string();
        iteration = m.iteration;
        chain.push((step, number, *m));
    }
    let Some((step, number, _)) = chain.last() else {
        return Verdict::Failed {
            span: scenario.span.clone(),
            failure,
        };
    };
    if let Some(c) = lab.logs() {
        if !c.latency().is_zero() {
            std::thread::sleep(c.latency());
        }
        let (lines, _) = c.buffer().since(p.step_cursor);
        for line in lines {
            emit(EventKind::LogLine {
                scenario: name.clone(),
                step: number.clone(),
                at: line.timestamp,
                source: line.source,
                text: line.text,
            });
        }
    }
    let span = step.span.clone();
    for (i, (step, number, mark)) in chain.iter().enumerate().rev() {
        let outcome = match &step.kind {
            StepKind::Repeat { times, .. } if i + 1 < chain.len() => Failure {
                expected: None,
                actual: None,
                code: None,
                message: format!("iteration {} of {times} failed at {span}", mark.iteration),
                ..failure.clone()
            },
            _ => failure.clone(),
        };
        emit(EventKind::StepFinished {
            scenario: name.clone(),
            step: number.clone(),
            span: step.span.clone(),
            summary: summary(scenario, &step.kind).into(),
            outcome: StepOutcome::Failed(outcome),
            took: mark.started.elapsed(),
        });
    }
    Verdict::Failed { span, failure }
}

/// A user-client operation that did not answer: the dext hung (driver); a panic is dexthil's (lab).
pub(super) fn hang_failure(e: DeadlineError, what: &str, budget: Duration) -> Failure {
    match e {
        // The step's budget, not the re-measured one, so the message says the `within` written.
        DeadlineError::Hung { .. } => Failure {
            expected: Some(format!(
                "an answer within {}",
                crate::report::human_duration(budget)
            )),
            actual: Some("no answer".into()),
            ..failure::driver(format!("{what}: {}", DeadlineError::Hung { budget }))
        },
        DeadlineError::Panicked(_) => failure::lab(format!("{what}: {e}")),
    }
}

/// Close every connection the scenario left open, a hung one too. Closing can hang like any user-client
/// operation, so it runs on a thread of its own (only when something is left) and each close is waited
/// for at most [`CLEANUP_WAIT`].
fn close_leftovers(
    name: &str,
    lab: &Arc<dyn Lab>,
    conns: Vec<(ConnectionId, Arc<str>)>,
) -> Vec<Arc<str>> {
    let mut closed = Vec::new();
    if conns.is_empty() {
        return closed;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let lab = Arc::clone(lab);
    let ids: Vec<ConnectionId> = conns.iter().map(|(id, _)| *id).collect();
    let spawned = std::thread::Builder::new()
        .name(format!("dexthil-lab-close-{name}"))
        .spawn(move || {
            for id in ids.into_iter().rev() {
                let r = catch_unwind(AssertUnwindSafe(|| lab.close(id)));
                if tx
                    .send((id, r.map_err(|p| panic_text(p.as_ref()))))
                    .is_err()
                {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start a thread to close leftover connections");
        return closed;
    }
    for _ in 0..conns.len() {
        match rx.recv_timeout(CLEANUP_WAIT) {
            Ok((id, Ok(Ok(code)))) if code.is_success() => {
                // Named by the answer's own id, whatever order the closes came back in.
                let name = conns
                    .iter()
                    .find(|(c, _)| *c == id)
                    .map_or_else(|| Arc::from(format!("#{id}")), |(_, n)| n.clone());
                tracing::debug!(connection = id, %name, "closed at scenario end");
                closed.push(name);
            }
            Ok((id, Ok(Ok(code)))) => {
                tracing::warn!(connection = id, %code, "closing at scenario end failed")
            }
            Ok((id, Ok(Err(e)))) => {
                tracing::warn!(connection = id, error = %e, "closing at scenario end failed")
            }
            Ok((id, Err(text))) => {
                tracing::warn!(connection = id, panic = %text, "closing at scenario end panicked")
            }
            Err(_) => {
                tracing::warn!(
                    "closing a connection at scenario end did not finish; giving up on it"
                );
                return closed;
            }
        }
    }
    closed
}

impl Run<'_> {
    fn steps(
        &mut self,
        steps: &[Step],
        texts: &[StepText],
        prefix: &str,
        em: &Emitter,
    ) -> Result<(), (Span, Failure)> {
        let mut digits = itoa::Buffer::new();
        for (i, (step, texts)) in steps.iter().zip(texts).enumerate() {
            let index = digits.format(i + 1);
            let number = step_number(prefix, index);
            if let Some(why) = self.stop.reason() {
                self.interrupted = Some(self.innermost_running());
                return Err((
                    step.span.clone(),
                    failure::lab(format!("interrupted ({why})")),
                ));
            }
            self.running.push((number.clone(), texts.summary.clone()));
            self.what = texts.what.clone();
            let t = Instant::now();
            em.emit_at(
                EventKind::StepStarted {
                    scenario: self.name.clone(),
                    step: number.clone(),
                    span: step.span.clone(),
                    summary: texts.summary.clone(),
                },
                t,
            );
            tracing::debug!(step = %number, what = %texts.summary, at = %step.span, "step started");
            self.begin_step_log();
            let cursor = self.step_cursor;
            self.watch.publish(|p| {
                p.marks.push(Mark {
                    index: i,
                    iteration: 0,
                    started: t,
                });
                p.step_cursor = cursor;
            });
            let (outcome, inner, lines) = match &step.kind {
                StepKind::Repeat { times, steps } => {
                    let (outcome, inner) = self.repeat(*times, steps, &texts.inner, &number, em);
                    (outcome, inner, Vec::new())
                }
                _ => {
                    let r = self.guarded(step, t);
                    let lines = self.end_step_log(r.is_err());
                    match r {
                        Ok(detail) => (StepOutcome::Passed { detail }, None, lines),
                        Err(f) => (
                            StepOutcome::Failed(f.clone()),
                            Some((step.span.clone(), f)),
                            lines,
                        ),
                    }
                }
            };
            // The step's log lines and its end are read in one moment (`end`): they go to the sinks
            // together, with the next step's start (see [`Emitter`]).
            let end = Instant::now();
            for line in lines {
                em.defer(em.event_at(
                    EventKind::LogLine {
                        scenario: self.name.clone(),
                        step: number.clone(),
                        at: line.timestamp,
                        source: line.source,
                        text: line.text,
                    },
                    end,
                ));
            }
            if let Some(failed) = inner.as_ref().filter(|_| self.stop.reason().is_some()) {
                em.flush();
                // Left unfinished on purpose: the reports show the scenario interrupted in this step.
                if self.interrupted.is_none() {
                    self.interrupted = Some(self.innermost_running());
                }
                return Err(failed.clone());
            }
            self.running.pop();
            self.watch.publish(|p| p.marks.pop());
            tracing::debug!(step = %number, ?outcome, "step finished");
            em.defer(em.event_at(
                EventKind::StepFinished {
                    scenario: self.name.clone(),
                    step: number,
                    span: step.span.clone(),
                    summary: texts.summary.clone(),
                    outcome,
                    took: end.saturating_duration_since(t),
                },
                end,
            ));
            if let Some(failed) = inner {
                // A failure is a verdict: on its way at once, not with whatever comes next.
                em.flush();
                return Err(failed);
            }
        }
        Ok(())
    }

    /// The innermost step running, as reports name it (`2 sleep 30s`).
    fn innermost_running(&self) -> Option<String> {
        self.running
            .last()
            .map(|(number, summary)| format!("{number} {summary}"))
    }

    fn repeat(
        &mut self,
        times: u32,
        steps: &[Step],
        texts: &[StepText],
        number: &str,
        em: &Emitter,
    ) -> (StepOutcome, Option<(Span, Failure)>) {
        let mut prefix = String::with_capacity(number.len() + 6);
        let mut digits = itoa::Buffer::new();
        for it in 1..=times {
            self.watch.publish(|p| {
                if let Some(m) = p.marks.last_mut() {
                    m.iteration = it;
                }
            });
            prefix.clear();
            prefix.push_str(number);
            prefix.push('.');
            prefix.push_str(digits.format(it));
            if let Err((span, inner)) = self.steps(steps, texts, &prefix, em) {
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
    /// `now`: the step's start, read by the caller a moment ago.
    fn guarded(&mut self, step: &Step, now: Instant) -> Result<String, Failure> {
        if now >= self.deadline {
            return Err(failure::driver(format!(
                "the scenario's deadline of {} passed before this step",
                crate::report::human_duration(self.scenario.deadline)
            )));
        }
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
            // The scenario was given up while this step hung: unwind out of it, emitting nothing.
            Err(payload) if payload.is::<Tripped>() => std::panic::resume_unwind(payload),
            Err(payload) => Err(failure::lab(format!(
                "dexthil panicked in this step (a bug in dexthil or its lab backend): {}",
                panic_text(payload.as_ref())
            ))),
        }
    }

    /// Run a lab operation directly on this thread with `until` armed in the watchdog (`hang` says what
    /// hung if it passes). A panic in it is an error; if the watchdog tripped meanwhile, the scenario was
    /// given up and this unwinds out of it.
    pub(super) fn armed<T>(
        &mut self,
        until: Instant,
        hang: Hang,
        op: impl FnOnce(&dyn Lab) -> T,
    ) -> (Result<T, DeadlineError>, Hang) {
        let budget = self.budget;
        let armed_budget = until.saturating_duration_since(Instant::now());
        self.watch.arm(until, |p| {
            p.hang = hang;
            p.budget = budget;
            p.armed_budget = armed_budget;
        });
        let r = catch_unwind(AssertUnwindSafe(|| op(&*self.lab)));
        let hang = match self.watch.disarm(|p| std::mem::take(&mut p.hang)) {
            Ok(h) => h,
            Err(Tripped) => std::panic::resume_unwind(Box::new(Tripped)),
        };
        (
            r.map_err(|p| DeadlineError::Panicked(panic_text(p.as_ref()))),
            hang,
        )
    }

    /// A connection opened (`Some(its name)`) or closed: the waiting thread closes what is open when the
    /// scenario ends, and names it.
    pub(super) fn publish_conn(&self, id: ConnectionId, open: Option<&str>) {
        self.watch.publish(|p| match open {
            Some(name) => p.conns.push((id, Arc::from(name))),
            None => p.conns.retain(|(c, _)| *c != id),
        });
    }
}
