//! User clients: `IOServiceOpen`, `IOServiceClose`, `IOConnectCallMethod`, `IOConnectCallAsyncMethod`,
//! answered by the served lab's dext model (the sim's open rules and dispatch) behind the MIG layer's
//! rules (reference §3; bootstrap_cmds migcom `WriteInitializeCount`, xnu `device.defs`):
//! more than 16 scalar inputs never leave the process (MIG_ARRAY_TOO_LARGE from the stub), a scalar output
//! capacity above 16 is clamped to 16, a structure of up to 4096 bytes (`io_struct_inband_t`) travels inline
//! and a larger one out of line.
//!
//! Async completions: a successful async call is completed once, at once, with its result and its scalar
//! outputs as arguments, sent to the wake port as `_sendAsyncResult64` sends it (xnu
//! `iokit/Kernel/IOUserClient.cpp`): dropped when the port's queue is full. When the real dext completes, and
//! with what arguments, is the dext's business (UNCONFIRMED for Apple's sample); [`send_completion`] lets a
//! test complete at any time.

// The C functions here keep the safety contract of their Apple header (the caller passes valid pointers
// for the counts given); it is not repeated on each.
#![allow(clippy::missing_safety_doc)]
#![allow(non_snake_case)]

use super::mach::{self, TASK_SELF};
use super::objects::{self, Kind};
use super::served;
use crate::backends::macos::sys::apple_types::{io_object_t, kern_return_t, mach_port_t};
use crate::dispatch::{INBAND_MAX, SCALAR_MAX};
use crate::ioreturn::code;
use crate::lab::{CallArgs, OpenRequest};
use std::os::raw::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `kIOAsyncCompletionNotificationType` (IOKit `OSMessageNotification.h`).
pub const ASYNC_COMPLETION_TYPE: u32 = 150;
/// `kMaxAsyncArgs` (xnu `IOUserClient.cpp`).
const MAX_ASYNC_ARGS: usize = 16;
/// `kOSAsyncRef64Count`.
const ASYNC_REF_COUNT: usize = 8;

/// How many structures went out of line (for tests of the transport rule).
pub static OUT_OF_LINE: AtomicUsize = AtomicUsize::new(0);

