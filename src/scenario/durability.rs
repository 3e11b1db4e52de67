//! Run settings that belong to the scenario model (a `fuzz` step and the command line both use them, so
//! they live here, not in the fuzzer or the journal): how durable the journal is, and the default deadline of
//! one lab operation.

use std::time::Duration;

/// The default deadline of one lab operation (a fuzz case's open, call or close; `within:` overrides it).
pub const DEFAULT_OPERATION_DEADLINE: Duration = Duration::from_secs(2);

/// When the journal makes a line durable (docs/fuzz.md, "What a crash can lose").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Before every lab operation (`--durability case`), for hunting kernel panics.
    Case,
    /// At each verdict and at most every 100 ms (the default); every line is still written at once.
    #[default]
    Batch,
}

impl Durability {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "case" => Ok(Durability::Case),
            "batch" => Ok(Durability::Batch),
            _ => Err(format!(
                "`{text}` is not a durability: use `case` or `batch`"
            )),
        }
    }
}
