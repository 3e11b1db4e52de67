//! A fleet of lab Macs as CI runs it: two sim stations with different printers run separately, their
//! journals merge into one verdict, one JUnit and one HTML page (rendered in headless Chromium when it is
//! installed), and `compare` tells two nights apart.

mod support;
use support::dexthil;

use quick_junit::{Report, TestCaseStatus};
use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fleet-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One station's night: `run --station STATION PATHS...` into `journal`; its exit code and output.
fn night(station: &str, journal: &Path, paths: &[&str]) -> (i32, String) {
    let mut args = vec!["run", "--station", station, "--journal", s(journal)];
    args.extend_from_slice(paths);
    dexthil(&args)
}

const CX02: &str = "tests/nightly/station-cx02.yaml";
const DS620: &str = "tests/nightly/station-ds620.yaml";
const BUSY: &str = "tests/failing/uncovered-busy.yaml";

#[test]
fn two_stations_with_different_printers_merge_into_one_verdict_junit_and_page() {
    let dir = scratch("merge");
    let (a, b) = (dir.join("mac-cx02.jsonl"), dir.join("mac-ds620.jsonl"));
    let (code, out) = night(CX02, &a, &["scenarios/smoke", BUSY]);
    assert_eq!(code, 0, "the DS620 failure is not this station's: {out}");
    assert!(
        out.contains("SKIP uncovered-busy: not for this station `mac-cx02`"),
        "{out}"
    );
    let (code, out) = night(DS620, &b, &["scenarios/smoke", BUSY]);
    assert_eq!(code, 1, "{out}");

    let (xml, page) = (dir.join("merged.xml"), dir.join("report.html"));
    let (code, out) = dexthil(&[
        "report",
        s(&a),
        s(&b),
        "--junit",
        s(&xml),
        "--html",
        s(&page),
    ]);
    assert_eq!(code, 1, "the merged verdict is the driver's failure: {out}");
    assert!(out.contains("merged 2 journals:"), "{out}");
    assert!(
        out.contains("mac-ds620.jsonl (on mac-ds620) =="),
        "each run with its station: {out}"
    );
    assert!(out.contains("failed: the driver broke (exit 1)"), "{out}");

    // One suite per station; the scenario that failed is kept with the station it ran on.
    let report = Report::deserialize_from_str(&std::fs::read_to_string(&xml).unwrap()).unwrap();
    let suite = |name: &str| {
        report
            .test_suites
            .iter()
            .find(|t| t.name.as_str().contains(name))
            .unwrap_or_else(|| panic!("no suite for {name}"))
    };
    let status = |station: &str, case: &str| {
        suite(station)
            .test_cases
            .iter()
            .find(|c| c.name.as_str() == case)
            .map(|c| c.status.clone())
            .unwrap_or_else(|| panic!("no {case} on {station}"))
    };
    assert!(matches!(
        status("mac-ds620", "uncovered-busy"),
        TestCaseStatus::NonSuccess { .. }
    ));
    assert!(matches!(
        status("mac-cx02", "uncovered-busy"),
        TestCaseStatus::Skipped { .. }
    ));
    assert!(matches!(
        status("mac-cx02", "smoke-cx-02"),
        TestCaseStatus::Success { .. }
    ));

    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );
    assert!(
        !html.contains("<script") && !html.contains("<link"),
        "no script, no external asset"
    );
    let failures = html.find("id=\"failures\"").expect("a failures section");
    let rows = html.find("<h2>Scenarios</h2>").unwrap();
    assert!(failures < rows, "failures come first");
    assert!(
        html.contains("tests/failing/uncovered-busy.yaml:15:5"),
        "YAML place"
    );
    assert!(html.contains("kIOReturnBusy (0xE00002D5)"), "decoded code");
    assert!(
        html.contains("<small>on mac-ds620</small>"),
        "the station it failed on"
    );

    // All passing on both stations: the merged verdict is a pass.
    let (c, d) = (dir.join("c.jsonl"), dir.join("d.jsonl"));
    assert_eq!(night(CX02, &c, &["scenarios/smoke"]).0, 0);
    assert_eq!(night(DS620, &d, &["scenarios/smoke"]).0, 0);
    let (code, out) = dexthil(&["report", s(&c), s(&d)]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("merged 2 journals:") && out.contains(": passed"),
        "{out}"
    );
}

