//! Finding the dext's objects in the registry: a printer's `IOUSBHostDevice` (by `locationID`), its
//! `IOUSBHostInterface` (by `bInterfaceNumber`), the dext's service below it (by `IOUserClass`), the
//! resource-matched service (by name) and the `IOUserServer` that runs a given service.
//!
//! Uses only the [`Registry`] trait and waits with first-match notifications, all under one deadline.

use crate::driver::{Driver, Provider};
use crate::lab::{EntryId, Matching, Prop, RegEntry, Registry, UsbView, WaitError, WaitFor};
use crate::usb::location;
use std::time::Instant;
use thiserror::Error;

/// The registry objects between a printer and the dext's service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServicePath {
    pub device: RegEntry,
    pub interface: RegEntry,
    pub service: RegEntry,
}

/// Something that should be in the registry was not, in time.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FindError {
    #[error("{looked_for} did not appear{}", got_as_far(found))]
    NotRegistered {
        looked_for: String,
        /// The registry path of the last object found on the way, if any.
        found: String,
    },
    #[error("{0} is still registered")]
    StillRegistered(String),
    #[error("the printer's port path cannot be a locationID: {0}")]
    Location(#[from] location::LocationError),
    #[error("the driver matches on {0}, not on a printer's USB interface")]
    NotOnUsb(&'static str),
    #[error(transparent)]
    Lab(#[from] crate::lab::LabError),
}

/// ` (got as far as <path>)`, or nothing.
pub fn got_as_far(found: &str) -> String {
    if found.is_empty() {
        String::new()
    } else {
        format!(" (got as far as {found})")
    }
}

fn wait_for(
    reg: &(impl Registry + ?Sized),
    m: &Matching,
    looked_for: impl FnOnce() -> String,
    found: &str,
    deadline: Instant,
) -> Result<RegEntry, FindError> {
    match reg.wait(m, WaitFor::Matched, deadline) {
        Ok(Some(e)) => Ok(e),
        Ok(None) | Err(WaitError::TimedOut(_)) => Err(FindError::NotRegistered {
            looked_for: looked_for(),
            found: found.to_string(),
        }),
        Err(WaitError::Lab(e)) => Err(e.into()),
    }
}

/// The `IOUSBHostDevice` at the printer's bus and port path.
pub fn device_entry(
    reg: &(impl Registry + ?Sized),
    view: &UsbView,
    deadline: Instant,
) -> Result<RegEntry, FindError> {
    let loc = location::encode(view.bus, &view.port_path)?;
    let m = Matching {
        class: Some("IOUSBHostDevice".into()),
        properties: [("locationID".to_string(), Prop::Int(loc.into()))].into(),
        ..Matching::default()
    };
    wait_for(
        reg,
        &m,
        || format!("an IOUSBHostDevice with locationID 0x{loc:08x}"),
        "",
        deadline,
    )
}

/// The interface number the driver matches on.
pub fn driver_interface(driver: &Driver) -> Result<u8, FindError> {
    match &driver.provider {
        Provider::UsbInterface { interface, .. } => Ok(*interface),
        Provider::UserResources => Err(FindError::NotOnUsb("IOUserResources")),
    }
}

/// The `IOUSBHostInterface` child of `device` with this `bInterfaceNumber`.
pub fn interface_entry(
    reg: &(impl Registry + ?Sized),
    device: &RegEntry,
    interface: u8,
    deadline: Instant,
) -> Result<RegEntry, FindError> {
    let m = Matching {
        class: Some("IOUSBHostInterface".into()),
        parent: Some(device.id),
        properties: [("bInterfaceNumber".to_string(), Prop::Int(interface.into()))].into(),
        ..Matching::default()
    };
    wait_for(
        reg,
        &m,
        || format!("an IOUSBHostInterface with bInterfaceNumber {interface}"),
        &device.path,
        deadline,
    )
}

/// The dext's service on a printer: device → interface → child with the driver's `IOUserClass`.
pub fn printer_service(
    reg: &(impl Registry + ?Sized),
    view: &UsbView,
    driver: &Driver,
    deadline: Instant,
) -> Result<ServicePath, FindError> {
    let number = driver_interface(driver)?;
    let device = device_entry(reg, view, deadline)?;
    let interface = interface_entry(reg, &device, number, deadline)?;
    let m = Matching {
        parent: Some(interface.id),
        properties: [(
            "IOUserClass".to_string(),
            Prop::Str(driver.user_class.clone()),
        )]
        .into(),
        ..Matching::default()
    };
    let service = wait_for(
        reg,
        &m,
        || format!("the dext's service (IOUserClass {})", driver.user_class),
        &interface.path,
        deadline,
    )?;
    Ok(ServicePath {
        device,
        interface,
        service,
    })
}

/// What names the dext's service when no printer is given: `IOServiceNameMatching(user_class)`.
pub fn resource_matching(driver: &Driver) -> Matching {
    Matching {
        name: Some(driver.user_class.clone()),
        ..Matching::default()
    }
}

/// The dext's service matched on `IOUserResources` (or any instance, for a USB driver).
pub fn resource_service(
    reg: &(impl Registry + ?Sized),
    driver: &Driver,
    deadline: Instant,
) -> Result<RegEntry, FindError> {
    wait_for(
        reg,
        &resource_matching(driver),
        || format!("a service named {}", driver.user_class),
        "",
        deadline,
    )
}

/// The first nub the driver file declares, below the dext's `service` (by its `IOUserClass`).
pub fn dext_nub(
    reg: &(impl Registry + ?Sized),
    service: &RegEntry,
    driver: &Driver,
    deadline: Instant,
) -> Result<RegEntry, FindError> {
    let Some(nub) = driver.classes.nubs.first() else {
        return Err(FindError::NotRegistered {
            looked_for: "a nub (the driver file declares no `nubs`)".into(),
            found: service.path.clone(),
        });
    };
    let m = Matching {
        parent: Some(service.id),
        properties: [("IOUserClass".to_string(), Prop::Str(nub.user_class.clone()))].into(),
        ..Matching::default()
    };
    wait_for(
        reg,
        &m,
        || format!("the dext's nub (IOUserClass {})", nub.user_class),
        &service.path,
        deadline,
    )
}

/// How [`user_server`] tied a dext's service to its `IOUserServer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerTie {
    /// The server's `IOAssociatedServices` lists the service's registry id: xnu
    /// iokit/Kernel/IOUserServer.cpp `IOUserServer::serviceAttach` appends the registry id of every service
    /// the server runs (and `serviceStop` removes it), so this holds for a server that runs several
    /// services too (`IOUserServerOneProcess`, `IOUserServer::launchUserServer` with `reuseIfExists`).
    Associated,
    /// The server's `IOUserServerTag` is the service's registry id: xnu iokit/Kernel/IOService.cpp
    /// `IOService::startCandidate` launches the server with `serverTag = service->getRegistryEntryID()`,
    /// `IOUserServer::Create_Impl` publishes the tag the dext was launched with, and
    /// `__WAITING_FOR_USER_SERVER__` accepts only a server whose `IOUserServerName` and `IOUserServerTag`
    /// both match. That the tag reaches `Create` unchanged goes through `OSKext::requestDaemonLaunch` and
    /// the closed-source launcher (UNCONFIRMED), but the kernel's wait enforces it.
    Tag,
    /// No server of that name carries either key (a registry from before they existed, or a dump cut by
    /// hand): the first by name. `candidates` lists the path of every server of that name; with more than
    /// one, the pick may be another printer's.
    NameOnly { candidates: Vec<String> },
}

/// `servers` (already those with the driver's `IOUserServerName`) tied to `service`: by
/// `IOAssociatedServices`, else by `IOUserServerTag`, else, when no server carries either key, the first by
/// name. `None` when there is no server, or when the keys are there but none names this service (its own
/// server has not appeared yet, or has gone).
pub fn pick_user_server(servers: &[RegEntry], service: EntryId) -> Option<(&RegEntry, ServerTie)> {
    if let Some(s) = servers.iter().find(|s| s.serves_by_association(service)) {
        return Some((s, ServerTie::Associated));
    }
    if let Some(s) = servers.iter().find(|s| s.serves_by_tag(service)) {
        return Some((s, ServerTie::Tag));
    }
    if servers.iter().any(RegEntry::has_server_tie_keys) {
        return None;
    }
    let first = servers.first()?;
    let candidates = servers.iter().map(|s| s.path.clone()).collect();
    Some((first, ServerTie::NameOnly { candidates }))
}

fn servers_named(driver: &Driver) -> Matching {
    Matching {
        class: Some("IOUserServer".into()),
        properties: [(
            "IOUserServerName".to_string(),
            Prop::Str(driver.server_name.clone()),
        )]
        .into(),
        ..Matching::default()
    }
}

/// The `IOUserServer` that runs `service`, the dext's service on one printer (or on IOUserResources). With
/// two printers of one model matched there are two dext processes, so two servers of one
/// `IOUserServerName`: the one tied to this service by [`pick_user_server`] is returned, never merely the
/// first by name unless the registry carries no tie at all (then with a warning naming the candidates).
pub fn user_server(
    reg: &(impl Registry + ?Sized),
    driver: &Driver,
    service: &RegEntry,
    deadline: Instant,
) -> Result<RegEntry, FindError> {
    let named = servers_named(driver);
    wait_for(
        reg,
        &named,
        || format!("an IOUserServer named {}", driver.server_name),
        &service.path,
        deadline,
    )?;
    let servers = reg.find(&named)?;
    match pick_user_server(&servers, service.id) {
        Some((s, ServerTie::NameOnly { candidates })) => {
            if candidates.len() > 1 {
                tracing::warn!(
                    service = %service.path,
                    candidates = %candidates.join(", "),
                    "no IOUserServer of this name carries IOAssociatedServices or IOUserServerTag; \
                     taking the first by name, which may serve another printer"
                );
            }
            Ok(s.clone())
        }
        Some((s, _)) => Ok(s.clone()),
        // Its own server is not there (yet): wait for it as the kernel does, by name and tag.
        None => {
            let mut own = named;
            own.properties
                .insert("IOUserServerTag".into(), Prop::Int(service.id.into()));
            let others: Vec<&str> = servers.iter().map(|s| s.path.as_str()).collect();
            wait_for(
                reg,
                &own,
                || {
                    format!(
                        "the IOUserServer of {} (IOUserServerName {}, IOAssociatedServices or \
                         IOUserServerTag 0x{:x}; the servers of that name serve other services: {})",
                        service.path,
                        driver.server_name,
                        service.id,
                        others.join(", ")
                    )
                },
                &service.path,
                deadline,
            )
        }
    }
}

/// What a cross-check reads around one printer, owned (see [`crate::crosscheck::RegistrySide`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CrossCheckSide {
    pub device: RegEntry,
    pub interfaces: Vec<RegEntry>,
    pub services: Vec<RegEntry>,
    pub user_servers: Vec<RegEntry>,
}

