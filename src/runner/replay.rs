//! `dexthil report`: a journal read back and shown by the same reporters as a live run: the console report,
//! the summary and JUnit, including a run cut short by a kill (scenarios started and never finished are
//! interrupted; those never started are listed as not run).

use super::Exit;
use crate::report::journal::{JournalError, read_journal};
use crate::report::junit::{self, JunitError};
use crate::report::tally::{RunRecord, Status};
use crate::report::{Console, EventSink};
use std::io::Write;
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Junit(#[from] JunitError),
}

/// A journal of `dexthil fuzz`: shown by the fuzzer's console; exit 0 finished clean, 1 it found
/// something, 2 it never finished.
fn fuzz_report<W: Write + Send>(read: &crate::report::journal::JournalRead, out: W) -> Exit {
    use crate::fuzz::journal::{FuzzEnd, report};
    let (end, mut out) = report(&read.events, out);
    if let Some(t) = &read.truncated {
        let _ = writeln!(out, "note: {t}");
    }
    match end {
        FuzzEnd::Finished { findings: 0 } => Exit::Passed,
        FuzzEnd::Finished { .. } => Exit::DriverFailed,
        FuzzEnd::Killed { .. } => Exit::BadInputOrLab,
    }
}

/// Print the run's report to `out` and write JUnit to `junit_out`; the exit code the run would have had.
pub fn report_journal<W: Write + Send>(
    journal: &Path,
    junit_out: Option<&Path>,
    flaky_fails: bool,
    out: W,
) -> Result<Exit, ReportError> {
    let read = read_journal(journal)?;
    if crate::fuzz::journal::is_fuzz_journal(&read.events) {
        return Ok(fuzz_report(&read, out));
    }
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
    let _ = out.flush();
    if let Some(path) = junit_out {
        junit::write(&record, flaky_fails, path)?;
    }
    let unhealthy = record.health.as_ref().is_some_and(|(_, p)| !p.is_empty());
    Ok(
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
