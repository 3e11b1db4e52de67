//! Issue 17 item 7 and issue 18 item 8: every reader of an attachment or a file a user writes is fuzzed
//! over mutations of its fixtures (truncations, byte flips, inserted bytes, duplicated and deleted lines,
//! deep nesting, long lines): ioreg text and plist, journal, entitlements (every form), the sysext
//! listing, logs, crash reports (.ips and .crash), attachment recognition, station and driver files. Each
//! must answer (a value or an error), never panic; a watchdog turns a hang into a failure.
//!
//! A short round runs in `cargo test`. The soak: `DEXTHIL_READER_FUZZ_SECS=600 cargo test --release
//! --test reader_fuzz` keeps mutating for that long (docs/attachments.md).

mod support;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Far above what a round takes (a second or two); only a hang reaches it.
const WATCHDOG: Duration = Duration::from_secs(600);
/// Mutations per fixture and round: a debug build (plain `cargo test`) is many times slower, so its
/// short round is short; the soak runs in release.
const CASES_PER_SEED: usize = if cfg!(debug_assertions) { 6 } else { 60 };

fn soak() -> Duration {
    std::env::var("DEXTHIL_READER_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::ZERO, Duration::from_secs)
}

/// xorshift64*: deterministic per seed, so a failing case is replayed by its printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const SPICE: &[&[u8]] = &[
    b"\n",
    b"\t",
    b"\"",
    b"{",
    b"}",
    b"(",
    b"<",
    b">",
    b"[Dict]\n",
    b"  +-o X  <class IOService, id 0x1, retain 1>\n",
    b"<array>",
    b"<dict>",
    b"\xff\xfe",
    b"\0",
    b"[",
    b"]",
    b" = ",
    b"Thread 0 Crashed:\n",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(8) {
            0 => b.truncate(at),
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            2 => {
                let s = SPICE[rng.below(SPICE.len())];
                b.splice(at..at, s.iter().copied());
            }
            3 => {
                // Duplicate a line.
                let text = b.clone();
                let lines: Vec<&[u8]> = text.split(|&c| c == b'\n').collect();
                let l = lines[rng.below(lines.len())];
                let mut with = l.to_vec();
                with.push(b'\n');
                b.splice(at..at, with);
            }
            4 => {
                // Delete a line.
                let start = b[..at]
                    .iter()
                    .rposition(|&c| c == b'\n')
                    .map_or(0, |i| i + 1);
                let end = b[at..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |i| at + i + 1);
                b.drain(start..end);
            }
            5 => {
                // Deep nesting of whatever opens a level in the readers.
                let open = [
                    &b"("[..],
                    b"{",
                    b"<array>",
                    b"<dict><key>k</key>",
                    b"\t[Array]\n",
                ][rng.below(5)];
                let n = 1 + rng.below(5000);
                let deep: Vec<u8> = open.iter().copied().cycle().take(open.len() * n).collect();
                b.splice(at..at, deep);
            }
            6 => {
                // A very long line.
                let n = rng.below(50_000);
                b.splice(at..at, std::iter::repeat_n(b'x', n));
            }
            _ => {
                // Shift a line's indentation (breaks the ioreg grid and codesign's tabs).
                let start = b[..at]
                    .iter()
                    .rposition(|&c| c == b'\n')
                    .map_or(0, |i| i + 1);
                b.splice(start..start, [b' '; 3]);
            }
        }
    }
    b
}

fn fixtures(dir: &str, out: &mut Vec<PathBuf>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut w = dexthil::input::walk(&root, &|_| true).files;
    w.retain(|p| p.extension().is_none_or(|e| e != "py" && e != "md"));
    out.extend(w);
}

/// Every reader, on bytes as a user might hand them over. Their answer is ignored: only a panic or a
/// hang is a failure.
fn every_reader(bytes: &[u8], scratch: &Path) {
    use dexthil::doctor::{attachments, entitlements, logs, sysext};
    let p = Path::new("fuzz");
    let _ = dexthil::backends::replay::parse_dump(p, bytes);
    let _ = entitlements::parse(p, bytes);
    let _ = attachments::recognise(p, bytes);
    let text = String::from_utf8_lossy(bytes);
    let _ = sysext::parse(p, &text);
    let _ = logs::scan("fuzz", &text);
    let _ = dexthil::logs::crash::parse_any(p, &text);
    let _ = dexthil::doctor::matching::parse(p, bytes);
    // File readers: the journal, station and driver files.
    std::fs::write(scratch, bytes).unwrap();
    let _ = dexthil::report::journal::read_journal(scratch);
    let _ = dexthil::backends::replay::load_usb_json(scratch);
    let _ = dexthil::station::load_station(scratch);
    let _ = dexthil::scenario::load_driver(scratch);
}

fn seed_journal(dir: &Path) -> PathBuf {
    let j = dir.join("seed.jsonl");
    let (code, out) = support::dexthil(&[
        "run",
        "scenarios/smoke/cx-02.yaml",
        "--journal",
        j.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    j
}

#[test]
fn no_reader_panics_or_hangs_on_mutated_attachments() {
    let dir = std::env::temp_dir().join(format!("dexthil-reader-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut seeds = Vec::new();
    for d in [
        "tests/fixtures/ioreg",
        "tests/fixtures/attachments",
        "tests/fixtures/logs",
        "tests/fixtures/doctor",
        "tests/fixtures/recordings",
        "ci/labs",
        "scenarios/drivers",
    ] {
        fixtures(d, &mut seeds);
    }
    seeds.push(seed_journal(&dir));
    let seeds: Vec<(PathBuf, Vec<u8>)> = seeds
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    assert!(seeds.len() > 30, "the fixtures are there: {}", seeds.len());

    let (done_tx, done_rx) = mpsc::channel();
    let scratch = dir.join("case.bin");
    let worker = std::thread::spawn(move || {
        let until = Instant::now() + soak();
        let mut round = 0u64;
        loop {
            for (i, (path, bytes)) in seeds.iter().enumerate() {
                let seed = 0x9E37_79B9_7F4A_7C15u64 ^ (round << 32) ^ i as u64;
                let mut rng = Rng(seed | 1);
                every_reader(bytes, &scratch);
                for _ in 0..CASES_PER_SEED {
                    let case = mutate(&mut rng, bytes);

                    let r = std::panic::catch_unwind(|| every_reader(&case, &scratch));
                    if r.is_err() {
                        let keep = scratch.with_extension("panic");
                        std::fs::write(&keep, &case).unwrap();
                        panic!(
                            "a reader panicked on a mutation of {} (seed {seed:#x}); the input is in {}",
                            path.display(),
                            keep.display()
                        );
                    }
                }
            }
            round += 1;
            if Instant::now() >= until {
                break;
            }
        }
        if round > 1 {
            eprintln!("reader fuzz: {round} rounds");
        }
        done_tx.send(()).ok();
    });
    match done_rx.recv_timeout(WATCHDOG + soak()) {
        Ok(()) => worker.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The worker panicked: surface its message.
            worker.join().unwrap();
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("a reader hung: the watchdog ran out"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
