//! Checks on the registry (an `ioreg` dump or the live registry read as one): the dext's service and its
//! class chain, stale entries, `UserClientProperties`, and what the host's matching dictionary selects.
//! Keys and classes from reference §5; what each wrong object answers from §2.

use super::causes::{CauseKind, Finding, Strength};
use super::matching::short;
use super::report::{Check, Status};
use crate::lab::{EntryId, Prop, RegEntry};
use std::collections::HashMap;

/// A registry read once, with where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryDump {
    pub source: String,
    pub entries: Vec<RegEntry>,
}

/// A service a dext published: it has an `IOUserClass` and is not the dext's `IOUserServer` (§5).
pub fn is_dext_service(e: &RegEntry) -> bool {
    e.prop("IOUserClass").is_some() && !e.conforms_to("IOUserServer")
}

/// A service the dext created below one of its own services (`IOService::Create` attaches the new service to
/// its creator, xnu iokit/Kernel/IOUserServer.cpp `IOService::Create_Impl`): a nub.
pub fn is_nub(e: &RegEntry, reg: &RegistryDump) -> bool {
    e.parent
        .and_then(|p| reg.entries.iter().find(|x| x.id == p))
        .is_some_and(is_dext_service)
}

pub fn bundle_of(e: &RegEntry) -> Option<&str> {
    e.string("CFBundleIdentifier")
        .or_else(|| e.string("IOUserServerName"))
}

/// `DNPPrinterDriver (IOUserService, id 0x100000A12) at IOService:/...`.
pub fn label(e: &RegEntry) -> String {
    format!("{} ({}, id 0x{:X}) at {}", e.name, e.class, e.id, e.path)
}

/// Why an entry is stale, if it is: not registered, or its USB device is older than another device at the
/// same locationID (a re-enumeration left it behind). Newer = larger `sessionID`, else larger registry id.
pub fn stale_reason(e: &RegEntry, reg: &RegistryDump) -> Option<String> {
    if !e.registered {
        return Some(format!(
            "{} is not registered (terminated or not yet matched)",
            e.path
        ));
    }
    let by_id: HashMap<EntryId, &RegEntry> = reg.entries.iter().map(|x| (x.id, x)).collect();
    let mut at = e.parent.and_then(|p| by_id.get(&p).copied());
    let device = loop {
        let d = at?;
        if d.int("locationID").is_some()
            && (d.int("idVendor").is_some() || d.int("sessionID").is_some())
            && d.int("bInterfaceNumber").is_none()
        {
            break d;
        }
        at = d.parent.and_then(|p| by_id.get(&p).copied());
    };
    let loc = device.int("locationID")?;
    let age = |d: &RegEntry| (d.int("sessionID").unwrap_or(0), d.id as i128);
    let newer = reg
        .entries
        .iter()
        .filter(|d| {
            d.id != device.id
                && d.int("locationID") == Some(loc)
                && d.int("bInterfaceNumber").is_none()
                && d.int("idVendor").is_some()
        })
        .filter(|d| age(d) > age(device))
        .max_by_key(|d| age(d))?;
    Some(format!(
        "its device {} (sessionID {}, id 0x{:X}) is older than {} (sessionID {}, id 0x{:X}) at the same locationID 0x{loc:08X}: left over from before a re-enumeration",
        device.path,
        device.int("sessionID").unwrap_or(0),
        device.id,
        newer.path,
        newer.int("sessionID").unwrap_or(0),
        newer.id
    ))
}

/// The dext's services in the registry, current (registered, not stale) first. `current` is ordered by how
/// likely each is the one to open: one with `UserClientProperties` (its class creates the user client in
/// Apple's pattern), then services the kernel matched from a personality, then nubs.
pub struct Services<'a> {
    pub current: Vec<&'a RegEntry>,
    pub stale: Vec<(&'a RegEntry, String)>,
}

pub fn services<'a>(reg: &'a RegistryDump, bundle: Option<&str>) -> Services<'a> {
    let mut current = Vec::new();
    let mut stale = Vec::new();
    for e in reg.entries.iter().filter(|e| is_dext_service(e)) {
        if bundle.is_some_and(|b| bundle_of(e) != Some(b)) {
            continue;
        }
        match stale_reason(e, reg) {
            Some(why) => stale.push((e, why)),
            None => current.push(e),
        }
    }
    current.sort_by_key(|e| (e.prop("UserClientProperties").is_none(), is_nub(e, reg)));
    Services { current, stale }
}

