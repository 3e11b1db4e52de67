//! Scenarios as libtest-mimic trials: filters, `--list`, `--format`, `--test-threads`, and exit codes that
//! tell "the driver broke" (1) from "the lab broke or the input is bad" (2).
//!
//! Used by `dexthil run` and by the `harness = false` corpus test, so both behave the same. Files: `nightly`
//! (one whole run: sinks, health check, signals, exit), `select` (filters, tags, partitions), `setup` (probe
//! lab, printer keys, provenance inputs), `locks` (per-printer serialization), `trial` (one scenario with
//! retries), `signals`, `isolate` (`--isolate`: each scenario in a child process), `replay` (`dexthil report`
//! from a journal), `fuzz_cli` (`dexthil fuzz`).

mod empty;
pub mod fuzz_cli;
pub mod isolate;
pub mod limits;
mod locks;
mod nightly;
mod replay;
mod schedule;
pub mod select;
mod setup;
mod signals;
mod trial;

pub use nightly::NightlyOptions;
pub use replay::{ReportError, ReportOutputs, compare_journals, report_journal, report_journals};
pub use select::{Partition, PartitionError, stable_hash};

use crate::backends::{self, LabChoice, LabFactory};
use crate::scenario::{self, LoadErrors, Scenario};
use libtest_mimic::Arguments;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Every scenario passed (or none ran).
    Passed,
    /// A scenario failed because the driver broke an expectation.
    DriverFailed,
    /// The input was bad, or the lab could not do what a scenario needed.
    BadInputOrLab,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Passed => 0,
            Exit::DriverFailed => 1,
            Exit::BadInputOrLab => 2,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// What `dexthil run` (and the corpus test) was asked to do.
#[derive(Clone, Debug)]
pub struct RunArgs {
    /// Scenario files or directories.
    pub paths: Vec<PathBuf>,
    pub lab: LabChoice,
    /// libtest's own options: filter, `--exact`, `--skip`, `--list`, `--format`, `--test-threads`, ...
    pub libtest: Arguments,
}

/// Load, choose the lab, run every selected scenario, and say how it went.
pub fn run(args: RunArgs) -> Exit {
    run_with(args, &NightlyOptions::default())
}

/// [`run`] with the nightly's options: journal, JUnit, station and health check, tags, partition, retries.
pub fn run_with(args: RunArgs, opts: &NightlyOptions) -> Exit {
    let scenarios = match scenario::load_corpus(&args.paths) {
        Ok(s) => s,
        Err(errors) => {
            print_load_errors(&errors, &mut std::io::stderr());
            return Exit::BadInputOrLab;
        }
    };
    let factory = match backends::factory(&args.lab) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInputOrLab;
        }
    };
    if let Some(station) = &opts.station {
        factory.use_replug_plan(crate::station::replug_plan(station));
    }
    let isolation = if opts.isolate {
        match isolate::Isolation::new(&args.lab, opts.station.as_ref().map(|s| s.source.as_path()))
        {
            Ok(i) => Some(i),
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::BadInputOrLab;
            }
        }
    } else {
        None
    };
    nightly::run_nightly(
        scenarios,
        Arc::from(factory),
        &args.libtest,
        opts,
        isolation,
    )
}

/// Every load error, one per line: `file:line:col: message (did you mean `x`?)`.
pub fn print_load_errors(errors: &LoadErrors, out: &mut dyn Write) {
    print_file_errors(errors, "the scenario files", out)
}

/// [`print_load_errors`] for errors of other files (`the station file`, `the driver file`).
pub fn print_file_errors(errors: &LoadErrors, in_what: &str, out: &mut dyn Write) {
    for e in &errors.0 {
        let hint = e
            .hint
            .as_deref()
            .map(|h| format!(" (did you mean `{h}`?)"))
            .unwrap_or_default();
        let _ = writeln!(out, "error: {}: {}{hint}", e.span, e.message);
    }
    let n = errors.0.len();
    let _ = writeln!(
        out,
        "{n} error{} in {in_what}; nothing was run",
        if n == 1 { "" } else { "s" }
    );
}

/// Run loaded scenarios as trials on labs from `factory` (no journal, JUnit, station or retries).
pub fn run_scenarios(
    scenarios: Vec<Scenario>,
    factory: Arc<dyn LabFactory>,
    libtest: &Arguments,
) -> Exit {
    nightly::run_nightly(
        scenarios,
        factory,
        libtest,
        &NightlyOptions::default(),
        None,
    )
}

/// Any lab failure makes the run a lab failure: a nightly must not blame the driver for a missing printer.
pub fn exit_for(failed: usize, lab_failures: usize) -> Exit {
    if lab_failures > 0 {
        Exit::BadInputOrLab
    } else if failed > 0 {
        Exit::DriverFailed
    } else {
        Exit::Passed
    }
}

/// One line a scenario for `dexthil list`: name, file, tags, printers, driver, tab-separated.
pub fn list_lines(scenarios: &[Scenario]) -> Vec<String> {
    scenarios
        .iter()
        .map(|s| {
            let printers = s
                .printers
                .iter()
                .map(|r| format!("{}={}", r.name, r.describe()))
                .collect::<Vec<_>>()
                .join("; ");
            format!(
                "{}\t{}\ttags [{}]\tprinters [{}]\tdriver {}",
                s.name,
                s.source.display(),
                s.tags.join(", "),
                printers,
                s.driver.source.display()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit as fake;

    // Whole runs (libtest-mimic prints to stdout) are tested through the binary in tests/cli.rs.

    #[test]
    fn any_lab_failure_makes_the_run_a_lab_failure() {
        assert_eq!(exit_for(0, 0), Exit::Passed);
        assert_eq!(exit_for(2, 0), Exit::DriverFailed);
        assert_eq!(exit_for(1, 1), Exit::BadInputOrLab);
        assert_eq!(exit_for(3, 1), Exit::BadInputOrLab);
        assert_eq!(Exit::DriverFailed.code(), 1);
        assert_eq!(Exit::BadInputOrLab.code(), 2);
    }

    #[test]
    fn load_errors_are_listed_with_their_place_and_hint() {
        let errors = LoadErrors(vec![crate::scenario::LoadError {
            span: fake::span(3),
            message: "unknown key `selectr`".into(),
            hint: Some("selector".into()),
        }]);
        let mut out = Vec::new();
        print_load_errors(&errors, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "error: scenarios/x.yaml:3:5: unknown key `selectr` (did you mean `selector`?)\n\
             1 error in the scenario files; nothing was run\n"
        );
    }
}
