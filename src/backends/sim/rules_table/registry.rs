//! Rows R1-R8 (registry shape).

use super::*;

pub(super) fn lab_of(scenario: &str) -> SimLab {
    let s = crate::scenario::load_scenario(&root(scenario)).expect("the scenario loads");
    SimLab::for_scenario(&s).expect("the sim lab starts")
}

pub(super) fn of_class(l: &SimLab, class: &str) -> Vec<RegEntry> {
    l.entries_of_class(class)
}

pub(super) fn parent_class(l: &SimLab, e: &RegEntry) -> String {
    e.parent
        .and_then(|p| l.entry(p).ok())
        .map(|p| p.class)
        .unwrap_or_default()
}

pub(super) fn registry_rows() -> Vec<(&'static str, Check)> {
    vec![
        (
            "R1",
            Box::new(|| {
                let l = lab_of("scenarios/smoke/ds620.yaml");
                let pe = of_class(&l, "IOPlatformExpertDevice");
                expect("one platform expert", pe.len(), 1)?;
                expect("its path", pe[0].path.as_str(), "IOService:/")?;
                expect(
                    "its parent",
                    parent_class(&l, &pe[0]).as_str(),
                    "IORegistryEntry",
                )
            }),
        ),
        (
            "R2",
            Box::new(|| {
                let l = lab_of("scenarios/smoke/ds620.yaml");
                let r = of_class(&l, "IOUserResources");
                expect(
                    "IOUserResources' parent",
                    parent_class(&l, &r[0]).as_str(),
                    "IOPlatformExpertDevice",
                )
            }),
        ),
        (
            "R3",
            Box::new(|| {
                let l = lab_of("scenarios/smoke/ds620.yaml");
                let servers = of_class(&l, "IOUserServer");
                let s = servers.first().ok_or("no IOUserServer")?;
                expect(
                    "server's parent",
                    parent_class(&l, s).as_str(),
                    "IOPlatformExpertDevice",
                )?;
                let tag = s.int("IOUserServerTag").ok_or("no IOUserServerTag")?;
                expect(
                    "name",
                    s.name.clone(),
                    format!("IOUserServer(com.example.dexthil.DNPPrinterDriver-0x{tag:x})"),
                )?;
                for key in [
                    "IOUserServerName",
                    "IOAssociatedServices",
                    "IOUserClientCreator",
                    "IOUserClientDefaultLocking",
                    "IOPowerManagement",
                ] {
                    holds(&format!("server key {key}"), s.prop(key).is_some())?;
                }
                holds(
                    "creator is `pid <n>, <name>`",
                    s.string("IOUserClientCreator")
                        .is_some_and(|c| c.starts_with("pid ")),
                )
            }),
        ),
        (
            "R4",
            Box::new(|| {
                let l = lab_of("scenarios/smoke/ds620.yaml");
                let s = l
                    .service_entry(Some(
                        &l.devices()
                            .map_err(|e| e.to_string())?
                            .into_iter()
                            .find(|v| v.product_id == 0x8B01)
                            .ok_or("no DS620")?,
                    ))
                    .ok_or("no service")?;
                holds(&format!("path {}", s.path), s.path.starts_with("IOService:/XHC1@01000000/USB2.0 Hub@01100000/DS620@01150000/IOUSBHostInterface@0/"))
            }),
        ),
        (
            "R5",
            Box::new(|| {
                let l = lab_of("scenarios/smoke/ds620.yaml");
                let v = l
                    .devices()
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .find(|v| v.product_id == 0x8B01)
                    .ok_or("no DS620")?;
                let s = l.service_entry(Some(&v)).ok_or("no service")?;
                expect(
                    "named after IOUserClass",
                    s.name.as_str(),
                    "DNPPrinterDriver",
                )?;
                for key in [
                    "IOUserServerCDHash",
                    "IOServiceDEXTEntitlements",
                    "CFBundleIdentifierKernel",
                    "IOMatchCategory",
                    "IOProbeScore",
                    "IOUserClasses",
                    "IOPersonalityPublisher",
                    "IOMatchedPersonality",
                    "UserClientProperties",
                ] {
                    holds(&format!("service key {key}"), s.prop(key).is_some())?;
                }
                expect(
                    "cdhash length",
                    s.string("IOUserServerCDHash").map(str::len),
                    Some(40),
                )
            }),
        ),
        (
            "R6",
            Box::new(|| {
                let l = lab_of("scenarios/smoke/ds620.yaml");
                let dev = of_class(&l, "IOUSBHostDevice")
                    .into_iter()
                    .find(|d| d.int("idProduct") == Some(0x8B01))
                    .ok_or("no DS620 device")?;
                for key in [
                    "USBSpeed",
                    "UsbLinkSpeed",
                    "USBPortType",
                    "IOServiceDEXTEntitlements",
                ] {
                    holds(&format!("device key {key}"), dev.prop(key).is_some())?;
                }
                expect(
                    "device override",
                    dev.string("IOClassNameOverride"),
                    Some("IOUSBDevice"),
                )?;
                let i = of_class(&l, "IOUSBHostInterface")
                    .into_iter()
                    .find(|i| i.parent == Some(dev.id))
                    .ok_or("no interface")?;
                expect(
                    "interface override",
                    i.string("IOClassNameOverride"),
                    Some("IOUSBInterface"),
                )
            }),
        ),
        (
            "R7",
            Box::new(|| {
                let l = lab_of("scenarios/field-bugs/open-nub-kioreturnerror.yaml");
                let nub = l
                    .find(&Matching {
                        name: Some("DNPStatusNub".into()),
                        ..Matching::default()
                    })
                    .map_err(|e| e.to_string())?;
                let nub = nub.first().ok_or("no nub")?;
                expect(
                    "nub's parent",
                    l.entry(nub.parent.ok_or("no parent")?).map(|p| p.name).ok(),
                    Some("DNPPrinterDriver".to_string()),
                )
            }),
        ),
        (
            "R9",
            Box::new(|| {
                let l = lab_of("scenarios/smoke/ds620.yaml");
                let servers = of_class(&l, "IOUserServer");
                holds(
                    "several printers of one dext, several servers of one name",
                    servers.len() > 1,
                )?;
                let mut served = std::collections::BTreeSet::new();
                for s in &servers {
                    let tag = s.int("IOUserServerTag").ok_or("no IOUserServerTag")?;
                    expect(
                        "IOAssociatedServices",
                        s.prop("IOAssociatedServices"),
                        Some(&Prop::Array(vec![Prop::Int(tag)])),
                    )?;
                    let service = l
                        .entry(u64::try_from(tag).map_err(|e| e.to_string())?)
                        .map_err(|e| format!("the tag names no entry: {e}"))?;
                    expect(
                        "the tagged service's server name",
                        service.string("IOUserServerName"),
                        s.string("IOUserServerName"),
                    )?;
                    holds("one server per service", served.insert(service.id))?;
                }
                Ok(())
            }),
        ),
        (
            "R8",
            Box::new(|| {
                let l = lab_of("scenarios/sample/scalar.yaml");
                let svc = l.service_entry(None).ok_or("no service")?;
                let c = l
                    .open(&OpenRequest {
                        entry: svc.id,
                        open_type: 0,
                    })
                    .map_err(|e| e.to_string())?
                    .connection
                    .ok_or("no connection")?;
                let ucs = of_class(&l, "IOUserUserClient");
                let uc = ucs.first().ok_or("no user client while open")?;
                expect("its parent", uc.parent, Some(svc.id))?;
                expect("its name", uc.name.as_str(), "NullDriverUserClient")?;
                holds(
                    "creator",
                    uc.string("IOUserClientCreator")
                        .is_some_and(|c| c.ends_with(", dexthil")),
                )?;
                l.close(c).map_err(|e| e.to_string())?;
                expect("after close", of_class(&l, "IOUserUserClient").len(), 0)
            }),
        ),
    ]
}
