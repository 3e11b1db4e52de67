//! Log capture and crash reports, read from recorded-shape fixtures (tests/fixtures/logs/README.md) and from
//! a stand-in for `/usr/bin/log`, so the reader is tested on every machine.

mod support;
use support::dexthil;

use dexthil::logs::crash::{self, newest_report};
use dexthil::logs::ndjson::parse_all;
use dexthil::logs::stream::CrashSource;
use dexthil::logs::{LineSource, LogCapture, LogStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/logs")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("dexthil-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_refused_open_reads_as_the_dexts_breadcrumbs_and_the_kernels_dk_lines() {
    let (lines, errors) = parse_all(
        &read("dnp-open-refused.ndjson"),
        "dnp-open-refused.ndjson",
        "DNPPrinterDriver",
    );
    assert_eq!(errors, vec![]);
    let want = [
        (LineSource::Dext, "DNPPrinterDriver: NewUserClient(0)"),
        (
            LineSource::Kernel,
            "DK: DNPPrinterDriver-0x100000a3c:UC failed userclient-access check",
        ),
        (
            LineSource::Kernel,
            "DK: DNPPrinterDriver-0x100000a3c:UC entitlements check failed",
        ),
        (LineSource::Dext, "DNPPrinterDriver: ExternalMethod(0)"),
        (
            LineSource::Dext,
            "DNPPrinterDriver: SubmitJob(7) header 1B50",
        ),
        (
            LineSource::Kernel,
            "IOUC DNPPrinterUserClient missing entitlement in process PrintHost",
        ),
    ];
    assert_eq!(lines.len(), want.len(), "{lines:?}");
    for (line, (source, start)) in lines.iter().zip(want) {
        assert_eq!(line.source, source, "{line:?}");
        assert!(line.text.starts_with(start), "{line:?}");
    }
    assert_eq!(&*lines[0].timestamp, "2025-03-14 09:26:53.401122-0700");
    assert!(
        lines[1]
            .text
            .ends_with("needed bundle ID com.example.dexthil.DNPPrinterDriver")
    );
    // The kernel cuts a dext's message at 240 bytes; it is kept as it came.
    assert_eq!(lines[4].text.len(), 240);
}

#[test]
fn a_broken_entry_is_named_by_line_and_column_and_the_rest_still_reads() {
    let (lines, errors) = parse_all(&read("broken.ndjson"), "broken.ndjson", "NullDriver");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1].source, LineSource::Dext);
    assert_eq!(errors.len(), 1);
    let e = errors[0].to_string();
    assert!(e.starts_with("broken.ndjson:3:"), "{e}");
    assert!(e.contains("EOF while parsing"), "{e}");
}

#[test]
fn a_crash_report_gives_exception_signal_and_the_crashed_threads_top_frames() {
    let path = fixture("DNPPrinterDriver-2025-03-14-092702.ips");
    let r = crash::parse(&path, &read("DNPPrinterDriver-2025-03-14-092702.ips")).unwrap();
    assert_eq!(
        r.process.as_deref(),
        Some("com.example.dexthil.DNPPrinterDriver")
    );
    assert_eq!(r.pid, Some(612));
    assert_eq!(r.bug_type.as_deref(), Some("309"));
    assert_eq!(r.os_version.as_deref(), Some("macOS 14.4.1 (23E224)"));
    assert_eq!(r.crashed_thread, Some(2));
    assert_eq!(r.frames.len(), crash::TOP_FRAMES);
    let lines = r.summary_lines();
    assert_eq!(lines[0], format!("crash report {}", path.display()));
    assert_eq!(
        lines[1],
        "com.example.dexthil.DNPPrinterDriver (pid 612): EXC_BAD_ACCESS (SIGSEGV), codes 0x0000000000000001, 0x0000000000000010"
    );
    assert_eq!(lines[2], "crashed thread 2:");
    assert_eq!(
        lines[3],
        "  0 com.example.dexthil.DNPPrinterDriver DNPPrinterDriver::GetStatus(OSAction*, unsigned long long*) + 0x4a1c"
    );
    // A frame without a symbol still shows its image.
    assert_eq!(lines[7], "  4 DriverKit ??? + 0x1d610");
}

