//! `dexthil fuzz` as a user meets it: planted bugs found, shrunk and written as scenarios that fail the
//! same way; seeds that replay; a journal that names the running case after a SIGKILL.

mod support;
use support::{arg, exits, journal_events, scratch, spawn_quiet, wait_or_kill, wait_until};

use dexthil::fuzz::FuzzOp;
use dexthil::report::EventKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PLANTED: &str = "scenarios/fuzz/drivers/planted-bugs.yaml";

fn ops_of(journal: &Path) -> Vec<(u64, u32, FuzzOp)> {
    journal_events(journal)
        .into_iter()
        .filter_map(|e| match e {
            EventKind::FuzzCase { case, step, op, .. } => Some((case, step, op)),
            _ => None,
        })
        .collect()
}

/// Fuzz one planted selector up to its first finding; returns the minimal failing call, the scenario
/// written, and the output. Asserts the minimal case is minimal in its sequence: one open, then the call.
fn find(selector: &str, dir: &Path) -> (FuzzOp, PathBuf, String) {
    let journal = dir.join("j.jsonl");
    let out = dir.join("bugs");
    let text = exits(
        1,
        &[
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
            "--stop-at-first",
            "--journal",
            arg(&journal),
            "--out",
            arg(&out),
        ],
    );
    assert!(text.contains(": 1 findings"), "{text}");
    let finding = journal_events(&journal)
        .into_iter()
        .find_map(|e| match e {
            EventKind::FuzzFinding {
                ops,
                step,
                scenario,
                ..
            } => {
                assert_eq!(
                    ops[..step as usize],
                    [FuzzOp::Open],
                    "nothing but the open before the failing call: {text}"
                );
                Some((ops[step as usize].clone(), PathBuf::from(scenario.unwrap())))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no finding in the journal: {text}"));
    let c = call(finding.0.clone());
    // What the bug does not need is at its simplest: the struct's pattern zeros, no completion unless the
    // selector requires one.
    assert!(c.pattern.is_empty() || c.pattern == [0], "{c:?}\n{text}");
    assert!(!c.completion, "{c:?}\n{text}");
    (finding.0, finding.1, text)
}

fn call(op: FuzzOp) -> dexthil::fuzz::FuzzCall {
    match op {
        FuzzOp::Call(c) => c,
        other => panic!("the failing operation is not a call: {other:?}"),
    }
}

/// The written scenario must fail.
fn rerun(scenario: &Path) -> String {
    exits(1, &["run", "--lab", "sim", arg(scenario)])
}

#[test]
fn a_crash_on_4097_bytes_is_found_shrunk_written_and_reproduced() {
    let dir = scratch("crash");
    let (op, written, text) = find("CrashOn4097", &dir);
    let c = call(op);
    assert_eq!((c.selector, c.struct_len), (1, 4097), "{text}");
    assert!(c.scalars.is_empty(), "{c:?}");
    assert!(text.contains("the dext crashed"), "{text}");
    let name = written.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        name, "fuzz-planted-bugs-crashon4097-valid-the-dext-crashed.yaml",
        "named by selector and what went wrong, not numbers"
    );
    let yaml = std::fs::read_to_string(&written).unwrap();
    assert!(yaml.contains("selector: \"CrashOn4097\""), "{yaml}");
    let again = rerun(&written);
    assert!(again.contains("MACH_SEND_INVALID_DEST"), "{again}");
}

#[test]
fn a_near_miss_answered_with_success_is_found_shrunk_written_and_reproduced() {
    let dir = scratch("loose");
    let (op, written, text) = find("LooseStruct", &dir);
    let c = call(op);
    assert_eq!(c.selector, 2);
    assert_eq!(
        c.struct_len, 17,
        "the nearest near miss of the 16-byte struct: {text}"
    );
    assert!(text.contains("expected: kIOReturnBadArgument"), "{text}");
    let yaml = std::fs::read_to_string(&written).unwrap();
    assert!(yaml.contains("return: [kIOReturnBadArgument]"), "{yaml}");
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
    let text = exits(
        0,
        &[
            "fuzz",
            "--driver",
            "scenarios/drivers/apple-sample.yaml",
            "--cases",
            "3000",
            "--journal",
            arg(&journal),
            "--out",
            arg(&dir),
        ],
    );
    assert!(text.contains(": 0 findings"), "{text}");
    assert!(
        text.contains("fuzz: coverage (selector × shape × answer)")
            && text.contains("CheckedStruct")
            && text.contains("near miss: struct input size")
            && text.contains("kIOReturnBadArgument"),
        "the coverage table: {text}"
    );
    assert!(
        text.contains("replay with --seed"),
        "the seed is printed: {text}"
    );
}

#[test]
fn one_run_finds_all_three_planted_bugs_and_keeps_going_after_each() {
    let dir = scratch("all");
    let journal = dir.join("j.jsonl");
    let out = dir.join("bugs");
    let text = exits(
        1,
        &[
            "fuzz",
            "--driver",
            PLANTED,
            "--cases",
            "2000",
            "--seed",
            "5",
            "--within",
            "50ms",
            "--shrink-time",
            "3s",
            "--journal",
            arg(&journal),
            "--out",
            arg(&out),
        ],
    );
    let events = journal_events(&journal);
    let signatures: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::FuzzFinding { signature, .. } => Some(signature.clone()),
            _ => None,
        })
        .collect();
    for bug in [
        "CrashOn4097 valid: the dext crashed",
        "LooseStruct near miss: struct input size: answered kIOReturnSuccess",
        "HangOnAllOnes valid: no answer",
    ] {
        assert!(
            signatures.iter().any(|s| s == bug),
            "`{bug}` not among {signatures:?}\n{text}"
        );
    }
    let mut unique = signatures.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), signatures.len(), "each finding once");
    assert!(
        text.contains(&format!(": {} findings", signatures.len())),
        "{text}"
    );
    let generated = events.iter().find_map(|e| match *e {
        EventKind::FuzzFinished { generated, .. } => Some(generated),
        _ => None,
    });
    assert_eq!(generated, Some(2000), "the run went on to its last case");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EventKind::FuzzCoverage { rows } if !rows.is_empty())),
        "the coverage is in the journal"
    );
    let written = std::fs::read_dir(&out).unwrap().count();
    assert_eq!(written, signatures.len(), "one scenario per finding");

    let report = exits(1, &["report", arg(&journal)]);
    assert!(
        report.contains(&format!(
            "the fuzz run finished: {} findings",
            signatures.len()
        )),
        "{report}"
    );
}

