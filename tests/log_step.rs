//! The `log` step: a marker line between steps, in the journal and the verbose console; a bad one is a
//! located load error.

mod support;
use support::dexthil;

use dexthil::report::journal::read_journal;
use dexthil::report::{EventKind, StepOutcome};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dexthil-log-step-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const DRIVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/scenarios/drivers/apple-sample.yaml"
);

#[test]
fn a_log_step_puts_its_marker_in_the_journal_between_the_steps_around_it() {
    let dir = scratch("ok");
    let scenario = dir.join("marked.yaml");
    std::fs::write(
        &scenario,
        format!(
            "name: marked\ndriver: {DRIVER}\nsteps:\n  - await: {{ state: matched }}\n  - log: \"before the open\"\n  - open: {{ as: uc }}\n  - close: uc\n"
        ),
    )
    .unwrap();
    let journal = dir.join("j.jsonl");
    let (code, text) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "--journal",
        journal.to_str().unwrap(),
        scenario.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{text}");
    let finished: Vec<(String, String)> = read_journal(&journal)
        .unwrap()
        .events
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::StepFinished {
                step,
                outcome: StepOutcome::Passed { detail },
                ..
            } => Some((step.to_string(), detail)),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 4, "{finished:?}");
    assert_eq!(
        finished[1],
        ("2".to_string(), "before the open".to_string())
    );
}

#[test]
fn an_empty_or_multi_line_marker_is_a_located_error() {
    let dir = scratch("bad");
    let scenario = dir.join("bad.yaml");
    std::fs::write(
        &scenario,
        format!("name: bad-marker\ndriver: {DRIVER}\nsteps:\n  - log: \"\"\n"),
    )
    .unwrap();
    let (code, text) = dexthil(&["run", "--lab", "sim", scenario.to_str().unwrap()]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("bad.yaml:4:") && text.contains("a `log` marker is one line of text"),
        "{text}"
    );
}
