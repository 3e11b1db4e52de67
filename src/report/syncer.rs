//! The journal's periodic sync: a thread that `fsync`s the journal file at most every
//! [`SYNC_INTERVAL`] while lines have been written since the last sync, so the thread that emits events
//! (a scenario's, the fuzzer's) never waits for the disk except at a verdict. Stopped and joined on drop,
//! after a last sync of whatever is left.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often, at most, lines that are not verdicts are synced.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(100);

struct Shared {
    file: Arc<File>,
    path: PathBuf,
    /// The journal's first write or sync error (shared with it), so a failed sync ends the run with exit 2.
    error: Arc<Mutex<Option<String>>>,
    /// Lines were written since the last sync.
    dirty: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
}

pub struct Syncer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Start syncing `file`; `None` when no thread can be had (the caller then syncs inline).
    pub fn start(
        file: Arc<File>,
        path: &Path,
        error: Arc<Mutex<Option<String>>>,
    ) -> Option<Syncer> {
        let shared = Arc::new(Shared {
            file,
            path: path.to_path_buf(),
            error,
            dirty: AtomicBool::new(false),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("dexthil-journal-sync".into())
            .spawn(move || run(&theirs))
            .map_err(|e| tracing::warn!(error = %e, "no journal sync thread; syncing inline"))
            .ok()?;
        Some(Syncer {
            shared,
            thread: Some(thread),
        })
    }

    /// Lines were written: sync them within [`SYNC_INTERVAL`]. An atomic store, no syscall.
    pub fn written(&self) {
        self.shared.dirty.store(true, Ordering::Release);
    }

    /// The caller synced everything itself (a verdict).
    pub fn synced(&self) {
        self.shared.dirty.store(false, Ordering::Release);
    }
}

fn run(shared: &Shared) {
    let mut stop = shared.stop.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if *stop {
            break;
        }
        stop = shared
            .wake
            .wait_timeout(stop, SYNC_INTERVAL)
            .unwrap_or_else(|p| p.into_inner())
            .0;
        if shared.dirty.swap(false, Ordering::AcqRel)
            && let Err(e) = shared.file.sync_data()
        {
            super::journal::note_error(&shared.error, &shared.path, &e);
        }
    }
    if shared.dirty.swap(false, Ordering::AcqRel)
        && let Err(e) = shared.file.sync_data()
    {
        super::journal::note_error(&shared.error, &shared.path, &e);
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
