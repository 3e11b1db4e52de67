//! The simulated IORegistry: a tree of entries shaped as reference §5, with unique, never reused registry
//! ids. Terminated entries stay known (a host may still hold their id) but leave find / children.
//! Owns the tree and the property sets of each kind of entry; knows nothing of timing or faults.

use crate::driver::{Driver, Provider};
use crate::lab::{EntryId, Matching, Prop, RegEntry};
use crate::usb::location;
use std::collections::{BTreeMap, BTreeSet};

use super::station::Seat;

/// What an entry is to the sim, for the open rules and for terminating the right things.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Root,
    /// The platform expert device: the root of the IOService plane on a Mac.
    PlatformExpert,
    /// A USB host controller or a hub on a bus's path (not a station printer).
    Controller {
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

fn chain(classes: &[&str]) -> Vec<String> {
    classes.iter().map(|c| c.to_string()).collect()
}

fn s(v: &str) -> Prop {
    Prop::Str(v.into())
}

fn i(v: impl Into<i128>) -> Prop {
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

    pub fn is_live(&self, id: EntryId) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.live)
    }

    fn path(&self, id: EntryId) -> String {
        let mut parts = Vec::new();
        let mut at = Some(id);
        while let Some(cur) = at {
            let Some(n) = self.nodes.get(&cur) else { break };
            if n.kind != NodeKind::Root {
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

/// What varies per enumeration of a printer.
pub struct Enumeration<'a> {
    pub seat: &'a Seat,
    pub address: u8,
    pub session_id: u64,
}

/// `Device Speed` for high speed: `kUSBDeviceSpeedHigh` = 2 in IOUSBFamily `USB.h` (the header the
/// reference reads); the reference itself gives the key, not the value.
const DEVICE_SPEED_HIGH: i128 = 2;

/// IOUSBHostDevice keys of reference §5. Left out, because the reference gives no value shape for them:
/// `USBSpeed`, `UsbLinkSpeed`, `USBPortType`, `IOServiceDEXTEntitlements`.
pub fn device_entry(e: &Enumeration) -> (String, String, Vec<String>, BTreeMap<String, Prop>) {
    let m = e.seat.model;
    let loc = location::encode(e.seat.bus, &e.seat.port_path).unwrap_or(0);
    let mut p = BTreeMap::new();
    p.insert("idVendor".into(), i(m.vendor));
    p.insert("idProduct".into(), i(m.product));
    p.insert("bcdDevice".into(), i(m.bcd_device));
    p.insert("bcdUSB".into(), i(crate::printer::catalog::BCD_USB));
    p.insert("bDeviceClass".into(), i(0u8));
    p.insert("bDeviceSubClass".into(), i(0u8));
    p.insert("bDeviceProtocol".into(), i(0u8));
    p.insert(
        "bMaxPacketSize0".into(),
        i(crate::printer::catalog::MAX_PACKET0),
    );
    p.insert("bNumConfigurations".into(), i(1u8));
    p.insert("iManufacturer".into(), i(1u8));
    p.insert("iProduct".into(), i(2u8));
    p.insert("iSerialNumber".into(), i(3u8));
    // Strings appear under both spellings in real dumps (reference §5).
    for key in ["kUSBVendorString", "USB Vendor Name"] {
        p.insert(key.into(), s(m.manufacturer));
    }
    for key in ["kUSBProductString", "USB Product Name"] {
        p.insert(key.into(), s(m.product_string));
    }
    for key in ["kUSBSerialNumberString", "USB Serial Number"] {
        p.insert(key.into(), s(m.serial));
    }
    p.insert("kUSBCurrentConfiguration".into(), i(1u8));
    p.insert("locationID".into(), i(loc));
    p.insert("sessionID".into(), i(e.session_id));
    p.insert("USB Address".into(), i(e.address));
    p.insert("kUSBAddress".into(), i(e.address));
    p.insert("Device Speed".into(), i(DEVICE_SPEED_HIGH));
    let class_chain = chain(&[
        "IOUSBHostDevice",
        "IOService",
        "IORegistryEntry",
        "OSObject",
    ]);
    (
        m.product_string.into(),
        format!("{loc:08x}"),
        class_chain,
        p,
    )
}

/// IOUSBHostInterface keys of reference §5 for the printer-class interface #0 of configuration 1.
/// `UsbExclusiveOwner` is left out: the reference gives no value shape.
pub fn interface_entry(e: &Enumeration) -> (Vec<String>, BTreeMap<String, Prop>) {
    let m = e.seat.model;
    let (class, subclass, protocol) = crate::printer::catalog::INTERFACE_CLASS;
    let loc = location::encode(e.seat.bus, &e.seat.port_path).unwrap_or(0);
    let mut p = BTreeMap::new();
    p.insert("bInterfaceNumber".into(), i(0u8));
    p.insert("bInterfaceClass".into(), i(class));
    p.insert("bInterfaceSubClass".into(), i(subclass));
    p.insert("bInterfaceProtocol".into(), i(protocol));
    p.insert("bAlternateSetting".into(), i(0u8));
    p.insert("bConfigurationValue".into(), i(1u8));
    p.insert("bNumEndpoints".into(), i(2u8));
    p.insert("iInterface".into(), i(0u8));
    p.insert("idVendor".into(), i(m.vendor));
    p.insert("idProduct".into(), i(m.product));
    p.insert("bcdDevice".into(), i(m.bcd_device));
    p.insert("locationID".into(), i(loc));
    p.insert("USB Serial Number".into(), s(m.serial));
    let class_chain = chain(&[
        "IOUSBHostInterface",
        "IOService",
        "IORegistryEntry",
        "OSObject",
    ]);
    (class_chain, p)
}

/// True when the driver's personality matches this printer's interface (interface 0 of configuration 1).
pub fn personality_matches(driver: &Driver, seat: &Seat) -> bool {
    match &driver.provider {
        Provider::UserResources => false,
        Provider::UsbInterface {
            devices,
            interface,
            configuration,
        } => {
            *interface == 0
                && *configuration == 1
                && devices.contains(&(seat.model.vendor, seat.model.product))
        }
    }
}

/// The dext's service keys of reference §5, for a match on `seat` (or on IOUserResources when `None`).
/// Its class chain puts `IOClass` under IOService; a family class's own ancestors are not modelled.
pub fn service_entry(
    driver: &Driver,
    user_client_properties: Option<&BTreeMap<String, Prop>>,
    seat: Option<&Seat>,
) -> (Vec<String>, BTreeMap<String, Prop>) {
    let mut personality = BTreeMap::new();
    personality.insert("IOClass".into(), s(&driver.io_class));
    personality.insert("IOUserClass".into(), s(&driver.user_class));
    personality.insert("IOUserServerName".into(), s(&driver.server_name));
    personality.insert("CFBundleIdentifier".into(), s(&driver.bundle_id));
    match seat {
        Some(seat) => {
            personality.insert("IOProviderClass".into(), s("IOUSBHostInterface"));
            personality.insert("idVendor".into(), i(seat.model.vendor));
            personality.insert("idProduct".into(), i(seat.model.product));
            personality.insert("bInterfaceNumber".into(), i(0u8));
            personality.insert("bConfigurationValue".into(), i(1u8));
        }
        None => {
            // Apple's sample personality (reference §4).
            personality.insert("IOProviderClass".into(), s("IOUserResources"));
            personality.insert("IOResourceMatch".into(), s("IOKit"));
        }
    }
    if let Some(ucp) = user_client_properties {
        personality.insert("UserClientProperties".into(), Prop::Dict(ucp.clone()));
    }
    let mut p = personality.clone();
    p.insert("IOMatchedPersonality".into(), Prop::Dict(personality));
    let class_chain = vec![
        driver.io_class.clone(),
        "IOService".into(),
        "IORegistryEntry".into(),
        "OSObject".into(),
    ];
    (class_chain, p)
}

/// The dext's `IOUserServer(<bundle id>-0x<tag>)` object (reference §5). `IOAssociatedServices` holds the
/// registry ids of the services it serves: UNCONFIRMED shape, the reference names the key only.
pub fn server_entry(
    driver: &Driver,
    tag: u64,
    service: EntryId,
) -> (String, Vec<String>, BTreeMap<String, Prop>) {
    let mut p = BTreeMap::new();
    p.insert("IOUserServerName".into(), s(&driver.server_name));
    p.insert("IOUserServerTag".into(), i(tag));
    p.insert("IOAssociatedServices".into(), Prop::Array(vec![i(service)]));
    let name = format!("IOUserServer({}-0x{tag:x})", driver.bundle_id);
    // xnu: IOUserServer derives from IOUserClient (via IOUserClient2022), hence IOService.
    let class_chain = chain(&[
        "IOUserServer",
        "IOUserClient2022",
        "IOUserClient",
        "IOService",
        "IORegistryEntry",
        "OSObject",
    ]);
    (name, class_chain, p)
}

/// A nub the dext publishes (`Create(this, key, &nub)` → `IOService::Create_Impl`): its IOClass under
/// IOService, named after its IOUserClass, with the keys Create_Impl copies (`CFBundleIdentifier`,
/// `IOUserServerName`). No `UserClientProperties` of its own.
pub fn nub_entry(driver: &Driver, nub: &crate::driver::Nub) -> (Vec<String>, BTreeMap<String, Prop>) {
    let mut p = BTreeMap::new();
    p.insert("IOClass".into(), s(&nub.io_class));
    p.insert("IOUserClass".into(), s(&nub.user_class));
    p.insert("CFBundleIdentifier".into(), s(&driver.bundle_id));
    p.insert("IOUserServerName".into(), s(&driver.server_name));
    let class_chain = vec![
        nub.io_class.clone(),
        "IOService".into(),
        "IORegistryEntry".into(),
        "OSObject".into(),
    ];
    (class_chain, p)
}

pub fn user_resources_chain() -> Vec<String> {
    chain(&[
        "IOUserResources",
        "IOService",
        "IORegistryEntry",
        "OSObject",
    ])
}
