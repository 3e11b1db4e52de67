//! One whole run: choose the scenarios, open the sinks (console, journal, tally for JUnit, progress), check
//! the station's health, run the trials under per-printer locks with retries, react to signals, write the
//! JUnit report, and turn the outcome into an exit code that tells the driver's failures from the lab's.

use super::isolate::Isolation;
use super::select::{Partition, select};
use super::signals::Signals;
use super::trial::{ConsoleEnd, Shared, trial};
use super::{Exit, schedule, setup};
use crate::backends::LabFactory;
use crate::engine::Stop;
use crate::report::journal::Journal;
use crate::report::json_events::{self, JsonEvents};
use crate::report::progress::{Progress, SuspendingWriter};
use crate::report::tally::{RunRecord, Tally};
use crate::report::{Console, Detail, EventKind, EventSink, Fanout, NothingToRun, RunEvent, junit};
use crate::scenario::Scenario;
use crate::station::{Station, provenance};
use libtest_mimic::{Arguments, FormatSetting};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long the health check waits for each printer's dext to show in the registry.
const HEALTH_WAIT: Duration = Duration::from_secs(5);

/// What a nightly adds to a plain run. The default is a plain run.
#[derive(Clone, Debug, Default)]
pub struct NightlyOptions {
    /// Write the JSON Lines journal here.
    pub journal: Option<PathBuf>,
    /// When the journal makes a line durable (`--durability`).
    pub durability: crate::scenario::Durability,
    /// Write JUnit XML here at the end (and on SIGINT / SIGTERM).
    pub junit: Option<PathBuf>,
    /// Check this station's health first; its printer names become the printer locks.
    pub station: Option<Station>,
    /// Only scenarios with any of these tags.
    pub tags: Vec<String>,
    pub partition: Option<Partition>,
    /// Run a scenario again after an infrastructure failure, up to this many times.
    pub retries: u32,
    /// A scenario that passed only on a retry fails the run (exit 2).
    pub flaky_fails: bool,
    /// A progress bar when stderr is a terminal.
    pub progress: bool,
    /// Handle SIGINT / SIGTERM (the CLI does; a harness inside `cargo test` leaves them alone).
    pub signals: bool,
    /// Run each scenario in a child process, so a crash of dexthil itself fails only that scenario.
    pub isolate: bool,
    /// A run that selects nothing (or whose station serves nothing selected) exits 2 with the reason, so a
    /// typo'd path, filter or tag cannot pass a release gate. The CLI sets it unless `--allow-empty`; a
    /// harness inside `cargo test` (whose filter is meant for other tests too) leaves it off.
    pub require_selection: bool,
    /// `Some` for the CLI: dexthil's own console at this detail (one line per passing scenario, failures in
    /// full, one summary) and, with `--format json`, JSON events on stdout; libtest's own lines are not
    /// printed. `None` (a harness inside `cargo test`): libtest prints as cargo test's users expect.
    pub console: Option<Detail>,
}

/// The console as a sink, and what ends the block of a scenario cut short by a stop.
fn console<W: Write + Send + 'static>(out: W, detail: Detail) -> (Arc<dyn EventSink>, ConsoleEnd) {
    let c = Arc::new(Console::with_detail(out, detail));
    let end = c.clone();
    (
        c,
        Arc::new(move |name: &str, text: &str| end.finish_unfinished(name, text)),
    )
}

/// Write the JUnit report if asked; false (and the error printed) when it could not be written.
fn write_junit(opts: &NightlyOptions, record: &RunRecord) -> bool {
    if let Some(path) = &opts.junit
        && let Err(e) = junit::write(record, opts.flaky_fails, path)
    {
        eprintln!("error: {e}");
        return false;
    }
    true
}

