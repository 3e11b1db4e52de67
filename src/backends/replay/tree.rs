//! The one tree both dump forms (plist and text) are read into, and its flattening into [`RegEntry`]s with
//! `IOService:/...` paths. Knows nothing of how a dump was spelled.

use crate::lab::{EntryId, Prop, RegEntry};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A parsed registry dump: one root (`ioreg -a -l`, the whole plane) or several (`ioreg -r -c X`, one per
/// match).
#[derive(Clone, Debug, PartialEq)]
pub struct DumpTree {
    /// The file it came from, for messages.
    pub source: PathBuf,
    pub roots: Vec<RegNode>,
    /// `file:line: ...` for each line a pasted text dump had to skip, cut or guess; empty for a plist.
    pub warnings: Vec<String>,
}

/// One registry entry as a dump shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct RegNode {
    /// `IORegistryEntryID`.
    pub id: EntryId,
    /// `IORegistryEntryName`.
    pub name: String,
    /// `IORegistryEntryLocation` (`0` of `IOUSBHostInterface@0`).
    pub location: Option<String>,
    /// `IOObjectClass`.
    pub class: String,
    /// Most derived first. From `IOObjectInheritance` (`ioreg -i`) when the dump has it, else
    /// [`known_class_chain`].
    pub class_chain: Vec<String>,
    /// `IOServiceState` has the registered bit and not the inactive one (text form: `registered` and
    /// `active`). Entries that are not services (the root) have no state and count as not registered.
    pub registered: bool,
    pub properties: BTreeMap<String, Prop>,
    pub children: Vec<RegNode>,
}

/// Superclass chains of the classes this project looks at, most derived first, for dumps taken without
/// `-i` (which carry no `IOObjectInheritance`). From xnu's and IOUSBHostFamily's class declarations, not
/// from a dump: IOUSBHostDevice and IOUSBHostInterface derive from IOService directly; IOUserServer from
/// IOUserClient2022 (xnu 11417 `IOUserServer.h`); legacy IOUSBDevice from IOUSBNub. Any other class gets
/// just itself, so `conforms_to("IOService")` is only true for these or with `-i`. OSObject is left out,
/// as ioreg leaves it out of `IOObjectInheritance`.
pub fn known_class_chain(class: &str) -> Vec<String> {
    const BASE: &[&str] = &["IOService", "IORegistryEntry"];
    let supers: &[&str] = match class {
        "IOUSBHostDevice"
        | "IOUSBHostInterface"
        | "IOUserService"
        | "IOPlatformExpertDevice"
        | "IOUserResources" => BASE,
        "IOUSBDevice" | "IOUSBInterface" => &["IOUSBNub", "IOService", "IORegistryEntry"],
        "IOUserServer" => &[
            "IOUserClient2022",
            "IOUserClient",
            "IOService",
            "IORegistryEntry",
        ],
        "IOUserUserClient" => &["IOUserClient", "IOService", "IORegistryEntry"],
        _ => &[],
    };
    std::iter::once(class)
        .chain(supers.iter().copied())
        .map(String::from)
        .collect()
}

impl RegNode {
    /// `Name@location`, as a path component and as ioreg prints it.
    pub fn display_name(&self) -> String {
        match &self.location {
            Some(l) => format!("{}@{}", self.name, l),
            None => self.name.clone(),
        }
    }

    pub fn entry(&self, parent: Option<EntryId>, path: String) -> RegEntry {
        RegEntry {
            id: self.id,
            name: self.name.clone(),
            location: self.location.clone(),
            class: self.class.clone(),
            class_chain: self.class_chain.clone(),
            parent,
            path,
            registered: self.registered,
            properties: self.properties.clone(),
        }
    }
}

