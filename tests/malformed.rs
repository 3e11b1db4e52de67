//! Every kind of mistake a person makes in a scenario or driver file (`tests/malformed/*.yaml`, driver
//! files under `tests/malformed/drivers/`) is refused with the message kept beside it in `x.expected`,
//! compared exactly. `DEXTHIL_BLESS=1 cargo test --test malformed` rewrites the `.expected` files after
//! a deliberate wording change; review the diff before committing it.
//! Odd but valid files (`tests/oddities/`: CRLF, a BOM, flow style, ...) must load.

use dexthil::scenario::{LoadErrors, load_driver, load_scenario};
use std::path::{Path, PathBuf};

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    out.sort();
    out
}

/// Paths as the tests name them (`tests/malformed/x.yaml`), so the messages are the ones a user who
/// runs dexthil from the repository sees.
fn malformed() -> Vec<(PathBuf, bool)> {
    let scenarios = yaml_files("tests/malformed")
        .into_iter()
        .map(|p| (p, false));
    let drivers = yaml_files("tests/malformed/drivers")
        .into_iter()
        .map(|p| (p, true));
    scenarios.chain(drivers).collect()
}

fn errors_of(path: &Path, is_driver: bool) -> LoadErrors {
    let result = if is_driver {
        load_driver(path).map(|d| d.name)
    } else {
        load_scenario(path).map(|s| s.name)
    };
    match result {
        Ok(name) => panic!("{} loaded (as `{name}`) but is malformed", path.display()),
        Err(e) => e,
    }
}

#[test]
fn there_are_at_least_sixty_malformed_files() {
    assert!(malformed().len() >= 60, "only {}", malformed().len());
}

#[test]
fn each_malformed_file_is_refused_with_the_message_kept_beside_it() {
    let bless = std::env::var_os("DEXTHIL_BLESS").is_some();
    let mut wrong = Vec::new();
    for (path, is_driver) in malformed() {
        let got = format!("{}\n", errors_of(&path, is_driver));
        let expected_path = path.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &got).expect("write .expected");
            continue;
        }
        let want = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != want {
            wrong.push(format!(
                "{}:\n--- expected\n{want}--- got\n{got}",
                path.display()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} message(s) differ (DEXTHIL_BLESS=1 rewrites them):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_message_names_its_file_line_and_column() {
    for (path, is_driver) in malformed() {
        for e in errors_of(&path, is_driver).0 {
            let shown = e.to_string();
            assert!(
                e.span.line >= 1 && e.span.column >= 1,
                "no line and column: {shown}"
            );
            let prefix = format!("{}:{}:{}: ", path.display(), e.span.line, e.span.column);
            // A scenario's message may point into the driver file it names; a driver's never elsewhere.
            assert!(
                shown.starts_with(&prefix) || (!is_driver && shown.starts_with("tests/")),
                "{shown}"
            );
        }
    }
}

/// The one error about the file as a whole: its size (refused before it is parsed, so there is no
/// line to name). It reads `file:0:0: ...`.
#[test]
fn a_file_over_one_mebibyte_is_refused_before_parsing() {
    let dir = std::env::temp_dir().join(format!("dexthil-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("huge.yaml");
    let mut text = String::from("driver: x.yaml\nsteps:\n");
    while text.len() <= 1024 * 1024 {
        text.push_str("  - sleep: 1ms\n");
    }
    std::fs::write(&path, &text).expect("write");
    let errors = load_scenario(&path).expect_err("too large");
    let shown = errors.to_string();
    assert_eq!(errors.0.len(), 1, "{shown}");
    assert!(shown.ends_with("the file is larger than 1024 KiB: scenario and driver files are small; is this the right file?"), "{shown}");
    assert!(
        shown.starts_with(&format!("{}:0:0: ", path.display())),
        "{shown}"
    );
}

#[test]
fn odd_but_valid_files_load() {
    let files = yaml_files("tests/oddities");
    assert!(files.len() >= 5);
    for path in files {
        let s = load_scenario(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            s.steps.len(),
            if path.ends_with("anchors-reused.yaml") {
                4
            } else {
                3
            },
            "{}",
            path.display()
        );
    }
}
