//! `cargo bench --bench engine [-- --lab sim|macos] [--quick]`: every engine figure of BENCHMARKS.md in one
//! run, each printed with what it compares and its goal. A plain `main` (no bench framework): each figure is
//! a median or a percentile over many repetitions. The last line is the call-path figure:
//! `engine: added X µs per call step (bare), Y µs (as dexthil run ships)`, in process CPU time, the median
//! over rounds of each round's difference from the direct call (the machine is shared: see BENCHMARKS.md).
//!
//! Figures: (1) the engine's added cost per `call` step against a direct `UserClients::call` on the same
//! lab, bare and with the sinks `dexthil run` ships (a tally and the journal); (3) how soon a registry wait returns after the sim fires a match or termination; (4) loading and
//! `dexthil list` of 1,000 generated scenarios; (5) four printers' scenarios with `--jobs 4` against one
//! printer's; (6) startup: spawning `dexthil run` to its journal's first line. (2, the fuzz loop, is the
//! fuzzer's own bench: `benches/fuzz.rs`.) With `--lab macos` (or
//! `DEXTHIL_BENCH_LAB=macos`) the call path runs against the real dext (Apple's sample, `CheckedScalar`)
//! and the other figures, which need the sim's timed events, are skipped.
//!
//! Scratch files go to `bench-scratch/` beside the bench executable (the target directory, on disk, so the
//! journal's fsyncs are real ones), removed at the end.

use dexthil::backends::{self, LabChoice, LabFactory, LabSpec};
use dexthil::engine::run_scenario;
use dexthil::lab::{CallArgs, Lab, Matching, Prop, RegEntry, WaitFor};
use dexthil::report::journal::{Durability, Journal};
use dexthil::report::tally::Tally;
use dexthil::report::{Console, Detail, EventSink, Fanout, FirstFailedStep, RunEvent, Verdict};
use dexthil::scenario::{Scenario, StepKind, load_corpus, load_scenario};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DRIVERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/drivers");
const DEXTHIL: &str = env!("CARGO_BIN_EXE_dexthil");

struct Options {
    lab: LabChoice,
    quick: bool,
    /// `--only call|waits|loading|parallel`: one figure (for profiling).
    only: Option<String>,
}

impl Options {
    fn runs(&self, figure: &str) -> bool {
        self.only.as_deref().is_none_or(|o| o == figure)
    }
}

fn options() -> Options {
    let mut lab = std::env::var("DEXTHIL_BENCH_LAB").ok();
    let mut quick = false;
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--lab" => lab = args.next(),
            "--quick" => quick = true,
            "--only" => only = args.next(),
            // `cargo bench` passes `--bench`; libtest's other flags mean nothing here.
            _ => {}
        }
    }
    let lab = match lab.as_deref().map(LabChoice::parse) {
        None => LabChoice::Sim,
        Some(Ok(l)) => l,
        Some(Err(e)) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    Options { lab, quick, only }
}

