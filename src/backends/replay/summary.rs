//! `dexthil ioreg <dump> [--json]`: what a triager looks for in a registry dump. Every USB device with its
//! ids, locationID and the port path it encodes, serial, interfaces with their class triple and the dext
//! services matched on them, and the dext servers (`IOUserServer`) present. Keys from reference §5.

use super::dexts::{DextEntry, dext_entries, render_dexts};
use super::tree::{DumpTree, RegNode};
use crate::lab::Prop;
use crate::usb::location;
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DumpSummary {
    pub devices: Vec<DeviceSummary>,
    pub user_servers: Vec<UserServerSummary>,
    /// Every dext-backed entry, USB or not ([`super::dexts`]).
    pub dexts: Vec<DextEntry>,
    /// Lines a pasted text dump had to skip, cut or guess (`file:line: ...`).
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceSummary {
    /// `Name@location` as ioreg prints it.
    pub entry_name: String,
    pub class: String,
    pub registry_id: u64,
    pub vendor_id: Option<u16>,
    pub product_id: Option<u16>,
    pub location_id: Option<u32>,
    pub bus: Option<u8>,
    /// `1.2`, decoded from `locationID`.
    pub port_path: Option<String>,
    pub serial: Option<String>,
    pub product: Option<String>,
    pub interfaces: Vec<InterfaceSummary>,
    /// Dext services matched on the device itself rather than an interface.
    pub services: Vec<DextService>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InterfaceSummary {
    pub entry_name: String,
    pub registry_id: u64,
    pub number: Option<u8>,
    pub class: Option<u8>,
    pub subclass: Option<u8>,
    pub protocol: Option<u8>,
    pub services: Vec<DextService>,
}

/// A service a dext published (it has an `IOUserClass`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DextService {
    pub entry_name: String,
    pub registry_id: u64,
    pub io_class: Option<String>,
    pub user_class: Option<String>,
    pub bundle_id: Option<String>,
    pub registered: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserServerSummary {
    pub entry_name: String,
    pub registry_id: u64,
    pub server_name: Option<String>,
    pub registered: bool,
}

fn conforms(n: &RegNode, class: &str) -> bool {
    n.class == class || n.class_chain.iter().any(|c| c == class)
}

fn int<T: TryFrom<i128>>(n: &RegNode, key: &str) -> Option<T> {
    n.properties
        .get(key)
        .and_then(Prop::as_int)
        .and_then(|v| T::try_from(v).ok())
}

fn string(n: &RegNode, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| n.properties.get(*k).and_then(Prop::as_str))
        .map(String::from)
}

fn all_nodes<'a>(nodes: &'a [RegNode], out: &mut Vec<&'a RegNode>) {
    for n in nodes {
        out.push(n);
        all_nodes(&n.children, out);
    }
}

/// Dext services at or below `nodes` (not descending into another USB device).
fn services(nodes: &[RegNode], out: &mut Vec<DextService>) {
    for n in nodes {
        if is_usb_device(n) {
            continue;
        }
        if n.properties.contains_key("IOUserClass") && !conforms(n, "IOUserServer") {
            out.push(DextService {
                entry_name: n.display_name(),
                registry_id: n.id,
                io_class: string(n, &["IOClass"]),
                user_class: string(n, &["IOUserClass"]),
                bundle_id: string(n, &["CFBundleIdentifier", "IOUserServerName"]),
                registered: n.registered,
            });
        }
        services(&n.children, out);
    }
}

/// `AppleUSBDevice` and `IOUSBDevice` are the names older macOS gave the device entry (IOUSBFamily).
fn is_usb_device(n: &RegNode) -> bool {
    conforms(n, "IOUSBHostDevice") || conforms(n, "IOUSBDevice") || conforms(n, "AppleUSBDevice")
}

fn is_interface(n: &RegNode) -> bool {
    conforms(n, "IOUSBHostInterface")
        || conforms(n, "IOUSBInterface")
        || conforms(n, "AppleUSBInterface")
        || n.properties.contains_key("bInterfaceNumber")
            && !n.properties.contains_key("IOUserClass")
}

/// Every USB device of the dump (`IOUSBHostDevice`, and the legacy `IOUSBDevice`), in registry order.
pub fn summarize(tree: &DumpTree) -> Vec<DeviceSummary> {
    let mut nodes = Vec::new();
    all_nodes(&tree.roots, &mut nodes);
    nodes
        .into_iter()
        .filter(|n| is_usb_device(n))
        .map(device)
        .collect()
}

