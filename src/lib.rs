//! dexthil: hardware-in-the-loop tests for macOS DriverKit extensions that drive USB photo printers.
//!
//! The flow is one-directional: `scenario` loads YAML into validated types; `engine` runs their steps against
//! a [`lab::Lab`] chosen by `backends`; the engine emits `report` events to sinks. Pure logic (dispatch
//! checks, locationID encoding, cross-check rules, return-code decoding) lives outside the backends so it is
//! tested on every machine.
//!
//! Modules import one way, lower to higher never (tests/architecture.rs fails on a cycle, naming a file and
//! line per edge). From the bottom: `span`, `names`, `input`, `ioreturn`, `decode`, `logs`; `lab` (the traits
//! and the values that cross them); `printer`, `usb`, `driver`, `dispatch`; `crosscheck`, `scenario`;
//! `backends`; `report` (events and sinks); `ops` (lab operations); `fuzz`, `engine`; `station`, `selftest`,
//! `record`; `os`; `runner` (the commands), `doctor`, `inspect`. Two calls go down-to-up on purpose:
//! `backends` and `record` ask `os`, the one place `cfg(target_os)` lives, for the platform's backends and
//! live recorder. `testkit` (`cfg(test)`) sits above everything so any module's tests can use it.

pub mod backends;
pub mod crosscheck;
pub mod decode;
pub mod dispatch;
pub mod doctor;
pub mod driver;
pub mod engine;
pub mod fuzz;
pub mod input;
pub mod inspect;
pub mod ioreturn;
pub mod lab;
pub mod logs;
pub mod names;
pub mod ops;
pub mod os;
pub mod printer;
pub mod record;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod selftest;
pub mod span;
pub mod station;
#[cfg(test)]
pub(crate) mod testkit;
pub mod usb;
