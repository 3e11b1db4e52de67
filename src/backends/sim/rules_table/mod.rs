//! One row per rule of docs/kernel-rules.md, named by its id: change a rule in the sim and its row fails;
//! a rule documented without a row, or a row without a documented rule, fails
//! `every_documented_rule_has_a_row`. Rows use the pure rules where they exist (`open_rules`,
//! `crate::dispatch`) and a sim lab built from the shipped driver and scenario files where the rule is
//! about the registry or what a call answers over time.

pub(super) use super::dext;
pub(super) use super::open_rules::{self, OpenInput, OpenTargetKind};
pub(super) use super::*;
pub(super) use crate::ioreturn::code;
pub(super) use std::path::Path;

mod dispatch;
mod logs;
mod open;
mod other;
mod registry;

pub(super) type Check = Box<dyn Fn() -> Result<(), String>>;

pub(super) fn root(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

pub(super) fn expect<T: PartialEq + std::fmt::Debug>(
    what: &str,
    got: T,
    want: T,
) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

pub(super) fn holds(what: &str, ok: bool) -> Result<(), String> {
    ok.then_some(()).ok_or_else(|| what.to_string())
}

pub(super) fn all_rows() -> Vec<(&'static str, Check)> {
    let mut rows = open::open_rows();
    rows.extend(dispatch::dispatch_rows());
    rows.extend(registry::registry_rows());
    rows.extend(logs::log_rows());
    rows.extend(other::other_rows());
    rows
}

#[test]
fn every_rule_row_holds() {
    let failures: Vec<String> = all_rows()
        .into_iter()
        .filter_map(|(id, check)| check().err().map(|e| format!("{id}: {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "rules that no longer hold (docs/kernel-rules.md):\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_documented_rule_has_a_row() {
    let doc = std::fs::read_to_string(root("docs/kernel-rules.md")).expect("docs/kernel-rules.md");
    let documented: std::collections::BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(' ').next())
        .filter(|id| {
            id.len() >= 2
                && id.starts_with(['O', 'D', 'R', 'L', 'C', 'P'])
                && id[1..].chars().all(|c| c.is_ascii_digit())
        })
        .map(str::to_string)
        .collect();
    let rows: std::collections::BTreeSet<String> = all_rows()
        .into_iter()
        .map(|(id, _)| id.to_string())
        .collect();
    assert_eq!(
        documented, rows,
        "docs/kernel-rules.md ids against rules_table rows"
    );
}
