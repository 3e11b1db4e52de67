//! `dexthil report` and `dexthil compare`: journals read back and shown by the same reporters as a live run.
//! `report` takes one journal or several (from several Macs or partitions) and gives one summary, one JUnit
//! and one HTML page, each scenario kept with the station it ran on, and the merged verdict as exit code.
//! A run cut short by a kill is reported so: scenarios started and never finished are interrupted, those
//! never started are listed as not run.

use super::Exit;
use crate::report::compare::Comparison;
use crate::report::html::{self, HtmlRun};
use crate::report::journal::{JournalError, JournalRead, read_journal};
use crate::report::junit::{self, JunitError};
use crate::report::tally::{RunRecord, Status};
use crate::report::{Console, EventSink, NothingToRun};
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Junit(#[from] JunitError),
    #[error("cannot write the HTML report {}: {source}", path.display())]
    Html {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no journal given: pass one or more journals (target/dexthil/journal-*.jsonl)")]
    NoJournal,
}

/// A journal of `dexthil fuzz`: shown by the fuzzer's console; exit 0 finished clean, 1 it found
/// something, 2 it never finished.
fn fuzz_report<W: Write + Send>(read: &JournalRead, out: W) -> (Exit, W) {
    use crate::fuzz::journal::{FuzzEnd, report};
    let (end, mut out) = report(&read.events, out);
    if let Some(t) = &read.truncated {
        let _ = writeln!(out, "note: {t}");
    }
    let exit = match end {
        FuzzEnd::Finished { findings: 0 } => Exit::Passed,
        FuzzEnd::Finished { .. } => Exit::DriverFailed,
        FuzzEnd::Killed { .. } => Exit::BadInputOrLab,
    };
    (exit, out)
}

/// What `dexthil report` writes besides the console.
#[derive(Clone, Debug, Default)]
pub struct ReportOutputs {
    pub junit: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub flaky_fails: bool,
}

/// The exit code a run's record stands for; `None` for a shard the partition gave nothing, which stands for
/// nothing: the merge's verdict is the other shards' (and fails if no journal ran a scenario).
fn exit_of(record: &RunRecord, flaky_fails: bool) -> Option<Exit> {
    let c = record.counts();
    let unhealthy = record.health.as_ref().is_some_and(|(_, p)| !p.is_empty());
    match record.nothing_to_run {
        Some(NothingToRun::Partition { .. }) => return None,
        Some(NothingToRun::Refused { .. }) => return Some(Exit::BadInputOrLab),
        Some(NothingToRun::Allowed { .. }) | None => {}
    }
    Some(
        if unhealthy
            || c.lab_failed > 0
            || c.interrupted > 0
            || c.not_run > 0
            || record.finished.is_none()
            || (flaky_fails && c.flaky > 0)
        {
            Exit::BadInputOrLab
        } else if c.driver_failed > 0 {
            Exit::DriverFailed
        } else {
            Exit::Passed
        },
    )
}

/// Did the run start a scenario, or mean to (one selected and not skipped as not for its station)?
fn ran_something(record: &RunRecord) -> bool {
    record
        .scenarios
        .iter()
        .any(|s| !matches!(s.status, Status::Skipped { .. }))
}

/// The worst of several verdicts: a lab failure anywhere outranks a driver failure.
fn worst(exits: impl IntoIterator<Item = Exit>) -> Exit {
    exits
        .into_iter()
        .max_by_key(|e| e.code())
        .unwrap_or(Exit::Passed)
}

/// Replay one journal on the console; its record.
fn show<W: Write + Send>(read: &JournalRead, out: W) -> (RunRecord, W) {
    let console = Console::new(out);
    for e in &read.events {
        console.event(e);
    }
    let record = RunRecord::from_events(&read.events);
    for s in &record.scenarios {
        if let Status::Interrupted { step } = &s.status {
            let at = step
                .as_deref()
                .map(|st| format!(" during step {st}"))
                .unwrap_or_default();
            console.finish_unfinished(
                &s.name,
                &format!("  INTERRUPTED{at}: the run ended before it did\n"),
            );
        }
    }
    let c = record.counts();
    let mut out = console.into_inner();
    if let Some(t) = &read.truncated {
        let _ = writeln!(out, "\nnote: {t}");
    }
    match &record.nothing_to_run {
        Some(NothingToRun::Refused { reason }) => {
            let _ = writeln!(
                out,
                "\nno scenario to run: {reason}; the run refused that (exit 2)"
            );
        }
        Some(NothingToRun::Allowed { reason }) => {
            let _ = writeln!(
                out,
                "\nno scenario to run: {reason} (accepted: --allow-empty)"
            );
        }
        Some(NothingToRun::Partition { reason }) => {
            let _ = writeln!(
                out,
                "\nnothing to run on this shard: {reason}; it stands for nothing in the verdict"
            );
        }
        None => {}
    }
    if record.finished.is_none() {
        let _ = writeln!(
            out,
            "\nthe run did not finish (killed?): {} passed, {} flaky, {} failed ({} of them lab errors), {} interrupted, {} never started",
            c.passed,
            c.flaky,
            c.driver_failed + c.lab_failed,
            c.lab_failed,
            c.interrupted,
            c.not_run
        );
    }
    (record, out)
}

/// A journal's fuzz coverage events and fuzz call cases, for the HTML page.
type FuzzSeen = (Vec<serde_json::Value>, Vec<(String, String)>);

/// Fuzz coverage events and fuzz call cases of a journal already read, as their journal JSON (whatever
/// their fields): the page shows them generically.
fn fuzz_of(events: &[crate::report::RunEvent]) -> FuzzSeen {
    use crate::report::EventKind;
    let mut coverage = Vec::new();
    let mut calls = Vec::new();
    for e in events {
        if !matches!(
            e.kind,
            EventKind::FuzzCoverage { .. } | EventKind::FuzzCase { .. }
        ) {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&crate::report::journal::to_line(e))
        else {
            continue;
        };
        let event = v.get("event").and_then(|e| e.as_str()).unwrap_or("");
        if event.contains("coverage") {
            coverage.push(v);
        } else if event == "fuzz_case"
            && let Some(op) = v.get("op")
            && op.get("op").and_then(|o| o.as_str()) == Some("call")
        {
            // `{"near_miss":"struct_in"}` reads as `near_miss struct_in`.
            let field = |k: &str| {
                op.get(k).map(|x| match x {
                    serde_json::Value::Object(m) => m
                        .iter()
                        .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or(&v.to_string())))
                        .collect::<Vec<_>>()
                        .join(", "),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            };
            calls.push((
                field("selector").unwrap_or_default(),
                field("shape").unwrap_or_default(),
            ));
        }
    }
    (coverage, calls)
}

/// `passed`, or what failed and its exit code.
fn verdict_text(exit: Exit) -> &'static str {
    match exit {
        Exit::Passed => "passed",
        Exit::DriverFailed => "failed: the driver broke (exit 1)",
        Exit::BadInputOrLab => {
            "failed: the lab broke, a run did not finish, or nothing ran (exit 2)"
        }
    }
}

