//! `dexthil compare OLD NEW`: what changed between two nights (each one journal or a merged set): scenarios
//! newly failing, fixed, flaky, missing, and call steps whose median time grew beyond a threshold.
//!
//! Scenarios are matched by name across stations (hash partitions move them between identical Macs): a
//! scenario failed when it failed on any station, passed when it passed on one and failed on none.

use super::human_duration;
use super::latency::quantile;
use super::tally::{RunRecord, Status};
use std::collections::BTreeMap;
use std::time::Duration;

/// Below this a call-time change is noise on a shared machine, whatever the ratio.
pub const MIN_REGRESSION: Duration = Duration::from_millis(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Selected and not run (skipped, never started, interrupted): says nothing of the driver.
    NotRun,
    Passed,
    Flaky,
    Failed,
}

/// One night's scenarios by name, the worst outcome across stations, and each call step's times.
struct Night {
    outcomes: BTreeMap<String, Outcome>,
    calls: BTreeMap<(String, String), Vec<Duration>>,
}

fn night(records: &[RunRecord]) -> Night {
    let mut n = Night {
        outcomes: BTreeMap::new(),
        calls: BTreeMap::new(),
    };
    for r in records {
        for s in &r.scenarios {
            let o = match &s.status {
                Status::Passed if s.flaky() => Outcome::Flaky,
                Status::Passed => Outcome::Passed,
                Status::Failed { .. } => Outcome::Failed,
                Status::Interrupted { .. } | Status::NotRun | Status::Skipped { .. } => {
                    Outcome::NotRun
                }
            };
            let e = n.outcomes.entry(s.name.clone()).or_insert(o);
            *e = (*e).max(o);
            for (step, took) in &s.call_times {
                n.calls
                    .entry((s.name.clone(), step.to_string()))
                    .or_default()
                    .push(*took);
            }
        }
    }
    n
}

/// A call step that got slower.
#[derive(Clone, Debug, PartialEq)]
pub struct Regression {
    pub scenario: String,
    pub step: String,
    pub old_p50: Duration,
    pub new_p50: Duration,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    /// Failed in NEW, and passed, was flaky or did not exist in OLD.
    pub newly_failing: Vec<String>,
    /// Failed in OLD, passed in NEW.
    pub fixed: Vec<String>,
    /// Passed in NEW only on a retry.
    pub flaky: Vec<String>,
    /// Ran in OLD, absent or not run in NEW.
    pub missing: Vec<String>,
    pub regressions: Vec<Regression>,
}

impl Comparison {
    /// `threshold`: how much slower a call step's median may get, as a fraction (0.5 = 50 %).
    pub fn of(old: &[RunRecord], new: &[RunRecord], threshold: f64) -> Comparison {
        let (old, new) = (night(old), night(new));
        let mut c = Comparison::default();
        for (name, &o) in &new.outcomes {
            let before = old.outcomes.get(name).copied();
            match o {
                Outcome::Failed if before != Some(Outcome::Failed) => {
                    c.newly_failing.push(name.clone())
                }
                Outcome::Passed | Outcome::Flaky if before == Some(Outcome::Failed) => {
                    c.fixed.push(name.clone())
                }
                _ => {}
            }
            if o == Outcome::Flaky {
                c.flaky.push(name.clone());
            }
        }
        for (name, &o) in &old.outcomes {
            let now = new.outcomes.get(name).copied();
            if o != Outcome::NotRun && now.is_none_or(|n| n == Outcome::NotRun) {
                c.missing.push(name.clone());
            }
        }
        for (key, times) in &new.calls {
            let Some(before) = old.calls.get(key) else {
                continue;
            };
            let (mut a, mut b) = (before.clone(), times.clone());
            a.sort();
            b.sort();
            let (old_p50, new_p50) = (quantile(&a, 0.5), quantile(&b, 0.5));
            if new_p50 > old_p50.mul_f64(1.0 + threshold)
                && new_p50.saturating_sub(old_p50) >= MIN_REGRESSION
            {
                c.regressions.push(Regression {
                    scenario: key.0.clone(),
                    step: key.1.clone(),
                    old_p50,
                    new_p50,
                });
            }
        }
        c
    }

