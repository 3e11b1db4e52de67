//! The scalar CF types: CFString (UTF-8 only), CFNumber, CFBoolean, CFData, CFDate, as `CFString.h`,
//! `CFNumber.h`, `CFData.h`, `CFDate.h` declare them and core-foundation 0.10's wrappers call them.

// The C functions here keep the safety contract of their Apple header (the caller passes valid pointers
// for the counts given); it is not repeated on each.
#![allow(clippy::missing_safety_doc)]
#![allow(non_upper_case_globals, non_snake_case)]

use super::audit;
use super::cf_object::{Exported, Number, Object, Value, get_typed, make, type_id};
use core_foundation_sys::base::{Boolean, CFAllocatorRef, CFIndex, CFRange, CFTypeID, CFTypeRef};
use core_foundation_sys::number::{
    CFNumberType, kCFNumberCFIndexType, kCFNumberCGFloatType, kCFNumberCharType,
    kCFNumberDoubleType, kCFNumberFloat32Type, kCFNumberFloat64Type, kCFNumberFloatType,
    kCFNumberIntType, kCFNumberLongLongType, kCFNumberLongType, kCFNumberNSIntegerType,
    kCFNumberSInt8Type, kCFNumberSInt16Type, kCFNumberSInt32Type, kCFNumberSInt64Type,
    kCFNumberShortType,
};
use core_foundation_sys::string::{CFStringEncoding, kCFStringEncodingUTF8};
use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_void};

const ASCII: CFStringEncoding = 0x0600;

pub static TRUE: Object = Object::constant(type_id::BOOLEAN, Value::Boolean(true));
pub static FALSE: Object = Object::constant(type_id::BOOLEAN, Value::Boolean(false));
pub static RUN_LOOP_DEFAULT_MODE: Object = Object::constant(
    type_id::STRING,
    Value::String(Cow::Borrowed(c"kCFRunLoopDefaultMode")),
);
pub static RUN_LOOP_COMMON_MODES: Object = Object::constant(
    type_id::STRING,
    Value::String(Cow::Borrowed(c"kCFRunLoopCommonModes")),
);

/// Whether `ptr` is one of the constant objects (never counted, never released).
pub fn is_constant(ptr: CFTypeRef) -> bool {
    [
        &TRUE,
        &FALSE,
        &RUN_LOOP_DEFAULT_MODE,
        &RUN_LOOP_COMMON_MODES,
        &super::cf_object::ALLOCATOR,
    ]
    .iter()
    .any(|c| std::ptr::eq(*c as *const Object as *const c_void, ptr))
}

#[unsafe(no_mangle)]
pub static kCFBooleanTrue: Exported = Exported(&TRUE as *const Object as *const c_void);
#[unsafe(no_mangle)]
pub static kCFBooleanFalse: Exported = Exported(&FALSE as *const Object as *const c_void);
#[unsafe(no_mangle)]
pub static kCFRunLoopDefaultMode: Exported =
    Exported(&RUN_LOOP_DEFAULT_MODE as *const Object as *const c_void);
#[unsafe(no_mangle)]
pub static kCFRunLoopCommonModes: Exported =
    Exported(&RUN_LOOP_COMMON_MODES as *const Object as *const c_void);

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

#[unsafe(no_mangle)]
pub extern "C" fn CFNumberGetTypeID() -> CFTypeID {
    type_id::NUMBER
}

fn is_float_type(t: CFNumberType) -> bool {
    [
        kCFNumberFloat32Type,
        kCFNumberFloat64Type,
        kCFNumberFloatType,
        kCFNumberDoubleType,
        kCFNumberCGFloatType,
    ]
    .contains(&t)
}

/// How many bytes a `CFNumberType` reads and writes (LP64).
fn width(t: CFNumberType) -> Option<usize> {
    Some(match t {
        x if x == kCFNumberSInt8Type || x == kCFNumberCharType => 1,
        x if x == kCFNumberSInt16Type || x == kCFNumberShortType => 2,
        x if x == kCFNumberSInt32Type
            || x == kCFNumberIntType
            || x == kCFNumberFloat32Type
            || x == kCFNumberFloatType =>
        {
            4
        }
        x if x == kCFNumberSInt64Type
            || x == kCFNumberLongType
            || x == kCFNumberLongLongType
            || x == kCFNumberCFIndexType
            || x == kCFNumberNSIntegerType
            || x == kCFNumberFloat64Type
            || x == kCFNumberDoubleType
            || x == kCFNumberCGFloatType =>
        {
            8
        }
        _ => return None,
    })
}

