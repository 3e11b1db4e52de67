//! The fuzz loop: a proptest [`TestRunner`] driven by the tool (not `#[test]`), seeded so a run replays
//! exactly, its shrinking bounded by iterations and time since every attempt costs lab time. Each
//! operation goes to the event sink (the journal) before it runs.

use super::case::FuzzOp;
use super::exec::{Exec, Finding, Stop, Target};
use super::model::{Caps, Intent, Model, resolve, sequences};
use crate::driver::Driver;
use crate::lab::Lab;
use crate::report::{EventKind, EventSink, RunEvent};
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestCaseError, TestError, TestRunner};
use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use thiserror::Error;

/// When the journal fsyncs a case: before every operation (for hunting kernel panics), or in batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    Case,
    #[default]
    Batch,
}

impl Durability {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "case" => Ok(Durability::Case),
            "batch" => Ok(Durability::Batch),
            _ => Err(format!(
                "`{text}` is not a durability: use `case` or `batch`"
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct FuzzOptions {
    pub cases: u32,
    /// `None`: a fresh seed (printed, so the run can be replayed).
    pub seed: Option<u64>,
    /// Stop generating new cases after this long.
    pub budget: Option<Duration>,
    /// Selector ids to fuzz; empty: all of the driver's.
    pub selectors: Vec<u32>,
    pub durability: Durability,
    /// Each operation's deadline.
    pub within: Duration,
    /// Operations a case has at most.
    pub max_ops: usize,
    pub shrink_iters: u32,
    pub shrink_time: Duration,
}

impl Default for FuzzOptions {
    fn default() -> Self {
        FuzzOptions {
            cases: 1000,
            seed: None,
            budget: None,
            selectors: Vec::new(),
            durability: Durability::Batch,
            within: Duration::from_secs(2),
            max_ops: 6,
            shrink_iters: 512,
            shrink_time: Duration::from_secs(60),
        }
    }
}

/// The minimal failing case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub finding: Finding,
    pub ops: Vec<FuzzOp>,
    /// The number of the case that failed last (the minimal one).
    pub case: u64,
    /// The case that failed first, before shrinking.
    pub first_ops: Vec<FuzzOp>,
}

#[derive(Clone, Debug)]
pub struct FuzzOutcome {
    pub seed: u64,
    /// Cases run, shrinking attempts included.
    pub cases: u64,
    pub ops: u64,
    pub took: Duration,
    pub found: Option<Found>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FuzzError {
    #[error("the lab could not run a fuzz case: {0}")]
    Lab(String),
    #[error("proptest stopped the run: {0}")]
    Runner(String),
}

/// A seed from the clock, for a run that was given none.
pub fn fresh_seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_nanos() as u64) ^ ((std::process::id() as u64) << 32)
}

struct Loop<'a> {
    exec: Exec,
    sink: &'a dyn EventSink,
    run_start: Instant,
    caps: Caps,
    sync: bool,
    case: u64,
    ops: u64,
    found: Option<Found>,
    first_ops: Option<Vec<FuzzOp>>,
    lab_error: Option<String>,
}

impl Loop<'_> {
    fn run_case(&mut self, intents: &[Intent]) -> Result<(), (Finding, Vec<FuzzOp>)> {
        let mut ops = resolve(intents, self.caps);
        let mut model = Model::default();
        ops.iter().for_each(|o| model.apply(o));
        if model.open && !self.caps.fixed_connection {
            ops.push(FuzzOp::Close);
        }
        self.case += 1;
        let shrinking = self.first_ops.is_some();
        if let Err(Stop::Lab(e)) = self.exec.begin_case() {
            self.lab_error = Some(e);
            return Ok(());
        }
        let mut result = Ok(());
        for (step, op) in ops.iter().enumerate() {
            self.sink.event(&RunEvent {
                elapsed: self.run_start.elapsed(),
                kind: EventKind::FuzzCase {
                    case: self.case,
                    step: step as u32,
                    shrinking,
                    sync: self.sync,
                    op: op.clone(),
                },
            });
            self.ops += 1;
            match self.exec.run_op(step as u32, op) {
                Ok(()) => {}
                Err(Stop::Lab(e)) => {
                    self.lab_error = Some(e);
                    break;
                }
                Err(Stop::Finding(f)) => {
                    result = Err((f, ops.clone()));
                    break;
                }
            }
        }
        self.exec.end_case();
        result
    }
}