impl DumpTree {
    /// Every node, depth first in registry order, with parent ids and `IOService:/` paths, as
    /// `IORegistryEntryGetPath` makes them: xnu iokit/Kernel/IORegistryEntry.cpp `IORegistryEntry::getPath`
    /// stops below `gRegistryRoot->getChildEntry(plane)`, the IOService plane's root, which is the platform
    /// expert device (`IOService::attach` with no provider makes it `gIOServiceRoot`, IOService.cpp). So
    /// neither the registry root (class `IORegistryEntry`) nor the platform expert device below it appears
    /// in a path: a Mac's USB controller is `IOService:/AppleARMPE/...`, its dext servers
    /// `IOService:/IOUserServer(...)`. A subtree dump (`-r`) does not record the ancestors of its top
    /// entries, so their paths start at the recorded entry.
    pub fn entries(&self) -> Vec<RegEntry> {
        let mut out = Vec::new();
        for root in &self.roots {
            let path = if root.class == "IORegistryEntry" || is_plane_root(root) {
                "IOService:".to_string()
            } else {
                format!("IOService:/{}", root.display_name())
            };
            walk(root, None, &path, &mut out);
        }
        out
    }
}

/// The IOService plane's root: the platform expert device.
fn is_plane_root(node: &RegNode) -> bool {
    node.class_chain
        .iter()
        .any(|c| c == "IOPlatformExpertDevice")
}

fn walk(node: &RegNode, parent: Option<EntryId>, path: &str, out: &mut Vec<RegEntry>) {
    let shown = if path == "IOService:" {
        "IOService:/".to_string()
    } else {
        path.to_string()
    };
    out.push(node.entry(parent, shown));
    for child in &node.children {
        let child_path = if path == "IOService:" && is_plane_root(child) {
            path.to_string()
        } else {
            format!("{path}/{}", child.display_name())
        };
        walk(child, Some(node.id), &child_path, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(
        id: u64,
        name: &str,
        loc: Option<&str>,
        class: &str,
        children: Vec<RegNode>,
    ) -> RegNode {
        RegNode {
            id,
            name: name.into(),
            location: loc.map(String::from),
            class: class.into(),
            class_chain: known_class_chain(class),
            registered: true,
            properties: BTreeMap::new(),
            children,
        }
    }

    #[test]
    fn paths_leave_the_root_out_like_ioregistryentrygetpath() {
        let iface = node(
            3,
            "IOUSBHostInterface",
            Some("0"),
            "IOUSBHostInterface",
            vec![],
        );
        let dev = node(2, "DS620", Some("01120000"), "IOUSBHostDevice", vec![iface]);
        let root = node(1, "Root", None, "IORegistryEntry", vec![dev]);
        let tree = DumpTree {
            source: "x".into(),
            roots: vec![root],
            warnings: Vec::new(),
        };
        let paths: Vec<_> = tree.entries().into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            [
                "IOService:/",
                "IOService:/DS620@01120000",
                "IOService:/DS620@01120000/IOUSBHostInterface@0"
            ]
        );
        assert_eq!(tree.entries()[2].parent, Some(2));
    }

    #[test]
    fn paths_leave_the_platform_expert_device_out_like_ioregistryentrygetpath() {
        let server = node(5, "IOUserServer(x-0x3)", None, "IOUserServer", vec![]);
        let dev = node(3, "DS620", Some("01120000"), "IOUSBHostDevice", vec![]);
        let xhc = node(4, "XHC1", Some("01000000"), "AppleT8103USBXHCI", vec![dev]);
        let pe = node(
            2,
            "J293AP",
            None,
            "IOPlatformExpertDevice",
            vec![xhc, server],
        );
        let root = node(1, "Root", None, "IORegistryEntry", vec![pe.clone()]);
        for roots in [vec![root], vec![pe]] {
            let tree = DumpTree {
                source: "x".into(),
                roots,
                warnings: Vec::new(),
            };
            let paths: Vec<_> = tree.entries().into_iter().map(|e| e.path).collect();
            assert_eq!(
                paths[paths.len() - 4..],
                [
                    "IOService:/",
                    "IOService:/XHC1@01000000",
                    "IOService:/XHC1@01000000/DS620@01120000",
                    "IOService:/IOUserServer(x-0x3)"
                ]
            );
        }
    }

    #[test]
    fn well_known_classes_conform_to_ioservice_without_dash_i() {
        assert!(known_class_chain("IOUSBHostInterface").contains(&"IOService".to_string()));
        assert!(known_class_chain("IOUserServer").contains(&"IOUserClient".to_string()));
        assert_eq!(known_class_chain("AppleFoo"), ["AppleFoo"]);
    }
}
