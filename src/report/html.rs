//! `dexthil report ... --html FILE`: one self-contained page a release manager opens (no script, no network,
//! no external asset). On top the verdict and where each run ran; then the failures, first, each with its
//! YAML place, step, expected / actual, decoded code and the log lines; a row per scenario with its station
//! and time; latency percentiles of repeated call steps; fuzz coverage when a journal has fuzz events.

use super::human_duration;
use super::latency::call_latencies;
use super::tally::{RunRecord, ScenarioRecord, Status};
use serde_json::Value;
use std::fmt::Write;

/// One journal's run, as the page shows it.
pub struct HtmlRun {
    /// The journal's path, as given.
    pub journal: String,
    pub record: RunRecord,
    /// Fuzz coverage events (`"event"` naming coverage) as written, shown generically.
    pub coverage: Vec<Value>,
    /// `(selector, shape)` of every fuzz call case, for coverage when no coverage event was written.
    pub fuzz_calls: Vec<(String, String)>,
}

impl HtmlRun {
    /// Where the run ran: its station, else its host, else its journal.
    pub fn station(&self) -> String {
        let p = &self.record.provenance;
        let mut s = p
            .station
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| Some(p.hostname.clone()).filter(|h| !h.is_empty()))
            .unwrap_or_else(|| self.journal.clone());
        if let Some(part) = &p.partition {
            s.push_str(&format!(" {part}"));
        }
        s
    }
}