#[test]
fn the_same_seed_replays_the_same_cases() {
    let dir = scratch("seed");
    let run = |name: &str, seed: &str| {
        let journal = dir.join(name);
        exits(
            0,
            &[
                "fuzz",
                "--driver",
                "scenarios/drivers/apple-sample.yaml",
                "--cases",
                "300",
                "--seed",
                seed,
                "--journal",
                arg(&journal),
                "--out",
                arg(&dir),
            ],
        );
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
    let mut child = spawn_quiet(&[
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
        arg(&journal),
        "--out",
        arg(&dir),
    ]);
    // The planted hang blocks the run on a call with scalar 0 all ones: wait until the journal says so.
    let hung = |ops: &[(u64, u32, FuzzOp)]| matches!(ops.last(), Some((_, _, FuzzOp::Call(c))) if c.scalars.first() == Some(&u64::MAX));
    wait_until(
        Duration::from_secs(60),
        || journal.exists() && hung(&ops_of(&journal)),
        || "the run never reached the planted hang".to_string(),
    );
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
    // A killed run is not a pass.
    let report = exits(2, &["report", arg(&journal)]);
    assert!(
        report.contains(&format!(
            "the fuzz run did not finish (killed?) while running case {case}"
        )),
        "{report}"
    );
}

/// A 10-million-case run with a 1 s budget ends at about its budget: the child is given a generous 60 s,
/// and what is checked is that it ended on its own, having stopped at its budget.
#[test]
fn a_fuzz_run_stops_at_its_budget() {
    let dir = scratch("budget");
    let journal = dir.join("j.jsonl");
    let mut child = spawn_quiet(&[
        "fuzz",
        "--driver",
        "scenarios/drivers/apple-sample.yaml",
        "--cases",
        "10000000",
        "--budget",
        "1s",
        "--journal",
        arg(&journal),
        "--out",
        arg(&dir),
    ]);
    let status = wait_or_kill(
        &mut child,
        Duration::from_secs(60),
        "a 1 s budget did not end a 10M-case run within 60 s",
    );
    assert_eq!(status.code(), Some(0));
    let finished = journal_events(&journal)
        .into_iter()
        .find_map(|e| match e {
            EventKind::FuzzFinished {
                cases, took, ended, ..
            } => Some((cases, took, ended)),
            _ => None,
        })
        .expect("the run finished");
    assert!(finished.0 < 10_000_000, "{finished:?}");
    assert_eq!(finished.2, "budget", "it says why it stopped");
    assert!(
        finished.1 >= Duration::from_secs(1),
        "it ran its budget: {finished:?}"
    );
}

/// Run `dexthil run --lab sim` on a scenario written to `dir`, under a generous child timeout; the exit
/// code, the journal's events, and how long it took (for the report only: no timed assertion).
fn run_scenario_file(dir: &Path, yaml: &str) -> (Option<i32>, Vec<EventKind>) {
    let file = dir.join("s.yaml");
    std::fs::write(&file, yaml).unwrap();
    let journal = dir.join("run.jsonl");
    let mut child = spawn_quiet(&[
        "run",
        "--lab",
        "sim",
        "--journal",
        arg(&journal),
        arg(&file),
    ]);
    let status = wait_or_kill(
        &mut child,
        Duration::from_secs(90),
        "the scenario's fuzz step outlived its budget and deadline by far",
    );
    (status.code(), journal_events(&journal))
}

/// Cases generated, time taken and why the fuzz run ended (`budget`, `all cases`, `first finding`).
fn fuzz_finished(events: &[EventKind]) -> (u64, Duration, String) {
    events
        .iter()
        .find_map(|e| match e {
            EventKind::FuzzFinished {
                generated,
                took,
                ended,
                ..
            } => Some((*generated, *took, ended.clone())),
            _ => None,
        })
        .expect("the fuzz step finished its run")
}

#[test]
fn a_fuzz_step_stops_at_its_budget_and_at_the_scenarios_deadline() {
    let dir = scratch("step-budget");
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/drivers/apple-sample.yaml");
    let (code, events) = run_scenario_file(
        &dir,
        &format!(
            "name: budgeted\ndriver: {}\nsteps:\n  - await: {{ state: matched }}\n  - fuzz: {{ cases: 10000000, budget: 1s }}\n",
            driver.display()
        ),
    );
    assert_eq!(code, Some(0), "{events:?}");
    let (generated, took, ended) = fuzz_finished(&events);
    assert_eq!(ended, "budget");
    assert!(
        generated < 10_000_000,
        "stopped by its budget: {generated} cases"
    );
    assert!(took >= Duration::from_secs(1), "ran its budget: {took:?}");

    // A budget longer than the scenario: the scenario's deadline ends the step (and so the run) first.
    let (code, events) = run_scenario_file(
        &dir,
        &format!(
            "name: deadlined\ndriver: {}\ndeadline: 2s\nsteps:\n  - await: {{ state: matched }}\n  - fuzz: {{ cases: 10000000, budget: 10m }}\n",
            driver.display()
        ),
    );
    let (generated, took, ended) = fuzz_finished(&events);
    assert_eq!(ended, "budget", "the deadline is the step's budget");
    assert!(generated < 10_000_000, "{generated} cases");
    // Stopped by the 2 s deadline, not the 10 min budget; the margin is for a loaded machine.
    assert!(took < Duration::from_secs(12), "{took:?}");
    let finished = events
        .iter()
        .any(|e| matches!(e, EventKind::ScenarioFinished { .. }));
    assert!(finished, "the scenario ended with a verdict: {code:?}");
}
