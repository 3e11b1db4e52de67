//! The double's own rules, checked through its C functions as a caller would use them: each test is one
//! of Apple's user-space rules (the source is cited where the rule is implemented) or the audit.

use super::cf_dictionary::CFDictionaryGetCount;
use super::cf_object::{CFGetRetainCount, CFRelease, CFRetain};
use super::cf_string::{CFStringCreateWithCString, string_of};
use super::cf_values::{CFNumberGetType, CFNumberGetValue};
use super::connect::{IOConnectCallMethod, IOServiceClose, IOServiceOpen, OUT_OF_LINE};
use super::mach::{TASK_SELF, kernel_send, queue_state};
use super::notify::{
    IONotificationPortCreate, IONotificationPortDestroy, IONotificationPortGetMachPort,
    IOServiceAddMatchingNotification, armed_count, look,
};
use super::objects::{
    IOIteratorNext, IOObjectConformsTo, IOObjectCopyClass, IOObjectGetClass, IOObjectRelease,
};
use super::registry_fns::{
    IORegistryEntryCreateCFProperty, IORegistryEntryIDMatching, IOServiceGetMatchingServices,
    IOServiceMatching, IOServiceNameMatching,
};
use super::testing::{ownership_errors, serve_override_fixture, serve_scenario, session};
use super::{audit, served};
use crate::ioreturn::code;
use core_foundation_sys::base::CFTypeRef;
use core_foundation_sys::number::{kCFNumberSInt32Type, kCFNumberSInt64Type};
use core_foundation_sys::string::kCFStringEncodingUTF8;
use std::ffi::CStr;
use std::os::raw::{c_char, c_void};

const DEVICE_ID: u64 = 4294968000;

fn cstr(s: &CStr) -> *const c_char {
    s.as_ptr()
}

/// Every object a matching hands out (each one reference, the caller's), the iterator released.
fn matching(dict: CFTypeRef) -> Vec<u32> {
    let mut it = 0;
    // SAFETY: a dictionary from the helpers and an out pointer.
    assert_eq!(unsafe { IOServiceGetMatchingServices(0, dict, &mut it) }, 0);
    let mut out = Vec::new();
    loop {
        let o = IOIteratorNext(it);
        if o == 0 {
            break;
        }
        out.push(o);
    }
    assert_eq!(IOObjectRelease(it), 0);
    out
}

fn class_of(o: u32) -> String {
    let mut buf = [0 as c_char; 128];
    assert_eq!(IOObjectGetClass(o, buf.as_mut_ptr()), 0);
    // SAFETY: NUL-terminated by the double.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn user_space_sees_the_override_and_conformance_accepts_both_names() {
    let _s = session();
    serve_override_fixture();
    let found = matching(IOServiceMatching(cstr(c"IOUSBHostDevice")));
    assert_eq!(found.len(), 1, "the kernel matches the real class");
    let dev = found[0];
    assert_eq!(class_of(dev), "IOUSBDevice");
    let copied = IOObjectCopyClass(dev);
    assert_eq!(string_of(copied, "test"), Some("IOUSBDevice"));
    CFRelease(copied);
    // SAFETY: NUL-terminated names.
    unsafe {
        assert_eq!(IOObjectConformsTo(dev, cstr(c"IOUSBHostDevice")), 1);
        assert_eq!(IOObjectConformsTo(dev, cstr(c"IOUSBDevice")), 1);
        assert_eq!(IOObjectConformsTo(dev, cstr(c"IOUSBHostInterface")), 0);
    }
    assert!(
        matching(IOServiceMatching(cstr(c"IOUSBDevice"))).is_empty(),
        "an override is no kernel class"
    );
    assert_eq!(IOObjectRelease(dev), 0);
    assert_eq!(ownership_errors(), Vec::<String>::new());
}

fn number_property(o: u32, key: &CStr) -> (u32, i64) {
    // SAFETY: a C string and the string encoding CF uses.
    let k =
        unsafe { CFStringCreateWithCString(std::ptr::null(), key.as_ptr(), kCFStringEncodingUTF8) };
    let n = IORegistryEntryCreateCFProperty(o, k, std::ptr::null(), 0);
    CFRelease(k);
    let mut v = 0i64;
    // SAFETY: room for an SInt64.
    unsafe { CFNumberGetValue(n, kCFNumberSInt64Type, &mut v as *mut i64 as *mut c_void) };
    let t = CFNumberGetType(n);
    CFRelease(n);
    (t, v)
}

#[test]
fn numbers_cross_as_iocfunserializebinary_makes_them() {
    let _s = session();
    serve_override_fixture();
    let dev = matching(IORegistryEntryIDMatching(DEVICE_ID))[0];
    assert_eq!(
        number_property(dev, c"locationID"),
        (kCFNumberSInt32Type, 0x8010_0000u32 as i32 as i64),
        "32 bits: a signed SInt32 of the low bits"
    );
    assert_eq!(
        number_property(dev, c"sessionID"),
        (kCFNumberSInt64Type, 9223372036854775813u64 as i64),
        "wider: SInt64 with the same bits"
    );
    assert_eq!(
        number_property(dev, c"idVendor"),
        (kCFNumberSInt32Type, 0x1452)
    );
    assert_eq!(IOObjectRelease(dev), 0);
    assert_eq!(ownership_errors(), Vec::<String>::new());
}

