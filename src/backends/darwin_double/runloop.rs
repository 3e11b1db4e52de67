//! CFRunLoop as a notification thread uses it (`CFRunLoop.h`; behaviour from CoreFoundation's open
//! `CFRunLoop.c`, swift-corelibs-foundation): one run loop per thread, sources added per mode and retained
//! by the run loop, `CFRunLoopRunInMode` serving the sources' Mach ports until its timeout, a stop, or
//! (when asked) the first source handled, and `CFRunLoopStop` waking it. A stop asked while the loop is not
//! running is lost: the stop flag lives in the per-run data that each run replaces on entry
//! (`__CFRunLoopPushPerRunData` clears `stopped`).

// The C functions here keep the safety contract of their Apple header (the caller passes valid pointers
// for the counts given); it is not repeated on each.
#![allow(clippy::missing_safety_doc)]
#![allow(non_snake_case)]

use super::cf_object::{CFRelease, CFRetain, Object, Value, get_typed, lock, make, type_id};
use super::mach;
use core_foundation_sys::base::{Boolean, CFTypeID, CFTypeRef};
use std::os::raw::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// `CFRunLoopRunInMode` results (`CFRunLoop.h`).
pub const RUN_FINISHED: i32 = 1;
pub const RUN_STOPPED: i32 = 2;
pub const RUN_TIMED_OUT: i32 = 3;
pub const RUN_HANDLED_SOURCE: i32 = 4;

#[derive(Default)]
pub struct RunLoopState {
    /// (source, mode text), each source retained once by the run loop.
    sources: Mutex<Vec<(CFTypeRef, String)>>,
    stopped: AtomicBool,
}

// SAFETY: the source pointers are CF references, usable from any thread.
unsafe impl Send for RunLoopState {}
unsafe impl Sync for RunLoopState {}

pub struct SourceState {
    /// The Mach port whose messages this source serves.
    pub port: u32,
    pub valid: AtomicBool,
}

/// Every run loop made (they live as long as the process, as a thread's run loop does for its thread).
static RUN_LOOPS: LazyLock<Mutex<Vec<usize>>> = LazyLock::new(Mutex::default);
/// How each `CFRunLoopRunInMode` returned, newest last (bounded), so tests can tell a stop from a timeout.
static EXITS: LazyLock<Mutex<Vec<i32>>> = LazyLock::new(Mutex::default);

thread_local! {
    static CURRENT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

pub fn is_run_loop(ptr: CFTypeRef) -> bool {
    lock(&RUN_LOOPS).contains(&(ptr as usize))
}

/// How the run loops returned since the last call (oldest first).
pub fn take_exits() -> Vec<i32> {
    std::mem::take(&mut *lock(&EXITS))
}

fn new_run_loop() -> usize {
    let o: &'static Object = Box::leak(Box::new(Object::constant(
        type_id::RUN_LOOP,
        Value::RunLoop(Arc::new(RunLoopState::default())),
    )));
    let addr = o as *const Object as usize;
    lock(&RUN_LOOPS).push(addr);
    addr
}

