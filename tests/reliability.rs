//! Hangs, leaks and long runs, through the library on the sim lab: a hung call or a match that never
//! comes fails its step at its deadline (within deadline + 10 %) and the run goes on; 10,000 open / call /
//! close cycles leave no connection open and memory flat; hung calls released at the end of their
//! scenario leave no lab threads behind. The tests here take one lock, so their threads and memory are
//! their own to count.

mod support;
use support::dexthil;

use dexthil::backends::sim::SimLab;
use dexthil::engine::run_scenario;
use dexthil::lab::UserClients;
use dexthil::report::{Collector, EventKind, EventSink, RunEvent, StepOutcome, Verdict};
use dexthil::scenario::{Scenario, load_scenario};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

fn serial() -> MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn scenario(name: &str, body: &str) -> Scenario {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dexthil-reliability-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let drivers = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/drivers");
    let text = body
        .replace(
            "@DNP",
            &drivers.join("dnp-printer.yaml").display().to_string(),
        )
        .replace(
            "@APPLE",
            &drivers.join("apple-sample.yaml").display().to_string(),
        );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).expect("write scenario");
    load_scenario(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Run on a fresh sim lab; the lab is returned so its open connections can be counted.
fn run<S: EventSink + 'static>(s: &Scenario, sink: &Arc<S>) -> (Verdict, Arc<SimLab>) {
    let lab = Arc::new(SimLab::for_scenario(s).expect("sim lab"));
    let verdict = run_scenario(s, lab.clone(), sink.clone(), Instant::now());
    (verdict, lab)
}

