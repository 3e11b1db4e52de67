//! `dexthil selftest` as a user meets it: the verdict table, the folder for a bug report, and the exit code
//! (0 every assumption holds, 1 one is broken, 2 nothing to check or bad input). The machine's own probe
//! needs a Mac; the scripted probe answers as the darwin double assumes a Mac does.

mod support;
use std::path::PathBuf;
use support::dexthil;

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dexthil-selftest-cli-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
#[cfg(not(any(target_os = "macos", feature = "darwin-double")))]
fn off_a_mac_it_says_it_needs_one_and_exits_2() {
    let dir = out_dir("offmac");
    let (code, out) = dexthil(&["selftest", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("checks the Mac it runs on"), "{out}");
    assert!(!dir.exists(), "nothing was checked, so no folder");
}

#[test]
fn every_assumption_holding_prints_the_table_writes_the_folder_and_exits_0() {
    let dir = out_dir("holds");
    let (code, out) = dexthil(&["selftest", "--scripted", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    for id in [
        "class-names",
        "pairing",
        "port-numbers",
        "strings-with-dext",
        "async-completion",
        "call-time",
        "log-stream",
        "crash-folders",
    ] {
        assert!(out.contains(id), "{id} missing from\n{out}");
    }
    assert!(
        out.contains("observed: libusb (empty) vs locationID 0x01130000 → 1.3"),
        "{out}"
    );
    assert!(out.contains("8 hold, 0 broken, 0 not checked"), "{out}");
    assert!(out.contains(&format!("wrote {}", dir.display())), "{out}");
    let table = std::fs::read_to_string(dir.join("verdicts.txt")).expect("verdicts.txt written");
    assert!(out.starts_with(&table), "the folder holds what was printed");
    let json = std::fs::read_to_string(dir.join("verdicts.json")).expect("verdicts.json written");
    assert!(json.contains("\"libusb\""), "{json}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_broken_assumption_is_marked_and_exits_1() {
    let dir = out_dir("broken");
    let (code, out) = dexthil(&[
        "selftest",
        "--scripted",
        "--scripted-fault",
        "class-names",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    let block: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("class-names"))
        .take(3)
        .collect();
    assert!(block[1].contains("device IOUSBHostDevice"), "{out}");
    assert!(block[2].contains("→ BROKEN"), "{out}");
    assert!(out.contains("7 hold, 1 broken"), "{out}");
    assert!(
        dir.join("verdicts.txt").exists(),
        "a failing self-test still leaves its folder"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unknown_fault_is_bad_input() {
    let (code, out) = dexthil(&["selftest", "--scripted", "--scripted-fault", "gremlins"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("`gremlins` is not a scripted fault"), "{out}");
    assert!(out.contains("class-names"), "{out}");
}
