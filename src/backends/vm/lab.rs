//! [`VmLab`]: the real half ([`VmBus`]: libusb, hotplug, UDC replug) beside a sim lab whose printers sit
//! where the VM's are, for the registry and the user client. A replug unplugs the real gadget and, at the
//! same moment, the sim's printer, so the simulated registry and dext follow the real bus.

use super::VmBus;
use crate::backends::LabFactory;
use crate::backends::sim::{SimLab, station::Seat};
use crate::lab::{Lab, LabError, UsbBus, UsbView, WaitError};
use crate::printer::catalog;
use crate::scenario::Scenario;
use std::sync::Arc;
use std::time::Instant;

pub struct VmFactory;

impl LabFactory for VmFactory {
    fn name(&self) -> &'static str {
        "vm"
    }
    fn lab_for(&self, spec: &crate::backends::LabSpec) -> Result<Arc<dyn Lab>, LabError> {
        Ok(Arc::new(VmLab::for_spec(spec)?))
    }
}

pub struct VmLab {
    bus: VmBus,
    sim: SimLab,
}

/// Where the sim's printers go: one per catalog printer on the real bus, at its real bus and port path.
pub fn seats_of(views: &[UsbView]) -> Vec<Seat> {
    views
        .iter()
        .filter_map(|v| {
            Some(Seat {
                model: catalog::by_ids(v.vendor_id, v.product_id)?,
                bus: v.bus,
                port_path: v.port_path.clone(),
            })
        })
        .collect()
}

impl VmLab {
    pub fn for_scenario(scenario: &Scenario) -> Result<VmLab, LabError> {
        Self::for_spec(&crate::backends::LabSpec::of(scenario))
    }

    pub fn for_spec(spec: &crate::backends::LabSpec) -> Result<VmLab, LabError> {
        let bus = VmBus::new()?;
        let real = bus.devices()?;
        let sim = SimLab::for_spec(spec, 1, seats_of(&real))?;
        for v in &real {
            sim.mirror_address(v);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::sim::station;

    #[test]
    fn the_sims_printers_sit_where_the_real_ones_are_and_strangers_are_left_out() {
        let seat = station::seats()
            .into_iter()
            .find(|s| s.model.name == "CX-02")
            .unwrap();
        let mut real = station::usb_view(&seat, 2);
        real.bus = 2;
        real.port_path = vec![1];
        let mut stranger = real.clone();
        stranger.vendor_id = 0x1d6b;
        let seats = seats_of(&[real, stranger]);
        assert_eq!(seats.len(), 1);
        assert_eq!((seats[0].model.name, seats[0].bus), ("CX-02", 2));
        assert_eq!(seats[0].port_path, vec![1]);
    }
}
