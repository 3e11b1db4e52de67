//! `dexthil fuzz`: a lab and a target from the command line (the sim needs a scenario to build its lab
//! from; one is made from the driver and the printer), the run with its sinks, the finding written out.
//! Prints what a person follows: the seed first, progress (a bar on a terminal, plain lines otherwise),
//! the finding and the scenario written.

use super::runner::{FuzzOptions, finished_events, fuzz};
use super::write::{ScenarioSpec, write_scenario};
use super::{FuzzOutcome, Target};
use crate::backends::{LabChoice, factory};
use crate::driver::Driver;
use crate::lab::Lab;
use crate::report::journal::Journal;
use crate::report::progress::Progress;
use crate::report::{EventKind, EventSink, Fanout, RunEvent, human_duration};
use crate::runner::Exit;
use crate::scenario::{self, Role, Scenario, SimConfig};
use crate::span::Span;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct FuzzCli {
    pub driver_file: PathBuf,
    pub printer: Option<String>,
    pub lab: LabChoice,
    pub selectors: Vec<String>,
    pub out: PathBuf,
    pub journal: PathBuf,
    pub options: FuzzOptions,
}

/// The scenario a lab is built from: the driver, the printer role `p`, no faults.
pub fn lab_scenario(driver: Arc<Driver>, printer: Option<&str>) -> Scenario {
    let span = Span::builtin("dexthil fuzz");
    Scenario {
        name: "fuzz".into(),
        about: String::new(),
        tags: vec![],
        source: driver.source.clone(),
        span: span.clone(),
        driver,
        printers: printer
            .map(|m| Role {
                name: "p".into(),
                span,
                model: Some(m.to_string()),
                vendor: None,
                product: None,
                serial: None,
                location: None,
            })
            .into_iter()
            .collect(),
        deadline: scenario::DEFAULT_SCENARIO_DEADLINE,
        step_deadline: scenario::DEFAULT_STEP_DEADLINE,
        sim: SimConfig::default(),
        steps: vec![],
    }
}

/// Selector names or numbers of the driver as ids.
pub fn selector_ids(driver: &Driver, names: &[String]) -> Result<Vec<u32>, String> {
    names
        .iter()
        .map(|n| {
            if let Some(s) = driver.selector_by_name(n) {
                return Ok(s.id);
            }
            if let Ok(id) = n.parse::<u32>() {
                return Ok(id);
            }
            let hint = crate::names::nearest(n, driver.selectors.iter().map(|s| s.name.as_str()))
                .map(|h| format!(" (did you mean `{h}`?)"))
                .unwrap_or_default();
            Err(format!(
                "driver `{}` has no selector `{n}`{hint}",
                driver.name
            ))
        })
        .collect()
}

/// Plain progress lines, for a log or CI: one every tenth of the cases, and the finding.
struct Lines {
    total: u64,
    started: Instant,
    generated: AtomicU64,
}

impl EventSink for Lines {
    fn event(&self, event: &RunEvent) {
        match &event.kind {
            EventKind::FuzzCase {
                step: 0,
                shrinking: false,
                ..
            } => {
                let n = self.generated.fetch_add(1, Ordering::Relaxed) + 1;
                let every = (self.total / 10).max(1);
                if n.is_multiple_of(every) {
                    let rate = n as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
                    eprintln!(
                        "fuzz: {n}/{} cases, {rate:.0} cases/s, 0 findings",
                        self.total
                    );
                }
            }
            EventKind::FuzzCase { .. } | EventKind::FuzzFinished { .. } => {}
            EventKind::FuzzFinding { message, .. } => eprintln!("fuzz: finding: {message}"),
            EventKind::RunStarted { .. }
            | EventKind::ScenarioStarted { .. }
            | EventKind::StepStarted { .. }
            | EventKind::StepFinished { .. }
            | EventKind::ScenarioFinished { .. }
            | EventKind::RunFinished { .. }
            | EventKind::HealthChecked { .. }
            | EventKind::ScenarioRetried { .. }
            | EventKind::Interrupted { .. }
            | EventKind::ScenarioSkipped { .. }
            | EventKind::LogLine { .. } => {}
        }
    }
}

fn target(lab: &dyn Lab, printer: Option<&str>) -> Result<Target, String> {
    let Some(model) = printer else {
        return Ok(Target::default());
    };
    let role = &lab_scenario_role(model);
    let devices = lab.devices().map_err(|e| e.to_string())?;
    let view = role.resolve(&devices).map_err(|e| e.to_string())?;
    Ok(Target {
        printer: Some(view),
        connection: None,
    })
}

