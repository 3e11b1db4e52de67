//! A progress bar (indicatif) on stderr while a run goes, only when stderr is a terminal. Everything else
//! that writes to the terminal (the console reporter, tracing's log lines) goes through [`SuspendingWriter`],
//! which hides the bar for the write and redraws it after, so log lines are never cut by the bar.

use super::events::{EventKind, EventSink, RunEvent};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn current() -> Option<ProgressBar> {
    BAR.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Run `f` with the bar (if any) hidden.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    match current() {
        Some(bar) => bar.suspend(f),
        None => f(),
    }
}

/// A writer that hides the progress bar while it writes.
pub struct SuspendingWriter<W: Write>(pub W);

impl<W: Write> Write for SuspendingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        suspend(|| self.0.write(buf))
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        suspend(|| self.0.write_all(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The bar as a sink: length from `run_started`, its message the step running now, a redraw as each step
/// ends, a position per finished scenario, gone at `run_finished`. (`dexthil fuzz` reports in plain lines
/// from its own events, `fuzz::console`.)
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar when stderr is a terminal; `None` otherwise (logs and CI get plain lines only).
    pub fn if_terminal() -> Option<Progress> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        *BAR.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
        Some(Progress { bar })
    }

    fn done(&self) {
        self.bar.finish_and_clear();
        *BAR.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done();
    }
}

impl EventSink for Progress {
    fn event(&self, event: &RunEvent) {
        match &event.kind {
            EventKind::FuzzCase { .. }
            | EventKind::FuzzFinding { .. }
            | EventKind::FuzzCoverage { .. }
            | EventKind::FuzzFinished { .. } => {}
            EventKind::RunStarted { scenarios, .. } => self.bar.set_length(*scenarios as u64),
            EventKind::ScenarioStarted { scenario, .. } => {
                self.bar.set_message(scenario.to_string())
            }
            EventKind::ScenarioFinished { .. } | EventKind::ScenarioSkipped { .. } => {
                self.bar.inc(1)
            }
            EventKind::RunFinished { .. } => self.done(),
            EventKind::Interrupted { signal } => self
                .bar
                .set_message(format!("{signal}: finishing running scenarios")),
            // The bar shows the step running now, and ticks (redraws its spinner) as each one ends.
            EventKind::StepStarted {
                scenario,
                step,
                summary,
                ..
            } => self
                .bar
                .set_message(format!("{scenario} › {step} {summary}")),
            EventKind::StepFinished { .. } => self.bar.tick(),
            EventKind::HealthChecked { .. }
            | EventKind::ScenarioRetried { .. }
            | EventKind::LogLine { .. } => {}
        }
    }
}
