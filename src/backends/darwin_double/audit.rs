//! The ownership audit: every io_object_t and CF object the double hands out is recorded with where it was
//! created; a release of something already released, a use after release, and (at a check) anything still
//! held are ownership errors, each naming the object's creation site.
//!
//! The creation site is a Rust backtrace trimmed to the backend's frames (`DEXTHIL_DOUBLE_BACKTRACE=0`
//! keeps only the creating C function's name, for speed).

use std::backtrace::Backtrace;
use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex, MutexGuard};

/// What an audited handle is: a CF object's address or an IOKit/Mach name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Handle {
    Cf(usize),
    Port(u32),
}

struct Record {
    /// `CFString`, `io_iterator_t`, ...
    kind: &'static str,
    /// The C function that handed it out.
    by: &'static str,
    created: Option<Backtrace>,
    released: bool,
    /// The audit epoch it was made in: a leak check covers one epoch (a scenario, a test).
    epoch: u64,
}

#[derive(Default)]
struct Book {
    records: HashMap<Handle, Record>,
    /// Released handles kept so a later use is recognised; the oldest are forgotten past a bound.
    released: VecDeque<Handle>,
    errors: Vec<String>,
    epoch: u64,
}

/// How many released handles are remembered (the memory of a CF object is kept as long as its record).
const REMEMBER_RELEASED: usize = 1 << 16;

static BOOK: LazyLock<Mutex<Book>> = LazyLock::new(Mutex::default);
/// Backtraces cost a stack walk per object handed out (tens of microseconds in a debug build, thousands of
/// objects per scenario), so they are taken only when asked for; otherwise a record names the C function.
static BACKTRACES: LazyLock<bool> =
    LazyLock::new(|| std::env::var("DEXTHIL_DOUBLE_BACKTRACE").is_ok_and(|v| v != "0"));

/// Take creation backtraces from now on, whatever the environment says (tests of the audit).
pub fn force_backtraces() {
    FORCED.store(true, std::sync::atomic::Ordering::Relaxed);
}
static FORCED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn backtraces() -> bool {
    *BACKTRACES || FORCED.load(std::sync::atomic::Ordering::Relaxed)
}

fn book() -> MutexGuard<'static, Book> {
    BOOK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A frame inside the double itself (its callers are what a reader wants).
fn is_double_frame(frame: &str) -> bool {
    const OWN: &[&str] = &[
        "audit",
        "objects",
        "cf_object",
        "cf_values",
        "cf_collections",
        "registry_fns",
        "notify",
        "connect",
        "mach",
        "runloop",
        "served",
        "matching",
    ];
    OWN.iter()
        .any(|m| frame.contains(&format!("darwin_double::{m}::")))
}

/// The backend's frames of a creation backtrace (what a reader needs), or its first frames when none is.
fn site(by: &str, bt: &Option<Backtrace>) -> String {
    let Some(bt) = bt else {
        return format!("handed out by {by} (run with DEXTHIL_DOUBLE_BACKTRACE=1 for where)");
    };
    let text = bt.to_string();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mine: Vec<String> = lines
        .windows(2)
        .filter(|w| w[0].contains("dexthil::") && !is_double_frame(w[0]))
        .take(6)
        .map(|w| format!("{} ({})", w[0], w[1].trim_start_matches("at ")))
        .collect();
    if mine.is_empty() {
        format!("handed out by {by}")
    } else {
        format!(
            "handed out by {by}, created at:\n      {}",
            mine.join("\n      ")
        )
    }
}

/// Record a new handle (one reference, owned by the caller).
pub fn created(handle: Handle, kind: &'static str, by: &'static str) {
    let created = backtraces().then(Backtrace::force_capture);
    let mut b = book();
    let epoch = b.epoch;
    b.records.insert(
        handle,
        Record {
            kind,
            by,
            created,
            released: false,
            epoch,
        },
    );
}

