//! Ownership of IOKit objects and CF values: each is released exactly once, by its wrapper's `Drop`.

use super::sys::{IOIteratorNext, IOObjectRelease, io_iterator_t, io_object_t};
use core_foundation_sys::base::{CFRelease, CFTypeRef};

/// An `io_object_t` this process holds one reference to.
pub struct IoObject(io_object_t);

// SAFETY: an io_object_t is a Mach port name in this task, usable from any thread.
unsafe impl Send for IoObject {}
unsafe impl Sync for IoObject {}

impl IoObject {
    /// Take ownership of a reference the caller got from IOKit (0 = none).
    pub fn owned(raw: io_object_t) -> Option<Self> {
        (raw != 0).then(|| IoObject(raw))
    }
    pub fn raw(&self) -> io_object_t {
        self.0
    }
}

impl Drop for IoObject {
    fn drop(&mut self) {
        // SAFETY: we own exactly one reference.
        unsafe { IOObjectRelease(self.0) };
    }
}

/// An `io_iterator_t`, yielding owned objects.
pub struct IoIter(pub IoObject);

impl IoIter {
    pub fn owned(raw: io_iterator_t) -> Option<Self> {
        IoObject::owned(raw).map(IoIter)
    }
}

impl Iterator for IoIter {
    type Item = IoObject;
    fn next(&mut self) -> Option<IoObject> {
        // SAFETY: the iterator is valid while we own it; each returned object carries one reference.
        IoObject::owned(unsafe { IOIteratorNext(self.0.raw()) })
    }
}

/// A CF object from a Create or Copy function (one reference, released on drop).
pub struct Cf(CFTypeRef);

impl Cf {
    pub fn created(raw: CFTypeRef) -> Option<Self> {
        (!raw.is_null()).then(|| Cf(raw))
    }
    pub fn raw(&self) -> CFTypeRef {
        self.0
    }
    /// Hand the reference to a function that consumes it (`IOServiceGetMatchingServices` and
    /// `IOServiceAddMatchingNotification` consume one reference of the matching dictionary, IOKitLib.h).
    pub fn into_raw(self) -> CFTypeRef {
        let raw = self.0;
        std::mem::forget(self);
        raw
    }
}

impl Drop for Cf {
    fn drop(&mut self) {
        // SAFETY: we own exactly one reference.
        unsafe { CFRelease(self.0) };
    }
}

/// A NUL-terminated C buffer (`io_name_t`, `io_string_t`) as text.
pub fn c_text(buf: &[std::os::raw::c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
