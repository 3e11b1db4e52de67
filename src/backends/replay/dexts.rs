//! Every dext-backed entry of a dump, whatever its family (USB, serial, network, HID, PCI): an entry whose
//! properties carry `IOUserClass` or `IOUserServerName` (reference §5: the keys a dext's personality puts on
//! the service the kernel creates for it), other than the `IOUserServer` itself. Each is listed with its
//! class, bundle id, provider, `UserClientProperties` when present, and the `IOUserServer` of the same
//! bundle when the dump has one. A dump whose root is a dext service (`ioreg -a -r -n X` of one service)
//! lists that root.

use super::tree::{DumpTree, RegNode};
use crate::lab::Prop;
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DextEntry {
    /// `Name@location`.
    pub entry_name: String,
    /// `IOService:/...` as far as the dump shows it.
    pub path: String,
    pub registry_id: u64,
    /// `IOObjectClass` (`IOUserService`, `IOUserSerial`, `IOUserNetworkEthernet`, ...).
    pub class: String,
    pub user_class: Option<String>,
    /// `CFBundleIdentifier`, else `IOUserServerName`, else `IOPersonalityPublisher`.
    pub bundle_id: Option<String>,
    /// The class of the entry it hangs under (its provider), when the dump has it.
    pub provider_class: Option<String>,
    pub registered: bool,
    pub user_client_properties: Option<Prop>,
    /// `Name@location` of the `IOUserServer` whose `IOUserServerName` is this bundle id.
    pub user_server: Option<String>,
}

fn string(n: &RegNode, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| n.properties.get(*k).and_then(Prop::as_str))
        .map(String::from)
}

fn is_user_server(n: &RegNode) -> bool {
    n.class == "IOUserServer" || n.class_chain.iter().any(|c| c == "IOUserServer")
}

fn is_dext_backed(n: &RegNode) -> bool {
    !is_user_server(n)
        && (n.properties.contains_key("IOUserClass")
            || n.properties.contains_key("IOUserServerName"))
}

/// Every dext-backed entry, in registry order.
pub fn dext_entries(tree: &DumpTree) -> Vec<DextEntry> {
    let mut servers = Vec::new();
    let mut out = Vec::new();
    // Iterative: a pasted dump's depth is whatever the paste says.
    let mut todo: Vec<(&RegNode, Option<&RegNode>, String)> = tree
        .roots
        .iter()
        .rev()
        .map(|r| (r, None, format!("IOService:/{}", r.display_name())))
        .collect();
    while let Some((n, parent, path)) = todo.pop() {
        if is_user_server(n) {
            servers.push((string(n, &["IOUserServerName"]), n.display_name()));
        }
        if is_dext_backed(n) {
            out.push(DextEntry {
                entry_name: n.display_name(),
                path: path.clone(),
                registry_id: n.id,
                class: n.class.clone(),
                user_class: string(n, &["IOUserClass"]),
                bundle_id: string(
                    n,
                    &[
                        "CFBundleIdentifier",
                        "IOUserServerName",
                        "IOPersonalityPublisher",
                    ],
                ),
                provider_class: parent.map(|p| p.class.clone()),
                registered: n.registered,
                user_client_properties: n.properties.get("UserClientProperties").cloned(),
                user_server: None,
            });
        }
        for c in n.children.iter().rev() {
            todo.push((c, Some(n), format!("{path}/{}", c.display_name())));
        }
    }
    for d in &mut out {
        d.user_server = servers
            .iter()
            .find(|(name, _)| name.is_some() && *name == d.bundle_id)
            .map(|(_, entry)| entry.clone());
    }
    out
}

/// Text for `dexthil ioreg`: one block per dext entry.
pub fn render_dexts(out: &mut String, dexts: &[DextEntry]) {
    if dexts.is_empty() {
        out.push_str(
            "no dext services (no entry with IOUserClass or IOUserServerName) in this dump\n",
        );
        return;
    }
    out.push_str("dext services (any family):\n");
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    for d in dexts {
        let _ = writeln!(
            out,
            "  {} (id 0x{:X}) class {}, IOUserClass {}, bundle {}{}",
            d.entry_name,
            d.registry_id,
            d.class,
            opt(&d.user_class),
            opt(&d.bundle_id),
            if d.registered { "" } else { ", NOT registered" }
        );
        let _ = writeln!(
            out,
            "    at {} (provider {})",
            d.path,
            opt(&d.provider_class)
        );
        match &d.user_client_properties {
            Some(Prop::Dict(ucp)) => {
                let fields: Vec<String> = ucp
                    .iter()
                    .map(|(k, v)| match v.as_str() {
                        Some(s) => format!("{k} = {s}"),
                        None => format!("{k} = {v:?}"),
                    })
                    .collect();
                let _ = writeln!(out, "    UserClientProperties: {}", fields.join(", "));
            }
            Some(other) => {
                let _ = writeln!(
                    out,
                    "    UserClientProperties (not a dictionary): {other:?}"
                );
            }
            None => out.push_str("    no UserClientProperties\n"),
        }
        match &d.user_server {
            Some(s) => {
                let _ = writeln!(out, "    IOUserServer: {s}");
            }
            None => out.push_str("    IOUserServer: not in this dump\n"),
        }
    }
}
