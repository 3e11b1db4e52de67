//! Fuzz throughput against the sim, measured in one run and printed as ratios (no pass/fail): cases/s
//! through the fuzzer, the same calls made directly on the lab, and the fuzzer's added cost per case with
//! batch and with per-case fsync durability.

use dexthil::fuzz::{Durability, FuzzOp, FuzzOptions, Target, cli::lab_scenario, fuzz};
use dexthil::lab::{Lab, OpenRequest};
use dexthil::report::EventKind;
use dexthil::report::journal::{Journal, read_journal};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CASES: u32 = 5000;

fn lab() -> (Arc<dyn Lab>, Arc<dexthil::driver::Driver>) {
    let driver = Arc::new(
        dexthil::scenario::load_driver(std::path::Path::new("scenarios/drivers/apple-sample.yaml"))
            .expect("the sample driver loads"),
    );
    let scenario = lab_scenario(driver.clone(), None);
    let lab: Arc<dyn Lab> =
        Arc::new(dexthil::backends::sim::SimLab::for_scenario(&scenario).unwrap());
    (lab, driver)
}

fn run(durability: Durability, journal: &std::path::Path) -> (Duration, u64) {
    let _ = std::fs::remove_file(journal);
    let (lab, driver) = lab();
    let sink = Journal::create(journal).unwrap();
    let opts = FuzzOptions {
        cases: CASES,
        seed: Some(1),
        durability,
        ..Default::default()
    };
    let t = Instant::now();
    let out = fuzz(lab, driver, Target::default(), &opts, &sink, t).unwrap();
    assert!(out.found.is_none());
    (t.elapsed(), out.ops)
}

/// The same operations, made on the lab directly: no generation, no journal, no deadline worker.
fn direct(journal: &std::path::Path) -> Duration {
    let ops: Vec<FuzzOp> = read_journal(journal)
        .unwrap()
        .events
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::FuzzCase { op, .. } => Some(op),
            _ => None,
        })
        .collect();
    let (lab, driver) = lab();
    let svc = dexthil::engine::service::resource_service(
        &*lab,
        &driver,
        Instant::now() + Duration::from_secs(5),
    )
    .unwrap();
    let t = Instant::now();
    let mut conn = None;
    let mut closed = None;
    for op in &ops {
        match op {
            FuzzOp::Open => {
                conn = lab
                    .open(&OpenRequest {
                        entry: svc.id,
                        open_type: 0,
                    })
                    .unwrap()
                    .connection
            }
            FuzzOp::Call(c) => {
                let _ = lab.call(conn.unwrap(), &c.args());
            }
            FuzzOp::CallClosed(c) => {
                let _ = lab.call(closed.unwrap_or(0), &c.args());
            }
            FuzzOp::Close => {
                closed = conn.take();
                let _ = lab.close(closed.unwrap());
            }
            FuzzOp::Replug | FuzzOp::Await => {}
        }
    }
    t.elapsed()
}

fn main() {
    let dir = std::env::temp_dir().join(format!("dexthil-bench-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let batch_journal = dir.join("batch.jsonl");
    let (batch, ops) = run(Durability::Batch, &batch_journal);
    let (per_case, _) = run(Durability::Case, &dir.join("case.jsonl"));
    let bare = direct(&batch_journal);
    let rate = |d: Duration| CASES as f64 / d.as_secs_f64();
    let per = |d: Duration| (d.saturating_sub(bare)).as_secs_f64() * 1e6 / CASES as f64;
    println!("fuzz bench: {CASES} cases, {ops} operations, sim lab, Apple sample");
    println!("  direct lab calls:        {:>9.0} cases/s", rate(bare));
    println!(
        "  fuzzer, batch fsync:     {:>9.0} cases/s  ({:.2}x the direct rate, +{:.1} µs/case)",
        rate(batch),
        rate(batch) / rate(bare),
        per(batch)
    );
    println!(
        "  fuzzer, fsync per case:  {:>9.0} cases/s  ({:.2}x the direct rate, +{:.1} µs/case)",
        rate(per_case),
        rate(per_case) / rate(bare),
        per(per_case)
    );
    println!(
        "  per-case over batch:     {:.2}x the time",
        per_case.as_secs_f64() / batch.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
