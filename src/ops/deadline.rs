//! Deadlines without a thread hop. A scenario's steps run directly on one thread of their own, spawned once
//! per scenario ([`run_watched`]). Before each lab operation that can block forever (a user-client call the
//! dext never answers) the thread arms a deadline in a [`Watchdog`]: a mutex-protected slot, no syscall
//! unless the deadline is earlier than the one the waiting thread sleeps towards. The thread that started
//! the scenario sleeps on the watchdog until the scenario finishes or the armed deadline passes; then the
//! watchdog trips, the scenario thread is abandoned (never joined; when its call comes back, disarming tells
//! it to stop), and the waiting thread reports the hang with what the scenario published in the slot.
//!
//! A watchdog may also be given a *release* ([`run_watched_releasing`]): when an armed deadline passes it is
//! called first (the fuzzer closes the connection a hung call is on, which ends the call), and the job is
//! given [`RELEASE_WAIT`] to come back and carry on; only a job that stays hung after that is abandoned. The
//! job learns its operation overran by its own clock (it came back after the deadline it armed).
//!
//! This module knows nothing of labs or scenarios: it runs a closure and watches a slot of data `T` that the
//! closure publishes.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};
use thiserror::Error;

/// A call did not produce an answer.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DeadlineError {
    /// Nothing came back within the time the call was given.
    #[error("no answer within {}: the call hung", crate::report::human_duration(*.budget))]
    Hung { budget: Duration },
    /// The call panicked (a bug in dexthil or its lab backend).
    #[error("the lab call panicked: {0}")]
    Panicked(String),
}

/// The watchdog tripped while the operation was armed: the scenario has been given up; stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tripped;

/// How a watched closure ended, as the waiting thread saw it.
#[derive(Debug)]
pub enum Watched<R, T> {
    /// It returned; `T` is what it last published.
    Finished(R, T),
    /// It panicked outside any step's own guard.
    Panicked(String, T),
    /// An armed deadline passed first; `T` is what it had published when the deadline passed.
    Tripped(T),
}

/// How long a released job has to come back before it is abandoned.
pub const RELEASE_WAIT: Duration = Duration::from_secs(1);

/// What a watchdog calls when an armed deadline passes, before giving up on the job.
type Release<T> = Box<dyn Fn(T) + Send + Sync>;

struct Slot<R, T> {
    /// The armed deadline, if an operation is in progress.
    armed: Option<Instant>,
    /// The armed operation overran and the release was called: the next deadline passing abandons the job.
    released: bool,
    /// What the waiting thread sleeps towards (`None`: until woken). Arming earlier than this wakes it.
    waiter_until: Option<Instant>,
    tripped: bool,
    /// A stop came: an armed operation is given up at once, as if its deadline had passed.
    stopped: bool,
    done: Option<Result<R, String>>,
    data: T,
}

/// The slot a scenario thread publishes its deadline and state in, and the waiting thread watches.
pub struct Watchdog<R, T> {
    slot: Mutex<Slot<R, T>>,
    wake: Condvar,
    release: Option<Release<T>>,
}