/// `<`, `>`, `&` and quotes escaped; control characters shown as `\u{..}` so nothing reaches the page raw.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{margin:.2em 0}.verdict{padding:.6em 1em;border-radius:6px;font-size:1.3em;font-weight:bold}\
.passed{background:#d7f5dd;color:#0b5d1e}.failed{background:#fbd5d5;color:#8a1111}\
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;\
text-align:left;vertical-align:top}th{background:#f2f2f2}.failure{border:2px solid #c62828;\
border-radius:6px;padding:.6em 1em;margin:.8em 0;background:#fff5f5}.failure h3{margin:.1em 0 .4em;\
color:#8a1111}pre{background:#f6f6f6;padding:.5em;overflow-x:auto;white-space:pre-wrap}\
.st-passed{color:#0b5d1e}.st-failed{color:#8a1111;font-weight:bold}.st-skipped{color:#777}\
.st-interrupted{color:#a15c00;font-weight:bold}code{background:#f2f2f2;padding:0 .2em}";

fn status_text(s: &ScenarioRecord) -> (&'static str, String) {
    match &s.status {
        Status::Passed if s.flaky() => ("passed", "passed on a retry (flaky)".into()),
        Status::Passed => ("passed", "passed".into()),
        Status::Failed { failure, .. } => (
            "failed",
            match failure.class {
                super::FailureClass::Driver => "failed (driver)".into(),
                super::FailureClass::Lab => "failed (lab)".into(),
            },
        ),
        Status::Interrupted { step } => (
            "interrupted",
            match step {
                Some(s) => format!("interrupted during {s}"),
                None => "interrupted".into(),
            },
        ),
        Status::NotRun => ("skipped", "never started".into()),
        Status::Skipped { reason } => ("skipped", format!("skipped: {reason}")),
    }
}

fn failure_block(out: &mut String, station: &str, s: &ScenarioRecord) {
    let Status::Failed {
        span,
        failure,
        step,
    } = &s.status
    else {
        return;
    };
    let _ = write!(
        out,
        "<div class=\"failure\"><h3>{} <small>on {}</small></h3>\n<table>",
        escape(&s.name),
        escape(station)
    );
    let mut row = |k: &str, v: &str| {
        let _ = write!(out, "<tr><th>{k}</th><td>{}</td></tr>", escape(v));
    };
    row("where", &span.to_string());
    if let Some(step) = step {
        row("step", step);
    }
    row("what", &failure.message);
    if let Some(e) = &failure.expected {
        row("expected", e);
    }
    if let Some(a) = &failure.actual {
        row("actual", a);
    }
    if let Some(code) = failure.code {
        let decoded = crate::ioreturn::decode(code.0);
        let meaning = decoded
            .known
            .map(|k| format!(": {}, {}", k.meaning, k.family.label()))
            .unwrap_or_default();
        row("code", &format!("{code}{meaning}"));
    }
    row(
        "blame",
        match failure.class {
            super::FailureClass::Driver => "the driver (exit 1)",
            super::FailureClass::Lab => "the lab, not the driver (exit 2)",
        },
    );
    out.push_str("</table>");
    if !s.logs.is_empty() {
        let _ = write!(
            out,
            "<div>log lines</div><pre>{}</pre>",
            escape(&s.log_text())
        );
    }
    out.push_str("</div>\n");
}

fn provenance_table(out: &mut String, runs: &[HtmlRun]) {
    out.push_str(
        "<h2>Where it ran</h2><table><tr><th>station</th><th>host</th><th>lab</th><th>started</th>\
        <th>dexthil</th><th>dexts</th><th>printers</th><th>journal</th></tr>\n",
    );
    for r in runs {
        let p = &r.record.provenance;
        let dexts: Vec<String> = p
            .dexts
            .iter()
            .map(|d| format!("{} {} (cdhash {})", d.bundle_id, d.version, d.cdhash))
            .collect();
        let printers: Vec<String> = p
            .printers
            .iter()
            .map(|pr| {
                format!(
                    "{}: {} serial {} firmware {}",
                    pr.role, pr.model, pr.serial, pr.firmware
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.station()),
            escape(&p.hostname),
            escape(&r.record.lab),
            escape(&p.started_at),
            escape(&p.dexthil_version),
            escape(&p.dexthil_commit),
            escape(&dexts.join("\n")).replace('\n', "<br>"),
            escape(&printers.join("\n")).replace('\n', "<br>"),
            escape(&r.journal)
        );
    }
    out.push_str("</table>\n");
}

/// A JSON value as HTML: an array of objects becomes a table (columns: every key seen), an object a
/// key / value table, anything else its text. Coverage events are rendered so, whatever their shape.
fn json_html(v: &Value) -> String {
    match v {
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
            let mut keys: Vec<&String> = Vec::new();
            for item in items {
                for k in item.as_object().into_iter().flat_map(|o| o.keys()) {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            }
            let mut s = String::from("<table><tr>");
            for k in &keys {
                let _ = write!(s, "<th>{}</th>", escape(k));
            }
            s.push_str("</tr>");
            for item in items {
                s.push_str("<tr>");
                for k in &keys {
                    let cell = item.get(k.as_str()).map(json_html).unwrap_or_default();
                    let _ = write!(s, "<td>{cell}</td>");
                }
                s.push_str("</tr>");
            }
            s.push_str("</table>");
            s
        }
        Value::Object(map) => {
            let mut s = String::from("<table>");
            for (k, v) in map {
                let _ = write!(
                    s,
                    "<tr><th>{}</th><td>{}</td></tr>",
                    escape(k),
                    json_html(v)
                );
            }
            s.push_str("</table>");
            s
        }
        Value::String(t) => escape(t),
        other => escape(&other.to_string()),
    }
}

/// Coverage rows as one table: selector, shape, answer and count first, in that order, then any other field.
fn coverage_rows(out: &mut String, rows: &[Value]) {
    const FIRST: [&str; 4] = ["selector", "shape", "answer", "count"];
    let mut columns: Vec<String> = FIRST.iter().map(|c| c.to_string()).collect();
    for row in rows.iter().filter_map(Value::as_object) {
        for k in row.keys() {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    out.push_str("<table><tr>");
    for c in &columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr>");
    for row in rows {
        out.push_str("<tr>");
        for c in &columns {
            let cell = match row.get(c) {
                Some(Value::String(s)) => escape(s),
                Some(v) => json_html(v),
                None => String::new(),
            };
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

fn fuzz_section(out: &mut String, runs: &[HtmlRun]) {
    let any = runs
        .iter()
        .any(|r| !r.coverage.is_empty() || !r.fuzz_calls.is_empty());
    if !any {
        return;
    }
    out.push_str("<h2>Fuzz coverage</h2>\n");
    for r in runs {
        if !r.coverage.is_empty() {
            let _ = write!(out, "<h3>{}</h3>", escape(&r.station()));
            for c in &r.coverage {
                // The fuzzer's own coverage event (`fuzz_coverage`): one row per selector × shape × answer.
                if let Some(rows) = c.get("rows").and_then(Value::as_array) {
                    coverage_rows(out, rows);
                    continue;
                }
                let mut c = c.clone();
                if let Some(o) = c.as_object_mut() {
                    for k in ["v", "event", "elapsed"] {
                        o.remove(k);
                    }
                }
                out.push_str(&json_html(&c));
            }
        } else if !r.fuzz_calls.is_empty() {
            let mut cells: Vec<((String, String), usize)> = Vec::new();
            for key in &r.fuzz_calls {
                match cells.iter_mut().find(|(k, _)| k == key) {
                    Some((_, n)) => *n += 1,
                    None => cells.push((key.clone(), 1)),
                }
            }
            cells.sort();
            let _ = write!(
                out,
                "<h3>{}</h3><p>calls by selector × shape (this journal has no coverage event with the answers)</p>\
                 <table><tr><th>selector</th><th>shape</th><th>calls</th></tr>",
                escape(&r.station())
            );
            for ((sel, shape), n) in cells {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{n}</td></tr>",
                    escape(&sel),
                    escape(&shape)
                );
            }
            out.push_str("</table>");
        }
    }
}

/// The page. `verdict`: one line (`passed`, `failed: the driver broke (exit 1)`); `passed` colours it green.
pub fn render(runs: &[HtmlRun], verdict: &str, passed: bool) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>dexthil report</title><style>",
    );
    out.push_str(STYLE);
    out.push_str("</style></head><body>\n<h1>dexthil report</h1>\n");
    let _ = writeln!(
        out,
        "<div class=\"verdict {}\" id=\"verdict\">{}</div>",
        if passed { "passed" } else { "failed" },
        escape(verdict)
    );
    provenance_table(&mut out, runs);

    let failed: Vec<(String, &ScenarioRecord)> = runs
        .iter()
        .flat_map(|r| {
            let st = r.station();
            r.record
                .scenarios
                .iter()
                .filter(|s| matches!(s.status, Status::Failed { .. }))
                .map(move |s| (st.clone(), s))
        })
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "<h2 id=\"failures\">Failures ({})</h2>", failed.len());
        for (station, s) in &failed {
            failure_block(&mut out, station, s);
        }
    }

    out.push_str(
        "<h2>Scenarios</h2><table><tr><th>scenario</th><th>station</th><th>file</th>\
        <th>result</th><th>time</th></tr>\n",
    );
    for r in runs {
        let st = r.station();
        for s in &r.record.scenarios {
            let (class, text) = status_text(s);
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"st-{class}\">{}</td><td>{}</td></tr>",
                escape(&s.name),
                escape(&st),
                escape(&s.file),
                escape(&text),
                if s.started.is_some() {
                    human_duration(s.took)
                } else {
                    "—".to_string()
                }
            );
        }
    }
    out.push_str("</table>\n");

    let mut latency = String::new();
    for r in runs {
        for l in call_latencies(&r.record, 2) {
            let _ = writeln!(
                latency,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&l.scenario),
                escape(&r.station()),
                escape(&l.step),
                l.count,
                human_duration(l.p50),
                human_duration(l.p99),
                human_duration(l.max)
            );
        }
    }
    if !latency.is_empty() {
        out.push_str(
            "<h2>Latency of repeated calls</h2><table><tr><th>scenario</th><th>station</th>\
            <th>call step</th><th>calls</th><th>p50</th><th>p99</th><th>max</th></tr>\n",
        );
        out.push_str(&latency);
        out.push_str("</table>\n");
    }
    fuzz_section(&mut out, runs);
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_open_a_tag_or_carry_a_terminal_escape() {
        assert_eq!(
            escape("<script>\u{1b}[2J & \"x\""),
            "&lt;script&gt;\\u{1b}[2J &amp; &quot;x&quot;"
        );
    }

    #[test]
    fn coverage_of_any_shape_becomes_tables() {
        let v: Value = serde_json::json!({
            "cells": [
                {"selector": "GetStatus", "shape": "valid", "answer": "kIOReturnSuccess", "count": 3},
                {"selector": "GetStatus", "shape": "scalars+1", "answer": "kIOReturnBadArgument", "count": 1}
            ]
        });
        let html = json_html(&v);
        assert!(
            html.contains("<th>answer</th><th>count</th><th>selector</th><th>shape</th>"),
            "{html}"
        );
        assert!(html.contains("<td>kIOReturnBadArgument</td>"), "{html}");
    }
}
