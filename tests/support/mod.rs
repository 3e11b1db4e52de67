//! What every whole-run test needs: the `dexthil` binary, run from the repository root as a user would,
//! with its exit code and everything it printed (stdout, then stderr).

#![allow(dead_code)] // each test file uses its own share of these

use std::process::Command;

/// The binary, in the repository root.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dexthil"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// Run `dexthil ARGS`: its exit code (-1 when killed by a signal) and its stdout followed by its stderr.
pub fn dexthil(args: &[&str]) -> (i32, String) {
    let out = bin().args(args).output().expect("the dexthil binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// `dexthil ARGS` with stdout and stderr apart, for tests that say which of the two a line is on.
pub fn dexthil_split<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (i32, String, String) {
    let out = bin().args(args).output().expect("the dexthil binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `dexthil ARGS`, which must exit `code`: what it printed (stdout, then stderr). A wrong code fails the test
/// showing the command and all it printed.
#[track_caller]
pub fn exits(code: i32, args: &[&str]) -> String {
    let (got, out) = dexthil(args);
    assert_eq!(
        got,
        code,
        "`dexthil {}` exited {got}:\n{out}",
        args.join(" ")
    );
    out
}

/// [`exits`] with stdout and stderr apart.
#[track_caller]
pub fn exits_split<S: AsRef<std::ffi::OsStr>>(code: i32, args: &[S]) -> (String, String) {
    let (got, out, err) = dexthil_split(args);
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert_eq!(
        got,
        code,
        "`dexthil {}` exited {got}:\n{out}{err}",
        shown.join(" ")
    );
    (out, err)
}

/// A fresh, empty directory for one test's files, under the target dir and named by the test file too, so
/// test files running at once never share one.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(env!("CARGO_CRATE_NAME"))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// A path as the `&str` argument a command line takes.
pub fn arg(p: &std::path::Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Every event of a journal, in order (a journal that does not read fails the test naming it).
pub fn journal_events(journal: &std::path::Path) -> Vec<dexthil::report::EventKind> {
    dexthil::report::journal::read_journal(journal)
        .unwrap_or_else(|e| panic!("the journal {} does not read: {e}", journal.display()))
        .events
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// Start `dexthil ARGS` with its output discarded (a test that watches its journal instead).
pub fn spawn_quiet<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Child {
    bin()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the dexthil binary starts")
}

/// Wait for a child that must end on its own; past `limit` (generous: a guard against a hang, not a
/// timing check) it is killed and the test fails with `what`.
#[track_caller]
pub fn wait_or_kill(
    child: &mut std::process::Child,
    limit: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    let until = std::time::Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().expect("the child can be waited for") {
            return s;
        }
        if std::time::Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Poll until `ready` holds; past `limit` (a guard against a hang) the test fails saying `what()`.
#[track_caller]
pub fn wait_until(
    limit: std::time::Duration,
    mut ready: impl FnMut() -> bool,
    what: impl Fn() -> String,
) {
    let until = std::time::Instant::now() + limit;
    while !ready() {
        assert!(std::time::Instant::now() < until, "{}", what());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `dexthil run --journal JOURNAL ARGS`, which must exit `code`: what it printed.
#[track_caller]
pub fn run_journaled(code: i32, journal: &std::path::Path, args: &[&str]) -> String {
    let mut all = vec!["run", "--journal", arg(journal)];
    all.extend_from_slice(args);
    exits(code, &all)
}
