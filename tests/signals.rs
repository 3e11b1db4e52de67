//! SIGINT and SIGTERM sent to a real `dexthil run` process: the first stops the run promptly (a 30 s sleep
//! does not hold it), closes the scenario's connection, ends the journal with `interrupted` and
//! `run_finished`, writes JUnit, and exits 2; SIGTERM does the same; a second SIGINT exits at once (130).
#![cfg(unix)]

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Generous: the point is that the run does not wait out the 30 s sleep.
const PROMPTLY: Duration = Duration::from_secs(10);

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("signals-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start(args: &[&str], journal: &Path, junit: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dexthil"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--lab", "sim", "--jobs", "1", "--journal"])
        .arg(journal)
        .arg("--junit")
        .arg(junit)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the dexthil binary runs")
}

/// Wait (bounded, so a broken runner fails the test instead of hanging it) until the journal holds `text`.
fn wait_for_journal(journal: &Path, text: &str) {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let j = std::fs::read_to_string(journal).unwrap_or_default();
        if j.contains(text) {
            return;
        }
        assert!(Instant::now() < until, "the journal never got {text}:\n{j}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send(child: &Child, signal: i32) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on the child this test spawned and has not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

/// Wait up to `bound` for the child to exit; its status, how long it took, and everything it printed.
fn finish(mut child: Child, bound: Duration) -> (ExitStatus, Duration, String) {
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > bound {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("dexthil was still running {bound:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = t.elapsed();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (status, took, out)
}

fn junit(path: &Path) -> Report {
    let xml = std::fs::read_to_string(path).expect("a JUnit file was written");
    Report::deserialize_from_str(&xml)
        .unwrap_or_else(|e| panic!("JUnit does not parse: {e}\n{xml}"))
}

fn status_of<'a>(r: &'a Report, name: &str) -> &'a TestCaseStatus {
    &r.test_suites[0]
        .test_cases
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("no testcase {name}"))
        .status
}

fn assert_interrupted_in_step_2(r: &Report) {
    match status_of(r, "sleeper") {
        TestCaseStatus::NonSuccess {
            kind, ty, message, ..
        } => {
            assert_eq!(*kind, NonSuccessKind::Error);
            assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("interrupted"));
            let m = message.as_ref().unwrap().as_str();
            assert!(m.contains("step 2 sleep 30s"), "{m}");
        }
        other => panic!("sleeper should be interrupted: {other:?}"),
    }
}

/// The first `signal` during the sleep of `tests/nightly/sleeper.yaml` (open, sleep 30s, close), with a
/// second scenario queued behind it.
fn stop_a_sleep_with(signal: i32, name: &str, extra: &[&str]) {
    let dir = scratch(name);
    let (journal, xml) = (dir.join("j.jsonl"), dir.join("junit.xml"));
    let mut args = extra.to_vec();
    args.extend(["tests/nightly/sleeper.yaml", "scenarios/smoke/ds620.yaml"]);
    let child = start(&args, &journal, &xml);
    wait_for_journal(
        &journal,
        r#""event":"step_started","scenario":"sleeper","step":"2""#,
    );
    send(&child, signal);
    let (status, took, out) = finish(child, PROMPTLY);
    assert!(took < PROMPTLY, "took {took:?}");
    assert_eq!(
        status.code(),
        Some(2),
        "an interrupted run does not pass the gate: {out}"
    );

    // The scenario stopped in its sleep and its connection was closed, as the console says.
    assert!(
        out.contains("INTERRUPTED during step 2 sleep 30s by"),
        "{out}"
    );
    assert!(out.contains("its connections were closed: uc"), "{out}");
    assert!(
        out.contains("1 not started"),
        "the queued scenario must not start: {out}"
    );

    let j = std::fs::read_to_string(&journal).unwrap();
    let events: Vec<serde_json::Value> = j
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let sig = if signal == libc::SIGTERM {
        "SIGTERM"
    } else {
        "SIGINT"
    };
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "interrupted" && e["signal"] == sig),
        "{j}"
    );
    assert_eq!(names.last(), Some(&"run_finished"), "{j}");
    assert_eq!(events.last().unwrap()["interrupted"], true, "{j}");
    assert!(
        !j.contains(r#""scenario_started","scenario":"smoke-ds620""#),
        "{j}"
    );

    let report = junit(&xml);
    assert_interrupted_in_step_2(&report);
    assert!(matches!(
        status_of(&report, "smoke-ds620"),
        TestCaseStatus::Skipped { .. }
    ));
}

