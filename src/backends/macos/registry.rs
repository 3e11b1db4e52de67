//! The IORegistry through IOKit: matching dictionaries, reading one entry, children, and waits fed by
//! first-match and terminated notifications (`watch`).

use super::object::{Cf, IoIter, IoObject, c_text};
use super::props::{cf_string, dict_to_cf, dict_to_props};
use super::sys::*;
use super::watch::Watch;
use crate::backends::iokit::{self, MatchBase, RawEntry};
use crate::lab::{EntryId, LabError, Matching, RegEntry, Registry, WaitError, WaitFor};
use core_foundation::base::TCFType;
use core_foundation::dictionary::CFMutableDictionary;
use core_foundation::string::CFString;
use core_foundation_sys::base::{CFTypeRef, kCFAllocatorDefault};
use core_foundation_sys::dictionary::{CFDictionaryRef, CFMutableDictionaryRef};
use std::ffi::CString;
use std::os::raw::c_char;
use std::time::{Duration, Instant};

/// `MACH_PORT_NULL` as the main port: IOKitLib then uses the default (reference §7).
const MAIN_PORT: u32 = 0;

fn lab_err(what: &str, kr: i32) -> LabError {
    LabError::Other(format!(
        "{what} failed: {}",
        crate::ioreturn::ReturnCode(kr as u32)
    ))
}

/// A matching dictionary for `m` (owned; the IOKit call it is passed to consumes it).
pub fn matching_dict(m: &Matching) -> Result<Cf, LabError> {
    let plan = iokit::match_plan(m);
    let c = |s: &str| CString::new(s).map_err(|_| LabError::Other(format!("`{s}` contains NUL")));
    // SAFETY: each helper returns a new dictionary (create rule) or NULL.
    let raw: CFMutableDictionaryRef = unsafe {
        match &plan.base {
            MatchBase::Id(id) => IORegistryEntryIDMatching(*id),
            MatchBase::Class(class) => IOServiceMatching(c(class)?.as_ptr()),
            MatchBase::Name(name) => IOServiceNameMatching(c(name)?.as_ptr()),
        }
    };
    if raw.is_null() {
        return Err(LabError::Other(
            "IOKit could not create a matching dictionary".into(),
        ));
    }
    // SAFETY: `raw` is a new mutable dictionary we own; the wrapper takes that reference.
    let mut dict: CFMutableDictionary<CFString, core_foundation::base::CFType> =
        unsafe { CFMutableDictionary::wrap_under_create_rule(raw) };
    if let Some(name) = &plan.name {
        dict.set(
            CFString::new(iokit::NAME_MATCH_KEY),
            CFString::new(name).as_CFType(),
        );
    }
    if !plan.properties.is_empty() {
        let props = dict_to_cf(&plan.properties).map_err(LabError::Other)?;
        dict.set(CFString::new(iokit::PROPERTY_MATCH_KEY), props.as_CFType());
    }
    if let Some(parent) = plan.parent {
        let by_id = dict_to_cf(
            &[(
                iokit::REGISTRY_ENTRY_ID_KEY.to_string(),
                crate::lab::Prop::Int(parent as i128),
            )]
            .into(),
        )
        .map_err(LabError::Other)?;
        dict.set(CFString::new(iokit::PARENT_MATCH_KEY), by_id.as_CFType());
    }
    // SAFETY: retain once so the Cf owns a reference after the wrapper drops its own.
    Cf::created(unsafe { core_foundation_sys::base::CFRetain(dict.as_CFTypeRef()) })
        .ok_or_else(|| LabError::Other("matching dictionary vanished".into()))
}

/// Every registered service matching `m`, as owned objects.
pub fn matching_objects(m: &Matching) -> Result<Vec<IoObject>, LabError> {
    let dict = matching_dict(m)?;
    let mut iter: io_iterator_t = 0;
    // SAFETY: the dictionary reference is consumed by the call, whatever it returns.
    let kr = unsafe {
        IOServiceGetMatchingServices(MAIN_PORT, dict.into_raw() as CFDictionaryRef, &mut iter)
    };
    if kr != 0 {
        return Err(lab_err("IOServiceGetMatchingServices", kr));
    }
    Ok(IoIter::owned(iter).map(|i| i.collect()).unwrap_or_default())
}

pub fn object_for(id: EntryId) -> Option<IoObject> {
    let m = Matching {
        id: Some(id),
        ..Matching::default()
    };
    matching_objects(&m).ok()?.into_iter().next()
}

/// What `IOObjectGetClass` itself answers for an entry: the user-space name, `IOClassNameOverride` when the
/// entry has one (IOKitUser `IOKitLib.c`, `_IOObjectGetClass`). [`read_entry`] keeps the kernel class
/// instead; `selftest` asks this to check what a Mac really answers.
pub fn object_get_class(id: EntryId) -> Option<String> {
    let obj = object_for(id)?;
    let mut class = [0 as c_char; 128]; // io_name_t
    // SAFETY: valid object; the buffer is an io_name_t.
    (unsafe { IOObjectGetClass(obj.raw(), class.as_mut_ptr()) } == 0).then(|| c_text(&class))
}

fn entry_id(obj: &IoObject) -> Option<EntryId> {
    let mut id = 0u64;
    // SAFETY: valid object, out pointer to a u64.
    (unsafe { IORegistryEntryGetRegistryEntryID(obj.raw(), &mut id) } == 0).then_some(id)
}

