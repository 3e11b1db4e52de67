//! First-match and terminated notifications for one matching, on a dedicated run-loop thread, counted in a
//! [`Changes`] that a waiter sleeps on. Armed per wait and torn down when dropped.

use super::object::IoIter;
use super::registry::matching_dict;
use super::sys::{
    IONotificationPortCreate, IONotificationPortDestroy, IONotificationPortGetRunLoopSource,
    IOServiceAddMatchingNotification, io_iterator_t, kIOFirstMatchNotification,
    kIOTerminatedNotification,
};
use crate::lab::{LabError, Matching};
use crate::usb::libusb::Changes;
use core_foundation_sys::dictionary::CFDictionaryRef;
use core_foundation_sys::runloop::{
    CFRunLoopAddSource, CFRunLoopGetCurrent, CFRunLoopRef, CFRunLoopRunInMode, CFRunLoopStop,
    kCFRunLoopDefaultMode,
};
use std::os::raw::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Drain the iterator (which re-arms the notification, IOKitLib.h) and count one change.
unsafe extern "C" fn on_change(refcon: *mut c_void, iterator: io_iterator_t) {
    // SAFETY: refcon is the `Changes` the run-loop thread keeps alive until the port is destroyed.
    let changes = unsafe { &*(refcon as *const Changes) };
    let mut borrowed = std::mem::ManuallyDrop::new(IoIter::owned(iterator));
    if let Some(it) = borrowed.as_mut() {
        it.for_each(drop);
    }
    changes.bump();
}

/// How long one `CFRunLoopRunInMode` may run. A drop stops the loop with `CFRunLoopStop` at once; this
/// bound only covers a stop that lands between two runs, which CoreFoundation forgets (the stop flag lives
/// in the per-run data, replaced on each entry).
const RUN_SLICE_SECONDS: f64 = 0.25;

/// The notification thread's run loop, stopped from the thread that drops the watch.
struct RunLoop(CFRunLoopRef);
// SAFETY: CFRunLoopStop may be called from any thread (CFRunLoop.h).
unsafe impl Send for RunLoop {}

pub struct Watch {
    changes: Arc<Changes>,
    stop: Arc<AtomicBool>,
    run_loop: RunLoop,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    pub fn arm(matching: Matching) -> Result<Watch, LabError> {
        let changes = Arc::new(Changes::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (armed_tx, armed_rx) = std::sync::mpsc::channel();
        let (c, s) = (changes.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("iokit-notify".into())
            .spawn(move || run(matching, c, s, armed_tx))
            .map_err(|e| LabError::Other(format!("cannot start the notification thread: {e}")))?;
        match armed_rx.recv() {
            Ok(Ok(run_loop)) => Ok(Watch {
                changes,
                stop,
                run_loop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(LabError::Other(
                "the notification thread ended early".into(),
            )),
        }
    }

    pub fn changes(&self) -> &Changes {
        &self.changes
    }
}

impl Drop for Watch {
    /// Stop the run loop rather than wait for its slice to run out, so a wait returns as soon as it has
    /// its answer (issue 19, defect 8).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // SAFETY: the run loop of the notification thread, alive until that thread ends (joined below).
        unsafe { CFRunLoopStop(self.run_loop.0) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    matching: Matching,
    changes: Arc<Changes>,
    stop: Arc<AtomicBool>,
    armed: std::sync::mpsc::Sender<Result<RunLoop, LabError>>,
) {
    // SAFETY: MACH_PORT_NULL selects the default main port; NULL on failure.
    let port = unsafe { IONotificationPortCreate(0) };
    if port.is_null() {
        let _ = armed.send(Err(LabError::Other(
            "IONotificationPortCreate failed".into(),
        )));
        return;
    }
    let mut iterators = Vec::new();
    let mut failure = None;
    // SAFETY: the port is valid; its run-loop source is added to this thread's run loop.
    unsafe {
        let source = IONotificationPortGetRunLoopSource(port);
        CFRunLoopAddSource(CFRunLoopGetCurrent(), source, kCFRunLoopDefaultMode);
    }
    for kind in [kIOFirstMatchNotification, kIOTerminatedNotification] {
        let dict = match matching_dict(&matching) {
            Ok(d) => d,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let mut iter: io_iterator_t = 0;
        // SAFETY: the dictionary reference is consumed; refcon outlives the port (destroyed below first).
        let kr = unsafe {
            IOServiceAddMatchingNotification(
                port,
                kind,
                dict.into_raw() as CFDictionaryRef,
                on_change,
                Arc::as_ptr(&changes) as *mut c_void,
                &mut iter,
            )
        };
        if kr != 0 {
            failure = Some(LabError::Other(format!(
                "IOServiceAddMatchingNotification failed: {}",
                crate::ioreturn::ReturnCode(kr as u32)
            )));
            break;
        }
        // The notification is armed only once its iterator has been drained (IOKitLib.h).
        if let Some(mut it) = IoIter::owned(iter) {
            it.by_ref().for_each(drop);
            iterators.push(it);
        }
    }
    let ok = failure.is_none();
    // SAFETY: this thread's run loop, which lives as long as the thread.
    let run_loop = RunLoop(unsafe { CFRunLoopGetCurrent() });
    let _ = armed.send(failure.map_or(Ok(run_loop), Err));
    while ok && !stop.load(Ordering::Acquire) {
        // SAFETY: runs this thread's run loop for one slice; callbacks fire here; CFRunLoopStop ends it.
        unsafe { CFRunLoopRunInMode(kCFRunLoopDefaultMode, RUN_SLICE_SECONDS, 0) };
    }
    drop(iterators);
    // SAFETY: the port was created above and is destroyed once; no callback runs after this.
    unsafe { IONotificationPortDestroy(port) };
}
