//! The reference model of a fuzz case: what a sequence of intents becomes once each passes its
//! precondition. One connection at a time: open when none is open, call and close while one is, a call on
//! a closed handle only after a close, replug and await only while nothing is open. Shrinking removes or
//! simplifies intents; [`resolve`] re-applies the preconditions, so every shrunk case is a legal sequence.

use super::case::{FuzzCall, FuzzOp};
use super::shapes;
use crate::driver::Driver;
use proptest::prelude::*;

/// What a generated step asks for, before the model decides what it becomes.
#[derive(Clone, Debug)]
pub enum Intent {
    Open,
    Call(FuzzCall),
    CallClosed(FuzzCall),
    Close,
    Replug,
    Await,
}

/// The reference state: is a connection open, has one been closed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub open: bool,
    pub closed_handle: bool,
}

/// What the target allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// A connection the scenario opened: calls only, on it.
    pub fixed_connection: bool,
    /// A printer to replug.
    pub replug: bool,
}

impl Model {
    /// The intent as an operation in this state, or `None` when its precondition fails. A call with no
    /// connection open becomes the open it needs.
    pub fn admit(&self, intent: &Intent, caps: Caps) -> Option<FuzzOp> {
        if caps.fixed_connection {
            return match intent {
                Intent::Call(c) => Some(FuzzOp::Call(c.clone())),
                _ => None,
            };
        }
        match (intent, self.open) {
            (Intent::Open, false) | (Intent::Call(_), false) => Some(FuzzOp::Open),
            (Intent::Call(c), true) => Some(FuzzOp::Call(c.clone())),
            (Intent::Close, true) => Some(FuzzOp::Close),
            (Intent::CallClosed(c), false) if self.closed_handle => {
                Some(FuzzOp::CallClosed(c.clone()))
            }
            (Intent::Replug, false) if caps.replug => Some(FuzzOp::Replug),
            (Intent::Await, false) => Some(FuzzOp::Await),
            _ => None,
        }
    }

    pub fn apply(&mut self, op: &FuzzOp) {
        match op {
            FuzzOp::Open => self.open = true,
            FuzzOp::Close => {
                self.open = false;
                self.closed_handle = true;
            }
            // A replug ends every connection; the handle that was closed before stays closed.
            FuzzOp::Call(_) | FuzzOp::CallClosed(_) | FuzzOp::Replug | FuzzOp::Await => {}
        }
    }
}

/// The operations a sequence of intents becomes, from a closed start.
pub fn resolve(intents: &[Intent], caps: Caps) -> Vec<FuzzOp> {
    let mut model = Model::default();
    let mut ops = Vec::new();
    for i in intents {
        if let Some(op) = model.admit(i, caps) {
            model.apply(&op);
            ops.push(op);
        }
    }
    ops
}

/// Sequences of 1..=`max_len` intents; calls of `selectors` dominate.
pub fn sequences(driver: &Driver, selectors: &[u32], max_len: usize) -> BoxedStrategy<Vec<Intent>> {
    let calls = shapes::calls(driver, selectors);
    let intent = prop_oneof![
        2 => Just(Intent::Open),
        10 => calls.clone().prop_map(Intent::Call),
        2 => Just(Intent::Close),
        1 => calls.prop_map(Intent::CallClosed),
        1 => Just(Intent::Replug),
        1 => Just(Intent::Await),
    ];
    proptest::collection::vec(intent, 1..=max_len.max(1)).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::case::Shape;

    fn call() -> FuzzCall {
        FuzzCall {
            selector: 0,
            scalars: vec![],
            pattern: vec![],
            struct_len: 0,
            scalars_out: 0,
            struct_out: 0,
            completion: false,
            shape: Shape::Valid,
        }
    }

    #[test]
    fn preconditions_keep_every_sequence_legal() {
        let caps = Caps {
            fixed_connection: false,
            replug: false,
        };
        let ops = resolve(
            &[
                Intent::Close,
                Intent::CallClosed(call()),
                Intent::Call(call()),
                Intent::Call(call()),
                Intent::Replug,
                Intent::Close,
                Intent::CallClosed(call()),
            ],
            caps,
        );
        let names: Vec<&str> = ops
            .iter()
            .map(|o| match o {
                FuzzOp::Open => "open",
                FuzzOp::Call(_) => "call",
                FuzzOp::CallClosed(_) => "call_closed",
                FuzzOp::Close => "close",
                FuzzOp::Replug => "replug",
                FuzzOp::Await => "await",
            })
            .collect();
        assert_eq!(names, ["open", "call", "close", "call_closed"]);
    }

    #[test]
    fn on_a_scenarios_connection_only_calls_run() {
        let caps = Caps {
            fixed_connection: true,
            replug: true,
        };
        let ops = resolve(&[Intent::Open, Intent::Call(call()), Intent::Close], caps);
        assert_eq!(ops, vec![FuzzOp::Call(call())]);
    }
}
