//! The engine against the sim (the one fake, with its test hooks): what a user of a run would notice.

use super::run_scenario;
use crate::backends::sim::SimLab;
use crate::ioreturn::{ReturnCode, code};
use crate::lab::{Lab, UsbBus, UserClients, WaitFor};
use crate::report::{Collector, Console, FailureClass, Fanout, StepOutcome, Verdict};
use crate::scenario::{Expect, FaultKind, Scenario, StepKind};
use crate::testkit::{self as fake, fault, outcome, sim};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn run(s: &Scenario, lab: &Arc<SimLab>) -> (Verdict, Arc<Collector>) {
    let c = Arc::new(Collector::new());
    let lab: Arc<dyn Lab> = lab.clone();
    let v = run_scenario(s, lab, c.clone(), Instant::now());
    (v, c)
}

fn failed(v: &Verdict) -> &crate::report::Failure {
    match v {
        Verdict::Failed { failure, .. } => failure,
        Verdict::Passed => panic!("the scenario passed"),
    }
}

fn expect_code(c: u32) -> Expect {
    Expect {
        codes: vec![ReturnCode(c)],
        ..Expect::default()
    }
}

#[test]
fn await_open_call_close_passes_and_leaves_nothing_open() {
    let s = fake::scenario(
        "round-trip",
        vec![
            fake::step(
                5,
                StepKind::Await {
                    role: Some("p".into()),
                    state: WaitFor::Matched,
                },
            ),
            fake::open(6, "uc"),
            fake::call(
                7,
                0,
                Expect {
                    scalars: Some(vec![3]),
                    ..Expect::default()
                },
            ),
            fake::close(8),
        ],
    );
    let lab = sim(&s);
    lab.answer(0, outcome(code::kIOReturnSuccess, vec![3]));
    let (v, c) = run(&s, &lab);
    assert_eq!(v, Verdict::Passed, "{:?}", c.failed_steps());
    assert_eq!(lab.open_count(), 0);
    let opened = c
        .events()
        .into_iter()
        .find_map(|e| match e.kind {
            crate::report::EventKind::StepFinished {
                step,
                outcome: StepOutcome::Passed { detail },
                ..
            } if &*step == "2" => Some(detail),
            _ => None,
        })
        .unwrap();
    assert!(
        opened.ends_with("IOUSBHostInterface@0/PrinterDriver"),
        "the open reports the registry path it opened: {opened}"
    );
}

