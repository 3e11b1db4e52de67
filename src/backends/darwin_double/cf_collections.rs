//! CFArray (`CFArray.h`), and what it shares with CFDictionary (`cf_dictionary`): elements kept as the raw
//! pointers they are, retained, released and compared through the callbacks given at creation
//! (`kCFType...CallBacks` retain with CFRetain; NULL callbacks store the pointers as they are).

// The C functions here keep the safety contract of their Apple header (the caller passes valid pointers
// for the counts given); it is not repeated on each.
#![allow(clippy::missing_safety_doc)]
#![allow(non_upper_case_globals, non_snake_case)]

use super::cf_object::{
    CFEqual, CFHash, CFRelease, CFRetain, Collection, ElementCallbacks, Value, get_typed, lock,
    make, type_id,
};
use core_foundation_sys::array::CFArrayCallBacks;
use core_foundation_sys::base::{
    Boolean, CFAllocatorRef, CFHashCode, CFIndex, CFRange, CFTypeID, CFTypeRef,
};
use core_foundation_sys::dictionary::{CFDictionaryKeyCallBacks, CFDictionaryValueCallBacks};
use core_foundation_sys::string::CFStringRef;
use std::os::raw::c_void;
use std::sync::Mutex;

extern "C" fn retain_cb(_a: CFAllocatorRef, v: *const c_void) -> *const c_void {
    CFRetain(v)
}
extern "C" fn release_cb(_a: CFAllocatorRef, v: *const c_void) {
    CFRelease(v)
}
extern "C" fn describe_cb(v: *const c_void) -> CFStringRef {
    super::cf_object::CFCopyDescription(v) as CFStringRef
}
extern "C" fn equal_cb(a: *const c_void, b: *const c_void) -> Boolean {
    CFEqual(a, b)
}
extern "C" fn hash_cb(v: *const c_void) -> CFHashCode {
    CFHash(v)
}

#[unsafe(no_mangle)]
pub static kCFTypeArrayCallBacks: CFArrayCallBacks = CFArrayCallBacks {
    version: 0,
    retain: retain_cb,
    release: release_cb,
    copyDescription: describe_cb,
    equal: equal_cb,
};
#[unsafe(no_mangle)]
pub static kCFTypeDictionaryKeyCallBacks: CFDictionaryKeyCallBacks = CFDictionaryKeyCallBacks {
    version: 0,
    retain: retain_cb,
    release: release_cb,
    copyDescription: describe_cb,
    equal: equal_cb,
    hash: hash_cb,
};
/// The double does not copy string keys; retaining them is equivalent for immutable strings.
#[unsafe(no_mangle)]
pub static kCFCopyStringDictionaryKeyCallBacks: CFDictionaryKeyCallBacks =
    CFDictionaryKeyCallBacks {
        version: 0,
        retain: retain_cb,
        release: release_cb,
        copyDescription: describe_cb,
        equal: equal_cb,
        hash: hash_cb,
    };
#[unsafe(no_mangle)]
pub static kCFTypeDictionaryValueCallBacks: CFDictionaryValueCallBacks =
    CFDictionaryValueCallBacks {
        version: 0,
        retain: retain_cb,
        release: release_cb,
        copyDescription: describe_cb,
        equal: equal_cb,
    };

/// The retaining callbacks (what the double's own registry collections use).
pub const CF_TYPE: ElementCallbacks = ElementCallbacks {
    retain: Some(retain_cb),
    release: Some(release_cb),
    equal: Some(equal_cb),
};

fn array_callbacks(cb: *const CFArrayCallBacks) -> ElementCallbacks {
    if cb.is_null() {
        return ElementCallbacks::NONE;
    }
    // SAFETY: a non-NULL pointer to the caller's callbacks.
    let cb = unsafe { &*cb };
    ElementCallbacks {
        retain: Some(cb.retain),
        release: Some(cb.release),
        equal: Some(cb.equal),
    }
}

pub(super) fn key_callbacks(cb: *const CFDictionaryKeyCallBacks) -> ElementCallbacks {
    if cb.is_null() {
        return ElementCallbacks::NONE;
    }
    // SAFETY: a non-NULL pointer to the caller's callbacks.
    let cb = unsafe { &*cb };
    ElementCallbacks {
        retain: Some(cb.retain),
        release: Some(cb.release),
        equal: Some(cb.equal),
    }
}

