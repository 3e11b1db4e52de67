//! The real lab on a Mac: the IORegistry, notifications and user clients through IOKit (io-kit-sys,
//! core-foundation), and the libusb view of the bus. A thin FFI layer: every decision that can be made
//! without a Mac lives in `backends::iokit` and `usb`, tested everywhere.
//!
//! Compiled only on macOS; the gate is in `backends/mod.rs`.

mod logs;
mod object;
mod props;
mod registry;
mod userclient;
mod watch;

pub use registry::IoRegistry;
pub use userclient::IoUserClients;

use super::LabFactory;
use crate::lab::{Lab, LabError};
use crate::usb::libusb::LibusbBus;
use std::sync::Arc;

/// The whole real lab: one per process, shared by every scenario.
pub struct MacosLab {
    pub usb: LibusbBus,
    pub registry: IoRegistry,
    pub clients: IoUserClients,
}

impl MacosLab {
    pub fn new() -> Result<Self, LabError> {
        Ok(MacosLab {
            usb: LibusbBus::new()?,
            registry: IoRegistry,
            clients: IoUserClients::default(),
        })
    }
}

crate::forward_usb_bus!(MacosLab, usb);
crate::forward_registry!(MacosLab, registry);
crate::forward_user_clients!(MacosLab, clients);

impl Lab for MacosLab {
    fn name(&self) -> &'static str {
        "macos"
    }
}

/// Hands out the one real lab to every scenario.
pub struct MacosFactory {
    lab: Arc<MacosLab>,
    logs: logs::LogStreams,
}

impl LabFactory for MacosFactory {
    fn name(&self) -> &'static str {
        "macos"
    }
    fn use_station(&self, station: &crate::station::Station) {
        self.lab
            .usb
            .set_replug_plan(crate::station::replug_plan(station));
    }
    fn lab_for(&self, spec: &crate::backends::LabSpec) -> Result<Arc<dyn Lab>, LabError> {
        Ok(Arc::new(logs::LoggedLab {
            lab: self.lab.clone(),
            log: self.logs.for_driver(&spec.driver),
        }))
    }
}

pub fn factory() -> Result<Box<dyn LabFactory>, LabError> {
    Ok(Box::new(MacosFactory {
        lab: Arc::new(MacosLab::new()?),
        logs: logs::LogStreams::default(),
    }))
}