impl<R, T: Default> Watchdog<R, T> {
    fn new(data: T, release: Option<Release<T>>) -> Self {
        Watchdog {
            release,
            slot: Mutex::new(Slot {
                released: false,
                armed: None,
                waiter_until: None,
                tripped: false,
                stopped: false,
                done: None,
                data,
            }),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slot<R, T>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Change the published data (cheap: one uncontended lock).
    pub fn publish<X>(&self, f: impl FnOnce(&mut T) -> X) -> X {
        f(&mut self.lock().data)
    }

    /// Arm `until` for the operation about to start, publishing what to report if it hangs.
    pub fn arm(&self, until: Instant, f: impl FnOnce(&mut T)) {
        let mut s = self.lock();
        f(&mut s.data);
        // After a stop nothing new may block: the operation is given up as soon as it starts.
        let until = if s.stopped { Instant::now() } else { until };
        s.armed = Some(until);
        // The waiting thread sleeps towards an earlier deadline (or the last one, which is later): it only
        // needs waking if this one is earlier than what it sleeps towards.
        if s.waiter_until.is_none_or(|w| until < w) {
            s.waiter_until = Some(until);
            self.wake.notify_one();
        }
    }

    /// The operation came back: disarm, reading back what was published. `Err(Tripped)` when its deadline
    /// passed first and the scenario was given up.
    pub fn disarm<X>(&self, f: impl FnOnce(&mut T) -> X) -> Result<X, Tripped> {
        let mut s = self.lock();
        if s.tripped {
            return Err(Tripped);
        }
        s.armed = None;
        s.released = false;
        Ok(f(&mut s.data))
    }

    /// A stop came (SIGINT, SIGTERM): give up the operation armed now, and any armed later, as at its
    /// deadline, so a hung call does not hold the run for the rest of its time.
    pub fn expire(&self) {
        let mut s = self.lock();
        s.stopped = true;
        if s.armed.is_some() {
            s.armed = Some(Instant::now());
            self.wake.notify_one();
        }
    }

    /// Whether the scenario was given up (a thread that comes back late must do nothing more).
    pub fn is_tripped(&self) -> bool {
        self.lock().tripped
    }

    fn finish(&self, r: Result<R, String>) {
        let mut s = self.lock();
        s.done = Some(r);
        s.armed = None;
        self.wake.notify_one();
    }

    /// Sleep until the watched closure finishes or an armed deadline passes.
    fn watch(&self) -> Watched<R, T>
    where
        T: Clone,
    {
        let mut s = self.lock();
        loop {
            if let Some(done) = s.done.take() {
                let data = std::mem::take(&mut s.data);
                return match done {
                    Ok(r) => Watched::Finished(r, data),
                    Err(text) => Watched::Panicked(text, data),
                };
            }
            let now = Instant::now();
            match s.armed {
                Some(until) if now >= until => match &self.release {
                    Some(release) if !s.released && !s.stopped => {
                        s.released = true;
                        s.armed = Some(now + RELEASE_WAIT);
                        let data = s.data.clone();
                        // Released without the lock: the job must be able to disarm while this runs.
                        drop(s);
                        release(data);
                        s = self.lock();
                    }
                    _ => {
                        s.tripped = true;
                        return Watched::Tripped(std::mem::take(&mut s.data));
                    }
                },
                Some(until) => {
                    s.waiter_until = Some(until);
                    s = self
                        .wake
                        .wait_timeout(s, until - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                None => {
                    s.waiter_until = None;
                    s = self.wake.wait(s).unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }
}

/// Run `job` on a thread of its own (named `dexthil-lab-<name>`) and watch it: returns when it finishes or
/// when a deadline it armed passes, whichever comes first. A job that hangs is abandoned, never joined.
pub fn run_watched<R, T>(
    name: &str,
    data: T,
    job: impl FnOnce(&Watchdog<R, T>) -> R + Send + 'static,
) -> Watched<R, T>
where
    R: Send + 'static,
    T: Default + Clone + Send + 'static,
{
    watched(name, Watchdog::new(data, None), None, job)
}

/// [`run_watched`] that also gives up an armed operation the moment `stop` comes ([`Watchdog::expire`]):
/// Ctrl-C ends a hung call at once instead of waiting out its deadline (issue 18).
pub fn run_watched_until<R, T>(
    name: &str,
    data: T,
    stop: &super::Stop,
    job: impl FnOnce(&Watchdog<R, T>) -> R + Send + 'static,
) -> Watched<R, T>
where
    R: Send + 'static,
    T: Default + Clone + Send + 'static,
{
    watched(name, Watchdog::new(data, None), Some(stop), job)
}

/// [`run_watched`] whose watchdog, when an armed deadline passes, first calls `release` with what the job
/// published and gives the job [`RELEASE_WAIT`] to come back and carry on (see the module docs).
pub fn run_watched_releasing<R, T>(
    name: &str,
    data: T,
    release: impl Fn(T) + Send + Sync + 'static,
    job: impl FnOnce(&Watchdog<R, T>) -> R + Send + 'static,
) -> Watched<R, T>
where
    R: Send + 'static,
    T: Default + Clone + Send + 'static,
{
    watched(
        name,
        Watchdog::new(data, Some(Box::new(release))),
        None,
        job,
    )
}

/// Run `op` with `until` armed in `dog` (`publish` says what to report if it hangs): the one way an
/// operation that can block is run. A panic in it is an error; if the watchdog gave the job up meanwhile,
/// this unwinds out of the job (with [`Tripped`]), which must then do nothing more.
pub fn armed<R, T: Default, X>(
    dog: &Watchdog<R, T>,
    until: Instant,
    publish: impl FnOnce(&mut T),
    op: impl FnOnce() -> X,
) -> Result<X, DeadlineError> {
    dog.arm(until, publish);
    let r = catch_unwind(AssertUnwindSafe(op));
    if dog.disarm(|_| ()).is_err() {
        std::panic::resume_unwind(Box::new(Tripped));
    }
    r.map_err(|p| DeadlineError::Panicked(panic_text(p.as_ref())))
}

fn watched<R, T>(
    name: &str,
    dog: Watchdog<R, T>,
    stop: Option<&super::Stop>,
    job: impl FnOnce(&Watchdog<R, T>) -> R + Send + 'static,
) -> Watched<R, T>
where
    R: Send + 'static,
    T: Default + Clone + Send + 'static,
{
    let dog = Arc::new(dog);
    let _hook = stop.map(|stop| {
        let on_stop = Arc::clone(&dog);
        stop.on_stop(move || on_stop.expire())
    });
    let theirs = Arc::clone(&dog);
    let body = move || {
        let r = catch_unwind(AssertUnwindSafe(|| job(&theirs)));
        theirs.finish(r.map_err(|p| panic_text(p.as_ref())));
    };
    // The body runs at most once: on the new thread, or here when no thread can be had.
    let body = Arc::new(Mutex::new(Some(body)));
    let on_thread = Arc::clone(&body);
    let spawned = thread::Builder::new()
        .name(format!("dexthil-lab-{name}"))
        .spawn(move || {
            if let Some(b) = on_thread.lock().ok().and_then(|mut b| b.take()) {
                b()
            }
        });
    if let Err(e) = spawned {
        // No thread to run on: run here rather than not at all (a hang then blocks the scenario).
        tracing::warn!(error = %e, "cannot start a scenario thread; running it inline");
        if let Some(b) = body.lock().ok().and_then(|mut b| b.take()) {
            b()
        }
    }
    dog.watch()
}

/// The text of a panic payload.
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn a_job_runs_on_one_thread_of_its_own_and_its_answer_comes_back() {
        let here = thread::current().id();
        let r = run_watched("t", 0u32, move |dog: &Watchdog<_, u32>| {
            let until = Instant::now() + Duration::from_secs(5);
            let mut ids = Vec::new();
            for _ in 0..3 {
                dog.arm(until, |d| *d += 1);
                ids.push(thread::current().id());
                dog.disarm(|_| ()).unwrap();
            }
            ids
        });
        let Watched::Finished(ids, published) = r else {
            panic!("{r:?}")
        };
        assert!(ids.iter().all(|id| *id == ids[0] && *id != here));
        assert_eq!(published, 3, "what the job published comes back");
    }

    #[test]
    fn a_hung_operation_trips_at_its_deadline_and_the_job_learns_it_when_it_comes_back() {
        let release = Arc::new(Barrier::new(2));
        let (told, heard) = std::sync::mpsc::channel();
        let r = release.clone();
        let budget = Duration::from_millis(150);
        let started = Instant::now();
        let watched = run_watched("t", String::new(), move |dog: &Watchdog<(), String>| {
            dog.arm(started + budget, |d| *d = "GetStatus on uc".into());
            r.wait();
            let _ = told.send(dog.disarm(|_| ()));
        });
        let waited = started.elapsed();
        let Watched::Tripped(what) = watched else {
            panic!("{watched:?}")
        };
        assert_eq!(what, "GetStatus on uc", "the hang says what hung");
        assert!(waited >= budget, "gave up early: {waited:?}");
        assert!(waited < budget * 2, "gave up late: {waited:?}");
        release.wait();
        assert_eq!(heard.recv().unwrap(), Err(Tripped));
    }

    #[test]
    fn an_earlier_deadline_after_a_later_one_still_trips_on_time() {
        let started = Instant::now();
        let watched = run_watched("t", (), move |dog: &Watchdog<(), ()>| {
            dog.arm(started + Duration::from_secs(30), |_| ());
            dog.disarm(|_| ()).unwrap();
            // The waiting thread may be asleep towards the 30 s deadline by now.
            thread::sleep(Duration::from_millis(20));
            dog.arm(Instant::now() + Duration::from_millis(100), |_| ());
            thread::sleep(Duration::from_secs(5));
        });
        assert!(matches!(watched, Watched::Tripped(())), "{watched:?}");
        let waited = started.elapsed();
        assert!(
            waited < Duration::from_millis(400),
            "tripped late: {waited:?}"
        );
    }

    #[test]
    fn the_hang_message_names_the_budget() {
        let e = DeadlineError::Hung {
            budget: Duration::from_secs(2),
        };
        assert_eq!(e.to_string(), "no answer within 2s: the call hung");
    }

    #[test]
    fn a_release_ends_a_hung_operation_and_the_job_carries_on() {
        let (hang_tx, hang_rx) = std::sync::mpsc::channel::<()>();
        let hang_rx = Mutex::new(hang_rx);
        let released = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let seen = released.clone();
        let until = Instant::now() + Duration::from_millis(100);
        let watched = run_watched_releasing(
            "t",
            0u32,
            // What the job published (the connection, for the fuzzer) comes to the release.
            move |published: u32| {
                seen.store(published, std::sync::atomic::Ordering::SeqCst);
                let _ = hang_tx.send(());
            },
            move |dog: &Watchdog<&'static str, u32>| {
                let r = armed(
                    dog,
                    until,
                    |d| *d = 7,
                    || {
                        hang_rx.lock().unwrap().recv().unwrap();
                    },
                );
                assert!(r.is_ok());
                assert!(
                    Instant::now() >= until,
                    "it came back because it was released"
                );
                // The job goes on after the release: a second operation is armed and answers.
                armed(
                    dog,
                    Instant::now() + Duration::from_secs(5),
                    |_| (),
                    || "went on",
                )
                .unwrap()
            },
        );
        let Watched::Finished(answer, _) = watched else {
            panic!("{watched:?}")
        };
        assert_eq!(answer, "went on");
        assert_eq!(released.load(std::sync::atomic::Ordering::SeqCst), 7);
    }

    #[test]
    fn a_job_that_stays_hung_after_its_release_is_given_up() {
        let release = Arc::new(Barrier::new(2));
        let r = release.clone();
        let started = Instant::now();
        let watched = run_watched_releasing(
            "t",
            (),
            |_| {},
            move |dog: &Watchdog<(), ()>| {
                let _ = armed(
                    dog,
                    started + Duration::from_millis(50),
                    |_| (),
                    || {
                        r.wait();
                    },
                );
            },
        );
        assert!(matches!(watched, Watched::Tripped(())), "{watched:?}");
        assert!(
            started.elapsed() >= RELEASE_WAIT,
            "given the release wait first: {:?}",
            started.elapsed()
        );
        release.wait();
    }

    #[test]
    fn a_panicking_job_is_reported_with_its_message() {
        let r = run_watched("t", (), |_: &Watchdog<(), ()>| -> () {
            panic!("backend bug")
        });
        assert!(
            matches!(&r, Watched::Panicked(text, ()) if text == "backend bug"),
            "{r:?}"
        );
    }

    #[test]
    fn a_stop_gives_up_the_armed_operation_at_once_and_any_armed_after_it() {
        let stop = crate::ops::Stop::new();
        let (armed_tx, armed_rx) = std::sync::mpsc::channel();
        let release = Arc::new(Barrier::new(2));
        let theirs = Arc::clone(&release);
        let other = stop.clone();
        let t = thread::spawn(move || {
            armed_rx.recv().unwrap();
            other.stop("SIGINT");
        });
        // The job arms an hour-long deadline and blocks: only the stop can end the watch (else the test hangs).
        let r = run_watched_until("t", (), &stop, move |dog: &Watchdog<(), ()>| {
            dog.arm(Instant::now() + Duration::from_secs(3600), |_| ());
            armed_tx.send(()).unwrap();
            theirs.wait();
        });
        assert!(matches!(r, Watched::Tripped(())), "{r:?}");
        release.wait();
        t.join().unwrap();
        // After the stop, a new watch under it trips as soon as anything is armed.
        let r = run_watched_until("t", (), &stop, |dog: &Watchdog<(), ()>| {
            dog.arm(Instant::now() + Duration::from_secs(3600), |_| ());
            thread::sleep(Duration::from_millis(50));
        });
        assert!(matches!(r, Watched::Tripped(())), "{r:?}");
    }
}
