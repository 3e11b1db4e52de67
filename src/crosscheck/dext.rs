//! Dext rules: the driver file's service on the printer, as reference §5 shapes it. A service whose
//! `IOUserClass` is the driver's sits under the interface the driver matches on; its `IOMatchedPersonality`
//! names the device's ids; `CFBundleIdentifier` and `IOUserServerName` are the driver's; it carries
//! `UserClientProperties` with `IOClass = IOUserUserClient` (without them `IOServiceOpen` answers
//! kIOReturnBadArgument, reference §2); and exactly one `IOUserServer` has the driver's server name.
//!
//! The "usb" side of these findings is what the driver file and the device say.

use super::{Findings, RegistrySide, RegistryValue, UsbValue};
use crate::driver::{Driver, Provider};
use crate::lab::{Prop, RegEntry, UsbView};

fn interface_number(reg: &RegistrySide<'_>, service: &RegEntry) -> Option<i128> {
    let parent = service.parent?;
    reg.interfaces
        .iter()
        .find(|i| i.id == parent)?
        .int("bInterfaceNumber")
}

fn personality_rule(
    out: &mut Findings,
    field: &str,
    service: &RegEntry,
    key: &'static str,
    want: u16,
) {
    let got = service
        .prop("IOMatchedPersonality")
        .and_then(Prop::as_dict)
        .and_then(|d| d.get(key));
    let registry = match got {
        Some(Prop::Int(v)) if *v == i128::from(want) => return out.agree(field),
        Some(Prop::Int(v)) => RegistryValue::Value(format!("0x{v:04x}")),
        Some(p) => RegistryValue::Value(format!("{p:?} (not a number)")),
        None => RegistryValue::Absent {
            keys: vec![if key == "idVendor" {
                "IOMatchedPersonality.idVendor"
            } else {
                "IOMatchedPersonality.idProduct"
            }],
        },
    };
    out.push(field, UsbValue::Value(format!("0x{want:04x}")), registry);
}

fn string_rule(out: &mut Findings, field: &str, service: &RegEntry, key: &'static str, want: &str) {
    let registry = match service.prop(key) {
        Some(Prop::Str(s)) if s == want => return out.agree(field),
        Some(Prop::Str(s)) => RegistryValue::Value(format!("{s:?}")),
        Some(p) => RegistryValue::Value(format!("{p:?} (not a string)")),
        None => RegistryValue::Absent { keys: vec![key] },
    };
    out.push(field, UsbValue::Value(format!("{want:?}")), registry);
}

fn user_client_properties_rule(out: &mut Findings, service: &RegEntry) {
    let field = "dext.user_client_properties";
    let registry = match service.prop("UserClientProperties") {
        None => RegistryValue::Absent {
            keys: vec!["UserClientProperties"],
        },
        Some(Prop::Dict(d)) => match d.get("IOClass") {
            Some(Prop::Str(c)) if c == "IOUserUserClient" => return out.agree(field),
            Some(p) => RegistryValue::Value(format!("IOClass = {p:?}")),
            None => RegistryValue::Value("a dictionary without IOClass".into()),
        },
        Some(p) => RegistryValue::Value(format!("{p:?} (not a dictionary)")),
    };
    out.push(
        field,
        UsbValue::Value("UserClientProperties with IOClass = IOUserUserClient".into()),
        registry,
    );
}

