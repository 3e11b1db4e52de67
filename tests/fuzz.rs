//! `dexthil fuzz` as a user meets it: planted bugs found, shrunk and written as scenarios that fail the
//! same way; seeds that replay; a journal that names the running case after a SIGKILL.

mod support;
use support::dexthil;

use dexthil::fuzz::FuzzOp;
use dexthil::report::EventKind;
use dexthil::report::journal::read_journal;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PLANTED: &str = "scenarios/fuzz/drivers/planted-bugs.yaml";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dexthil-fuzz-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ops_of(journal: &Path) -> Vec<(u64, u32, FuzzOp)> {
    read_journal(journal)
        .unwrap()
        .events
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::FuzzCase { case, step, op, .. } => Some((case, step, op)),
            _ => None,
        })
        .collect()
}

/// Fuzz one planted selector; returns the minimal failing call, the scenario written, and the output.
fn find(selector: &str, dir: &Path) -> (FuzzOp, PathBuf, String) {
    let journal = dir.join("j.jsonl");
    let out = dir.join("bugs");
    let (code, text) = dexthil(&[
        "fuzz",
        "--driver",
        PLANTED,
        "--selectors",
        selector,
        "--cases",
        "3000",
        "--seed",
        "11",
        "--within",
        "200ms",
        "--shrink-time",
        "5s",
        "--journal",
        journal.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{text}");
    let finding = read_journal(&journal)
        .unwrap()
        .events
        .into_iter()
        .find_map(|e| match e.kind {
            EventKind::FuzzFinding {
                ops,
                step,
                scenario,
                ..
            } => Some((ops[step as usize].clone(), PathBuf::from(scenario.unwrap()))),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no finding in the journal: {text}"));
    (finding.0, finding.1, text)
}

fn call(op: FuzzOp) -> dexthil::fuzz::FuzzCall {
    match op {
        FuzzOp::Call(c) => c,
        other => panic!("the failing operation is not a call: {other:?}"),
    }
}

fn rerun(scenario: &Path) -> String {
    let (code, text) = dexthil(&["run", "--lab", "sim", scenario.to_str().unwrap()]);
    assert_eq!(code, 1, "the written scenario must fail: {text}");
    text
}

#[test]
fn a_crash_on_4097_bytes_is_found_shrunk_written_and_reproduced() {
    let dir = scratch("crash");
    let (op, written, text) = find("CrashOn4097", &dir);
    let c = call(op);
    assert_eq!((c.selector, c.struct_len), (1, 4097), "{text}");
    assert!(text.contains("the dext crashed"), "{text}");
    let again = rerun(&written);
    assert!(again.contains("MACH_SEND_INVALID_DEST"), "{again}");
}

#[test]
fn a_near_miss_answered_with_success_is_found_shrunk_written_and_reproduced() {
    let dir = scratch("loose");
    let (op, written, text) = find("LooseStruct", &dir);
    let c = call(op);
    assert_eq!(c.selector, 2);
    assert_ne!(
        c.struct_len, 16,
        "a near miss of the 16-byte struct: {text}"
    );
    assert!(text.contains("expected: kIOReturnBadArgument"), "{text}");
    let again = rerun(&written);
    assert!(again.contains("actual:   kIOReturnSuccess"), "{again}");
}

#[test]
fn a_hang_on_all_ones_is_found_shrunk_written_and_reproduced() {
    let dir = scratch("hang");
    let (op, written, text) = find("HangOnAllOnes", &dir);
    let c = call(op);
    assert_eq!(
        (c.selector, c.scalars.clone()),
        (3, vec![u64::MAX]),
        "{text}"
    );
    let again = rerun(&written);
    assert!(again.contains("no answer within 200ms"), "{again}");
}

#[test]
fn the_apple_sample_has_no_findings() {
    let dir = scratch("clean");
    let journal = dir.join("j.jsonl");
    let (code, text) = dexthil(&[
        "fuzz",
        "--driver",
        "scenarios/drivers/apple-sample.yaml",
        "--cases",
        "3000",
        "--journal",
        journal.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("no findings"), "{text}");
    assert!(
        text.contains("replay with --seed"),
        "the seed is printed: {text}"
    );
}

#[test]
fn the_same_seed_replays_the_same_cases() {
    let dir = scratch("seed");
    let run = |name: &str, seed: &str| {
        let journal = dir.join(name);
        let (code, text) = dexthil(&[
            "fuzz",
            "--driver",
            "scenarios/drivers/apple-sample.yaml",
            "--cases",
            "300",
            "--seed",
            seed,
            "--journal",
            journal.to_str().unwrap(),
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{text}");
        ops_of(&journal)
    };
    let a = run("a.jsonl", "99");
    assert!(a.len() > 300, "{} operations", a.len());
    assert_eq!(a, run("b.jsonl", "99"));
    assert_ne!(a, run("c.jsonl", "100"));
}

#[test]
fn after_a_sigkill_the_journal_ends_with_the_case_that_was_running() {
    let dir = scratch("kill");
    let journal = dir.join("j.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dexthil"))
        .args([
            "fuzz",
            "--driver",
            PLANTED,
            "--selectors",
            "HangOnAllOnes",
            "--cases",
            "100000",
            "--within",
            "60s",
            "--journal",
            journal.to_str().unwrap(),
            "--out",
            dir.to_str().unwrap(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The planted hang blocks the run on a call with scalar 0 all ones: wait until the journal says so.
    let hung = |ops: &[(u64, u32, FuzzOp)]| matches!(ops.last(), Some((_, _, FuzzOp::Call(c))) if c.scalars.first() == Some(&u64::MAX));
    let until = Instant::now() + Duration::from_secs(60);
    while !(journal.exists() && hung(&ops_of(&journal))) {
        assert!(
            Instant::now() < until,
            "the run never reached the planted hang"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = ops_of(&journal);
    child.kill().unwrap();
    child.wait().unwrap();
    let after = ops_of(&journal);
    assert_eq!(after, before, "nothing was lost or added by the kill");
    let (case, _, _) = after.last().unwrap();
    assert!(
        hung(&after),
        "the last entry is the hung call of case {case}"
    );
}
