//! The `vm` lab: inside the throw-away QEMU guest of `ci/usb-vm/run.sh`, where the printers are Linux USB
//! gadgets (configfs, `dummy_hcd`) whose firmware is [`crate::printer::emulator`].
//!
//! Real: the Linux USB host stack, libusb (enumeration, strings, 1284 ids, hotplug), replug by UDC
//! unbind / bind. Simulated: the IORegistry and the dext's user client (the sim lab's, with its printers
//! sitting where the real ones are). Files: `gadgets` (configfs), `bus` (the real half), `lab` (both),
//! `seating` (the sim's printers put where the real ones are; shared with the darwin double's factory).

mod bus;
pub mod gadgets;
mod lab;

pub use crate::backends::sim::seating::{seated_sim, seats_of};
pub use bus::{OFF_TIME, VmBus};
pub use lab::{VmFactory, VmLab};
