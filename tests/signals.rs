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

#[test]
fn a_second_sigint_exits_at_once_with_130() {
    let dir = scratch("twice");
    let (journal, xml) = (dir.join("j.jsonl"), dir.join("junit.xml"));
    // A call hung with a 30 s deadline: the first SIGINT cannot end that step early, so the run is still
    // going when the second comes.
    let child = start(&["tests/signals/hang-long.yaml"], &journal, &xml);
    wait_for_journal(
        &journal,
        r#""event":"step_started","scenario":"hang-long","step":"2""#,
    );
    send(&child, libc::SIGINT);
    wait_for_journal(&journal, r#""event":"interrupted""#);
    // JUnit is written when the first SIGINT comes, before the run ends.
    let until = Instant::now() + Duration::from_secs(60);
    while Report::deserialize_from_str(&std::fs::read_to_string(&xml).unwrap_or_default()).is_err()
    {
        assert!(Instant::now() < until, "no JUnit after the first SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
    match status_of(&junit(&xml), "hang-long") {
        TestCaseStatus::NonSuccess { ty, .. } => {
            assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("interrupted"))
        }
        other => panic!("{other:?}"),
    }
    send(&child, libc::SIGINT);
    let (status, took, out) = finish(child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(130), "{out}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let j = std::fs::read_to_string(&journal).unwrap();
    assert!(!j.contains("run_finished"), "it exited at once: {j}");
}