fn err(c: u32) -> kern_return_t {
    c as kern_return_t
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn IOServiceOpen(
    service: io_object_t,
    owning_task: mach_port_t,
    open_type: u32,
    connect: *mut io_object_t,
) -> kern_return_t {
    let Some(e) = objects::entry(service, "IOServiceOpen") else {
        return err(code::kIOReturnBadArgument);
    };
    if owning_task != TASK_SELF || connect.is_null() {
        super::audit::error(format!(
            "IOServiceOpen got task {owning_task:#x}, not mach_task_self()"
        ));
        return err(code::kIOReturnBadArgument);
    }
    let outcome = match served::lab().and_then(|l| {
        l.open(&OpenRequest {
            entry: e.id,
            open_type,
        })
    }) {
        Ok(o) => o,
        Err(e) => {
            tracing::info!("darwin double: the served lab could not open: {e}");
            return err(code::kIOReturnError);
        }
    };
    match outcome.connection {
        Some(c) if outcome.code.0 == 0 => {
            let name = objects::hand_out(
                Kind::Connection {
                    connection: c,
                    service: e.id,
                },
                "IOServiceOpen",
            );
            // SAFETY: out pointer from the caller.
            unsafe { *connect = name };
            0
        }
        _ => outcome.code.0 as kern_return_t,
    }
}

/// Closes the user client and releases the connection's name (IOKitLib.c `IOServiceClose`).
#[unsafe(no_mangle)]
pub extern "C" fn IOServiceClose(connect: io_object_t) -> kern_return_t {
    let Some(c) = objects::with(connect, "IOServiceClose", |k| match k {
        Kind::Connection { connection, .. } => Some(*connection),
        _ => None,
    })
    .flatten() else {
        return err(code::kIOReturnBadArgument);
    };
    let kr = served::lab()
        .and_then(|l| l.close(c))
        .map_or(err(code::kIOReturnError), |r| r.0 as kern_return_t);
    let _ = objects::release(connect, "IOServiceClose");
    kr
}

/// A completion as `_sendAsyncResult64` builds it for a 64-bit reference: Mach header (msgh_id 53), the
/// notify header (content size, type 150, the reference with word 0 zeroed), the result, the arguments.
pub fn completion_message(
    wake_port: u32,
    reference: &[u64; ASYNC_REF_COUNT],
    result: u32,
    args: &[u64],
) -> Vec<u8> {
    let args = &args[..args.len().min(MAX_ASYNC_ARGS)];
    let size = (24 + 72 + 4 + 8 * args.len()) as u32;
    let mut m = Vec::with_capacity(size as usize);
    for w in [
        0u32,
        size,
        wake_port,
        0,
        0,
        super::notify::NOTIFICATION_MESSAGE_ID as u32,
    ] {
        m.extend_from_slice(&w.to_le_bytes());
    }
    m.extend_from_slice(&((4 + 8 * args.len()) as u32).to_le_bytes());
    m.extend_from_slice(&ASYNC_COMPLETION_TYPE.to_le_bytes());
    m.extend_from_slice(&0u64.to_le_bytes());
    for r in &reference[1..] {
        m.extend_from_slice(&r.to_le_bytes());
    }
    m.extend_from_slice(&result.to_le_bytes());
    for a in args {
        m.extend_from_slice(&a.to_le_bytes());
    }
    m
}

/// The kernel sends a completion to `wake_port`; false when the queue was full (dropped) or the port gone.
pub fn send_completion(wake_port: u32, result: u32, args: &[u64]) -> bool {
    mach::kernel_send(
        wake_port,
        completion_message(wake_port, &[0; ASYNC_REF_COUNT], result, args),
    )
}

#[allow(clippy::too_many_arguments)]
unsafe fn call(
    connect: io_object_t,
    selector: u32,
    wake: Option<(mach_port_t, [u64; ASYNC_REF_COUNT])>,
    input: *const u64,
    input_count: u32,
    input_struct: *const c_void,
    input_struct_count: usize,
    output: *mut u64,
    output_count: *mut u32,
    output_struct: *mut c_void,
    output_struct_count: *mut usize,
    by: &'static str,
) -> kern_return_t {
    let Some(connection) = objects::with(connect, by, |k| match k {
        Kind::Connection { connection, .. } => Some(*connection),
        _ => None,
    })
    .flatten() else {
        return err(code::kIOReturnBadArgument);
    };
    if input_count as usize > SCALAR_MAX {
        return err(code::MIG_ARRAY_TOO_LARGE);
    }
    // SAFETY: each pointer is valid for the count passed with it (the caller's contract).
    let (scalars_in, struct_in, out_cap, struct_cap) = unsafe {
        let scalars_in = if input.is_null() {
            Vec::new()
        } else {
            std::slice::from_raw_parts(input, input_count as usize).to_vec()
        };
        let struct_in = if input_struct.is_null() || input_struct_count == 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(input_struct as *const u8, input_struct_count).to_vec()
        };
        let out_cap = if output_count.is_null() {
            0
        } else {
            (*output_count).min(SCALAR_MAX as u32)
        };
        let struct_cap = if output_struct_count.is_null() {
            0
        } else {
            *output_struct_count
        };
        (scalars_in, struct_in, out_cap, struct_cap)
    };
    if struct_in.len() > INBAND_MAX || struct_cap > INBAND_MAX {
        OUT_OF_LINE.fetch_add(1, Ordering::Relaxed);
    }
    let args = CallArgs {
        selector,
        scalars_in,
        struct_in,
        scalars_out_capacity: out_cap,
        struct_out_capacity: struct_cap.min(u32::MAX as usize) as u32,
        completion: wake.is_some(),
    };
    let outcome = match served::lab().and_then(|l| l.call(connection, &args)) {
        Ok(o) => o,
        Err(e) => {
            tracing::info!("darwin double: the served lab failed a call: {e}");
            return err(code::kIOReturnError);
        }
    };
    // SAFETY: as above; the outputs are bounded by the capacities the caller passed.
    unsafe {
        if !output_count.is_null() {
            let n = outcome.scalars_out.len().min(out_cap as usize);
            if !output.is_null() {
                std::ptr::copy_nonoverlapping(outcome.scalars_out.as_ptr(), output, n);
            }
            *output_count = n as u32;
        }
        if !output_struct_count.is_null() {
            let n = outcome.struct_out.len().min(struct_cap);
            if !output_struct.is_null() {
                std::ptr::copy_nonoverlapping(
                    outcome.struct_out.as_ptr(),
                    output_struct as *mut u8,
                    n,
                );
            }
            *output_struct_count = n;
        }
    }
    if let Some((port, reference)) = wake
        && outcome.code.0 == 0
    {
        mach::kernel_send(
            port,
            completion_message(port, &reference, 0, &outcome.scalars_out),
        );
    }
    outcome.code.0 as kern_return_t
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn IOConnectCallMethod(
    connection: mach_port_t,
    selector: u32,
    input: *const u64,
    input_count: u32,
    input_struct: *const c_void,
    input_struct_count: usize,
    output: *mut u64,
    output_count: *mut u32,
    output_struct: *mut c_void,
    output_struct_count: *mut usize,
) -> kern_return_t {
    // SAFETY: forwarded with the caller's contract.
    unsafe {
        call(
            connection,
            selector,
            None,
            input,
            input_count,
            input_struct,
            input_struct_count,
            output,
            output_count,
            output_struct,
            output_struct_count,
            "IOConnectCallMethod",
        )
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn IOConnectCallAsyncMethod(
    connection: mach_port_t,
    selector: u32,
    wake_port: mach_port_t,
    reference: *mut u64,
    reference_count: u32,
    input: *const u64,
    input_count: u32,
    input_struct: *const c_void,
    input_struct_count: usize,
    output: *mut u64,
    output_count: *mut u32,
    output_struct: *mut c_void,
    output_struct_count: *mut usize,
) -> kern_return_t {
    if mach::queue_state(wake_port).is_none()
        || reference.is_null()
        || reference_count as usize > ASYNC_REF_COUNT
    {
        super::audit::error(format!(
            "IOConnectCallAsyncMethod: wake port {wake_port:#x} is not a receive right of this task, or the reference is bad"
        ));
        return err(code::kIOReturnBadArgument);
    }
    let mut refs = [0u64; ASYNC_REF_COUNT];
    // SAFETY: `reference_count` words are readable.
    unsafe {
        std::ptr::copy_nonoverlapping(reference, refs.as_mut_ptr(), reference_count as usize)
    };
    // SAFETY: forwarded with the caller's contract.
    unsafe {
        call(
            connection,
            selector,
            Some((wake_port, refs)),
            input,
            input_count,
            input_struct,
            input_struct_count,
            output,
            output_count,
            output_struct,
            output_struct_count,
            "IOConnectCallAsyncMethod",
        )
    }
}
