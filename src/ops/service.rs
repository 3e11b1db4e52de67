//! Finding the dext's objects in the registry: a printer's `IOUSBHostDevice` (by `locationID`), its
//! `IOUSBHostInterface` (by `bInterfaceNumber`), the dext's service below it (by `IOUserClass`), the
//! resource-matched service (by name) and the dext's `IOUserServer`.
//!
//! Uses only the [`Registry`] trait and waits with first-match notifications, all under one deadline.

use crate::driver::{Driver, Provider};
use crate::lab::{Matching, Prop, RegEntry, Registry, UsbView, WaitError, WaitFor};
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

/// The dext's `IOUserServer` (by `IOUserServerName`).
pub fn user_server(
    reg: &(impl Registry + ?Sized),
    driver: &Driver,
    deadline: Instant,
) -> Result<RegEntry, FindError> {
    let m = Matching {
        class: Some("IOUserServer".into()),
        properties: [(
            "IOUserServerName".to_string(),
            Prop::Str(driver.server_name.clone()),
        )]
        .into(),
        ..Matching::default()
    };
    wait_for(
        reg,
        &m,
        || format!("an IOUserServer named {}", driver.server_name),
        "",
        deadline,
    )
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
    use crate::scenario::FaultKind;
    use crate::testkit::{self, driver, fault, scenario};
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
        assert_eq!(
            user_server(&*lab, &driver(), soon).unwrap().class,
            "IOUserServer"
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