const SERVICE: &str = "the dext's service in the registry";

pub fn service_check(reg: &RegistryDump, bundle: Option<&str>, found: &mut Vec<Finding>) -> Check {
    let s = services(reg, bundle);
    let whose = bundle.map(|b| format!(" of {b}")).unwrap_or_default();
    let Some(svc) = s.current.first() else {
        let mut c = if let Some((e, why)) = s.stale.first() {
            found.push(Finding::new(
                CauseKind::StaleEntry,
                Strength::Confirmed,
                format!("{}: {why}", label(e)),
            ));
            Check::new(
                "dext-service",
                SERVICE,
                Status::Fail,
                format!("the only service{whose} is stale: {why}"),
            )
        } else {
            found.push(Finding::new(
                CauseKind::NoService,
                Strength::Confirmed,
                format!("no entry with IOUserClass{whose} in {}", reg.source),
            ));
            Check::new(
                "dext-service",
                SERVICE,
                Status::Fail,
                format!(
                    "no service{whose} (an entry with IOUserClass that is not an IOUserServer) in {}",
                    reg.source
                ),
            )
        };
        c = c.action(CauseKind::NoService.action());
        return c;
    };
    let chain = if svc.class_chain.len() > 1 {
        svc.class_chain.join(" → ")
    } else {
        format!(
            "{} (superclasses unknown: the dump was taken without `ioreg -i`)",
            svc.class
        )
    };
    let mut c = Check::new("dext-service", SERVICE, Status::Pass, label(svc))
        .evidence(format!("class chain: {chain}"))
        .evidence(format!(
            "IOUserClass = {}",
            svc.string("IOUserClass").unwrap_or("?")
        ));
    if svc.conforms_to("IOUserClient") {
        c.status = Status::Fail;
        c.summary = format!("{} is a user client, not a service", label(svc));
    }
    for other in s.current.iter().skip(1) {
        let what = if is_nub(other, reg) {
            "a nub it published"
        } else {
            "another service of the dext"
        };
        c = c.evidence(format!(
            "also: {} ({what}, IOUserClass {}{})",
            label(other),
            other.string("IOUserClass").unwrap_or("?"),
            if other.prop("UserClientProperties").is_some() {
                ", with UserClientProperties"
            } else {
                ", no UserClientProperties"
            }
        ));
    }
    if s.stale.is_empty() {
        found.push(Finding::new(
            CauseKind::StaleEntry,
            Strength::RuledOut,
            "the registry holds no stale service of the dext",
        ));
    }
    for (e, why) in &s.stale {
        c.status = c.status.max_with(Status::Warn);
        c = c.evidence(format!("stale: {}: {why}", label(e)));
        found.push(Finding::new(
            CauseKind::StaleEntry,
            Strength::Hint,
            format!("a stale service is still in the registry: {}", label(e)),
        ));
    }
    let servers: Vec<&RegEntry> = reg
        .entries
        .iter()
        .filter(|e| {
            e.conforms_to("IOUserServer")
                && bundle.is_none_or(|b| e.string("IOUserServerName") == Some(b))
        })
        .collect();
    match servers.first() {
        Some(server) => {
            c = c.evidence(format!("its server: {}", label(server)));
            found.push(Finding::new(
                CauseKind::DextNotRunning,
                Strength::RuledOut,
                format!("the dext's IOUserServer is present: {}", server.path),
            ));
        }
        None => {
            c.status = c.status.max_with(Status::Warn);
            c = c.evidence("no IOUserServer for the dext: its server may not be running");
            found.push(Finding::new(
                CauseKind::DextNotRunning,
                Strength::Hint,
                "the registry has the service but no IOUserServer for the dext",
            ));
        }
    }
    found.push(Finding::new(
        CauseKind::NoService,
        Strength::RuledOut,
        label(svc),
    ));
    c
}

const UCP: &str = "UserClientProperties";