#[test]
fn a_matching_dictionary_is_consumed_so_using_it_afterwards_is_an_ownership_error() {
    let _s = session();
    serve_override_fixture();
    let dict = IOServiceNameMatching(cstr(c"DS620"));
    let found = matching(dict);
    assert_eq!(found.len(), 1);
    found
        .into_iter()
        .for_each(|o| assert_eq!(IOObjectRelease(o), 0));
    assert_eq!(ownership_errors(), Vec::<String>::new());
    // The call took the caller's only reference: the dictionary is gone.
    assert_eq!(CFDictionaryGetCount(dict), 0);
    let errors = ownership_errors();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0]
            .contains("CFDictionaryGetCount used a CFMutableDictionary after its last release")
            && errors[0].contains("IOServiceNameMatching"),
        "{}",
        errors[0]
    );
}

#[test]
fn the_audit_names_where_a_leaked_or_twice_released_object_was_made() {
    let _s = session();
    audit::force_backtraces();
    serve_override_fixture();
    let leaked = matching(IORegistryEntryIDMatching(DEVICE_ID));
    let errors = ownership_errors();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("io_registry_entry_t was never released")
            && errors[0].contains("IOIteratorNext")
            && errors[0].contains("darwin_double::tests::matching"),
        "the leak names its creation site: {}",
        errors[0]
    );
    assert_eq!(IOObjectRelease(leaked[0]), 0);
    assert_eq!(
        IOObjectRelease(leaked[0]),
        code::kIOReturnBadArgument as i32
    );
    let errors = ownership_errors();
    assert!(
        errors.len() == 1
            && errors[0]
                .contains("IOObjectRelease used a io_registry_entry_t after its last release"),
        "{errors:#?}"
    );
    // A retained CF object needs two releases; the second is not a double release.
    let s = IOServiceMatching(cstr(c"IOService"));
    CFRetain(s);
    assert_eq!(CFGetRetainCount(s), 2);
    CFRelease(s);
    CFRelease(s);
    CFRelease(s);
    let errors = ownership_errors();
    assert!(
        errors.len() == 1
            && errors[0].contains("CFRelease used a CFMutableDictionary after its last release"),
        "{errors:#?}"
    );
}

#[test]
fn a_notification_sends_only_once_its_iterator_is_drained() {
    let _s = session();
    let sim = serve_scenario("scenarios/smoke/replug-ds620.yaml");
    let port = IONotificationPortCreate(0);
    let mach_port = IONotificationPortGetMachPort(port);
    let mut it = 0;
    extern "C" fn ignore(_refcon: *mut c_void, _it: u32) {}
    // SAFETY: a live port, a dictionary the call consumes, a NUL-terminated type.
    let kr = unsafe {
        IOServiceAddMatchingNotification(
            port,
            cstr(c"IOServiceTerminate"),
            IOServiceMatching(cstr(c"IOUSBHostDevice")),
            ignore,
            std::ptr::null_mut(),
            &mut it,
        )
    };
    assert_eq!(kr, 0);
    let printer = crate::lab::UsbBus::devices(&*sim).unwrap()[0].clone();
    // Not drained yet: a termination is added to the iterator but no message is sent.
    crate::lab::UsbBus::replug(&*sim, &printer).unwrap();
    assert!(eventually(|| {
        look();
        pending_of(it) > 0
    }));
    assert_eq!(
        queue_state(mach_port),
        Some((0, 0)),
        "unarmed: nothing sent"
    );
    assert_eq!(armed_count(), 0);
    // Draining hands out what was queued and arms the notification.
    let mut drained = 0;
    loop {
        let o = IOIteratorNext(it);
        if o == 0 {
            break;
        }
        drained += 1;
        IOObjectRelease(o);
    }
    assert!(drained >= 1, "the termination waited on the iterator");
    assert_eq!(armed_count(), 1);
    assert_eq!(IOObjectRelease(it), 0);
    IONotificationPortDestroy(port);
    assert_eq!(ownership_errors(), Vec::<String>::new());
}

fn pending_of(it: u32) -> usize {
    super::objects::with(it, "test", |k| match k {
        super::objects::Kind::Iterator { pending, .. } => pending.len(),
        _ => 0,
    })
    .unwrap_or(0)
}

fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    cond()
}

#[test]
fn a_receive_port_holds_five_messages_and_the_kernel_drops_the_sixth() {
    let _s = session();
    let port = IONotificationPortCreate(0);
    let name = IONotificationPortGetMachPort(port);
    for i in 0..5 {
        assert!(kernel_send(name, vec![i; 32]));
    }
    assert!(!kernel_send(name, vec![9; 32]));
    assert_eq!(queue_state(name), Some((5, 1)));
    IONotificationPortDestroy(port);
    assert_eq!(ownership_errors(), Vec::<String>::new());
}

