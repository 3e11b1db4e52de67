//! What a fuzz run's calls covered: a count per selector, shape class and answer. Bounded by the driver
//! file (selectors past the table are one class) and the answers seen, never by the number of cases.

use crate::report::events::CoverageRow;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct Coverage {
    counts: BTreeMap<(String, String, String), u64>,
}

impl Coverage {
    pub fn count(&mut self, selector: &str, shape: &str, answer: &str) {
        // Looked up by reference first: a cell seen before (nearly every call) allocates nothing.
        if let Some((_, n)) = self.counts.iter_mut().find(|((s, sh, a), _)| {
            s == selector && sh == shape && a == answer
        }) {
            *n += 1;
            return;
        }
        self.counts
            .insert((selector.into(), shape.into(), answer.into()), 1);
    }

    pub fn rows(&self) -> Vec<CoverageRow> {
        self.counts
            .iter()
            .map(|((selector, shape, answer), count)| CoverageRow {
                selector: selector.clone(),
                shape: shape.clone(),
                answer: answer.clone(),
                count: *count,
            })
            .collect()
    }
}

/// The coverage table as a person reads it: one row per cell, columns aligned.
pub fn table(rows: &[CoverageRow]) -> String {
    let w = |f: &dyn Fn(&CoverageRow) -> usize, head: &str| {
        rows.iter().map(f).max().unwrap_or(0).max(head.len())
    };
    let (ws, wsh, wa) = (
        w(&|r| r.selector.len(), "selector"),
        w(&|r| r.shape.len(), "shape"),
        w(&|r| r.answer.len(), "answer"),
    );
    let mut out = format!(
        "  {:<ws$}  {:<wsh$}  {:<wa$}  {:>8}\n",
        "selector", "shape", "answer", "calls"
    );
    for r in rows {
        out.push_str(&format!(
            "  {:<ws$}  {:<wsh$}  {:<wa$}  {:>8}\n",
            r.selector, r.shape, r.answer, r.count
        ));
    }
    out
}
