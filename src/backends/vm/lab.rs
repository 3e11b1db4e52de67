//! [`VmLab`]: the real half ([`VmBus`]: libusb, hotplug, UDC replug) beside a sim lab whose printers sit
//! where the VM's are, for the registry and the user client. A replug unplugs the real gadget and, at the
//! same moment, the sim's printer, so the simulated registry and dext follow the real bus.

use super::VmBus;
use crate::backends::sim::SimLab;
use crate::backends::sim::seating::seated_sim;
use crate::backends::{LabFactory, LabSpec};
use crate::lab::{Lab, LabError, UsbBus, UsbView, WaitError};
use crate::scenario::Scenario;
use std::sync::Arc;
use std::time::Instant;

pub struct VmFactory;

impl LabFactory for VmFactory {
    fn name(&self) -> &'static str {
        "vm"
    }
    fn lab_for(&self, spec: &LabSpec) -> Result<Arc<dyn Lab>, LabError> {
        self.lab_for_attempt(spec, 1)
    }
    fn lab_for_attempt(&self, spec: &LabSpec, attempt: u32) -> Result<Arc<dyn Lab>, LabError> {
        Ok(Arc::new(VmLab::for_spec(spec, attempt)?))
    }
}

pub struct VmLab {
    bus: VmBus,
    sim: SimLab,
}

impl VmLab {
    pub fn for_scenario(scenario: &Scenario) -> Result<VmLab, LabError> {
        Self::for_spec(&LabSpec::of(scenario), 1)
    }

    /// Attempt `attempt` (1-based) of what `spec` describes: the sim's `open_lab_error` faults past their
    /// `attempts` are left out, as in the sim lab.
    pub fn for_spec(spec: &LabSpec, attempt: u32) -> Result<VmLab, LabError> {
        let bus = VmBus::new()?;
        let real = bus.devices()?;
        let sim = seated_sim(spec, attempt, &real)?;
        Ok(VmLab { bus, sim })
    }
}

impl UsbBus for VmLab {
    fn devices(&self) -> Result<Vec<UsbView>, LabError> {
        self.bus.devices()
    }

    fn replug(&self, device: &UsbView) -> Result<(), LabError> {
        self.bus.replug(device)?;
        let mirrored = self
            .sim
            .devices()?
            .into_iter()
            .find(|v| v.bus == device.bus && v.port_path == device.port_path);
        match mirrored {
            Some(v) => self.sim.replug(&v),
            None => Err(LabError::Other(format!(
                "the simulated registry has no printer at {}",
                device.label()
            ))),
        }
    }

    fn wait_usb(
        &self,
        pred: &(dyn Fn(&UsbView) -> bool + Sync),
        present: bool,
        deadline: Instant,
    ) -> Result<Option<UsbView>, WaitError> {
        let seen = self.bus.wait_usb(pred, present, deadline)?;
        // A real re-enumeration gave the printer a new address: the simulated registry follows it, so
        // cross_check compares the real bus with a registry that saw the same enumeration.
        if let Some(v) = &seen {
            self.sim.mirror_address(v);
        }
        Ok(seen)
    }
}

// The registry and the user client are the sim's (module docs).
crate::forward_registry!(VmLab, sim);
crate::forward_user_clients!(VmLab, sim);

impl Lab for VmLab {
    fn name(&self) -> &'static str {
        "vm"
    }
}
