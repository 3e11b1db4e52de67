//! The simulated IORegistry: a tree of entries with unique, never reused registry ids. Terminated entries
//! stay known (a host may still hold their id) but leave find / children. Owns the tree; the property sets
//! of each kind of entry are `registry_entries`. Knows nothing of timing or faults.

use crate::lab::{EntryId, Matching, Prop, RegEntry};
use std::collections::{BTreeMap, BTreeSet};

/// What an entry is to the sim, for the open rules and for terminating the right things.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Root,
    /// The platform expert device: the root of the IOService plane on a Mac.
    PlatformExpert,
    /// A bus's USB host controller.
    Controller {
        bus: u8,
    },
    /// A hub on a bus's path (an IOUSBHostDevice, not a station printer).
    Hub {
        bus: u8,
    },
    Device {
        printer: usize,
    },
    Interface {
        printer: usize,
    },
    UserResources,
    /// A dext service, served by dext slot `slot`.
    Service {
        slot: usize,
    },
    UserServer {
        slot: usize,
    },
    /// A service the dext published below its service (driver file `nubs`).
    Nub {
        slot: usize,
    },
    /// The dext's user client of an open connection.
    UserClient {
        slot: usize,
    },
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub location: Option<String>,
    pub class_chain: Vec<String>,
    pub parent: Option<EntryId>,
    pub properties: BTreeMap<String, Prop>,
    pub live: bool,
    pub kind: NodeKind,
}

/// Ids start high and count up, like a booted Mac's; they are never reused, so a re-match is visible.
const FIRST_ID: EntryId = 0x1_0000_0200;

#[derive(Clone, Debug)]
pub struct Tree {
    nodes: BTreeMap<EntryId, Node>,
    /// The live entries: lookups walk these, not every entry a replug ever left behind.
    live: BTreeSet<EntryId>,
    next_id: EntryId,
}

pub(super) fn chain(classes: &[&str]) -> Vec<String> {
    classes.iter().map(|c| c.to_string()).collect()
}

pub(super) fn s(v: &str) -> Prop {
    Prop::Str(v.into())
}

pub(super) fn i(v: impl Into<i128>) -> Prop {
    Prop::Int(v.into())
}

impl Tree {
    /// A tree holding only the root (`Root`, class IORegistryEntry, as `ioreg` shows it).
    pub fn new() -> (Tree, EntryId) {
        let mut t = Tree {
            nodes: BTreeMap::new(),
            live: BTreeSet::new(),
            next_id: FIRST_ID,
        };
        let root = t.add(
            None,
            "Root",
            None,
            chain(&["IORegistryEntry", "OSObject"]),
            BTreeMap::new(),
            NodeKind::Root,
        );
        (t, root)
    }

    pub fn add(
        &mut self,
        parent: Option<EntryId>,
        name: &str,
        location: Option<String>,
        class_chain: Vec<String>,
        properties: BTreeMap<String, Prop>,
        kind: NodeKind,
    ) -> EntryId {
        let id = self.next_id;
        self.next_id += 1;
        self.nodes.insert(
            id,
            Node {
                name: name.into(),
                location,
                class_chain,
                parent,
                properties,
                live: true,
                kind,
            },
        );
        self.live.insert(id);
        id
    }

    /// A fresh registry id for an object the sim does not keep in its tree (a user client, whose id the
    /// kernel's `DK:` lines print).
    pub fn reserve_id(&mut self) -> EntryId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Add an entry built by `registry_entries`.
    pub fn add_spec(
        &mut self,
        parent: EntryId,
        spec: super::registry_entries::EntrySpec,
        kind: NodeKind,
    ) -> EntryId {
        self.add(
            Some(parent),
            &spec.name,
            spec.location,
            spec.class_chain,
            spec.properties,
            kind,
        )
    }

    pub fn node(&self, id: EntryId) -> Option<&Node> {
        self.nodes.get(&id)
    }

