//! A fuzz journal read back (`dexthil report` on what `dexthil fuzz` wrote): shown by the same console the
//! live run used, then whether it finished. A journal that ends without its `fuzz_finished` is a run that
//! was killed, and the report names the case and the operation that was running.

use super::console::FuzzConsole;
use crate::report::{EventKind, EventSink, RunEvent};
use std::io::Write;

/// Whether `events` are a fuzz run's (written by `dexthil fuzz`, not a scenario run with a `fuzz` step).
pub fn is_fuzz_journal(events: &[RunEvent]) -> bool {
    let fuzz = events.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::FuzzCase { .. } | EventKind::FuzzFinished { .. }
        )
    });
    let run = events.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::RunStarted { .. } | EventKind::ScenarioStarted { .. }
        )
    });
    fuzz && !run
}

/// How a fuzz journal ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FuzzEnd {
    Finished {
        findings: usize,
    },
    /// No `fuzz_finished`: killed while running this case (`None`: before the first).
    Killed {
        running: Option<String>,
    },
}

/// Show the run on `out` as the live console did, then say how it ended.
pub fn report<W: Write + Send>(events: &[RunEvent], out: W) -> (FuzzEnd, W) {
    let console = FuzzConsole::new(out, 0);
    let mut findings = 0;
    for e in events {
        if let EventKind::FuzzFinding { .. } = e.kind {
            findings += 1;
        }
        console.event(e);
    }
    let end = if console.finished() {
        FuzzEnd::Finished { findings }
    } else {
        FuzzEnd::Killed {
            running: console.running_case(),
        }
    };
    let mut out = console.into_inner();
    match &end {
        FuzzEnd::Finished { findings } => {
            let _ = writeln!(out, "the fuzz run finished: {findings} findings");
        }
        FuzzEnd::Killed { running } => {
            let at = running
                .as_deref()
                .map(|r| format!(" while running {r}"))
                .unwrap_or_else(|| " before its first case".into());
            let _ = writeln!(
                out,
                "the fuzz run did not finish (killed?){at}; {findings} findings before that"
            );
        }
    }
    (end, out)
}
