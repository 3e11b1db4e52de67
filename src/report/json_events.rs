//! `run --format json`: one JSON object a line per event on stdout, for machines. Fields, not text: each
//! object has `event`, and where they apply `scenario`, `step`, `span` (`file`, `line`, `column`),
//! `summary`, `result` (`passed` / `failed`), `class` (`driver` / `lab`), `message`, `expected`, `actual`,
//! `code` (`0xE00002D5`) with its `code_name` (`kIOReturnBusy`), and times in microseconds. Also the
//! `--list --format json` lines ([`listed`]). Documented in docs/nightly.md.

use super::events::{EventKind, EventSink, Failure, FailureClass, RunEvent, StepOutcome, Verdict};
use crate::span::Span;
use serde_json::{Map, Value, json};
use std::io::Write;
use std::sync::Mutex;

pub struct JsonEvents<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonEvents<W> {
    pub fn new(out: W) -> Self {
        JsonEvents {
            out: Mutex::new(out),
        }
    }
}

fn span(s: &Span) -> Value {
    json!({ "file": s.file.display().to_string(), "line": s.line, "column": s.column })
}

fn micros(d: std::time::Duration) -> Value {
    json!(d.as_micros() as u64)
}

fn failure(o: &mut Map<String, Value>, f: &Failure) {
    o.insert("result".into(), json!("failed"));
    o.insert(
        "class".into(),
        json!(match f.class {
            FailureClass::Driver => "driver",
            FailureClass::Lab => "lab",
        }),
    );
    o.insert("message".into(), json!(f.message));
    o.insert("expected".into(), json!(f.expected));
    o.insert("actual".into(), json!(f.actual));
    if let Some(code) = f.code {
        o.insert("code".into(), json!(format!("0x{:08X}", code.0)));
        let name = crate::ioreturn::decode(code.0).known.map(|k| k.name);
        o.insert("code_name".into(), json!(name));
    }
}