fn device(n: &RegNode) -> DeviceSummary {
    let location_id: Option<u32> = int(n, "locationID");
    let decoded = location_id.map(location::decode);
    let mut direct = Vec::new();
    let interfaces = n
        .children
        .iter()
        .filter_map(|c| {
            if !is_interface(c) {
                services(std::slice::from_ref(c), &mut direct);
                return None;
            }
            let mut found = Vec::new();
            services(&c.children, &mut found);
            Some(InterfaceSummary {
                entry_name: c.display_name(),
                registry_id: c.id,
                number: int(c, "bInterfaceNumber"),
                class: int(c, "bInterfaceClass"),
                subclass: int(c, "bInterfaceSubClass"),
                protocol: int(c, "bInterfaceProtocol"),
                services: found,
            })
        })
        .collect();
    DeviceSummary {
        entry_name: n.display_name(),
        class: n.class.clone(),
        registry_id: n.id,
        vendor_id: int(n, "idVendor"),
        product_id: int(n, "idProduct"),
        location_id,
        bus: decoded.as_ref().map(|(bus, _)| *bus),
        port_path: decoded.map(|(_, ports)| location::port_path_text(&ports)),
        serial: string(n, &["USB Serial Number", "kUSBSerialNumberString"]),
        product: string(n, &["USB Product Name", "kUSBProductString"]),
        interfaces,
        services: direct,
    }
}

/// Every `IOUserServer` object (a dext's server: reference §5).
pub fn user_servers(tree: &DumpTree) -> Vec<UserServerSummary> {
    let mut nodes = Vec::new();
    all_nodes(&tree.roots, &mut nodes);
    nodes
        .into_iter()
        .filter(|n| conforms(n, "IOUserServer"))
        .map(|n| UserServerSummary {
            entry_name: n.display_name(),
            registry_id: n.id,
            server_name: string(n, &["IOUserServerName"]),
            registered: n.registered,
        })
        .collect()
}

impl DumpSummary {
    pub fn of(tree: &DumpTree) -> Self {
        DumpSummary {
            devices: summarize(tree),
            user_servers: user_servers(tree),
            dexts: dext_entries(tree),
            warnings: tree.warnings.clone(),
        }
    }

    /// `--json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The text `dexthil ioreg` prints.
    pub fn render(&self) -> String {
        render(self)
    }
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "?".into(), T::to_string)
}

fn hex16(v: Option<u16>) -> String {
    v.map_or_else(|| "?".into(), |v| format!("0x{v:04x}"))
}

fn service_line(out: &mut String, indent: &str, s: &DextService) {
    let _ = writeln!(
        out,
        "{indent}dext service {} (id 0x{:X}): IOUserClass {}, IOClass {}, CFBundleIdentifier {}, {}",
        s.entry_name,
        s.registry_id,
        opt(&s.user_class),
        opt(&s.io_class),
        opt(&s.bundle_id),
        if s.registered {
            "registered"
        } else {
            "NOT registered"
        }
    );
}

/// Text for a person: one block per USB device, then the dext servers.
pub fn render(summary: &DumpSummary) -> String {
    let mut out = String::new();
    if summary.devices.is_empty() {
        out.push_str(
            "no USB devices (IOUSBHostDevice, IOUSBDevice, AppleUSBDevice) in this dump\n",
        );
    }
    for d in &summary.devices {
        let _ = writeln!(
            out,
            "{} {} (id 0x{:X})",
            d.class, d.entry_name, d.registry_id
        );
        let _ = writeln!(
            out,
            "  vendor {}  product {}  serial {}  product name {}",
            hex16(d.vendor_id),
            hex16(d.product_id),
            d.serial.as_deref().unwrap_or("(none)"),
            d.product.as_deref().unwrap_or("?"),
        );
        match d.location_id {
            Some(l) => {
                let _ = writeln!(
                    out,
                    "  locationID 0x{l:08x} = bus {} port {}",
                    opt(&d.bus),
                    opt(&d.port_path)
                );
            }
            None => out.push_str("  locationID ? (no locationID property)\n"),
        }
        for s in &d.services {
            service_line(&mut out, "  ", s);
        }
        if d.interfaces.is_empty() {
            out.push_str("  no interfaces in this dump\n");
        }
        for i in &d.interfaces {
            let _ = writeln!(
                out,
                "  interface {} {} class {}/{}/{}",
                opt(&i.number),
                i.entry_name,
                opt(&i.class),
                opt(&i.subclass),
                opt(&i.protocol)
            );
            if i.services.is_empty() {
                out.push_str("    no dext service on this interface\n");
            }
            for s in &i.services {
                service_line(&mut out, "    ", s);
            }
        }
    }
    render_dexts(&mut out, &summary.dexts);
    if summary.user_servers.is_empty() {
        out.push_str("no IOUserServer objects (no dext running) in this dump\n");
    } else {
        out.push_str("IOUserServer objects:\n");
        for s in &summary.user_servers {
            let _ = writeln!(
                out,
                "  {} (id 0x{:X}) IOUserServerName {}{}",
                s.entry_name,
                s.registry_id,
                opt(&s.server_name),
                if s.registered { "" } else { ", NOT registered" }
            );
        }
    }
    out
}
