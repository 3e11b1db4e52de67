//! Log capture and crash reports, read from recorded-shape fixtures (tests/fixtures/logs/README.md) and from
//! a stand-in for `/usr/bin/log`, so the reader is tested on every machine.

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
    assert_eq!(lines[0].timestamp, "2025-03-14 09:26:53.401122-0700");
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
