//! The IORegistry calls of `IOKitLib.h`: the matching-dictionary helpers, `IOServiceGetMatchingServices`
//! (which consumes one reference of the dictionary whatever it returns), and the `IORegistryEntry*` reads.

// The C functions here keep the safety contract of their Apple header (the caller passes valid pointers
// for the counts given); it is not repeated on each.
#![allow(clippy::missing_safety_doc)]
#![allow(non_snake_case)]

use super::cf_collections::new_dictionary;
use super::cf_object::CFRelease;
use super::cf_string::{new_string, string_of};
use super::cf_values::new_number;
use super::matching::Rules;
use super::objects::{self, Kind};
use super::served;
use crate::backends::macos::sys::apple_types::{boolean_t, io_object_t, kern_return_t};
use crate::ioreturn::code;
use crate::lab::{EntryId, Prop, RegEntry};
use core_foundation_sys::base::{CFAllocatorRef, CFTypeRef};
use core_foundation_sys::number::kCFNumberSInt64Type;
use std::collections::HashMap;
use std::ffi::CStr;
use std::os::raw::{c_char, c_void};

const SERVICE_PLANE: &str = "IOService";

fn err(c: u32) -> kern_return_t {
    c as kern_return_t
}

/// `{ key: value }` as a new mutable dictionary, as IOKitLib's helpers make them.
fn one_key(key: &str, value: CFTypeRef, by: &'static str) -> CFTypeRef {
    new_dictionary(
        vec![(
            new_string(key.into(), by) as *const c_void,
            value as *const c_void,
        )],
        true,
        by,
    )
}