#[test]
fn calls_keep_the_mig_limits_and_close_releases_the_connection() {
    let _s = session();
    let _sim = serve_scenario("scenarios/sample/scalar.yaml");
    let service = matching(IOServiceNameMatching(cstr(c"NullDriver")))[0];
    let mut connect = 0;
    // SAFETY: a live service and an out pointer.
    assert_eq!(
        unsafe { IOServiceOpen(service, TASK_SELF, 0, &mut connect) },
        0
    );
    assert_eq!(IOObjectRelease(service), 0);
    let input = [1u64; 17];
    let mut out = [0u64; 17];
    let call = |n_in: u32, out_cap: u32, out: &mut [u64; 17]| {
        let mut count = out_cap;
        // SAFETY: every buffer is as long as the count passed with it.
        let kr = unsafe {
            IOConnectCallMethod(
                connect,
                0,
                input.as_ptr(),
                n_in,
                std::ptr::null(),
                0,
                out.as_mut_ptr(),
                &mut count,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        (kr as u32, count)
    };
    assert_eq!(
        call(17, 16, &mut out).0,
        code::MIG_ARRAY_TOO_LARGE,
        "17 scalars never leave the process"
    );
    // Room for 17 outputs is clamped to 16 by the stub, so a "16 out" selector accepts it.
    assert_eq!(call(16, 17, &mut out), (0, 16));
    assert_eq!(out[..16], [2u64; 16]);
    let before = OUT_OF_LINE.load(std::sync::atomic::Ordering::Relaxed);
    let big = vec![0u8; 4097];
    let mut got = 0usize;
    // SAFETY: as above.
    let _ = unsafe {
        IOConnectCallMethod(
            connect,
            1,
            std::ptr::null(),
            0,
            big.as_ptr() as *const c_void,
            big.len(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut got,
        )
    };
    assert_eq!(
        OUT_OF_LINE.load(std::sync::atomic::Ordering::Relaxed),
        before + 1,
        "4097 bytes go out of line"
    );
    assert_eq!(IOServiceClose(connect), 0);
    assert_eq!(ownership_errors(), Vec::<String>::new());
    assert_eq!(
        IOServiceClose(connect),
        code::kIOReturnBadArgument as i32,
        "the connection was released"
    );
    assert_eq!(ownership_errors().len(), 1);
}

#[test]
fn every_recorded_dump_is_served_through_the_backend_without_ownership_errors() {
    let _s = session();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ioreg");
    let mut served_any = 0;
    let mut dumps: Vec<std::path::PathBuf> = [
        "ds620.plist",
        "ds620-binary.plist",
        "cx-02.plist",
        "ds-rx1.plist",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    // A dump a user recorded on their own Mac goes through the same check.
    dumps.extend(std::env::var_os(super::IOREG_ENV).map(std::path::PathBuf::from));
    for path in dumps {
        let f = path.display();
        let lab = super::ioreg_lab(&path).unwrap();
        served::serve(Some(lab.clone()));
        let want: Vec<String> = lab
            .find(&crate::lab::Matching::default())
            .unwrap()
            .into_iter()
            .filter(|e| e.registered)
            .map(|e| e.name)
            .collect();
        let got: Vec<String> = crate::lab::Registry::find(
            &crate::backends::macos::IoRegistry,
            &crate::lab::Matching::default(),
        )
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
        assert_eq!(got, want, "{f}");
        served_any += got.len();
        assert_eq!(ownership_errors(), Vec::<String>::new(), "{f}");
    }
    assert!(served_any > 10);
}

#[test]
fn a_leak_in_a_scenario_is_reported_by_the_run_with_the_scenario_it_happened_in() {
    let _s = session();
    let scenarios =
        crate::scenario::load_corpus(&[
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sample/scalar.yaml")
        ])
        .unwrap();
    let factory = super::factory().unwrap();
    let lab = factory
        .lab_for(&crate::backends::LabSpec::of(&scenarios[0]))
        .unwrap();
    // What a backend bug would do: a matching dictionary made and never handed on or released.
    let leaked = IOServiceMatching(cstr(c"IOService"));
    drop(lab);
    // SAFETY: the factory is the double's, as `super::factory` makes it.
    let double = unsafe {
        &*(&*factory as *const dyn crate::backends::LabFactory as *const super::DoubleFactory)
    };
    let errors = double.take_ownership_errors();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0]
            .starts_with("in scenario sample-scalar: a CFMutableDictionary was never released")
            && errors[0].contains("IOServiceMatching"),
        "{}",
        errors[0]
    );
    CFRelease(leaked);
    // Nothing left: dropping the factory ends the run without failing it.
    drop(factory);
    assert_eq!(ownership_errors(), Vec::<String>::new());
}
