//! The fuzzer's console output, made from its events (the same events the journal stores), so a live run
//! and `dexthil report` of its journal print the same thing: the progress lines, each finding as it is
//! found, and the closing summary with `N findings` and the coverage table. Writes to any `Write`.

use super::coverage::table;
use crate::report::{EventKind, EventSink, RunEvent, human_duration};
use std::io::Write;
use std::sync::Mutex;

/// A sink that prints a fuzz run for a person.
pub struct FuzzConsole<W: Write + Send> {
    out: Mutex<W>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Cases to run (for progress lines; 0: no progress lines).
    total: u64,
    generated: u64,
    findings: usize,
    /// The last case started, its operation and the operation's place (for a run that never finished).
    last: Option<(u64, u32, String)>,
    finished: bool,
}

impl<W: Write + Send> FuzzConsole<W> {
    /// `total`: the cases asked for, for a progress line every tenth of them (0: none).
    pub fn new(out: W, total: u64) -> Self {
        FuzzConsole {
            out: Mutex::new(out),
            state: Mutex::new(State {
                total,
                ..State::default()
            }),
        }
    }

    fn say(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// Whether the run's `FuzzFinished` was seen.
    pub fn finished(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .finished
    }

    /// The case that was running when the events stop, for a run that never finished:
    /// `case 812, operation 2: call ...`.
    pub fn running_case(&self) -> Option<String> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.last
            .as_ref()
            .map(|(case, step, op)| format!("case {case}, operation {step}: {op}"))
    }

    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

/// An operation as one short line, without the driver file (a journal read back has none).
fn op_text(op: &crate::report::fuzz_op::FuzzOp) -> String {
    serde_json::to_string(op).unwrap_or_default()
}

impl<W: Write + Send> EventSink for FuzzConsole<W> {
    fn event(&self, event: &RunEvent) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match &event.kind {
            EventKind::FuzzCase {
                case,
                step,
                shrinking,
                op,
                ..
            } => {
                st.last = Some((*case, *step, op_text(op)));
                if *step == 0 && !*shrinking {
                    st.generated += 1;
                    let every = (st.total / 10).max(1);
                    if st.total > 0 && st.generated.is_multiple_of(every) {
                        let rate = st.generated as f64 / event.elapsed.as_secs_f64().max(1e-9);
                        let line = format!(
                            "fuzz: {}/{} cases, {rate:.0} cases/s, {} findings\n",
                            st.generated, st.total, st.findings
                        );
                        drop(st);
                        self.say(&line);
                    }
                }
            }
            EventKind::FuzzFinding {
                signature,
                message,
                expected,
                actual,
                ops,
                scenario,
                ..
            } => {
                st.findings += 1;
                let n = st.findings;
                drop(st);
                let mut text = format!("fuzz: finding {n}: {signature}\n  {message}\n");
                text.push_str(&format!("  expected: {expected}\n  actual:   {actual}\n"));
                text.push_str(&format!("  minimal case: {} operations\n", ops.len()));
                if let Some(p) = scenario {
                    text.push_str(&format!(
                        "  written: {p} (run it: dexthil run --lab sim {p})\n"
                    ));
                }
                self.say(&text);
            }
            EventKind::FuzzCoverage { rows } => {
                drop(st);
                self.say(&format!(
                    "fuzz: coverage (selector × shape × answer)\n{}",
                    table(rows)
                ));
            }
            EventKind::FuzzFinished {
                seed,
                cases,
                generated,
                ended,
                ops,
                findings,
                took,
            } => {
                st.finished = true;
                drop(st);
                let rate = *generated as f64 / took.as_secs_f64().max(1e-9);
                let shrinking = cases.saturating_sub(*generated);
                let why = match ended.as_str() {
                    "budget" => " (stopped at its budget)",
                    "first finding" => " (stopped at its first finding)",
                    _ => "",
                };
                self.say(&format!(
                    "fuzz: {generated} cases{why} (and {shrinking} shrinking), {ops} operations in {} ({rate:.0} cases/s), seed {seed}: {findings} findings\n",
                    human_duration(*took)
                ));
            }
            EventKind::RunStarted { .. }
            | EventKind::ScenarioStarted { .. }
            | EventKind::StepStarted { .. }
            | EventKind::StepFinished { .. }
            | EventKind::ScenarioFinished { .. }
            | EventKind::RunFinished { .. }
            | EventKind::HealthChecked { .. }
            | EventKind::ScenarioRetried { .. }
            | EventKind::ScenarioSkipped { .. }
            | EventKind::Interrupted { .. }
            | EventKind::LogLine { .. } => {}
        }
    }
}
