//! Latency of repeated `call` steps: the times a run's records hold for each call step (by its YAML place),
//! as p50 / p99 / max. Used by the HTML report and by `compare` for call-time regressions.

use super::tally::RunRecord;
use std::time::Duration;

/// One call step's times in one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct CallLatency {
    pub scenario: String,
    /// `file:line:col` of the `call` step.
    pub step: String,
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// The `q`-quantile (0..=1) of sorted times, by nearest rank: a value that was measured, never interpolated.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Every call step run at least `min_count` times, per scenario, in the order first seen.
pub fn call_latencies(record: &RunRecord, min_count: usize) -> Vec<CallLatency> {
    let mut out = Vec::new();
    for s in &record.scenarios {
        let mut steps: Vec<(&crate::span::Span, Vec<Duration>)> = Vec::new();
        for (step, took) in &s.call_times {
            match steps.iter_mut().find(|(p, _)| *p == step) {
                Some((_, times)) => times.push(*took),
                None => steps.push((step, vec![*took])),
            }
        }
        for (step, mut times) in steps {
            if times.len() < min_count {
                continue;
            }
            times.sort();
            out.push(CallLatency {
                scenario: s.name.clone(),
                step: step.to_string(),
                count: times.len(),
                p50: quantile(&times, 0.50),
                p99: quantile(&times, 0.99),
                max: *times.last().unwrap_or(&Duration::ZERO),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let ms = |n| Duration::from_millis(n);
        let times: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(quantile(&times, 0.5), ms(50));
        assert_eq!(quantile(&times, 0.99), ms(99));
        assert_eq!(quantile(&times, 1.0), ms(100));
        assert_eq!(quantile(&[ms(7)], 0.99), ms(7));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }
}