/// Each matched instance of a dext runs in a server of its own, so with several printers there are several
/// servers of one name. The ones that count are those tied to this printer's service, as
/// `ops::service::user_server` ties them: its registry id in their `IOAssociatedServices`, or as their
/// `IOUserServerTag`; when no server of that name carries either key, every server of that name counts.
fn user_server_rule(
    out: &mut Findings,
    reg: &RegistrySide<'_>,
    driver: &Driver,
    service: Option<u64>,
) {
    let mut named: Vec<&RegEntry> = reg
        .user_servers
        .iter()
        .filter(|s| s.string("IOUserServerName") == Some(driver.server_name.as_str()))
        .collect();
    let keyed = named.iter().any(|s| s.has_server_tie_keys());
    if let (Some(id), true) = (service, keyed) {
        named.retain(|s| s.serves_by_association(id) || s.serves_by_tag(id));
    }
    let registry = match named.as_slice() {
        [_] => return out.agree("dext.user_server_count"),
        [] => RegistryValue::Missing(format!("IOUserServer named {}", driver.server_name)),
        many => RegistryValue::Value(format!(
            "{} ({})",
            many.len(),
            many.iter()
                .map(|s| s.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    };
    out.push(
        "dext.user_server_count",
        UsbValue::Value(format!("1 IOUserServer named {}", driver.server_name)),
        registry,
    );
}

/// Every dext rule. A driver matched on `IOUserResources` has no service on the printer: only its server
/// is checked.
pub(crate) fn check(view: &UsbView, reg: RegistrySide<'_>, driver: &Driver, out: &mut Findings) {
    let Provider::UsbInterface { interface, .. } = &driver.provider else {
        user_server_rule(out, &reg, driver, None);
        return;
    };
    let want = i128::from(*interface);
    let ours: Vec<&RegEntry> = reg
        .services
        .iter()
        .filter(|s| s.string("IOUserClass") == Some(driver.user_class.as_str()))
        .collect();
    let service = ours
        .iter()
        .find(|s| interface_number(&reg, s) == Some(want))
        .or(ours.first());
    let expected = UsbValue::Value(format!(
        "a {} service under interface {interface}",
        driver.user_class
    ));
    user_server_rule(out, &reg, driver, service.map(|s| s.id));
    let Some(service) = service else {
        out.push(
            "dext.under_interface",
            expected,
            RegistryValue::Missing(format!(
                "service with IOUserClass {} under any interface of the device",
                driver.user_class
            )),
        );
        return;
    };
    match interface_number(&reg, service) {
        Some(n) if n == want => out.agree("dext.under_interface"),
        other => out.push(
            "dext.under_interface",
            expected,
            RegistryValue::Value(format!(
                "{} under interface {}",
                service.path,
                other.map_or("?".to_string(), |n| n.to_string())
            )),
        ),
    }
    personality_rule(out, "dext.vendor", service, "idVendor", view.vendor_id);
    personality_rule(out, "dext.product", service, "idProduct", view.product_id);
    string_rule(
        out,
        "dext.bundle_id",
        service,
        "CFBundleIdentifier",
        &driver.bundle_id,
    );
    string_rule(
        out,
        "dext.server_name",
        service,
        "IOUserServerName",
        &driver.server_name,
    );
    user_client_properties_rule(out, service);
}

#[cfg(test)]
mod tests {
    use super::super::{Finding, FindingKind};
    use super::*;
    use crate::testkit::crosscheck::{clean, driver, view};

    type Reg = (RegEntry, Vec<RegEntry>, Vec<RegEntry>, Vec<RegEntry>);

    fn run(r: &Reg) -> Vec<Finding> {
        let mut out = Findings::default();
        let side = RegistrySide {
            device: &r.0,
            interfaces: &r.1,
            services: &r.2,
            user_servers: &r.3,
        };
        check(&view(), side, &driver(), &mut out);
        out.findings
    }

    #[test]
    fn the_clean_dext_agrees() {
        assert_eq!(run(&clean()), vec![]);
    }

    #[test]
    fn each_planted_mismatch_is_named_with_both_sides() {
        type Plant = fn(&mut Reg);
        let cases: &[(&str, Plant, &str, &str)] = &[
            (
                "service under interface 1",
                |r| {
                    let mut second = r.1[0].clone();
                    second.id = 99;
                    second.path =
                        "IOService:/AppleARMPE/DS620@01120000/IOUSBHostInterface@1".into();
                    second
                        .properties
                        .insert("bInterfaceNumber".into(), Prop::Int(1));
                    r.1.push(second);
                    r.2[0].parent = Some(99);
                },
                "dext.under_interface",
                "under interface 1",
            ),
            (
                "two IOUserServers",
                |r| {
                    let mut twin = r.3[0].clone();
                    twin.path.push_str("-twin");
                    r.3.push(twin);
                },
                "dext.user_server_count",
                "2 (",
            ),
            (
                "no IOUserServer",
                |r| r.3.clear(),
                "dext.user_server_count",
                "no IOUserServer named",
            ),
            (
                "missing UserClientProperties",
                |r| {
                    r.2[0].properties.remove("UserClientProperties");
                },
                "dext.user_client_properties",
                "no `UserClientProperties` key",
            ),
            (
                "UserClientProperties with the wrong IOClass",
                |r| {
                    r.2[0].properties.insert(
                        "UserClientProperties".into(),
                        Prop::Dict(
                            [("IOClass".to_string(), Prop::Str("IOUserClient".into()))].into(),
                        ),
                    );
                },
                "dext.user_client_properties",
                "IOClass = Str(\"IOUserClient\")",
            ),
            (
                "personality for another printer",
                |r| {
                    if let Some(Prop::Dict(d)) = r.2[0].properties.get_mut("IOMatchedPersonality") {
                        d.insert("idProduct".into(), Prop::Int(0x9001));
                    }
                },
                "dext.product",
                "0x9001",
            ),
            (
                "another bundle id",
                |r| {
                    r.2[0]
                        .properties
                        .insert("CFBundleIdentifier".into(), Prop::Str("com.x".into()));
                },
                "dext.bundle_id",
                "\"com.x\"",
            ),
            (
                "another server name",
                |r| {
                    r.2[0]
                        .properties
                        .insert("IOUserServerName".into(), Prop::Str("com.x".into()));
                },
                "dext.server_name",
                "\"com.x\"",
            ),
            (
                "no service",
                |r| r.2.clear(),
                "dext.under_interface",
                "no service with IOUserClass DNPPrinterDriver",
            ),
        ];
        for (what, plant, field, registry) in cases {
            let mut r = clean();
            plant(&mut r);
            let found = run(&r);
            assert_eq!(found.len(), 1, "{what}: {found:?}");
            assert_eq!(found[0].field, *field, "{what}");
            assert!(
                found[0].registry.to_string().contains(registry),
                "{what}: {}",
                found[0]
            );
        }
    }

    #[test]
    fn servers_of_other_printers_do_not_count() {
        let mut r = clean();
        let mut other = r.3[0].clone();
        other.id += 100;
        // Another printer's server: tied to that printer's service by both keys, as xnu publishes them.
        other.properties.insert(
            "IOAssociatedServices".into(),
            Prop::Array(vec![Prop::Int(0x1_0000_0b12)]),
        );
        other
            .properties
            .insert("IOUserServerTag".into(), Prop::Int(0x1_0000_0b12));
        r.3.push(other);
        assert_eq!(run(&r), vec![]);
    }

    /// A registry whose servers carry only `IOUserServerTag` (the service's registry id): the other
    /// printer's server, tagged with its own service, does not count against this one.
    #[test]
    fn servers_tied_by_tag_alone_count_only_for_their_own_service() {
        let mut r = clean();
        r.3[0].properties.remove("IOAssociatedServices");
        let mut other = r.3[0].clone();
        other.id += 100;
        other.path.push_str("-other");
        other
            .properties
            .insert("IOUserServerTag".into(), Prop::Int(0x1_0000_0b12));
        r.3.push(other);
        assert_eq!(run(&r), vec![]);
        // Untied from this printer's service, its own server is missing, not agreeing.
        r.3[0]
            .properties
            .insert("IOUserServerTag".into(), Prop::Int(0x1_0000_0c12));
        let found = run(&r);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, "dext.user_server_count");
    }

    #[test]
    fn a_missing_object_is_an_absence_not_a_difference() {
        let mut r = clean();
        r.3.clear();
        assert_eq!(run(&r)[0].kind(), FindingKind::AbsentInRegistry);
    }
}
