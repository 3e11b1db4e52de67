//! The fuzz loop. proptest generates each case's value tree from a seeded runner (a run replays exactly);
//! the loop itself is ours, so it keeps going after a finding: each distinct finding (by signature) is
//! shrunk (bounded by iterations, time and the run's budget), written out and reported as it is found, and
//! later cases with a signature already found are only counted. The loop runs on one thread of its own for
//! the whole run, under a watchdog that releases a hung call by closing its connection; every operation is
//! sent to the event sink (the journal) before it runs.

use super::case::FuzzOp;
use super::exec::{Exec, Finding, FuzzDog, Stop, Target};
use super::model::{Caps, Intent, Model, resolve, sequences};
use super::write::{ScenarioSpec, write_scenario};
use crate::driver::Driver;
use crate::lab::{ConnectionId, Lab};
use crate::ops::deadline::{Watched, run_watched_releasing};
use crate::report::{EventKind, EventSink, RunEvent};
use crate::scenario::Durability;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use thiserror::Error;

/// Where and how findings are written as scenarios (`None` in [`FuzzOptions`]: not written).
#[derive(Clone, Debug)]
pub struct WriteFindings {
    pub dir: PathBuf,
    /// The driver file, as the fuzzer loaded it (the scenario names it relative to `dir`).
    pub driver_file: PathBuf,
    /// The catalog model of the printer fuzzed, if any.
    pub printer_model: Option<String>,
}

#[derive(Clone, Debug)]
pub struct FuzzOptions {
    pub cases: u32,
    /// `None`: a fresh seed (printed, so the run can be replayed).
    pub seed: Option<u64>,
    /// The run ends after this long, shrinking included (a `fuzz` step's budget, capped by its deadline).
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
    /// End the run at the first finding (the old behaviour).
    pub stop_at_first: bool,
    pub write: Option<WriteFindings>,
}

impl Default for FuzzOptions {
    fn default() -> Self {
        FuzzOptions {
            cases: 1000,
            seed: None,
            budget: None,
            selectors: Vec::new(),
            durability: Durability::Batch,
            within: crate::scenario::DEFAULT_OPERATION_DEADLINE,
            max_ops: 6,
            shrink_iters: 512,
            shrink_time: Duration::from_secs(60),
            stop_at_first: false,
            write: None,
        }
    }
}

/// One distinct finding, shrunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub finding: Finding,
    pub ops: Vec<FuzzOp>,
    /// The number of the case that failed last (the minimal one).
    pub case: u64,
    /// The case that failed first, before shrinking.
    pub first_ops: Vec<FuzzOp>,
    /// Shrinking ran out of iterations, time or budget before it could simplify no further.
    pub shrink_cut: bool,
    /// The scenario written for it.
    pub scenario: Option<PathBuf>,
    /// Later generated cases with the same signature.
    pub repeats: u64,
}

/// Why the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    AllCases,
    Budget,
    FirstFinding,
}

impl Ended {
    /// As the `fuzz_finished` event says it.
    pub fn text(self) -> &'static str {
        match self {
            Ended::AllCases => "all cases",
            Ended::Budget => "budget",
            Ended::FirstFinding => "first finding",
        }
    }
}

#[derive(Clone, Debug)]
pub struct FuzzOutcome {
    pub seed: u64,
    /// Cases generated (not counting shrinking attempts).
    pub generated: u64,
    /// Cases run, shrinking attempts included.
    pub cases: u64,
    pub ops: u64,
    pub took: Duration,
    pub findings: Vec<Found>,
    pub ended: Ended,
    pub coverage: Vec<crate::report::events::CoverageRow>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FuzzError {
    #[error("the lab could not run a fuzz case: {0}")]
    Lab(String),
    #[error("proptest stopped the run: {0}")]
    Runner(String),
    #[error(
        "an operation hung and closing its connection did not release it: the fuzz run was abandoned in case {case}"
    )]
    Hung { case: u64 },
    #[error("the fuzzer panicked (a bug in dexthil or its lab backend): {0}")]
    Panicked(String),
    #[error(transparent)]
    Write(#[from] WriteFailed),
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct WriteFailed(pub String);

/// A seed from the clock, for a run that was given none.
pub fn fresh_seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_nanos() as u64) ^ ((std::process::id() as u64) << 32)
}

struct Loop<'a, R> {
    exec: Exec<'a, R>,
    sink: &'a dyn EventSink,
    run_start: Instant,
    caps: Caps,
    sync: bool,
    case: u64,
    ops: u64,
}

