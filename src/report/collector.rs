//! Sinks that keep events: every one ([`Collector`], for tests), or only an attempt's first failed step
//! ([`FirstFailedStep`], for the runner's failure message, in constant memory); and sinks that fan events
//! out to others.

use super::events::{EventKind, EventSink, Failure, RunEvent, StepOutcome};
use crate::span::Span;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Collector {
    events: Mutex<Vec<RunEvent>>,
}

/// A step that failed, as the events told it.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedStep {
    pub scenario: Arc<str>,
    pub step: Arc<str>,
    pub summary: Arc<str>,
    pub span: Span,
    pub failure: Failure,
}

impl FailedStep {
    /// The failed step an event reports, if it reports one.
    pub fn of(kind: &EventKind) -> Option<FailedStep> {
        match kind {
            EventKind::StepFinished {
                scenario,
                step,
                span,
                summary,
                outcome: StepOutcome::Failed(failure),
                ..
            } => Some(FailedStep {
                scenario: scenario.clone(),
                step: step.clone(),
                summary: summary.clone(),
                span: span.clone(),
                failure: failure.clone(),
            }),
            _ => None,
        }
    }
}

impl Collector {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn events(&self) -> Vec<RunEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every failed step, innermost first within a repeat (the order they finished).
    pub fn failed_steps(&self) -> Vec<FailedStep> {
        self.events()
            .iter()
            .filter_map(|e| FailedStep::of(&e.kind))
            .collect()
    }

    /// Step numbers that started, in order.
    pub fn started_steps(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::StepStarted { step, .. } => Some(step.to_string()),
                _ => None,
            })
            .collect()
    }
}

impl EventSink for Collector {
    fn event(&self, event: &RunEvent) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
    }
}

/// The first step of a run (an attempt of one scenario) that failed, and nothing else: what the runner
/// needs for libtest's failure message, kept in constant memory however many steps pass.
#[derive(Default)]
pub struct FirstFailedStep(Mutex<Option<FailedStep>>);

impl FirstFailedStep {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self) -> Option<FailedStep> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl EventSink for FirstFailedStep {
    fn event(&self, event: &RunEvent) {
        // Cheap for the steps that pass: a look at the outcome, no lock.
        if let Some(failed) = FailedStep::of(&event.kind) {
            let mut first = self.0.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert(failed);
        }
    }
}

/// Two sinks as one.
pub struct Tee<'a>(pub &'a dyn EventSink, pub &'a dyn EventSink);

impl EventSink for Tee<'_> {
    fn event(&self, event: &RunEvent) {
        self.0.event(event);
        self.1.event(event);
    }
    fn events(&self, events: &[RunEvent]) {
        self.0.events(events);
        self.1.events(events);
    }
}

/// Any number of sinks as one, each shared with whoever else needs it (the runner reads the tally).
#[derive(Default)]
pub struct Fanout(pub Vec<std::sync::Arc<dyn EventSink>>);

impl EventSink for Fanout {
    fn event(&self, event: &RunEvent) {
        for sink in &self.0 {
            sink.event(event);
        }
    }
    fn events(&self, events: &[RunEvent]) {
        for sink in &self.0 {
            sink.events(events);
        }
    }
}
