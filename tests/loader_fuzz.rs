//! Scenario and driver files are untrusted: whatever bytes they hold, loading answers with a scenario or
//! with located errors, never a panic and never a hang. proptest feeds arbitrary bytes and mutations of
//! every valid file under `scenarios/` (byte flips, truncations, duplicated and deleted lines, inserted
//! tabs and keys). A watchdog bounds the whole run so a hang fails the test instead of stalling CI.

use dexthil::scenario::{load_corpus, load_driver};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// Far above what the cases take (well under a second each, a few hundred cases); only a hang reaches it.
const WATCHDOG: Duration = Duration::from_secs(600);

/// `DEXTHIL_LOADER_FUZZ_SECS=600 cargo test --release --test loader_fuzz` keeps fuzzing, round after round
/// of fresh random cases, for that long (the soak the issue asks for); unset, one round each.
fn soak() -> Duration {
    std::env::var("DEXTHIL_LOADER_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::ZERO, Duration::from_secs)
}

/// Run `round` once, then again until the soak time has passed.
fn rounds(mut round: impl FnMut()) {
    let until = std::time::Instant::now() + soak();
    let mut n = 0u64;
    loop {
        round();
        n += 1;
        if std::time::Instant::now() >= until {
            break;
        }
    }
    if n > 1 {
        eprintln!("loader fuzz: {n} rounds");
    }
}

fn valid_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read scenarios/")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            valid_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(p);
        }
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    FlipByte { at: usize, bits: u8 },
    Truncate { at: usize },
    DuplicateLine { line: usize },
    DeleteLine { line: usize },
    InsertTab { at: usize },
    InsertKey { line: usize, indent: usize },
    InsertByte { at: usize, byte: u8 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, bits)| Mutation::FlipByte { at, bits }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        any::<usize>().prop_map(|line| Mutation::DeleteLine { line }),
        any::<usize>().prop_map(|at| Mutation::InsertTab { at }),
        (any::<usize>(), 0usize..8).prop_map(|(line, indent)| Mutation::InsertKey { line, indent }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::InsertByte { at, byte }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    let mut lines: Vec<Vec<u8>> = bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    let nlines = lines.len();
    match *m {
        Mutation::FlipByte { at, bits } if !bytes.is_empty() => bytes[at % len] ^= bits,
        Mutation::Truncate { at } => bytes.truncate(at % len),
        Mutation::DuplicateLine { line } => {
            let l = lines[line % nlines].clone();
            lines.insert(line % nlines, l);
            *bytes = lines.join(&b'\n');
        }
        Mutation::DeleteLine { line } => {
            lines.remove(line % nlines);
            *bytes = lines.join(&b'\n');
        }
        Mutation::InsertTab { at } => bytes.insert(at % len.min(bytes.len() + 1), b'\t'),
        Mutation::InsertKey { line, indent } => {
            let mut key = vec![b' '; indent];
            key.extend_from_slice(b"bogus: 1");
            lines.insert(line % nlines, key);
            *bytes = lines.join(&b'\n');
        }
        Mutation::InsertByte { at, byte } => bytes.insert(at % len.min(bytes.len() + 1), byte),
        Mutation::FlipByte { .. } => {}
    }
}