impl<R> Loop<'_, R> {
    fn emit(&self, kind: EventKind) {
        self.sink.event(&RunEvent {
            elapsed: self.run_start.elapsed(),
            kind,
        });
    }

    /// The operations a case's intents become, a connection left open closed at the end.
    fn ops_of(&self, intents: &[Intent]) -> Vec<FuzzOp> {
        let mut ops = resolve(intents, self.caps);
        let mut model = Model::default();
        ops.iter().for_each(|o| model.apply(o));
        if model.open && !self.caps.fixed_connection {
            ops.push(FuzzOp::Close);
        }
        ops
    }

    /// One case; `Err` (the lab broke) ends the run.
    fn run_case(
        &mut self,
        ops: Vec<FuzzOp>,
        shrinking: bool,
    ) -> Result<Option<(Finding, Vec<FuzzOp>)>, String> {
        self.case += 1;
        self.exec.counting = !shrinking;
        if let Err(Stop::Lab(e) | Stop::Finding(Finding { message: e, .. })) =
            self.exec.begin_case()
        {
            return Err(e);
        }
        let mut result = Ok(None);
        for (step, op) in ops.iter().enumerate() {
            self.emit(EventKind::FuzzCase {
                case: self.case,
                step: step as u32,
                shrinking,
                sync: self.sync,
                op: op.clone(),
            });
            self.ops += 1;
            match self.exec.run_op(step as u32, op) {
                Ok(()) => {}
                Err(Stop::Lab(e)) => {
                    result = Err(e);
                    break;
                }
                Err(Stop::Finding(f)) => {
                    result = Ok(Some((f, ops.clone())));
                    break;
                }
            }
        }
        self.exec.end_case();
        if let (Ok(None), Some(last)) = (&result, ops.last()) {
            match self.exec.check_alive(ops.len() as u32 - 1, last) {
                Ok(()) => {}
                Err(Stop::Finding(f)) => result = Ok(Some((f, ops.clone()))),
                Err(Stop::Lab(e)) => result = Err(e),
            }
        }
        result
    }
}

/// Fuzz the dext behind `target` on `lab`. Events go to `sink`: a `FuzzCase` per operation, a
/// `FuzzFinding` per distinct finding, the coverage and the end. Runs on a thread of its own under a
/// watchdog; the caller waits.
pub fn fuzz(
    lab: Arc<dyn Lab>,
    driver: Arc<Driver>,
    target: Target,
    opts: &FuzzOptions,
    sink: Arc<dyn EventSink>,
    run_start: Instant,
) -> Result<FuzzOutcome, FuzzError> {
    let opts = opts.clone();
    let release_lab = lab.clone();
    // What the run has got to, for a report should it be abandoned.
    let case_now = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let theirs = case_now.clone();
    let release = move |on: Option<ConnectionId>| {
        if let Some(id) = on {
            tracing::debug!(
                connection = id,
                "a fuzz operation hung: closing its connection"
            );
            let _ = release_lab.close(id);
        }
    };
    let job = move |dog: &FuzzDog<Result<FuzzOutcome, FuzzError>>| {
        fuzz_loop(dog, lab, driver, target, &opts, &*sink, run_start, &theirs)
    };
    match run_watched_releasing("fuzz", None, release, job) {
        Watched::Finished(r, _) => r,
        Watched::Panicked(text, _) => Err(FuzzError::Panicked(text)),
        Watched::Tripped(_) => Err(FuzzError::Hung {
            case: case_now.load(std::sync::atomic::Ordering::Relaxed),
        }),
    }
}

