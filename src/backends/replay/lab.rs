//! [`ReplayLab`]: a recording answered read-only. The registry comes from a dump, the USB view from a
//! recorded `usb.json` or, without one, from the dump's `IOUSBHostDevice` entries. Nothing here changes, so
//! waits answer at once and everything that would act on hardware or a live dext says it cannot.

use super::tree::DumpTree;
use super::usb_view::usb_view_from_registry;
use crate::ioreturn::ReturnCode;
use crate::lab::{
    CallArgs, CallOutcome, ConnectionId, EntryId, Lab, LabError, Matching, OpenOutcome,
    OpenRequest, RegEntry, Registry, UsbBus, UsbView, UserClients, WaitError, WaitFor,
};
use std::time::Instant;

/// Where the lab's USB view came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsbSource {
    /// A `usb.json` recorded next to the dump.
    Recorded,
    /// Derived from the dump's `IOUSBHostDevice` / `IOUSBDevice` entries ([`usb_view_from_registry`]).
    FromRegistry,
}

pub struct ReplayLab {
    entries: Vec<RegEntry>,
    usb: Vec<UsbView>,
    usb_source: UsbSource,
}

const NO_LIVE_DEXT: &str = "not available in replay: recordings hold no live dext";

fn read_only(what: &'static str, why: impl Into<String>) -> LabError {
    LabError::Unsupported {
        backend: "replay",
        what,
        why: why.into(),
    }
}

fn is_usb_device(e: &RegEntry) -> bool {
    e.conforms_to("IOUSBHostDevice") || e.conforms_to("IOUSBDevice")
}

impl ReplayLab {
    /// A lab over `tree`; `usb` is the recorded USB view, if there is one.
    pub fn new(tree: &DumpTree, usb: Option<Vec<UsbView>>) -> Self {
        let entries = tree.entries();
        let (usb, usb_source) = match usb {
            Some(v) => (v, UsbSource::Recorded),
            None => {
                let derived = entries
                    .iter()
                    .filter(|e| is_usb_device(e))
                    .map(|d| {
                        let interfaces: Vec<RegEntry> = entries
                            .iter()
                            .filter(|i| {
                                i.parent == Some(d.id) && i.int("bInterfaceNumber").is_some()
                            })
                            .cloned()
                            .collect();
                        usb_view_from_registry(d, &interfaces)
                    })
                    .collect();
                (derived, UsbSource::FromRegistry)
            }
        };
        ReplayLab {
            entries,
            usb,
            usb_source,
        }
    }

    pub fn usb_source(&self) -> UsbSource {
        self.usb_source
    }

    /// Every entry of the recording, depth first.
    pub fn entries(&self) -> &[RegEntry] {
        &self.entries
    }
}

impl UsbBus for ReplayLab {
    fn devices(&self) -> Result<Vec<UsbView>, LabError> {
        Ok(self.usb.clone())
    }

    fn replug(&self, device: &UsbView) -> Result<(), LabError> {
        Err(read_only(
            "replug",
            format!("replay is read-only: {} is a recording", device.label()),
        ))
    }

    /// Answers from the recording at once (it never changes): the device if it is there and presence was
    /// asked, `None` if it is absent and absence was asked, else an error saying the recording differs.
    fn wait_usb(
        &self,
        pred: &(dyn Fn(&UsbView) -> bool + Sync),
        present: bool,
        _deadline: Instant,
    ) -> Result<Option<UsbView>, WaitError> {
        let found = self.usb.iter().find(|d| pred(d));
        match (present, found) {
            (true, Some(d)) => Ok(Some(d.clone())),
            (false, None) => Ok(None),
            (true, None) => Err(read_only(
                "wait for a USB device",
                "the recording has no such device, and a recording never changes, so waiting cannot make it arrive",
            )
            .into()),
            (false, Some(d)) => Err(read_only(
                "wait for a USB device to leave",
                format!(
                    "the recording has {} and a recording never changes, so it cannot depart",
                    d.label()
                ),
            )
            .into()),
        }
    }
}

impl Registry for ReplayLab {
    fn find(&self, matching: &Matching) -> Result<Vec<RegEntry>, LabError> {
        Ok(self
            .entries
            .iter()
            .filter(|e| matching.matches(e))
            .cloned()
            .collect())
    }

    fn entry(&self, id: EntryId) -> Result<RegEntry, LabError> {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .cloned()
            .ok_or(LabError::NoEntry(id))
    }

    fn children(&self, id: EntryId) -> Result<Vec<RegEntry>, LabError> {
        self.entry(id)?;
        Ok(self
            .entries
            .iter()
            .filter(|e| e.parent == Some(id))
            .cloned()
            .collect())
    }

    /// Answers from the recording at once, without waiting for the deadline: a replay never changes, so a
    /// wait that the recording does not already satisfy can never be satisfied. That answer is a
    /// `LabError::Unsupported` saying the recording has no such entry (or still has it), rather than a
    /// bare `WaitError::TimedOut`, which carries only a duration and would read "nothing happened within
    /// 0ns" without the reason.
    fn wait(
        &self,
        matching: &Matching,
        what: WaitFor,
        _deadline: Instant,
    ) -> Result<Option<RegEntry>, WaitError> {
        let first = self
            .entries
            .iter()
            .find(|e| e.registered && matching.matches(e));
        match (what, first) {
            (WaitFor::Matched, Some(e)) => Ok(Some(e.clone())),
            (WaitFor::Gone, None) => Ok(None),
            (WaitFor::Matched, None) => Err(read_only(
                "wait for a first match",
                format!(
                    "the recording has no registered entry matching {}; a recording never changes, so waiting cannot make one appear",
                    describe(matching)
                ),
            )
            .into()),
            (WaitFor::Gone, Some(e)) => Err(read_only(
                "wait for a termination",
                format!(
                    "the recording still has {} ({}, id 0x{:X}); a recording never changes, so it cannot go",
                    e.path, e.class, e.id
                ),
            )
            .into()),
        }
    }
}

/// `class IOUserService, name DNPPrinterDriver, idVendor = Int(5202)` for messages.
fn describe(m: &Matching) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &m.class {
        parts.push(format!("class {c}"));
    }
    if let Some(n) = &m.name {
        parts.push(format!("name {n}"));
    }
    if let Some(id) = m.id {
        parts.push(format!("id 0x{id:X}"));
    }
    if let Some(p) = m.parent {
        parts.push(format!("parent 0x{p:X}"));
    }
    for (k, v) in &m.properties {
        parts.push(format!("{k} = {v:?}"));
    }
    if parts.is_empty() {
        "anything".into()
    } else {
        parts.join(", ")
    }
}

impl UserClients for ReplayLab {
    fn open(&self, _request: &OpenRequest) -> Result<OpenOutcome, LabError> {
        Err(read_only("open a user client", NO_LIVE_DEXT))
    }

    fn call(&self, _connection: ConnectionId, _args: &CallArgs) -> Result<CallOutcome, LabError> {
        Err(read_only("call a user client", NO_LIVE_DEXT))
    }

    fn close(&self, _connection: ConnectionId) -> Result<ReturnCode, LabError> {
        Err(read_only("close a user client", NO_LIVE_DEXT))
    }

    fn open_count(&self) -> usize {
        0
    }
}

impl Lab for ReplayLab {
    fn name(&self) -> &'static str {
        "replay"
    }
}
