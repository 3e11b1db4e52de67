//! Async completions of one connection: its notification port, a receiver thread that drains the port as
//! messages arrive, and the completions received so far.
//!
//! The port is a plain receive port with the default queue limit of 5 messages, and the kernel's
//! `_sendAsyncResult64` fails on a full queue (xnu `iokit/Kernel/IOUserClient.cpp`, "Fail on full queue";
//! reference §5): draining only inside the next call loses completions that arrive between calls (issue 19,
//! defect 6). A message that is not an async completion is skipped and draining goes on (defect 7).

use super::sys::{
    IONotificationPortCreate, IONotificationPortDestroy, IONotificationPortGetMachPort,
    IONotificationPortRef, MACH_RCV_MSG, MACH_RCV_TIMEOUT, mach_msg, mach_msg_header_t,
};
use crate::backends::iokit::{self, Completion};
use crate::ioreturn::ReturnCode;
use crate::lab::LabError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `MACH_RCV_TIMED_OUT` (`mach/message.h`): nothing arrived; any other failure ends the receiver.
const MACH_RCV_TIMED_OUT: i32 = 0x1000_4003;
/// `MACH_RCV_TOO_LARGE`: without `MACH_RCV_LARGE` the kernel destroys the message; keep receiving.
const MACH_RCV_TOO_LARGE: i32 = 0x1000_4004;
/// How long one receive waits before looking at the stop flag (destroying the port wakes it sooner).
const RECEIVE_SLICE_MS: u32 = 500;

/// The completions received on one connection, and a condvar announcing each.
#[derive(Default)]
pub struct Inbox {
    list: Mutex<Vec<Completion>>,
    arrived: Condvar,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, Vec<Completion>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn peek(&self) -> Vec<Completion> {
        self.lock().clone()
    }
    pub fn take(&self) -> Vec<Completion> {
        std::mem::take(&mut *self.lock())
    }
    pub fn len(&self) -> usize {
        self.lock().len()
    }
    /// Wait until more than `seen` completions are held, up to `wait`.
    pub fn wait_past(&self, seen: usize, wait: Duration) {
        let until = Instant::now() + wait;
        let mut list = self.lock();
        while list.len() <= seen {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            list = self
                .arrived
                .wait_timeout(list, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// A connection's notification port and the thread draining it. Dropping it stops the thread and
/// destroys the port.
pub struct Receiver {
    port: IONotificationPortRef,
    pub mach_port: u32,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

// SAFETY: the notification port is only destroyed, once, by Drop; the thread uses only its Mach port name.
unsafe impl Send for Receiver {}

impl Receiver {
    pub fn start(connection: u64, inbox: Arc<Inbox>) -> Result<Receiver, LabError> {
        // SAFETY: MACH_PORT_NULL selects the default main port; NULL on failure.
        let port = unsafe { IONotificationPortCreate(0) };
        if port.is_null() {
            return Err(LabError::Other("IONotificationPortCreate failed".into()));
        }
        // SAFETY: the port was just created.
        let mach_port = unsafe { IONotificationPortGetMachPort(port) };
        let stop = Arc::new(AtomicBool::new(false));
        let their_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("iokit-completions".into())
            .spawn(move || drain(mach_port, connection, &inbox, &their_stop));
        match thread {
            Ok(t) => Ok(Receiver {
                port,
                mach_port,
                stop,
                thread: Some(t),
            }),
            Err(e) => {
                // SAFETY: created above, destroyed once.
                unsafe { IONotificationPortDestroy(port) };
                Err(LabError::Other(format!(
                    "cannot start the completion receiver: {e}"
                )))
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // SAFETY: created by IONotificationPortCreate, destroyed once; destroying the receive right ends
        // the thread's mach_msg at once. A receive the thread starts just after cannot land on another
        // port: a reused Mach name carries a new generation, so the old name is simply invalid.
        unsafe { IONotificationPortDestroy(self.port) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Receive one message on `port` within `wait_ms`: Ok(Some) a message, Ok(None) nothing yet, Err the port
/// is gone (or another receive failure).
fn receive(port: u32, wait_ms: u32) -> Result<Option<Vec<u8>>, i32> {
    let mut buf = [0u64; 256];
    let size = std::mem::size_of_val(&buf) as u32;
    // SAFETY: the buffer is aligned and `size` bytes long; the port is our receive right.
    let kr = unsafe {
        mach_msg(
            buf.as_mut_ptr() as *mut mach_msg_header_t,
            MACH_RCV_MSG | MACH_RCV_TIMEOUT,
            0,
            size,
            port,
            wait_ms,
            0,
        )
    };
    match kr {
        0 => Ok(Some(buf.iter().flat_map(|w| w.to_le_bytes()).collect())),
        MACH_RCV_TIMED_OUT | MACH_RCV_TOO_LARGE => Ok(None),
        other => Err(other),
    }
}

fn drain(port: u32, connection: u64, inbox: &Inbox, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        match receive(port, RECEIVE_SLICE_MS) {
            Ok(Some(msg)) => match iokit::parse_async_completion(&msg) {
                Some(c) => {
                    tracing::info!(
                        "connection #{connection}: completion {}",
                        ReturnCode(c.result)
                    );
                    inbox.lock().push(c);
                    inbox.arrived.notify_all();
                }
                None => tracing::debug!(
                    "connection #{connection}: a message on the wake port that is not an async completion, skipped"
                ),
            },
            Ok(None) => {}
            Err(kr) => {
                if !stop.load(Ordering::Acquire) {
                    tracing::info!(
                        "connection #{connection}: the wake port failed ({}), completions stop",
                        ReturnCode(kr as u32)
                    );
                }
                return;
            }
        }
    }
}
