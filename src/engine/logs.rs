//! What the kernel and the dext said during each step: the lab's log capture (when it has one) read at the
//! end of every step, a step's `expect_log` / `expect_no_log` checked against it, and the dext's crash
//! report looked up when a call finds the dext dead. Knows [`LogCapture`], not which lab fills it.

use super::failure;
use super::run::Run;
use crate::logs::{LineSource, LogCapture, LogLine};
use crate::report::{Failure, human_duration};
use crate::scenario::{DEFAULT_LOG_WAIT, LogExpect, Step};
use std::time::{Duration, Instant};

/// How long to wait for the crash reporter to write the dext's report after a call found it dead.
pub const CRASH_REPORT_WAIT: Duration = Duration::from_secs(5);

impl Run<'_> {
    fn capture(&self) -> Option<&dyn LogCapture> {
        self.lab.logs()
    }

    /// Where the current step's lines start.
    pub(super) fn begin_step_log(&mut self) {
        self.step_cursor = self.log_cursor;
        self.extra_lines.clear();
    }

    /// The lines of the step that just ended, and the crash report lines it found. A failed step first
    /// waits the lab's log latency, so the lines that explain the failure are there to be shown.
    pub(super) fn end_step_log(&mut self, failed: bool) -> Vec<LogLine> {
        let mut lines = Vec::new();
        if let Some(c) = self.capture() {
            if failed && !c.latency().is_zero() {
                std::thread::sleep(c.latency());
            }
            let (got, cursor) = c.buffer().since(self.log_cursor);
            lines = got;
            self.log_cursor = cursor;
        }
        lines.append(&mut self.extra_lines);
        lines
    }

    /// A call found the dext's port dead (MACH_SEND_INVALID_DEST): attach its newest crash report.
    pub(super) fn look_for_crash_report(&mut self, until: Instant) {
        let Some(c) = self.capture() else { return };
        let wait = CRASH_REPORT_WAIT.min(until.saturating_duration_since(Instant::now()));
        let lines = match c.crash_report(self.started_wall, wait) {
            Some(report) => report.summary_lines(),
            None => vec![format!(
                "the dext died (its port is dead) but no crash report of it appeared within {}",
                human_duration(wait)
            )],
        };
        self.extra_lines.extend(
            lines
                .into_iter()
                .map(|t| LogLine::now(LineSource::CrashReport, t)),
        );
    }

    /// A step's log expectations, after its own checks passed.
    pub(super) fn check_logs(&mut self, step: &Step, until: Instant) -> Result<(), Failure> {
        for expect in &step.logs {
            self.check_log(expect, until)?;
        }
        Ok(())
    }

    fn check_log(&self, e: &LogExpect, until: Instant) -> Result<(), Failure> {
        let what = if e.present {
            "expects a log line"
        } else {
            "expects the absence of a log line"
        };
        let Some(c) = self.capture() else {
            return Err(failure::lab(format!(
                "this step {what}, but the `{}` lab captures no kernel or dext log",
                self.lab.name()
            )));
        };
        if let Some(t) = c.buffer().trouble() {
            return Err(failure::lab(format!(
                "this step {what}, but log capture is not working: {t}"
            )));
        }
        let wanted = format!("a log line containing `{}`", e.contains);
        let matches = |l: &LogLine| l.text.contains(&e.contains);
        if e.present {
            let within = e.within.unwrap_or(DEFAULT_LOG_WAIT);
            let deadline = (Instant::now() + within).min(until);
            if c.buffer()
                .wait_for(self.step_cursor, &matches, deadline)
                .is_some()
            {
                return Ok(());
            }
            let (seen, _) = c.buffer().since(self.step_cursor);
            return Err(Failure {
                expected: Some(wanted),
                actual: Some(lines_seen(seen.len())),
                ..failure::driver(format!(
                    "no kernel or dext log line containing `{}` within {} ({})",
                    e.contains,
                    human_duration(within),
                    e.span
                ))
            });
        }
        let within = e.within.unwrap_or(c.latency());
        let deadline = (Instant::now() + within).min(until);
        match c.buffer().wait_for(self.step_cursor, &matches, deadline) {
            None => Ok(()),
            Some(line) => Err(Failure {
                expected: Some(format!("no {}", &wanted[2..])),
                actual: Some(format!("{} said: {}", line.source.label(), line.text)),
                ..failure::driver(format!(
                    "a log line contains `{}`, which this step expects never to appear ({})",
                    e.contains, e.span
                ))
            }),
        }
    }
}

fn lines_seen(n: usize) -> String {
    match n {
        0 => "no line during this step".into(),
        1 => "1 other line during this step (below)".into(),
        n => format!("{n} other lines during this step (below)"),
    }
}

#[cfg(test)]
mod tests {
    use crate::lab::Lab;
    use crate::report::{Collector, FailureClass, Verdict};
    use crate::scenario::LogExpect;
    use crate::testkit as fake;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_log_expectation_on_a_lab_that_captures_no_log_is_the_labs_fault() {
        let mut open = fake::open(6, "uc");
        open.logs.push(LogExpect {
            span: fake::span(7),
            contains: "NewUserClient".into(),
            present: false,
            within: None,
        });
        let s = fake::scenario("no-logs", vec![open, fake::close(8)]);
        let lab: Arc<dyn Lab> = Arc::new(fake::WithoutLogs(fake::sim(&s)));
        let v = super::super::run_scenario(&s, lab, Arc::new(Collector::new()), Instant::now());
        let Verdict::Failed { failure, .. } = v else {
            panic!("passed")
        };
        assert_eq!(failure.class, FailureClass::Lab);
        assert_eq!(
            failure.message,
            "this step expects the absence of a log line, but the `without-logs` lab captures no kernel or dext log"
        );
    }
}
