//! The one place the macOS backend takes its IOKit and Mach declarations from: `io_kit_sys` and `mach2` on
//! a Mac; elsewhere (the darwin double, `--features darwin-double`) declarations written here from Apple's
//! headers (`IOKitLib.h`, `IOTypes.h`, `mach/message.h`, `mach/port.h`), whose symbols the double defines.
//!
//! Each function is listed once, in [`apple_fns!`]. Off a Mac the list becomes the `extern "C"` block; on a
//! Mac it becomes a compile-time check that io-kit-sys / mach2 declare the function with exactly the same C
//! signature, so the double's view of the ABI cannot drift from the crate a Mac links (the Apple-target
//! clippy run compiles the check). The scalar types get the same check below.

#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case)]

use core_foundation_sys::base::{CFAllocatorRef, CFTypeRef};
use core_foundation_sys::dictionary::{CFDictionaryRef, CFMutableDictionaryRef};
use core_foundation_sys::runloop::CFRunLoopSourceRef;
use core_foundation_sys::string::CFStringRef;
use std::os::raw::{c_char, c_void};

/// The types as Apple's headers spell them, compiled everywhere so a Mac build can compare them with
/// io-kit-sys and mach2.
pub mod apple_types {
    use std::os::raw::{c_int, c_uint};
    pub type kern_return_t = c_int;
    pub type mach_port_t = c_uint;
    pub type mach_port_name_t = c_uint;
    pub type task_port_t = mach_port_t;
    /// `mach/i386/boolean.h` vs `mach/arm/boolean.h`.
    #[cfg(target_arch = "x86_64")]
    pub type boolean_t = c_uint;
    #[cfg(not(target_arch = "x86_64"))]
    pub type boolean_t = c_int;
    pub type io_object_t = mach_port_t;
    pub type io_iterator_t = io_object_t;
    pub type io_registry_entry_t = io_object_t;
    pub type io_service_t = io_object_t;
    pub type io_connect_t = io_object_t;
    pub type IOOptionBits = c_uint;
    pub type mach_msg_bits_t = c_uint;
    pub type mach_msg_size_t = c_uint;
    pub type mach_msg_id_t = c_int;
    pub type mach_msg_option_t = c_int;
    pub type mach_msg_timeout_t = c_uint;
    pub type mach_msg_return_t = kern_return_t;

    /// `mach/message.h`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct mach_msg_header_t {
        pub msgh_bits: mach_msg_bits_t,
        pub msgh_size: mach_msg_size_t,
        pub msgh_remote_port: mach_port_t,
        pub msgh_local_port: mach_port_t,
        pub msgh_voucher_port: mach_port_name_t,
        pub msgh_id: mach_msg_id_t,
    }

    /// `mach/message.h`.
    pub const MACH_RCV_MSG: mach_msg_option_t = 0x0000_0002;
    pub const MACH_RCV_TIMEOUT: mach_msg_option_t = 0x0000_0100;
    pub const MACH_RCV_TIMED_OUT: mach_msg_return_t = 0x1000_4003;
    pub const MACH_RCV_TOO_LARGE: mach_msg_return_t = 0x1000_4004;
    pub const MACH_RCV_INVALID_NAME: mach_msg_return_t = 0x1000_4002;
    /// `mach/port.h`: the default queue limit of a receive port (`MACH_PORT_QLIMIT_DEFAULT`).
    pub const MACH_PORT_QLIMIT_DEFAULT: u32 = 5;
}

#[cfg(not(target_os = "macos"))]
pub use apple_types::*;
#[cfg(target_os = "macos")]
pub use io_kit_sys::types::{
    IOOptionBits, io_connect_t, io_iterator_t, io_object_t, io_registry_entry_t, io_service_t,
};
#[cfg(target_os = "macos")]
pub use mach2::{
    boolean::boolean_t,
    kern_return::kern_return_t,
    mach_types::task_port_t,
    message::{MACH_RCV_MSG, MACH_RCV_TIMEOUT, mach_msg_header_t},
    port::mach_port_t,
};

// The scalar types and the message header must be the ones a Mac links.
#[cfg(target_os = "macos")]
const _: () = {
    use apple_types as a;
    let _: fn(a::kern_return_t) -> mach2::kern_return::kern_return_t = |x| x;
    let _: fn(a::mach_port_t) -> mach2::port::mach_port_t = |x| x;
    let _: fn(a::boolean_t) -> mach2::boolean::boolean_t = |x| x;
    let _: fn(a::io_object_t) -> io_kit_sys::types::io_object_t = |x| x;
    let _: fn(a::IOOptionBits) -> io_kit_sys::types::IOOptionBits = |x| x;
    let _: fn(a::mach_msg_option_t) -> mach2::message::mach_msg_option_t = |x| x;
    let _: fn(a::mach_msg_timeout_t) -> mach2::message::mach_msg_timeout_t = |x| x;
    assert!(a::MACH_RCV_MSG == mach2::message::MACH_RCV_MSG);
    assert!(a::MACH_RCV_TIMEOUT == mach2::message::MACH_RCV_TIMEOUT);
    assert!(a::MACH_RCV_TIMED_OUT == mach2::message::MACH_RCV_TIMED_OUT);
    assert!(a::MACH_RCV_TOO_LARGE == mach2::message::MACH_RCV_TOO_LARGE);
    assert!(a::MACH_RCV_INVALID_NAME == mach2::message::MACH_RCV_INVALID_NAME);
    assert!(a::MACH_PORT_QLIMIT_DEFAULT == mach2::port::MACH_PORT_QLIMIT_DEFAULT);
    assert!(
        std::mem::size_of::<a::mach_msg_header_t>()
            == std::mem::size_of::<mach2::message::mach_msg_header_t>()
    );
};

