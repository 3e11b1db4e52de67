//! User clients through IOKit: `IOServiceOpen`, `IOConnectCallMethod` / `IOConnectCallAsyncMethod`,
//! `IOServiceClose`. Codes are kept raw: a Mach status and an IOReturn both reach the caller (reference §1).

use super::completions::{Inbox, Receiver};
use super::object::IoObject;
use super::registry::object_for;
use super::sys::{
    IOConnectCallAsyncMethod, IOConnectCallMethod, IOServiceClose, IOServiceOpen, io_connect_t,
    mach_task_self,
};
use crate::backends::iokit::{ASYNC_REF64_COUNT, Completion};
use crate::dispatch;
use crate::ioreturn::ReturnCode;
use crate::lab::{
    CallArgs, CallOutcome, ConnectionId, LabError, OpenOutcome, OpenRequest, UserClients,
};
use std::collections::BTreeMap;
use std::os::raw::c_void;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Connection {
    connect: io_connect_t,
    /// Made by the first async call: the wake port and the thread draining it.
    receiver: Option<Receiver>,
    completions: std::sync::Arc<Inbox>,
}

/// The open connections of this process.
pub struct IoUserClients {
    connections: Mutex<BTreeMap<ConnectionId, Connection>>,
    next: Mutex<ConnectionId>,
    /// How long a call with `completion: true` waits for its completion message after a successful call.
    pub completion_wait: Duration,
}

impl Default for IoUserClients {
    fn default() -> Self {
        IoUserClients {
            connections: Mutex::default(),
            next: Mutex::new(1),
            completion_wait: Duration::from_secs(2),
        }
    }
}

fn code(kr: i32) -> ReturnCode {
    ReturnCode(kr as u32)
}

impl IoUserClients {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ConnectionId, Connection>> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Mach port a connection's completions arrive on, once an async call has made one.
    pub fn wake_port(&self, connection: ConnectionId) -> Option<u32> {
        Some(self.lock().get(&connection)?.receiver.as_ref()?.mach_port)
    }

    /// Completions received so far on a connection, oldest first (not drained).
    pub fn peek_completions(&self, connection: ConnectionId) -> Vec<Completion> {
        self.lock()
            .get(&connection)
            .map(|c| c.completions.peek())
            .unwrap_or_default()
    }

    /// Completions received so far on a connection, oldest first (drained).
    pub fn take_completions(&self, connection: ConnectionId) -> Vec<Completion> {
        self.lock()
            .get(&connection)
            .map(|c| c.completions.take())
            .unwrap_or_default()
    }
}

impl UserClients for IoUserClients {
    fn open(&self, request: &OpenRequest) -> Result<OpenOutcome, LabError> {
        let service: IoObject =
            object_for(request.entry).ok_or(LabError::NoEntry(request.entry))?;
        let mut connect: io_connect_t = 0;
        let started = Instant::now();
        // SAFETY: valid service and out pointer; mach_task_self is this task's port.
        let kr = unsafe {
            IOServiceOpen(
                service.raw(),
                mach_task_self(),
                request.open_type,
                &mut connect,
            )
        };
        let took = started.elapsed();
        if kr != 0 || connect == 0 {
            return Ok(OpenOutcome {
                code: code(kr),
                connection: None,
                took,
            });
        }
        let id = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let id = *next;
            *next += 1;
            id
        };
        self.lock().insert(
            id,
            Connection {
                connect,
                receiver: None,
                completions: Default::default(),
            },
        );
        Ok(OpenOutcome {
            code: code(kr),
            connection: Some(id),
            took,
        })
    }

    fn call(&self, connection: ConnectionId, args: &CallArgs) -> Result<CallOutcome, LabError> {
        if let Err(refusal) = dispatch::client_side_limits(args) {
            tracing::info!("{}", refusal.reason);
            return Ok(CallOutcome {
                code: refusal.code,
                scalars_out: vec![],
                struct_out: vec![],
                took: Duration::ZERO,
            });
        }
        // The connection and its port are copied out so a hanging call does not hold the lock.
        let (connect, wake_port, inbox) = {
            let mut all = self.lock();
            let conn = all
                .get_mut(&connection)
                .ok_or(LabError::NotOpen(connection))?;
            if args.completion && conn.receiver.is_none() {
                conn.receiver = Some(Receiver::start(connection, conn.completions.clone())?);
            }
            let wake = conn.receiver.as_ref().map(|r| r.mach_port);
            (conn.connect, wake, conn.completions.clone())
        };
        let seen = inbox.len();
        let mut scalars_out = vec![0u64; args.scalars_out_capacity as usize];
        let mut scalars_count = args.scalars_out_capacity;
        let mut struct_out = vec![0u8; args.struct_out_capacity as usize];
        let mut struct_count = struct_out.len();
        let input_ptr = |v: &[u8]| {
            if v.is_empty() {
                std::ptr::null()
            } else {
                v.as_ptr() as *const c_void
            }
        };
        let started = Instant::now();
        // SAFETY: every pointer is valid for the count passed with it; the kernel decides inline or
        // out-of-line transport from the sizes itself (reference §3).
        let kr = unsafe {
            if args.completion {
                let mut reference = [0u64; ASYNC_REF64_COUNT];
                IOConnectCallAsyncMethod(
                    connect,
                    args.selector,
                    wake_port.unwrap_or(0),
                    reference.as_mut_ptr(),
                    ASYNC_REF64_COUNT as u32,
                    args.scalars_in.as_ptr(),
                    args.scalars_in.len() as u32,
                    input_ptr(&args.struct_in),
                    args.struct_in.len(),
                    scalars_out.as_mut_ptr(),
                    &mut scalars_count,
                    struct_out.as_mut_ptr() as *mut c_void,
                    &mut struct_count,
                )
            } else {
                IOConnectCallMethod(
                    connect,
                    args.selector,
                    args.scalars_in.as_ptr(),
                    args.scalars_in.len() as u32,
                    input_ptr(&args.struct_in),
                    args.struct_in.len(),
                    scalars_out.as_mut_ptr(),
                    &mut scalars_count,
                    struct_out.as_mut_ptr() as *mut c_void,
                    &mut struct_count,
                )
            }
        };
        let took = started.elapsed();
        scalars_out.truncate((scalars_count as usize).min(scalars_out.len()));
        struct_out.truncate(struct_count.min(struct_out.len()));
        // The receiver thread collects every completion as it arrives; a call that asked for one and was
        // accepted waits for it here.
        if args.completion && kr == 0 {
            inbox.wait_past(seen, self.completion_wait);
        }
        Ok(CallOutcome {
            code: code(kr),
            scalars_out,
            struct_out,
            took,
        })
    }

    fn close(&self, connection: ConnectionId) -> Result<ReturnCode, LabError> {
        let conn = self
            .lock()
            .remove(&connection)
            .ok_or(LabError::NotOpen(connection))?;
        // SAFETY: the connection was opened by IOServiceOpen and is closed once.
        let kr = unsafe { IOServiceClose(conn.connect) };
        drop(conn.receiver);
        Ok(code(kr))
    }

    fn open_count(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for IoUserClients {
    fn drop(&mut self) {
        for (_, conn) in std::mem::take(&mut *self.lock()) {
            // SAFETY: still open; closed once here.
            unsafe { IOServiceClose(conn.connect) };
            drop(conn.receiver);
        }
    }
}
