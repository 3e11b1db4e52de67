//! `run --isolate`: each attempt of a scenario runs in a child process (this binary again, with the hidden
//! `__run-one` subcommand), so an abort or a segfault in our own FFI kills one scenario, not the run.
//!
//! The child runs exactly one scenario on the chosen lab and writes its events to stdout as journal lines
//! (`report::journal::to_line`), then one end line (`{"isolated_end": ...}`, the engine's `ScenarioEnd`). The
//! parent reads them back (`from_line`), stamps them with its own clock and sends them to its own sinks, so
//! the console, journal and JUnit cannot tell an isolated scenario from one run in process. A child that
//! dies without its end line failed as the lab's fault (see docs/isolation.md for why). A stop (SIGINT,
//! SIGTERM) is passed on to the children as SIGTERM.

use super::Exit;
use super::signals::Signals;
use super::trial::{Shared, attempt_here};
use crate::backends::{self, LabChoice};
use crate::engine::{ScenarioEnd, Stop};
use crate::report::journal::{from_line, to_line};
use crate::report::{EventKind, EventSink, Failure, FailureClass, RunEvent, StepOutcome, Verdict};
use crate::scenario::{self, Scenario};
use crate::span::Span;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The hidden subcommand the child runs.
pub const CHILD_COMMAND: &str = "__run-one";

/// How to start a child: this executable and the lab it is told to use.
#[derive(Clone, Debug)]
pub struct Isolation {
    exe: PathBuf,
    lab: String,
    /// The station file, so a child's lab replugs each printer the way the station says.
    station: Option<PathBuf>,
}

impl Isolation {
    pub fn new(lab: &LabChoice, station: Option<&Path>) -> Result<Isolation, String> {
        let exe = std::env::current_exe().map_err(|e| {
            format!("--isolate needs this program's own path to start children: {e}")
        })?;
        Ok(Isolation {
            exe,
            lab: lab.to_string(),
            station: station.map(Path::to_path_buf),
        })
    }
}

/// The children running now (process ids).
#[derive(Default)]
pub struct Children(Mutex<Vec<u32>>);

impl Children {
    fn add(&self, pid: u32) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(pid);
    }

    fn remove(&self, pid: u32) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|p| *p != pid);
    }

    /// Pass a stop on: SIGTERM to every child, which then stops like a run on its first signal.
    pub fn stop_all(&self) {
        for pid in self.0.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            terminate(*pid);
        }
    }
}

fn terminate(pid: u32) {
    if !crate::os::terminate(pid) {
        tracing::warn!(
            pid,
            "cannot pass a stop on to an isolated scenario on this platform"
        );
    }
}

/// The child's last line.
#[derive(Serialize, Deserialize)]
struct ChildEnd {
    isolated_end: ScenarioEnd,
}

/// A step the child started and has not finished, as its events said.
struct Running {
    step: std::sync::Arc<str>,
    span: Span,
    summary: std::sync::Arc<str>,
    since: Instant,
}

/// Run attempt `n` of `s` in a child, its events to `sink`; how it ended.
pub fn attempt_in_child(
    iso: &Isolation,
    sh: &Shared,
    s: &Scenario,
    n: u32,
    sink: &dyn EventSink,
) -> ScenarioEnd {
    let started = Instant::now();
    let mut command = Command::new(&iso.exe);
    command.arg(CHILD_COMMAND);
    if let Some(station) = &iso.station {
        command.arg("--station").arg(station);
    }
    let spawned = command
        .args([
            "--lab",
            &iso.lab,
            "--attempt",
            &n.to_string(),
            "--name",
            &s.name,
            "--",
        ])
        .arg(&s.source)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return lab_failure(
                sh,
                s,
                sink,
                &[],
                format!(
                    "cannot start the scenario's process ({}): {e}",
                    iso.exe.display()
                ),
                started,
            );
        }
    };
    let pid = child.id();
    sh.children.add(pid);
    if sh.stop.reason().is_some() {
        terminate(pid);
    }
    let mut running: Vec<Running> = Vec::new();
    let mut scenario_started = false;
    let mut verdict: Option<Verdict> = None;
    let mut end: Option<ScenarioEnd> = None;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            match from_line(&line) {
                Ok(event) => {
                    match &event.kind {
                        EventKind::ScenarioStarted { .. } => scenario_started = true,
                        EventKind::StepStarted {
                            step,
                            span,
                            summary,
                            ..
                        } => running.push(Running {
                            step: step.clone(),
                            span: span.clone(),
                            summary: summary.clone(),
                            since: Instant::now(),
                        }),
                        EventKind::StepFinished { .. } => {
                            running.pop();
                        }
                        EventKind::ScenarioFinished { verdict: v, .. } => verdict = Some(v.clone()),
                        _ => {}
                    }
                    // The child's clock started with it; the run's reports count from the run's start.
                    sink.event(&RunEvent {
                        elapsed: sh.run_start.elapsed(),
                        kind: event.kind,
                    });
                }
                Err(not_event) => match serde_json::from_str::<ChildEnd>(&line) {
                    Ok(e) => end = Some(e.isolated_end),
                    Err(_) => {
                        tracing::warn!(scenario = %s.name, line = %line, error = %not_event, "the scenario's process wrote a line that is not an event")
                    }
                },
            }
        }
    }
    sh.children.remove(pid);
    let status = child.wait();
    if let Some(end) = end {
        return end;
    }
    if let Some(verdict) = verdict {
        return ScenarioEnd::Finished { verdict };
    }
    let how = match &status {
        Ok(st) => death(st),
        Err(e) => format!("could not be waited for ({e})"),
    };
    if let Some(reason) = sh.stop.reason() {
        tracing::info!(scenario = %s.name, %how, "the scenario's process ended after a stop");
        return ScenarioEnd::Interrupted {
            reason,
            step: running.last().map(|r| format!("{} {}", r.step, r.summary)),
            closed: Vec::new(),
        };
    }
    let during = running
        .last()
        .map(|r| format!(" during step {} {}", r.step, r.summary))
        .unwrap_or_default();
    let why = if killed_by_signal(&status) {
        "a crash of dexthil itself, most likely in its host-side FFI or the lab backend, not a driver answer \
         (the dext runs in its own process), so the lab's fault; --isolate kept the run going"
    } else {
        "dexthil's own failure, not the driver's (its error is above); --isolate kept the run going"
    };
    let message = format!("the scenario's process {how}{during}: {why}");
    if !scenario_started {
        sink.event(&RunEvent {
            elapsed: sh.run_start.elapsed(),
            kind: EventKind::ScenarioStarted {
                scenario: s.name.as_str().into(),
                file: s.source.display().to_string(),
            },
        });
    }
    lab_failure(sh, s, sink, &running, message, started)
}

