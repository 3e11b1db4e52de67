//! One node line of the `ioreg -l` text form: `Name@loc  <class C, id 0x.., registered, matched, active,
//! busy 0 (12 ms), retain 20>` (IOKitTools `ioreg.c`, reference §5) into a [`RegNode`] without children or
//! properties. [`super::text_form`] decides what a line is and where it hangs.

use super::tree::{RegNode, known_class_chain};
use std::collections::BTreeMap;

/// `Name@loc  <class C, id 0x.., registered, matched, active, busy 0 (12 ms), retain 20>`.
/// Errors carry the byte offset into `rest`.
pub(super) fn header(rest: &str) -> Result<RegNode, (usize, String)> {
    let Some(lt) = rest.find("  <class ") else {
        return Err((
            0,
            "expected `Name  <class ...>` after `+-o` (two spaces, then the class)".into(),
        ));
    };
    let full_name = &rest[..lt];
    let attrs_at = lt + 3;
    let Some(inner) = rest[attrs_at..].strip_suffix('>') else {
        return Err((
            rest.len(),
            "unterminated `<class ...`: expected `>` at the end of the node line (record with `ioreg -lw0` so lines are not cut)".into(),
        ));
    };
    let (name, location) = match full_name.rsplit_once('@') {
        Some((n, l)) if !n.is_empty() => (n.to_string(), Some(l.to_string())),
        _ => (full_name.to_string(), None),
    };
    let mut class = None;
    let mut id = None;
    let (mut registered, mut active, mut service) = (false, true, false);
    for field in inner.split(", ") {
        if let Some(c) = field.strip_prefix("class ") {
            class = Some(c);
        } else if let Some(hex) = field.strip_prefix("id 0x") {
            id = u64::from_str_radix(hex, 16).ok();
        } else {
            match field {
                "registered" => (registered, service) = (true, true),
                "!registered" => service = true,
                "inactive" => active = false,
                _ => {}
            }
        }
    }
    let Some(class) = class.filter(|c| !c.is_empty()) else {
        return Err((
            attrs_at,
            "expected `class <name>` first inside `<...>`".into(),
        ));
    };
    let Some(id) = id else {
        return Err((attrs_at, "expected `id 0x<hex>` inside `<...>`".into()));
    };
    // With `-i` the class is printed as its inheritance, base first: `IORegistryEntry:IOService:IOUserService`.
    let (class, class_chain) = match class.rsplit_once(':') {
        Some((_, most_derived)) => (
            most_derived.to_string(),
            class.split(':').rev().map(String::from).collect(),
        ),
        None => (class.to_string(), known_class_chain(class)),
    };
    Ok(RegNode {
        id,
        name,
        location,
        class,
        class_chain,
        registered: service && registered && active,
        properties: BTreeMap::new(),
        children: Vec::new(),
    })
}