#[test]
fn compare_names_what_newly_fails_and_exits_1() {
    let dir = scratch("compare");
    let (old, new) = (dir.join("old.jsonl"), dir.join("new.jsonl"));
    assert_eq!(night(DS620, &old, &["scenarios/smoke/ds620.yaml"]).0, 0);
    assert_eq!(
        night(DS620, &new, &["scenarios/smoke/ds620.yaml", BUSY]).0,
        1
    );
    let (code, out) = dexthil(&["compare", s(&old), s(&new)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("newly failing (1):\n  uncovered-busy\n"),
        "{out}"
    );
    let (code, out) = dexthil(&["compare", s(&new), s(&old)]);
    assert_eq!(code, 0, "nothing newly fails going back: {out}");
    assert!(
        out.contains("missing (ran before, not now) (1):\n  uncovered-busy"),
        "{out}"
    );
    // A folder of journals is one merged night.
    let night_dir = dir.join("night");
    std::fs::create_dir_all(&night_dir).unwrap();
    std::fs::copy(&new, night_dir.join("a.jsonl")).unwrap();
    let (code, out) = dexthil(&["compare", s(&old), s(&night_dir)]);
    assert_eq!(code, 1, "{out}");
}

/// Chromium's binary, if installed (ci/install-test-deps.sh installs it).
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn the_html_report_renders_in_headless_chromium_with_the_failure_visible() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED: no chromium on PATH (ci/install-test-deps.sh installs it)");
        return;
    };
    let dir = scratch("chromium");
    let journal = dir.join("j.jsonl");
    assert_eq!(night(DS620, &journal, &["scenarios/smoke", BUSY]).0, 1);
    let page = dir.join("report.html");
    let (code, out) = dexthil(&["report", s(&journal), "--html", s(&page)]);
    assert_eq!(code, 1, "{out}");
    // The page has no script; the test adds one to a copy, to ask the browser what it laid out: the failure
    // box is displayed, has a size, and starts within the first screen (1280x800).
    let probe = "<script>window.addEventListener('load',()=>{const f=document.querySelector('.failure');\
        const r=f&&f.getBoundingClientRect();const st=f&&getComputedStyle(f);\
        document.body.setAttribute('data-probe',(f&&st.display!=='none'&&st.visibility==='visible'&&\
        r.width>100&&r.height>20&&r.top<window.innerHeight)?'failure-visible':'failure-hidden');});</script>";
    let html = std::fs::read_to_string(&page).unwrap();
    let probed = dir.join("probed.html");
    std::fs::write(&probed, html.replace("</body>", &format!("{probe}</body>"))).unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=1280,800",
            "--virtual-time-budget=2000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", probed.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("data-probe=\"failure-visible\""),
        "status {:?}\n{}\n{dom}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dom.contains("uncovered-busy.yaml:15:5"), "{dom}");
}

#[test]
fn the_html_report_gives_percentiles_of_a_repeated_call() {
    let dir = scratch("latency");
    let journal = dir.join("j.jsonl");
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "--journal",
        s(&journal),
        "scenarios/sample/open-close-cycles.yaml",
    ]);
    assert_eq!(code, 0, "{out}");
    let page = dir.join("report.html");
    assert_eq!(dexthil(&["report", s(&journal), "--html", s(&page)]).0, 0);
    let html = std::fs::read_to_string(&page).unwrap();
    let table = &html[html
        .find("Latency of repeated calls")
        .expect("a latency table")..];
    // The call inside the 200-times repeat: 200 calls, with p50, p99 and max.
    assert!(
        table.contains("<td>scenarios/sample/open-close-cycles.yaml:11:11</td><td>200</td>"),
        "{table}"
    );
    assert!(html.contains("<th>p50</th><th>p99</th><th>max</th>"));
    assert!(
        html.contains("class=\"verdict passed\""),
        "a passing night is green"
    );
}

#[test]
fn the_html_report_shows_fuzz_coverage_by_selector_and_shape() {
    let dir = scratch("fuzz");
    let journal = dir.join("fuzz.jsonl");
    let (code, out) = dexthil(&[
        "fuzz",
        "--driver",
        "scenarios/drivers/apple-sample.yaml",
        "--lab",
        "sim",
        "--cases",
        "30",
        "--seed",
        "1",
        "--journal",
        s(&journal),
        "--out",
        s(&dir.join("findings")),
    ]);
    assert_eq!(code, 0, "{out}");
    let page = dir.join("report.html");
    dexthil(&["report", s(&journal), "--html", s(&page)]);
    let html = std::fs::read_to_string(&page).expect("the page is written for a fuzz journal too");
    let fuzz = &html[html
        .find("<h2>Fuzz coverage</h2>")
        .expect("a coverage section")..];
    // The fuzzer's coverage event: selector × shape × answer, with counts.
    assert!(
        fuzz.contains("<th>selector</th><th>shape</th><th>answer</th><th>count</th>"),
        "{fuzz}"
    );
    assert!(
        fuzz.contains("<td>CheckedScalar</td><td>valid</td><td>kIOReturnSuccess</td>"),
        "{fuzz}"
    );
    assert!(
        fuzz.contains("<td>near miss: "),
        "near misses by kind: {fuzz}"
    );
}