fn lab_scenario_role(model: &str) -> Role {
    Role {
        name: "p".into(),
        span: Span::builtin("dexthil fuzz"),
        model: Some(model.to_string()),
        vendor: None,
        product: None,
        serial: None,
        location: None,
    }
}

fn report(outcome: &FuzzOutcome, written: Option<&PathBuf>, driver: &Driver) {
    let rate = outcome.cases as f64 / outcome.took.as_secs_f64().max(1e-9);
    println!(
        "fuzz: {} cases, {} operations in {} ({rate:.0} cases/s), seed {}",
        outcome.cases,
        outcome.ops,
        human_duration(outcome.took),
        outcome.seed
    );
    let Some(found) = &outcome.found else {
        println!("fuzz: no findings");
        return;
    };
    println!("fuzz: FINDING: {}", found.finding.message);
    println!("  expected: {}", found.finding.expected);
    println!("  actual:   {}", found.finding.actual);
    println!(
        "  minimal case ({} operations, shrunk from {}):",
        found.ops.len(),
        found.first_ops.len()
    );
    for (i, op) in found.ops.iter().enumerate() {
        println!("    {i}: {}", op.describe(driver));
    }
    if let Some(p) = written {
        println!(
            "  written: {} (run it: dexthil run --lab sim {})",
            p.display(),
            p.display()
        );
    }
}

/// Run `dexthil fuzz`; the exit code: 0 no finding, 1 a finding, 2 bad input or the lab broke.
pub fn run(cli: FuzzCli) -> Exit {
    let fail = |e: String| {
        eprintln!("error: {e}");
        Exit::BadInputOrLab
    };
    let driver = match scenario::load_driver(&cli.driver_file) {
        Ok(d) => Arc::new(d),
        Err(errors) => {
            crate::runner::print_load_errors(&errors, &mut std::io::stderr());
            return Exit::BadInputOrLab;
        }
    };
    if let Some(Err(e)) = cli
        .printer
        .as_deref()
        .map(crate::printer::catalog::find_or_explain)
    {
        return fail(e);
    }
    let mut options = cli.options.clone();
    match selector_ids(&driver, &cli.selectors) {
        Ok(ids) => options.selectors = ids,
        Err(e) => return fail(e),
    }
    let seed = options.seed.unwrap_or_else(super::fresh_seed);
    options.seed = Some(seed);
    let scenario = lab_scenario(driver.clone(), cli.printer.as_deref());
    let lab = match factory(&cli.lab).and_then(|f| f.lab_for(&scenario)) {
        Ok(l) => l,
        Err(e) => return fail(e.to_string()),
    };
    let target = match target(&*lab, cli.printer.as_deref()) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let journal = match Journal::create(&cli.journal) {
        Ok(j) => Arc::new(j),
        Err(e) => return fail(e.to_string()),
    };
    eprintln!(
        "fuzz: seed {seed} (replay with --seed {seed}); {} cases of {} on the {} lab; journal {}",
        options.cases,
        driver.name,
        lab.name(),
        cli.journal.display()
    );
    let started = Instant::now();
    let mut sinks: Vec<Arc<dyn EventSink>> = vec![journal];
    let progress = if std::io::stderr().is_terminal() {
        Progress::fuzz_if_terminal(options.cases as u64).map(Arc::new)
    } else {
        None
    };
    match &progress {
        Some(p) => sinks.push(p.clone()),
        None => sinks.push(Arc::new(Lines {
            total: options.cases as u64,
            started,
            generated: AtomicU64::new(0),
        })),
    }
    let sink = Fanout(sinks);
    let outcome = match fuzz(lab, driver.clone(), target, &options, &sink, started) {
        Ok(o) => o,
        Err(e) => return fail(e.to_string()),
    };
    let written = outcome.found.as_ref().map(|found| {
        let spec = ScenarioSpec {
            driver: &driver,
            driver_file: &cli.driver_file,
            seed,
            printer_model: cli.printer.as_deref(),
            within: options.within,
        };
        write_scenario(&spec, found, &cli.out)
    });
    let written = match written.transpose() {
        Ok(w) => w,
        Err(e) => return fail(e.to_string()),
    };
    for kind in finished_events(&outcome, written.as_ref().map(|p| p.display().to_string())) {
        sink.event(&RunEvent {
            elapsed: started.elapsed(),
            kind,
        });
    }
    drop(progress);
    report(&outcome, written.as_ref(), &driver);
    if outcome.found.is_some() {
        Exit::DriverFailed
    } else {
        Exit::Passed
    }
}

/// The default per-operation deadline of `dexthil fuzz`.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(2);