#[test]
fn the_first_sigint_stops_a_long_sleep_promptly_closes_its_connection_and_writes_journal_and_junit()
{
    stop_a_sleep_with(libc::SIGINT, "sigint", &[]);
}

#[test]
fn sigterm_stops_the_run_like_the_first_sigint() {
    stop_a_sleep_with(libc::SIGTERM, "sigterm", &[]);
}

#[test]
fn sigint_under_isolate_stops_the_scenarios_child_process_the_same_way() {
    stop_a_sleep_with(libc::SIGINT, "isolate", &["--isolate"]);
}

/// The first `signal` while a call hangs with a 30 s deadline: the run ends long before the deadline, the
/// scenario interrupted in that step, its connection closed, journal and JUnit written.
fn stop_a_hung_call_with(signal: i32, name: &str, extra: &[&str]) {
    let dir = scratch(name);
    let (journal, xml) = (dir.join("j.jsonl"), dir.join("junit.xml"));
    let mut args = extra.to_vec();
    args.push("tests/signals/hang-long.yaml");
    let child = start(&args, &journal, &xml);
    wait_for_journal(
        &journal,
        r#""event":"step_started","scenario":"hang-long","step":"2""#,
    );
    send(&child, signal);
    // Today's bound is one second; the test allows far more on a loaded machine and still fails on a run
    // that waits out the call's 30 s deadline.
    let (status, took, out) = finish(child, PROMPTLY);
    assert!(took < PROMPTLY, "took {took:?}");
    assert_eq!(status.code(), Some(2), "{out}");
    assert!(out.contains("INTERRUPTED"), "{out}");
    // By the name the scenario gave it, not a connection number (the scenario thread was given up in
    // the hung call, so the name comes from what it published when it opened the connection).
    assert!(out.contains("its connections were closed: uc"), "{out}");
    let j = std::fs::read_to_string(&journal).unwrap();
    assert!(j.contains(r#""event":"run_finished""#), "{j}");
    assert!(
        !j.contains(r#""event":"step_finished","scenario":"hang-long","step":"2""#),
        "{j}"
    );
    match status_of(&junit(&xml), "hang-long") {
        TestCaseStatus::NonSuccess { ty, message, .. } => {
            assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("interrupted"));
            let m = message.as_ref().unwrap().as_str();
            assert!(m.contains("step 2 call GetStatus on uc"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_first_sigint_during_a_hung_call_ends_the_run_without_waiting_out_the_deadline() {
    stop_a_hung_call_with(libc::SIGINT, "hung", &[]);
}

#[test]
fn sigterm_during_a_hung_call_in_an_isolated_child_ends_child_and_run() {
    stop_a_hung_call_with(libc::SIGTERM, "hung-isolate", &["--isolate"]);
}

#[test]
fn an_isolated_child_does_not_outlive_a_parent_killed_outright() {
    let dir = scratch("orphan");
    let (journal, xml) = (dir.join("j.jsonl"), dir.join("junit.xml"));
    let mut child = start(
        &["--isolate", "tests/signals/hang-long.yaml"],
        &journal,
        &xml,
    );
    wait_for_journal(
        &journal,
        r#""event":"step_started","scenario":"hang-long","step":"2""#,
    );
    // The grandchild: the `__run-one` process whose parent is the run.
    let parent = child.id().to_string();
    let out = Command::new("pgrep")
        .args(["-P", &parent])
        .output()
        .unwrap();
    let grandchild: libc::pid_t = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("the run has an isolated child");
    child.kill().unwrap();
    child.wait().unwrap();
    let until = Instant::now() + PROMPTLY;
    // SAFETY: kill(2) with signal 0 only asks whether the process exists.
    while unsafe { libc::kill(grandchild, 0) } == 0 {
        assert!(
            Instant::now() < until,
            "the isolated child {grandchild} outlived its killed parent"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_sigint_exits_at_once_with_130() {
    let dir = scratch("twice");
    let (journal, xml) = (dir.join("j.jsonl"), dir.join("junit.xml"));
    let child = start(&["tests/signals/hang-long.yaml"], &journal, &xml);
    wait_for_journal(
        &journal,
        r#""event":"step_started","scenario":"hang-long","step":"2""#,
    );
    // The second comes while the run is still winding down from the first (closing the hung connection,
    // writing its reports): it exits at once with 130 instead.
    send(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(1));
    send(&child, libc::SIGINT);
    let (status, _, out) = finish(child, PROMPTLY);
    assert_eq!(status.code(), Some(130), "{out}");
}
