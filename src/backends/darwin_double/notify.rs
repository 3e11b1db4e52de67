//! Notification ports and matching notifications (`IOKitLib.h`: `IONotificationPortCreate`,
//! `IOServiceAddMatchingNotification`), with the kernel's rules from xnu `iokit/Kernel/IOUserClient.cpp`
//! (`IOServiceUserNotification`): every matching arrival (first match) or termination is added to the
//! notification's iterator at once, but a message is sent to the port only while the notification is armed,
//! and sending disarms it; emptying the iterator with `IOIteratorNext` arms it again
//! (`IOServiceUserNotification::handler` / `copyNextObject`); the iterator hands out the newest first
//! (`copyNextObject` takes the set's last object) and holds at most 1024 (`kMaxOutstanding`; more are dropped). The first-match iterator starts with the
//! services already matching (IOKitLib.h: iterate it to arm the notification).
//!
//! The double's "kernel" sees arrivals and terminations by looking at the served registry every few
//! milliseconds on one thread of its own. The message it sends carries, after the Mach header and the
//! notify header, the iterator's name: IOKitLib parses these messages itself (`IODispatchCalloutFromMessage`),
//! the backend never does, so that body is the double's own.

// The C functions here keep the safety contract of their Apple header (the caller passes valid pointers
// for the counts given); it is not repeated on each.
#![allow(clippy::missing_safety_doc)]
#![allow(non_snake_case)]

use super::audit::{self, Handle};
use super::cf_object::{CFRelease, lock};
use super::matching::Rules;
use super::objects::{self, Kind};
use super::registry_fns::{matching_entries, rules_of};
use super::{mach, runloop};
use crate::backends::macos::sys::apple_types::{io_object_t, kern_return_t, mach_port_t};
use crate::backends::macos::sys::{IONotificationPortRef, IOServiceMatchingCallback};
use crate::ioreturn::code;
use crate::lab::{EntryId, RegEntry};
use core_foundation_sys::base::CFTypeRef;
use std::collections::{BTreeMap, HashMap};
use std::ffi::CStr;
use std::os::raw::{c_char, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, Once};
use std::time::Duration;

/// `kOSNotificationMessageID` (IOKit `OSMessageNotification.h`).
pub const NOTIFICATION_MESSAGE_ID: i32 = 53;
/// `kIOServicePublishNotificationType` / `kIOServiceTerminatedNotificationType` (`OSMessageNotification.h`).
const PUBLISH_TYPE: u32 = 100;
const TERMINATED_TYPE: u32 = 102;
/// `kMaxOutstanding` (xnu `IOUserClient.cpp`): what a notification's iterator holds at most.
const MAX_OUTSTANDING: usize = 1024;
/// How often the double's kernel looks at the served registry for arrivals and terminations.
const LOOK_EVERY: Duration = Duration::from_millis(5);

