//! One scenario as a libtest-mimic trial: wait for its printers, skip it if the run was interrupted, run it,
//! and retry an infrastructure failure up to `--retries` times (a pass on a retry is flaky).

use super::locks::PrinterLocks;
use crate::backends::LabFactory;
use crate::engine::run_scenario;
use crate::report::{
    Collector, EventKind, EventSink, Failure, FailureClass, RunEvent, Tee, Verdict, failure_lines,
};
use crate::scenario::Scenario;
use libtest_mimic::{Failed, Trial};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What every trial of a run shares.
pub struct Shared {
    pub factory: Arc<dyn LabFactory>,
    pub sink: Arc<dyn EventSink>,
    pub locks: PrinterLocks,
    pub interrupted: Arc<AtomicBool>,
    pub retries: u32,
    pub flaky_fails: bool,
    pub run_start: Instant,
}

impl Shared {
    fn emit(&self, kind: EventKind) {
        self.sink.event(&RunEvent {
            elapsed: self.run_start.elapsed(),
            kind,
        });
    }
}

/// One attempt: the verdict and, for a failure, libtest's message.
fn attempt(sh: &Shared, s: &Scenario, n: u32) -> (Verdict, String) {
    let lab = match sh.factory.lab_for_attempt(s, n) {
        Ok(lab) => lab,
        Err(e) => {
            // The scenario never reached the engine; the journal and reports still see it start and fail.
            let failure = Failure {
                class: FailureClass::Lab,
                message: format!(
                    "the `{}` lab cannot run this scenario: {e}",
                    sh.factory.name()
                ),
                expected: None,
                actual: None,
                code: None,
            };
            let verdict = Verdict::Failed {
                span: s.span.clone(),
                failure: failure.clone(),
            };
            sh.emit(EventKind::ScenarioStarted {
                scenario: s.name.clone(),
                file: s.source.display().to_string(),
            });
            sh.emit(EventKind::ScenarioFinished {
                scenario: s.name.clone(),
                verdict: verdict.clone(),
                took: std::time::Duration::ZERO,
            });
            let text = failure_lines(&s.span.to_string(), &failure, "");
            return (verdict, text);
        }
    };
    let collector = Collector::new();
    let verdict = run_scenario(s, lab, &Tee(&*sh.sink, &collector), sh.run_start);
    let text = match &verdict {
        Verdict::Passed => String::new(),
        Verdict::Failed { span, failure } => {
            let step = collector
                .failed_steps()
                .into_iter()
                .next()
                .map(|f| format!("step {} {} failed\n", f.step, f.summary))
                .unwrap_or_default();
            format!("{step}{}", failure_lines(&span.to_string(), failure, ""))
        }
    };
    (verdict, text)
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
        let (verdict, text) = attempt(sh, s, n);
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
                    scenario: s.name.clone(),
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
