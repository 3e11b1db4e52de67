//! JUnit XML (quick-junit) from a [`RunRecord`]: one testcase per scenario; a driver failure is a
//! `<failure>`, an infrastructure failure an `<error>`, a scenario cut short by a signal or a kill an
//! `<error type="interrupted">`, one never started `<skipped>`; a pass after a retried infrastructure failure
//! carries `<flakyError>` elements and a `flaky` property. Suite properties carry the provenance.

use super::console::failure_lines;
use super::events::FailureClass;
use super::tally::{RunRecord, ScenarioRecord, Status};
use chrono::{DateTime, FixedOffset};
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum JunitError {
    #[error("cannot write the JUnit report {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serialize the JUnit report: {0}")]
    Serialize(#[from] quick_junit::SerializeError),
}

/// `scenarios.smoke` for `scenarios/smoke/ds620.yaml`: the scenario's folder, as JUnit viewers group by.
pub fn classname(file: &str) -> String {
    let folder = Path::new(file)
        .parent()
        .map(|p| p.to_string_lossy().replace(['/', '\\'], "."))
        .unwrap_or_default();
    if folder.is_empty() {
        "scenarios".to_string()
    } else {
        folder.trim_start_matches('.').to_string()
    }
}

/// The run's start (`started_at` of its provenance), for `timestamp` attributes.
fn start_of(record: &RunRecord) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(&record.provenance.started_at).ok()
}

fn case(
    s: &ScenarioRecord,
    flaky_fails: bool,
    run_start: Option<DateTime<FixedOffset>>,
) -> TestCase {
    let mut props = vec![];
    let status = match &s.status {
        Status::Passed if s.flaky() => {
            props.push(Property::new("flaky", "true"));
            if flaky_fails {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                st.set_type("flaky").set_message(format!(
                    "passed only after {} infrastructure failure(s) were retried, and --flaky-fails gates on it",
                    s.retried.len()
                ));
                st
            } else {
                TestCaseStatus::success()
            }
        }
        Status::Passed => TestCaseStatus::success(),
        Status::Failed {
            span,
            failure,
            step,
        } => {
            let (kind, ty) = match failure.class {
                FailureClass::Driver => (NonSuccessKind::Failure, "driver"),
                FailureClass::Lab => (NonSuccessKind::Error, "infrastructure"),
            };
            props.push(Property::new("class", ty));
            props.push(Property::new("yaml", span.to_string()));
            let mut st = TestCaseStatus::non_success(kind);
            let step = step
                .as_deref()
                .map(|s| format!("step {s} failed\n"))
                .unwrap_or_default();
            st.set_type(ty)
                .set_message(format!("{span}: {}", failure.message))
                .set_description(format!(
                    "{step}{}",
                    failure_lines(&span.to_string(), failure, "")
                ));
            st
        }
        Status::Interrupted { step } => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            st.set_type("interrupted").set_message(match step {
                Some(step) => {
                    format!("interrupted during step {step}: the run was stopped or killed")
                }
                None => "interrupted: the run was stopped or killed".to_string(),
            });
            st
        }
        Status::NotRun => {
            let mut st = TestCaseStatus::skipped();
            st.set_message("not started: the run was interrupted before this scenario");
            st
        }
        Status::Skipped { reason } => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(reason.clone());
            st
        }
    };
    let mut status = status;
    for f in &s.retried {
        let mut rerun = TestRerun::new(NonSuccessKind::Error);
        rerun
            .set_type("infrastructure")
            .set_message(f.message.clone());
        status.add_rerun(rerun);
    }
    let mut tc = TestCase::new(s.name.clone(), status);
    tc.set_classname(classname(&s.file)).set_time(s.took);
    if let (Some(start), Some(at)) = (run_start, s.started)
        && let Ok(at) = chrono::Duration::from_std(at)
    {
        tc.set_timestamp(start + at);
    }
    tc.add_properties(props);
    // What the kernel and the dext said during the scenario, step by step (issue "Kernel log").
    if !s.logs.is_empty() {
        tc.set_system_out(s.log_text());
    }
    tc
}

/// The report of a run.
pub fn report(record: &RunRecord, flaky_fails: bool) -> Report {
    let suite = suite(record, flaky_fails);
    let mut report = Report::new("dexthil");
    report.set_time(record.finished.unwrap_or(record.last_elapsed));
    if let Some(start) = start_of(record) {
        report.set_timestamp(start);
    }
    report.add_test_suite(suite);
    report
}

