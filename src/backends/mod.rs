//! The lab backends and the choice between them. Which backends a platform has is [`crate::os`]'s to say:
//! it declares the Apple-only ones (`macos`, `darwin_double`) where they build and picks the factory of a
//! lab only some platforms run (`macos`, `vm`). The `vm` lab is plain std code and builds everywhere; only
//! Linux offers it.

crate::os::declare_apple_backends!();
pub mod iokit;
pub mod replay;
pub mod sim;
pub mod vm;

use crate::driver::Driver;
use crate::lab::{Lab, LabError};
use crate::scenario::{Role, Scenario, SimConfig};
use std::path::PathBuf;
use std::sync::Arc;

/// What a lab is built from: the driver under test, the printer roles it must serve, and the sim block
/// (faults, timing; only the sim reads it). A scenario has one ([`LabSpec::of`]); `dexthil fuzz`, `record`
/// and the health check make one without inventing a scenario.
#[derive(Clone, Debug)]
pub struct LabSpec {
    /// For thread names and messages: the scenario's name, or the command's.
    pub name: String,
    pub driver: Arc<Driver>,
    pub printers: Vec<Role>,
    pub sim: SimConfig,
    /// The printer roles the scenario replugs (a `replug` step, or a `fuzz` step on a printer, whose
    /// sequences replug): a lab that cannot replug a printer refuses up front, as its own limit.
    pub replugs: Vec<String>,
}

impl LabSpec {
    pub fn of(scenario: &Scenario) -> LabSpec {
        LabSpec {
            name: scenario.name.clone(),
            driver: scenario.driver.clone(),
            printers: scenario.printers.clone(),
            sim: scenario.sim.clone(),
            replugs: replugged_roles(&scenario.steps),
        }
    }

    /// A lab for `driver` with no printer roles and no faults: a look at the bus and registry.
    pub fn probe(name: &str, driver: Arc<Driver>) -> LabSpec {
        LabSpec {
            name: name.into(),
            driver,
            printers: Vec::new(),
            sim: SimConfig::default(),
            replugs: Vec::new(),
        }
    }
}

/// The roles `steps` replug, each once, in order.
fn replugged_roles(steps: &[crate::scenario::Step]) -> Vec<String> {
    use crate::scenario::StepKind;
    let mut roles: Vec<String> = Vec::new();
    for step in steps {
        let found = match &step.kind {
            StepKind::Replug { role } => vec![role.clone()],
            StepKind::Fuzz(f) => f.role.iter().cloned().collect(),
            StepKind::Repeat { steps, .. } => replugged_roles(steps),
            _ => Vec::new(),
        };
        for r in found {
            if !roles.contains(&r) {
                roles.push(r);
            }
        }
    }
    roles
}

/// Which lab a run uses (`--lab`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabChoice {
    Sim,
    Macos,
    Replay(PathBuf),
    /// Inside the USB VM (`ci/usb-vm/run.sh`): the real Linux USB stack and emulated printers, with the
    /// registry and user client simulated.
    Vm,
}

impl LabChoice {
    /// `macos` on a Mac, `sim` elsewhere.
    pub fn default_here() -> Self {
        crate::os::default_lab()
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "sim" => Ok(LabChoice::Sim),
            "macos" => Ok(LabChoice::Macos),
            "vm" => Ok(LabChoice::Vm),
            _ => match text.strip_prefix("replay:") {
                Some(dir) if !dir.is_empty() => Ok(LabChoice::Replay(PathBuf::from(dir))),
                _ => Err(format!(
                    "`{text}` is not a lab: use `sim`, `macos`, `vm` or `replay:<dir>`"
                )),
            },
        }
    }
}

/// The `--lab` text that [`LabChoice::parse`] reads back (a child process under `--isolate` gets it so).
impl std::fmt::Display for LabChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabChoice::Sim => f.write_str("sim"),
            LabChoice::Macos => f.write_str("macos"),
            LabChoice::Vm => f.write_str("vm"),
            LabChoice::Replay(dir) => write!(f, "replay:{}", dir.display()),
        }
    }
}

/// Makes the lab a scenario (or a command) runs against, from a [`LabSpec`]. The sim makes a fresh lab per scenario (faults are per scenario);
/// a real lab hands out the same one.
pub trait LabFactory: Send + Sync {
    fn name(&self) -> &'static str;
    /// Take in how a station's printers are replugged ([`crate::station::replug_plan`]): the plan, not the
    /// station file, so a backend knows nothing of stations. Labs with nothing to configure ignore it.
    fn use_replug_plan(&self, _plan: Vec<crate::usb::libusb::ReplugPlan>) {}

    fn lab_for(&self, spec: &LabSpec) -> Result<Arc<dyn Lab>, LabError>;

    /// The lab for attempt `attempt` (1 = first run) of a scenario retried after an infrastructure failure.
    /// Real labs do not care; the sim uses it for faults that hit only the first attempts.
    fn lab_for_attempt(&self, spec: &LabSpec, attempt: u32) -> Result<Arc<dyn Lab>, LabError> {
        let _ = attempt;
        self.lab_for(spec)
    }
}

pub fn factory(choice: &LabChoice) -> Result<Box<dyn LabFactory>, LabError> {
    match choice {
        LabChoice::Sim => Ok(Box::new(sim::SimFactory)),
        LabChoice::Macos => crate::os::macos_factory(),
        LabChoice::Replay(dir) => replay::factory(dir),
        LabChoice::Vm => crate::os::vm_factory(),
    }
}

#[cfg(test)]
mod tests {
    use super::LabChoice;

    #[test]
    fn every_lab_reads_back_from_its_text() {
        for lab in [
            LabChoice::Sim,
            LabChoice::Macos,
            LabChoice::Vm,
            LabChoice::Replay("tests/fixtures/recordings/ds620".into()),
        ] {
            assert_eq!(LabChoice::parse(&lab.to_string()), Ok(lab.clone()), "{lab}");
        }
        assert!(LabChoice::parse("replay:").is_err());
        assert!(
            LabChoice::parse("mac")
                .unwrap_err()
                .contains("`mac` is not a lab")
        );
    }
}