impl CrossCheckSide {
    pub fn as_side(&self) -> crate::crosscheck::RegistrySide<'_> {
        crate::crosscheck::RegistrySide {
            device: &self.device,
            interfaces: &self.interfaces,
            services: &self.services,
            user_servers: &self.user_servers,
        }
    }
}

/// The printer's `IOUSBHostDevice` (paired by [`crate::crosscheck::pair`]), its interfaces, what sits
/// under them, and every `IOUserServer`; `None` when no device entry pairs with `view`. Reads once, no wait.
pub fn cross_check_side(
    reg: &(impl Registry + ?Sized),
    view: &UsbView,
) -> Result<Option<CrossCheckSide>, crate::lab::LabError> {
    let of_class = |class: &str| {
        reg.find(&Matching {
            class: Some(class.into()),
            ..Matching::default()
        })
    };
    let devices = of_class("IOUSBHostDevice")?;
    let Some(device) = crate::crosscheck::pair(view, &devices).cloned() else {
        return Ok(None);
    };
    let interfaces: Vec<RegEntry> = reg
        .children(device.id)?
        .into_iter()
        .filter(|e| e.conforms_to("IOUSBHostInterface"))
        .collect();
    let mut services = Vec::new();
    for i in &interfaces {
        services.extend(reg.children(i.id)?);
    }
    Ok(Some(CrossCheckSide {
        device,
        interfaces,
        services,
        user_servers: of_class("IOUserServer")?,
    }))
}