#[test]
fn a_sparse_report_reads_and_malformed_ones_name_file_line_and_column() {
    let sparse = crash::parse(Path::new("sparse.ips"), &read("sparse.ips")).unwrap();
    assert_eq!(
        sparse.summary_lines()[1..],
        [
            "com.example.dexthil.DNPPrinterDriver: EXC_CRASH",
            "no thread is marked as the crashed one"
        ]
    );
    let e = crash::parse(Path::new("not-json.ips"), &read("not-json.ips")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("not-json.ips:1:1: the first line is not a JSON header"),
        "{e}"
    );
    let e = crash::parse(Path::new("t.ips"), &read("truncated-body.ips")).unwrap_err();
    assert_eq!(e.line, 5, "{e}");
    assert!(e.to_string().starts_with("t.ips:5:"), "{e}");
}

#[test]
fn the_newest_report_of_the_dext_since_the_run_started_is_found_and_others_are_not() {
    let dir = TempDir::new("crash");
    let other = TempDir::new("crash-other");
    let report = read("DNPPrinterDriver-2025-03-14-092702.ips");
    let names = vec!["com.example.dexthil.DNPPrinterDriver".to_string()];
    std::fs::write(
        dir.0.join("stranger.ips"),
        report.replace("DNPPrinterDriver", "Stranger"),
    )
    .unwrap();
    std::fs::write(dir.0.join("broken.ips"), "{not json").unwrap();
    std::fs::write(dir.0.join("notes.txt"), &report).unwrap();
    let dirs = vec![
        dir.0.clone(),
        other.0.clone(),
        PathBuf::from("/nonexistent/dexthil"),
    ];
    let started = SystemTime::now() - Duration::from_secs(5);
    assert_eq!(newest_report(&dirs, &names, started), None);
    let ips = other.0.join("DNPPrinterDriver-2025-03-14-092702.ips");
    std::fs::write(&ips, &report).unwrap();
    let found = newest_report(&dirs, &names, started).expect("the dext's report");
    assert_eq!(found.path, ips);
    // A report from before the run is someone else's history.
    let later = SystemTime::now() + Duration::from_secs(60);
    assert_eq!(newest_report(&dirs, &names, later), None);
}

fn sh(script: &str) -> LogStream {
    LogStream::spawn(
        Path::new("/bin/sh"),
        &["-c".to_string(), script.to_string()],
        "DNPPrinterDriver",
        CrashSource::default(),
    )
}

#[test]
fn the_stream_reader_delivers_lines_as_log_prints_them() {
    let fixture = fixture("dnp-open-refused.ndjson");
    let s = sh(&format!("cat '{}'; exec sleep 30", fixture.display()));
    let b = s.buffer();
    let got = b.wait_for(
        0,
        &|l| l.text.starts_with("IOUC "),
        Instant::now() + Duration::from_secs(10),
    );
    assert!(got.is_some(), "{:?} {:?}", b.all(), b.trouble());
    assert_eq!(b.all().len(), 6);
    assert_eq!(b.trouble(), None);
}

#[test]
fn a_log_tool_that_refuses_is_said_once_with_its_status_and_message() {
    let s = sh("echo 'log: Cannot run while sandboxed' >&2; exit 64");
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.buffer().trouble().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let t = s.buffer().trouble().expect("a trouble");
    assert!(t.contains("exit status: 64"), "{t}");
    assert!(t.contains("log: Cannot run while sandboxed"), "{t}");
    let missing = LogStream::spawn(
        Path::new("/nonexistent/usr/bin/log"),
        &[],
        "x",
        CrashSource::default(),
    );
    let t = missing.buffer().trouble().expect("a trouble");
    assert!(
        t.starts_with("cannot start `/nonexistent/usr/bin/log"),
        "{t}"
    );
}

