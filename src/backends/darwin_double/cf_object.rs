//! CoreFoundation objects as the double makes them: one heap block per object, a type id, a reference
//! count, a value. Retain / release / type id / equality / hash (`CFBase.h`), the allocators, and the checks
//! every CF function makes on the pointer it is given (live, of the right type), which feed the audit.
//!
//! The constant objects (`kCFBooleanTrue`, `kCFRunLoopDefaultMode`, the allocators) are statics and never
//! counted, as CoreFoundation's own constants are immortal.

// The C functions here keep the safety contract of their Apple header (the caller passes valid pointers
// for the counts given); it is not repeated on each.
#![allow(clippy::missing_safety_doc)]
#![allow(non_upper_case_globals, non_snake_case)]

use super::audit::{self, Handle};
use core_foundation_sys::base::{
    Boolean, CFAllocatorRef, CFHashCode, CFIndex, CFTypeID, CFTypeRef,
};
use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::ffi::CStr;
use std::hash::{Hash, Hasher};
use std::os::raw::c_void;
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, Ordering};

/// Type ids (values of our own; only their distinctness matters).
pub mod type_id {
    use core_foundation_sys::base::CFTypeID;
    pub const ALLOCATOR: CFTypeID = 2;
    pub const STRING: CFTypeID = 7;
    pub const DICTIONARY: CFTypeID = 18;
    pub const ARRAY: CFTypeID = 19;
    pub const DATA: CFTypeID = 20;
    pub const BOOLEAN: CFTypeID = 21;
    pub const NUMBER: CFTypeID = 22;
    pub const DATE: CFTypeID = 42;
    pub const RUN_LOOP: CFTypeID = 43;
    pub const RUN_LOOP_SOURCE: CFTypeID = 46;
}

/// A CFNumber as created: its `CFNumberType` decides what `CFNumberGetType` and `CFNumberIsFloatType` say.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// Any integer type, kept with the `CFNumberType` it was made with.
    Int {
        value: i64,
        number_type: isize,
    },
    Float {
        value: f64,
        number_type: isize,
    },
}

/// Retain / release / equal / hash of a collection's elements: the callbacks passed at creation, or none
/// (the pointers are stored as they are).
#[derive(Clone, Copy)]
pub struct ElementCallbacks {
    pub retain: Option<extern "C" fn(CFAllocatorRef, *const c_void) -> *const c_void>,
    pub release: Option<extern "C" fn(CFAllocatorRef, *const c_void)>,
    pub equal: Option<extern "C" fn(*const c_void, *const c_void) -> Boolean>,
}

impl ElementCallbacks {
    pub const NONE: ElementCallbacks = ElementCallbacks {
        retain: None,
        release: None,
        equal: None,
    };
    pub fn retain(&self, v: *const c_void) -> *const c_void {
        self.retain.map_or(v, |f| f(std::ptr::null(), v))
    }
    pub fn release(&self, v: *const c_void) {
        if let Some(f) = self.release {
            f(std::ptr::null(), v)
        }
    }
    pub fn equal(&self, a: *const c_void, b: *const c_void) -> bool {
        self.equal.map_or(a == b, |f| f(a, b) != 0)
    }
}

pub struct Collection<T> {
    pub items: Mutex<Vec<T>>,
    pub keys: ElementCallbacks,
    pub values: ElementCallbacks,
    pub mutable: bool,
}