fn scratch() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench knows where it is");
    // target/release/deps/engine-<hash> → target/release/bench-scratch
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .join("bench-scratch");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Write a scenario into `dir`, which gets its own copy of the driver files (`drivers/`): a driver file
/// must lie under the scenario's directory.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("drivers")).expect("scenario dir");
    for d in ["apple-sample.yaml", "dnp-printer.yaml"] {
        let to = dir.join("drivers").join(d);
        if !to.exists() {
            std::fs::copy(Path::new(DRIVERS).join(d), to).expect("driver");
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write scenario");
    path
}

fn load(path: &Path) -> Scenario {
    load_scenario(path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}

fn report(figure: &str, value: String, compares: &str, goal: &str, met: Option<bool>) {
    let verdict = match met {
        Some(true) => "MEETS",
        Some(false) => "MISSES",
        None => "info",
    };
    println!("{figure:<44} {value:>16}   [{verdict}] goal: {goal}");
    println!("{:<44} {:>16}   {compares}", "", "");
}

fn micros(d: Duration) -> String {
    format!("{:.3} µs", d.as_secs_f64() * 1e6)
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The sinks `dexthil run` gives a scenario, in the same nesting (src/runner/nightly.rs builds the run's
/// fan-out of console, tally and journal; src/runner/trial.rs adds the attempt's first-failed-step sink):
/// the console writes its scenario lines to nowhere here, which is what `dexthil run > /dev/null` does.
fn shipped(journal: Journal) -> Arc<dyn EventSink> {
    let run: Arc<dyn EventSink> = Arc::new(Fanout(vec![
        Arc::new(Console::with_detail(std::io::sink(), Detail::Steps)),
        Arc::new(Tally::new()),
        Arc::new(journal),
    ]));
    Arc::new(Fanout(vec![run, Arc::new(FirstFailedStep::new())]))
}

/// Throws events away: the engine's own cost, without any sink's.
struct NullSink;
impl EventSink for NullSink {
    fn event(&self, _: &RunEvent) {}
}

// ---------------------------------------------------------------------------------------------------------
// 1. The call path

const CALL: &str = "      - call: { on: uc, selector: CheckedScalar, scalars: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16] }\n";

fn calls_scenario(dir: &Path, times: u32) -> Scenario {
    let text = format!(
        "name: bench-calls-{times}\ndriver: drivers/apple-sample.yaml\ndeadline: 60m\nsteps:\n  - open: {{ as: uc }}\n  - repeat:\n      times: {times}\n      steps:\n{CALL}  - close: uc\n"
    );
    load(&write(
        &dir.join("calls"),
        &format!("calls-{times}.yaml"),
        &text,
    ))
}

fn call_args(s: &Scenario) -> CallArgs {
    let StepKind::Repeat { steps, .. } = &s.steps[1].kind else {
        unreachable!("the bench's scenario repeats a call")
    };
    let StepKind::Call { args, .. } = &steps[0].kind else {
        unreachable!("the bench's scenario repeats a call")
    };
    args.clone()
}

/// Mean time of one direct `UserClients::call` on an open connection of the dext's resource service.
fn direct_call(lab: &Arc<dyn Lab>, s: &Scenario, n: u32) -> Duration {
    let m = Matching {
        name: Some(s.driver.user_class.clone()),
        ..Matching::default()
    };
    let entry: RegEntry = lab
        .wait(
            &m,
            WaitFor::Matched,
            Instant::now() + Duration::from_secs(10),
        )
        .expect("the dext's service")
        .expect("matched");
    let open = lab
        .open(&dexthil::lab::OpenRequest {
            entry: entry.id,
            open_type: 0,
        })
        .expect("open");
    let id = open.connection.expect("a connection");
    let args = call_args(s);
    let t = Instant::now();
    for _ in 0..n {
        let out = lab.call(id, &args).expect("call");
        assert!(out.code.is_success(), "{}", out.code);
    }
    let took = t.elapsed();
    let _ = lab.close(id);
    took / n
}

/// Mean time of one `call` step through the engine (events, deadline, the step's checks).
fn engine_call(lab: Arc<dyn Lab>, s: &Scenario, n: u32, sink: Arc<dyn EventSink>) -> Duration {
    let t = Instant::now();
    let v = run_scenario(s, lab, sink, Instant::now());
    let took = t.elapsed();
    assert_eq!(v, Verdict::Passed, "the bench's call scenario failed");
    took / n
}

/// CPU time of the whole process, every thread (see `call_path`).
fn cpu_now() -> Duration {
    // SAFETY: clock_gettime fills the timespec it is given; the clock id is a constant.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `f`'s answer, and the CPU time it took divided by `n`.
fn cpu_per<T>(n: u32, f: impl FnOnce() -> T) -> (T, Duration) {
    let c = cpu_now();
    let r = f();
    (r, cpu_now().saturating_sub(c) / n)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Returns what the engine adds per call step in CPU time (µs), bare and as shipped.
fn call_path(o: &Options, dir: &Path) -> (f64, f64) {
    let factory: Arc<dyn LabFactory> = match backends::factory(&o.lab) {
        Ok(f) => Arc::from(f),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let n = if o.quick { 2_000 } else { 20_000 };
    let s = calls_scenario(dir, n);
    let spec = LabSpec::of(&s);
    let lab = || factory.lab_for(&spec).expect("a lab for the call scenario");
    let rounds = if o.quick { 9 } else { 15 };
    let mut direct = Vec::new();
    let mut bare = Vec::new();
    let mut batched = Vec::new();
    // CPU time per step of each run, paired by round: on a machine shared with other builds, wall time
    // mostly measures who else had the cores.
    let mut cpu: Vec<(Duration, Duration, Duration)> = Vec::new();
    for round in 0..rounds {
        let (d, cd) = cpu_per(n, || direct_call(&lab(), &s, n));
        direct.push(d);
        let (b, cb) = cpu_per(n, || engine_call(lab(), &s, n, Arc::new(NullSink)));
        bare.push(b);
        // As `dexthil run` ships: the journal with its default durability (every line written at once,
        // synced at each verdict and at most every 100 ms).
        let journal =
            Journal::create(&dir.join(format!("journal-{round}.jsonl"))).expect("journal");
        let sink = shipped(journal);
        let (j, cj) = cpu_per(n, || engine_call(lab(), &s, n, sink.clone()));
        batched.push(j);
        cpu.push((cd, cb, cj));
    }
    let paired = |f: &dyn Fn(&(Duration, Duration, Duration)) -> f64| {
        let mut v: Vec<f64> = cpu.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let cpu_bare = paired(&|(d, b, _)| us(*b) - us(*d));
    let cpu_shipped = paired(&|(d, _, j)| us(*j) - us(*d));
    // Every event synced before the next: a few hundred calls are enough to see what a sync costs.
    let n_sync = if o.quick { 50 } else { 300 };
    let s_sync = calls_scenario(dir, n_sync);
    let journal = Journal::create_with(&dir.join("journal-every.jsonl"), Durability::EveryEvent)
        .expect("journal");
    let sink = shipped(journal);
    let every = engine_call(
        factory.lab_for(&LabSpec::of(&s_sync)).expect("lab"),
        &s_sync,
        n_sync,
        sink,
    );
    let (direct, bare, batched) = (median(direct), median(bare), median(batched));
    let added = |d: Duration| d.saturating_sub(direct);
    println!(
        "\n1. call path ({n} CheckedScalar calls, {} lab, median of {rounds} runs)",
        factory.name()
    );
    report(
        "direct UserClients::call",
        micros(direct),
        "one call on the lab, no engine",
        "(the baseline)",
        None,
    );
    report(
        "engine call step, no sink",
        micros(bare),
        "run_scenario: deadline armed, step checks, events built and dropped",
        "(engine alone)",
        None,
    );
    report(
        "  added by the engine",
        micros(added(bare)),
        "engine call step, no sink − direct call",
        "≤ 1 µs",
        Some(added(bare) <= Duration::from_micros(1)),
    );
    report(
        "engine call step, as dexthil run ships",
        micros(batched),
        "console, tally, journal (written at once, synced at verdicts / 100 ms), first-failure sink",
        "",
        None,
    );
    report(
        "  added by engine + sinks",
        micros(added(batched)),
        "engine with the shipped sinks − direct call (wall time)",
        "≤ 5 µs",
        Some(added(batched) <= Duration::from_micros(5)),
    );
    report(
        "engine call step, journal synced per event",
        micros(every),
        &format!("--durability case (fsync per event), {n_sync} calls"),
        "(what a sync costs)",
        None,
    );
    if o.lab == LabChoice::Macos {
        let ratio = added(batched).as_secs_f64() / direct.as_secs_f64();
        report(
            "engine added / IOConnectCallMethod",
            format!("{:.1} %", ratio * 100.0),
            "engine + sinks added cost over one real CheckedScalar round trip",
            "small next to the round trip",
            None,
        );
    }
    report(
        "  CPU time added by the engine, by engine + sinks",
        format!("{cpu_bare:.2} / {cpu_shipped:.2} µs"),
        "process CPU time per step minus the direct call's, median of per-round differences",
        "≤ 1 / ≤ 5 µs",
        Some(cpu_bare <= 1.0 && cpu_shipped <= 5.0),
    );
    (cpu_bare, cpu_shipped)
}

// ---------------------------------------------------------------------------------------------------------
// 3. Waits

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn waits(o: &Options, dir: &Path) {
    let events = if o.quick { 1_000 } else { 10_000 };
    let off = Duration::from_millis(1);
    let match_delay = Duration::from_millis(1);
    let text = "name: bench-waits\ndriver: drivers/dnp-printer.yaml\nprinters:\n  p: { model: DS620 }\nsim:\n  timing: { replug_off: 1ms, match_delay: 1ms }\nsteps:\n  - await: { printer: p, state: matched }\n";
    let s = load(&write(&dir.join("waits"), "waits.yaml", text));
    let sim = Arc::new(dexthil::backends::sim::SimLab::for_scenario(&s).expect("sim lab"));
    let lab: Arc<dyn Lab> = sim.clone();
    let role = s.printers[0].clone();
    let user_class = s.driver.user_class.clone();
    // A waiter thread that waits for a service to be gone when asked, and says when its wait returned.
    let (ask, asked) = mpsc::channel::<Option<u64>>();
    let (answer, answered) = mpsc::channel::<Instant>();
    let waiter_lab = lab.clone();
    let waiter = std::thread::spawn(move || {
        while let Ok(Some(id)) = asked.recv() {
            let m = Matching {
                id: Some(id),
                ..Matching::default()
            };
            let r = waiter_lab.wait(&m, WaitFor::Gone, Instant::now() + Duration::from_secs(10));
            assert_eq!(r, Ok(None), "the service did not go");
            let _ = answer.send(Instant::now());
        }
    });
    let mut gone = Vec::new();
    let mut matched = Vec::new();
    // How late the timer applied the match after its due time (not part of the goal; shown beside it).
    let mut late = Vec::new();
    let far = || Instant::now() + Duration::from_secs(10);
    while gone.len() + matched.len() < events {
        let view = lab
            .wait_usb(&|v| role.matches(v), true, far())
            .expect("the printer")
            .expect("present");
        let service = sim.service_entry(Some(&view)).expect("its service");
        ask.send(Some(service.id)).expect("waiter");
        // Let the waiter reach its condvar wait, so the figure is a wake-up, not a first look.
        std::thread::sleep(Duration::from_micros(300));
        let fired = Instant::now();
        lab.replug(&view).expect("replug");
        gone.push(answered.recv().expect("waiter").duration_since(fired));
        // The match is due `replug_off + match_delay` after the replug, at the earliest.
        let due = fired + off + match_delay;
        let back = lab
            .wait_usb(&|v| role.matches(v), true, far())
            .expect("back")
            .expect("present");
        let device = dexthil::engine::service::device_entry(&*lab, &back, far()).expect("device");
        let interface =
            dexthil::engine::service::interface_entry(&*lab, &device, 0, far()).expect("interface");
        let m = Matching {
            parent: Some(interface.id),
            properties: [("IOUserClass".to_string(), Prop::Str(user_class.clone()))].into(),
            ..Matching::default()
        };
        lab.wait(&m, WaitFor::Matched, far())
            .expect("match")
            .expect("matched");
        let returned = Instant::now();
        // The timer thread applied the match (its last timed event) at `last_timed_event`.
        let fired = sim.last_timed_event().unwrap_or(due);
        matched.push(returned.saturating_duration_since(fired));
        late.push(fired.saturating_duration_since(due));
    }
    let _ = ask.send(None);
    let _ = waiter.join();
    let mut all: Vec<Duration> = gone.iter().chain(&matched).copied().collect();
    all.sort();
    gone.sort();
    matched.sort();
    println!(
        "\n3. waits ({} events: {} terminations, {} matches; sim timing replug_off 1ms, match_delay 1ms)",
        all.len(),
        gone.len(),
        matched.len()
    );
    let row = |what: &str, v: &[Duration], compares: &str| {
        let (p50, p99) = (percentile(v, 0.5), percentile(v, 0.99));
        report(
            &format!("{what} p50 / p99"),
            format!("{} / {}", micros(p50), micros(p99)),
            compares,
            "p99 ≤ 1 ms",
            Some(p99 <= Duration::from_millis(1)),
        );
    };
    row(
        "termination → Registry::wait returns",
        &gone,
        "from calling replug (the service terminates) to a waiting thread's wait returning",
    );
    row(
        "match → Registry::wait returns",
        &matched,
        "from the timer thread applying the match to the wait returning",
    );
    late.sort();
    report(
        "  timer lateness p50 / p99",
        format!(
            "{} / {}",
            micros(percentile(&late, 0.5)),
            micros(percentile(&late, 0.99))
        ),
        "match applied − earliest due time (replug + replug_off + match_delay; two timed events)",
        "(shown, not a goal)",
        None,
    );
    row("all events", &all, "both kinds together");
}

// ---------------------------------------------------------------------------------------------------------
// 4. Loading

fn generated_corpus(dir: &Path, n: usize) -> PathBuf {
    let gen_dir = dir.join("corpus");
    let models = ["DS620", "DS820", "QW410", "DS-RX1", "CX-02"];
    for i in 0..n {
        let model = models[i % models.len()];
        let text = format!(
            "name: gen-{i:04}\nabout: Generated scenario {i} for the loading bench.\ntags: [bench, gen{}]\ndriver: drivers/dnp-printer.yaml\nprinters:\n  p: {{ model: {model} }}\nsteps:\n  - await: {{ printer: p, state: matched, within: 5s }}\n  - cross_check: p\n  - open: {{ printer: p, as: uc }}\n  - call: {{ on: uc, selector: GetStatus, expect: {{ scalars: [0] }} }}\n  - repeat:\n      times: 3\n      steps:\n        - call: {{ on: uc, selector: GetFirmwareVersion }}\n  - close: uc\n",
            i % 7
        );
        write(&gen_dir, &format!("gen-{i:04}.yaml"), &text);
    }
    gen_dir
}

fn loading(o: &Options, dir: &Path) {
    let n = 1_000;
    let corpus = generated_corpus(dir, n);
    let rounds = if o.quick { 1 } else { 3 };
    let mut lib = Vec::new();
    let mut cli = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let loaded =
            load_corpus(std::slice::from_ref(&corpus)).expect("the generated corpus loads");
        lib.push(t.elapsed());
        assert_eq!(loaded.len(), n);
        let t = Instant::now();
        let out = Command::new(DEXTHIL)
            .arg("list")
            .arg(&corpus)
            .output()
            .expect("the dexthil binary runs");
        cli.push(t.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), n);
    }
    let (lib, cli) = (median(lib), median(cli));
    println!("\n4. loading ({n} generated scenarios, median of {rounds})");
    report(
        "load_corpus + validate",
        millis(lib),
        "dexthil::scenario::load_corpus on the directory",
        "< 500 ms",
        Some(lib < Duration::from_millis(500)),
    );
    report(
        "`dexthil list` on them",
        millis(cli),
        &format!("the built binary ({DEXTHIL}), process start to exit"),
        "< 500 ms",
        Some(cli < Duration::from_millis(500)),
    );
}

// ---------------------------------------------------------------------------------------------------------
// 5. Parallel printers

/// Figure 6: from spawning `dexthil run` to its journal's first event on disk (the binary, sim lab, one
/// scenario). The journal is polled every 200 µs; median of several runs.
fn startup(o: &Options, dir: &Path) {
    let runs = if o.quick { 5 } else { 11 };
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/smoke/ds620.yaml");
    let mut times = Vec::new();
    for i in 0..runs {
        let journal = dir.join(format!("startup-{i}.jsonl"));
        let t = Instant::now();
        let mut child = Command::new(DEXTHIL)
            .args(["run", "--lab", "sim", "--journal"])
            .arg(&journal)
            .arg(scenario)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dexthil runs");
        let first = loop {
            if std::fs::read(&journal).is_ok_and(|b| b.contains(&b'\n')) {
                break t.elapsed();
            }
            if t.elapsed() > Duration::from_secs(10) {
                break Duration::from_secs(10);
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        let _ = child.wait();
        times.push(first);
    }
    let m = median(times);
    println!("\n6. startup ({runs} runs of `dexthil run --lab sim` on one scenario, median)");
    report(
        "spawn → first journal event on disk",
        format!("{:.1} ms", m.as_secs_f64() * 1e3),
        "process start, argument parsing, loading, lab setup, RunStarted written",
        "≤ 50 ms",
        Some(m <= Duration::from_millis(50)),
    );
}

fn parallel(o: &Options, dir: &Path) {
    let root = dir.join("parallel");
    let times = if o.quick { 2 } else { 4 };
    let scenario = |model: &str| {
        format!(
            "name: replug-{model}\ndriver: drivers/dnp-printer.yaml\nprinters:\n  p: {{ model: {model} }}\nsim:\n  timing: {{ replug_off: 150ms, match_delay: 100ms }}\nsteps:\n  - repeat:\n      times: {times}\n      steps:\n        - replug: p\n        - await: {{ printer: p, state: matched, within: 5s }}\n        - open: {{ printer: p, as: uc }}\n        - call: {{ on: uc, selector: GetStatus }}\n        - close: uc\n"
        )
    };
    let one = root.join("one");
    let four = root.join("four");
    write(&one, "ds620.yaml", &scenario("DS620"));
    for m in ["DS620", "DS820", "QW410", "DS-RX1"] {
        write(&four, &format!("{}.yaml", m.to_lowercase()), &scenario(m));
    }
    let run = |dir: &Path| {
        let t = Instant::now();
        let out = Command::new(DEXTHIL)
            .args(["run", "--lab", "sim", "--jobs", "4", "--format", "terse"])
            .arg(dir)
            .output()
            .expect("the dexthil binary runs");
        let took = t.elapsed();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        took
    };
    let rounds = if o.quick { 1 } else { 3 };
    let t1 = median((0..rounds).map(|_| run(&one)).collect());
    let t4 = median((0..rounds).map(|_| run(&four)).collect());
    let ratio = t4.as_secs_f64() / t1.as_secs_f64();
    println!(
        "\n5. parallel printers (each scenario replugs its printer {times}×, awaits the match, opens, calls, closes; median of {rounds})"
    );
    report(
        "1 printer's scenario",
        millis(t1),
        "`dexthil run --lab sim --jobs 4` on one scenario",
        "",
        None,
    );
    report(
        "4 printers' scenarios, --jobs 4",
        millis(t4),
        "the same on four scenarios, one per printer",
        "",
        None,
    );
    report(
        "  ratio",
        format!("{ratio:.2}×"),
        "4 printers' wall time / 1 printer's",
        "≤ 1.3×",
        Some(ratio <= 1.3),
    );
}

fn main() {
    let o = options();
    let dir = scratch();
    let started = Instant::now();
    println!(
        "dexthil engine bench: {} lab{}; {} cores",
        match &o.lab {
            LabChoice::Macos => "macos",
            _ => "sim",
        },
        if o.quick { ", --quick" } else { "" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let call = o.runs("call").then(|| call_path(&o, &dir));
    println!("\n2. fuzz loop: measured by the fuzzer's own bench, `cargo bench --bench fuzz`");
    if o.lab == LabChoice::Sim {
        if o.runs("waits") {
            waits(&o, &dir);
        }
        if o.runs("loading") {
            loading(&o, &dir);
        }
        if o.runs("parallel") {
            parallel(&o, &dir);
        }
        if o.runs("startup") {
            startup(&o, &dir);
        }
    } else {
        println!(
            "\n3-5: sim-only figures (timed sim events, generated sim scenarios), skipped on this lab"
        );
    }
    println!("\nbench took {:.1} s", started.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&dir);
    if let Some((bare, shipped)) = call {
        println!(
            "engine: added {bare:.2} µs per call step (bare), {shipped:.2} µs (as dexthil run ships)"
        );
    }
}
