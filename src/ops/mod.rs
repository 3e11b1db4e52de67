//! The one layer of lab operations that scenario steps, the fuzzer, the station health check and `record`
//! share: finding the dext's objects ([`service`]), one "same printer" rule ([`printer`]), replug-and-wait
//! and the USB waits ([`usb`]), and the one deadline mechanism every operation that can block is armed
//! under ([`deadline`]: a watchdog, no thread hop per operation).
//!
//! Knows the [`Lab`](crate::lab::Lab) traits and the driver file; nothing of scenarios, events or reports,
//! so the engine and the fuzzer both build on it without importing each other.

pub mod deadline;
pub mod printer;
pub mod service;
pub mod stop;
pub mod usb;

use std::time::Duration;

/// Waits that take a deadline themselves may answer a little after it; past this the backend hung.
pub const WAIT_GRACE: Duration = Duration::from_millis(250);

/// How long closing a leftover connection may take (at the end of a scenario, of a fuzz case).
pub const CLEANUP_WAIT: Duration = Duration::from_secs(1);

pub use deadline::{DeadlineError, Watchdog, armed};
pub use printer::same_printer;
pub use stop::Stop;
