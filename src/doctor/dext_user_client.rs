//! Checks on the entitlement keys the dext's user client carries (its `UserClientProperties`, which
//! `IOService::Create_Impl` copies into the user client's properties), against the host's entitlements:
//! - `IOServiceDEXTEntitlements`: `IOUserServer::serviceNewUserClient` → `IOUserServer::checkEntitlements`
//!   (xnu iokit/Kernel/IOUserServer.cpp): an array of arrays; the host must hold every entitlement of at
//!   least one inner array (an element that is a string is iterated as itself, so it counts as a one-element
//!   array); failing answers kIOReturnNotPermitted.
//! - `IOUserClientEntitlements`: `is_io_service_open_extended` (xnu iokit/Kernel/IOUserClient.cpp): an
//!   OSString names the entitlement the task must hold (else kIOReturnNotPrivileged), boolean false allows;
//!   any other value is not meaningful.

use super::causes::{CauseKind, Finding, Strength};
use super::entitlements::Entitlements;
use super::matching::short;
use super::report::{Check, Status};
use super::setup::HOST_FLAG;
use crate::lab::Prop;

pub const DEXT_ENTITLEMENTS_KEY: &str = "IOServiceDEXTEntitlements";
pub const CLIENT_ENTITLEMENTS_KEY: &str = "IOUserClientEntitlements";

/// `IOUserClientEntitlements` in `UserClientProperties`.
pub fn client_entitlements_check(
    ucp: Option<&Prop>,
    host: Option<&Entitlements>,
    found: &mut Vec<Finding>,
) -> Option<Check> {
    let t = "the user client's IOUserClientEntitlements";
    let want = ucp?.as_dict()?.get(CLIENT_ENTITLEMENTS_KEY)?;
    let id = "user-client-entitlements";
    let needed = match want {
        Prop::Bool(false) => {
            found.push(Finding::new(
                CauseKind::UserClientEntitlements,
                Strength::RuledOut,
                "IOUserClientEntitlements = false: any task may open",
            ));
            return Some(Check::new(
                id,
                t,
                Status::Pass,
                "IOUserClientEntitlements = false: the kernel allows any task",
            ));
        }
        Prop::Str(s) => s.as_str(),
        other => {
            let text = format!(
                "IOUserClientEntitlements = {}: only a string (the entitlement the host must hold) or boolean false means something to is_io_service_open_extended",
                short(other)
            );
            found.push(Finding::new(
                CauseKind::UserClientEntitlements,
                Strength::Confirmed,
                text.clone(),
            ));
            return Some(Check::new(id, t, Status::Fail, text).action(
                "set IOUserClientEntitlements to the entitlement's name (a string) or to false",
            ));
        }
    };
    let Some(host) = host else {
        return Some(Check::skipped(
            id,
            t,
            format!("the user client requires {needed}; the host's entitlements were not given"),
            HOST_FLAG,
        ));
    };
    Some(if host.has(needed) {
        found.push(Finding::new(
            CauseKind::UserClientEntitlements,
            Strength::RuledOut,
            format!("the host has {needed}"),
        ));
        Check::new(id, t, Status::Pass, format!("the host has {needed}"))
    } else {
        found.push(Finding::new(
            CauseKind::UserClientEntitlements,
            Strength::Confirmed,
            format!("the host lacks {needed} ({})", host.source),
        ));
        Check::new(
            id,
            t,
            Status::Fail,
            format!("the host lacks {needed}: the open answers kIOReturnNotPrivileged"),
        )
        .action(CauseKind::UserClientEntitlements.action())
    })
}

/// Whether `host` holds one inner list of `lists`, as `IOUserServer::checkEntitlements` iterates it.
fn holds_one(lists: &[Prop], host: &Entitlements) -> bool {
    lists.iter().any(|inner| {
        let names: Vec<&Prop> = match inner {
            Prop::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        // The kernel's inner loop leaves "all present" false for an empty array.
        !names.is_empty()
            && names
                .iter()
                .all(|n| n.as_str().is_some_and(|k| host.has(k)))
    })
}

/// `IOServiceDEXTEntitlements` in `UserClientProperties`: the second check of `serviceNewUserClient`.
pub fn dext_entitlements_check(
    ucp: Option<&Prop>,
    host: Option<&Entitlements>,
    found: &mut Vec<Finding>,
) -> Option<Check> {
    let t = "the user client's IOServiceDEXTEntitlements";
    let id = "user-client-dext-entitlements";
    let Some(want) = ucp
        .and_then(Prop::as_dict)
        .and_then(|d| d.get(DEXT_ENTITLEMENTS_KEY))
    else {
        if ucp.is_some() {
            found.push(Finding::new(
                CauseKind::DextEntitlements,
                Strength::RuledOut,
                "UserClientProperties has no IOServiceDEXTEntitlements: checkEntitlements passes",
            ));
        }
        return None;
    };
    let Some(host) = host else {
        return Some(Check::skipped(
            id,
            t,
            format!(
                "the user client requires one of {}; the host's entitlements were not given",
                short(want)
            ),
            HOST_FLAG,
        ));
    };
    let lists: Vec<Prop> = match want {
        Prop::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    Some(if holds_one(&lists, host) {
        found.push(Finding::new(
            CauseKind::DextEntitlements,
            Strength::RuledOut,
            format!("the host holds one list of {}", short(want)),
        ));
        Check::new(
            id,
            t,
            Status::Pass,
            format!("the host holds one list of {}", short(want)),
        )
    } else {
        let text = format!(
            "the host holds no complete list of {DEXT_ENTITLEMENTS_KEY} = {} ({})",
            short(want),
            host.source
        );
        found.push(Finding::new(
            CauseKind::DextEntitlements,
            Strength::Confirmed,
            text.clone(),
        ));
        Check::new(
            id,
            t,
            Status::Fail,
            format!("{text}: the open answers kIOReturnNotPermitted"),
        )
        .action(CauseKind::DextEntitlements.action())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn host(keys: &[&str]) -> Entitlements {
        Entitlements {
            source: "host.xml".into(),
            values: keys
                .iter()
                .map(|k| (k.to_string(), Prop::Bool(true)))
                .collect::<BTreeMap<_, _>>(),
            note: None,
        }
    }

    fn s(v: &str) -> Prop {
        Prop::Str(v.into())
    }

    #[test]
    fn one_inner_array_fully_held_is_enough_and_a_partial_one_is_not() {
        let lists = vec![Prop::Array(vec![s("a"), s("b")]), Prop::Array(vec![s("c")])];
        assert!(holds_one(&lists, &host(&["c"])));
        assert!(holds_one(&lists, &host(&["a", "b"])));
        assert!(!holds_one(&lists, &host(&["a"])));
        // A flat string element is iterated as itself; an empty inner array holds nothing.
        assert!(holds_one(&[s("a")], &host(&["a"])));
        assert!(!holds_one(&[Prop::Array(vec![])], &host(&["a"])));
    }

    #[test]
    fn a_dictionary_of_client_entitlements_is_not_meaningful() {
        let ucp = Prop::Dict(BTreeMap::from([(
            CLIENT_ENTITLEMENTS_KEY.to_string(),
            Prop::Dict(BTreeMap::from([("x".to_string(), Prop::Bool(true))])),
        )]));
        let mut found = Vec::new();
        let c = client_entitlements_check(Some(&ucp), Some(&host(&["x"])), &mut found).unwrap();
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert_eq!(found[0].strength, Strength::Confirmed);
    }
}
