//! The human reporter: a header per scenario, one line per step, and for a failure where it is in the YAML,
//! what was expected, what happened and the decoded code.
//!
//! Lines of one scenario are buffered and written together when it finishes, so scenarios running in
//! parallel do not interleave.

use super::events::{EventKind, EventSink, Failure, FailureClass, RunEvent, StepOutcome, Verdict};
use super::human_duration;
use super::tally::CapturedLine;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// How much the console says about a scenario.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Detail {
    /// Only failures (in full) and the summary (`-q`).
    Quiet,
    /// One line per passing scenario; a failing one in full: its steps, expected / actual, decoded code,
    /// log lines.
    Failures,
    /// Every step of every scenario (`-v`, and `dexthil report`).
    #[default]
    Steps,
}

pub struct Console<W: Write + Send> {
    out: Mutex<W>,
    detail: Detail,
    pending: Mutex<HashMap<Arc<str>, String>>,
    /// Log lines of steps still running, by scenario and step: shown if the step fails.
    step_logs: Mutex<StepLogs>,
}

impl<W: Write + Send> Console<W> {
    pub fn new(out: W) -> Self {
        Self::with_detail(out, Detail::Steps)
    }

    pub fn with_detail(out: W, detail: Detail) -> Self {
        Console {
            out: Mutex::new(out),
            detail,
            pending: Mutex::new(HashMap::new()),
            step_logs: Mutex::new(HashMap::new()),
        }
    }

    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, scenario: &str, text: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        match pending.get_mut(scenario) {
            Some(block) => block.push_str(text),
            None => {
                pending.insert(Arc::from(scenario), text.to_string());
            }
        }
    }

    fn take_step_logs(&self, scenario: &Arc<str>, step: &Arc<str>) -> Vec<CapturedLine> {
        let mut logs = self.step_logs.lock().unwrap_or_else(|p| p.into_inner());
        if logs.is_empty() {
            return Vec::new();
        }
        logs.remove(&(scenario.clone(), step.clone()))
            .unwrap_or_default()
    }

    fn write(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // A reporter that cannot write has nowhere to say so; the verdicts still reach libtest.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
}

impl<W: Write + Send> Console<W> {
    /// Write out a scenario that started and never finished (a killed run read back), ending its block with
    /// `end`.
    pub fn finish_unfinished(&self, scenario: &str, end: &str) {
        self.add(scenario, end);
        let block = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(scenario)
            .unwrap_or_default();
        self.write(&block);
    }
}

/// The lines of steps not yet finished, by scenario and step number, kept as they came.
type StepLogs = HashMap<(Arc<str>, Arc<str>), Vec<CapturedLine>>;

/// One captured line as the console shows it: time of day, who said it, what.
pub fn log_line_text(at: &str, source: crate::logs::LineSource, text: &str) -> String {
    // `2025-03-14 09:26:53.401122-0700` → `09:26:53.401122`; anything else as it came.
    let time = match at.get(11..26) {
        Some(t) if at.as_bytes().get(10) == Some(&b' ') => t,
        _ => at,
    };
    format!("{time} {:<6} {text}", source.label())
}

/// The lines that explain a failure, indented under its step.
pub fn failure_lines(at: &str, f: &Failure, indent: &str) -> String {
    let mut s = format!("{indent}at {at}\n{indent}{}\n", f.message);
    if let Some(e) = &f.expected {
        s.push_str(&format!("{indent}expected: {e}\n"));
    }
    if let Some(a) = &f.actual {
        s.push_str(&format!("{indent}actual:   {a}\n"));
    }
    if let Some(code) = f.code {
        let decoded = crate::ioreturn::decode(code.0);
        let meaning = decoded
            .known
            .map(|k| format!(": {}, {}", k.meaning, k.family.label()))
            .unwrap_or_default();
        s.push_str(&format!("{indent}code:     {code}{meaning}\n"));
    }
    if f.class == FailureClass::Lab {
        s.push_str(&format!("{indent}(the lab broke, not the driver)\n"));
    }
    s
}

