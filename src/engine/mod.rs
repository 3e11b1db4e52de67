//! Runs a scenario's steps against a lab, each under a deadline, emitting events.
//!
//! The engine knows the [`Lab`](crate::lab::Lab) traits, not which backend is behind them, and emits
//! [`RunEvent`](crate::report::RunEvent)s without knowing who listens. A scenario's steps run on a thread of
//! its own, each lab operation with its deadline armed in the watchdog of the lab-operation layer
//! ([`crate::ops`]), so a hung user-client call fails its step instead of the run, without a thread hop per
//! call.

mod expect;
mod failure;
mod logs;
mod run;
mod steps;
mod summary;

#[cfg(test)]
mod tests;

pub use expect::{HexDiff, hex_diff};
pub use logs::CRASH_REPORT_WAIT;
// The lab-operation layer, under the names other modules knew it by.
pub use crate::ops::stop::{self, Stop};
pub use crate::ops::{CLEANUP_WAIT, WAIT_GRACE, deadline, service};
pub use run::{ScenarioEnd, run_scenario, run_scenario_until};
pub use summary::summary;
