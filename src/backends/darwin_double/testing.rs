//! Helpers for tests that run code against the double: one at a time (the double is process-wide, as a
//! kernel is), each starting from a clean audit and ending with an ownership check.

use super::{audit, runloop, served};
use crate::backends::sim::SimLab;
use crate::lab::Lab;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Hold the double for one test: earlier errors are cleared and the run-loop record emptied.
pub fn session() -> MutexGuard<'static, ()> {
    let g = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    audit::check();
    runloop::take_exits();
    g
}

/// Serve `tests/fixtures/darwin-double/override.plist` (a DS620 with class overrides, locationID bit 31 set).
pub fn serve_override_fixture() {
    let tree =
        crate::backends::replay::load_dump(&repo("tests/fixtures/darwin-double/override.plist"))
            .expect("the fixture loads");
    let lab: Arc<dyn Lab> = Arc::new(crate::backends::replay::ReplayLab::new(
        &tree,
        Some(Vec::new()),
    ));
    served::serve(Some(lab));
}

/// Serve a sim lab for a corpus scenario (by path from the repository root).
pub fn serve_scenario(rel: &str) -> Arc<SimLab> {
    let scenarios = crate::scenario::load_corpus(&[repo(rel)]).expect("the scenario loads");
    let sim = Arc::new(SimLab::for_scenario(&scenarios[0]).expect("the sim lab starts"));
    served::serve(Some(sim.clone()));
    sim
}

/// Every ownership error since the session started (leaks of this session included).
pub fn ownership_errors() -> Vec<String> {
    audit::check()
}