fn state(rl: CFTypeRef, by: &'static str) -> Option<&'static RunLoopState> {
    match &get_typed(rl, type_id::RUN_LOOP, by)?.value {
        Value::RunLoop(s) => Some(s),
        _ => None,
    }
}

fn source(src: CFTypeRef, by: &'static str) -> Option<&'static SourceState> {
    match &get_typed(src, type_id::RUN_LOOP_SOURCE, by)?.value {
        Value::RunLoopSource(s) => Some(s),
        _ => None,
    }
}

fn mode_text(mode: CFTypeRef) -> String {
    let text = super::cf_string::string_of(mode, "CFRunLoop mode").unwrap_or_default();
    // Common modes include the default mode.
    if text == "kCFRunLoopCommonModes" {
        "kCFRunLoopDefaultMode".into()
    } else {
        text.into()
    }
}

/// A source serving `port` (one reference, the caller's: the notification port keeps it).
pub fn new_source(port: u32) -> CFTypeRef {
    make(
        type_id::RUN_LOOP_SOURCE,
        Value::RunLoopSource(Arc::new(SourceState {
            port,
            valid: AtomicBool::new(true),
        })),
        "CFRunLoopSource",
        "IONotificationPortGetRunLoopSource",
    )
}

/// `CFRunLoopSourceInvalidate`: the source leaves every run loop (which release it).
pub fn invalidate(src: CFTypeRef) {
    if let Some(s) = source(src, "CFRunLoopSourceInvalidate") {
        s.valid.store(false, Ordering::Release);
    }
    let loops: Vec<usize> = lock(&RUN_LOOPS).clone();
    for rl in loops {
        if let Some(st) = state(rl as CFTypeRef, "CFRunLoopSourceInvalidate") {
            let removed: Vec<CFTypeRef> = {
                let mut all = lock(&st.sources);
                let gone = all
                    .iter()
                    .filter(|(s, _)| *s == src)
                    .map(|(s, _)| *s)
                    .collect();
                all.retain(|(s, _)| *s != src);
                gone
            };
            removed.into_iter().for_each(|s| CFRelease(s));
        }
    }
    mach::WAKE.notify_all();
}

#[unsafe(no_mangle)]
pub extern "C" fn CFRunLoopSourceInvalidate(src: CFTypeRef) {
    invalidate(src)
}

#[unsafe(no_mangle)]
pub extern "C" fn CFRunLoopGetTypeID() -> CFTypeID {
    type_id::RUN_LOOP
}

#[unsafe(no_mangle)]
pub extern "C" fn CFRunLoopSourceGetTypeID() -> CFTypeID {
    type_id::RUN_LOOP_SOURCE
}

#[unsafe(no_mangle)]
pub extern "C" fn CFRunLoopGetCurrent() -> CFTypeRef {
    CURRENT.with(|c| {
        if c.get() == 0 {
            c.set(new_run_loop());
        }
        c.get() as CFTypeRef
    })
}

static MAIN: LazyLock<usize> = LazyLock::new(new_run_loop);

#[unsafe(no_mangle)]
pub extern "C" fn CFRunLoopGetMain() -> CFTypeRef {
    *MAIN as CFTypeRef
}

#[unsafe(no_mangle)]
pub extern "C" fn CFRunLoopAddSource(rl: CFTypeRef, src: CFTypeRef, mode: CFTypeRef) {
    let (Some(st), Some(_)) = (
        state(rl, "CFRunLoopAddSource"),
        source(src, "CFRunLoopAddSource"),
    ) else {
        return;
    };
    let mode = mode_text(mode);
    let mut all = lock(&st.sources);
    if !all.iter().any(|(s, m)| *s == src && *m == mode) {
        all.push((CFRetain(src), mode));
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFRunLoopRemoveSource(rl: CFTypeRef, src: CFTypeRef, mode: CFTypeRef) {
    let Some(st) = state(rl, "CFRunLoopRemoveSource") else {
        return;
    };
    let mode = mode_text(mode);
    let mut all = lock(&st.sources);
    if let Some(i) = all.iter().position(|(s, m)| *s == src && *m == mode) {
        let (s, _) = all.remove(i);
        drop(all);
        CFRelease(s);
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFRunLoopContainsSource(
    rl: CFTypeRef,
    src: CFTypeRef,
    mode: CFTypeRef,
) -> Boolean {
    let mode = mode_text(mode);
    state(rl, "CFRunLoopContainsSource").is_some_and(|st| {
        lock(&st.sources)
            .iter()
            .any(|(s, m)| *s == src && *m == mode)
    }) as Boolean
}

#[unsafe(no_mangle)]
pub extern "C" fn CFRunLoopStop(rl: CFTypeRef) {
    if let Some(st) = state(rl, "CFRunLoopStop") {
        st.stopped.store(true, Ordering::Release);
        mach::WAKE.notify_all();
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFRunLoopWakeUp(_rl: CFTypeRef) {
    mach::WAKE.notify_all();
}

#[unsafe(no_mangle)]
pub extern "C" fn CFRunLoopIsWaiting(_rl: CFTypeRef) -> Boolean {
    0
}

fn record_exit(code: i32) -> i32 {
    let mut e = lock(&EXITS);
    if e.len() > 4096 {
        e.drain(..2048);
    }
    e.push(code);
    code
}

#[unsafe(no_mangle)]
pub extern "C" fn CFRunLoopRunInMode(
    mode: CFTypeRef,
    seconds: f64,
    return_after_source_handled: Boolean,
) -> i32 {
    let rl = CFRunLoopGetCurrent();
    let Some(st) = state(rl, "CFRunLoopRunInMode") else {
        return RUN_FINISHED;
    };
    let mode = mode_text(mode);
    let until = Instant::now() + Duration::from_secs_f64(seconds.clamp(0.0, 1.0e9));
    st.stopped.store(false, Ordering::Release);
    RUNNING.fetch_add(1, Ordering::AcqRel);
    let code = run(st, &mode, until, return_after_source_handled != 0);
    RUNNING.fetch_sub(1, Ordering::AcqRel);
    record_exit(code)
}

/// How many threads are inside `CFRunLoopRunInMode` now (for tests).
pub fn running() -> usize {
    RUNNING.load(Ordering::Acquire)
}
static RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn run(st: &RunLoopState, mode: &str, until: Instant, return_after_source_handled: bool) -> i32 {
    loop {
        if st.stopped.swap(false, Ordering::AcqRel) {
            return RUN_STOPPED;
        }
        let ports: Vec<u32> = {
            let all = lock(&st.sources);
            all.iter()
                .filter(|(_, m)| m == mode)
                .filter_map(|(s, _)| source(*s, "CFRunLoopRunInMode"))
                .filter(|s| s.valid.load(Ordering::Acquire))
                .map(|s| s.port)
                .collect()
        };
        if ports.is_empty() {
            return RUN_FINISHED;
        }
        let mut handled = false;
        for port in ports {
            while let Ok(Some(msg)) = mach::receive(port, None) {
                super::notify::dispatch(&msg);
                handled = true;
            }
        }
        if handled && return_after_source_handled {
            return RUN_HANDLED_SOURCE;
        }
        if Instant::now() >= until {
            return RUN_TIMED_OUT;
        }
        // Woken by any message or stop; re-checked at most every 50 ms in case a wake-up raced the sleep.
        mach::wait_for_wake(until.min(Instant::now() + Duration::from_millis(50)));
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFRunLoopRun() {
    let mode = &super::cf_values::RUN_LOOP_DEFAULT_MODE as *const Object as *const c_void;
    while !matches!(
        CFRunLoopRunInMode(mode, 1.0e10, 0),
        RUN_STOPPED | RUN_FINISHED
    ) {}
}