/// Print the report of `journals` to `out`, write JUnit and HTML if asked; the merged verdict.
pub fn report_journals<W: Write + Send>(
    journals: &[PathBuf],
    outputs: &ReportOutputs,
    mut out: W,
) -> Result<Exit, ReportError> {
    if journals.is_empty() {
        return Err(ReportError::NoJournal);
    }
    let mut runs = Vec::new();
    let (mut scenario_exits, mut fuzz_exits) = (Vec::new(), Vec::new());
    for path in journals {
        let read = read_journal(path)?;
        // Taken from the events read once (capped, checked), only when a page is asked for.
        let fuzz: FuzzSeen = match outputs.html {
            Some(_) => fuzz_of(&read.events),
            None => Default::default(),
        };
        if journals.len() > 1 {
            let station = read.events.iter().find_map(|e| match &e.kind {
                crate::report::EventKind::RunStarted { provenance, .. } => provenance
                    .station
                    .clone()
                    .or_else(|| Some(provenance.hostname.clone()).filter(|h| !h.is_empty())),
                _ => None,
            });
            let on = station.map(|s| format!(" (on {s})")).unwrap_or_default();
            let _ = writeln!(out, "== {}{on} ==", path.display());
        }
        // A `dexthil fuzz` journal is shown by the fuzzer's console, its verdict its own.
        if crate::fuzz::journal::is_fuzz_journal(&read.events) {
            let (exit, back) = fuzz_report(&read, out);
            out = back;
            fuzz_exits.push(exit);
            runs.push((path.clone(), RunRecord::from_events(&read.events), fuzz));
            continue;
        }
        let (record, back) = show(&read, out);
        out = back;
        scenario_exits.extend(exit_of(&record, outputs.flaky_fails));
        runs.push((path.clone(), record, fuzz));
    }
    // Fail closed over the union: shards that each had nothing to run must not add up to a pass. Only runs
    // that all accepted an empty selection (`--allow-empty`) may pass having run nothing.
    let ran = !fuzz_exits.is_empty() || runs.iter().any(|(_, r, _)| ran_something(r));
    let all_allowed = runs
        .iter()
        .all(|(_, r, _)| matches!(r.nothing_to_run, Some(NothingToRun::Allowed { .. })));
    let nothing_ran = !ran && !all_allowed;
    if nothing_ran {
        let _ = writeln!(
            out,
            "\nno scenario ran in {}: a gate over {} fails (exit 2)",
            if runs.len() == 1 {
                "this journal".to_string()
            } else {
                format!("any of the {} journals", runs.len())
            },
            if runs.len() == 1 { "it" } else { "them" }
        );
    }
    let exit = if nothing_ran {
        Exit::BadInputOrLab
    } else {
        worst(scenario_exits.into_iter().chain(fuzz_exits))
    };
    if journals.len() > 1 {
        let mut total = crate::report::tally::Counts::default();
        for (_, r, _) in &runs {
            let c = r.counts();
            total.passed += c.passed;
            total.flaky += c.flaky;
            total.driver_failed += c.driver_failed;
            total.lab_failed += c.lab_failed;
            total.interrupted += c.interrupted;
            total.not_run += c.not_run;
            total.skipped += c.skipped;
        }
        let _ = writeln!(
            out,
            "\nmerged {} journals: {} passed, {} failed ({} of them lab errors), {} flaky, {} skipped, {} interrupted, {} never started: {}",
            runs.len(),
            total.passed + total.flaky,
            total.driver_failed + total.lab_failed,
            total.lab_failed,
            total.flaky,
            total.skipped,
            total.interrupted,
            total.not_run,
            verdict_text(exit)
        );
    }
    let _ = out.flush();
    let records: Vec<RunRecord> = runs.iter().map(|(_, r, _)| r.clone()).collect();
    if let Some(path) = &outputs.junit {
        let report = if records.len() == 1 {
            junit::report(&records[0], outputs.flaky_fails)
        } else {
            junit::merged_report(&records, outputs.flaky_fails)
        };
        junit::write_report(&report, path)?;
    }
    if let Some(path) = &outputs.html {
        let pages: Vec<HtmlRun> = runs
            .into_iter()
            .map(|(journal, record, (coverage, fuzz_calls))| HtmlRun {
                journal: journal.display().to_string(),
                record,
                coverage,
                fuzz_calls,
            })
            .collect();
        let page = html::render(&pages, verdict_text(exit), exit == Exit::Passed);
        std::fs::write(path, page).map_err(|source| ReportError::Html {
            path: path.clone(),
            source,
        })?;
    }
    Ok(exit)
}

