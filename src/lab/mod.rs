//! The lab boundary: everything that touches hardware sits behind [`UsbBus`], [`Registry`] and
//! [`UserClients`]. The engine sees only these traits; backends (`sim`, `macos`, `replay`) implement them.
//!
//! This module owns the traits and the value types that cross them. It knows no backend.

mod forward;
mod registry;
mod usb;
mod userclient;

pub use registry::{EntryId, Matching, Prop, RegEntry, WaitFor};
pub use usb::{
    ConfigView, EndpointView, InterfaceView, Readable, Speed, UsbView, bus_text, port_path_text,
};
pub use userclient::{CallArgs, CallOutcome, ConnectionId, OpenOutcome, OpenRequest, OpenTarget};

use std::time::{Duration, Instant};
use thiserror::Error;

/// A failure of the lab itself (not of the driver under test): the printer is missing, the backend cannot
/// do what was asked. These make a run exit 2.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LabError {
    #[error("no printer matches role `{role}`: {detail}")]
    NoPrinter { role: String, detail: String },
    #[error("the `{backend}` lab cannot {what}: {why}")]
    Unsupported {
        backend: &'static str,
        what: &'static str,
        why: String,
    },
    #[error("registry entry 0x{0:X} is gone")]
    NoEntry(u64),
    #[error("connection #{0} is not open")]
    NotOpen(ConnectionId),
    #[error("{0}")]
    Other(String),
}

/// A wait ended without the event it waited for.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WaitError {
    #[error("nothing happened within {0:?}")]
    TimedOut(Duration),
    #[error(transparent)]
    Lab(#[from] LabError),
}

/// How a printer is identified in the USB view (what a role resolves to).
pub type DeviceKey = String;

/// The libusb view of the bus.
pub trait UsbBus: Send + Sync {
    /// Every device on the bus now.
    fn devices(&self) -> Result<Vec<UsbView>, LabError>;

    /// Power-cycle or reset the device, so that it departs and comes back. Returns once the departure has
    /// been requested; use [`UsbBus::wait_usb`] to see it leave and come back.
    fn replug(&self, device: &UsbView) -> Result<(), LabError>;

    /// Wait until a device matching `pred` is present (`present = true`) or absent, up to `deadline`.
    fn wait_usb(
        &self,
        pred: &(dyn Fn(&UsbView) -> bool + Sync),
        present: bool,
        deadline: Instant,
    ) -> Result<Option<UsbView>, WaitError>;
}

/// The IORegistry.
pub trait Registry: Send + Sync {
    /// Every entry that the matching selects, in registry order.
    fn find(&self, matching: &Matching) -> Result<Vec<RegEntry>, LabError>;

    /// One entry by registry id.
    fn entry(&self, id: EntryId) -> Result<RegEntry, LabError>;

    /// Whether the entry is still registered (the fuzzer asks after every case). The default reads the
    /// entry; a backend that can answer without copying its properties says so.
    fn is_registered(&self, id: EntryId) -> bool {
        self.entry(id).is_ok()
    }

    /// The children of an entry, in registry order.
    fn children(&self, id: EntryId) -> Result<Vec<RegEntry>, LabError>;

    /// Wait for the first entry matching `matching` to be registered (first-match notification) or for all
    /// of them to be terminated, up to `deadline`. Returns the matched entry, or `None` for termination.
    fn wait(
        &self,
        matching: &Matching,
        what: WaitFor,
        deadline: Instant,
    ) -> Result<Option<RegEntry>, WaitError>;
}

/// Opening, calling and closing user clients (`IOServiceOpen`, `IOConnectCallMethod`, `IOServiceClose`).
pub trait UserClients: Send + Sync {
    fn open(&self, request: &OpenRequest) -> Result<OpenOutcome, LabError>;

    /// May block for as long as the user client takes (or forever, if it hangs): the engine arms the deadline.
    fn call(&self, connection: ConnectionId, args: &CallArgs) -> Result<CallOutcome, LabError>;

    fn close(&self, connection: ConnectionId) -> Result<crate::ioreturn::ReturnCode, LabError>;

    /// How many user clients of the dext are open right now (for the fuzzer's and the engine's leak checks).
    fn open_count(&self) -> usize;
}

/// A whole lab: the three traits together, plus its name for reports.
pub trait Lab: UsbBus + Registry + UserClients {
    fn name(&self) -> &'static str;

    /// The printer's firmware version (`INFO FVER` over ESC P), for a run's provenance; `None` when the lab
    /// cannot ask (the default: asking real hardware means claiming the interface from the dext).
    fn printer_firmware(&self, _printer: &UsbView) -> Option<String> {
        None
    }

    /// What the kernel and the dext log while the lab works, and the dext's crash reports, when this lab
    /// can capture them (an optional capability: a lab that cannot answers `None`).
    fn logs(&self) -> Option<&dyn crate::logs::LogCapture> {
        None
    }
}
