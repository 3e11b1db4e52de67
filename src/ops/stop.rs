//! A request to stop the running scenarios (SIGINT / SIGTERM, or an isolated child whose parent is gone),
//! shared by the runner and the engine. Waits on it are woken at once by a condvar: a 30 s `sleep` step
//! ends the moment the stop comes, not at its next poll.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Cheap to clone; every clone sees the same stop.
#[derive(Clone, Default)]
pub struct Stop(Arc<(Mutex<Option<String>>, Condvar)>, Arc<Hooks>);

type Hook = Arc<dyn Fn() + Send + Sync>;

/// What runs when the stop comes: a scenario waiting on a hung call gives the call up at once (issue 18).
#[derive(Default)]
struct Hooks {
    next: std::sync::atomic::AtomicU64,
    list: Mutex<Vec<(u64, Hook)>>,
}

/// A hook registered with [`Stop::on_stop`]; dropping it removes the hook.
pub struct StopHook {
    hooks: Arc<Hooks>,
    id: u64,
}

impl Drop for StopHook {
    fn drop(&mut self) {
        let mut list = self.hooks.list.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|(id, _)| *id != self.id);
    }
}

impl Stop {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask everything waiting on this to stop; `why` is what the reports show (`SIGINT`). The first
    /// reason wins.
    pub fn stop(&self, why: &str) {
        let (reason, changed) = &*self.0;
        let mut r = reason.lock().unwrap_or_else(|p| p.into_inner());
        if r.is_none() {
            *r = Some(why.to_string());
        }
        changed.notify_all();
        drop(r);
        // Called outside both locks: a hook may take its own.
        let hooks: Vec<Hook> = self
            .1
            .list
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, h)| h.clone())
            .collect();
        for h in hooks {
            h();
        }
    }

    /// Run `f` when the stop comes (at once if it came already), until the returned hook is dropped.
    pub fn on_stop(&self, f: impl Fn() + Send + Sync + 'static) -> StopHook {
        let id = self
            .1
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let f: Hook = Arc::new(f);
        self.1
            .list
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, f.clone()));
        if self.reason().is_some() {
            f();
        }
        StopHook {
            hooks: self.1.clone(),
            id,
        }
    }

    /// Why the stop was asked for, once it was.
    pub fn reason(&self) -> Option<String> {
        self.0.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Wait up to `d`; `Some(reason)` as soon as a stop is asked for, `None` when the time ran out.
    pub fn wait(&self, d: Duration) -> Option<String> {
        let until = Instant::now() + d;
        let (reason, changed) = &*self.0;
        let mut r = reason.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(why) = &*r {
                return Some(why.clone());
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            r = changed
                .wait_timeout(r, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Stop").field(&self.reason()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_ends_when_the_stop_comes_not_when_its_time_runs_out() {
        let stop = Stop::new();
        assert_eq!(stop.wait(Duration::from_millis(20)), None);
        let other = stop.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            other.stop("SIGINT");
            other.stop("SIGTERM");
        });
        let started = Instant::now();
        assert_eq!(
            stop.wait(Duration::from_secs(30)).as_deref(),
            Some("SIGINT")
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        t.join().unwrap();
    }
}
