//! `dexthil fuzz`: a lab and a target from the command line (the lab is built from the driver and the
//! printer role), the run with its sinks (the journal, and the console made from the same events), each
//! finding written under `--out` as it is found.

use super::Exit;
use crate::backends::{LabChoice, LabSpec, factory};
use crate::driver::Driver;
use crate::fuzz::console::FuzzConsole;
use crate::fuzz::{FuzzError, FuzzOptions, Target, WriteFindings, fuzz};
use crate::lab::Lab;
use crate::report::journal::Journal;
use crate::report::{EventSink, Fanout};
use crate::scenario::{self, Role};
use crate::span::Span;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub struct FuzzCli {
    pub driver_file: PathBuf,
    pub printer: Option<String>,
    pub lab: LabChoice,
    pub selectors: Vec<String>,
    pub out: PathBuf,
    pub journal: PathBuf,
    pub options: FuzzOptions,
}

/// The printer role `p` of the catalog model `model`.
pub fn printer_role(model: &str) -> Role {
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

/// What a lab for fuzzing `driver` (on the printer `printer`) is built from: no faults.
pub fn lab_spec(driver: Arc<Driver>, printer: Option<&str>) -> LabSpec {
    LabSpec {
        name: "fuzz".into(),
        driver,
        printers: printer.map(printer_role).into_iter().collect(),
        sim: scenario::SimConfig::default(),
        // Fuzzing a printer replugs it (the state model's sequences do).
        replugs: printer.map(|m| printer_role(m).name).into_iter().collect(),
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

fn target(lab: &dyn Lab, printer: Option<&str>) -> Result<Target, String> {
    let Some(model) = printer else {
        return Ok(Target::default());
    };
    let devices = lab.devices().map_err(|e| e.to_string())?;
    let view = printer_role(model)
        .resolve(&devices)
        .map_err(|e| e.to_string())?;
    Ok(Target {
        printer: Some(view),
        connection: None,
    })
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
            super::print_file_errors(&errors, "the driver file", &mut std::io::stderr());
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
    let seed = options.seed.unwrap_or_else(crate::fuzz::fresh_seed);
    options.seed = Some(seed);
    options.write = Some(WriteFindings {
        dir: cli.out.clone(),
        driver_file: cli.driver_file.clone(),
        printer_model: cli.printer.clone(),
    });
    let journal = match Journal::create_with(&cli.journal, options.durability.into()) {
        Ok(j) => Arc::new(j),
        Err(e) => return fail(e.to_string()),
    };
    let spec = lab_spec(driver.clone(), cli.printer.as_deref());
    let lab = match factory(&cli.lab).and_then(|f| f.lab_for(&spec)) {
        Ok(l) => l,
        Err(e) => return fail(e.to_string()),
    };
    let target = match target(&*lab, cli.printer.as_deref()) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    eprintln!(
        "fuzz: seed {seed} (replay with --seed {seed}); {} cases of {} on the {} lab; journal {}",
        options.cases,
        driver.name,
        lab.name(),
        cli.journal.display()
    );
    let console = Arc::new(FuzzConsole::new(std::io::stderr(), options.cases as u64));
    let sinks: Vec<Arc<dyn EventSink>> = vec![journal, console];
    let sink: Arc<dyn EventSink> = Arc::new(Fanout(sinks));
    match fuzz(lab, driver, target, &options, sink, Instant::now()) {
        Ok(o) if o.findings.is_empty() => Exit::Passed,
        Ok(_) => Exit::DriverFailed,
        Err(e @ FuzzError::Write(_)) => fail(format!("{e}; pass --out with a writable directory")),
        Err(e) => fail(e.to_string()),
    }
}
