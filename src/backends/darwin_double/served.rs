//! What the double serves as "the kernel": a lab's registry and user clients (a [`SimLab`] for a scenario
//! by default, or a [`ReplayLab`] over any `ioreg -a -l` plist), and how registry values cross into user
//! space: the class a user sees, the class hierarchy, and properties as `IOCFUnserializeBinary` builds them.
//!
//! [`SimLab`]: crate::backends::sim::SimLab
//! [`ReplayLab`]: crate::backends::replay::ReplayLab

use super::cf_collections::{CF_TYPE, new_array, new_dictionary};
use super::cf_object::{Number, Value, get, lock, number_i64};
use super::cf_string::new_string;
use super::cf_values::{FALSE, TRUE, new_data, new_date, new_number};
use crate::lab::{EntryId, Lab, LabError, Prop, RegEntry};
use core_foundation_sys::base::CFTypeRef;
use core_foundation_sys::number::{kCFNumberSInt32Type, kCFNumberSInt64Type};
use std::collections::BTreeMap;
use std::os::raw::c_void;
use std::sync::{Arc, LazyLock, RwLock};

/// The user-space class name property (IOKitUser `IOKitLib.c`, `kIOClassNameOverrideKey`).
pub const CLASS_NAME_OVERRIDE_KEY: &str = "IOClassNameOverride";

static SERVED: LazyLock<RwLock<Option<Arc<dyn Lab>>>> = LazyLock::new(RwLock::default);

/// Serve `lab` from now on (`None`: an empty kernel, every lookup fails).
pub fn serve(lab: Option<Arc<dyn Lab>>) {
    *SERVED.write().unwrap_or_else(|p| p.into_inner()) = lab;
    SUPERCLASSES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
}

/// The lab being served.
pub fn lab() -> Result<Arc<dyn Lab>, LabError> {
    SERVED
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .ok_or_else(|| LabError::Other("the darwin double serves nothing yet".into()))
}

/// Every registered entry now, in registry order.
pub fn registered() -> Vec<RegEntry> {
    lab()
        .and_then(|l| l.find(&crate::lab::Matching::default()))
        .map(|all| all.into_iter().filter(|e| e.registered).collect())
        .unwrap_or_default()
}

/// One entry now, if the registry still has it.
pub fn live_entry(id: EntryId) -> Option<RegEntry> {
    lab().ok()?.entry(id).ok().filter(|e| e.registered)
}

/// The class user space sees: `IOClassNameOverride` when it is a string, else the real class
/// (IOKitUser `IOKitLib.c`, `_IOObjectGetClass` with options 0).
pub fn user_class(e: &RegEntry) -> &str {
    e.string(CLASS_NAME_OVERRIDE_KEY).unwrap_or(&e.class)
}

/// `IOObjectConformsTo`: the kernel's conformance (the real class chain, `io_object_conforms_to`), and,
/// failing that, the override name (IOKitUser `IOKitLib.c`, `_IOObjectConformsTo`).
pub fn user_conforms(e: &RegEntry, class: &str) -> bool {
    super::matching::kernel_conforms(e, class) || e.string(CLASS_NAME_OVERRIDE_KEY) == Some(class)
}

/// `io_object_get_superclass`: the kernel knows its classes' superclasses; the double knows those of every
/// class on a chain of the served registry (a class it never saw has none, as an unknown name has none).
/// A class hierarchy never changes, so what was learnt is kept until another lab is served; a class not
/// known yet is looked for again (a dext that matches later brings its own).
pub fn superclass_of(class: &str) -> Option<String> {
    let mut known = SUPERCLASSES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = known.get(class) {
        return s.clone();
    }
    for e in lab().ok()?.find(&crate::lab::Matching::default()).ok()? {
        let chain: Vec<&String> = std::iter::once(&e.class)
            .chain(e.class_chain.iter().filter(|c| **c != e.class))
            .collect();
        for (i, c) in chain.iter().enumerate() {
            known
                .entry(c.to_string())
                .or_insert_with(|| chain.get(i + 1).map(|s| s.to_string()));
        }
    }
    known.get(class).cloned().flatten()
}

static SUPERCLASSES: LazyLock<std::sync::Mutex<std::collections::HashMap<String, Option<String>>>> =
    LazyLock::new(Default::default);

/// A registry number as `IOCFUnserializeBinary` (IOKitUser `IOCFSerialize.c`) hands it over: an OSNumber of
/// 32 bits or fewer becomes a signed `kCFNumberSInt32Type` of its low 32 bits, a wider one
/// `kCFNumberSInt64Type`. A [`Prop`] does not say how wide the kernel's OSNumber was; a value that fits 32
/// bits (signed or unsigned) is served as 32-bit, as IOUSBHostFamily's 32-bit keys (`locationID`) are.
pub fn registry_number(v: i128) -> Number {
    if (i32::MIN as i128..=u32::MAX as i128).contains(&v) {
        Number::Int {
            value: v as u32 as i32 as i64,
            number_type: kCFNumberSInt32Type as isize,
        }
    } else {
        Number::Int {
            value: crate::backends::iokit::int_bits(v).unwrap_or(v as i64),
            number_type: kCFNumberSInt64Type as isize,
        }
    }
}

/// A property as a new CF object (one reference, the caller's), its parts owned by their container.
pub fn prop_to_cf(p: &Prop, by: &'static str) -> CFTypeRef {
    match p {
        Prop::Bool(true) => &TRUE as *const _ as CFTypeRef,
        Prop::Bool(false) => &FALSE as *const _ as CFTypeRef,
        Prop::Int(v) => new_number(registry_number(*v), by),
        Prop::Str(s) => new_string(s.clone(), by),
        Prop::Data(d) => new_data(d.clone(), by),
        Prop::Date(t) => new_date(*t, by),
        Prop::Array(items) => new_array(
            items.iter().map(|i| prop_to_cf(i, by)).collect(),
            CF_TYPE,
            by,
        ),
        Prop::Dict(map) => dict_to_cf(map, false, by),
    }
}

/// Properties as a new CF dictionary (one reference, the caller's).
pub fn dict_to_cf(map: &BTreeMap<String, Prop>, mutable: bool, by: &'static str) -> CFTypeRef {
    let pairs = map
        .iter()
        .map(|(k, v)| {
            (
                new_string(k.clone(), by) as *const c_void,
                prop_to_cf(v, by) as *const c_void,
            )
        })
        .collect();
    new_dictionary(pairs, mutable, by)
}

/// A CF value handed to the kernel (a matching dictionary's parts) as a [`Prop`]; `None` for a type the
/// registry cannot hold. Numbers keep their bits (the kernel's OSNumber is unsigned).
pub fn cf_to_prop(v: CFTypeRef, by: &'static str) -> Option<Prop> {
    Some(match &get(v, by)?.value {
        Value::Boolean(b) => Prop::Bool(*b),
        Value::Number(n) => Prop::Int(number_i64(*n) as i128),
        Value::String(s) => Prop::Str(s.to_str().ok()?.to_string()),
        Value::Data(d) => Prop::Data(d.clone()),
        Value::Date(t) => Prop::Date(*t),
        Value::Array(c) => Prop::Array(
            lock(&c.items)
                .iter()
                .filter_map(|i| cf_to_prop(*i, by))
                .collect(),
        ),
        Value::Dictionary(c) => Prop::Dict(
            lock(&c.items)
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        super::cf_string::string_of(*k, by)?.to_string(),
                        cf_to_prop(*v, by)?,
                    ))
                })
                .collect(),
        ),
        _ => return None,
    })
}