/// Whether `handle` is live; a released or unknown one is an ownership error, reported as used by `by`.
pub fn check_live(handle: Handle, by: &str) -> bool {
    let mut b = book();
    let problem = match b.records.get(&handle) {
        Some(r) if !r.released => return true,
        _ if backtraces() => {
            drop(b);
            let text = describe_dead(handle, by);
            error(text);
            return false;
        }
        Some(r) => format!(
            "{by} used a {} after its last release; it was {}",
            r.kind,
            site(r.by, &r.created)
        ),
        None => format!("{by} was given {handle:?}, which the double never handed out"),
    };
    b.errors.push(problem);
    false
}

fn describe_dead(handle: Handle, by: &str) -> String {
    let b = book();
    match b.records.get(&handle) {
        Some(r) => format!(
            "{by} used a {} after its last release; it was {}",
            r.kind,
            site(r.by, &r.created)
        ),
        None => format!("{by} was given {handle:?}, which the double never handed out"),
    }
}

/// The last reference went: mark it released. Returns false (and records an error) if it already was.
/// `forget` is called for a handle dropped from memory, to free what it owns.
pub fn released(handle: Handle, by: &str, forget: impl Fn(Handle)) -> bool {
    let mut b = book();
    let problem = match b.records.get_mut(&handle) {
        Some(r) if !r.released => {
            r.released = true;
            None
        }
        Some(r) => Some(format!(
            "{by} released a {} twice; it was {}",
            r.kind,
            site(r.by, &r.created)
        )),
        None => Some(format!(
            "{by} released {handle:?}, which the double never handed out"
        )),
    };
    if let Some(p) = problem {
        b.errors.push(p);
        return false;
    }
    b.released.push_back(handle);
    let mut gone = Vec::new();
    while b.released.len() > REMEMBER_RELEASED {
        if let Some(old) = b.released.pop_front() {
            b.records.remove(&old);
            gone.push(old);
        }
    }
    drop(b);
    gone.into_iter().for_each(forget);
    true
}

/// Record an ownership error found elsewhere (a wrong type handed to a CF function, say), with where the
/// call came from when backtraces are on.
pub fn error(text: String) {
    let at = backtraces().then(Backtrace::force_capture);
    let text = match at {
        Some(bt) => format!(
            "{text}; {}",
            site("the call", &Some(bt)).replacen(
                "handed out by the call, created at",
                "called from",
                1
            )
        ),
        None => text,
    };
    book().errors.push(text);
}

/// End an epoch: every handle made in it and still held is a leak. Returns every ownership error since the
/// last check (leaks included), oldest first, and starts a new epoch.
pub fn check() -> Vec<String> {
    // A CF object whose every reference is held by a leaked collection is not a leak of its own: the
    // collection is reported, not each of its parts.
    let live_cf: Vec<usize> = {
        let b = book();
        let epoch = b.epoch;
        b.records
            .iter()
            .filter(|(_, r)| !r.released && r.epoch == epoch)
            .filter_map(|(h, _)| match h {
                Handle::Cf(a) => Some(*a),
                Handle::Port(_) => None,
            })
            .collect()
    };
    let inside = super::cf_object::held_only_by(&live_cf);
    let mut b = book();
    let epoch = b.epoch;
    let mut leaks: Vec<String> = b
        .records
        .iter()
        .filter(|(h, r)| {
            !r.released && r.epoch == epoch && !matches!(h, Handle::Cf(a) if inside.contains(a))
        })
        .map(|(_, r)| {
            format!(
                "a {} was never released; it was {}",
                r.kind,
                site(r.by, &r.created)
            )
        })
        .collect();
    leaks.sort();
    let mut errors = std::mem::take(&mut b.errors);
    errors.extend(leaks);
    b.epoch += 1;
    errors
}

/// How many handles are held now (not released).
pub fn live_count() -> usize {
    book().records.values().filter(|r| !r.released).count()
}