/// The single-journal form [`report_journals`] grew from.
pub fn report_journal<W: Write + Send>(
    journal: &Path,
    junit_out: Option<&Path>,
    flaky_fails: bool,
    out: W,
) -> Result<Exit, ReportError> {
    report_journals(
        &[journal.to_path_buf()],
        &ReportOutputs {
            junit: junit_out.map(Path::to_path_buf),
            html: None,
            flaky_fails,
        },
        out,
    )
}

/// `dexthil compare OLD... -- NEW...`: what changed; exit 1 when something newly fails.
pub fn compare_journals<W: Write>(
    old: &[PathBuf],
    new: &[PathBuf],
    threshold: f64,
    mut out: W,
) -> Result<Exit, ReportError> {
    if old.is_empty() || new.is_empty() {
        return Err(ReportError::NoJournal);
    }
    let records = |paths: &[PathBuf]| -> Result<Vec<RunRecord>, ReportError> {
        paths
            .iter()
            .map(|p| Ok(RunRecord::from_events(&read_journal(p)?.events)))
            .collect()
    };
    let c = Comparison::of(&records(old)?, &records(new)?, threshold);
    let _ = write!(out, "{}", c.render());
    Ok(if c.newly_failing.is_empty() {
        Exit::Passed
    } else {
        Exit::DriverFailed
    })
}
