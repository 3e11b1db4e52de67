//! What the unit tests build scenarios and labs from, for every module: a printer dext's driver (user class
//! `PrinterDriver`, matching the QW410's ids, 0x1452:0x9201), steps at `scenarios/x.yaml:<line>:5`, the sim
//! lab they run on, and (`crosscheck`) a clean recorded printer. The sim is the one fake (DESIGN.md): what a
//! test needs beyond its faults (a scripted answer, a panic) is a hook on it (`SimLab::answer`,
//! `SimLab::panic_on`).
//!
//! `#[cfg(test)]` only, and above every layer: it may use any module, and only tests use it, so a module's
//! tests reach helpers here instead of reaching up into a higher module (tests/architecture.rs).

pub mod crosscheck;

use crate::backends::LabSpec;
use crate::backends::sim::{SimLab, station};
use crate::driver::{Driver, Provider, SimBehaviour};
use crate::ioreturn::ReturnCode;
use crate::lab::*;
use crate::scenario::{Expect, Fault, FaultKind, Role, Scenario, SimConfig, Step, StepKind};
use crate::span::Span;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The sim lab for `s` (its roles resolved, its `sim:` faults armed).
pub fn sim(s: &Scenario) -> Arc<SimLab> {
    Arc::new(SimLab::for_scenario(s).expect("a sim lab for the test scenario"))
}

/// The sim lab with the driver of `s` and no roles (for a scenario whose role the station cannot serve).
pub fn sim_without_roles(s: &Scenario) -> Arc<SimLab> {
    let spec = LabSpec::probe(&s.name, s.driver.clone());
    Arc::new(SimLab::for_spec(&spec, 1, station::seats()).expect("a sim lab"))
}

/// The sim behind a lab that captures no kernel or dext log (as `replay` or a Mac whose `log stream`
/// refused): every operation forwarded, [`Lab::logs`] left at its default, `None`.
pub struct WithoutLogs(pub Arc<SimLab>);

crate::forward_usb_bus!(WithoutLogs, 0);
crate::forward_registry!(WithoutLogs, 0);
crate::forward_user_clients!(WithoutLogs, 0);

impl Lab for WithoutLogs {
    fn name(&self) -> &'static str {
        "without-logs"
    }
}

/// A fault of the `sim:` block, as the scenario file would give it.
pub fn fault(kind: FaultKind) -> Fault {
    Fault {
        span: span(3),
        kind,
        times: None,
    }
}

/// A call's answer, for [`SimLab::answer`].
pub fn outcome(code: u32, scalars: Vec<u64>) -> CallOutcome {
    CallOutcome {
        code: ReturnCode(code),
        scalars_out: scalars,
        struct_out: Vec::new(),
        took: Duration::from_micros(12),
    }
}

pub fn driver() -> Driver {
    let selector = |id, name: &str| crate::driver::Selector {
        id,
        name: name.into(),
        rule: None,
        implemented: true,
        sim: SimBehaviour::Succeed,
        answers: vec![],
        span: Span::builtin("test"),
    };
    Driver {
        classes: Default::default(),
        source: PathBuf::from("scenarios/drivers/fake.yaml"),
        name: "fake printer dext".into(),
        bundle_id: "com.example.printer".into(),
        user_class: "PrinterDriver".into(),
        io_class: "IOUserService".into(),
        server_name: "com.example.printer".into(),
        provider: Provider::UsbInterface {
            devices: vec![(0x1452, 0x9201)],
            interface: 0,
            configuration: 1,
        },
        // What the sim's kernel rules need to let a user client open (reference §5).
        user_client_properties: Some(BTreeMap::from([
            ("IOClass".to_string(), Prop::Str("IOUserUserClient".into())),
            (
                "IOUserClass".to_string(),
                Prop::Str("PrinterDriverUserClient".into()),
            ),
        ])),
        open_types: vec![],
        rejected_type_answer: ReturnCode(crate::ioreturn::code::kIOReturnBadArgument),
        entitlements: BTreeMap::from([(
            "com.apple.developer.driverkit".to_string(),
            Prop::Bool(true),
        )]),
        log_prefix: None,
        log: Default::default(),
        selectors: vec![selector(0, "GetStatus"), selector(1, "Hang")],
    }
}

pub fn span(line: u32) -> Span {
    Span::new(Arc::new(PathBuf::from("scenarios/x.yaml")), line, 5)
}

/// A step at `scenarios/x.yaml:<line>:5` with a 1s deadline.
pub fn step(line: u32, kind: StepKind) -> Step {
    Step {
        span: span(line),
        deadline: Duration::from_secs(1),
        kind,
        logs: Vec::new(),
    }
}

pub fn open(line: u32, name: &str) -> Step {
    step(
        line,
        StepKind::Open {
            role: Some("p".into()),
            target: OpenTarget::Service,
            open_type: 0,
            name: name.into(),
            expect: Expect::default(),
        },
    )
}

pub fn call(line: u32, selector: u32, expect: Expect) -> Step {
    step(
        line,
        StepKind::Call {
            connection: "uc".into(),
            selector_name: ["GetStatus", "Hang"]
                .get(selector as usize)
                .unwrap_or(&"?")
                .to_string(),
            args: CallArgs {
                selector,
                ..CallArgs::default()
            },
            expect,
        },
    )
}

pub fn close(line: u32) -> Step {
    step(
        line,
        StepKind::Close {
            connection: "uc".into(),
            expect: Expect::default(),
        },
    )
}

pub fn scenario(name: &str, steps: Vec<Step>) -> Scenario {
    Scenario {
        name: name.into(),
        about: String::new(),
        tags: vec!["smoke".into()],
        source: PathBuf::from("scenarios/x.yaml"),
        span: span(1),
        driver: Arc::new(driver()),
        printers: vec![Role {
            name: "p".into(),
            span: span(4),
            model: None,
            vendor: Some(0x1452),
            product: Some(0x9201),
            serial: None,
            location: None,
        }],
        deadline: Duration::from_secs(20),
        step_deadline: Duration::from_secs(1),
        sim: SimConfig::default(),
        steps,
    }
}

/// A sim lab standing up its default station for the printer dext.
pub fn sim_lab() -> crate::backends::sim::SimLab {
    sim_lab_for("scenarios/drivers/dnp-printer.yaml")
}

/// A sim lab standing up its default station for the dext of `driver_file` (from the repository root).
pub fn sim_lab_for(driver_file: &str) -> crate::backends::sim::SimLab {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(driver_file);
    let driver = crate::scenario::load_driver(&path).expect("the printer driver file loads");
    let scenario = crate::scenario::Scenario {
        name: "darwin".into(),
        about: String::new(),
        tags: vec![],
        span: crate::span::Span::builtin("darwin"),
        source: driver.source.clone(),
        driver: std::sync::Arc::new(driver),
        printers: vec![],
        deadline: Duration::from_secs(30),
        step_deadline: Duration::from_secs(5),
        sim: crate::scenario::SimConfig::default(),
        steps: vec![],
    };
    crate::backends::sim::SimLab::for_scenario(&scenario).expect("the sim lab stands up")
}
