//! io_object_t names the double hands out: registry entries, iterators and connections, each with a user
//! reference count (`IOObjectRetain` / `IOObjectRelease`, IOKitLib.h), and the class calls on them
//! (`IOObjectGetClass`, `IOObjectCopyClass`, `IOObjectCopySuperclassForClass`, `IOObjectConformsTo`).
//!
//! A Mac hands out one name per kernel object and counts user references on it; the double hands out a
//! fresh name per reference handed out, so a leak or double release names the very handout it came from.

// The C functions here keep the safety contract of their Apple header (the caller passes valid pointers
// for the counts given); it is not repeated on each.
#![allow(clippy::missing_safety_doc)]
#![allow(non_snake_case)]

use super::audit::{self, Handle};
use super::cf_string::{new_string, string_of};
use super::mach::new_name;
use super::served;
use crate::backends::macos::sys::apple_types::{boolean_t, io_object_t, kern_return_t};
use crate::ioreturn::code;
use crate::lab::{ConnectionId, EntryId, RegEntry};
use core_foundation_sys::base::CFTypeRef;
use std::collections::{HashMap, VecDeque};
use std::ffi::CStr;
use std::os::raw::c_char;
use std::sync::{LazyLock, Mutex, MutexGuard};

pub enum Kind {
    /// A registry entry, with what it looked like when handed out (a terminated entry still answers).
    Entry(RegEntry),
    /// What `IOIteratorNext` will hand out; a notification's iterator also names its notification.
    Iterator {
        pending: VecDeque<RegEntry>,
        notification: Option<u64>,
    },
    /// An open user client of the served lab.
    Connection {
        connection: ConnectionId,
        service: EntryId,
    },
}

struct Obj {
    kind: Kind,
    refs: u32,
}

static OBJECTS: LazyLock<Mutex<HashMap<u32, Obj>>> = LazyLock::new(Mutex::default);

