//! CFDictionary (`CFDictionary.h`): pairs kept as the raw pointers they are, retained, released and
//! compared through the key and value callbacks given at creation (see `cf_collections`).

// The C functions here keep the safety contract of their Apple header (the caller passes valid pointers
// for the counts given); it is not repeated on each.
#![allow(clippy::missing_safety_doc)]
#![allow(non_snake_case)]

use super::cf_collections::{dictionary, key_callbacks, value_callbacks};
use super::cf_object::{Collection, Value, lock, make, type_id};
use core_foundation_sys::base::{Boolean, CFAllocatorRef, CFIndex, CFTypeID, CFTypeRef};
use core_foundation_sys::dictionary::{CFDictionaryKeyCallBacks, CFDictionaryValueCallBacks};
use std::os::raw::c_void;
use std::sync::Mutex;

#[unsafe(no_mangle)]
pub extern "C" fn CFDictionaryGetTypeID() -> CFTypeID {
    type_id::DICTIONARY
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFDictionaryCreate(
    _alloc: CFAllocatorRef,
    keys: *const *const c_void,
    values: *const *const c_void,
    count: CFIndex,
    key_cb: *const CFDictionaryKeyCallBacks,
    value_cb: *const CFDictionaryValueCallBacks,
) -> CFTypeRef {
    let (kc, vc) = (key_callbacks(key_cb), value_callbacks(value_cb));
    let mut pairs: Vec<(*const c_void, *const c_void)> = Vec::new();
    if !keys.is_null() && !values.is_null() && count > 0 {
        for i in 0..count as usize {
            // SAFETY: the caller passes `count` keys and values.
            let (k, v) = unsafe { (*keys.add(i), *values.add(i)) };
            if let Some(slot) = pairs.iter_mut().find(|(k2, _)| kc.equal(*k2, k)) {
                vc.release(slot.1);
                slot.1 = vc.retain(v);
            } else {
                pairs.push((kc.retain(k), vc.retain(v)));
            }
        }
    }
    make(
        type_id::DICTIONARY,
        Value::Dictionary(Collection {
            items: Mutex::new(pairs),
            keys: kc,
            values: vc,
            mutable: false,
        }),
        "CFDictionary",
        "CFDictionaryCreate",
    )
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFDictionaryCreateMutable(
    _alloc: CFAllocatorRef,
    _capacity: CFIndex,
    key_cb: *const CFDictionaryKeyCallBacks,
    value_cb: *const CFDictionaryValueCallBacks,
) -> CFTypeRef {
    make(
        type_id::DICTIONARY,
        Value::Dictionary(Collection {
            items: Mutex::new(Vec::new()),
            keys: key_callbacks(key_cb),
            values: value_callbacks(value_cb),
            mutable: true,
        }),
        "CFMutableDictionary",
        "CFDictionaryCreateMutable",
    )
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDictionaryCreateMutableCopy(
    _alloc: CFAllocatorRef,
    _capacity: CFIndex,
    d: CFTypeRef,
) -> CFTypeRef {
    let Some(c) = dictionary(d, "CFDictionaryCreateMutableCopy") else {
        return std::ptr::null();
    };
    let pairs = lock(&c.items)
        .iter()
        .map(|(k, v)| (c.keys.retain(*k), c.values.retain(*v)))
        .collect();
    make(
        type_id::DICTIONARY,
        Value::Dictionary(Collection {
            items: Mutex::new(pairs),
            keys: c.keys,
            values: c.values,
            mutable: true,
        }),
        "CFMutableDictionary",
        "CFDictionaryCreateMutableCopy",
    )
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDictionaryGetCount(d: CFTypeRef) -> CFIndex {
    dictionary(d, "CFDictionaryGetCount").map_or(0, |c| lock(&c.items).len() as CFIndex)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFDictionaryGetKeysAndValues(
    d: CFTypeRef,
    keys: *mut *const c_void,
    values: *mut *const c_void,
) {
    let Some(c) = dictionary(d, "CFDictionaryGetKeysAndValues") else {
        return;
    };
    for (i, (k, v)) in lock(&c.items).iter().enumerate() {
        // SAFETY: the caller passes room for every entry (CFDictionaryGetCount).
        unsafe {
            if !keys.is_null() {
                *keys.add(i) = *k;
            }
            if !values.is_null() {
                *values.add(i) = *v;
            }
        }
    }
}

/// The value for `key` under the get rule.
pub fn lookup(d: CFTypeRef, key: *const c_void, by: &'static str) -> Option<*const c_void> {
    let c = dictionary(d, by)?;
    lock(&c.items)
        .iter()
        .find(|(k, _)| c.keys.equal(*k, key))
        .map(|(_, v)| *v)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFDictionaryGetValueIfPresent(
    d: CFTypeRef,
    key: *const c_void,
    value: *mut *const c_void,
) -> Boolean {
    match lookup(d, key, "CFDictionaryGetValueIfPresent") {
        Some(v) => {
            if !value.is_null() {
                // SAFETY: out pointer from the caller.
                unsafe { *value = v };
            }
            1
        }
        None => 0,
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDictionaryGetValue(d: CFTypeRef, key: *const c_void) -> *const c_void {
    lookup(d, key, "CFDictionaryGetValue").unwrap_or(std::ptr::null())
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDictionaryContainsKey(d: CFTypeRef, key: *const c_void) -> Boolean {
    lookup(d, key, "CFDictionaryContainsKey").is_some() as Boolean
}

/// Set, add or replace: `add` keeps an existing value, `replace` needs one (CFDictionary.h).
fn put(
    d: CFTypeRef,
    key: *const c_void,
    value: *const c_void,
    add: bool,
    replace: bool,
    by: &'static str,
) {
    let Some(c) = dictionary(d, by) else {
        return;
    };
    if !c.mutable {
        super::audit::error(format!("{by} on an immutable CFDictionary"));
        return;
    }
    let mut items = lock(&c.items);
    match items.iter_mut().find(|(k, _)| c.keys.equal(*k, key)) {
        Some(slot) if replace => {
            let new = c.values.retain(value);
            let old = std::mem::replace(&mut slot.1, new);
            drop(items);
            c.values.release(old);
        }
        Some(_) => {}
        None if add => items.push((c.keys.retain(key), c.values.retain(value))),
        None => {}
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDictionarySetValue(d: CFTypeRef, key: *const c_void, value: *const c_void) {
    put(d, key, value, true, true, "CFDictionarySetValue")
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDictionaryAddValue(d: CFTypeRef, key: *const c_void, value: *const c_void) {
    put(d, key, value, true, false, "CFDictionaryAddValue")
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDictionaryReplaceValue(d: CFTypeRef, key: *const c_void, value: *const c_void) {
    put(d, key, value, false, true, "CFDictionaryReplaceValue")
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDictionaryRemoveValue(d: CFTypeRef, key: *const c_void) {
    let Some(c) = dictionary(d, "CFDictionaryRemoveValue") else {
        return;
    };
    let mut items = lock(&c.items);
    if let Some(i) = items.iter().position(|(k, _)| c.keys.equal(*k, key)) {
        let (k, v) = items.remove(i);
        drop(items);
        c.keys.release(k);
        c.values.release(v);
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDictionaryRemoveAllValues(d: CFTypeRef) {
    let Some(c) = dictionary(d, "CFDictionaryRemoveAllValues") else {
        return;
    };
    let all = std::mem::take(&mut *lock(&c.items));
    for (k, v) in all {
        c.keys.release(k);
        c.values.release(v);
    }
}
