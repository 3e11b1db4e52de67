//! `run --isolate` through the binary: an abort of dexthil itself (the sim fault `abort`, as a crash in our
//! FFI) fails only its scenario, as the lab's fault, and the next scenario passes; without `--isolate` the
//! same abort kills the whole run. A hung call in a child still fails at its deadline.

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("isolate-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `dexthil run --lab sim --jobs 1 --journal J --junit X ARGS`, in order, so `aborts` runs before `passes`.
fn run(dir: &Path, args: &[&str]) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dexthil"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--lab", "sim", "--jobs", "1", "--journal"])
        .arg(dir.join("j.jsonl"))
        .arg("--junit")
        .arg(dir.join("junit.xml"))
        .args(args)
        .output()
        .expect("the dexthil binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

fn journal(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("j.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn status_of(r: &Report, name: &str) -> TestCaseStatus {
    r.test_suites[0]
        .test_cases
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("no testcase {name}"))
        .status
        .clone()
}

const CORPUS: [&str; 2] = ["tests/isolate/aborts.yaml", "tests/isolate/passes.yaml"];

#[test]
fn under_isolate_an_abort_fails_only_its_scenario_as_the_labs_fault_and_the_next_one_passes() {
    let dir = scratch("abort");
    let mut args = vec!["--isolate"];
    args.extend(CORPUS);
    let (out, text) = run(&dir, &args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a crash of dexthil is the lab's: {text}"
    );
    assert!(text.contains("killed by SIGABRT"), "{text}");
    assert!(
        text.contains("during step 2 call GetStatus on uc"),
        "{text}"
    );
    assert!(
        text.contains("aborts.yaml:11:5"),
        "the failed step's place: {text}"
    );
    assert!(
        text.contains("1 passed, 1 failed (1 of them lab errors)"),
        "{text}"
    );

    let report =
        Report::deserialize_from_str(&std::fs::read_to_string(dir.join("junit.xml")).unwrap())
            .unwrap();
    assert!(matches!(
        status_of(&report, "passes"),
        TestCaseStatus::Success { .. }
    ));
    match status_of(&report, "aborts") {
        TestCaseStatus::NonSuccess {
            kind, ty, message, ..
        } => {
            assert_eq!(kind, NonSuccessKind::Error);
            assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("infrastructure"));
            assert!(message.unwrap().as_str().contains("SIGABRT"));
        }
        other => panic!("{other:?}"),
    }
    let events = journal(&dir);
    assert_eq!(events.last().unwrap()["event"], "run_finished");
}

#[cfg(unix)]
#[test]
fn without_isolate_the_same_abort_kills_the_whole_run() {
    use std::os::unix::process::ExitStatusExt;
    let dir = scratch("no-isolate");
    let (out, text) = run(&dir, &CORPUS);
    assert_eq!(out.status.code(), None, "{text}");
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{text}");
    // The journal keeps what happened up to the abort, and nothing after: `passes` never ran.
    let events = journal(&dir);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "step_started" && e["scenario"] == "aborts" && e["step"] == "2")
    );
    assert!(
        !events.iter().any(|e| e["scenario"] == "passes"),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e["event"] == "run_finished"));
    assert!(
        !dir.join("junit.xml").exists(),
        "nothing was left to write JUnit"
    );
}

#[test]
fn under_isolate_a_hung_call_fails_at_its_deadline_and_the_run_goes_on() {
    let dir = scratch("hang");
    let (out, text) = run(
        &dir,
        &[
            "--isolate",
            "tests/isolate/hangs.yaml",
            "tests/isolate/passes.yaml",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a hang is the driver's failure: {text}"
    );
    assert!(text.contains("no answer within 500ms"), "{text}");
    let events = journal(&dir);
    let took = events
        .iter()
        .find(|e| e["event"] == "step_finished" && e["scenario"] == "hangs" && e["step"] == "2")
        .map(|e| serde_json::from_value::<Duration>(e["took"].clone()).unwrap())
        .expect("the hung step finished");
    let deadline = Duration::from_millis(500);
    assert!(took >= deadline, "failed early: {took:?}");
    assert!(took <= deadline + deadline / 10, "failed late: {took:?}");
    assert!(
        events.iter().any(|e| e["event"] == "scenario_finished"
            && e["scenario"] == "passes"
            && e["verdict"]["verdict"] == "passed"),
        "the next scenario ran and passed: {text}"
    );
}