fn objects() -> MutexGuard<'static, HashMap<u32, Obj>> {
    OBJECTS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Hand out a new name for `kind` (one reference, the caller's).
pub fn hand_out(kind: Kind, by: &'static str) -> io_object_t {
    let name = new_name();
    let what = match &kind {
        Kind::Entry(_) => "io_registry_entry_t",
        Kind::Iterator { .. } => "io_iterator_t",
        Kind::Connection { .. } => "io_connect_t",
    };
    objects().insert(name, Obj { kind, refs: 1 });
    audit::created(Handle::Port(name), what, by);
    name
}

/// Run `f` on a live object; an unknown or released name is an ownership error and `None`.
pub fn with<R>(name: io_object_t, by: &'static str, f: impl FnOnce(&mut Kind) -> R) -> Option<R> {
    if name == 0 {
        audit::error(format!("{by} was passed IO_OBJECT_NULL"));
        return None;
    }
    if !audit::check_live(Handle::Port(name), by) {
        return None;
    }
    objects().get_mut(&name).map(|o| f(&mut o.kind))
}

/// The entry behind `name`, as it is now when still registered, else as handed out.
pub fn entry(name: io_object_t, by: &'static str) -> Option<RegEntry> {
    let seen = with(name, by, |k| match k {
        Kind::Entry(e) => Some(e.clone()),
        _ => None,
    })??;
    Some(served::live_entry(seen.id).unwrap_or(RegEntry {
        registered: false,
        ..seen
    }))
}

/// Drop one reference; the last one releases the name. Returns what was released, if it was the last.
pub fn release(name: io_object_t, by: &'static str) -> Result<Option<Kind>, kern_return_t> {
    if !audit::check_live(Handle::Port(name), by) {
        return Err(code::kIOReturnBadArgument as kern_return_t);
    }
    let mut all = objects();
    let Some(o) = all.get_mut(&name) else {
        return Err(code::kIOReturnBadArgument as kern_return_t);
    };
    o.refs -= 1;
    if o.refs > 0 {
        return Ok(None);
    }
    let gone = all.remove(&name).map(|o| o.kind);
    drop(all);
    audit::released(Handle::Port(name), by, |_| {});
    Ok(gone)
}

#[unsafe(no_mangle)]
pub extern "C" fn IOObjectRetain(object: io_object_t) -> kern_return_t {
    match with(object, "IOObjectRetain", |_| ()) {
        Some(()) => {
            if let Some(o) = objects().get_mut(&object) {
                o.refs += 1;
            }
            0
        }
        None => code::kIOReturnBadArgument as kern_return_t,
    }
}

/// `IOObjectRelease`. Releasing a connection this way leaves it open (IOServiceClose closes), so it is
/// refused as a misuse rather than guessed at.
#[unsafe(no_mangle)]
pub extern "C" fn IOObjectRelease(object: io_object_t) -> kern_return_t {
    let is_connection = matches!(
        objects().get(&object),
        Some(Obj {
            kind: Kind::Connection { .. },
            ..
        })
    );
    if is_connection {
        audit::error(
            "IOObjectRelease was given an io_connect_t: close it with IOServiceClose".into(),
        );
        return code::kIOReturnBadArgument as kern_return_t;
    }
    match release(object, "IOObjectRelease") {
        Ok(Some(Kind::Iterator {
            notification: Some(n),
            ..
        })) => {
            super::notify::iterator_released(n);
            0
        }
        Ok(_) => 0,
        Err(kr) => kr,
    }
}

/// `IOIteratorNext`: the next object (one reference, the caller's) or 0. Emptying a notification's
/// iterator arms the notification (IOKitLib.h; xnu `IOServiceUserNotification::copyNextObject`), which
/// hands out the newest first.
#[unsafe(no_mangle)]
pub extern "C" fn IOIteratorNext(iterator: io_object_t) -> io_object_t {
    let step = with(iterator, "IOIteratorNext", |k| match k {
        Kind::Iterator {
            pending,
            notification: Some(n),
        } => Some((pending.pop_back(), Some(*n))),
        Kind::Iterator {
            pending,
            notification: None,
        } => Some((pending.pop_front(), None)),
        _ => None,
    })
    .flatten();
    match step {
        Some((Some(e), _)) => hand_out(Kind::Entry(e), "IOIteratorNext"),
        Some((None, Some(n))) => {
            super::notify::arm(n);
            0
        }
        Some((None, None)) => 0,
        None => {
            audit::error(format!(
                "IOIteratorNext was given {iterator:#x}, which is not an iterator"
            ));
            0
        }
    }
}

fn write_name(text: &str, out: *mut c_char) -> kern_return_t {
    // io_name_t is 128 bytes; IOKitLib copies at most that (CFStringGetCString with sizeof(io_name_t)).
    let bytes = text.as_bytes();
    let n = bytes.len().min(127);
    // SAFETY: the caller passes an io_name_t (128 bytes).
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr() as *const c_char, out, n);
        *out.add(n) = 0;
    }
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn IOObjectGetClass(object: io_object_t, class_name: *mut c_char) -> kern_return_t {
    let class = match with(object, "IOObjectGetClass", |k| match k {
        Kind::Iterator { .. } => Some("IOUserIterator".to_string()),
        Kind::Connection { .. } => Some("IOUserUserClient".to_string()),
        Kind::Entry(_) => None,
    }) {
        None => return code::kIOReturnBadArgument as kern_return_t,
        Some(Some(c)) => c,
        Some(None) => match entry(object, "IOObjectGetClass") {
            Some(e) => served::user_class(&e).to_string(),
            None => return code::kIOReturnBadArgument as kern_return_t,
        },
    };
    write_name(&class, class_name)
}

#[unsafe(no_mangle)]
pub extern "C" fn IOObjectCopyClass(object: io_object_t) -> CFTypeRef {
    // IOKitLib.c `_IOObjectCopyClass`: NULL for IO_OBJECT_NULL, else the GetClass name as a CFString.
    if object == 0 {
        return std::ptr::null();
    }
    let mut buf = [0 as c_char; 128];
    if IOObjectGetClass(object, buf.as_mut_ptr()) != 0 {
        return std::ptr::null();
    }
    // SAFETY: write_name NUL-terminated the buffer.
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    new_string(text, "IOObjectCopyClass")
}

#[unsafe(no_mangle)]
pub extern "C" fn IOObjectCopySuperclassForClass(class_name: CFTypeRef) -> CFTypeRef {
    // IOKitLib.c: NULL for a NULL argument, and when the kernel knows no superclass.
    if class_name.is_null() {
        return std::ptr::null();
    }
    match string_of(class_name, "IOObjectCopySuperclassForClass").and_then(served::superclass_of) {
        Some(s) => new_string(s, "IOObjectCopySuperclassForClass"),
        None => std::ptr::null(),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn IOObjectConformsTo(
    object: io_object_t,
    class_name: *const c_char,
) -> boolean_t {
    if class_name.is_null() {
        return 0;
    }
    // SAFETY: the caller passes a NUL-terminated io_name_t.
    let class = unsafe { CStr::from_ptr(class_name) }
        .to_string_lossy()
        .into_owned();
    entry(object, "IOObjectConformsTo").is_some_and(|e| served::user_conforms(&e, &class))
        as boolean_t
}
