//! The scalar CF types besides strings (`cf_string`): CFNumber, CFBoolean, CFData, CFDate, as `CFNumber.h`,
//! `CFData.h`, `CFDate.h` declare them and core-foundation 0.10's wrappers call them; and the constant
//! objects (the booleans, the run-loop modes).

// The C functions here keep the safety contract of their Apple header (the caller passes valid pointers
// for the counts given); it is not repeated on each.
#![allow(clippy::missing_safety_doc)]
#![allow(non_upper_case_globals, non_snake_case)]

use super::audit;
use super::cf_object::{Exported, Number, Object, Value, get_typed, make, type_id};
use core_foundation_sys::base::{Boolean, CFAllocatorRef, CFIndex, CFTypeID, CFTypeRef};
use core_foundation_sys::number::{
    CFNumberType, kCFNumberCFIndexType, kCFNumberCGFloatType, kCFNumberCharType,
    kCFNumberDoubleType, kCFNumberFloat32Type, kCFNumberFloat64Type, kCFNumberFloatType,
    kCFNumberIntType, kCFNumberLongLongType, kCFNumberLongType, kCFNumberNSIntegerType,
    kCFNumberSInt8Type, kCFNumberSInt16Type, kCFNumberSInt32Type, kCFNumberSInt64Type,
    kCFNumberShortType,
};
use std::borrow::Cow;
use std::os::raw::c_void;

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
