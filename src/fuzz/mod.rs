//! The user-client fuzzer (issue 5, docs/fuzz.md): proptest generates cases from the driver file, a
//! reference model keeps open / call / close / replug / await sequences legal, every operation is
//! journaled before it runs and checked against the invariants after, and a failure shrinks to a minimal
//! case written out as a scenario that reproduces it.
//!
//! Files: `case` (what an operation is, what a call may answer), `shapes` (call strategies), `model` (the
//! reference model), `exec` (running operations on a lab, the invariants), `runner` (the proptest loop),
//! `write` (a finding as a scenario), `cli` (a lab and target for `dexthil fuzz`). Knows the lab traits
//! and the engine's deadline worker; no backend.

mod case;
pub mod cli;
mod exec;
mod model;
mod runner;
mod shapes;
pub mod write;

pub use case::{Allowed, FuzzCall, FuzzOp, Miss, Shape, allowed};
pub use exec::{Finding, MATCH_WAIT, Target};
pub use runner::{
    Durability, Found, FuzzError, FuzzOptions, FuzzOutcome, finished_events, fresh_seed, fuzz,
};