/// The exit code of a finished (or interrupted) run, with the reason printed for a 2.
fn exit_of(record: &RunRecord, opts: &NightlyOptions, interrupted: bool) -> Exit {
    let c = record.counts();
    let mut reasons = Vec::new();
    if c.lab_failed > 0 {
        reasons.push(format!(
            "{} scenario{} failed because the lab broke, not the driver",
            c.lab_failed,
            if c.lab_failed == 1 { "" } else { "s" }
        ));
    }
    if interrupted {
        reasons.push(format!(
            "the run was interrupted ({} scenario(s) cut short, {} not started)",
            c.interrupted, c.not_run
        ));
    }
    if c.flaky > 0 && opts.flaky_fails {
        reasons.push(format!(
            "{} scenario(s) passed only on a retry (--flaky-fails)",
            c.flaky
        ));
    }
    if !reasons.is_empty() {
        eprintln!("{}: exit 2", reasons.join("; "));
        Exit::BadInputOrLab
    } else if c.driver_failed > 0 {
        Exit::DriverFailed
    } else {
        Exit::Passed
    }
}

/// The counts that say why a run has no scenario to run.
struct Emptiness {
    /// Scenarios loaded.
    corpus: usize,
    /// Taken by the paths, filter and tags.
    chosen: usize,
    /// Of those, taken by the partition (all of them without one).
    partitioned: usize,
    /// Of those, skipped as not for this station or recording (all of them, as none runs).
    skipped: usize,
    /// How many of the scenarios other shards take the station or recording would serve.
    served_elsewhere: usize,
    on_recording: bool,
}

/// Why a run has nothing to run, and who answers for it: the selection (refused unless `--allow-empty`) or
/// the partition (this shard passes; the merge of all shards is the gate).
fn nothing_to_run(e: &Emptiness, libtest: &Arguments, opts: &NightlyOptions) -> NothingToRun {
    let place = if e.on_recording {
        "the recording"
    } else {
        "the station"
    };
    let selection_fault = |reason: String| {
        if opts.require_selection {
            NothingToRun::Refused { reason }
        } else {
            NothingToRun::Allowed { reason }
        }
    };
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match opts.partition {
        _ if e.chosen == 0 => {
            selection_fault(super::empty::why_nothing(e.corpus, libtest, &opts.tags))
        }
        Some(p) if e.partitioned == 0 => NothingToRun::Partition {
            reason: format!(
                "--partition {p} took none of the {} selected scenario{}",
                e.chosen,
                plural(e.chosen)
            ),
        },
        Some(p) if e.served_elsewhere > 0 => NothingToRun::Partition {
            reason: format!(
                "{place} serves none of the {} scenario{} --partition {p} took (it serves {} of the {} \
                 selected; other shards take those)",
                e.skipped,
                plural(e.skipped),
                e.served_elsewhere,
                e.chosen
            ),
        },
        _ => selection_fault(format!("{place} serves none of the {} selected", e.chosen)),
    }
}

