//! Nightly runs through the binary: journal and report of a killed run, JUnit, station health checks,
//! partitions, tags, retries and flaky scenarios, per-printer serialization, JSON logs.

mod support;
use support::{bin, dexthil};

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A fresh directory under the target dir for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn junit(path: &Path) -> Report {
    let xml = std::fs::read_to_string(path).expect("a JUnit file was written");
    Report::deserialize_from_str(&xml)
        .unwrap_or_else(|e| panic!("JUnit does not parse: {e}\n{xml}"))
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
    let mut child = bin()
        .args([
            "run",
            "--lab",
            "sim",
            "--journal",
            s(&journal),
            "tests/nightly/sleeper.yaml",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the journal says the 30 s sleep has started (bounded, so a broken runner fails the test
    // rather than hanging it).
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        if text.contains(r#""event":"step_started","scenario":"sleeper","step":"2""#) {
            break;
        }
        assert!(Instant::now() < until, "the sleep never started:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A write cut short by the kill: half a line at the end.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    std::io::Write::write_all(&mut f, br#"{"v":1,"elapsed":{"secs":3"#).unwrap();

    let xml = dir.join("junit.xml");
    let (code, out) = dexthil(&["report", s(&journal), "--junit", s(&xml)]);
    assert_eq!(code, 2, "an interrupted run does not pass the gate: {out}");
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
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "--journal",
        s(&dir.join("j.jsonl")),
        "--junit",
        s(&xml),
        "tests/failing/uncovered-busy.yaml",
        "scenarios/smoke/ds620.yaml",
    ]);
    assert_eq!(code, 1, "{out}");
    let report = junit(&xml);
    let props: Vec<(String, String)> = report.test_suites[0]
        .properties
        .iter()
        .map(|p| (p.name.as_str().to_string(), p.value.as_str().to_string()))
        .collect();
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
    assert!(
        get("dext.com.example.dexthil.DNPPrinterDriver.cdhash").is_some(),
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
    let (code, out) = dexthil(&[
        "run",
        "--station",
        "tests/nightly/station-missing.yaml",
        "--journal",
        s(&journal),
        "scenarios/smoke",
        "ds620",
    ]);
    assert_eq!(code, 2, "{out}");
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
    let (code, out) = dexthil(&[
        "run",
        "--station",
        "ci/labs/sim.yaml",
        "--journal",
        s(&dir.join("j.jsonl")),
        "scenarios/smoke",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("station sim: healthy"), "{out}");
}

#[test]
fn the_shipped_sim_station_runs_the_whole_corpus_both_dexts_included() {
    let dir = scratch("healthy-all");
    let (code, out) = dexthil(&[
        "run",
        "--station",
        "ci/labs/sim.yaml",
        "--journal",
        s(&dir.join("j.jsonl")),
    ]);
    assert_eq!(code, 0, "{out}");
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
    let (code, out) = dexthil(&[
        "run",
        "--station",
        "tests/nightly/station-cx02.yaml",
        "--journal",
        s(&journal),
        "--junit",
        s(&xml),
        "scenarios/smoke",
    ]);
    assert_eq!(code, 0, "skipped scenarios are not failures: {out}");
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
    let (code, out) = dexthil(&[
        "run",
        "--station",
        "tests/nightly/station-cx02.yaml",
        "scenarios/smoke/ds620.yaml",
    ]);
    assert_eq!(code, 2, "{out}");
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
    let (code, out) = dexthil(&["run", "--lab", "sim", "--journal", "/dev/full", smoke]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("cannot write the journal /dev/full"), "{out}");
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "--journal",
        s(&dir.join("j.jsonl")),
        "--junit",
        "/dev/full",
        smoke,
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("cannot write the JUnit report /dev/full"),
        "{out}"
    );
    assert!(
        std::fs::metadata("/dev/full").is_ok_and(|m| !m.is_file()),
        "/dev/full is still a device, not replaced by a report"
    );
    // A place no file can be created (its parent is a file; a read-only directory does not stop root).
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "--journal",
        s(&dir.join("j2.jsonl")),
        "--junit",
        "Cargo.toml/junit.xml",
        smoke,
    ]);
    assert_eq!(code, 2, "{out}");
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
    let (code, out) = dexthil(&[
        "run",
        "--station",
        "tests/nightly/station-replay-escape.yaml",
        "scenarios/replay/ds620.yaml",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("tests/nightly/station-replay-escape.yaml:3:10: `backend: replay:../fixtures/recordings/ds620` leaves the station file's folder"),
        "{out}"
    );
    assert!(
        out.contains("1 error in the station file; nothing was run"),
        "the summary names the file it is about: {out}"
    );
    let (code, out) = dexthil(&[
        "run",
        "--station",
        "tests/nightly/station-bad-values.yaml",
        "scenarios/smoke",
    ]);
    assert_eq!(code, 2, "{out}");
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
    let (code, out) = dexthil(&[
        "run",
        "--station",
        "tests/nightly/station-replay.yaml",
        "scenarios/replay/ds620.yaml",
    ]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_bad_station_file_names_file_line_column_and_the_right_key() {
    let (code, out) = dexthil(&["run", "--station", "tests/nightly/station-typo.yaml"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("tests/nightly/station-typo.yaml:4:"), "{out}");
    assert!(out.contains("did you mean `serial`?"), "{out}");
}

fn listed(args: &[&str]) -> Vec<String> {
    let (code, out) = dexthil(args);
    assert_eq!(code, 0, "{out}");
    out.lines()
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
    let j = s(&dir.join("j.jsonl")).to_string();
    let (code, out) = dexthil(&["run", "--lab", "sim", "--journal", &j, f]);
    assert_eq!(code, 2, "without retries the lab failure gates: {out}");

    let xml = dir.join("junit.xml");
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "--journal",
        &j,
        "--retries",
        "1",
        "--junit",
        s(&xml),
        f,
    ]);
    assert_eq!(code, 0, "{out}");
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

    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "--journal",
        &j,
        "--retries",
        "1",
        "--flaky-fails",
        f,
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--flaky-fails"), "{out}");
}

#[test]
fn a_driver_failure_is_not_retried() {
    let dir = scratch("noretry");
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "--journal",
        s(&dir.join("j.jsonl")),
        "--retries",
        "3",
        "tests/failing/uncovered-busy.yaml",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains("retrying"), "{out}");
}

#[test]
fn scenarios_on_one_printer_never_overlap_even_with_jobs() {
    let dir = scratch("jobs");
    let journal = dir.join("j.jsonl");
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "--jobs",
        "4",
        "--journal",
        s(&journal),
        "tests/nightly/same-printer-a.yaml",
        "tests/nightly/same-printer-b.yaml",
    ]);
    assert_eq!(code, 0, "{out}");
    let order: Vec<String> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"event\":\"scenario_"))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {}",
                v["event"].as_str().unwrap(),
                v["scenario"].as_str().unwrap()
            )
        })
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
    let (code, out) = dexthil(&["run", "--lab", "sim", "--journal", s(&fifo), smoke]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!("cannot write the journal {}", fifo.display())),
        "{out}"
    );
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "--journal",
        s(&dir.join("j.jsonl")),
        "--junit",
        s(&fifo),
        smoke,
    ]);
    assert_eq!(code, 2, "{out}");
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