pub enum Value {
    Allocator,
    /// UTF-8 with a trailing NUL (what `CFStringGetCStringPtr` hands out).
    String(Cow<'static, CStr>),
    Number(Number),
    Boolean(bool),
    Data(Vec<u8>),
    Date(f64),
    Array(Collection<*const c_void>),
    Dictionary(Collection<(*const c_void, *const c_void)>),
    RunLoop(std::sync::Arc<super::runloop::RunLoopState>),
    RunLoopSource(std::sync::Arc<super::runloop::SourceState>),
}

pub struct Object {
    type_id: CFTypeID,
    /// Negative: a constant, never counted.
    refs: AtomicIsize,
    pub value: Value,
}

// SAFETY: the raw pointers inside are CF references, which CoreFoundation lets any thread use; every
// mutable part is behind a Mutex or an atomic.
unsafe impl Sync for Object {}
unsafe impl Send for Object {}

impl Object {
    pub const fn constant(type_id: CFTypeID, value: Value) -> Object {
        Object {
            type_id,
            refs: AtomicIsize::new(-1),
            value,
        }
    }
    pub fn type_id(&self) -> CFTypeID {
        self.type_id
    }
    fn is_constant(&self) -> bool {
        self.refs.load(Ordering::Relaxed) < 0
    }
}

/// A pointer-sized exported constant (`extern const CFStringRef kCFRunLoopDefaultMode`).
#[repr(transparent)]
pub struct Exported(pub *const c_void);
// SAFETY: points at an immutable static `Object`.
unsafe impl Sync for Exported {}

/// Make an object with one reference, owned by the caller; `kind` and `by` name it in the audit.
pub fn make(type_id: CFTypeID, value: Value, kind: &'static str, by: &'static str) -> CFTypeRef {
    let ptr = Box::into_raw(Box::new(Object {
        type_id,
        refs: AtomicIsize::new(1),
        value,
    })) as CFTypeRef;
    audit::created(Handle::Cf(ptr as usize), kind, by);
    ptr
}

/// The object behind `ptr` if it is live (a constant or an unreleased object); otherwise an ownership
/// error naming `by` and `None`.
pub fn get(ptr: CFTypeRef, by: &'static str) -> Option<&'static Object> {
    if ptr.is_null() {
        audit::error(format!("{by} was passed NULL"));
        return None;
    }
    if super::cf_values::is_constant(ptr)
        || super::runloop::is_run_loop(ptr)
        || audit::check_live(Handle::Cf(ptr as usize), by)
    {
        // SAFETY: a constant, or an object the audit knows as live (its memory is kept past release).
        Some(unsafe { &*(ptr as *const Object) })
    } else {
        None
    }
}

/// [`get`] that also wants `type_id`.
pub fn get_typed(ptr: CFTypeRef, type_id: CFTypeID, by: &'static str) -> Option<&'static Object> {
    let o = get(ptr, by)?;
    if o.type_id == type_id {
        Some(o)
    } else {
        audit::error(format!(
            "{by} was given a CF object of type {} where it takes type {type_id}",
            o.type_id
        ));
        None
    }
}

/// Of the live objects at `live` (addresses), those whose every reference is held by collections among
/// them: parts of a leak, not leaks of their own.
pub fn held_only_by(live: &[usize]) -> std::collections::HashSet<usize> {
    let mut held: std::collections::HashMap<usize, isize> = std::collections::HashMap::new();
    for addr in live {
        // SAFETY: a live object the audit knows (its memory is kept while its record is).
        let o = unsafe { &*(*addr as *const Object) };
        let mut count = |p: *const c_void, cb: &ElementCallbacks| {
            if cb.retain.is_some() {
                *held.entry(p as usize).or_default() += 1;
            }
        };
        match &o.value {
            Value::Array(c) => lock(&c.items).iter().for_each(|v| count(*v, &c.values)),
            Value::Dictionary(c) => lock(&c.items).iter().for_each(|(k, v)| {
                count(*k, &c.keys);
                count(*v, &c.values);
            }),
            _ => {}
        }
    }
    held.into_iter()
        .filter(|(addr, n)| {
            live.contains(addr)
                // SAFETY: as above.
                && unsafe { &*(*addr as *const Object) }.refs.load(Ordering::Acquire) <= *n
        })
        .map(|(addr, _)| addr)
        .collect()
}

fn drop_contents(o: &Object) {
    match &o.value {
        Value::Array(c) => {
            for v in std::mem::take(&mut *c.items.lock().unwrap_or_else(|p| p.into_inner())) {
                c.values.release(v);
            }
        }
        Value::Dictionary(c) => {
            for (k, v) in std::mem::take(&mut *c.items.lock().unwrap_or_else(|p| p.into_inner())) {
                c.keys.release(k);
                c.values.release(v);
            }
        }
        _ => {}
    }
}

fn forget(handle: Handle) {
    if let Handle::Cf(addr) = handle {
        // SAFETY: made by `make` with Box::into_raw; the audit forgets each handle once.
        drop(unsafe { Box::from_raw(addr as *mut Object) });
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFRetain(cf: CFTypeRef) -> CFTypeRef {
    if let Some(o) = get(cf, "CFRetain")
        && !o.is_constant()
    {
        o.refs.fetch_add(1, Ordering::AcqRel);
    }
    cf
}

#[unsafe(no_mangle)]
pub extern "C" fn CFRelease(cf: CFTypeRef) {
    let Some(o) = get(cf, "CFRelease") else {
        return;
    };
    if o.is_constant() {
        return;
    }
    if o.refs.fetch_sub(1, Ordering::AcqRel) == 1
        && audit::released(Handle::Cf(cf as usize), "CFRelease", forget)
    {
        drop_contents(o);
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFGetRetainCount(cf: CFTypeRef) -> CFIndex {
    get(cf, "CFGetRetainCount").map_or(0, |o| o.refs.load(Ordering::Acquire).max(1))
}

#[unsafe(no_mangle)]
pub extern "C" fn CFGetTypeID(cf: CFTypeRef) -> CFTypeID {
    get(cf, "CFGetTypeID").map_or(0, |o| o.type_id)
}

/// `CFEqual`: same type and equal contents (collections element by element, with their callbacks).
#[unsafe(no_mangle)]
pub extern "C" fn CFEqual(a: CFTypeRef, b: CFTypeRef) -> Boolean {
    equal(a, b) as Boolean
}

pub fn equal(a: CFTypeRef, b: CFTypeRef) -> bool {
    if a == b {
        return true;
    }
    let (Some(x), Some(y)) = (get(a, "CFEqual"), get(b, "CFEqual")) else {
        return false;
    };
    if x.type_id != y.type_id {
        return false;
    }
    match (&x.value, &y.value) {
        (Value::String(p), Value::String(q)) => p == q,
        (Value::Number(p), Value::Number(q)) => {
            number_f64(*p) == number_f64(*q) && number_i64(*p) == number_i64(*q)
        }
        (Value::Boolean(p), Value::Boolean(q)) => p == q,
        (Value::Data(p), Value::Data(q)) => p == q,
        (Value::Date(p), Value::Date(q)) => p == q,
        (Value::Array(p), Value::Array(q)) => {
            let (p, q) = (lock(&p.items).clone(), lock(&q.items).clone());
            p.len() == q.len() && p.iter().zip(&q).all(|(u, v)| equal(*u, *v))
        }
        (Value::Dictionary(p), Value::Dictionary(q)) => {
            let (p, q) = (lock(&p.items).clone(), lock(&q.items).clone());
            p.len() == q.len()
                && p.iter()
                    .all(|(k, v)| q.iter().any(|(k2, v2)| equal(*k, *k2) && equal(*v, *v2)))
        }
        _ => false,
    }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn number_i64(n: Number) -> i64 {
    match n {
        Number::Int { value, .. } => value,
        Number::Float { value, .. } => value as i64,
    }
}

pub fn number_f64(n: Number) -> f64 {
    match n {
        Number::Int { value, .. } => value as f64,
        Number::Float { value, .. } => value,
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn CFHash(cf: CFTypeRef) -> CFHashCode {
    let Some(o) = get(cf, "CFHash") else {
        return 0;
    };
    let mut h = DefaultHasher::new();
    o.type_id.hash(&mut h);
    match &o.value {
        Value::String(s) => s.hash(&mut h),
        Value::Number(n) => number_i64(*n).hash(&mut h),
        Value::Boolean(b) => b.hash(&mut h),
        Value::Data(d) => d.hash(&mut h),
        _ => (cf as usize).hash(&mut h),
    }
    h.finish() as CFHashCode
}

/// `CFCopyDescription`: a short text (core-foundation's `Debug` impls print it).
#[unsafe(no_mangle)]
pub extern "C" fn CFCopyDescription(cf: CFTypeRef) -> CFTypeRef {
    let text = match get(cf, "CFCopyDescription").map(|o| &o.value) {
        Some(Value::String(s)) => s.to_string_lossy().into_owned(),
        Some(Value::Number(n)) => format!("{}", number_f64(*n)),
        Some(Value::Boolean(b)) => b.to_string(),
        Some(Value::Data(d)) => format!("<{} bytes>", d.len()),
        Some(_) => format!("<CF object {cf:p}>"),
        None => "<invalid>".into(),
    };
    super::cf_string::new_string(text, "CFCopyDescription")
}

#[unsafe(no_mangle)]
pub extern "C" fn CFShow(cf: CFTypeRef) {
    let d = CFCopyDescription(cf);
    if let Some(Value::String(s)) = get(d, "CFShow").map(|o| &o.value) {
        eprintln!("{}", s.to_string_lossy());
    }
    CFRelease(d);
}

/// The allocators: every one means "the default" here.
pub static ALLOCATOR: Object = Object::constant(type_id::ALLOCATOR, Value::Allocator);
#[unsafe(no_mangle)]
pub static kCFAllocatorDefault: Exported = Exported(&ALLOCATOR as *const Object as *const c_void);
#[unsafe(no_mangle)]
pub static kCFAllocatorSystemDefault: Exported =
    Exported(&ALLOCATOR as *const Object as *const c_void);
#[unsafe(no_mangle)]
pub static kCFAllocatorMalloc: Exported = Exported(&ALLOCATOR as *const Object as *const c_void);
#[unsafe(no_mangle)]
pub static kCFAllocatorNull: Exported = Exported(&ALLOCATOR as *const Object as *const c_void);

#[unsafe(no_mangle)]
pub extern "C" fn CFAllocatorGetTypeID() -> CFTypeID {
    type_id::ALLOCATOR
}