// ---- whole runs through the binary ---------------------------------------------------------------------

/// The console's block for one failed step: from its `✗` line to the scenario's `FAILED` line.
fn failed_block(out: &str) -> &str {
    let start = out
        .find('✗')
        .unwrap_or_else(|| panic!("no failed step in {out}"));
    let end = out[start..]
        .find("FAILED at")
        .map_or(out.len(), |e| start + e);
    &out[start..end]
}

#[test]
fn a_refused_open_shows_the_kernels_dk_line_beside_the_decoded_code() {
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "tests/failing/refused-open-logged.yaml",
    ]);
    assert_eq!(code, 1, "{out}");
    let block = failed_block(&out);
    let code_at = block
        .find("code:     kIOReturnNotPermitted (0xE00002E2)")
        .expect(block);
    let log_at = block
        .find("log (kernel and dext, during this step):")
        .expect(block);
    assert!(code_at < log_at, "{block}");
    let lines: Vec<&str> = block[log_at..]
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 3, "{block}");
    assert!(
        lines[0].ends_with("dext   DNPPrinterDriver: NewUserClient(0)"),
        "{block}"
    );
    assert!(
        lines[1].ends_with(
            ":UC failed userclient-access check, needed bundle ID com.example.dexthil.DNPPrinterDriver"
        ) && lines[1].contains("kernel DK: DNPPrinterUserClient-0x"),
        "{block}"
    );
    assert!(
        lines[2].ends_with(":UC entitlements check failed"),
        "{block}"
    );
}

#[test]
fn a_dext_crash_shows_the_call_breadcrumb_and_the_crash_report() {
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "tests/failing/crash-with-report.yaml",
    ]);
    assert_eq!(code, 1, "{out}");
    let block = failed_block(&out);
    assert!(
        block.contains("actual:   MACH_SEND_INVALID_DEST (0x10000003)"),
        "{block}"
    );
    assert!(
        block.contains("dext   DNPPrinterDriver: ExternalMethod(0)"),
        "{block}"
    );
    assert!(
        block.contains("crash  com.example.dexthil.DNPPrinterDriver: EXC_CRASH (SIGABRT)"),
        "{block}"
    );
    assert!(block.contains("crash  crashed thread 0:"), "{block}");
}

#[test]
fn expect_no_log_fails_when_new_user_client_is_reached() {
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "tests/failing/new-user-client-reached.yaml",
    ]);
    assert_eq!(code, 1, "{out}");
    let block = failed_block(&out);
    assert!(
        block.contains("a log line contains `NewUserClient`, which this step expects never to appear (tests/failing/new-user-client-reached.yaml:13:22)"),
        "{block}"
    );
    assert!(
        block.contains("actual:   dext said: DNPPrinterDriver: NewUserClient(0)"),
        "{block}"
    );
}

#[test]
fn the_field_bugs_assert_their_log_lines_and_pass() {
    let (code, out) = dexthil(&["run", "--lab", "sim", "scenarios/field-bugs"]);
    assert_eq!(code, 0, "{out}");
    // A passing step's lines are not shown: they reach the journal as events only.
    assert!(!out.contains("log (kernel and dext"), "{out}");
}

/// `DK: X-0x10000022e:UC ...` → `DK: X-0x…:UC ...`: registry ids depend on the order the sim built things.
fn without_registry_id(text: &str) -> String {
    match text.split_once("-0x") {
        Some((head, tail)) => {
            let rest = tail.trim_start_matches(|c: char| c.is_ascii_hexdigit());
            format!("{head}-0x…{rest}")
        }
        None => text.to_string(),
    }
}