#[test]
fn a_hung_call_fails_at_its_deadline_later_steps_do_not_run_and_its_connection_is_closed() {
    let mut hang = fake::call(7, 1, Expect::default());
    hang.deadline = Duration::from_millis(300);
    let mut s = fake::scenario(
        "hang",
        vec![
            fake::open(6, "uc"),
            hang,
            fake::call(8, 0, Expect::default()),
        ],
    );
    s.sim
        .faults
        .push(fault(FaultKind::CallHangs { selector: 1 }));
    let lab = sim(&s);
    lab.record_calls();
    let t = Instant::now();
    let (v, c) = run(&s, &lab);
    let step_took = c
        .events()
        .into_iter()
        .find_map(|e| match e.kind {
            crate::report::EventKind::StepFinished { step, took, .. } if &*step == "2" => {
                Some(took)
            }
            _ => None,
        })
        .unwrap();
    let f = failed(&v);
    assert_eq!(f.class, FailureClass::Driver);
    assert_eq!(
        f.message,
        "Hang on uc: no answer within 300ms: the call hung"
    );
    assert!(step_took >= Duration::from_millis(300), "{step_took:?}");
    // Released at its own 300 ms, not at the 10 s step default or the scenario's deadline: the margin is
    // for a loaded machine, not a speed goal (those live in the benches).
    assert!(step_took < Duration::from_millis(2300), "{step_took:?}");
    assert_eq!(c.started_steps(), ["1", "2"], "step 3 must not run");
    assert_eq!(lab.calls(), [1], "only the hung call reached the lab");
    assert_eq!(lab.open_count(), 0, "the abandoned connection is closed");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[test]
fn an_unexpected_code_fails_with_its_span_and_decoded_name() {
    let s = fake::scenario(
        "bad-arg",
        vec![
            fake::open(6, "uc"),
            fake::call(14, 0, Expect::default()),
            fake::close(15),
        ],
    );
    let lab = sim(&s);
    lab.answer(0, outcome(code::kIOReturnBadArgument, vec![]));
    let console = Arc::new(Console::new(Vec::new()));
    let collector = Arc::new(Collector::new());
    let lab_dyn: Arc<dyn Lab> = lab.clone();
    let both: Arc<dyn crate::report::EventSink> =
        Arc::new(Fanout(vec![console.clone(), collector.clone()]));
    let v = run_scenario(&s, lab_dyn, both, Instant::now());
    let Verdict::Failed { span, failure } = &v else {
        panic!("passed")
    };
    assert_eq!(span.to_string(), "scenarios/x.yaml:14:5");
    assert_eq!(
        failure.message,
        "GetStatus on uc answered kIOReturnBadArgument (0xE00002C2)"
    );
    assert_eq!(failure.code, Some(ReturnCode(code::kIOReturnBadArgument)));
    assert_eq!(
        lab.open_count(),
        0,
        "closed at the end although step 3 never ran"
    );
    let console = Arc::try_unwrap(console)
        .ok()
        .expect("the run let go of its sinks when it returned");
    let text = String::from_utf8(console.into_inner()).unwrap();
    assert!(text.contains("scenarios/x.yaml:14:5"), "{text}");
    assert!(text.contains("kIOReturnBadArgument (0xE00002C2)"), "{text}");
    assert!(text.contains("✗ 2 call GetStatus on uc"), "{text}");
}

#[test]
fn an_expected_failure_code_passes() {
    let mut open = fake::open(6, "uc");
    if let StepKind::Open { expect, .. } = &mut open.kind {
        *expect = expect_code(code::kIOReturnNotPermitted);
    }
    let mut s = fake::scenario("refused", vec![open]);
    s.sim.faults.push(fault(FaultKind::OpenAnswers {
        role: None,
        code: ReturnCode(code::kIOReturnNotPermitted),
    }));
    let (v, c) = run(&s, &sim(&s));
    assert_eq!(v, Verdict::Passed, "{:?}", c.failed_steps());

    let mut s = fake::scenario(
        "bad-arg-expected",
        vec![
            fake::open(6, "uc"),
            fake::call(7, 0, expect_code(code::kIOReturnBadArgument)),
        ],
    );
    s.sim.faults.push(fault(FaultKind::CallAnswers {
        selector: 0,
        code: ReturnCode(code::kIOReturnBadArgument),
    }));
    assert_eq!(run(&s, &sim(&s)).0, Verdict::Passed);
}

#[test]
fn a_missing_printer_is_the_labs_failure() {
    let mut s = fake::scenario("no-printer", vec![fake::open(6, "uc")]);
    s.printers[0].vendor = Some(0x1343);
    let mut step = s.steps[0].clone();
    step.kind = StepKind::Replug { role: "p".into() };
    s.steps = vec![step];
    let (v, _) = run(&s, &fake::sim_without_roles(&s));
    let f = failed(&v);
    assert_eq!(f.class, FailureClass::Lab);
    assert!(
        f.message.contains("no printer matches role `p`"),
        "{}",
        f.message
    );
}

#[test]
fn a_panic_in_the_lab_fails_the_step_and_connections_are_still_closed() {
    let s = fake::scenario(
        "panics",
        vec![fake::open(6, "uc"), fake::call(7, 0, Expect::default())],
    );
    let lab = sim(&s);
    lab.panic_on(0);
    let (v, c) = run(&s, &lab);
    let f = failed(&v);
    assert_eq!(f.class, FailureClass::Lab);
    assert!(
        f.message.contains("sim test hook: a panic on selector 0"),
        "{}",
        f.message
    );
    assert_eq!(
        c.started_steps(),
        ["1", "2"],
        "the open ran before the call panicked"
    );
    assert_eq!(lab.open_count(), 0);
}

#[test]
fn repeats_number_their_steps_by_iteration_and_replug_comes_back_at_a_new_address() {
    let inner = vec![
        fake::step(10, StepKind::Replug { role: "p".into() }),
        fake::step(
            11,
            StepKind::Await {
                role: Some("p".into()),
                state: WaitFor::Matched,
            },
        ),
    ];
    let s = fake::scenario(
        "replugs",
        vec![
            fake::step(
                5,
                StepKind::CrossCheck {
                    role: "p".into(),
                    skip: vec![],
                    expect_mismatch: vec![],
                },
            ),
            fake::step(
                9,
                StepKind::Repeat {
                    times: 2,
                    steps: inner,
                },
            ),
        ],
    );
    let lab = sim(&s);
    let qw410 = |lab: &SimLab| {
        lab.devices()
            .unwrap()
            .into_iter()
            .find(|v| (v.vendor_id, v.product_id) == (0x1452, 0x9201))
            .expect("the QW410")
            .address
    };
    let before = qw410(&lab);
    let (v, c) = run(&s, &lab);
    assert_eq!(v, Verdict::Passed, "{:?}", c.failed_steps());
    assert_eq!(
        c.started_steps(),
        ["1", "2", "2.1.1", "2.1.2", "2.2.1", "2.2.2"]
    );
    assert_ne!(qw410(&lab), before, "replugged: a new address");
}

#[test]
fn a_cross_check_expecting_a_mismatch_that_is_not_there_fails() {
    let s = fake::scenario(
        "fixed-bug",
        vec![fake::step(
            5,
            StepKind::CrossCheck {
                role: "p".into(),
                skip: vec![],
                expect_mismatch: vec!["bcd_device".into()],
            },
        )],
    );
    let f = failed(&run(&s, &sim(&s)).0).clone();
    assert_eq!(f.class, FailureClass::Driver);
    assert_eq!(f.expected.as_deref(), Some("a mismatch in bcd_device"));
}

#[test]
fn a_service_that_never_matches_fails_the_await_as_the_drivers_fault() {
    let mut s = fake::scenario(
        "never-matches",
        vec![fake::step(
            5,
            StepKind::Await {
                role: Some("p".into()),
                state: WaitFor::Matched,
            },
        )],
    );
    s.steps[0].deadline = Duration::from_millis(100);
    s.sim
        .faults
        .push(fault(FaultKind::NeverMatch { role: "p".into() }));
    let f = failed(&run(&s, &sim(&s)).0).clone();
    assert_eq!(f.class, FailureClass::Driver);
    assert!(
        f.message.contains("IOUserClass PrinterDriver") && f.message.contains("within 100ms"),
        "{}",
        f.message
    );
}

#[test]
fn sleep_stops_at_the_scenario_deadline() {
    let mut s = fake::scenario(
        "sleepy",
        vec![fake::step(5, StepKind::Sleep(Duration::from_secs(30)))],
    );
    s.deadline = Duration::from_millis(100);
    let lab = sim(&s);
    let t = Instant::now();
    let f = failed(&run(&s, &lab).0).clone();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(f.message.contains("deadline of 100ms"), "{}", f.message);
}

#[test]
fn a_call_that_hangs_inside_a_repeat_fails_its_iteration_and_the_repeat_says_which() {
    let mut hang = fake::call(8, 1, Expect::default());
    hang.deadline = Duration::from_millis(200);
    let mut s = fake::scenario(
        "hang-in-repeat",
        vec![
            fake::open(6, "uc"),
            fake::step(
                7,
                StepKind::Repeat {
                    times: 2,
                    steps: vec![hang],
                },
            ),
        ],
    );
    s.sim
        .faults
        .push(fault(FaultKind::CallHangs { selector: 1 }));
    let lab = sim(&s);
    let (v, c) = run(&s, &lab);
    let Verdict::Failed { span, failure } = &v else {
        panic!("passed")
    };
    assert_eq!(span.to_string(), "scenarios/x.yaml:8:5");
    assert_eq!(failure.class, FailureClass::Driver);
    let finished: Vec<(String, String)> = c
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            crate::report::EventKind::StepFinished {
                step,
                outcome: StepOutcome::Failed(f),
                ..
            } => Some((step.to_string(), f.message)),
            _ => None,
        })
        .collect();
    assert_eq!(
        finished,
        [
            (
                "2.1.1".to_string(),
                "Hang on uc: no answer within 200ms: the call hung".to_string()
            ),
            (
                "2".to_string(),
                "iteration 1 of 2 failed at scenarios/x.yaml:8:5".to_string()
            ),
        ]
    );
    assert_eq!(lab.open_count(), 0, "the hung call's connection is closed");
}

