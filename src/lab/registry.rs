//! The IORegistry as the lab sees it: entries, their properties as a [`Prop`] tree, and matching.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `IORegistryEntryGetRegistryEntryID`.
pub type EntryId = u64;

/// A registry property value (a CF type tree).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prop {
    Bool(bool),
    /// CFNumber; the registry holds signed and unsigned 64-bit values, kept as i128 to hold both exactly.
    Int(i128),
    Str(String),
    Data(Vec<u8>),
    Array(Vec<Prop>),
    Dict(BTreeMap<String, Prop>),
    /// CFDate, seconds since 2001-01-01 (CFAbsoluteTime).
    Date(f64),
}

impl Prop {
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Prop::Int(v) => Some(*v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Prop::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_dict(&self) -> Option<&BTreeMap<String, Prop>> {
        match self {
            Prop::Dict(d) => Some(d),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Prop]> {
        match self {
            Prop::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One registry entry with its properties, as read at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegEntry {
    pub id: EntryId,
    /// `IORegistryEntryGetName`.
    pub name: String,
    /// `IORegistryEntryGetLocation`, when the entry has one (`IOUSBHostInterface@0`).
    pub location: Option<String>,
    /// `IOObjectGetClass`.
    pub class: String,
    /// The class and its superclasses, most derived first (`IOObjectCopySuperclassForClass`).
    pub class_chain: Vec<String>,
    pub parent: Option<EntryId>,
    /// `IOService` plane path.
    pub path: String,
    pub registered: bool,
    pub properties: BTreeMap<String, Prop>,
}

impl RegEntry {
    /// This `IOUserServer`'s `IOAssociatedServices` lists `service`'s registry id (xnu
    /// iokit/Kernel/IOUserServer.cpp `IOUserServer::serviceAttach`; see `ops::service::ServerTie`).
    pub fn serves_by_association(&self, service: EntryId) -> bool {
        let id = Prop::Int(service.into());
        self.prop("IOAssociatedServices")
            .and_then(Prop::as_array)
            .is_some_and(|a| a.contains(&id))
    }

    /// This `IOUserServer`'s `IOUserServerTag` is `service`'s registry id (xnu iokit/Kernel/IOService.cpp
    /// `IOService::startCandidate`; see `ops::service::ServerTie`).
    pub fn serves_by_tag(&self, service: EntryId) -> bool {
        self.prop("IOUserServerTag") == Some(&Prop::Int(service.into()))
    }

    /// This server carries a key that ties it to the services it runs: when any server of a name does,
    /// a server tied to none of a printer's services is another printer's.
    pub fn has_server_tie_keys(&self) -> bool {
        self.prop("IOAssociatedServices").is_some() || self.prop("IOUserServerTag").is_some()
    }

    pub fn prop(&self, key: &str) -> Option<&Prop> {
        self.properties.get(key)
    }
    pub fn int(&self, key: &str) -> Option<i128> {
        self.prop(key).and_then(Prop::as_int)
    }
    pub fn string(&self, key: &str) -> Option<&str> {
        self.prop(key).and_then(Prop::as_str)
    }
    pub fn conforms_to(&self, class: &str) -> bool {
        self.class == class || self.class_chain.iter().any(|c| c == class)
    }
}

/// A matching dictionary, as a host passes to `IOServiceGetMatchingServices`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Matching {
    /// `IOProviderClass`: the entry conforms to this class.
    pub class: Option<String>,
    /// `IONameMatch`: the entry's name.
    pub name: Option<String>,
    /// `IOPropertyMatch`: every listed property equal.
    pub properties: BTreeMap<String, Prop>,
    /// `IOParentMatch` by registry id: a direct child of this entry.
    pub parent: Option<EntryId>,
    /// `IORegistryEntryID`.
    pub id: Option<EntryId>,
}

impl Matching {
    pub fn matches(&self, e: &RegEntry) -> bool {
        self.class.as_deref().is_none_or(|c| e.conforms_to(c))
            && self.name.as_deref().is_none_or(|n| e.name == n)
            && self.id.is_none_or(|id| e.id == id)
            && self.parent.is_none_or(|p| e.parent == Some(p))
            && self
                .properties
                .iter()
                .all(|(k, v)| e.properties.get(k) == Some(v))
    }
}

/// What a registry wait waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitFor {
    /// First match: an entry matching is registered (or already is).
    Matched,
    /// Termination: no entry matches any more (or none does already).
    Gone,
}
