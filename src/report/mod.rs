//! Turning run events into output: the event types and the sinks that show them (console for people,
//! [`Collector`] for tests, [`FirstFailedStep`] for the runner's failure messages, the JSONL [`journal`],
//! [`junit`] from a
//! [`tally`] of the events, and a [`progress`] bar).

mod collector;
pub mod compare;
mod console;
mod duration;
pub mod events;
pub mod fuzz_op;
pub mod html;
pub mod journal;
pub mod json_events;
pub mod junit;
pub mod latency;
pub mod open_out;
pub mod progress;
pub mod provenance;
mod syncer;
pub mod tally;
pub mod utc;

pub use collector::{Collector, FailedStep, Fanout, FirstFailedStep, Tee};
pub use console::{Console, Detail, failure_lines};
pub use duration::human_duration;
pub use events::{
    EventKind, EventSink, Failure, FailureClass, NothingToRun, RunEvent, StepOutcome, Verdict,
};
