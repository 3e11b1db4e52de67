//! The scenario corpus as a `harness = false` test target: `cargo test` runs every shipped scenario on the
//! sim lab through the same runner as `dexthil run`, with libtest's filters (`cargo test --test scenarios
//! -- ds620 --exact`).

use dexthil::backends::LabChoice;
use dexthil::runner::{self, RunArgs};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    if !corpus.is_dir() {
        // Until the corpus lands there is nothing to run; say so rather than pass silently.
        eprintln!("no scenario corpus at {}: nothing to run", corpus.display());
        return ExitCode::SUCCESS;
    }
    runner::run(RunArgs {
        paths: vec![corpus],
        lab: LabChoice::Sim,
        libtest: libtest_mimic::Arguments::from_args(),
    })
    .into()
}
