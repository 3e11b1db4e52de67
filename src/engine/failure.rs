//! Building step failures, and which side broke: a [`LabError`] is the lab's (exit 2), a broken
//! expectation is the driver's (exit 1).

use crate::lab::LabError;
use crate::report::{Failure, FailureClass};

pub fn driver(message: impl Into<String>) -> Failure {
    Failure {
        class: FailureClass::Driver,
        message: message.into(),
        expected: None,
        actual: None,
        code: None,
    }
}

pub fn lab(message: impl Into<String>) -> Failure {
    Failure {
        class: FailureClass::Lab,
        ..driver(message)
    }
}

pub fn from_lab(e: LabError) -> Failure {
    lab(e.to_string())
}