/// A scratch copy of `scenarios/drivers/` with one scenario slot beside it, so a mutated scenario's
/// `../drivers/...` resolves inside the corpus root, as the original's does.
struct Scratch {
    corpus: PathBuf,
    slot: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let corpus = std::env::temp_dir().join(format!(
            "dexthil-fuzz-{tag}-{}/scenarios",
            std::process::id()
        ));
        let drivers = corpus.join("drivers");
        std::fs::create_dir_all(&drivers).expect("scratch drivers");
        std::fs::create_dir_all(corpus.join("case")).expect("scratch slot");
        for d in std::fs::read_dir("scenarios/drivers").expect("drivers") {
            let d = d.expect("entry").path();
            std::fs::copy(&d, drivers.join(d.file_name().expect("name"))).expect("copy driver");
        }
        Scratch {
            slot: corpus.join("case/case.yaml"),
            corpus,
        }
    }

    /// Load `bytes` as a scenario (through the corpus, like `dexthil run`) and as a driver file.
    fn load(&self, bytes: &[u8]) -> Result<(), TestCaseError> {
        std::fs::write(&self.slot, bytes).expect("write case");
        let as_scenario =
            std::panic::catch_unwind(|| load_corpus(std::slice::from_ref(&self.corpus)));
        let as_driver = std::panic::catch_unwind(|| load_driver(&self.slot));
        prop_assert!(as_scenario.is_ok(), "loading as a scenario panicked");
        prop_assert!(as_driver.is_ok(), "loading as a driver panicked");
        for errors in [as_scenario.unwrap().err(), as_driver.unwrap().err()]
            .into_iter()
            .flatten()
        {
            for e in errors.0 {
                let whole_file = e.message.starts_with("the file is larger than");
                prop_assert!(
                    whole_file || e.span.line >= 1,
                    "an error without a line: {e}"
                );
                prop_assert!(!e.message.is_empty(), "an empty message at {}", e.span);
            }
        }
        Ok(())
    }
}

/// Run `body` on its own thread and fail if it does not finish within [`WATCHDOG`].
fn bounded(body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(WATCHDOG + soak()) {
        Ok(()) => worker.join().expect("fuzz thread"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().expect_err("the fuzz thread panicked"))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the fuzz run hung: not done in {WATCHDOG:?}")
        }
    }
}

#[test]
fn arbitrary_bytes_never_panic_or_hang() {
    bounded(|| {
        let scratch = Scratch::new("bytes");
        rounds(|| {
            let mut runner = TestRunner::new(Config {
                cases: 256,
                failure_persistence: None,
                ..Config::default()
            });
            runner
                .run(&proptest::collection::vec(any::<u8>(), 0..2048), |bytes| {
                    scratch.load(&bytes)
                })
                .unwrap_or_else(|e| panic!("{e}"));
        });
    });
}

#[test]
fn mutations_of_every_shipped_file_never_panic_or_hang() {
    bounded(|| {
        let mut files = Vec::new();
        valid_files(Path::new("scenarios"), &mut files);
        assert!(files.len() > 20, "the shipped corpus was not found");
        let originals: Vec<Vec<u8>> = files
            .iter()
            .map(|f| std::fs::read(f).expect("read"))
            .collect();
        let scratch = Scratch::new("mutations");
        let strategy = (
            0..originals.len(),
            proptest::collection::vec(mutation(), 1..4),
        );
        rounds(|| {
            let mut runner = TestRunner::new(Config {
                cases: 512,
                failure_persistence: None,
                ..Config::default()
            });
            runner
                .run(&strategy, |(i, mutations)| {
                    let mut bytes = originals[i].clone();
                    for m in &mutations {
                        apply(&mut bytes, m);
                    }
                    scratch.load(&bytes)
                })
                .unwrap_or_else(|e| panic!("{e}"));
        });
    });
}

#[test]
fn an_alias_bomb_is_refused_with_a_clear_error() {
    let scratch = Scratch::new("bomb");
    let mut text =
        String::from("driver: ../drivers/dnp-printer.yaml\nsim:\n  host_entitlements:\n");
    text.push_str("    a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("    a{i}: &a{i} [{refs}]\n"));
    }
    text.push_str("steps:\n  - sleep: 1ms\n");
    std::fs::write(&scratch.slot, &text).expect("write bomb");
    let errors = load_corpus(std::slice::from_ref(&scratch.corpus)).expect_err("the bomb loaded");
    let shown = errors.to_string();
    assert!(shown.contains("is it an alias bomb?"), "{shown}");
    assert!(shown.contains("case.yaml:"), "{shown}");
}