/// The event as one flat object.
pub fn event_object(event: &RunEvent) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Value| {
        o.insert(k.to_string(), v);
    };
    put("elapsed_us", micros(event.elapsed));
    match &event.kind {
        EventKind::RunStarted {
            lab,
            scenarios,
            provenance,
            selected,
            nothing_to_run,
        } => {
            put("event", json!("run_started"));
            put("lab", json!(lab));
            put("scenarios", json!(scenarios));
            put("selected", json!(selected));
            if let Some(n) = nothing_to_run {
                put(
                    "nothing_to_run",
                    serde_json::to_value(n).unwrap_or(Value::Null),
                );
            }
            put(
                "provenance",
                serde_json::to_value(provenance).unwrap_or(Value::Null),
            );
        }
        EventKind::ScenarioStarted { scenario, file } => {
            put("event", json!("scenario_started"));
            put("scenario", json!(scenario));
            put("file", json!(file));
        }
        EventKind::StepStarted {
            scenario,
            step,
            span: s,
            summary,
        } => {
            put("event", json!("step_started"));
            put("scenario", json!(scenario));
            put("step", json!(step));
            put("span", span(s));
            put("summary", json!(summary));
        }
        EventKind::StepFinished {
            scenario,
            step,
            span: s,
            summary,
            outcome,
            took,
        } => {
            put("event", json!("step_finished"));
            put("scenario", json!(scenario));
            put("step", json!(step));
            put("span", span(s));
            put("summary", json!(summary));
            put("took_us", micros(*took));
            match outcome {
                StepOutcome::Passed { detail } => {
                    put("result", json!("passed"));
                    put("detail", json!(detail));
                }
                StepOutcome::Failed(f) => failure(&mut o, f),
            }
        }
        EventKind::ScenarioFinished {
            scenario,
            verdict,
            took,
        } => {
            put("event", json!("scenario_finished"));
            put("scenario", json!(scenario));
            put("took_us", micros(*took));
            match verdict {
                Verdict::Passed => put("result", json!("passed")),
                Verdict::Failed {
                    span: s,
                    failure: f,
                } => {
                    put("span", span(s));
                    failure(&mut o, f);
                }
            }
        }
        EventKind::RunFinished {
            passed,
            failed,
            lab_errors,
            took,
            flaky,
            interrupted,
            skipped,
        } => {
            put("event", json!("run_finished"));
            put("passed", json!(passed));
            put("failed", json!(failed));
            put("lab_errors", json!(lab_errors));
            put("flaky", json!(flaky));
            put("skipped", json!(skipped));
            put("interrupted", json!(interrupted));
            put("took_us", micros(*took));
        }
        EventKind::HealthChecked { station, problems } => {
            put("event", json!("health_checked"));
            put("station", json!(station));
            put("healthy", json!(problems.is_empty()));
            put("problems", json!(problems));
        }
        EventKind::ScenarioRetried {
            scenario,
            attempt,
            failure: f,
        } => {
            put("event", json!("scenario_retried"));
            put("scenario", json!(scenario));
            put("attempt", json!(attempt));
            failure(&mut o, f);
        }
        EventKind::ScenarioSkipped {
            scenario,
            file,
            reason,
        } => {
            put("event", json!("scenario_skipped"));
            put("scenario", json!(scenario));
            put("file", json!(file));
            put("result", json!("skipped"));
            put("reason", json!(reason));
        }
        EventKind::Interrupted { signal } => {
            put("event", json!("interrupted"));
            put("signal", json!(signal));
        }
        EventKind::LogLine {
            scenario,
            step,
            at,
            source,
            text,
        } => {
            put("event", json!("log_line"));
            put("scenario", json!(scenario));
            put("step", json!(step));
            put("at", json!(at));
            put("source", json!(source.label().trim()));
            put("text", json!(text));
        }
        // Fuzz events keep the journal's own fields (their ops are structured already).
        EventKind::FuzzCase { .. }
        | EventKind::FuzzFinding { .. }
        | EventKind::FuzzCoverage { .. }
        | EventKind::FuzzFinished { .. } => {
            if let Ok(Value::Object(j)) =
                serde_json::from_str::<Value>(&super::journal::to_line(event))
            {
                for (k, v) in j {
                    if k != "v" && k != "elapsed" {
                        o.insert(k, v);
                    }
                }
            }
        }
    }
    Value::Object(o)
}

impl<W: Write + Send> EventSink for JsonEvents<W> {
    fn event(&self, event: &RunEvent) {
        let line = event_object(event).to_string();
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // Nowhere to say a failed write; the journal and the exit code still tell the run.
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
}

/// `--list --format json`: one object per scenario.
pub fn listed(s: &crate::scenario::Scenario) -> Value {
    json!({
        "event": "listed",
        "scenario": s.name,
        "file": s.source.display().to_string(),
        "span": span(&s.span),
        "tags": s.tags,
        "driver": s.driver.source.display().to_string(),
        "printers": s.printers.iter().map(|r| json!({ "role": r.name, "needs": r.describe() })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioreturn::ReturnCode;

    #[test]
    fn a_failed_step_is_fields_with_the_codes_name() {
        let e = RunEvent {
            elapsed: std::time::Duration::from_micros(5),
            kind: EventKind::StepFinished {
                scenario: "a".into(),
                step: "2".into(),
                span: crate::testkit::span(15),
                summary: "call GetStatus on uc".into(),
                outcome: StepOutcome::Failed(Failure {
                    class: FailureClass::Driver,
                    message: "GetStatus answered kIOReturnBusy".into(),
                    expected: Some("kIOReturnSuccess (0x00000000)".into()),
                    actual: Some("kIOReturnBusy (0xE00002D5)".into()),
                    code: Some(ReturnCode(0xE000_02D5)),
                }),
                took: std::time::Duration::from_micros(40),
            },
        };
        let v = event_object(&e);
        assert_eq!(v["event"], "step_finished");
        assert_eq!(v["span"]["line"], 15);
        assert_eq!(v["class"], "driver");
        assert_eq!(v["code"], "0xE00002D5");
        assert_eq!(v["code_name"], "kIOReturnBusy");
        assert_eq!(v["took_us"], 40);
    }
}