    /// Set one property of a live entry (a mirrored lab follows a real value).
    pub fn set_property(&mut self, id: EntryId, key: &str, value: Prop) {
        if let Some(n) = self.nodes.get_mut(&id) {
            n.properties.insert(key.to_string(), value);
        }
    }

    /// Terminate an entry and everything below it.
    pub fn terminate(&mut self, id: EntryId) {
        let below: Vec<EntryId> = self
            .live_nodes()
            .filter(|(_, n)| n.parent == Some(id))
            .map(|(k, _)| k)
            .collect();
        for child in below {
            self.terminate(child);
        }
        if let Some(n) = self.nodes.get_mut(&id) {
            n.live = false;
        }
        self.live.remove(&id);
    }

    /// Forget an entry nobody can name any more (a closed connection's user client: the host held the
    /// connection, not the entry), so ten thousand opens do not keep ten thousand dead entries.
    pub fn forget(&mut self, id: EntryId) {
        self.terminate(id);
        self.nodes.remove(&id);
    }

    pub fn is_live(&self, id: EntryId) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.live)
    }

    fn path(&self, id: EntryId) -> String {
        let mut parts = Vec::new();
        let mut at = Some(id);
        while let Some(cur) = at {
            let Some(n) = self.nodes.get(&cur) else { break };
            // `IOService:/` is the platform expert device itself (the plane's root), so neither it nor the
            // registry root appears in a path.
            if !matches!(n.kind, NodeKind::Root | NodeKind::PlatformExpert) {
                parts.push(match &n.location {
                    Some(l) => format!("{}@{l}", n.name),
                    None => n.name.clone(),
                });
            }
            at = n.parent;
        }
        parts.reverse();
        format!("IOService:/{}", parts.join("/"))
    }

    pub fn reg_entry(&self, id: EntryId) -> Option<RegEntry> {
        let n = self.nodes.get(&id)?;
        Some(RegEntry {
            id,
            name: n.name.clone(),
            location: n.location.clone(),
            class: n.class_chain.first().cloned().unwrap_or_default(),
            class_chain: n.class_chain.clone(),
            parent: n.parent,
            path: self.path(id),
            registered: n.live,
            properties: n.properties.clone(),
        })
    }

    fn live_nodes(&self) -> impl Iterator<Item = (EntryId, &Node)> {
        self.live
            .iter()
            .filter_map(|id| self.nodes.get(id).map(|n| (*id, n)))
    }

    /// Live entries the matching selects, in registry (id) order.
    pub fn find(&self, matching: &Matching) -> Vec<RegEntry> {
        self.matching(matching)
            .filter_map(|id| self.reg_entry(id))
            .collect()
    }

    /// The first live entry the matching selects: what a wait needs, without copying the others.
    pub fn find_first(&self, matching: &Matching) -> Option<RegEntry> {
        self.matching(matching)
            .next()
            .and_then(|id| self.reg_entry(id))
    }

    /// The ids of the live entries `matching` selects, decided on the nodes themselves (the same rules as
    /// [`Matching::matches`] on their [`RegEntry`]), so only the entries asked for are copied out.
    fn matching<'a>(&'a self, m: &'a Matching) -> impl Iterator<Item = EntryId> + 'a {
        let conforms = |n: &Node, c: &str| {
            n.class_chain.iter().any(|x| x == c) || (n.class_chain.is_empty() && c.is_empty())
        };
        self.live_nodes()
            .filter(move |(id, n)| {
                m.id.is_none_or(|x| x == *id)
                    && m.parent.is_none_or(|p| n.parent == Some(p))
                    && m.name.as_deref().is_none_or(|x| n.name == x)
                    && m.class.as_deref().is_none_or(|c| conforms(n, c))
                    && m.properties
                        .iter()
                        .all(|(k, v)| n.properties.get(k) == Some(v))
            })
            .map(|(id, _)| id)
    }

    pub fn children(&self, id: EntryId) -> Vec<RegEntry> {
        self.live_nodes()
            .filter(|(_, n)| n.parent == Some(id))
            .filter_map(|(k, _)| self.reg_entry(k))
            .collect()
    }
}
