//! Mach as the backend uses it: this task's port (`mach_task_self_`), receive ports with the default queue
//! limit of 5 messages (`mach/port.h` `MACH_PORT_QLIMIT_DEFAULT`), a kernel-side send that fails on a full
//! queue as `_sendAsyncResult64` does (xnu `iokit/Kernel/IOUserClient.cpp`: `MACH_SEND_TIMEOUT` with a
//! zero timeout, "Fail on full queue"), and `mach_msg` receive with a timeout (`mach/message.h`).
//!
//! Port names and io_object_t names come from one counter, as both are names in one task's port space.

// The C functions here keep the safety contract of their Apple header (the caller passes valid pointers
// for the counts given); it is not repeated on each.
#![allow(clippy::missing_safety_doc)]
#![allow(non_upper_case_globals)]

use crate::backends::macos::sys::apple_types::{
    MACH_PORT_QLIMIT_DEFAULT, MACH_RCV_INVALID_NAME, MACH_RCV_MSG, MACH_RCV_TIMED_OUT,
    MACH_RCV_TIMEOUT, MACH_RCV_TOO_LARGE, mach_msg_header_t, mach_msg_option_t, mach_msg_return_t,
    mach_msg_size_t, mach_msg_timeout_t, mach_port_name_t, mach_port_t,
};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// This task's port name (any fixed name works; the double checks it is what IOServiceOpen gets).
pub const TASK_SELF: mach_port_t = 0x203;

#[unsafe(no_mangle)]
pub static mach_task_self_: mach_port_t = TASK_SELF;

static NEXT_NAME: AtomicU32 = AtomicU32::new(0x1003);

/// A fresh name in this task's port space.
pub fn new_name() -> u32 {
    NEXT_NAME.fetch_add(0x100, Ordering::Relaxed)
}

struct Port {
    queue: VecDeque<Vec<u8>>,
    limit: usize,
    /// Messages the kernel dropped because the queue was full.
    dropped: usize,
}

#[derive(Default)]
struct Ports {
    by_name: HashMap<u32, Port>,
}

static PORTS: LazyLock<Mutex<Ports>> = LazyLock::new(Mutex::default);
/// Announces every message queued and every run-loop stop (receivers and run loops sleep on it).
pub static WAKE: Condvar = Condvar::new();

fn ports() -> MutexGuard<'static, Ports> {
    PORTS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Allocate a receive right with the default queue limit.
pub fn allocate_receive_port() -> u32 {
    let name = new_name();
    ports().by_name.insert(
        name,
        Port {
            queue: VecDeque::new(),
            limit: MACH_PORT_QLIMIT_DEFAULT as usize,
            dropped: 0,
        },
    );
    name
}

/// Destroy a receive right: queued messages go with it.
pub fn destroy_port(name: u32) {
    ports().by_name.remove(&name);
    WAKE.notify_all();
}

/// The kernel sends a message (header included) without blocking: false when the port is gone or its
/// queue is full (the message is dropped).
pub fn kernel_send(name: u32, msg: Vec<u8>) -> bool {
    let mut all = ports();
    let Some(port) = all.by_name.get_mut(&name) else {
        return false;
    };
    if port.queue.len() >= port.limit {
        port.dropped += 1;
        tracing::debug!("darwin double: port {name:#x} full, message dropped");
        return false;
    }
    port.queue.push_back(msg);
    drop(all);
    WAKE.notify_all();
    true
}

/// Messages waiting on a port, and how many the kernel dropped on it (for tests).
pub fn queue_state(name: u32) -> Option<(usize, usize)> {
    ports()
        .by_name
        .get(&name)
        .map(|p| (p.queue.len(), p.dropped))
}

/// The port named does not exist (never made, or destroyed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSuchPort;

/// Take the next message of `name` within `wait` (`None` = do not wait).
pub fn receive(name: u32, wait: Option<Duration>) -> Result<Option<Vec<u8>>, NoSuchPort> {
    let deadline = wait.map(|w| Instant::now() + w);
    let mut all = ports();
    loop {
        let port = all.by_name.get_mut(&name).ok_or(NoSuchPort)?;
        if let Some(m) = port.queue.pop_front() {
            return Ok(Some(m));
        }
        let left = deadline.map_or(Duration::ZERO, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            return Ok(None);
        }
        all = WAKE
            .wait_timeout(all, left)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

/// Whether a message waits on `name`.
pub fn has_message(name: u32) -> bool {
    ports()
        .by_name
        .get(&name)
        .is_some_and(|p| !p.queue.is_empty())
}

/// Wait on [`WAKE`] up to `until` (run loops use it).
pub fn wait_for_wake(until: Instant) {
    let guard = ports();
    let left = until.saturating_duration_since(Instant::now());
    if !left.is_zero() {
        let _ = WAKE.wait_timeout(guard, left);
    }
}

/// `mach_msg` (`mach/message.h`), receive only: `MACH_RCV_MSG`, optionally `MACH_RCV_TIMEOUT` (ms). A
/// message larger than `rcv_size` stays queued and `MACH_RCV_TOO_LARGE` is returned (without
/// `MACH_RCV_LARGE`, the kernel destroys it; the double keeps it, which a caller cannot tell apart here).
///
/// # Safety
/// `msg` must be writable for `rcv_size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mach_msg(
    msg: *mut mach_msg_header_t,
    option: mach_msg_option_t,
    _send_size: mach_msg_size_t,
    rcv_size: mach_msg_size_t,
    rcv_name: mach_port_name_t,
    timeout: mach_msg_timeout_t,
    _notify: mach_port_name_t,
) -> mach_msg_return_t {
    if option & MACH_RCV_MSG == 0 {
        super::audit::error("mach_msg: the double only receives (MACH_RCV_MSG)".into());
        return MACH_RCV_INVALID_NAME;
    }
    let wait = if option & MACH_RCV_TIMEOUT != 0 {
        Some(Duration::from_millis(timeout as u64))
    } else {
        Some(Duration::from_secs(u32::MAX as u64))
    };
    let got = {
        let all = ports();
        match all.by_name.get(&rcv_name) {
            None => return MACH_RCV_INVALID_NAME,
            Some(p) if p.queue.front().is_some_and(|m| m.len() > rcv_size as usize) => {
                return MACH_RCV_TOO_LARGE;
            }
            Some(_) => {}
        }
        drop(all);
        receive(rcv_name, wait)
    };
    match got {
        Err(NoSuchPort) => MACH_RCV_INVALID_NAME,
        Ok(None) => MACH_RCV_TIMED_OUT,
        Ok(Some(m)) => {
            // SAFETY: the caller's buffer holds `rcv_size` bytes; checked above the message fits (a message
            // queued since is bounded the same way by the senders, which build < 4 KiB).
            let n = m.len().min(rcv_size as usize);
            unsafe { std::ptr::copy_nonoverlapping(m.as_ptr(), msg as *mut u8, n) };
            0
        }
    }
}