#[allow(clippy::too_many_arguments)]
fn fuzz_loop<R>(
    dog: &FuzzDog<R>,
    lab: Arc<dyn Lab>,
    driver: Arc<Driver>,
    target: Target,
    opts: &FuzzOptions,
    sink: &dyn EventSink,
    run_start: Instant,
    case_now: &std::sync::atomic::AtomicU64,
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
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        ..Config::default()
    });
    let deadline = opts.budget.map(|b| started + b);
    let out_of_time = |at: Instant| deadline.is_some_and(|d| at >= d);
    let mut st = Loop {
        exec: Exec::new(dog, lab, driver.clone(), target, opts.within),
        sink,
        run_start,
        caps,
        sync: opts.durability == Durability::Case,
        case: 0,
        ops: 0,
    };
    let mut findings: Vec<Found> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut generated = 0u64;
    let mut ended = Ended::AllCases;
    while generated < u64::from(opts.cases) {
        if out_of_time(Instant::now()) {
            ended = Ended::Budget;
            break;
        }
        let mut tree = strategy
            .new_tree(&mut runner)
            .map_err(|e| FuzzError::Runner(e.to_string()))?;
        generated += 1;
        case_now.store(st.case + 1, std::sync::atomic::Ordering::Relaxed);
        let ops = st.ops_of(&tree.current());
        let Some((first, first_ops)) = st.run_case(ops, false).map_err(FuzzError::Lab)? else {
            continue;
        };
        if !seen.insert(first.signature.clone()) {
            if let Some(f) = findings
                .iter_mut()
                .find(|f| f.finding.signature == first.signature)
            {
                f.repeats += 1;
            }
            continue;
        }
        let mut found = shrink(&mut st, &mut tree, first, first_ops, opts, &out_of_time)?;
        if let Some(w) = &opts.write {
            let spec = ScenarioSpec {
                driver: &driver,
                driver_file: &w.driver_file,
                seed,
                printer_model: w.printer_model.as_deref(),
                within: opts.within,
            };
            let path =
                write_scenario(&spec, &found, &w.dir).map_err(|e| WriteFailed(e.to_string()))?;
            found.scenario = Some(path);
        }
        st.emit(finding_event(seed, &found));
        findings.push(found);
        if opts.stop_at_first {
            ended = Ended::FirstFinding;
            break;
        }
    }
    let coverage = st.exec.coverage.rows(&driver);
    st.emit(EventKind::FuzzCoverage {
        rows: coverage.clone(),
    });
    let outcome = FuzzOutcome {
        seed,
        generated,
        cases: st.case,
        ops: st.ops,
        took: started.elapsed(),
        findings,
        ended,
        coverage,
    };
    st.emit(EventKind::FuzzFinished {
        seed,
        cases: outcome.cases,
        generated: outcome.generated,
        ended: outcome.ended.text().into(),
        ops: outcome.ops,
        findings: outcome.findings.len(),
        took: outcome.took,
    });
    Ok(outcome)
}

/// Shrink a failing case to a minimal one with the same signature (a simpler case that fails differently
/// is another bug, found on its own): proptest's simplify / complicate walk over the value tree.
fn shrink<R, T: ValueTree<Value = Vec<Intent>>>(
    st: &mut Loop<'_, R>,
    tree: &mut T,
    first: Finding,
    first_ops: Vec<FuzzOp>,
    opts: &FuzzOptions,
    out_of_time: &dyn Fn(Instant) -> bool,
) -> Result<Found, FuzzError> {
    let signature = first.signature.clone();
    let mut best = (first, first_ops.clone(), st.case);
    let shrink_until = Instant::now() + opts.shrink_time;
    let mut iterations = 0;
    let mut cut = false;
    if tree.simplify() {
        loop {
            if iterations >= opts.shrink_iters
                || Instant::now() >= shrink_until
                || out_of_time(Instant::now())
            {
                cut = true;
                break;
            }
            iterations += 1;
            let ops = st.ops_of(&tree.current());
            // A simplification of a value the case does not send (scalars past the count, a choice the
            // model dropped) is the same case: it fails the same way without lab time spent on it.
            let failed = if ops == best.1 {
                Some((best.0.clone(), ops))
            } else {
                st.run_case(ops, true).map_err(FuzzError::Lab)?
            };
            let more = match failed {
                Some((f, ops)) if f.signature == signature => {
                    best = (f, ops, st.case);
                    tree.simplify()
                }
                _ => tree.complicate(),
            };
            if !more {
                break;
            }
        }
    }
    let (finding, ops, case) = best;
    Ok(Found {
        finding,
        ops,
        case,
        first_ops,
        shrink_cut: cut,
        scenario: None,
        repeats: 0,
    })
}

fn finding_event(seed: u64, f: &Found) -> EventKind {
    EventKind::FuzzFinding {
        signature: f.finding.signature.clone(),
        seed,
        case: f.case,
        ops: f.ops.clone(),
        step: f.finding.step,
        message: f.finding.message.clone(),
        expected: f.finding.expected.clone(),
        actual: f.finding.actual.clone(),
        scenario: f.scenario.as_ref().map(|p| p.display().to_string()),
    }
}