struct NotifyPort {
    port: u32,
    source: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind2 {
    FirstMatch,
    Terminated,
}

struct Notification {
    kind: Kind2,
    rules: Rules,
    port: u32,
    callback: IOServiceMatchingCallback,
    refcon: usize,
    iterator: io_object_t,
    armed: bool,
    /// What matched at the last look, by id.
    known: BTreeMap<EntryId, RegEntry>,
}

static PORTS: LazyLock<Mutex<HashMap<usize, NotifyPort>>> = LazyLock::new(Mutex::default);
static NOTIFICATIONS: LazyLock<Mutex<HashMap<u64, Notification>>> = LazyLock::new(Mutex::default);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static KERNEL: Once = Once::new();

fn notify_port(p: IONotificationPortRef, by: &'static str) -> Option<u32> {
    let port = lock(&PORTS).get(&(p as usize)).map(|n| n.port);
    match port {
        Some(name) if audit::check_live(Handle::Port(name), by) => Some(name),
        Some(_) => None,
        None => {
            audit::error(format!(
                "{by} was given a notification port the double never made"
            ));
            None
        }
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn IONotificationPortCreate(_main_port: mach_port_t) -> IONotificationPortRef {
    let port = mach::allocate_receive_port();
    let handle = Box::into_raw(Box::new(0u8)) as IONotificationPortRef;
    lock(&PORTS).insert(handle as usize, NotifyPort { port, source: None });
    audit::created(
        Handle::Port(port),
        "IONotificationPortRef",
        "IONotificationPortCreate",
    );
    handle
}

/// Destroys the port, its run-loop source (invalidated, so it leaves every run loop) and its receive right.
#[unsafe(no_mangle)]
pub extern "C" fn IONotificationPortDestroy(p: IONotificationPortRef) {
    if notify_port(p, "IONotificationPortDestroy").is_none() {
        return;
    }
    let Some(np) = lock(&PORTS).remove(&(p as usize)) else {
        return;
    };
    if let Some(src) = np.source {
        runloop::invalidate(src as CFTypeRef);
        CFRelease(src as CFTypeRef);
    }
    mach::destroy_port(np.port);
    audit::released(Handle::Port(np.port), "IONotificationPortDestroy", |_| {});
    // SAFETY: made by Box::into_raw in IONotificationPortCreate; removed from the table above, so once.
    drop(unsafe { Box::from_raw(p as *mut u8) });
}

/// The port's run-loop source (get rule: the port owns it), made on first request as IOKitLib does.
#[unsafe(no_mangle)]
pub extern "C" fn IONotificationPortGetRunLoopSource(p: IONotificationPortRef) -> CFTypeRef {
    let port = notify_port(p, "IONotificationPortGetRunLoopSource");
    let mut all = lock(&PORTS);
    match (port, all.get_mut(&(p as usize))) {
        (Some(port), Some(np)) => {
            *np.source
                .get_or_insert_with(|| runloop::new_source(port) as usize) as CFTypeRef
        }
        _ => std::ptr::null(),
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn IONotificationPortGetMachPort(p: IONotificationPortRef) -> mach_port_t {
    notify_port(p, "IONotificationPortGetMachPort").unwrap_or(0)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn IOServiceAddMatchingNotification(
    p: IONotificationPortRef,
    notification_type: *const c_char,
    matching: CFTypeRef,
    callback: IOServiceMatchingCallback,
    refcon: *mut c_void,
    notification: *mut io_object_t,
) -> kern_return_t {
    let rules = (!matching.is_null())
        .then(|| rules_of(matching, "IOServiceAddMatchingNotification"))
        .flatten();
    // IOKitLib.h: consumes one reference of `matching`, whatever it returns.
    if !matching.is_null() {
        CFRelease(matching);
    }
    let port = notify_port(p, "IOServiceAddMatchingNotification");
    // SAFETY: the caller passes a NUL-terminated notification type.
    let kind = (!notification_type.is_null())
        .then(|| {
            unsafe { CStr::from_ptr(notification_type) }
                .to_bytes()
                .to_vec()
        })
        .and_then(|t| match t.as_slice() {
            b"IOServiceFirstMatch"
            | b"IOServiceMatched"
            | b"IOServicePublish"
            | b"IOServiceFirstPublish" => Some(Kind2::FirstMatch),
            b"IOServiceTerminate" => Some(Kind2::Terminated),
            _ => None,
        });
    let (Some(rules), Some(port), Some(kind)) = (rules, port, kind) else {
        return code::kIOReturnBadArgument as kern_return_t;
    };
    if notification.is_null() {
        return code::kIOReturnBadArgument as kern_return_t;
    }
    let now = matching_entries(&rules);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let pending = if kind == Kind2::FirstMatch {
        now.clone().into()
    } else {
        Default::default()
    };
    let iterator = objects::hand_out(
        Kind::Iterator {
            pending,
            notification: Some(id),
        },
        "IOServiceAddMatchingNotification",
    );
    lock(&NOTIFICATIONS).insert(
        id,
        Notification {
            kind,
            rules,
            port,
            callback,
            refcon: refcon as usize,
            iterator,
            armed: false,
            known: now.into_iter().map(|e| (e.id, e)).collect(),
        },
    );
    KERNEL.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("darwin-double-kernel".into())
            .spawn(kernel_loop);
    });
    // SAFETY: out pointer from the caller.
    unsafe { *notification = iterator };
    0
}

/// The iterator was emptied: the notification may send again.
pub fn arm(id: u64) {
    if let Some(n) = lock(&NOTIFICATIONS).get_mut(&id) {
        n.armed = true;
    }
}

/// The iterator's last reference went: the notification is removed (`IOObjectRelease` on it).
pub fn iterator_released(id: u64) {
    lock(&NOTIFICATIONS).remove(&id);
}

/// Whether a notification is armed (for tests).
pub fn armed_count() -> usize {
    lock(&NOTIFICATIONS).values().filter(|n| n.armed).count()
}

fn message(n: &Notification, id: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(24 + 72 + 4);
    let size = 24 + 72 + 4u32;
    m.extend_from_slice(&0u32.to_le_bytes()); // msgh_bits
    m.extend_from_slice(&size.to_le_bytes());
    m.extend_from_slice(&n.port.to_le_bytes()); // remote
    m.extend_from_slice(&0u32.to_le_bytes()); // local
    m.extend_from_slice(&0u32.to_le_bytes()); // voucher
    m.extend_from_slice(&NOTIFICATION_MESSAGE_ID.to_le_bytes());
    m.extend_from_slice(&4u32.to_le_bytes()); // notify header: size of the content
    let t = if n.kind == Kind2::Terminated {
        TERMINATED_TYPE
    } else {
        PUBLISH_TYPE
    };
    m.extend_from_slice(&t.to_le_bytes());
    // reference: [0] reserved, [1] callback, [2] refcon (IOKitLib's kIOMatchingCallout*Index), [3] our id.
    for r in [
        0u64,
        n.callback as usize as u64,
        n.refcon as u64,
        id,
        0,
        0,
        0,
        0,
    ] {
        m.extend_from_slice(&r.to_le_bytes());
    }
    m.extend_from_slice(&n.iterator.to_le_bytes());
    m
}

/// One look at the registry: add what arrived or left to each notification's iterator, and tell the armed
/// ones.
pub fn look() {
    let ids: Vec<(u64, Rules)> = lock(&NOTIFICATIONS)
        .iter()
        .map(|(id, n)| (*id, n.rules.clone()))
        .collect();
    for (id, rules) in ids {
        let now: BTreeMap<EntryId, RegEntry> = matching_entries(&rules)
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let mut all = lock(&NOTIFICATIONS);
        let Some(n) = all.get_mut(&id) else { continue };
        let news: Vec<RegEntry> = match n.kind {
            Kind2::FirstMatch => now
                .iter()
                .filter(|(k, _)| !n.known.contains_key(k))
                .map(|(_, e)| e.clone())
                .collect(),
            Kind2::Terminated => n
                .known
                .iter()
                .filter(|(k, _)| !now.contains_key(k))
                .map(|(_, e)| RegEntry {
                    registered: false,
                    ..e.clone()
                })
                .collect(),
        };
        n.known = now;
        if news.is_empty() {
            continue;
        }
        let it = n.iterator;
        objects::with(it, "the double's kernel", |k| {
            if let Kind::Iterator { pending, .. } = k {
                let room = MAX_OUTSTANDING.saturating_sub(pending.len());
                pending.extend(news.into_iter().take(room));
            }
        });
        if n.armed {
            n.armed = false;
            let msg = message(n, id);
            mach::kernel_send(n.port, msg);
        }
    }
}

fn kernel_loop() {
    loop {
        look();
        std::thread::sleep(LOOK_EVERY);
    }
}

/// Serve one message taken off a notification port by a run loop: call the notification's callback.
pub fn dispatch(msg: &[u8]) {
    let u32_at = |o: usize| {
        msg.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        msg.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    };
    if u32_at(20) != Some(NOTIFICATION_MESSAGE_ID as u32) {
        return;
    }
    let (Some(id), Some(iterator)) = (u64_at(24 + 8 + 3 * 8), u32_at(96)) else {
        return;
    };
    let found = lock(&NOTIFICATIONS)
        .get(&id)
        .map(|n| (n.callback, n.refcon, n.iterator == iterator));
    if let Some((callback, refcon, true)) = found {
        // SAFETY: the callback and refcon the caller registered, with the notification's iterator.
        unsafe { callback(refcon as *mut c_void, iterator) };
    }
}
