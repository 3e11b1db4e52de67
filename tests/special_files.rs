//! Issue 18 item 1: a FIFO or `/dev/zero` handed to a CLI reader (`ioreg`, `report`, `doctor`, `run` and
//! its station file) is refused with the file's name and exit 2, instead of hanging on the FIFO or growing
//! without bound on `/dev/zero`; a scenario folder holding a FIFO and a symbolic link loop is scanned once,
//! the FIFO skipped with a warning.
//!
//! Each child runs under a guard that kills it when it outlives [`HANG_GUARD`]: that is not a speed
//! assertion (the readers answer in milliseconds), only the way a hang fails the test instead of
//! hanging `cargo test`.
#![cfg(unix)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Far above what a refusal takes; only a hang, or reading gigabytes of `/dev/zero`, reaches it.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dexthil-special-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Run `dexthil ARGS` with output to files (no pipe to fill); `None` when the guard had to kill it.
fn guarded(args: &[&str], out_dir: &Path) -> Option<(i32, String)> {
    let out_path = out_dir.join("out.txt");
    let out = std::fs::File::create(&out_path).unwrap();
    let err = out.try_clone().unwrap();
    let mut child = support::bin()
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("the dexthil binary runs");
    let until = Instant::now() + HANG_GUARD;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    status.map(|s| (s.code().unwrap_or(-1), text))
}

fn assert_refused(args: &[&str], file: &str, dir: &Path) {
    let Some((code, text)) = guarded(args, dir) else {
        panic!("`dexthil {}` hung or kept reading: killed", args.join(" "));
    };
    assert_eq!(code, 2, "`dexthil {}`:\n{text}", args.join(" "));
    assert!(
        text.contains(file) && text.contains("not a regular file"),
        "`dexthil {}` must name {file} and say it is not a regular file:\n{text}",
        args.join(" ")
    );
}

#[test]
fn every_cli_reader_refuses_a_fifo() {
    let dir = tempdir("fifo");
    let fifo = dir.join("attachment");
    mkfifo(&fifo);
    let f = fifo.to_str().unwrap();
    for args in [
        vec!["ioreg", f],
        vec!["report", f],
        vec!["doctor", "--ioreg", f],
        vec!["doctor", "--sysext", f],
        vec!["doctor", "--log", f],
        vec!["doctor", "--host-entitlements", f],
        vec!["doctor", "--crash", f],
        vec!["doctor", f],
        vec!["run", f],
        vec!["run", "--station", f],
    ] {
        assert_refused(&args, "attachment", &dir);
    }
}

#[test]
fn every_cli_reader_refuses_dev_zero() {
    let dir = tempdir("zero");
    for args in [
        vec!["ioreg", "/dev/zero"],
        vec!["report", "/dev/zero"],
        vec!["doctor", "--ioreg", "/dev/zero"],
        vec!["doctor", "--log", "/dev/zero"],
        vec!["doctor", "--dext-entitlements", "/dev/zero"],
        vec!["doctor", "/dev/zero"],
        vec!["run", "/dev/zero"],
    ] {
        assert_refused(&args, "/dev/zero", &dir);
    }
}

#[test]
fn a_scenario_folder_with_a_fifo_and_a_symlink_loop_runs_what_it_holds() {
    let dir = tempdir("folder");
    let corpus = dir.join("corpus");
    std::fs::create_dir_all(corpus.join("smoke")).unwrap();
    std::fs::create_dir_all(corpus.join("drivers")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("scenarios/smoke/cx-02.yaml"),
        corpus.join("smoke/cx-02.yaml"),
    )
    .unwrap();
    std::fs::copy(
        root.join("scenarios/drivers/dnp-printer.yaml"),
        corpus.join("drivers/dnp-printer.yaml"),
    )
    .unwrap();
    mkfifo(&corpus.join("smoke/pipe.yaml"));
    std::os::unix::fs::symlink(&corpus, corpus.join("smoke/loop")).unwrap();
    let Some((code, text)) = guarded(&["run", corpus.to_str().unwrap()], &dir) else {
        panic!("a folder with a FIFO and a symlink loop hung the scan");
    };
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("pipe.yaml: skipped: not a regular file"),
        "{text}"
    );
    assert!(text.contains("already visited"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "warnings read as plain text off a terminal: {text:?}"
    );
    assert_eq!(
        text.matches("PASS smoke-cx-02 (").count(),
        1,
        "the scenario ran once, not once per loop level:\n{text}"
    );
}

#[test]
fn a_scenario_whose_driver_file_is_a_fifo_is_refused_naming_the_driver() {
    let dir = tempdir("driver");
    std::fs::create_dir_all(dir.join("smoke")).unwrap();
    std::fs::create_dir_all(dir.join("drivers")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("scenarios/smoke/cx-02.yaml"),
        dir.join("smoke/cx-02.yaml"),
    )
    .unwrap();
    mkfifo(&dir.join("drivers/dnp-printer.yaml"));
    // The folder is the scenario root, so the driver lies inside it; the walk skips `drivers/`.
    let corpus = dir.to_str().unwrap().to_string();
    assert_refused(&["run", &corpus], "dnp-printer.yaml", &dir);
}