pub(super) fn value_callbacks(cb: *const CFDictionaryValueCallBacks) -> ElementCallbacks {
    if cb.is_null() {
        return ElementCallbacks::NONE;
    }
    // SAFETY: a non-NULL pointer to the caller's callbacks.
    let cb = unsafe { &*cb };
    ElementCallbacks {
        retain: Some(cb.retain),
        release: Some(cb.release),
        equal: Some(cb.equal),
    }
}

/// A new array that takes one reference of each of `items` (already retained for it).
pub fn new_array(
    items: Vec<*const c_void>,
    callbacks: ElementCallbacks,
    by: &'static str,
) -> CFTypeRef {
    make(
        type_id::ARRAY,
        Value::Array(Collection {
            items: Mutex::new(items),
            keys: ElementCallbacks::NONE,
            values: callbacks,
            mutable: false,
        }),
        "CFArray",
        by,
    )
}

/// A new dictionary that takes one reference of each key and value (already retained for it).
pub fn new_dictionary(
    pairs: Vec<(*const c_void, *const c_void)>,
    mutable: bool,
    by: &'static str,
) -> CFTypeRef {
    make(
        type_id::DICTIONARY,
        Value::Dictionary(Collection {
            items: Mutex::new(pairs),
            keys: CF_TYPE,
            values: CF_TYPE,
            mutable,
        }),
        if mutable {
            "CFMutableDictionary"
        } else {
            "CFDictionary"
        },
        by,
    )
}

fn array(a: CFTypeRef, by: &'static str) -> Option<&'static Collection<*const c_void>> {
    match &get_typed(a, type_id::ARRAY, by)?.value {
        Value::Array(c) => Some(c),
        _ => None,
    }
}

pub fn dictionary(
    d: CFTypeRef,
    by: &'static str,
) -> Option<&'static Collection<(*const c_void, *const c_void)>> {
    match &get_typed(d, type_id::DICTIONARY, by)?.value {
        Value::Dictionary(c) => Some(c),
        _ => None,
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFArrayGetTypeID() -> CFTypeID {
    type_id::ARRAY
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFArrayCreate(
    _alloc: CFAllocatorRef,
    values: *const *const c_void,
    count: CFIndex,
    callbacks: *const CFArrayCallBacks,
) -> CFTypeRef {
    let cb = array_callbacks(callbacks);
    let items = if values.is_null() || count <= 0 {
        Vec::new()
    } else {
        // SAFETY: the caller passes `count` values.
        unsafe { std::slice::from_raw_parts(values, count as usize) }
            .iter()
            .map(|v| cb.retain(*v))
            .collect()
    };
    new_array(items, cb, "CFArrayCreate")
}

#[unsafe(no_mangle)]
pub extern "C" fn CFArrayGetCount(a: CFTypeRef) -> CFIndex {
    array(a, "CFArrayGetCount").map_or(0, |c| lock(&c.items).len() as CFIndex)
}

#[unsafe(no_mangle)]
pub extern "C" fn CFArrayGetValueAtIndex(a: CFTypeRef, i: CFIndex) -> *const c_void {
    let Some(c) = array(a, "CFArrayGetValueAtIndex") else {
        return std::ptr::null();
    };
    let items = lock(&c.items);
    match usize::try_from(i).ok().and_then(|i| items.get(i)) {
        Some(v) => *v,
        None => {
            super::audit::error(format!(
                "CFArrayGetValueAtIndex: index {i} of an array of {}",
                items.len()
            ));
            std::ptr::null()
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFArrayGetValues(a: CFTypeRef, range: CFRange, out: *mut *const c_void) {
    let Some(c) = array(a, "CFArrayGetValues") else {
        return;
    };
    let items = lock(&c.items);
    let start = range.location.max(0) as usize;
    for (k, v) in items
        .iter()
        .skip(start)
        .take(range.length.max(0) as usize)
        .enumerate()
    {
        // SAFETY: the caller passes room for `range.length` values.
        unsafe { *out.add(k) = *v };
    }
}