fn superclass(name: &str) -> Option<String> {
    let class = CFString::new(name);
    // SAFETY: returns a new CFString (copy rule) or NULL at the root.
    let sup = Cf::created(
        unsafe { IOObjectCopySuperclassForClass(class.as_concrete_TypeRef()) } as CFTypeRef,
    )?;
    Some(cf_string(sup.raw() as _))
}

/// Read one entry. A property or name that cannot be read is left empty rather than failing the entry.
pub fn read_entry(obj: &IoObject) -> Result<RegEntry, LabError> {
    let id = entry_id(obj).ok_or(LabError::Other("an entry without a registry id".into()))?;
    let mut name = [0 as c_char; 128]; // io_name_t
    let mut location = [0 as c_char; 128];
    let mut class = [0 as c_char; 128];
    let mut path = [0 as c_char; 512]; // io_string_t
    let mut props: CFMutableDictionaryRef = std::ptr::null_mut();
    let mut parent: u32 = 0;
    // SAFETY: buffers have the sizes IOKit's io_name_t / io_string_t require; out pointers are valid.
    let (has_location, has_path, copied_class, in_plane, props_kr) = unsafe {
        IORegistryEntryGetName(obj.raw(), name.as_mut_ptr());
        IOObjectGetClass(obj.raw(), class.as_mut_ptr());
        let has_location =
            IORegistryEntryGetLocationInPlane(obj.raw(), kIOServicePlane, location.as_mut_ptr())
                == 0;
        let has_path = IORegistryEntryGetPath(obj.raw(), kIOServicePlane, path.as_mut_ptr()) == 0;
        IORegistryEntryGetParentEntry(obj.raw(), kIOServicePlane, &mut parent);
        let copied_class = Cf::created(IOObjectCopyClass(obj.raw()) as CFTypeRef);
        let in_plane = IORegistryEntryInPlane(obj.raw(), kIOServicePlane) != 0;
        let kr = IORegistryEntryCreateCFProperties(obj.raw(), &mut props, kCFAllocatorDefault, 0);
        (has_location, has_path, copied_class, in_plane, kr)
    };
    let props = Cf::created(props as CFTypeRef);
    let properties = match (&props, props_kr) {
        (Some(p), 0) => dict_to_props(p.raw() as CFDictionaryRef, 0),
        _ => Default::default(),
    };
    let parent = IoObject::owned(parent).and_then(|p| entry_id(&p));
    // GetClass and CopyClass both answer the user-space override (issue 19, defect 1): take the kernel
    // class, or the class-chain filter drops every USB device.
    let override_name = properties
        .get(iokit::CLASS_NAME_OVERRIDE_KEY)
        .and_then(crate::lab::Prop::as_str);
    let conforms = |c: &str| {
        CString::new(c).is_ok_and(|c| {
            // SAFETY: valid object and NUL-terminated class name.
            unsafe { IOObjectConformsTo(obj.raw(), c.as_ptr()) != 0 }
        })
    };
    let class = iokit::real_class(&c_text(&class), override_name, conforms);
    let copied = copied_class.map(|c| cf_string(c.raw() as _));
    let first = iokit::real_class(copied.as_deref().unwrap_or(&class), override_name, conforms);
    Ok(iokit::reg_entry(RawEntry {
        id,
        name: c_text(&name),
        location: has_location.then(|| c_text(&location)),
        class_chain: iokit::class_chain(&first, superclass),
        class,
        parent,
        path: if has_path {
            c_text(&path)
        } else {
            String::new()
        },
        in_service_plane: in_plane,
        properties,
    }))
}

/// The IORegistry of this Mac.
#[derive(Default)]
pub struct IoRegistry;

impl Registry for IoRegistry {
    fn find(&self, matching: &Matching) -> Result<Vec<RegEntry>, LabError> {
        let entries = matching_objects(matching)?
            .iter()
            .filter_map(|o| read_entry(o).ok())
            .filter(|e| matching.matches(e))
            .collect();
        Ok(entries)
    }

    fn entry(&self, id: EntryId) -> Result<RegEntry, LabError> {
        let obj = object_for(id).ok_or(LabError::NoEntry(id))?;
        read_entry(&obj)
    }

    fn children(&self, id: EntryId) -> Result<Vec<RegEntry>, LabError> {
        let obj = object_for(id).ok_or(LabError::NoEntry(id))?;
        let mut iter: io_iterator_t = 0;
        // SAFETY: valid object and plane name; the iterator is owned on success.
        let kr = unsafe { IORegistryEntryGetChildIterator(obj.raw(), kIOServicePlane, &mut iter) };
        if kr != 0 {
            return Err(lab_err("IORegistryEntryGetChildIterator", kr));
        }
        Ok(IoIter::owned(iter)
            .map(|it| it.filter_map(|c| read_entry(&c).ok()).collect())
            .unwrap_or_default())
    }

    fn wait(
        &self,
        matching: &Matching,
        what: WaitFor,
        deadline: Instant,
    ) -> Result<Option<RegEntry>, WaitError> {
        let started = Instant::now();
        // Armed before the first look, so nothing that happens between the look and the sleep is missed.
        let watch = Watch::arm(matching.clone())?;
        loop {
            let seen = watch.changes().current();
            let now = self.find(matching)?;
            match what {
                WaitFor::Matched if !now.is_empty() => return Ok(now.into_iter().next()),
                WaitFor::Gone if now.is_empty() => return Ok(None),
                _ => {}
            }
            let t = Instant::now();
            if t >= deadline {
                return Err(WaitError::TimedOut(t - started));
            }
            // A terminated entry can still match for a moment after its notification: look again each
            // second as well.
            watch
                .changes()
                .wait_past(seen, deadline.min(t + Duration::from_secs(1)));
        }
    }
}