    /// The report a person reads: a section per change that has entries, and one summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut list = |title: &str, names: &[String]| {
            if !names.is_empty() {
                out.push_str(&format!("{title} ({}):\n", names.len()));
                for n in names {
                    out.push_str(&format!("  {n}\n"));
                }
            }
        };
        list("newly failing", &self.newly_failing);
        list("fixed", &self.fixed);
        list("flaky (passed on a retry)", &self.flaky);
        list("missing (ran before, not now)", &self.missing);
        if !self.regressions.is_empty() {
            out.push_str(&format!(
                "slower calls, median ({}):\n",
                self.regressions.len()
            ));
            for r in &self.regressions {
                out.push_str(&format!(
                    "  {} {}: {} -> {} ({:.1}x)\n",
                    r.scenario,
                    r.step,
                    human_duration(r.old_p50),
                    human_duration(r.new_p50),
                    r.new_p50.as_secs_f64() / r.old_p50.as_secs_f64().max(1e-9)
                ));
            }
        }
        out.push_str(&format!(
            "{} newly failing, {} fixed, {} flaky, {} missing, {} slower calls\n",
            self.newly_failing.len(),
            self.fixed.len(),
            self.flaky.len(),
            self.missing.len(),
            self.regressions.len()
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::events::{EventKind, Failure, FailureClass, RunEvent, Verdict};

    fn run(results: &[(&str, bool, u64)]) -> RunRecord {
        let mut events = Vec::new();
        for (name, passed, call_ms) in results {
            let ev = |kind| RunEvent {
                elapsed: Duration::ZERO,
                kind,
            };
            events.push(ev(EventKind::ScenarioStarted {
                scenario: (*name).into(),
                file: "scenarios/x.yaml".into(),
            }));
            events.push(ev(EventKind::StepFinished {
                scenario: (*name).into(),
                step: "1".into(),
                span: crate::testkit::span(4),
                summary: "call GetStatus on uc".into(),
                outcome: crate::report::StepOutcome::Passed { detail: "".into() },
                took: Duration::from_millis(*call_ms),
            }));
            events.push(ev(EventKind::ScenarioFinished {
                scenario: (*name).into(),
                verdict: if *passed {
                    Verdict::Passed
                } else {
                    Verdict::Failed {
                        span: crate::testkit::span(4),
                        failure: Failure {
                            class: FailureClass::Driver,
                            message: "m".into(),
                            expected: None,
                            actual: None,
                            code: None,
                        },
                    }
                },
                took: Duration::ZERO,
            }));
        }
        RunRecord::from_events(&events)
    }

    #[test]
    fn changes_between_two_nights_are_sorted_into_their_kinds() {
        let old = run(&[("a", true, 10), ("b", false, 10), ("c", true, 10)]);
        let new = run(&[("a", false, 10), ("b", true, 30), ("d", false, 10)]);
        let c = Comparison::of(&[old], &[new], 0.5);
        assert_eq!(c.newly_failing, ["a", "d"]);
        assert_eq!(c.fixed, ["b"]);
        assert_eq!(c.missing, ["c"]);
        assert_eq!(c.regressions.len(), 1, "{c:?}");
        assert_eq!(c.regressions[0].scenario, "b");
        assert!(
            c.render()
                .contains("2 newly failing, 1 fixed, 0 flaky, 1 missing, 1 slower calls")
        );
    }

    #[test]
    fn a_small_or_sub_millisecond_change_is_not_a_regression() {
        let c = Comparison::of(&[run(&[("a", true, 10)])], &[run(&[("a", true, 14)])], 0.5);
        assert!(c.regressions.is_empty());
        let c = Comparison::of(&[run(&[("a", true, 0)])], &[run(&[("a", true, 0)])], 0.0);
        assert!(c.regressions.is_empty());
    }
}