/// The report of several runs (stations, partitions) merged: one suite per run, named by its station.
pub fn merged_report(records: &[RunRecord], flaky_fails: bool) -> Report {
    let mut report = Report::new("dexthil");
    let mut took = std::time::Duration::ZERO;
    for r in records {
        took += r.finished.unwrap_or(r.last_elapsed);
        report.add_test_suite(suite(r, flaky_fails));
    }
    if let Some(start) = records.iter().filter_map(start_of).min() {
        report.set_timestamp(start);
    }
    report.set_time(took);
    report
}

/// One run as a test suite: `dexthil (sim lab)`, or `dexthil mac-1 hash:1/2 (macos lab)` from a station.
fn suite(record: &RunRecord, flaky_fails: bool) -> TestSuite {
    let p = &record.provenance;
    let place = [p.station.as_deref(), p.partition.as_deref()]
        .into_iter()
        .flatten()
        .map(|s| format!(" {s}"))
        .collect::<String>();
    let mut suite = TestSuite::new(format!("dexthil{place} ({} lab)", record.lab));
    let run_start = start_of(record);
    if let Some(start) = run_start {
        suite.set_timestamp(start);
    }
    suite.add_properties(
        record
            .provenance
            .properties()
            .into_iter()
            .map(|(k, v)| Property::new(k, v)),
    );
    if let Some((station, problems)) = &record.health {
        suite.add_property(Property::new("health.station", station.clone()));
        suite.add_property(Property::new(
            "health",
            if problems.is_empty() {
                "ok".to_string()
            } else {
                problems.join("; ")
            },
        ));
    }
    // A run with no test case says why, so a CI page of an empty shard is not a mystery.
    if let Some(nothing) = &record.nothing_to_run {
        let because = match nothing {
            crate::report::NothingToRun::Refused { .. } => "refused",
            crate::report::NothingToRun::Allowed { .. } => "allowed",
            crate::report::NothingToRun::Partition { .. } => "partition",
        };
        suite.add_property(Property::new("nothing_to_run", because));
        suite.add_property(Property::new("nothing_to_run.reason", nothing.reason()));
    }
    if let Some(signal) = &record.interrupted_by {
        suite.add_property(Property::new("interrupted", signal.clone()));
    } else if record.finished.is_none() {
        suite.add_property(Property::new(
            "interrupted",
            "killed (the journal ends early)",
        ));
    }
    suite.add_test_cases(
        record
            .scenarios
            .iter()
            .map(|s| case(s, flaky_fails, run_start)),
    );
    suite.set_time(record.finished.unwrap_or(record.last_elapsed));
    suite
}

/// Write the report to `path` (through a temporary file, so a reader never sees half a report).
pub fn write(record: &RunRecord, flaky_fails: bool, path: &Path) -> Result<(), JunitError> {
    write_report(&report(record, flaky_fails), path)
}

/// Check before a run that the report can be written at `path` (its folder can be made and a file created
/// there), so a night does not run for hours to lose its report at the end. A device or FIFO is checked
/// when written.
pub fn check_writable(path: &Path) -> Result<(), JunitError> {
    let err = |source| JunitError::Write {
        path: path.to_path_buf(),
        source,
    };
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("xml.partial");
    std::fs::File::create(&tmp).map_err(err)?;
    std::fs::remove_file(&tmp).map_err(err)
}

/// Write any report to `path` (see [`write`]).
pub fn write_report(report: &Report, path: &Path) -> Result<(), JunitError> {
    let xml = report.to_string()?;
    let err = |source| JunitError::Write {
        path: path.to_path_buf(),
        source,
    };
    // A path that exists and is not a regular file (`/dev/stdout`, a FIFO, `/dev/full`) is written in place:
    // renaming a temporary file over it would replace the device node itself (as root) and lose the report.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        let mut file = super::open_out::open_for_writing(path, false).map_err(err)?;
        return file
            .write_all(xml.as_bytes())
            .and_then(|()| file.flush())
            .map_err(err);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("xml.partial");
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(xml.as_bytes())?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    std::fs::rename(&tmp, path).map_err(err)
}