/// `IOKitLib.h`: an opaque notification port.
#[cfg(not(target_os = "macos"))]
#[repr(C)]
pub struct IONotificationPort {
    _opaque: [u8; 0],
}
#[cfg(not(target_os = "macos"))]
pub type IONotificationPortRef = *mut IONotificationPort;
#[cfg(not(target_os = "macos"))]
pub type IOServiceMatchingCallback =
    unsafe extern "C" fn(refcon: *mut c_void, iterator: io_iterator_t);
#[cfg(target_os = "macos")]
pub use io_kit_sys::{IONotificationPortRef, IOServiceMatchingCallback};

/// `IOKitKeys.h`.
pub const kIOServicePlane: *const c_char = c"IOService".as_ptr();
pub const kIOFirstMatchNotification: *const c_char = c"IOServiceFirstMatch".as_ptr();
pub const kIOTerminatedNotification: *const c_char = c"IOServiceTerminate".as_ptr();

/// One list of C functions: an extern block off a Mac, a signature check against `$krate` on a Mac.
macro_rules! apple_fns {
    ($( [$($krate:ident)::+] fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) -> $ret:ty ; )*) => {
        #[cfg(not(target_os = "macos"))]
        unsafe extern "C" {
            $( pub fn $name($($arg: $ty),*) -> $ret; )*
        }
        #[cfg(target_os = "macos")]
        pub use io_kit_sys::{
            IOConnectCallAsyncMethod, IOConnectCallMethod, IOIteratorNext, IONotificationPortCreate,
            IONotificationPortDestroy, IONotificationPortGetMachPort, IONotificationPortGetRunLoopSource,
            IOObjectConformsTo, IOObjectCopyClass, IOObjectCopySuperclassForClass, IOObjectGetClass,
            IOObjectRelease, IOObjectRetain, IORegistryEntryCreateCFProperties, IORegistryEntryCreateCFProperty,
            IORegistryEntryGetChildIterator, IORegistryEntryGetLocationInPlane, IORegistryEntryGetName,
            IORegistryEntryGetParentEntry, IORegistryEntryGetPath, IORegistryEntryGetRegistryEntryID,
            IORegistryEntryIDMatching, IORegistryEntryInPlane, IOServiceAddMatchingNotification,
            IOServiceClose, IOServiceGetMatchingServices, IOServiceMatching, IOServiceNameMatching,
            IOServiceOpen,
        };
        #[cfg(target_os = "macos")]
        pub use mach2::message::mach_msg;
        #[cfg(target_os = "macos")]
        const _: () = {
            $( let _: unsafe extern "C" fn($($ty),*) -> $ret = $($krate)::+::$name; )*
        };
    };
}

