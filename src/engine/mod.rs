//! Runs a scenario's steps against a lab, each under a deadline, emitting events.

pub mod deadline;