/// What one sink call carried: `step_started 2`, `log_line 2`, `step_finished 2 failed`, ...
#[derive(Default)]
struct Batches(std::sync::Mutex<Vec<Vec<String>>>);

impl Batches {
    fn label(e: &crate::report::RunEvent) -> String {
        use crate::report::EventKind as K;
        match &e.kind {
            K::ScenarioStarted { .. } => "scenario_started".into(),
            K::ScenarioFinished { .. } => "scenario_finished".into(),
            K::StepStarted { step, .. } => format!("step_started {step}"),
            K::LogLine { step, .. } => format!("log_line {step}"),
            K::StepFinished {
                step,
                outcome: StepOutcome::Failed(_),
                ..
            } => format!("step_finished {step} failed"),
            K::StepFinished { step, .. } => format!("step_finished {step}"),
            other => format!("{other:?}"),
        }
    }
    fn taken(&self) -> Vec<Vec<String>> {
        self.0.lock().unwrap().clone()
    }
    /// The batches with log lines left out: they are the lab's business; what matters is where the starts
    /// and ends sit.
    fn without_log_lines(&self) -> Vec<Vec<String>> {
        self.taken()
            .into_iter()
            .map(|b| {
                b.into_iter()
                    .filter(|l| !l.starts_with("log_line"))
                    .collect()
            })
            .collect()
    }
}