/// How long the step at `line` took, from its finished event.
fn failed_step_took(events: &Collector, line: u32) -> Duration {
    events
        .events()
        .into_iter()
        .find_map(|e| match e.kind {
            EventKind::StepFinished {
                span,
                outcome: StepOutcome::Failed(_),
                took,
                ..
            } if span.line == line => Some(took),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no failed step at line {line}: {:#?}", events.events()))
}

/// Failed at its own deadline: not before it, and not at some later limit (the 10 s step default, the
/// scenario's deadline). The 2 s margin is for a loaded machine (these share two cores with other builds);
/// how fast a deadline fires is a speed figure, measured in `benches/engine.rs`, not asserted here.
fn assert_at_its_deadline(took: Duration, deadline: Duration) {
    assert!(took >= deadline, "failed early: {took:?} < {deadline:?}");
    assert!(
        took <= deadline + Duration::from_secs(2),
        "failed late: {took:?} > {deadline:?} + 2 s, so it waited for some other limit"
    );
}

const HANG: &str = "driver: @DNP
printers:
  p: { model: DS620 }
sim:
  faults:
    - { hang: GetStatus }
steps:
  - open: { printer: p, as: uc }
  - call: { on: uc, selector: GetStatus, within: 300ms }
  - close: uc
";

const FINE: &str = "driver: @DNP
printers:
  p: { model: DS620 }
steps:
  - open: { printer: p, as: uc }
  - call: { on: uc, selector: GetStatus, expect: { scalars: [0] } }
  - close: uc
";

#[test]
fn a_hung_call_fails_at_its_deadline_its_connection_is_closed_and_the_next_scenario_passes() {
    let _one = serial();
    let events = Arc::new(Collector::new());
    let (verdict, lab) = run(&scenario("hang", HANG), &events);
    let Verdict::Failed { span, failure } = verdict else {
        panic!("a hung call passed");
    };
    assert_eq!(span.line, 9);
    assert!(
        failure.message.contains("no answer within 300ms"),
        "{failure:?}"
    );
    assert_at_its_deadline(failed_step_took(&events, 9), Duration::from_millis(300));
    assert_eq!(
        lab.open_count(),
        0,
        "the abandoned connection was not closed"
    );
    // The close at the end of the scenario releases the hung call; its thread wakes to count down.
    let until = Instant::now() + Duration::from_secs(2);
    while lab.hung_calls() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(lab.hung_calls(), 0, "the hung call was not released");
    let (next, _) = run(&scenario("after-hang", FINE), &Arc::new(Collector::new()));
    assert_eq!(next, Verdict::Passed);
}

#[test]
fn an_awaited_match_slower_than_its_deadline_fails_at_the_deadline() {
    let _one = serial();
    for fault in ["{ slow_match: p, delay: 5s }", "{ never_match: p }"] {
        let body = format!(
            "driver: @DNP\nprinters:\n  p: {{ model: QW410 }}\nsim:\n  faults:\n    - {fault}\nsteps:\n  - await: {{ printer: p, state: matched, within: 300ms }}\n"
        );
        let events = Arc::new(Collector::new());
        let (verdict, _) = run(&scenario("slow", &body), &events);
        assert!(
            matches!(verdict, Verdict::Failed { .. }),
            "{fault}: {verdict:?}"
        );
        assert_at_its_deadline(failed_step_took(&events, 8), Duration::from_millis(300));
    }
}

#[test]
fn after_re_enumeration_on_another_port_a_role_by_serial_resolves_and_one_by_location_does_not() {
    let _one = serial();
    // DS620 sits on bus 1, hub on root port 1, hub port 5: locationID 0x01150000.
    for (role, passes) in [
        ("{ serial: DS6C98031738 }", true),
        ("{ location: 0x01150000 }", false),
    ] {
        let body = format!(
            "driver: @DNP\nprinters:\n  p: {role}\nsim:\n  faults:\n    - {{ reenumerate: p, after: 10ms }}\nsteps:\n  - sleep: 200ms\n  - cross_check: p\n  - open: {{ printer: p, as: uc }}\n  - close: uc\n"
        );
        let (verdict, _) = run(&scenario("reenum", &body), &Arc::new(Collector::new()));
        assert_eq!(verdict == Verdict::Passed, passes, "{role}: {verdict:?}");
    }
}

/// Resident memory of this process in bytes (Linux: /proc/self/statm, second field, in pages).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Counts events without keeping them, so the test measures the engine and lab, not a collector.
#[derive(Default)]
struct Tally {
    failed: AtomicUsize,
}

impl EventSink for Tally {
    fn event(&self, event: &RunEvent) {
        if let EventKind::StepFinished {
            outcome: StepOutcome::Failed(_),
            ..
        } = &event.kind
        {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn cycles(times: u32) -> Scenario {
    scenario(
        &format!("cycles-{times}"),
        &format!(
            "driver: @APPLE\ndeadline: 30m\nsteps:\n  - repeat:\n      times: {times}\n      steps:\n        - open: {{ as: uc }}\n        - call: {{ on: uc, selector: CheckedScalar, scalars: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }}\n        - close: uc\n"
        ),
    )
}

#[test]
fn ten_thousand_open_call_close_cycles_leave_no_connection_open_and_memory_flat() {
    let _one = serial();
    let tally = Arc::new(Tally::default());
    let (verdict, lab) = run(&cycles(1_000), &tally);
    assert_eq!(verdict, Verdict::Passed);
    assert_eq!(lab.open_count(), 0);
    drop(lab);
    let after_1k = resident_bytes();
    let (verdict, lab) = run(&cycles(10_000), &tally);
    assert_eq!(verdict, Verdict::Passed);
    assert_eq!(lab.open_count(), 0, "connections leaked");
    assert_eq!(tally.failed.load(Ordering::Relaxed), 0);
    if let (Some(before), Some(after)) = (after_1k, resident_bytes()) {
        let growth = after.saturating_sub(before);
        assert!(
            growth < 8 * 1024 * 1024,
            "resident memory grew {} KiB from 1,000 to 10,000 cycles",
            growth / 1024
        );
    }
}

/// Threads the engine and the sim lab start (names are cut to 15 bytes in /proc).
fn lab_threads() -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|c| c.starts_with("dexthil-lab") || c.starts_with("sim-lab-timer"))
            .count(),
    )
}

#[test]
fn hung_calls_released_at_the_end_of_their_scenarios_leave_no_threads_behind() {
    let _one = serial();
    let Some(baseline) = lab_threads() else {
        return; // no /proc: not Linux
    };
    let s = scenario("hang-threads", &HANG.replace("300ms", "50ms"));
    for _ in 0..20 {
        let (verdict, lab) = run(&s, &Arc::new(Tally::default()));
        assert!(matches!(verdict, Verdict::Failed { .. }));
        drop(lab);
    }
    // Abandoned workers finish once their hung call is released by the close; give them a moment.
    let until = Instant::now() + Duration::from_secs(5);
    let mut now = lab_threads().unwrap_or(0);
    while now > baseline && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
        now = lab_threads().unwrap_or(0);
    }
    assert!(
        now <= baseline,
        "{now} lab threads left after 20 hung scenarios (baseline {baseline})"
    );
}

/// The `dexthil` binary, run from the repository (as tests/cli.rs does).

#[test]
fn a_driver_path_outside_the_root_is_bad_input_and_nothing_runs() {
    let file = "tests/malformed/driver-path-escapes-root.yaml";
    let (code, out) = dexthil(&["run", "--lab", "sim", file]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&format!("{file}:1:9: driver file")), "{out}");
    assert!(out.contains("outside the scenario root"), "{out}");
    assert!(out.contains("nothing was run"), "{out}");
}

#[test]
fn a_match_that_never_comes_fails_the_scenario_at_its_deadline() {
    let (code, out) = dexthil(&["run", "--lab", "sim", "tests/failing/never-match.yaml"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("never-match.yaml:13:5"), "{out}");
    assert!(out.contains("did not appear within 300ms"), "{out}");
}
