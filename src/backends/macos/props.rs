//! CF values ↔ [`Prop`]. The decisions (number width, floats) are in `backends::iokit`; this file only
//! extracts and builds CF values.

use crate::backends::iokit::{self, CfNumber};
use crate::lab::Prop;
use core_foundation::array::CFArray;
use core_foundation::base::{CFType, TCFType};
use core_foundation::boolean::CFBoolean;
use core_foundation::data::CFData;
use core_foundation::date::CFDate;
use core_foundation::dictionary::CFDictionary;
use core_foundation::number::CFNumber;
use core_foundation::string::CFString;
use core_foundation_sys::array::{
    CFArrayGetCount, CFArrayGetTypeID, CFArrayGetValueAtIndex, CFArrayRef,
};
use core_foundation_sys::base::{CFGetTypeID, CFTypeRef};
use core_foundation_sys::data::{CFDataGetBytePtr, CFDataGetLength, CFDataGetTypeID, CFDataRef};
use core_foundation_sys::date::{CFDateGetAbsoluteTime, CFDateGetTypeID, CFDateRef};
use core_foundation_sys::dictionary::{
    CFDictionaryGetCount, CFDictionaryGetKeysAndValues, CFDictionaryGetTypeID, CFDictionaryRef,
};
use core_foundation_sys::number::{
    CFBooleanGetTypeID, CFBooleanGetValue, CFBooleanRef, CFNumberGetType, CFNumberGetTypeID,
    CFNumberGetValue, CFNumberIsFloatType, CFNumberRef, kCFNumberFloat64Type, kCFNumberSInt32Type,
    kCFNumberSInt64Type,
};
use core_foundation_sys::string::{CFStringGetTypeID, CFStringRef};
use std::collections::BTreeMap;
use std::os::raw::c_void;

/// Registry properties nest a few levels; a deeper tree is cut rather than followed.
const MAX_DEPTH: usize = 32;

pub fn cf_string(raw: CFStringRef) -> String {
    // SAFETY: `raw` is a valid CFString for the duration of the call; get rule retains it.
    unsafe { CFString::wrap_under_get_rule(raw) }.to_string()
}

/// A CF value under the get rule (not owned) as a [`Prop`]; `None` for a type with no `Prop` (kept out).
pub fn to_prop(key: &str, value: CFTypeRef, depth: usize) -> Option<Prop> {
    if value.is_null() || depth > MAX_DEPTH {
        return None;
    }
    // SAFETY: `value` is a valid CF object; each branch casts only after checking its type id.
    unsafe {
        let t = CFGetTypeID(value);
        if t == CFBooleanGetTypeID() {
            Some(Prop::Bool(CFBooleanGetValue(value as CFBooleanRef)))
        } else if t == CFNumberGetTypeID() {
            let n = value as CFNumberRef;
            let read = if CFNumberIsFloatType(n) != 0 {
                let mut f = 0f64;
                CFNumberGetValue(n, kCFNumberFloat64Type, &mut f as *mut f64 as *mut c_void);
                CfNumber::Float(f)
            } else if iokit::is_narrow_int_type(CFNumberGetType(n) as u32) {
                let mut i = 0i32;
                CFNumberGetValue(n, kCFNumberSInt32Type, &mut i as *mut i32 as *mut c_void);
                CfNumber::Int32(i)
            } else {
                let mut i = 0i64;
                CFNumberGetValue(n, kCFNumberSInt64Type, &mut i as *mut i64 as *mut c_void);
                CfNumber::Int(i)
            };
            Some(iokit::number_prop(key, read))
        } else if t == CFStringGetTypeID() {
            Some(Prop::Str(cf_string(value as CFStringRef)))
        } else if t == CFDataGetTypeID() {
            let d = value as CFDataRef;
            let len = CFDataGetLength(d).max(0) as usize;
            let ptr = CFDataGetBytePtr(d);
            let bytes = if ptr.is_null() || len == 0 {
                Vec::new()
            } else {
                std::slice::from_raw_parts(ptr, len).to_vec()
            };
            Some(Prop::Data(bytes))
        } else if t == CFDateGetTypeID() {
            Some(Prop::Date(CFDateGetAbsoluteTime(value as CFDateRef)))
        } else if t == CFArrayGetTypeID() {
            let a = value as CFArrayRef;
            let items = (0..CFArrayGetCount(a))
                .filter_map(|i| to_prop(key, CFArrayGetValueAtIndex(a, i), depth + 1))
                .collect();
            Some(Prop::Array(items))
        } else if t == CFDictionaryGetTypeID() {
            Some(Prop::Dict(dict_to_props(
                value as CFDictionaryRef,
                depth + 1,
            )))
        } else {
            None
        }
    }
}

/// A CF dictionary (get rule) as string-keyed props; entries with non-string keys are left out.
pub fn dict_to_props(dict: CFDictionaryRef, depth: usize) -> BTreeMap<String, Prop> {
    let mut out = BTreeMap::new();
    if dict.is_null() {
        return out;
    }
    // SAFETY: `dict` is a valid CFDictionary; the key and value buffers hold `count` entries.
    unsafe {
        let count = CFDictionaryGetCount(dict).max(0) as usize;
        let mut keys = vec![std::ptr::null(); count];
        let mut values = vec![std::ptr::null(); count];
        CFDictionaryGetKeysAndValues(dict, keys.as_mut_ptr(), values.as_mut_ptr());
        for (k, v) in keys.into_iter().zip(values) {
            if k.is_null() || CFGetTypeID(k) != CFStringGetTypeID() {
                continue;
            }
            let key = cf_string(k as CFStringRef);
            if let Some(p) = to_prop(&key, v, depth) {
                out.insert(key, p);
            }
        }
    }
    out
}

/// A [`Prop`] as a CF value (for `IOPropertyMatch`). Integers that fit no 64-bit CFNumber are refused.
pub fn to_cf(prop: &Prop) -> Result<CFType, String> {
    Ok(match prop {
        Prop::Bool(b) => CFBoolean::from(*b).as_CFType(),
        Prop::Int(v) => CFNumber::from(
            iokit::int_bits(*v).ok_or_else(|| format!("{v} does not fit a 64-bit CFNumber"))?,
        )
        .as_CFType(),
        Prop::Str(s) => CFString::new(s).as_CFType(),
        Prop::Data(d) => CFData::from_buffer(d).as_CFType(),
        Prop::Date(t) => CFDate::new(*t).as_CFType(),
        Prop::Array(items) => {
            let items = items.iter().map(to_cf).collect::<Result<Vec<_>, _>>()?;
            CFArray::from_CFTypes(&items).as_CFType()
        }
        Prop::Dict(map) => dict_to_cf(map)?.as_CFType(),
    })
}

pub fn dict_to_cf(map: &BTreeMap<String, Prop>) -> Result<CFDictionary<CFString, CFType>, String> {
    let pairs = map
        .iter()
        .map(|(k, v)| Ok((CFString::new(k), to_cf(v)?)))
        .collect::<Result<Vec<_>, String>>()?;
    Ok(CFDictionary::from_CFType_pairs(&pairs))
}
