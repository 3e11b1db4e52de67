//! Turning run events into output: the event types and the sinks that show them.

mod duration;
pub mod events;

pub use duration::human_duration;
pub use events::{EventKind, EventSink, Failure, FailureClass, RunEvent, StepOutcome, Verdict};
