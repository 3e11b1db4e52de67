//! The real lab on a Mac: the IORegistry, notifications and user clients through IOKit (io-kit-sys,
//! core-foundation), and the libusb view of the bus. A thin FFI layer: every decision that can be made
//! without a Mac lives in `backends::iokit` and `usb`, tested everywhere.
//!
//! Compiled on macOS, and on Linux against the darwin double (`--features darwin-double`); the gate is in
//! `backends/mod.rs`. IOKit and Mach declarations come through `sys` only.

mod completions;
#[cfg(all(test, feature = "darwin-double", not(target_os = "macos")))]
mod double_tests;
mod logs;
mod object;
mod props;
mod registry;
pub mod sys;
mod userclient;
mod watch;

pub use registry::{IoRegistry, object_get_class};
pub use userclient::IoUserClients;

use super::LabFactory;
use crate::lab::{Lab, LabError};
use crate::usb::libusb::LibusbBus;
use std::sync::Arc;

/// The libusb view of the bus: libusb itself, or (under the darwin double, on a machine where libusb cannot
/// start) no bus at all, with the reason. The double never fakes a USB device.
pub enum UsbSide {
    Libusb(Box<LibusbBus>),
    Absent(String),
}

impl UsbSide {
    /// libusb's own port numbers for a device (what `selftest` compares with `locationID`); `None` without
    /// a bus.
    pub fn libusb_port_numbers(&self, bus: u8, address: u8) -> Option<Vec<u8>> {
        match self {
            UsbSide::Libusb(b) => b.libusb_port_numbers(bus, address),
            UsbSide::Absent(_) => None,
        }
    }

    pub fn set_replug_plan(&self, plan: Vec<crate::usb::libusb::ReplugPlan>) {
        match self {
            UsbSide::Libusb(bus) => bus.set_replug_plan(plan),
            UsbSide::Absent(_) => {}
        }
    }
}

impl crate::lab::UsbBus for UsbSide {
    fn devices(&self) -> Result<Vec<crate::lab::UsbView>, LabError> {
        match self {
            UsbSide::Libusb(bus) => bus.devices(),
            UsbSide::Absent(_) => Ok(Vec::new()),
        }
    }
    fn replug(&self, device: &crate::lab::UsbView) -> Result<(), LabError> {
        match self {
            UsbSide::Libusb(bus) => bus.replug(device),
            UsbSide::Absent(why) => Err(LabError::Unsupported {
                backend: "macos",
                what: "replug",
                why: why.clone(),
            }),
        }
    }
    fn wait_usb(
        &self,
        pred: &(dyn Fn(&crate::lab::UsbView) -> bool + Sync),
        present: bool,
        deadline: std::time::Instant,
    ) -> Result<Option<crate::lab::UsbView>, crate::lab::WaitError> {
        match self {
            UsbSide::Libusb(bus) => bus.wait_usb(pred, present, deadline),
            UsbSide::Absent(_) if !present => Ok(None),
            UsbSide::Absent(why) => Err(LabError::Unsupported {
                backend: "macos",
                what: "wait for a USB device",
                why: why.clone(),
            }
            .into()),
        }
    }
}

/// The whole real lab: one per process, shared by every scenario.
pub struct MacosLab {
    pub usb: UsbSide,
    pub registry: IoRegistry,
    pub clients: IoUserClients,
}

impl MacosLab {
    pub fn new() -> Result<Self, LabError> {
        Ok(Self::with_usb(UsbSide::Libusb(Box::new(LibusbBus::new()?))))
    }

    /// libusb's port numbers and reset departures are wrong on macOS; the registry corrects both.
    pub fn with_usb(usb: UsbSide) -> Self {
        let usb = match usb {
            UsbSide::Libusb(bus) => {
                UsbSide::Libusb(Box::new(bus.with_registry(Arc::new(IoRegistry))))
            }
            absent => absent,
        };
        MacosLab {
            usb,
            registry: IoRegistry,
            clients: IoUserClients::default(),
        }
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
    fn use_replug_plan(&self, plan: Vec<crate::usb::libusb::ReplugPlan>) {
        self.lab.usb.set_replug_plan(plan);
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
