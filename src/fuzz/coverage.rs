//! What a fuzz run's calls covered: a count per selector, shape class and answer. Bounded by the driver
//! file (selectors past the table are one class) and the answers seen, never by the number of cases. Kept
//! by number while the run goes (a call costs one map lookup, no text); named when the table is made.

use crate::driver::Driver;
use crate::fuzz::case::{Miss, Shape, miss_name};
use crate::report::events::CoverageRow;
use std::collections::BTreeMap;

/// Which selector a call went to: one in the table (by id), or any past it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SelectorClass {
    Table(u32),
    PastTable,
}

/// How a call was shaped, as the table shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ShapeClass {
    Valid,
    NearMiss(u8),
    PastTable,
    ClosedConnection,
}

/// What a call got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Answer {
    Code(u32),
    Hung,
    NotOpen,
    LabError,
}

const MISSES: [Miss; 6] = [
    Miss::ScalarsIn,
    Miss::StructIn,
    Miss::ScalarsOut,
    Miss::StructOut,
    Miss::Completion,
    Miss::TooManyScalars,
];

impl ShapeClass {
    pub fn of(shape: Shape) -> ShapeClass {
        match shape {
            Shape::Valid => ShapeClass::Valid,
            Shape::NearMiss(m) => {
                ShapeClass::NearMiss(MISSES.iter().position(|x| *x == m).unwrap_or(0) as u8)
            }
            Shape::PastTable => ShapeClass::PastTable,
        }
    }

    pub fn text(self) -> String {
        match self {
            ShapeClass::Valid => "valid".into(),
            ShapeClass::NearMiss(i) => format!("near miss: {}", miss_name(MISSES[i as usize % 6])),
            ShapeClass::PastTable => "past the table".into(),
            ShapeClass::ClosedConnection => "closed connection".into(),
        }
    }
}

impl SelectorClass {
    pub fn of(selector: u32, shape: Shape) -> SelectorClass {
        match shape {
            Shape::PastTable => SelectorClass::PastTable,
            _ => SelectorClass::Table(selector),
        }
    }

    pub fn text(self, driver: &Driver) -> String {
        match self {
            SelectorClass::PastTable => "(past the table)".into(),
            SelectorClass::Table(id) => driver
                .selector(id)
                .map(|s| s.name.clone())
                .unwrap_or_else(|| format!("#{id}")),
        }
    }
}

impl Answer {
    pub fn text(self) -> String {
        match self {
            Answer::Code(c) => crate::ioreturn::ReturnCode(c).name(),
            Answer::Hung => "no answer".into(),
            Answer::NotOpen => "not open".into(),
            Answer::LabError => "lab error".into(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Coverage {
    counts: BTreeMap<(SelectorClass, ShapeClass, Answer), u64>,
}

impl Coverage {
    pub fn count(&mut self, selector: SelectorClass, shape: ShapeClass, answer: Answer) {
        *self.counts.entry((selector, shape, answer)).or_default() += 1;
    }

    pub fn rows(&self, driver: &Driver) -> Vec<CoverageRow> {
        self.counts
            .iter()
            .map(|((selector, shape, answer), count)| CoverageRow {
                selector: selector.text(driver),
                shape: shape.text(),
                answer: answer.text(),
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
