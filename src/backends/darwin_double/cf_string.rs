//! CFString (`CFString.h`), UTF-8 only: what core-foundation 0.10's `CFString` and IOKitLib's class-name
//! reads call.

// The C functions here keep the safety contract of their Apple header (the caller passes valid pointers
// for the counts given); it is not repeated on each.
#![allow(clippy::missing_safety_doc)]
#![allow(non_snake_case)]

use super::audit;
use super::cf_object::{Value, get_typed, make, type_id};
use core_foundation_sys::base::{Boolean, CFAllocatorRef, CFIndex, CFRange, CFTypeID, CFTypeRef};
use core_foundation_sys::string::{CFStringEncoding, kCFStringEncodingUTF8};
use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::os::raw::c_char;

/// `kCFStringEncodingASCII`: a subset of UTF-8, accepted as such.
const ASCII: CFStringEncoding = 0x0600;

/// A new CFString (one reference, the caller's).
pub fn new_string(text: String, by: &'static str) -> CFTypeRef {
    let c = CString::new(text.replace('\0', "")).unwrap_or_default();
    make(
        type_id::STRING,
        Value::String(Cow::Owned(c)),
        "CFString",
        by,
    )
}

/// The text of a CFString under the get rule.
pub fn string_of(ptr: CFTypeRef, by: &'static str) -> Option<&'static str> {
    match &get_typed(ptr, type_id::STRING, by)?.value {
        Value::String(s) => s.to_str().ok(),
        _ => None,
    }
}

fn encoding_ok(encoding: CFStringEncoding, by: &str) -> bool {
    let ok = encoding == kCFStringEncodingUTF8 || encoding == ASCII;
    if !ok {
        audit::error(format!(
            "{by}: the double speaks UTF-8 only, got encoding {encoding:#x}"
        ));
    }
    ok
}

#[unsafe(no_mangle)]
pub extern "C" fn CFStringGetTypeID() -> CFTypeID {
    type_id::STRING
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFStringCreateWithBytes(
    _alloc: CFAllocatorRef,
    bytes: *const u8,
    num_bytes: CFIndex,
    encoding: CFStringEncoding,
    _external: Boolean,
) -> CFTypeRef {
    if !encoding_ok(encoding, "CFStringCreateWithBytes") {
        return std::ptr::null();
    }
    let slice = if bytes.is_null() || num_bytes <= 0 {
        &[][..]
    } else {
        // SAFETY: the caller passes `num_bytes` readable bytes.
        unsafe { std::slice::from_raw_parts(bytes, num_bytes as usize) }
    };
    match std::str::from_utf8(slice) {
        Ok(s) => new_string(s.to_string(), "CFStringCreateWithBytes"),
        Err(_) => std::ptr::null(),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFStringCreateWithBytesNoCopy(
    alloc: CFAllocatorRef,
    bytes: *const u8,
    num_bytes: CFIndex,
    encoding: CFStringEncoding,
    external: Boolean,
    _dealloc: CFAllocatorRef,
) -> CFTypeRef {
    // SAFETY: same contract as CFStringCreateWithBytes; the double copies.
    unsafe { CFStringCreateWithBytes(alloc, bytes, num_bytes, encoding, external) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFStringCreateWithCString(
    _alloc: CFAllocatorRef,
    c_str: *const c_char,
    encoding: CFStringEncoding,
) -> CFTypeRef {
    if c_str.is_null() || !encoding_ok(encoding, "CFStringCreateWithCString") {
        return std::ptr::null();
    }
    // SAFETY: the caller passes a NUL-terminated string.
    let s = unsafe { CStr::from_ptr(c_str) };
    match s.to_str() {
        Ok(t) => new_string(t.to_string(), "CFStringCreateWithCString"),
        Err(_) => std::ptr::null(),
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFStringGetCStringPtr(s: CFTypeRef, encoding: CFStringEncoding) -> *const c_char {
    match get_typed(s, type_id::STRING, "CFStringGetCStringPtr").map(|o| &o.value) {
        Some(Value::String(c)) if encoding == kCFStringEncodingUTF8 => c.as_ptr(),
        _ => std::ptr::null(),
    }
}

/// `CFStringGetCString`: false when the buffer is too small (IOKitLib's `io_name_t` reads rely on it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFStringGetCString(
    s: CFTypeRef,
    buffer: *mut c_char,
    size: CFIndex,
    encoding: CFStringEncoding,
) -> Boolean {
    let Some(text) = string_of(s, "CFStringGetCString") else {
        return 0;
    };
    if !encoding_ok(encoding, "CFStringGetCString")
        || buffer.is_null()
        || size <= text.len() as CFIndex
    {
        return 0;
    }
    // SAFETY: `size` bytes are writable and the text plus NUL fits.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr() as *const c_char, buffer, text.len());
        *buffer.add(text.len()) = 0;
    }
    1
}

/// UTF-16 units, as CFString counts.
#[unsafe(no_mangle)]
pub extern "C" fn CFStringGetLength(s: CFTypeRef) -> CFIndex {
    string_of(s, "CFStringGetLength").map_or(0, |t| t.encode_utf16().count() as CFIndex)
}

/// The UTF-8 bytes of a range of UTF-16 units; returns the units converted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFStringGetBytes(
    s: CFTypeRef,
    range: CFRange,
    encoding: CFStringEncoding,
    _loss_byte: u8,
    _external: Boolean,
    buffer: *mut u8,
    max_len: CFIndex,
    used: *mut CFIndex,
) -> CFIndex {
    let Some(text) = string_of(s, "CFStringGetBytes") else {
        return 0;
    };
    if !encoding_ok(encoding, "CFStringGetBytes") {
        return 0;
    }
    let units: Vec<u16> = text.encode_utf16().collect();
    let start = (range.location.max(0) as usize).min(units.len());
    let end = (start + range.length.max(0) as usize).min(units.len());
    let part = String::from_utf16_lossy(&units[start..end]);
    let bytes = part.as_bytes();
    let n = if buffer.is_null() {
        bytes.len()
    } else {
        bytes.len().min(max_len.max(0) as usize)
    };
    if !buffer.is_null() {
        // SAFETY: `max_len` bytes are writable and n <= max_len.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer, n) };
    }
    if !used.is_null() {
        // SAFETY: out pointer from the caller.
        unsafe { *used = n as CFIndex };
    }
    (end - start) as CFIndex
}

/// `CFStringCompare` without options: byte order (enough for equality, which is what IOKitLib asks).
#[unsafe(no_mangle)]
pub extern "C" fn CFStringCompare(a: CFTypeRef, b: CFTypeRef, _options: usize) -> CFIndex {
    match (
        string_of(a, "CFStringCompare"),
        string_of(b, "CFStringCompare"),
    ) {
        (Some(x), Some(y)) => x.cmp(y) as CFIndex,
        _ => 0,
    }
}
