//! A lab call on a worker thread under a deadline, for callers that are not a scenario's own thread (the
//! fuzzer runs each operation so and keeps going after a hang). The scenario engine does not use it: its
//! steps run on their own thread under the [`Watchdog`](super::deadline::Watchdog), with no hop per call.
//! A worker that does not answer in time is abandoned, never joined; the next call gets a fresh one.

use super::deadline::{DeadlineError, panic_text};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

type Job = Box<dyn FnOnce() + Send>;

/// One worker thread that runs calls in order, replaced when a call hangs.
pub struct Worker {
    name: String,
    jobs: Option<mpsc::Sender<Job>>,
    abandoned: usize,
}

impl Worker {
    /// A worker whose threads are named after `name` (the scenario). The thread starts on first use.
    pub fn new(name: &str) -> Self {
        Worker {
            name: name.to_string(),
            jobs: None,
            abandoned: 0,
        }
    }

    /// How many threads were abandoned because a call on them hung.
    pub fn abandoned(&self) -> usize {
        self.abandoned
    }

    /// Run `f` on the worker and wait for its answer until `until`. On timeout the worker is abandoned
    /// (the call may still be running; its answer is dropped when it comes).
    pub fn run<T, F>(&mut self, until: Instant, f: F) -> Result<T, DeadlineError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let budget = until.saturating_duration_since(Instant::now());
        // A bounded channel of one: the worker never blocks on sending an answer nobody waits for.
        let (answer_tx, answer_rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = answer_tx.try_send(catch_unwind(AssertUnwindSafe(f)));
        });
        self.submit(job);
        match answer_rx.recv_timeout(budget) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(payload)) => Err(DeadlineError::Panicked(panic_text(payload.as_ref()))),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.abandon();
                Err(DeadlineError::Hung { budget })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.abandon();
                Err(DeadlineError::Panicked("the worker thread died".into()))
            }
        }
    }

    fn submit(&mut self, job: Job) {
        let job = match &self.jobs {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                // The thread is gone (it cannot be, as jobs catch panics; but be sure): start another.
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let name = format!("dexthil-lab-{}-{}", self.name, self.abandoned);
        let spawned = thread::Builder::new().name(name).spawn(move || {
            while let Ok(job) = rx.recv() {
                job();
            }
        });
        match spawned {
            Ok(_) => {
                let _ = tx.send(job);
                self.jobs = Some(tx);
            }
            Err(e) => {
                // No thread to run on: run here rather than not at all (a hang then blocks the scenario).
                tracing::warn!(error = %e, "cannot start a lab worker thread; running the call inline");
                job();
            }
        }
    }

    fn abandon(&mut self) {
        if self.jobs.take().is_some() {
            self.abandoned += 1;
            tracing::debug!(worker = %self.name, "lab worker abandoned");
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    #[test]
    fn answers_come_back_in_order_on_one_thread() {
        let mut w = Worker::new("t");
        let until = Instant::now() + Duration::from_secs(5);
        let a = w.run(until, || thread::current().id()).unwrap();
        let b = w.run(until, || thread::current().id()).unwrap();
        assert_eq!(a, b, "calls share one worker while none hangs");
        assert_ne!(a, thread::current().id());
        assert_eq!(w.abandoned(), 0);
    }

    #[test]
    fn a_hung_call_times_out_at_its_deadline_and_the_next_call_gets_a_fresh_worker() {
        let mut w = Worker::new("t");
        let release = Arc::new(Barrier::new(2));
        let r = release.clone();
        let budget = Duration::from_millis(150);
        let started = Instant::now();
        let hung = w.run(started + budget, move || {
            r.wait();
        });
        let waited = started.elapsed();
        assert!(matches!(hung, Err(DeadlineError::Hung { .. })), "{hung:?}");
        assert!(waited >= budget, "gave up early: {waited:?}");
        assert!(waited < budget * 2, "gave up late: {waited:?}");
        assert_eq!(w.abandoned(), 1);
        let answer = w.run(Instant::now() + Duration::from_secs(5), || 7);
        assert_eq!(answer, Ok(7), "a fresh worker serves the next call");
        release.wait();
    }

    #[test]
    fn the_hang_message_names_the_budget() {
        let e = DeadlineError::Hung {
            budget: Duration::from_secs(2),
        };
        assert_eq!(e.to_string(), "no answer within 2s: the call hung");
    }

    #[test]
    fn a_panicking_call_is_an_error_and_the_worker_survives() {
        let mut w = Worker::new("t");
        let until = Instant::now() + Duration::from_secs(5);
        let r: Result<(), _> = w.run(until, || panic!("backend bug"));
        assert_eq!(r, Err(DeadlineError::Panicked("backend bug".into())));
        assert_eq!(w.run(until, || 1), Ok(1));
        assert_eq!(w.abandoned(), 0);
    }
}