pub fn run_nightly(
    all: Vec<Scenario>,
    factory: Arc<dyn LabFactory>,
    libtest: &Arguments,
    opts: &NightlyOptions,
    isolation: Option<Isolation>,
) -> Exit {
    let run_start = Instant::now();
    let probe = setup::probe_lab(&*factory, &all);
    let corpus_size = all.len();
    // What the paths, filter and tags chose, split by the partition into this shard's and the others'. An
    // empty choice is a typo (fail closed); a shard the partition leaves nothing of a non-empty choice is the
    // hash's doing, not a mistake.
    let (selected, elsewhere): (Vec<Scenario>, Vec<Scenario>) = select(all, libtest, &opts.tags)
        .into_iter()
        .partition(|s| opts.partition.is_none_or(|p| p.takes(&s.name)));
    let recording = match &probe {
        Some(lab) if factory.name() == "replay" => Some(lab.devices().unwrap_or_default()),
        _ => None,
    };
    let (chosen, partitioned) = (selected.len() + elsewhere.len(), selected.len());
    let (scenarios, skipped) =
        schedule::split(selected, opts.station.as_ref(), recording.as_deref());
    let nothing = (scenarios.is_empty() && !libtest.list).then(|| {
        let emptiness = Emptiness {
            corpus: corpus_size,
            chosen,
            partitioned,
            skipped: skipped.len(),
            served_elsewhere: schedule::split(
                elsewhere,
                opts.station.as_ref(),
                recording.as_deref(),
            )
            .0
            .len(),
            on_recording: recording.is_some(),
        };
        nothing_to_run(&emptiness, libtest, opts)
    });
    let devices = probe
        .as_ref()
        .and_then(|l| l.devices().ok())
        .unwrap_or_default();
    let keys = setup::printer_keys(&scenarios, opts.station.as_ref(), &devices);
    let json = libtest.format == Some(FormatSetting::Json);
    if libtest.list && json && opts.console.is_some() {
        let mut out = std::io::stdout().lock();
        for s in scenarios.iter().chain(skipped.iter().map(|(s, _)| s)) {
            // A reader that went away (`| head`) is not an error of the listing.
            if writeln!(out, "{}", json_events::listed(s)).is_err() {
                break;
            }
        }
        return Exit::Passed;
    }
    let (console, console_end) = match (opts.console, libtest.format) {
        // stdout is the JSON events'; people still see failures on stderr.
        (Some(_), Some(FormatSetting::Json)) => {
            console(SuspendingWriter(std::io::stderr()), Detail::Quiet)
        }
        (Some(detail), _) => console(SuspendingWriter(std::io::stdout()), detail),
        // libtest owns stdout in the machine-readable formats; the human report then goes to stderr.
        (None, Some(FormatSetting::Json) | Some(FormatSetting::Terse)) => {
            console(SuspendingWriter(std::io::stderr()), Detail::Steps)
        }
        (None, Some(FormatSetting::Pretty) | None) if libtest.quiet => {
            console(SuspendingWriter(std::io::stderr()), Detail::Steps)
        }
        (None, Some(FormatSetting::Pretty) | None) => {
            console(SuspendingWriter(std::io::stdout()), Detail::Steps)
        }
    };
    let tally = Arc::new(Tally::new());
    let mut sinks: Vec<Arc<dyn EventSink>> = vec![console, tally.clone()];
    if json && opts.console.is_some() && !libtest.list {
        sinks.push(Arc::new(JsonEvents::new(std::io::stdout())));
    }
    let mut journal: Option<Arc<Journal>> = None;
    if !libtest.list {
        if let Some(path) = &opts.journal {
            match Journal::create_with(path, opts.durability.into()) {
                Ok(j) => {
                    eprintln!("journal: {}", path.display());
                    let j = Arc::new(j);
                    journal = Some(j.clone());
                    sinks.push(j);
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return Exit::BadInputOrLab;
                }
            }
        }
        if let Some(path) = &opts.junit
            && let Err(e) = junit::check_writable(path)
        {
            eprintln!("error: {e}; nothing was run");
            return Exit::BadInputOrLab;
        }
        if opts.progress
            && let Some(p) = Progress::if_terminal()
        {
            sinks.push(Arc::new(p));
        }
    }
    let sink: Arc<dyn EventSink> = Arc::new(Fanout(sinks));
    let emit = |kind| {
        sink.event(&RunEvent {
            elapsed: run_start.elapsed(),
            kind,
        })
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared {
        factory: factory.clone(),
        sink: sink.clone(),
        locks: Default::default(),
        interrupted: interrupted.clone(),
        stop: Stop::new(),
        isolation,
        children: Default::default(),
        console_end,
        retries: opts.retries,
        flaky_fails: opts.flaky_fails,
        run_start,
    });
    let trials: Vec<_> = scenarios
        .iter()
        .cloned()
        .zip(keys)
        .map(|(s, k)| trial(s, k, shared.clone()))
        .collect();
    // Selection is done above, with the same rules; libtest must run every trial it is given.
    let mut args = libtest.clone();
    args.filter = None;
    args.skip.clear();
    args.exact = false;
    args.ignored = false;
    args.include_ignored = true;
    if opts.console.is_some() && !libtest.list {
        // dexthil's console says everything once; libtest's per-test lines and its second summary would
        // repeat it (and its JSON is text, not fields).
        args.logfile = Some(crate::os::NULL_DEVICE.to_string());
        args.format = None;
    }
    if libtest.list {
        let _listed = libtest_mimic::run(&args, trials);
        return Exit::Passed;
    }

    let mut prov = provenance::gather(
        probe.as_deref(),
        opts.station.as_ref(),
        &setup::drivers(&scenarios),
        &setup::roles(&scenarios),
    );
    prov.partition = opts.partition.map(|p| p.to_string());
    emit(EventKind::RunStarted {
        lab: factory.name().to_string(),
        scenarios: scenarios.len() + skipped.len(),
        provenance: Box::new(prov),
        selected: scenarios
            .iter()
            .chain(skipped.iter().map(|(s, _)| s))
            .map(|s| s.name.clone())
            .collect(),
        nothing_to_run: nothing.clone(),
    });
    for (s, reason) in &skipped {
        emit(EventKind::ScenarioSkipped {
            scenario: s.name.as_str().into(),
            file: s.source.display().to_string(),
            reason: reason.clone(),
        });
    }
    let finish = |interrupted: bool| {
        let c = tally.record().counts();
        emit(EventKind::RunFinished {
            passed: c.passed + c.flaky,
            failed: c.driver_failed + c.lab_failed + c.interrupted,
            lab_errors: c.lab_failed,
            took: run_start.elapsed(),
            flaky: c.flaky,
            interrupted,
            skipped: c.skipped,
        });
        let record = tally.record();
        // Nothing lost silently (issue 18): a journal or JUnit that did not reach its file ends the run with 2.
        let mut written = write_junit(opts, &record);
        if let Some(j) = &journal
            && let Err(e) = j.finish()
        {
            eprintln!("error: {e}");
            written = false;
        }
        (record, written)
    };
    if let Some(NothingToRun::Refused { reason }) = &nothing {
        // The journal and JUnit say so too: a merge must see that this run ran nothing by mistake.
        let (_, written) = finish(false);
        eprintln!(
            "error: no scenario to run: {reason} (pass --allow-empty to accept a run of nothing)"
        );
        if !written {
            eprintln!("the run's journal or JUnit report could not be written: exit 2");
        }
        return Exit::BadInputOrLab;
    }

    if let Some(st) = &opts.station {
        let problems = schedule::check_health(&*factory, st, &scenarios, HEALTH_WAIT);
        let healthy = problems.is_empty();
        emit(EventKind::HealthChecked {
            station: st.name.clone(),
            problems,
        });
        if !healthy {
            let _ = finish(false);
            eprintln!(
                "the station {} is not healthy (the lab broke, not the driver): exit 2",
                st.name
            );
            return Exit::BadInputOrLab;
        }
    }
    drop(probe);

    let signals = opts.signals.then(Signals::install);
    let done = AtomicBool::new(false);
    let conclusion = std::thread::scope(|scope| {
        if let Some(sig) = &signals {
            scope.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    if let Some(name) = sig.received() {
                        interrupted.store(true, Ordering::SeqCst);
                        shared.stop.stop(name);
                        shared.children.stop_all();
                        emit(EventKind::Interrupted {
                            signal: name.to_string(),
                        });
                        // Written now too, in case a hung scenario never lets the run end.
                        let _ = write_junit(opts, &tally.record());
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
        }
        let conclusion = libtest_mimic::run(&args, trials);
        done.store(true, Ordering::SeqCst);
        conclusion
    });
    let was_interrupted = interrupted.load(Ordering::SeqCst);
    let (record, written) = finish(was_interrupted);
    if !written {
        eprintln!("the run's journal or JUnit report could not be written: exit 2");
        return Exit::BadInputOrLab;
    }
    if let Some(path) = &opts.junit {
        eprintln!("junit: {}", path.display());
    }
    if let Some(NothingToRun::Partition { reason }) = &nothing {
        eprintln!(
            "nothing to run on this shard: {reason}; this shard passes, and `dexthil report` of the \
             shards' journals fails if none of them ran a scenario"
        );
    }
    match exit_of(&record, opts, was_interrupted) {
        // A trial libtest saw fail that no event explains (a panic in the runner itself).
        Exit::Passed if conclusion.num_failed > 0 => Exit::DriverFailed,
        exit => exit,
    }
}