apple_fns! {
    [io_kit_sys] fn IOServiceMatching(name: *const c_char) -> CFMutableDictionaryRef;
    [io_kit_sys] fn IOServiceNameMatching(name: *const c_char) -> CFMutableDictionaryRef;
    [io_kit_sys] fn IORegistryEntryIDMatching(entryID: u64) -> CFMutableDictionaryRef;
    [io_kit_sys] fn IOServiceGetMatchingServices(
        mainPort: mach_port_t,
        matching: CFDictionaryRef,
        existing: *mut io_iterator_t,
    ) -> kern_return_t;
    [io_kit_sys] fn IOServiceAddMatchingNotification(
        notifyPort: IONotificationPortRef,
        notificationType: *const c_char,
        matching: CFDictionaryRef,
        callback: IOServiceMatchingCallback,
        refCon: *mut c_void,
        notification: *mut io_iterator_t,
    ) -> kern_return_t;
    [io_kit_sys] fn IOIteratorNext(iterator: io_iterator_t) -> io_object_t;
    [io_kit_sys] fn IOObjectRetain(object: io_object_t) -> kern_return_t;
    [io_kit_sys] fn IOObjectRelease(object: io_object_t) -> kern_return_t;
    [io_kit_sys] fn IOObjectGetClass(object: io_object_t, className: *mut c_char) -> kern_return_t;
    [io_kit_sys] fn IOObjectCopyClass(object: io_object_t) -> CFStringRef;
    [io_kit_sys] fn IOObjectCopySuperclassForClass(classname: CFStringRef) -> CFStringRef;
    [io_kit_sys] fn IOObjectConformsTo(object: io_object_t, className: *const c_char) -> boolean_t;
    [io_kit_sys] fn IORegistryEntryGetName(entry: io_registry_entry_t, name: *mut c_char) -> kern_return_t;
    [io_kit_sys] fn IORegistryEntryGetLocationInPlane(
        entry: io_registry_entry_t,
        plane: *const c_char,
        location: *mut c_char,
    ) -> kern_return_t;
    [io_kit_sys] fn IORegistryEntryGetPath(
        entry: io_registry_entry_t,
        plane: *const c_char,
        path: *mut c_char,
    ) -> kern_return_t;
    [io_kit_sys] fn IORegistryEntryGetRegistryEntryID(
        entry: io_registry_entry_t,
        entryID: *mut u64,
    ) -> kern_return_t;
    [io_kit_sys] fn IORegistryEntryCreateCFProperties(
        entry: io_registry_entry_t,
        properties: *mut CFMutableDictionaryRef,
        allocator: CFAllocatorRef,
        options: IOOptionBits,
    ) -> kern_return_t;
    [io_kit_sys] fn IORegistryEntryCreateCFProperty(
        entry: io_registry_entry_t,
        key: CFStringRef,
        allocator: CFAllocatorRef,
        options: IOOptionBits,
    ) -> CFTypeRef;
    [io_kit_sys] fn IORegistryEntryGetChildIterator(
        entry: io_registry_entry_t,
        plane: *const c_char,
        iterator: *mut io_iterator_t,
    ) -> kern_return_t;
    [io_kit_sys] fn IORegistryEntryGetParentEntry(
        entry: io_registry_entry_t,
        plane: *const c_char,
        parent: *mut io_registry_entry_t,
    ) -> kern_return_t;
    [io_kit_sys] fn IORegistryEntryInPlane(entry: io_registry_entry_t, plane: *const c_char) -> boolean_t;
    [io_kit_sys] fn IOServiceOpen(
        service: io_service_t,
        owningTask: task_port_t,
        type_: u32,
        connect: *mut io_connect_t,
    ) -> kern_return_t;
    [io_kit_sys] fn IOServiceClose(connect: io_connect_t) -> kern_return_t;
    [io_kit_sys] fn IOConnectCallMethod(
        connection: mach_port_t,
        selector: u32,
        input: *const u64,
        inputCnt: u32,
        inputStruct: *const c_void,
        inputStructCnt: usize,
        output: *mut u64,
        outputCnt: *mut u32,
        outputStruct: *mut c_void,
        outputStructCnt: *mut usize,
    ) -> kern_return_t;
    [io_kit_sys] fn IOConnectCallAsyncMethod(
        connection: mach_port_t,
        selector: u32,
        wake_port: mach_port_t,
        reference: *mut u64,
        referenceCnt: u32,
        input: *const u64,
        inputCnt: u32,
        inputStruct: *const c_void,
        inputStructCnt: usize,
        output: *mut u64,
        outputCnt: *mut u32,
        outputStruct: *mut c_void,
        outputStructCnt: *mut usize,
    ) -> kern_return_t;
    [io_kit_sys] fn IONotificationPortCreate(mainPort: mach_port_t) -> IONotificationPortRef;
    [io_kit_sys] fn IONotificationPortDestroy(notify: IONotificationPortRef) -> ();
    [io_kit_sys] fn IONotificationPortGetRunLoopSource(notify: IONotificationPortRef) -> CFRunLoopSourceRef;
    [io_kit_sys] fn IONotificationPortGetMachPort(notify: IONotificationPortRef) -> mach_port_t;
    [mach2::message] fn mach_msg(
        msg: *mut mach_msg_header_t,
        option: apple_types::mach_msg_option_t,
        send_size: apple_types::mach_msg_size_t,
        recv_size: apple_types::mach_msg_size_t,
        recv_name: apple_types::mach_port_name_t,
        timeout: apple_types::mach_msg_timeout_t,
        notify: apple_types::mach_port_name_t,
    ) -> apple_types::mach_msg_return_t;
}

/// `mach_task_self()` is a macro over the `mach_task_self_` global (`mach/mach_init.h`); mach2 reads it the
/// same way.
#[cfg(target_os = "macos")]
pub use mach2::traps::mach_task_self;

#[cfg(not(target_os = "macos"))]
unsafe extern "C" {
    static mach_task_self_: mach_port_t;
}

/// `mach_task_self()` (`mach/mach_init.h`): this task's port, from the `mach_task_self_` global.
///
/// # Safety
/// Reads an extern static the platform (or the double) initialises before `main`.
#[cfg(not(target_os = "macos"))]
pub unsafe fn mach_task_self() -> mach_port_t {
    // SAFETY: a plain integer global, never written after start-up.
    unsafe { mach_task_self_ }
}