/// Fuzz the dext behind `target` on `lab`. Events (one `FuzzCase` per operation) go to `sink`; the caller
/// reports the outcome (see [`finished_events`]).
pub fn fuzz(
    lab: Arc<dyn Lab>,
    driver: Arc<Driver>,
    target: Target,
    opts: &FuzzOptions,
    sink: &dyn EventSink,
    run_start: Instant,
) -> Result<FuzzOutcome, FuzzError> {
    let started = Instant::now();
    let seed = opts.seed.unwrap_or_else(fresh_seed);
    let selectors: Vec<u32> = if opts.selectors.is_empty() {
        driver.selectors.iter().map(|s| s.id).collect()
    } else {
        opts.selectors.clone()
    };
    let caps = Caps {
        fixed_connection: target.connection.is_some(),
        replug: target.printer.is_some() && target.connection.is_none(),
    };
    let strategy = sequences(&driver, &selectors, opts.max_ops);
    let config = Config {
        cases: opts.cases,
        max_shrink_iters: opts.shrink_iters,
        max_shrink_time: opts.shrink_time.as_millis().min(u32::MAX as u128) as u32,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        max_global_rejects: u32::MAX,
        max_local_rejects: u32::MAX,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let state = RefCell::new(Loop {
        exec: Exec::new(lab, driver, target, opts.within),
        sink,
        run_start,
        caps,
        sync: opts.durability == Durability::Case,
        case: 0,
        ops: 0,
        found: None,
        first_ops: None,
        lab_error: None,
    });
    let deadline = opts.budget.map(|b| started + b);
    let result = runner.run(&strategy, |intents| {
        let mut st = state.borrow_mut();
        let shrinking = st.first_ops.is_some();
        // Out of budget, or the lab broke: the remaining cases pass untried (shrinking still finishes).
        if st.lab_error.is_some() || (!shrinking && deadline.is_some_and(|d| Instant::now() >= d)) {
            return Ok(());
        }
        match st.run_case(&intents) {
            Ok(()) => Ok(()),
            Err((finding, ops)) => {
                let message = finding.message.clone();
                if st.first_ops.is_none() {
                    st.first_ops = Some(ops.clone());
                }
                let case = st.case;
                let first_ops = st.first_ops.clone().unwrap_or_default();
                st.found = Some(Found {
                    finding,
                    ops,
                    case,
                    first_ops,
                });
                Err(TestCaseError::fail(message))
            }
        }
    });
    let st = state.into_inner();
    if let Some(e) = st.lab_error {
        return Err(FuzzError::Lab(e));
    }
    match result {
        Ok(()) | Err(TestError::Fail(..)) => {}
        Err(TestError::Abort(why)) => return Err(FuzzError::Runner(why.to_string())),
    }
    Ok(FuzzOutcome {
        seed,
        cases: st.case,
        ops: st.ops,
        took: started.elapsed(),
        found: st.found,
    })
}

/// The events that close a fuzz run: its finding (with the scenario written for it) and the end.
pub fn finished_events(outcome: &FuzzOutcome, scenario: Option<String>) -> Vec<EventKind> {
    let mut out = Vec::new();
    if let Some(f) = &outcome.found {
        out.push(EventKind::FuzzFinding {
            seed: outcome.seed,
            case: f.case,
            ops: f.ops.clone(),
            step: f.finding.step,
            message: f.finding.message.clone(),
            expected: f.finding.expected.clone(),
            actual: f.finding.actual.clone(),
            scenario,
        });
    }
    out.push(EventKind::FuzzFinished {
        seed: outcome.seed,
        cases: outcome.cases,
        ops: outcome.ops,
        findings: usize::from(outcome.found.is_some()),
        took: outcome.took,
    });
    out
}