pub fn user_client_properties_check(svc: &RegEntry, found: &mut Vec<Finding>) -> Check {
    let t = "the service's UserClientProperties";
    let wanted = "add UserClientProperties = {IOClass = IOUserUserClient, IOUserClass = <user client class>} to the dext's personality";
    let Some(p) = svc.prop(UCP) else {
        found.push(Finding::new(
            CauseKind::UserClientProperties,
            Strength::Confirmed,
            format!("{} has no UserClientProperties", svc.path),
        ));
        return Check::new("user-client-properties", t, Status::Fail, format!("{} has no UserClientProperties: NewUserClient's Create answers kIOReturnBadArgument", svc.name)).action(wanted);
    };
    let Some(d) = p.as_dict() else {
        found.push(Finding::new(
            CauseKind::UserClientProperties,
            Strength::Confirmed,
            format!("UserClientProperties = {}", short(p)),
        ));
        return Check::new(
            "user-client-properties",
            t,
            Status::Fail,
            "UserClientProperties is not a dictionary",
        )
        .evidence(format!("UserClientProperties = {}", short(p)))
        .action(wanted);
    };
    let shown = format!("UserClientProperties = {}", short(p));
    match d.get("IOClass").and_then(Prop::as_str) {
        None => {
            found.push(Finding::new(
                CauseKind::UserClientProperties,
                Strength::Confirmed,
                shown.clone(),
            ));
            Check::new(
                "user-client-properties",
                t,
                Status::Fail,
                "UserClientProperties has no IOClass string: IOService::Create_Impl answers kIOReturnBadArgument",
            )
            .evidence(shown)
            .action(wanted)
        }
        Some(class) if class != "IOUserUserClient" => {
            found.push(Finding::new(
                CauseKind::NotUserUserClient,
                Strength::Confirmed,
                shown.clone(),
            ));
            found.push(Finding::new(
                CauseKind::UserClientProperties,
                Strength::RuledOut,
                "UserClientProperties is present with an IOClass",
            ));
            Check::new("user-client-properties", t, Status::Fail, format!("IOClass is {class}, not IOUserUserClient: the kernel terminates the client (kIOReturnUnsupported)")).evidence(shown).action(CauseKind::NotUserUserClient.action())
        }
        Some(_) => {
            found.push(Finding::new(
                CauseKind::UserClientProperties,
                Strength::RuledOut,
                shown.clone(),
            ));
            found.push(Finding::new(
                CauseKind::NotUserUserClient,
                Strength::RuledOut,
                shown.clone(),
            ));
            let mut c = Check::new(
                "user-client-properties",
                t,
                Status::Pass,
                "IOClass = IOUserUserClient",
            )
            .evidence(shown);
            if d.get("IOUserClass").and_then(Prop::as_str).is_none() {
                c.status = Status::Warn;
                c.summary = "IOClass = IOUserUserClient but no IOUserClass string: the dext cannot name its user client class".into();
                c = c.action(wanted);
            }
            c
        }
    }
}

trait Worst {
    fn max_with(self, other: Status) -> Status;
}

impl Worst for Status {
    /// The worse of two statuses (fail over warn over pass).
    fn max_with(self, other: Status) -> Status {
        let rank = |s| match s {
            Status::Fail => 3,
            Status::Warn => 2,
            Status::Pass => 1,
            Status::Skipped => 0,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn service(ucp: Prop) -> RegEntry {
        RegEntry {
            id: 1,
            name: "DNPPrinterDriver".into(),
            class: "IOUserService".into(),
            class_chain: Vec::new(),
            parent: None,
            location: None,
            path: "IOService:/DNPPrinterDriver".into(),
            registered: true,
            properties: BTreeMap::from([("UserClientProperties".to_string(), ucp)]),
        }
    }

    #[test]
    fn an_ioclass_that_is_not_a_string_is_the_bad_argument_of_create() {
        // xnu IOService::Create_Impl: `OSDynamicCast(OSString, copyProperties->getObject(gIOClassKey))`.
        let ucp = Prop::Dict(BTreeMap::from([("IOClass".to_string(), Prop::Int(5))]));
        let mut found = Vec::new();
        let c = user_client_properties_check(&service(ucp), &mut found);
        assert_eq!(c.status, Status::Fail);
        assert!(c.summary.contains("kIOReturnBadArgument"), "{c:?}");
        assert_eq!(found[0].kind, CauseKind::UserClientProperties);
        assert_eq!(found[0].strength, Strength::Confirmed);
        // Another class than IOUserUserClient is created and then refused: kIOReturnUnsupported.
        let ucp = Prop::Dict(BTreeMap::from([(
            "IOClass".to_string(),
            Prop::Str("IOUserClient".into()),
        )]));
        let mut found = Vec::new();
        user_client_properties_check(&service(ucp), &mut found);
        assert!(
            found.iter().any(
                |f| f.kind == CauseKind::NotUserUserClient && f.strength == Strength::Confirmed
            )
        );
    }
}