impl crate::report::EventSink for Batches {
    fn event(&self, e: &crate::report::RunEvent) {
        self.0.lock().unwrap().push(vec![Self::label(e)]);
    }
    fn events(&self, es: &[crate::report::RunEvent]) {
        self.0
            .lock()
            .unwrap()
            .push(es.iter().map(Self::label).collect());
    }
}

/// The journal writes what one sink call carries with one `write`: a step's log lines and end go with the
/// next step's start (nothing runs against the lab between them), so every step's start reaches the sinks
/// before its lab operation, and nothing is held back past the scenario's end.
#[test]
fn a_steps_end_travels_with_the_next_steps_start_and_nothing_is_held_past_the_end() {
    let s = fake::scenario(
        "batched",
        vec![
            fake::open(5, "uc"),
            fake::call(6, 0, Expect::default()),
            fake::call(7, 0, Expect::default()),
            fake::close(8),
        ],
    );
    let lab = sim(&s);
    lab.answer(0, outcome(code::kIOReturnSuccess, vec![1]));
    let b = Arc::new(Batches::default());
    let v = run_scenario(&s, lab.clone(), b.clone(), Instant::now());
    assert_eq!(v, Verdict::Passed);
    let batches = b.without_log_lines();
    assert_eq!(
        batches,
        [
            vec!["scenario_started"],
            vec!["step_started 1"],
            vec!["step_finished 1", "step_started 2"],
            vec!["step_finished 2", "step_started 3"],
            vec!["step_finished 3", "step_started 4"],
            vec!["step_finished 4"],
            vec!["scenario_finished"],
        ]
    );
    // A call's log lines come in its own step's end batch, before its `step_finished`.
    let with_logs = b.taken();
    let call = with_logs
        .iter()
        .find(|b| b.iter().any(|l| l == "step_finished 2"))
        .unwrap();
    let end = call.iter().position(|l| l == "step_finished 2").unwrap();
    assert!(
        call[..end].iter().all(|l| l == "log_line 2"),
        "only step 2's lines precede its end: {call:?}"
    );
}

/// A failed step is a verdict: its end goes out at once, on its own, and no later step starts.
#[test]
fn a_failed_steps_end_is_sent_at_once_and_nothing_starts_after_it() {
    let s = fake::scenario(
        "fails",
        vec![
            fake::open(5, "uc"),
            fake::call(6, 0, expect_code(code::kIOReturnSuccess)),
            fake::close(7),
        ],
    );
    let lab = sim(&s);
    lab.answer(0, outcome(code::kIOReturnBadArgument, vec![]));
    let b = Arc::new(Batches::default());
    let v = run_scenario(&s, lab.clone(), b.clone(), Instant::now());
    assert!(matches!(v, Verdict::Failed { .. }));
    let batches = b.without_log_lines();
    assert_eq!(
        batches,
        [
            vec!["scenario_started"],
            vec!["step_started 1"],
            vec!["step_finished 1", "step_started 2"],
            vec!["step_finished 2 failed"],
            vec!["scenario_finished"],
        ]
    );
}
