//! Turning run events into output: the event types and the sinks that show them.

pub mod events;

pub use events::{EventKind, EventSink, Failure, FailureClass, RunEvent, StepOutcome, Verdict};