/// A CFNumber of `number_type` holding `value` (made by the double for registry properties).
pub fn new_number(number: Number, by: &'static str) -> CFTypeRef {
    make(type_id::NUMBER, Value::Number(number), "CFNumber", by)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFNumberCreate(
    _alloc: CFAllocatorRef,
    number_type: CFNumberType,
    value: *const c_void,
) -> CFTypeRef {
    let Some(w) = width(number_type) else {
        audit::error(format!(
            "CFNumberCreate: unknown CFNumberType {number_type}"
        ));
        return std::ptr::null();
    };
    if value.is_null() {
        return std::ptr::null();
    }
    // SAFETY: the caller passes a value of the type's width.
    let n = unsafe {
        if is_float_type(number_type) {
            let v = if w == 4 {
                *(value as *const f32) as f64
            } else {
                *(value as *const f64)
            };
            Number::Float {
                value: v,
                number_type: number_type as isize,
            }
        } else {
            let v = match w {
                1 => *(value as *const i8) as i64,
                2 => *(value as *const i16) as i64,
                4 => *(value as *const i32) as i64,
                _ => *(value as *const i64),
            };
            Number::Int {
                value: v,
                number_type: number_type as isize,
            }
        }
    };
    new_number(n, "CFNumberCreate")
}

fn number_of(n: CFTypeRef, by: &'static str) -> Option<Number> {
    match &get_typed(n, type_id::NUMBER, by)?.value {
        Value::Number(v) => Some(*v),
        _ => None,
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFNumberGetType(n: CFTypeRef) -> CFNumberType {
    match number_of(n, "CFNumberGetType") {
        Some(Number::Int { number_type, .. } | Number::Float { number_type, .. }) => {
            number_type as CFNumberType
        }
        None => 0,
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFNumberIsFloatType(n: CFTypeRef) -> Boolean {
    matches!(
        number_of(n, "CFNumberIsFloatType"),
        Some(Number::Float { .. })
    ) as Boolean
}

/// `CFNumberGetValue`: converts to the asked type; false when the value did not fit exactly (CFNumber.h).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFNumberGetValue(
    n: CFTypeRef,
    number_type: CFNumberType,
    out: *mut c_void,
) -> Boolean {
    let (Some(v), Some(w)) = (number_of(n, "CFNumberGetValue"), width(number_type)) else {
        return 0;
    };
    if out.is_null() {
        return 0;
    }
    let f = super::cf_object::number_f64(v);
    let i = super::cf_object::number_i64(v);
    // SAFETY: `out` has room for the asked type.
    unsafe {
        if is_float_type(number_type) {
            if w == 4 {
                *(out as *mut f32) = f as f32;
            } else {
                *(out as *mut f64) = f;
            }
            return 1;
        }
        let exact = matches!(v, Number::Int { .. }) || f.fract() == 0.0;
        let fits = match w {
            1 => {
                *(out as *mut i8) = i as i8;
                i8::try_from(i).is_ok()
            }
            2 => {
                *(out as *mut i16) = i as i16;
                i16::try_from(i).is_ok()
            }
            4 => {
                *(out as *mut i32) = i as i32;
                i32::try_from(i).is_ok()
            }
            _ => {
                *(out as *mut i64) = i;
                true
            }
        };
        (exact && fits) as Boolean
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFBooleanGetTypeID() -> CFTypeID {
    type_id::BOOLEAN
}

#[unsafe(no_mangle)]
pub extern "C" fn CFBooleanGetValue(b: CFTypeRef) -> Boolean {
    matches!(
        get_typed(b, type_id::BOOLEAN, "CFBooleanGetValue").map(|o| &o.value),
        Some(Value::Boolean(true))
    ) as Boolean
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDataGetTypeID() -> CFTypeID {
    type_id::DATA
}

pub fn new_data(bytes: Vec<u8>, by: &'static str) -> CFTypeRef {
    make(type_id::DATA, Value::Data(bytes), "CFData", by)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFDataCreate(
    _alloc: CFAllocatorRef,
    bytes: *const u8,
    length: CFIndex,
) -> CFTypeRef {
    let v = if bytes.is_null() || length <= 0 {
        Vec::new()
    } else {
        // SAFETY: the caller passes `length` readable bytes.
        unsafe { std::slice::from_raw_parts(bytes, length as usize) }.to_vec()
    };
    new_data(v, "CFDataCreate")
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFDataCreateWithBytesNoCopy(
    alloc: CFAllocatorRef,
    bytes: *const u8,
    length: CFIndex,
    _dealloc: CFAllocatorRef,
) -> CFTypeRef {
    // SAFETY: same contract as CFDataCreate; the double copies.
    unsafe { CFDataCreate(alloc, bytes, length) }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDataGetLength(d: CFTypeRef) -> CFIndex {
    match get_typed(d, type_id::DATA, "CFDataGetLength").map(|o| &o.value) {
        Some(Value::Data(v)) => v.len() as CFIndex,
        _ => 0,
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDataGetBytePtr(d: CFTypeRef) -> *const u8 {
    match get_typed(d, type_id::DATA, "CFDataGetBytePtr").map(|o| &o.value) {
        Some(Value::Data(v)) => v.as_ptr(),
        _ => std::ptr::null(),
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDateGetTypeID() -> CFTypeID {
    type_id::DATE
}

pub fn new_date(at: f64, by: &'static str) -> CFTypeRef {
    make(type_id::DATE, Value::Date(at), "CFDate", by)
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDateCreate(_alloc: CFAllocatorRef, at: f64) -> CFTypeRef {
    new_date(at, "CFDateCreate")
}

#[unsafe(no_mangle)]
pub extern "C" fn CFDateGetAbsoluteTime(d: CFTypeRef) -> f64 {
    match get_typed(d, type_id::DATE, "CFDateGetAbsoluteTime").map(|o| &o.value) {
        Some(Value::Date(t)) => *t,
        _ => 0.0,
    }
}

/// Seconds since 2001-01-01 (`CFDate.h`).
#[unsafe(no_mangle)]
pub extern "C" fn CFAbsoluteTimeGetCurrent() -> f64 {
    const FROM_1970: f64 = 978_307_200.0;
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() - FROM_1970)
}
