//! The user-client fuzzer (docs/fuzz.md): proptest generates cases from the driver file, a reference model
//! keeps open / call / close / replug / await sequences legal, every operation is journaled before it runs
//! and checked against the invariants after, and the run keeps going after a finding: each distinct finding
//! shrinks to a minimal case written out as a scenario that reproduces it.
//!
//! Files: `case` (what a call may answer), `shapes` (call strategies), `model` (the reference model),
//! `exec` (running operations through the lab-operation layer, the invariants), `coverage` (what the calls
//! covered), `runner` (the loop), `write` (a finding as a scenario), `console` (the output, from events),
//! `journal` (a fuzz journal read back). Knows the lab traits, the lab-operation layer and the event types;
//! not the engine, not a backend, not the commands (`dexthil fuzz` is `runner::fuzz_cli`).

mod case;
pub mod console;
mod coverage;
mod exec;
pub mod journal;
pub mod model;
mod runner;
mod shapes;
pub mod write;

pub use crate::scenario::Durability;
pub use case::{Allowed, FuzzCall, FuzzOp, Miss, Shape, allowed};
pub use coverage::table as coverage_table;
pub use exec::{Finding, MATCH_WAIT, Target};
pub use runner::{
    Ended, Found, FuzzError, FuzzOptions, FuzzOutcome, WriteFindings, fresh_seed, fuzz,
};
