//! One line saying what a step does, for events and reports (`call GetStatus on uc`).

use crate::lab::{OpenTarget, WaitFor};
use crate::report::human_duration;
use crate::scenario::{Scenario, StepKind};

pub fn summary(scenario: &Scenario, kind: &StepKind) -> String {
    match kind {
        StepKind::Replug { role } => format!("replug {role}"),
        StepKind::Await { role, state } => format!(
            "await {} {}",
            role.as_deref().unwrap_or(&scenario.driver.user_class),
            match state {
                WaitFor::Matched => "matched",
                WaitFor::Gone => "gone",
            }
        ),
        StepKind::CrossCheck { role, .. } => format!("cross_check {role}"),
        StepKind::Open {
            role,
            target,
            open_type,
            name,
            ..
        } => {
            let on = role
                .as_ref()
                .map(|r| format!(" on {r}"))
                .unwrap_or_default();
            format!(
                "open {}{on} as {name} (type {open_type})",
                target_name(*target)
            )
        }
        StepKind::Call {
            connection,
            selector_name,
            ..
        } => format!("call {selector_name} on {connection}"),
        StepKind::Close { connection, .. } => format!("close {connection}"),
        StepKind::Repeat { times, .. } => format!("repeat {times} times"),
        StepKind::Sleep(d) => format!("sleep {}", human_duration(*d)),
        StepKind::Log(text) => format!("log {text:?}"),
        StepKind::Fuzz(f) => format!(
            "fuzz {} cases{}",
            f.cases,
            f.connection
                .as_ref()
                .map(|c| format!(" on {c}"))
                .unwrap_or_default()
        ),
    }
}

pub fn target_name(t: OpenTarget) -> &'static str {
    match t {
        OpenTarget::Service => "service",
        OpenTarget::UserServer => "user_server",
        OpenTarget::Interface => "interface",
        OpenTarget::Device => "device",
        OpenTarget::Nub => "nub",
    }
}
