//! USB operations on a printer: wait for it to be on (or off) the bus, and replug it and wait for the same
//! printer (by [`same_printer`]) to leave and come back, wherever it comes back.

use super::printer::same_printer;
use crate::lab::{LabError, UsbBus, UsbView, WaitError};
use std::time::{Duration, Instant};
use thiserror::Error;

/// A replug that went round: the printer before and after, and how long it took to leave and come back.
#[derive(Clone, Debug)]
pub struct Replugged {
    pub before: UsbView,
    pub after: UsbView,
    pub left: Duration,
    pub back: Duration,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ReplugError {
    #[error("{0} did not leave the bus after the replug")]
    DidNotLeave(String),
    #[error("{0} did not come back after the replug")]
    DidNotComeBack(String),
    #[error(transparent)]
    Lab(#[from] LabError),
}

/// The first device `pred` accepts once it is on the bus, up to `until`.
pub fn wait_present(
    bus: &(impl UsbBus + ?Sized),
    pred: &(dyn Fn(&UsbView) -> bool + Send + Sync),
    until: Instant,
) -> Result<UsbView, WaitError> {
    bus.wait_usb(&|v: &UsbView| pred(v), true, until)?
        .ok_or(WaitError::TimedOut(Duration::ZERO))
}

/// Until no device `pred` accepts is on the bus, up to `until`.
pub fn wait_absent(
    bus: &(impl UsbBus + ?Sized),
    pred: &(dyn Fn(&UsbView) -> bool + Send + Sync),
    until: Instant,
) -> Result<(), WaitError> {
    bus.wait_usb(&|v: &UsbView| pred(v), false, until)
        .map(|_| ())
}

/// Replug `before` and wait, up to `until`, for it to leave and for the same printer to come back.
pub fn replug_and_wait(
    bus: &(impl UsbBus + ?Sized),
    before: &UsbView,
    until: Instant,
) -> Result<Replugged, ReplugError> {
    let t0 = Instant::now();
    bus.replug(before)?;
    let same = same_printer(before);
    let lab_or = |e: WaitError, timed_out: ReplugError| match e {
        WaitError::TimedOut(_) => timed_out,
        WaitError::Lab(e) => ReplugError::Lab(e),
    };
    wait_absent(bus, &same, until)
        .map_err(|e| lab_or(e, ReplugError::DidNotLeave(before.label())))?;
    let left = t0.elapsed();
    let after = wait_present(bus, &same, until)
        .map_err(|e| lab_or(e, ReplugError::DidNotComeBack(before.label())))?;
    Ok(Replugged {
        before: before.clone(),
        after,
        left,
        back: t0.elapsed(),
    })
}
