//! Turning run events into output: the event types and the sinks that show them (console for people,
//! [`Collector`] for tests and the runner's failure messages).

mod collector;
mod console;
mod duration;
pub mod events;

pub use collector::{Collector, FailedStep, Tee};
pub use console::{Console, failure_lines};
pub use duration::human_duration;
pub use events::{EventKind, EventSink, Failure, FailureClass, RunEvent, StepOutcome, Verdict};
