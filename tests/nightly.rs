//! Nightly runs through the binary: journal and report of a killed run, JUnit, station health checks,
//! partitions, tags, retries and flaky scenarios, per-printer serialization, JSON logs.

mod support;
use support::{
    arg as s, bin, dexthil, exits, journal_events, run_journaled, scratch, spawn_quiet, wait_until,
};

use dexthil::report::{EventKind, NothingToRun};
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

fn junit(path: &Path) -> Report {
    let xml = std::fs::read_to_string(path).expect("a JUnit file was written");
    Report::deserialize_from_str(&xml)
        .unwrap_or_else(|e| panic!("JUnit does not parse: {e}\n{xml}"))
}

/// The first suite's properties, as name and value.
fn suite_properties(r: &Report) -> Vec<(String, String)> {
    r.test_suites[0]
        .properties
        .iter()
        .map(|p| (p.name.as_str().to_string(), p.value.as_str().to_string()))
        .collect()
}

fn case<'a>(r: &'a Report, name: &str) -> &'a quick_junit::TestCase {
    r.test_suites[0]
        .test_cases
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("no testcase {name}"))
}

#[test]
fn a_killed_run_is_rebuilt_from_its_journal_with_the_scenario_marked_interrupted() {
    let dir = scratch("killed");
    let journal = dir.join("journal.jsonl");
    let mut child = spawn_quiet(&[
        "run",
        "--lab",
        "sim",
        "--journal",
        s(&journal),
        "tests/nightly/sleeper.yaml",
    ]);
    // Wait until the journal says the 30 s sleep has started (bounded, so a broken runner fails the test
    // rather than hanging it).
    let text = || std::fs::read_to_string(&journal).unwrap_or_default();
    wait_until(
        Duration::from_secs(60),
        || text().contains(r#""event":"step_started","scenario":"sleeper","step":"2""#),
        || format!("the sleep never started:\n{}", text()),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // A write cut short by the kill: half a line at the end.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    std::io::Write::write_all(&mut f, br#"{"v":1,"elapsed":{"secs":3"#).unwrap();

    let xml = dir.join("junit.xml");
    // An interrupted run does not pass the gate.
    let out = exits(2, &["report", s(&journal), "--junit", s(&xml)]);
    assert!(out.contains("scenario sleeper"), "{out}");
    assert!(out.contains("INTERRUPTED during step 2 sleep"), "{out}");
    assert!(
        out.contains("cut short"),
        "the truncated line is reported: {out}"
    );
    assert!(out.contains("the run did not finish"), "{out}");
    let report = junit(&xml);
    match &case(&report, "sleeper").status {
        TestCaseStatus::NonSuccess {
            kind, ty, message, ..
        } => {
            assert_eq!(*kind, NonSuccessKind::Error);
            assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("interrupted"));
            assert!(
                message.as_ref().unwrap().as_str().contains("step 2"),
                "{message:?}"
            );
        }
        other => panic!("sleeper should be interrupted: {other:?}"),
    }
}

#[test]
fn junit_carries_provenance_and_a_failure_with_its_yaml_place_and_decoded_code() {
    let dir = scratch("junit");
    let xml = dir.join("junit.xml");
    run_journaled(
        1,
        &dir.join("j.jsonl"),
        &[
            "--lab",
            "sim",
            "--junit",
            s(&xml),
            "tests/failing/uncovered-busy.yaml",
            "scenarios/smoke/ds620.yaml",
        ],
    );
    let report = junit(&xml);
    let props = suite_properties(&report);
    let get = |k: &str| props.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("dexthil.version"), Some(env!("CARGO_PKG_VERSION")));
    assert!(
        get("libusb.version").is_some_and(|v| v.starts_with("1.")),
        "{props:?}"
    );
    // Keyed by role (the model without a station) and serial: one physical printer across nights.
    assert_eq!(
        get("printer.DS620.DS6C98031738.firmware"),
        Some("DS620 01.20"),
        "{props:?}"
    );
    assert_eq!(get("printer.DS620.DS6C98031738.model"), Some("DS620"));
    assert!(
        get("host.name").is_some_and(|h| !h.is_empty() && h != "unknown"),
        "{props:?}"
    );
    let commit = get("dexthil.commit").unwrap_or_else(|| panic!("{props:?}"));
    assert!(!commit.is_empty(), "{props:?}");
    let (_, version) = dexthil(&["-V"]);
    assert!(
        version.contains(&format!("(commit {commit})")),
        "-V names the same commit: {version}"
    );
    assert!(
        report.test_suites[0].timestamp.is_some(),
        "the suite has a timestamp"
    );
    let busy = case(&report, "uncovered-busy");
    assert!(busy.timestamp.is_some(), "a testcase has a timestamp");
    assert_eq!(
        busy.classname.as_ref().map(|c| c.as_str()),
        Some("tests.failing"),
        "classname from the scenario's folder"
    );
    // The dext's code signature, read where a Mac keeps it (on its service): 40 hex digits, not "unknown".
    assert!(
        get("dext.com.example.dexthil.DNPPrinterDriver.cdhash")
            .is_some_and(|h| h.len() == 40 && h.chars().all(|c| c.is_ascii_hexdigit())),
        "{props:?}"
    );
    assert!(matches!(
        case(&report, "smoke-ds620").status,
        TestCaseStatus::Success { .. }
    ));
    match &case(&report, "uncovered-busy").status {
        TestCaseStatus::NonSuccess {
            kind,
            ty,
            description,
            ..
        } => {
            assert_eq!(*kind, NonSuccessKind::Failure);
            assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("driver"));
            let d = description.as_ref().unwrap().as_str();
            assert!(d.contains("tests/failing/uncovered-busy.yaml:15:5"), "{d}");
            assert!(d.contains("expected:") && d.contains("actual:"), "{d}");
            assert!(d.contains("kIOReturnBusy (0xE00002D5)"), "{d}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_station_printer_the_lab_lacks_fails_the_health_check_with_exit_2_and_runs_nothing() {
    let dir = scratch("health");
    let journal = dir.join("j.jsonl");
    let out = run_journaled(
        2,
        &journal,
        &[
            "--station",
            "tests/nightly/station-missing.yaml",
            "scenarios/smoke",
            "ds620",
        ],
    );
    assert!(out.contains("printer `ghost`"), "{out}");
    assert!(out.contains("NOSUCHSERIAL"), "{out}");
    // Only what the selected scenarios need is checked: the DS820 no DS620 scenario uses is not.
    assert!(!out.contains("NOSUCHSERIAL2"), "{out}");
    assert!(
        !out.contains("scenario smoke-ds620"),
        "no scenario may run: {out}"
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.contains(r#""event":"health_checked""#), "{text}");
    assert!(!text.contains("scenario_started"), "{text}");
}

#[test]
fn the_shipped_sim_station_is_healthy_and_runs_the_smoke_corpus() {
    let dir = scratch("healthy");
    let out = run_journaled(
        0,
        &dir.join("j.jsonl"),
        &["--station", "ci/labs/sim.yaml", "scenarios/smoke"],
    );
    assert!(out.contains("station sim: healthy"), "{out}");
}

#[test]
fn the_shipped_sim_station_runs_the_whole_corpus_both_dexts_included() {
    let dir = scratch("healthy-all");
    let out = run_journaled(0, &dir.join("j.jsonl"), &["--station", "ci/labs/sim.yaml"]);
    assert!(out.contains("station sim: healthy"), "{out}");
    assert!(
        out.contains("sample-scalar"),
        "the sample dext's scenarios ran: {out}"
    );
}

#[test]
fn a_station_runs_what_it_can_serve_and_skips_the_rest_as_not_for_this_station() {
    let dir = scratch("capability");
    let (journal, xml) = (dir.join("j.jsonl"), dir.join("junit.xml"));
    // Skipped scenarios are not failures.
    let out = run_journaled(
        0,
        &journal,
        &[
            "--station",
            "tests/nightly/station-cx02.yaml",
            "--junit",
            s(&xml),
            "scenarios/smoke",
        ],
    );
    assert!(
        out.contains(
            "SKIP smoke-ds620: not for this station `mac-cx02`: no printer serves role `p` (model DS620)"
        ),
        "{out}"
    );
    assert!(out.contains("smoke-cx-02"), "{out}");
    // The health check looked only at what runs: the station lacks a DS620 and is still healthy.
    assert!(out.contains("station mac-cx02: healthy"), "{out}");
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        text.contains(r#""event":"scenario_skipped","scenario":"smoke-ds620""#),
        "{text}"
    );
    let report = junit(&xml);
    match &case(&report, "smoke-ds620").status {
        TestCaseStatus::Skipped { message, .. } => {
            let m = message.as_ref().unwrap().as_str();
            assert!(m.starts_with("not for this station `mac-cx02`"), "{m}");
        }
        other => panic!("smoke-ds620 should be skipped: {other:?}"),
    }
    assert!(matches!(
        case(&report, "smoke-cx-02").status,
        TestCaseStatus::Success { .. }
    ));
}

#[test]
fn a_station_that_serves_none_of_the_selection_fails_closed() {
    let out = exits(
        2,
        &[
            "run",
            "--station",
            "tests/nightly/station-cx02.yaml",
            "scenarios/smoke/ds620.yaml",
        ],
    );
    assert!(
        out.contains("the station serves none of the 1 selected"),
        "{out}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_journal_or_junit_on_a_full_disk_ends_the_run_with_exit_2_naming_the_file() {
    let dir = scratch("full");
    let smoke = "scenarios/smoke/ds620.yaml";
    let out = run_journaled(2, Path::new("/dev/full"), &["--lab", "sim", smoke]);
    assert!(out.contains("cannot write the journal /dev/full"), "{out}");
    let out = run_journaled(
        2,
        &dir.join("j.jsonl"),
        &["--lab", "sim", "--junit", "/dev/full", smoke],
    );
    assert!(
        out.contains("cannot write the JUnit report /dev/full"),
        "{out}"
    );
    assert!(
        std::fs::metadata("/dev/full").is_ok_and(|m| !m.is_file()),
        "/dev/full is still a device, not replaced by a report"
    );
    // A place no file can be created (its parent is a file; a read-only directory does not stop root).
    let out = run_journaled(
        2,
        &dir.join("j2.jsonl"),
        &["--lab", "sim", "--junit", "Cargo.toml/junit.xml", smoke],
    );
    assert!(
        out.contains("cannot write the JUnit report Cargo.toml/junit.xml"),
        "{out}"
    );
    assert!(
        out.contains("nothing was run") && !out.contains("PASS smoke-ds620"),
        "found out before running, not after: {out}"
    );
}

#[test]
fn station_files_refuse_impossible_values_and_replay_paths_outside_their_folder_with_a_place() {
    let station_run =
        |code, station: &str, target: &str| exits(code, &["run", "--station", station, target]);
    let out = station_run(
        2,
        "tests/nightly/station-replay-escape.yaml",
        "scenarios/replay/ds620.yaml",
    );
    assert!(
        out.contains("tests/nightly/station-replay-escape.yaml:3:10: `backend: replay:../fixtures/recordings/ds620` leaves the station file's folder"),
        "{out}"
    );
    assert!(
        out.contains("1 error in the station file; nothing was run"),
        "the summary names the file it is about: {out}"
    );
    let out = station_run(
        2,
        "tests/nightly/station-bad-values.yaml",
        "scenarios/smoke",
    );
    assert!(
        out.contains("station-bad-values.yaml:4:13: the printer's `role` is empty"),
        "{out}"
    );
    assert!(out.contains("station-bad-values.yaml:5:41: `serial` `CX2E\\n40117720` holds the control character U+000A"), "{out}");
    assert!(
        out.contains("station-bad-values.yaml:6:45: `power_off` is zero"),
        "{out}"
    );
    // A recording beside the station file is fine.
    station_run(
        0,
        "tests/nightly/station-replay.yaml",
        "scenarios/replay/ds620.yaml",
    );
}

#[test]
fn a_bad_station_file_names_file_line_column_and_the_right_key() {
    let out = exits(2, &["run", "--station", "tests/nightly/station-typo.yaml"]);
    assert!(out.contains("tests/nightly/station-typo.yaml:4:"), "{out}");
    assert!(out.contains("did you mean `serial`?"), "{out}");
}

fn listed(args: &[&str]) -> Vec<String> {
    exits(0, args)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect()
}

#[test]
fn three_partitions_cover_the_corpus_exactly_once() {
    let all = listed(&["run", "--lab", "sim", "--list"]);
    assert!(all.len() > 10, "{all:?}");
    let mut parts: Vec<String> = Vec::new();
    for m in 1..=3 {
        let p = format!("hash:{m}/3");
        let part = listed(&["run", "--lab", "sim", "--list", "--partition", &p]);
        assert!(part.len() < all.len(), "{p} took everything");
        parts.extend(part);
    }
    parts.sort();
    let mut all = all;
    all.sort();
    assert_eq!(parts, all);
}

#[test]
fn tags_select_any_of() {
    let got = listed(&[
        "run", "--lab", "sim", "--list", "--tag", "ds620", "--tag", "qw410",
    ]);
    assert!(!got.is_empty());
    assert!(got.iter().any(|n| n.contains("ds620")), "{got:?}");
    assert!(got.iter().any(|n| n.contains("qw410")), "{got:?}");
    assert!(!got.iter().any(|n| n.contains("cx-02")), "{got:?}");
}

#[test]
fn an_infrastructure_failure_passes_on_retry_as_flaky_and_gates_only_when_asked() {
    let dir = scratch("flaky");
    let f = "tests/nightly/flaky-open.yaml";
    let j = dir.join("j.jsonl");
    // Without retries the lab failure gates.
    run_journaled(2, &j, &["--lab", "sim", f]);

    let xml = dir.join("junit.xml");
    let out = run_journaled(
        0,
        &j,
        &["--lab", "sim", "--retries", "1", "--junit", s(&xml), f],
    );
    assert!(out.contains("1 flaky"), "{out}");
    assert!(
        out.contains("attempt 1 failed because the lab broke"),
        "{out}"
    );
    let report = junit(&xml);
    let c = case(&report, "flaky-open");
    match &c.status {
        TestCaseStatus::Success { flaky_runs } => assert_eq!(flaky_runs.len(), 1),
        other => panic!("{other:?}"),
    }
    assert!(
        c.properties
            .iter()
            .any(|p| p.name.as_str() == "flaky" && p.value.as_str() == "true")
    );

    let out = run_journaled(
        2,
        &j,
        &["--lab", "sim", "--retries", "1", "--flaky-fails", f],
    );
    assert!(out.contains("--flaky-fails"), "{out}");
}

#[test]
fn a_driver_failure_is_not_retried() {
    let dir = scratch("noretry");
    let out = run_journaled(
        1,
        &dir.join("j.jsonl"),
        &[
            "--lab",
            "sim",
            "--retries",
            "3",
            "tests/failing/uncovered-busy.yaml",
        ],
    );
    assert!(!out.contains("retrying"), "{out}");
}

#[test]
fn scenarios_on_one_printer_never_overlap_even_with_jobs() {
    let dir = scratch("jobs");
    let journal = dir.join("j.jsonl");
    run_journaled(
        0,
        &journal,
        &[
            "--lab",
            "sim",
            "--jobs",
            "4",
            "tests/nightly/same-printer-a.yaml",
            "tests/nightly/same-printer-b.yaml",
        ],
    );
    let order: Vec<String> = journal_events(&journal)
        .into_iter()
        .filter_map(|e| match e {
            EventKind::ScenarioStarted { scenario, .. } => Some(("scenario_started", scenario)),
            EventKind::ScenarioFinished { scenario, .. } => Some(("scenario_finished", scenario)),
            EventKind::ScenarioSkipped { scenario, .. } => Some(("scenario_skipped", scenario)),
            EventKind::ScenarioRetried { scenario, .. } => Some(("scenario_retried", scenario)),
            _ => None,
        })
        .map(|(event, scenario)| format!("{event} {scenario}"))
        .collect();
    assert_eq!(order.len(), 4, "{order:?}");
    // Whichever went first finished before the other started.
    let first = order[0].rsplit(' ').next().unwrap();
    assert_eq!(order[1], format!("scenario_finished {first}"), "{order:?}");
}

#[test]
fn json_logs_are_one_object_a_line() {
    let dir = scratch("jsonlog");
    let out = bin()
        .env("RUST_LOG", "debug")
        .args([
            "--log-format",
            "json",
            "run",
            "--lab",
            "sim",
            "--journal",
            s(&dir.join("j.jsonl")),
            "scenarios/smoke/ds620.yaml",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let logs: Vec<serde_json::Value> = err
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!logs.is_empty(), "{err}");
    assert!(logs.iter().all(|v| v["level"].is_string()), "{err}");
}

#[cfg(unix)]
#[test]
fn a_journal_or_junit_that_is_a_fifo_nobody_reads_is_exit_2_not_a_hang() {
    let dir = scratch("fifo");
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(s(&fifo)).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let smoke = "scenarios/smoke/ds620.yaml";
    let out = run_journaled(2, &fifo, &["--lab", "sim", smoke]);
    assert!(
        out.contains(&format!("cannot write the journal {}", fifo.display())),
        "{out}"
    );
    let out = run_journaled(
        2,
        &dir.join("j.jsonl"),
        &["--lab", "sim", "--junit", s(&fifo), smoke],
    );
    assert!(
        out.contains(&format!("cannot write the JUnit report {}", fifo.display())),
        "{out}"
    );
}

#[test]
fn a_journal_into_a_pipe_whose_reader_went_away_is_exit_2_naming_it() {
    let mut child = bin()
        .args([
            "run",
            "--lab",
            "sim",
            "--journal",
            "/dev/stdout",
            "scenarios/smoke",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away at once (`| head -1` that already has its line).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot write the journal /dev/stdout"),
        "{err}"
    );
}

/// The partitions `hash:M/2` that take `name` and that do not: (taken, empty).
fn halves_of(name: &str) -> (String, String) {
    let takes = |m| dexthil::runner::Partition { index: m, count: 2 }.takes(name);
    let (taken, empty) = if takes(1) { (1, 2) } else { (2, 1) };
    assert!(!takes(empty), "a name falls in one partition");
    (format!("hash:{taken}/2"), format!("hash:{empty}/2"))
}

/// What the journal's `run_started` says of a run with nothing to run, and that the run finished.
fn nothing_to_run_of(journal: &Path) -> (Vec<String>, Option<String>, Option<NothingToRun>) {
    let events = journal_events(journal);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EventKind::RunFinished { .. })),
        "the run finished: {events:?}"
    );
    events
        .into_iter()
        .find_map(|e| match e {
            EventKind::RunStarted {
                selected,
                provenance,
                nothing_to_run,
                ..
            } => Some((selected, provenance.partition, nothing_to_run)),
            _ => None,
        })
        .expect("a run_started event")
}

#[test]
fn a_shard_the_partition_gives_nothing_passes_and_its_journal_says_why() {
    let dir = scratch("empty-shard");
    let smoke = "scenarios/smoke/ds620.yaml";
    let (_, empty) = halves_of("smoke-ds620");
    let (journal, xml) = (dir.join("empty.jsonl"), dir.join("empty.xml"));
    let out = run_journaled(
        0,
        &journal,
        &[
            "--lab",
            "sim",
            "--partition",
            &empty,
            "--junit",
            s(&xml),
            smoke,
        ],
    );
    let why = format!("--partition {empty} took none of the 1 selected scenario");
    assert!(
        out.contains(&format!("nothing to run on this shard: {why}")),
        "{out}"
    );
    let (selected, partition, nothing) = nothing_to_run_of(&journal);
    assert!(selected.is_empty(), "{selected:?}");
    assert_eq!(partition.as_deref(), Some(empty.as_str()));
    assert_eq!(
        nothing,
        Some(NothingToRun::Partition {
            reason: why.clone()
        })
    );
    let report = junit(&xml);
    assert!(report.test_suites[0].test_cases.is_empty(), "{report:?}");
    // With no test case to show it, the suite says why it is empty.
    let props = suite_properties(&report);
    assert!(
        props.contains(&("nothing_to_run".into(), "partition".into())),
        "{props:?}"
    );
    assert!(
        props.contains(&("nothing_to_run.reason".into(), why.clone())),
        "{props:?}"
    );

    // Reported alone it ran nothing: a gate over it alone fails, saying why.
    let out = exits(2, &["report", s(&journal)]);
    assert!(
        out.contains(&format!("nothing to run on this shard: {why}")),
        "{out}"
    );
    assert!(out.contains("no scenario ran in this journal"), "{out}");
}

#[test]
fn a_merge_of_an_empty_shard_with_a_real_one_has_the_real_ones_verdict() {
    let dir = scratch("merge-empty-shard");
    let (empty_j, pass_j, fail_j) = (
        dir.join("empty.jsonl"),
        dir.join("pass.jsonl"),
        dir.join("fail.jsonl"),
    );
    let smoke = "scenarios/smoke/ds620.yaml";
    let (taken, empty) = halves_of("smoke-ds620");
    run_journaled(0, &empty_j, &["--lab", "sim", "--partition", &empty, smoke]);
    run_journaled(0, &pass_j, &["--lab", "sim", "--partition", &taken, smoke]);
    let out = exits(0, &["report", s(&empty_j), s(&pass_j)]);
    assert!(out.contains("merged 2 journals: 1 passed"), "{out}");
    assert!(!out.contains("no scenario ran"), "{out}");

    let busy = "tests/failing/uncovered-busy.yaml";
    let (_, empty) = halves_of("uncovered-busy");
    let empty2_j = dir.join("empty2.jsonl");
    run_journaled(0, &empty2_j, &["--lab", "sim", "--partition", &empty, busy]);
    run_journaled(1, &fail_j, &["--lab", "sim", busy]);
    let out = exits(1, &["report", s(&empty2_j), s(&fail_j)]);
    assert!(out.contains("failed: the driver broke (exit 1)"), "{out}");
}

#[test]
fn a_merge_of_shards_that_all_ran_nothing_fails() {
    let dir = scratch("merge-all-empty");
    let smoke = "scenarios/smoke/ds620.yaml";
    let (_, empty) = halves_of("smoke-ds620");
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    run_journaled(0, &a, &["--lab", "sim", "--partition", &empty, smoke]);
    // Another Mac's shard: a station that serves none of what the partition gave it, though it serves the
    // scenario another shard takes.
    let cx02 = "scenarios/smoke/cx-02.yaml";
    let (_, cx_empty) = halves_of("smoke-cx-02");
    run_journaled(
        0,
        &b,
        &[
            "--station",
            "tests/nightly/station-cx02.yaml",
            "--partition",
            &cx_empty,
            cx02,
            smoke,
        ],
    );
    let (_, _, nothing) = nothing_to_run_of(&b);
    assert!(
        matches!(&nothing, Some(NothingToRun::Partition { reason })
            if reason.starts_with("the station serves none of the 1 scenario --partition")),
        "{nothing:?}"
    );
    let out = exits(2, &["report", s(&a), s(&b)]);
    assert!(
        out.contains("no scenario ran in any of the 2 journals"),
        "{out}"
    );
    assert!(out.contains("or nothing ran (exit 2)"), "{out}");
}

#[test]
fn a_typo_that_selects_nothing_writes_its_journal_exits_2_and_fails_a_merge() {
    let dir = scratch("typo");
    let (typo, real) = (dir.join("typo.jsonl"), dir.join("real.jsonl"));
    let out = run_journaled(2, &typo, &["--lab", "sim", "smoke-ds62O"]);
    let why = "the name filter `smoke-ds62O` left none";
    assert!(out.contains(why), "{out}");
    let (selected, _, nothing) = nothing_to_run_of(&typo);
    assert!(selected.is_empty(), "{selected:?}");
    assert!(
        matches!(&nothing, Some(NothingToRun::Refused { reason }) if reason.contains(why)),
        "{nothing:?}"
    );
    run_journaled(0, &real, &["--lab", "sim", "scenarios/smoke/ds620.yaml"]);
    // The Mac whose run selected nothing by mistake fails the night, though the other passed.
    let out = exits(2, &["report", s(&typo), s(&real)]);
    assert!(out.contains("the run refused that (exit 2)"), "{out}");

    // Accepted with --allow-empty: a pass, live and in its report.
    let allowed = dir.join("allowed.jsonl");
    run_journaled(
        0,
        &allowed,
        &["--lab", "sim", "--allow-empty", "smoke-ds62O"],
    );
    let out = exits(0, &["report", s(&allowed)]);
    assert!(out.contains("(accepted: --allow-empty)"), "{out}");
}