fn c_text(p: *const c_char) -> Option<String> {
    // SAFETY: callers pass NUL-terminated strings (or NULL, refused here).
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// IOKitLib.c `IOServiceMatching`: `{ IOProviderClass = name }`.
#[unsafe(no_mangle)]
pub extern "C" fn IOServiceMatching(name: *const c_char) -> CFTypeRef {
    match c_text(name) {
        Some(n) => one_key(
            "IOProviderClass",
            new_string(n, "IOServiceMatching"),
            "IOServiceMatching",
        ),
        None => std::ptr::null(),
    }
}

/// IOKitLib.c `IOServiceNameMatching`: `{ IONameMatch = name }`.
#[unsafe(no_mangle)]
pub extern "C" fn IOServiceNameMatching(name: *const c_char) -> CFTypeRef {
    match c_text(name) {
        Some(n) => one_key(
            "IONameMatch",
            new_string(n, "IOServiceNameMatching"),
            "IOServiceNameMatching",
        ),
        None => std::ptr::null(),
    }
}

/// IOKitLib.c `IORegistryEntryIDMatching`: `{ IORegistryEntryID = <SInt64 id> }`.
#[unsafe(no_mangle)]
pub extern "C" fn IORegistryEntryIDMatching(id: u64) -> CFTypeRef {
    let n = new_number(
        super::cf_object::Number::Int {
            value: id as i64,
            number_type: kCFNumberSInt64Type as isize,
        },
        "IORegistryEntryIDMatching",
    );
    one_key("IORegistryEntryID", n, "IORegistryEntryIDMatching")
}

/// Read a matching dictionary handed to the kernel (the caller's reference is not touched here).
pub fn rules_of(dict: CFTypeRef, by: &'static str) -> Option<Rules> {
    match served::cf_to_prop(dict, by)? {
        Prop::Dict(d) => Some(Rules::read(&d)),
        _ => None,
    }
}

/// The registered entries `rules` selects, in registry order.
pub fn matching_entries(rules: &Rules) -> Vec<RegEntry> {
    let all = served::registered();
    let by_id: HashMap<EntryId, RegEntry> = all.iter().map(|e| (e.id, e.clone())).collect();
    all.into_iter()
        .filter(|e| rules.matches(e, &by_id))
        .collect()
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn IOServiceGetMatchingServices(
    _main_port: u32,
    matching: CFTypeRef,
    existing: *mut io_object_t,
) -> kern_return_t {
    if matching.is_null() || existing.is_null() {
        return err(code::kIOReturnBadArgument);
    }
    let rules = rules_of(matching, "IOServiceGetMatchingServices");
    // IOKitLib.h: "one reference is always consumed" (by this call, whatever it returns).
    CFRelease(matching);
    let Some(rules) = rules else {
        return err(code::kIOReturnBadArgument);
    };
    let pending = matching_entries(&rules).into();
    let it = objects::hand_out(
        Kind::Iterator {
            pending,
            notification: None,
        },
        "IOServiceGetMatchingServices",
    );
    // SAFETY: out pointer from the caller.
    unsafe { *existing = it };
    0
}

fn plane_ok(plane: *const c_char) -> bool {
    c_text(plane).as_deref() == Some(SERVICE_PLANE)
}

/// Copy `text` into a C buffer of `cap` bytes; too long is an error, as the MIG string types are bounded.
fn write_c(text: &str, out: *mut c_char, cap: usize) -> kern_return_t {
    if out.is_null() || text.len() >= cap {
        return err(code::kIOReturnBadArgument);
    }
    // SAFETY: the caller's buffer holds `cap` bytes and text + NUL fits.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr() as *const c_char, out, text.len());
        *out.add(text.len()) = 0;
    }
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn IORegistryEntryGetName(entry: io_object_t, name: *mut c_char) -> kern_return_t {
    match objects::entry(entry, "IORegistryEntryGetName") {
        Some(e) => write_c(&e.name, name, 128),
        None => err(code::kIOReturnBadArgument),
    }
}

/// No location: kIOReturnNotFound (xnu `is_io_registry_entry_get_location_in_plane`).
#[unsafe(no_mangle)]
pub extern "C" fn IORegistryEntryGetLocationInPlane(
    entry: io_object_t,
    plane: *const c_char,
    location: *mut c_char,
) -> kern_return_t {
    let Some(e) = objects::entry(entry, "IORegistryEntryGetLocationInPlane") else {
        return err(code::kIOReturnBadArgument);
    };
    match (plane_ok(plane), &e.location) {
        (true, Some(l)) => write_c(l, location, 128),
        _ => err(code::kIOReturnNotFound),
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn IORegistryEntryGetPath(
    entry: io_object_t,
    plane: *const c_char,
    path: *mut c_char,
) -> kern_return_t {
    let Some(e) = objects::entry(entry, "IORegistryEntryGetPath") else {
        return err(code::kIOReturnBadArgument);
    };
    // A detached entry has no path in the plane: `getPath` fails and xnu `is_io_registry_entry_get_path`
    // answers kIOReturnBadArgument.
    if !plane_ok(plane) || !e.registered || e.path.is_empty() {
        return err(code::kIOReturnBadArgument);
    }
    write_c(&e.path, path, 512)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn IORegistryEntryGetRegistryEntryID(
    entry: io_object_t,
    id: *mut u64,
) -> kern_return_t {
    match objects::entry(entry, "IORegistryEntryGetRegistryEntryID") {
        Some(e) if !id.is_null() => {
            // SAFETY: out pointer from the caller.
            unsafe { *id = e.id };
            0
        }
        _ => err(code::kIOReturnBadArgument),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn IORegistryEntryCreateCFProperties(
    entry: io_object_t,
    properties: *mut CFTypeRef,
    _allocator: CFAllocatorRef,
    _options: u32,
) -> kern_return_t {
    let Some(e) = objects::entry(entry, "IORegistryEntryCreateCFProperties") else {
        return err(code::kIOReturnBadArgument);
    };
    if properties.is_null() {
        return err(code::kIOReturnBadArgument);
    }
    let dict = served::dict_to_cf(&e.properties, true, "IORegistryEntryCreateCFProperties");
    // SAFETY: out pointer from the caller.
    unsafe { *properties = dict };
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn IORegistryEntryCreateCFProperty(
    entry: io_object_t,
    key: CFTypeRef,
    _allocator: CFAllocatorRef,
    _options: u32,
) -> CFTypeRef {
    let Some(k) = string_of(key, "IORegistryEntryCreateCFProperty") else {
        return std::ptr::null();
    };
    match objects::entry(entry, "IORegistryEntryCreateCFProperty")
        .and_then(|e| e.properties.get(k).cloned())
    {
        Some(p) => served::prop_to_cf(&p, "IORegistryEntryCreateCFProperty"),
        None => std::ptr::null(),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn IORegistryEntryGetChildIterator(
    entry: io_object_t,
    plane: *const c_char,
    iterator: *mut io_object_t,
) -> kern_return_t {
    let Some(e) = objects::entry(entry, "IORegistryEntryGetChildIterator") else {
        return err(code::kIOReturnBadArgument);
    };
    if !plane_ok(plane) || iterator.is_null() {
        return err(code::kIOReturnBadArgument);
    }
    let children = served::lab()
        .and_then(|l| l.children(e.id))
        .unwrap_or_default();
    let pending = children.into_iter().filter(|c| c.registered).collect();
    let it = objects::hand_out(
        Kind::Iterator {
            pending,
            notification: None,
        },
        "IORegistryEntryGetChildIterator",
    );
    // SAFETY: out pointer from the caller.
    unsafe { *iterator = it };
    0
}

/// The root has no parent: kIOReturnNoDevice (IOKitLib.c `IORegistryEntryGetParentEntry`: an empty parent
/// iterator).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IORegistryEntryGetParentEntry(
    entry: io_object_t,
    plane: *const c_char,
    parent: *mut io_object_t,
) -> kern_return_t {
    let Some(e) = objects::entry(entry, "IORegistryEntryGetParentEntry") else {
        return err(code::kIOReturnBadArgument);
    };
    if !plane_ok(plane) || parent.is_null() {
        return err(code::kIOReturnBadArgument);
    }
    let Some(p) = e.parent.and_then(|id| served::lab().ok()?.entry(id).ok()) else {
        return err(code::kIOReturnNoDevice);
    };
    let name = objects::hand_out(Kind::Entry(p), "IORegistryEntryGetParentEntry");
    // SAFETY: out pointer from the caller.
    unsafe { *parent = name };
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn IORegistryEntryInPlane(entry: io_object_t, plane: *const c_char) -> boolean_t {
    (plane_ok(plane)
        && objects::entry(entry, "IORegistryEntryInPlane").is_some_and(|e| e.registered))
        as boolean_t
}
