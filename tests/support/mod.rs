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
