//! One scenario as a libtest-mimic trial: wait for its printers, skip it if the run was interrupted, run it
//! (in this process, or in a child with `--isolate`), and retry an infrastructure failure up to `--retries`
//! times (a pass on a retry is flaky).

use super::isolate::{self, Children, Isolation};
use super::locks::PrinterLocks;
use crate::backends::LabFactory;
use crate::engine::{ScenarioEnd, Stop, run_scenario_until};
use crate::report::{
    EventKind, EventSink, Failure, FailureClass, Fanout, FirstFailedStep, RunEvent, Verdict,
    failure_lines,
};
use crate::scenario::Scenario;
use libtest_mimic::{Failed, Trial};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Ends the console block of a scenario that was interrupted (it never got a `ScenarioFinished`).
pub type ConsoleEnd = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// What every trial of a run shares.
pub struct Shared {
    pub factory: Arc<dyn LabFactory>,
    pub sink: Arc<dyn EventSink>,
    pub locks: PrinterLocks,
    pub interrupted: Arc<AtomicBool>,
    /// Asked for on the first SIGINT / SIGTERM: running scenarios stop before their next step.
    pub stop: Stop,
    /// `Some` with `--isolate`: each attempt runs in a child process.
    pub isolation: Option<Isolation>,
    /// The isolated children running now, to pass a stop on to.
    pub children: Children,
    pub console_end: ConsoleEnd,
    pub retries: u32,
    pub flaky_fails: bool,
    pub run_start: Instant,
}

impl Shared {
    pub(super) fn emit(&self, kind: EventKind) {
        self.sink.event(&RunEvent {
            elapsed: self.run_start.elapsed(),
            kind,
        });
    }
}

/// Run attempt `n` of `s` in this process on a lab from `factory`, with events to `sink`. A lab that
/// cannot be made is the scenario's lab failure (it still starts and finishes in the events).
pub fn attempt_here(
    factory: &dyn LabFactory,
    s: &Scenario,
    n: u32,
    sink: Arc<dyn EventSink>,
    run_start: Instant,
    stop: &Stop,
) -> ScenarioEnd {
    let emit = |kind| {
        sink.event(&RunEvent {
            elapsed: run_start.elapsed(),
            kind,
        })
    };
    match factory.lab_for_attempt(&crate::backends::LabSpec::of(s), n) {
        Ok(lab) => run_scenario_until(s, lab, sink, run_start, stop),
        Err(e) => {
            let verdict = Verdict::Failed {
                span: s.span.clone(),
                failure: Failure {
                    class: FailureClass::Lab,
                    message: format!("the `{}` lab cannot run this scenario: {e}", factory.name()),
                    expected: None,
                    actual: None,
                    code: None,
                },
            };
            emit(EventKind::ScenarioStarted {
                scenario: s.name.as_str().into(),
                file: s.source.display().to_string(),
            });
            emit(EventKind::ScenarioFinished {
                scenario: s.name.as_str().into(),
                verdict: verdict.clone(),
                took: std::time::Duration::ZERO,
            });
            ScenarioEnd::Finished { verdict }
        }
    }
}

/// How one attempt went, with libtest's message for anything but a pass.
enum Attempt {
    Done(Verdict, String),
    Interrupted(String),
}

fn attempt(sh: &Shared, s: &Scenario, n: u32) -> Attempt {
    let first_failed = Arc::new(FirstFailedStep::new());
    let tee: Arc<dyn EventSink> = Arc::new(Fanout(vec![sh.sink.clone(), first_failed.clone()]));
    let end = match &sh.isolation {
        Some(iso) => isolate::attempt_in_child(iso, sh, s, n, &*tee),
        None => attempt_here(&*sh.factory, s, n, tee, sh.run_start, &sh.stop),
    };
    match end {
        ScenarioEnd::Finished { verdict } => {
            let text = match &verdict {
                Verdict::Passed => String::new(),
                Verdict::Failed { span, failure } => {
                    let step = first_failed
                        .get()
                        .map(|f| format!("step {} {} failed\n", f.step, f.summary))
                        .unwrap_or_default();
                    format!("{step}{}", failure_lines(&span.to_string(), failure, ""))
                }
            };
            Attempt::Done(verdict, text)
        }
        ScenarioEnd::Interrupted {
            reason,
            step,
            closed,
        } => {
            let at = step
                .map(|st| format!(" during step {st}"))
                .unwrap_or_default();
            let closed = match closed.as_slice() {
                [] => "it had no connection open".to_string(),
                names => format!("its connections were closed: {}", names.join(", ")),
            };
            let text = format!("interrupted by {reason}{at}; {closed}");
            (sh.console_end)(
                &s.name,
                &format!("  INTERRUPTED{at} by {reason}; {closed}\n"),
            );
            Attempt::Interrupted(text)
        }
    }
}

fn run_one(sh: &Shared, s: &Scenario, keys: &[String]) -> Result<(), Failed> {
    let mutexes = sh.locks.for_keys(keys);
    let _held: Vec<_> = mutexes
        .iter()
        .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
        .collect();
    if sh.interrupted.load(Ordering::SeqCst) {
        return Err("not started: the run was interrupted".into());
    }
    let tries = sh.retries + 1;
    for n in 1..=tries {
        let (verdict, text) = match attempt(sh, s, n) {
            Attempt::Done(verdict, text) => (verdict, text),
            Attempt::Interrupted(text) => return Err(text.into()),
        };
        match verdict {
            Verdict::Passed if n > 1 && sh.flaky_fails => {
                return Err(format!(
                    "flaky: passed only on attempt {n} after infrastructure failures, and --flaky-fails gates on it"
                )
                .into());
            }
            Verdict::Passed => return Ok(()),
            Verdict::Failed { failure, .. }
                if failure.class == FailureClass::Lab
                    && n < tries
                    && !sh.interrupted.load(Ordering::SeqCst) =>
            {
                tracing::info!(scenario = %s.name, attempt = n, "infrastructure failure; retrying");
                sh.emit(EventKind::ScenarioRetried {
                    scenario: s.name.as_str().into(),
                    attempt: n,
                    failure,
                });
            }
            Verdict::Failed { .. } => return Err(text.into()),
        }
    }
    Err("no attempt ran".into())
}

/// The trial of one scenario: libtest's name is the scenario name, its kind the first tag. `keys` are the
/// printers its roles resolve to.
pub fn trial(s: Scenario, keys: Vec<String>, shared: Arc<Shared>) -> Trial {
    let kind = s.tags.first().cloned().unwrap_or_default();
    Trial::test(s.name.clone(), move || run_one(&shared, &s, &keys)).with_kind(kind)
}
