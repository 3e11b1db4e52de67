//! The simulated lab.

use super::LabFactory;
use crate::lab::{Lab, LabError};
use crate::scenario::Scenario;
use std::sync::Arc;

pub struct SimFactory;

impl LabFactory for SimFactory {
    fn name(&self) -> &'static str {
        "sim"
    }
    fn lab_for(&self, _scenario: &Scenario) -> Result<Arc<dyn Lab>, LabError> {
        unimplemented!("sim lab")
    }
}