/// Fail the innermost running step (if any) and the scenario as the lab's fault.
fn lab_failure(
    sh: &Shared,
    s: &Scenario,
    sink: &dyn EventSink,
    running: &[Running],
    message: String,
    started: Instant,
) -> ScenarioEnd {
    let failure = Failure {
        class: FailureClass::Lab,
        message,
        expected: None,
        actual: None,
        code: None,
    };
    let emit = |kind| {
        sink.event(&RunEvent {
            elapsed: sh.run_start.elapsed(),
            kind,
        })
    };
    let span = match running.last() {
        Some(r) => {
            emit(EventKind::StepFinished {
                scenario: s.name.as_str().into(),
                step: r.step.clone(),
                span: r.span.clone(),
                summary: r.summary.clone(),
                outcome: StepOutcome::Failed(failure.clone()),
                took: r.since.elapsed(),
            });
            r.span.clone()
        }
        None => s.span.clone(),
    };
    let verdict = Verdict::Failed { span, failure };
    emit(EventKind::ScenarioFinished {
        scenario: s.name.as_str().into(),
        verdict: verdict.clone(),
        took: started.elapsed(),
    });
    ScenarioEnd::Finished { verdict }
}

fn killed_by_signal(status: &std::io::Result<ExitStatus>) -> bool {
    // The signal where the platform names one; no exit code where it does not.
    status
        .as_ref()
        .is_ok_and(|st| crate::os::exit_signal(st).is_some() || st.code().is_none())
}

/// `was killed by SIGABRT (signal 6)` or `exited with status 3`.
fn death(status: &ExitStatus) -> String {
    if let Some(sig) = crate::os::exit_signal(status) {
        return format!(
            "was killed by {} (signal {sig})",
            crate::os::signal_name(sig)
        );
    }
    match status.code() {
        Some(c) => format!("exited with status {c} before the scenario finished"),
        None => format!("ended ({status}) before the scenario finished"),
    }
}

/// The child's events, one journal line each on stdout. A write that fails means the parent is gone:
/// the scenario is stopped rather than left running for nobody.
struct LinesOut {
    stop: Stop,
}

impl EventSink for LinesOut {
    fn event(&self, event: &RunEvent) {
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{}", to_line(event))
            .and_then(|()| out.flush())
            .is_err()
        {
            self.stop.stop("the parent process is gone");
        }
    }
}

/// The child side (`dexthil __run-one`): run attempt `attempt` of the scenario `name` in `file` on `lab`,
/// streaming events to stdout. Its own exit code means little; the parent reads the end line.
pub fn run_child(
    file: &Path,
    name: &str,
    lab: &LabChoice,
    attempt: u32,
    station: Option<&Path>,
) -> Exit {
    let s = match scenario::load_scenario(file) {
        Ok(s) => s,
        Err(errors) => {
            super::print_load_errors(&errors, &mut std::io::stderr());
            return Exit::BadInputOrLab;
        }
    };
    if s.name != name {
        eprintln!(
            "error: {} holds scenario `{}`, not `{name}`",
            file.display(),
            s.name
        );
        return Exit::BadInputOrLab;
    }
    let factory = match backends::factory(lab) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInputOrLab;
        }
    };
    if let Some(path) = station {
        match crate::station::load_station(path) {
            Ok(st) => factory.use_replug_plan(crate::station::replug_plan(&st)),
            Err(errors) => {
                super::print_load_errors(&errors, &mut std::io::stderr());
                return Exit::BadInputOrLab;
            }
        }
    }
    let stop = Stop::new();
    let signals = Signals::install();
    let done = AtomicBool::new(false);
    let sink: std::sync::Arc<dyn EventSink> = std::sync::Arc::new(LinesOut { stop: stop.clone() });
    let parent = crate::os::parent_pid();
    let end = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                if let Some(name) = signals.received() {
                    stop.stop(name);
                    return;
                }
                // A parent killed outright (SIGKILL) sends no SIGTERM: the child is re-parented. Stop then,
                // even in a hung call, rather than outlive the run for nobody (issue 18).
                if crate::os::parent_pid() != parent {
                    stop.stop("the parent process is gone");
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let end = attempt_here(&*factory, &s, attempt, sink, Instant::now(), &stop);
        done.store(true, Ordering::SeqCst);
        end
    });
    let line = serde_json::to_string(&ChildEnd { isolated_end: end }).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    Exit::Passed
}