/// Wait until nothing matches `m` any more.
pub fn wait_gone(
    reg: &(impl Registry + ?Sized),
    m: &Matching,
    what: &str,
    deadline: Instant,
) -> Result<(), FindError> {
    match reg.wait(m, WaitFor::Gone, deadline) {
        Ok(_) => Ok(()),
        Err(WaitError::TimedOut(_)) => Err(FindError::StillRegistered(what.to_string())),
        Err(WaitError::Lab(e)) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::UsbBus as _;
    use crate::scenario::FaultKind;
    use crate::testkit::{self, driver, fault, scenario};
    use std::sync::Arc;
    use std::time::Duration;

    /// The QW410 (the test driver's printer) as the sim lab's bus shows it.
    fn printer(lab: &dyn crate::lab::Lab) -> UsbView {
        lab.devices()
            .unwrap()
            .into_iter()
            .find(|v| (v.vendor_id, v.product_id) == (0x1452, 0x9201))
            .expect("the sim station has a QW410")
    }

    #[test]
    fn walks_from_the_printer_to_the_dext_service() {
        let lab = testkit::sim(&scenario("walk", vec![]));
        let soon = Instant::now() + Duration::from_secs(2);
        let path = printer_service(&*lab, &printer(&*lab), &driver(), soon).unwrap();
        assert_eq!(path.device.class, "IOUSBHostDevice");
        assert_eq!(path.interface.parent, Some(path.device.id));
        assert_eq!(path.service.string("IOUserClass"), Some("PrinterDriver"));
        let server = user_server(&*lab, &driver(), &path.service, soon).unwrap();
        assert_eq!(server.class, "IOUserServer");
        assert_eq!(
            pick_user_server(std::slice::from_ref(&server), path.service.id).map(|p| p.1),
            Some(ServerTie::Associated)
        );
    }

    /// The built-in station with a second QW410 on a bus of its own: two dext processes of one name.
    fn two_qw410s() -> Arc<crate::backends::sim::SimLab> {
        use crate::backends::sim::{SimLab, station};
        let mut seats = station::seats();
        let qw410 = seats
            .iter()
            .find(|s| s.model.name == "QW410")
            .expect("the catalog has a QW410")
            .model;
        seats.push(station::Seat {
            model: qw410,
            bus: 9,
            port_path: vec![1, 1],
        });
        let spec = crate::backends::LabSpec::probe("two", Arc::new(driver()));
        Arc::new(SimLab::for_spec(&spec, 1, seats).expect("a sim lab"))
    }

    #[test]
    fn with_two_printers_of_one_model_each_service_gets_its_own_server() {
        let lab = two_qw410s();
        let soon = Instant::now() + Duration::from_secs(2);
        let views: Vec<UsbView> = lab
            .devices()
            .unwrap()
            .into_iter()
            .filter(|v| (v.vendor_id, v.product_id) == (0x1452, 0x9201))
            .collect();
        assert_eq!(views.len(), 2);
        let mut servers = Vec::new();
        for v in &views {
            let service = printer_service(&*lab, v, &driver(), soon).unwrap().service;
            let server = user_server(&*lab, &driver(), &service, soon).unwrap();
            // The sim publishes what xnu does: the tag is the service's registry id, and the server lists
            // the service in IOAssociatedServices.
            assert_eq!(server.int("IOUserServerTag"), Some(service.id.into()));
            assert_eq!(
                server.prop("IOAssociatedServices"),
                Some(&Prop::Array(vec![Prop::Int(service.id.into())]))
            );
            assert_eq!(
                server.name,
                format!("IOUserServer(com.example.printer-0x{:x})", service.id)
            );
            servers.push(server.id);
        }
        assert_ne!(
            servers[0], servers[1],
            "both printers were given one server"
        );
        // The first by name serves only one of them: what the lookup used to answer for both.
        let first = lab.find(&servers_named(&driver())).unwrap()[0].id;
        assert!(servers.contains(&first));
    }

    fn server(id: EntryId, keys: &[(&str, Prop)]) -> RegEntry {
        RegEntry {
            id,
            name: format!("IOUserServer(com.example.printer-0x{id:x})"),
            class: "IOUserServer".into(),
            path: format!("IOService:/IOUserServer(com.example.printer-0x{id:x})"),
            location: None,
            class_chain: vec!["IOUserServer".into()],
            parent: None,
            registered: true,
            properties: keys
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    #[test]
    fn a_server_is_tied_to_its_service_by_associated_services_then_tag_then_name_alone() {
        let list = |ids: &[u64]| Prop::Array(ids.iter().map(|&i| Prop::Int(i.into())).collect());
        // One process serving two services (IOUserServerOneProcess): its tag is the first service's.
        let shared = server(
            0x20,
            &[
                ("IOUserServerTag", Prop::Int(0x11)),
                ("IOAssociatedServices", list(&[0x11, 0x12])),
            ],
        );
        let other = server(
            0x30,
            &[
                ("IOUserServerTag", Prop::Int(0x13)),
                ("IOAssociatedServices", list(&[0x13])),
            ],
        );
        let both = [other.clone(), shared.clone()];
        assert_eq!(
            pick_user_server(&both, 0x12),
            Some((&shared, ServerTie::Associated))
        );
        assert_eq!(
            pick_user_server(&both, 0x13),
            Some((&other, ServerTie::Associated))
        );
        // A tag alone (the service not yet in IOAssociatedServices) still ties.
        let tagged = server(0x40, &[("IOUserServerTag", Prop::Int(0x14))]);
        assert_eq!(
            pick_user_server(&[other.clone(), tagged.clone()], 0x14),
            Some((&tagged, ServerTie::Tag))
        );
        // Keys present, none naming the service: not another printer's server.
        assert_eq!(pick_user_server(&both, 0x99), None);
        // No keys anywhere: the first by name, with every candidate named.
        let bare = [server(0x50, &[]), server(0x60, &[])];
        assert_eq!(
            pick_user_server(&bare, 0x99),
            Some((
                &bare[0],
                ServerTie::NameOnly {
                    candidates: vec![bare[0].path.clone(), bare[1].path.clone()]
                }
            ))
        );
        assert_eq!(pick_user_server(&[], 0x99), None);
    }

    /// A registry whose servers carry no tie (a dump cut by hand): two printers' services, two servers.
    const UNTIED: &str = "\
+-o Root  <class IORegistryEntry, id 0x100000100, retain 9>
  +-o J293AP  <class IOPlatformExpertDevice, id 0x100000110, registered, matched, active, busy 0 (0 ms), retain 9>
    +-o PrinterDriver  <class IOUserService, id 0x100000a12, registered, matched, active, busy 0 (0 ms), retain 9>
    | {
    |   \"IOUserClass\" = \"PrinterDriver\"
    | }
    |
    +-o PrinterDriver  <class IOUserService, id 0x100000b12, registered, matched, active, busy 0 (0 ms), retain 9>
    | {
    |   \"IOUserClass\" = \"PrinterDriver\"
    | }
    |
    +-o IOUserServer(com.example.printer-0x100000a12)  <class IOUserServer, id 0x100000a13, registered, matched, active, busy 0 (0 ms), retain 9>
    | {
    |   \"IOUserServerName\" = \"com.example.printer\"
    | }
    |
    +-o IOUserServer(com.example.printer-0x100000b12)  <class IOUserServer, id 0x100000b13, registered, matched, active, busy 0 (0 ms), retain 9>
        {
          \"IOUserServerName\" = \"com.example.printer\"
        }
";

    fn replay(text: &str) -> crate::backends::replay::ReplayLab {
        let path = std::path::Path::new("untied.txt");
        let tree = crate::backends::replay::parse_text(path, text).expect("the dump parses");
        crate::backends::replay::ReplayLab::new(&tree, None)
    }

    #[test]
    fn without_a_tie_the_first_server_by_name_is_taken_and_with_one_the_right_one() {
        let soon = Instant::now() + Duration::from_millis(100);
        let lab = replay(UNTIED);
        let second = lab.entry(0x1_0000_0b12).unwrap();
        // No key to tell them apart: the explicit fallback, the first by name (and a warning).
        assert_eq!(
            user_server(&lab, &driver(), &second, soon).unwrap().id,
            0x1_0000_0a13
        );
        // The same registry with the tags xnu publishes: the second service's own server.
        let tagged = UNTIED
            .replace(
                "  |   \"IOUserServerName\" = \"com.example.printer\"\n",
                "  |   \"IOUserServerName\" = \"com.example.printer\"\n    |   \"IOUserServerTag\" = 4294969874\n",
            )
            .replace(
                "          \"IOUserServerName\" = \"com.example.printer\"\n",
                "          \"IOUserServerName\" = \"com.example.printer\"\n          \"IOUserServerTag\" = 4294970130\n",
            );
        let lab = replay(&tagged);
        assert_eq!(
            user_server(&lab, &driver(), &second, soon).unwrap().id,
            0x1_0000_0b13
        );
        // Tied servers that serve neither: no other printer's server is handed out; the lookup waits for
        // the service's own, by name and tag as the kernel does (a recording refuses to wait, naming it).
        let strangers = tagged.replace("4294970130", "4294970386");
        let err = user_server(&replay(&strangers), &driver(), &second, soon).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("IOUserServerName = Str(\"com.example.printer\")")
                && text.contains("IOUserServerTag = Int(4294970130)"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_service_names_what_was_found_on_the_way() {
        let mut s = scenario("never", vec![]);
        s.sim
            .faults
            .push(fault(FaultKind::NeverMatch { role: "p".into() }));
        let lab = testkit::sim(&s);
        let soon = Instant::now() + Duration::from_millis(100);
        let err = printer_service(&*lab, &printer(&*lab), &driver(), soon).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("IOUserClass PrinterDriver") && text.contains("IOUSBHostInterface@0"),
            "{text}"
        );
    }
}
