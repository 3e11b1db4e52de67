//! Matching dictionaries as the kernel reads them (xnu `iokit/Kernel/IOService.cpp`,
//! `IOService::matchInternal` and `IOService::matchPassive`): `IOProviderClass` by the real class's
//! conformance (`metaCast`: an `IOClassNameOverride` is a user-space name and does not match),
//! `IONameMatch` (a name or an array of names), `IOPropertyMatch` (a dictionary, or an array of them: any
//! one whose every key is equal), `IORegistryEntryID`, and `IOParentMatch` (a dictionary an ancestor must
//! match, looked for up to the root). Other keys go to the family's `matchPropertyTable`, which for a plain
//! IOService accepts: they are ignored.

use crate::lab::{EntryId, Prop, RegEntry};
use std::collections::{BTreeMap, HashMap};

/// One matching dictionary, read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rules {
    pub provider_class: Option<String>,
    pub names: Option<Vec<String>>,
    pub property_match: Option<Vec<BTreeMap<String, Prop>>>,
    pub entry_id: Option<u64>,
    pub parent: Option<Box<Rules>>,
}

impl Rules {
    pub fn read(dict: &BTreeMap<String, Prop>) -> Rules {
        let strings = |p: &Prop| match p {
            Prop::Str(s) => vec![s.clone()],
            Prop::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        Rules {
            provider_class: dict
                .get("IOProviderClass")
                .and_then(Prop::as_str)
                .map(String::from),
            names: dict.get("IONameMatch").map(strings),
            property_match: dict.get("IOPropertyMatch").map(|p| match p {
                Prop::Dict(d) => vec![d.clone()],
                Prop::Array(a) => a.iter().filter_map(|x| x.as_dict().cloned()).collect(),
                _ => Vec::new(),
            }),
            entry_id: dict
                .get("IORegistryEntryID")
                .and_then(Prop::as_int)
                .map(|v| v as u64),
            parent: dict
                .get("IOParentMatch")
                .and_then(Prop::as_dict)
                .map(|d| Box::new(Rules::read(d))),
        }
    }

    /// Whether `e` matches; `all` holds the registry by id, for `IOParentMatch`.
    pub fn matches(&self, e: &RegEntry, all: &HashMap<EntryId, RegEntry>) -> bool {
        let own = self
            .provider_class
            .as_deref()
            .is_none_or(|c| kernel_conforms(e, c))
            && self.names.as_ref().is_none_or(|ns| ns.contains(&e.name))
            && self.entry_id.is_none_or(|id| id == e.id)
            && self.property_match.as_ref().is_none_or(|tables| {
                tables.iter().any(|t| {
                    t.iter()
                        .all(|(k, v)| e.properties.get(k).is_some_and(|p| equal(p, v)))
                })
            });
        own && self.parent.as_ref().is_none_or(|rules| {
            let mut at = e.parent;
            let mut steps = 0;
            while let Some(id) = at
                && steps < 256
            {
                let Some(p) = all.get(&id) else { break };
                if rules.matches(p, all) {
                    return true;
                }
                at = p.parent;
                steps += 1;
            }
            false
        })
    }
}

/// The kernel's conformance (`OSMetaClassBase::metaCast`): the real class chain. Every entry registered in
/// the IOService plane is an IOService (only IOServices attach there), which a dump taken without `-i`
/// cannot show for classes the replay reader does not know.
pub fn kernel_conforms(e: &RegEntry, class: &str) -> bool {
    e.class == class
        || e.class_chain.iter().any(|x| x == class)
        || (e.registered && (class == "IOService" || class == "IORegistryEntry"))
}

/// `OSObject::isEqualTo` on registry values: numbers by their 64 bits (OSNumber keeps the value unsigned),
/// collections element by element.
pub fn equal(have: &Prop, want: &Prop) -> bool {
    match (have, want) {
        (Prop::Int(a), Prop::Int(b)) => *a as u64 == *b as u64,
        (Prop::Array(a), Prop::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equal(x, y))
        }
        (Prop::Dict(a), Prop::Dict(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => have == want,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, parent: Option<u64>, class: &str, name: &str) -> RegEntry {
        RegEntry {
            id,
            name: name.into(),
            location: None,
            class: class.into(),
            class_chain: vec![class.into(), "IOService".into()],
            parent,
            path: String::new(),
            registered: true,
            properties: BTreeMap::from([
                (
                    "IOClassNameOverride".into(),
                    Prop::Str("IOUSBDevice".into()),
                ),
                ("locationID".into(), Prop::Int(0x8011_0000)),
            ]),
        }
    }

    #[test]
    fn the_kernel_matches_real_classes_any_ancestor_and_numbers_by_bits() {
        let root = entry(1, None, "IOPlatformExpertDevice", "Root");
        let dev = entry(2, Some(1), "IOUSBHostDevice", "DS620");
        let intf = entry(3, Some(2), "IOUSBHostInterface", "IOUSBHostInterface");
        let all: HashMap<_, _> = [&root, &dev, &intf]
            .iter()
            .map(|e| (e.id, (*e).clone()))
            .collect();
        let by_class = |c: &str| Rules {
            provider_class: Some(c.into()),
            ..Rules::default()
        };
        assert!(by_class("IOUSBHostDevice").matches(&dev, &all));
        assert!(by_class("IOService").matches(&dev, &all));
        assert!(
            !by_class("IOUSBDevice").matches(&dev, &all),
            "an override is user space only"
        );
        let grandchild_of_root = Rules {
            parent: Some(Box::new(Rules {
                entry_id: Some(1),
                ..Rules::default()
            })),
            ..Rules::default()
        };
        assert!(
            grandchild_of_root.matches(&intf, &all),
            "any ancestor, not only the parent"
        );
        assert!(!grandchild_of_root.matches(&root, &all));
        let negative = Rules {
            property_match: Some(vec![BTreeMap::from([(
                "locationID".into(),
                Prop::Int(0x8011_0000_i64 as i32 as i128),
            )])]),
            ..Rules::default()
        };
        assert!(
            !negative.matches(&dev, &all),
            "a sign-extended 32-bit value is another 64-bit number"
        );
        let right = Rules {
            property_match: Some(vec![BTreeMap::from([(
                "locationID".into(),
                Prop::Int(0x8011_0000),
            )])]),
            names: Some(vec!["Other".into(), "DS620".into()]),
            ..Rules::default()
        };
        assert!(right.matches(&dev, &all));
    }
}
