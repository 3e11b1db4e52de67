//! `dexthil run --lab macos` built with `--features darwin-double`: the real macOS backend on Linux, served by
//! the darwin double. Every corpus scenario the double can serve passes with no ownership error, and the
//! ones it cannot serve (they need printers on the real libusb side) say why.

#![cfg(all(feature = "darwin-double", not(target_os = "macos")))]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The corpus, split into what the double serves (no printer role) and what needs libusb printers.
fn corpus() -> (Vec<PathBuf>, Vec<(String, PathBuf)>) {
    let all =
        dexthil::scenario::load_corpus(&[repo().join("scenarios")]).expect("the corpus loads");
    let (servable, not): (Vec<_>, Vec<_>) = all.into_iter().partition(|s| s.printers.is_empty());
    (
        servable.into_iter().map(|s| s.source).collect(),
        not.into_iter().map(|s| (s.name, s.source)).collect(),
    )
}

fn run(paths: &[PathBuf], journal: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dexthil"))
        .current_dir(repo())
        .arg("run")
        .args(["--lab", "macos", "--journal"])
        .arg(journal)
        .args(paths)
        .env_remove(dexthil::backends::darwin_double::IOREG_ENV)
        .output()
        .expect("dexthil runs")
}

#[test]
fn every_servable_scenario_passes_through_the_real_backend_with_no_ownership_error() {
    let (servable, not_servable) = corpus();
    let names: Vec<String> = servable.iter().map(|p| p.display().to_string()).collect();
    // The sample, Apple's sample fuzzing and a field bug at least: what a Mac without printers runs.
    for must in [
        "sample/async.yaml",
        "sample/limits.yaml",
        "fuzz/apple-sample-fuzz.yaml",
        "field-bugs/",
    ] {
        assert!(
            names.iter().any(|n| n.contains(must)),
            "{must} is servable: {names:#?}"
        );
    }
    let dir = tempdir();
    let out = run(&servable, &dir.join("journal.jsonl"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status.code()
    );
    assert!(
        stdout.contains(&format!(
            "running {} scenarios on the macos (darwin double) lab",
            servable.len()
        )),
        "{stdout}"
    );
    assert!(
        stderr.contains("runs the real macOS backend against the darwin double"),
        "{stderr}"
    );
    assert!(
        stderr.contains("served the run with no ownership errors"),
        "{stderr}"
    );
    assert!(!stderr.contains("ownership error "), "{stderr}");
    eprintln!(
        "not servable under the double (their printer roles need printers on the real libusb side): {:?}",
        not_servable.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
}

#[test]
fn a_scenario_that_needs_a_libusb_printer_is_refused_as_the_labs_fault_saying_why() {
    let (_, not_servable) = corpus();
    let (name, path) = not_servable
        .iter()
        .find(|(_, p)| p.ends_with("smoke/ds620.yaml"))
        .expect("smoke-ds620 needs a printer");
    let dir = tempdir();
    let out = run(std::slice::from_ref(path), &dir.join("journal.jsonl"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("needs a printer on the real libusb side, which the double never fakes"),
        "{name}: {stdout}"
    );
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "dexthil-darwin-double-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).expect("a temporary folder");
    d
}

#[test]
fn selftest_runs_through_the_real_backend_and_every_assumption_it_can_check_holds() {
    let out_dir = tempdir().join("selftest");
    let out = Command::new(env!("CARGO_BIN_EXE_dexthil"))
        .current_dir(repo())
        .args(["selftest", "--out"])
        .arg(&out_dir)
        .output()
        .expect("dexthil runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    // IOObjectGetClass through the real FFI answers the override, as a Mac does; the sample's completion
    // comes back on the notification port.
    for (id, verdict) in [("class-names", "holds"), ("async-completion", "holds")] {
        let row = text
            .split("\n")
            .skip_while(|l| !l.starts_with(id))
            .take(3)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(row.contains(&format!("→ {verdict}")), "{id}: {row}\n{text}");
    }
    assert!(
        text.contains("device IOUSBDevice, interface IOUSBInterface"),
        "{text}"
    );
    assert!(!text.contains("BROKEN"), "{text}");
    assert!(out_dir.join("verdicts.json").is_file(), "{text}");
}