impl<W: Write + Send> EventSink for Console<W> {
    fn event(&self, event: &RunEvent) {
        match &event.kind {
            EventKind::RunStarted { .. } if self.detail == Detail::Quiet => {}
            EventKind::RunStarted { lab, scenarios, .. } => self.write(&format!(
                "running {scenarios} scenario{} on the {lab} lab\n",
                if *scenarios == 1 { "" } else { "s" }
            )),
            EventKind::ScenarioStarted { scenario, file } => {
                self.add(scenario, &format!("\nscenario {scenario} ({file})\n"))
            }
            // A step is shown once it has an outcome.
            EventKind::StepStarted { .. } => {}
            EventKind::StepFinished {
                scenario,
                step,
                span,
                summary,
                outcome,
                took,
            } => {
                let logs = self.take_step_logs(scenario, step);
                let depth = step.matches('.').count() / 2;
                // A repeat's passing iterations are summed up by the repeat's own line; only a failing
                // inner step is worth its lines.
                if depth > 0 && matches!(outcome, StepOutcome::Passed { .. }) {
                    return;
                }
                let indent = "  ".repeat(depth + 1);
                let line = match outcome {
                    StepOutcome::Passed { detail } if detail.is_empty() => {
                        format!("{indent}✓ {step} {summary} {}\n", human_duration(*took))
                    }
                    StepOutcome::Passed { detail } => format!(
                        "{indent}✓ {step} {summary} → {detail} {}\n",
                        human_duration(*took)
                    ),
                    StepOutcome::Failed(f) => {
                        let mut text = format!(
                            "{indent}✗ {step} {summary} {}\n{}",
                            human_duration(*took),
                            failure_lines(&span.to_string(), f, &format!("{indent}    "))
                        );
                        if !logs.is_empty() {
                            text.push_str(&format!(
                                "{indent}    log (kernel and dext, during this step):\n"
                            ));
                            for l in logs {
                                let l = log_line_text(&l.at, l.source, &l.text);
                                text.push_str(&format!("{indent}      {l}\n"));
                            }
                        }
                        text
                    }
                };
                self.add(scenario, &line);
            }
            EventKind::ScenarioFinished {
                scenario,
                verdict,
                took,
            } => {
                let end = match verdict {
                    Verdict::Passed => format!("  passed in {}\n", human_duration(*took)),
                    Verdict::Failed { span, failure } => format!(
                        "  FAILED at {span} in {}{}\n",
                        human_duration(*took),
                        match failure.class {
                            FailureClass::Driver => "",
                            FailureClass::Lab => " (the lab broke, not the driver)",
                        }
                    ),
                };
                self.add(scenario, &end);
                // A failure outside any step (the lab could not be made for it) is said here, once.
                if let Verdict::Failed { span, failure } = verdict {
                    let has_step = self
                        .pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(scenario)
                        .is_some_and(|b| b.contains('✗'));
                    if !has_step {
                        self.add(scenario, &failure_lines(&span.to_string(), failure, "    "));
                    }
                }
                let block = self
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(scenario)
                    .unwrap_or_default();
                match (verdict, self.detail) {
                    (Verdict::Failed { .. }, _) | (Verdict::Passed, Detail::Steps) => {
                        self.write(&block)
                    }
                    // A pass after a retry keeps the line that says why it was retried.
                    (Verdict::Passed, Detail::Failures) => self.write(&format!(
                        "PASS {scenario} ({})\n{}",
                        human_duration(*took),
                        block
                            .lines()
                            .filter(|l| l.trim_start().starts_with('↻'))
                            .map(|l| format!("{l}\n"))
                            .collect::<String>()
                    )),
                    (Verdict::Passed, Detail::Quiet) => {}
                }
            }
            EventKind::LogLine {
                scenario,
                step,
                at,
                source,
                text,
            } => self
                .step_logs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry((scenario.clone(), step.clone()))
                .or_default()
                // Kept as it came; written out only if the step fails.
                .push(CapturedLine {
                    step: step.clone(),
                    at: at.clone(),
                    source: *source,
                    text: text.clone(),
                }),
            EventKind::RunFinished {
                passed,
                failed,
                lab_errors,
                took,
                flaky,
                interrupted,
                skipped,
            } => self.write(&format!(
                "\n{passed} passed, {failed} failed ({lab_errors} of them lab errors){}{}{} in {}\n",
                if *flaky > 0 { format!(", {flaky} flaky (passed on a retry)") } else { String::new() },
                if *skipped > 0 { format!(", {skipped} skipped") } else { String::new() },
                if *interrupted { ", interrupted" } else { "" },
                human_duration(*took)
            )),
            EventKind::HealthChecked { station, problems } if problems.is_empty() => {
                self.write(&format!("station {station}: healthy\n"))
            }
            EventKind::HealthChecked { station, problems } => {
                let mut text = format!("station {station} is not healthy; no scenario was run:\n");
                for p in problems {
                    text.push_str(&format!("  ✗ {p}\n"));
                }
                self.write(&text)
            }
            EventKind::ScenarioRetried {
                scenario,
                attempt,
                failure,
            } => self.add(
                scenario,
                &format!(
                    "  ↻ attempt {attempt} failed because the lab broke ({}); retrying\n",
                    failure.message
                ),
            ),
            // A fuzz step's finding is its step's failure, shown there; cases are the journal's.
            EventKind::FuzzCase { .. }
            | EventKind::FuzzFinding { .. }
            | EventKind::FuzzCoverage { .. }
            | EventKind::FuzzFinished { .. } => {}
            EventKind::ScenarioSkipped { .. } if self.detail == Detail::Quiet => {}
            EventKind::ScenarioSkipped {
                scenario, reason, ..
            } => self.write(&format!("SKIP {scenario}: {reason}\n")),
            EventKind::Interrupted { signal } => self.write(&format!(
                "\n{signal}: no new scenario starts; running ones stop before their next step and close \
                 their connections (send SIGINT again to stop at once)\n"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioreturn::{ReturnCode, code};
    use crate::report::events::StepOutcome;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::Duration;

    fn ev(kind: EventKind) -> RunEvent {
        RunEvent {
            elapsed: Duration::ZERO,
            kind,
        }
    }

    #[test]
    fn a_failing_step_shows_its_yaml_location_and_decoded_code() {
        let span = crate::span::Span::new(Arc::new(PathBuf::from("scenarios/x.yaml")), 14, 5);
        let failure = Failure {
            class: FailureClass::Driver,
            message: "GetStatus on uc answered kIOReturnBadArgument (0xE00002C2)".into(),
            expected: Some("kIOReturnSuccess (0x00000000)".into()),
            actual: Some("kIOReturnBadArgument (0xE00002C2)".into()),
            code: Some(ReturnCode(code::kIOReturnBadArgument)),
        };
        let c = Console::new(Vec::new());
        for kind in [
            EventKind::ScenarioStarted {
                scenario: "a".into(),
                file: "scenarios/x.yaml".into(),
            },
            EventKind::StepFinished {
                scenario: "a".into(),
                step: "1".into(),
                span: span.clone(),
                summary: "close uc".into(),
                outcome: StepOutcome::Passed {
                    detail: "kIOReturnSuccess (0x00000000)".into(),
                },
                took: Duration::from_micros(12),
            },
            EventKind::StepFinished {
                scenario: "a".into(),
                step: "3".into(),
                span: span.clone(),
                summary: "call GetStatus on uc".into(),
                outcome: StepOutcome::Failed(failure.clone()),
                took: Duration::from_micros(40),
            },
            EventKind::ScenarioFinished {
                scenario: "a".into(),
                verdict: Verdict::Failed { span, failure },
                took: Duration::from_millis(3),
            },
        ] {
            c.event(&ev(kind));
        }
        let text = String::from_utf8(c.into_inner()).unwrap();
        assert_eq!(
            text,
            "\nscenario a (scenarios/x.yaml)\n\
             \x20 ✓ 1 close uc → kIOReturnSuccess (0x00000000) 12µs\n\
             \x20 ✗ 3 call GetStatus on uc 40µs\n\
             \x20     at scenarios/x.yaml:14:5\n\
             \x20     GetStatus on uc answered kIOReturnBadArgument (0xE00002C2)\n\
             \x20     expected: kIOReturnSuccess (0x00000000)\n\
             \x20     actual:   kIOReturnBadArgument (0xE00002C2)\n\
             \x20     code:     kIOReturnBadArgument (0xE00002C2): invalid argument, IOKit common (sys_iokit | sub_iokit_common)\n\
             \x20 FAILED at scenarios/x.yaml:14:5 in 3ms\n"
        );
    }

    #[test]
    fn parallel_scenarios_come_out_as_whole_blocks() {
        let c = Console::new(Vec::new());
        let start = |s: &str| EventKind::ScenarioStarted {
            scenario: s.into(),
            file: format!("{s}.yaml"),
        };
        let done = |s: &str| EventKind::ScenarioFinished {
            scenario: s.into(),
            verdict: Verdict::Passed,
            took: Duration::from_millis(1),
        };
        for kind in [start("a"), start("b"), done("b"), done("a")] {
            c.event(&ev(kind));
        }
        let text = String::from_utf8(c.into_inner()).unwrap();
        assert_eq!(
            text,
            "\nscenario b (b.yaml)\n  passed in 1ms\n\nscenario a (a.yaml)\n  passed in 1ms\n"
        );
    }
}
