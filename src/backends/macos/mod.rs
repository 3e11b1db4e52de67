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
use crate::lab::{
    CallArgs, CallOutcome, ConnectionId, EntryId, Lab, LabError, Matching, OpenOutcome,
    OpenRequest, RegEntry, Registry, UsbBus, UsbView, UserClients, WaitError, WaitFor,
};
use crate::scenario::Scenario;
use crate::usb::libusb::LibusbBus;
use std::sync::Arc;
use std::time::Instant;

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

impl UsbBus for MacosLab {
    fn devices(&self) -> Result<Vec<UsbView>, LabError> {
        self.usb.devices()
    }
    fn replug(&self, device: &UsbView) -> Result<(), LabError> {
        self.usb.replug(device)
    }
    fn wait_usb(
        &self,
        pred: &(dyn Fn(&UsbView) -> bool + Sync),
        present: bool,
        deadline: Instant,
    ) -> Result<Option<UsbView>, WaitError> {
        self.usb.wait_usb(pred, present, deadline)
    }
}

impl Registry for MacosLab {
    fn find(&self, matching: &Matching) -> Result<Vec<RegEntry>, LabError> {
        self.registry.find(matching)
    }
    fn entry(&self, id: EntryId) -> Result<RegEntry, LabError> {
        self.registry.entry(id)
    }
    fn children(&self, id: EntryId) -> Result<Vec<RegEntry>, LabError> {
        self.registry.children(id)
    }
    fn wait(
        &self,
        matching: &Matching,
        what: WaitFor,
        deadline: Instant,
    ) -> Result<Option<RegEntry>, WaitError> {
        self.registry.wait(matching, what, deadline)
    }
}

impl UserClients for MacosLab {
    fn open(&self, request: &OpenRequest) -> Result<OpenOutcome, LabError> {
        self.clients.open(request)
    }
    fn call(&self, connection: ConnectionId, args: &CallArgs) -> Result<CallOutcome, LabError> {
        self.clients.call(connection, args)
    }
    fn close(&self, connection: ConnectionId) -> Result<crate::ioreturn::ReturnCode, LabError> {
        self.clients.close(connection)
    }
    fn open_count(&self) -> usize {
        self.clients.open_count()
    }
}

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
    fn lab_for(&self, scenario: &Scenario) -> Result<Arc<dyn Lab>, LabError> {
        Ok(Arc::new(logs::LoggedLab {
            lab: self.lab.clone(),
            log: self.logs.for_driver(&scenario.driver),
        }))
    }
}

pub fn factory() -> Result<Box<dyn LabFactory>, LabError> {
    Ok(Box::new(MacosFactory {
        lab: Arc::new(MacosLab::new()?),
        logs: logs::LogStreams::default(),
    }))
}
