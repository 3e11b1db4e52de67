//! Test hooks on the sim (probe-rs's `FakeProbe` habit: the sim is the one public fake). A test that
//! needs a call to answer exactly so (scalars and struct included) or the backend to panic plants it here,
//! from Rust; scenario files use `sim:` faults instead. Hooks fire only on calls that passed dispatch, like
//! faults, and record the selectors they saw.

use crate::lab::CallOutcome;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

#[derive(Default)]
pub struct TestHooks {
    state: Mutex<Hooks>,
}

#[derive(Default)]
struct Hooks {
    answers: HashMap<u32, CallOutcome>,
    panics: BTreeSet<u32>,
    /// Selectors of the calls that reached the dext, in order (kept only once a hook is planted).
    calls: Vec<u32>,
    planted: bool,
}

/// What a hook makes of a call.
pub enum Hooked {
    Answer(CallOutcome),
    Panic,
}

impl TestHooks {
    fn lock(&self) -> std::sync::MutexGuard<'_, Hooks> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn answer(&self, selector: u32, outcome: CallOutcome) {
        let mut h = self.lock();
        h.planted = true;
        h.answers.insert(selector, outcome);
    }

    pub fn panic_on(&self, selector: u32) {
        let mut h = self.lock();
        h.planted = true;
        h.panics.insert(selector);
    }

    /// Note a call that reached the dext; what a hook makes of it, if any.
    pub fn on_call(&self, selector: u32) -> Option<Hooked> {
        let mut h = self.lock();
        if !h.planted {
            return None;
        }
        h.calls.push(selector);
        if h.panics.contains(&selector) {
            return Some(Hooked::Panic);
        }
        h.answers.get(&selector).cloned().map(Hooked::Answer)
    }

    pub fn record_calls(&self) {
        self.lock().planted = true;
    }

    pub fn calls(&self) -> Vec<u32> {
        self.lock().calls.clone()
    }
}
