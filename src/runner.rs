//! Scenarios as libtest-mimic trials: filters, `--list`, `--format`, `--test-threads`, and exit codes that
//! tell "the driver broke" (1) from "the lab broke or the input is bad" (2).
//!
//! Used by `dexthil run` and by the `harness = false` corpus test, so both behave the same.

use crate::backends::{self, LabChoice, LabFactory};
use crate::engine::run_scenario;
use crate::report::{
    Collector, Console, EventKind, EventSink, FailureClass, RunEvent, Tee, Verdict, failure_lines,
};
use crate::scenario::{self, LoadErrors, Scenario};
use libtest_mimic::{Arguments, Failed, FormatSetting, Trial};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

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
    run_scenarios(scenarios, Arc::from(factory), &args.libtest)
}

/// Every load error, one per line: `file:line:col: message (did you mean `x`?)`.
pub fn print_load_errors(errors: &LoadErrors, out: &mut dyn Write) {
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
        "{n} error{} in the scenario files; nothing was run",
        if n == 1 { "" } else { "s" }
    );
}

/// The trial of one scenario: libtest's name is the scenario name, its kind the first tag.
fn trial(
    s: Scenario,
    factory: Arc<dyn LabFactory>,
    console: Arc<dyn EventSink>,
    lab_failures: Arc<AtomicUsize>,
    run_start: Instant,
) -> Trial {
    let kind = s.tags.first().cloned().unwrap_or_default();
    let ignored = s.tags.iter().any(|t| t == "ignore");
    Trial::test(s.name.clone(), move || {
        let lab = factory.lab_for(&s).map_err(|e| {
            lab_failures.fetch_add(1, Ordering::Relaxed);
            Failed::from(format!(
                "the `{}` lab cannot run this scenario: {e}\n(the lab broke, not the driver)",
                factory.name()
            ))
        })?;
        let collector = Collector::new();
        let verdict = run_scenario(&s, lab, &Tee(&*console, &collector), run_start);
        match verdict {
            Verdict::Passed => Ok(()),
            Verdict::Failed { span, failure } => {
                if failure.class == FailureClass::Lab {
                    lab_failures.fetch_add(1, Ordering::Relaxed);
                }
                let step = collector
                    .failed_steps()
                    .into_iter()
                    .next()
                    .map(|f| format!("step {} {} failed\n", f.step, f.summary))
                    .unwrap_or_default();
                Err(Failed::from(format!(
                    "{step}{}",
                    failure_lines(&span.to_string(), &failure, "")
                )))
            }
        }
    })
    .with_kind(kind)
    .with_ignored_flag(ignored)
}

/// Run loaded scenarios as trials on labs from `factory`.
pub fn run_scenarios(
    scenarios: Vec<Scenario>,
    factory: Arc<dyn LabFactory>,
    libtest: &Arguments,
) -> Exit {
    let run_start = Instant::now();
    // libtest owns stdout in the machine-readable formats; the human report then goes to stderr.
    let console: Arc<dyn EventSink> = match libtest.format {
        Some(FormatSetting::Json) | Some(FormatSetting::Terse) => {
            Arc::new(Console::new(std::io::stderr()))
        }
        Some(FormatSetting::Pretty) | None if libtest.quiet => {
            Arc::new(Console::new(std::io::stderr()))
        }
        Some(FormatSetting::Pretty) | None => Arc::new(Console::new(std::io::stdout())),
    };
    let lab_failures = Arc::new(AtomicUsize::new(0));
    if !libtest.list {
        console.event(&RunEvent {
            elapsed: run_start.elapsed(),
            kind: EventKind::RunStarted {
                lab: factory.name().to_string(),
                scenarios: scenarios.len(),
            },
        });
    }
    let trials = scenarios
        .into_iter()
        .map(|s| {
            trial(
                s,
                factory.clone(),
                console.clone(),
                lab_failures.clone(),
                run_start,
            )
        })
        .collect();
    let conclusion = libtest_mimic::run(libtest, trials);
    if libtest.list {
        return Exit::Passed;
    }
    let lab_errors = lab_failures.load(Ordering::Relaxed);
    console.event(&RunEvent {
        elapsed: run_start.elapsed(),
        kind: EventKind::RunFinished {
            passed: conclusion.num_passed as usize,
            failed: conclusion.num_failed as usize,
            lab_errors,
            took: run_start.elapsed(),
        },
    });
    let exit = exit_for(conclusion.num_failed as usize, lab_errors);
    if exit == Exit::BadInputOrLab {
        eprintln!(
            "{lab_errors} scenario{} failed because the lab broke, not the driver: exit 2",
            if lab_errors == 1 { "" } else { "s" }
        );
    }
    exit
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
    use crate::engine::fake;

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