#[test]
fn log_lines_reach_the_events_under_their_step_before_it_finishes() {
    use dexthil::report::{Collector, EventKind};
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/field-bugs/userclient-access-newline-string.yaml");
    let scenario = dexthil::scenario::load_scenario(&path).unwrap();
    let lab = std::sync::Arc::new(dexthil::backends::sim::SimLab::for_scenario(&scenario).unwrap());
    let events = std::sync::Arc::new(Collector::new());
    let verdict = dexthil::engine::run_scenario(&scenario, lab, events.clone(), Instant::now());
    assert_eq!(verdict, dexthil::report::Verdict::Passed);
    let told: Vec<String> = events
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::LogLine {
                step, source, text, ..
            } => Some(format!(
                "{step} {} {}",
                source.label(),
                without_registry_id(&text)
            )),
            EventKind::StepFinished { step, .. } => Some(format!("{step} finished")),
            _ => None,
        })
        .collect();
    assert_eq!(
        told,
        [
            "1 finished",
            "2 dext DNPPrinterDriver: NewUserClient(0)",
            "2 kernel DK: DNPPrinterUserClient-0x…:UC entitlements check failed",
            "2 finished",
            "3 dext DNPPrinterDriver: NewUserClient(0)",
            "3 kernel DK: DNPPrinterUserClient-0x…:UC entitlements check failed",
            "3 finished"
        ]
    );
}

fn load_one_step(step: &str) -> String {
    let dir = TempDir::new("log-keys");
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/drivers/dnp-printer.yaml");
    let file = dir.0.join("case.yaml");
    let text = format!(
        "driver: {}\nprinters:\n  p: {{ model: DS620 }}\nsteps:\n  - {step}\n",
        driver.display()
    );
    std::fs::write(&file, text).unwrap();
    dexthil::scenario::load_scenario(&file)
        .map(|_| "loaded".to_string())
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn misspelled_log_keys_are_errors_with_place_and_hint() {
    let e = load_one_step("open: { printer: p, as: uc, expect_logs: { contains: x } }");
    assert!(e.contains("case.yaml:5:"), "{e}");
    assert!(
        e.contains("unknown key `expect_logs`") && e.contains("did you mean `expect_log`?"),
        "{e}"
    );
    let e = load_one_step("call: { on: uc, selector: GetStatus, expect_log: { contain: x } }");
    assert!(
        e.contains("case.yaml:5:") && e.contains("did you mean `contains`?"),
        "{e}"
    );
    let e = load_one_step("open: { printer: p, as: uc, expect_no_log: { contains: \"\" } }");
    assert!(
        e.contains("case.yaml:5:") && e.contains("`expect_no_log` has an empty `contains`"),
        "{e}"
    );
    let e = load_one_step("open: { printer: p, as: uc, expect_log: { contains: x, within: 3 } }");
    assert!(e.contains("case.yaml:5:"), "{e}");
    assert_eq!(
        load_one_step("open: { printer: p, as: uc, expect_log: { contains: x, within: 1s } }"),
        "loaded"
    );
}

#[test]
fn a_driver_files_log_block_sets_the_stream_and_a_wrong_level_is_named() {
    let dir = TempDir::new("driver-log");
    let base = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/drivers/apple-sample.yaml"),
    )
    .unwrap();
    let good = dir.0.join("good.yaml");
    std::fs::write(
        &good,
        format!("{base}\nlog: {{ predicate: 'process == \"kernel\"', level: info }}\n"),
    )
    .unwrap();
    let d = dexthil::scenario::load_driver(&good).unwrap();
    let args = dexthil::logs::ndjson::stream_args(&d.log, d.log_prefix());
    assert_eq!(
        args[3..],
        ["--level", "info", "--predicate", "process == \"kernel\""]
    );
    let bad = dir.0.join("bad.yaml");
    std::fs::write(&bad, format!("{base}\nlog: {{ level: debgu }}\n")).unwrap();
    let e = dexthil::scenario::load_driver(&bad)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.yaml:") && e.contains("`debgu` is not a log level"),
        "{e}"
    );
    assert!(e.contains("did you mean `debug`?"), "{e}");
}
