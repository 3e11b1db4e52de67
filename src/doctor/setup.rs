//! Checks on how the dext is installed and signed: its activation state and other system extensions
//! (`systemextensionsctl list`) and the entitlements of dext and host (codesign). Rules from reference §2.

use super::causes::{CauseKind, Finding, Strength};
use super::entitlements::{ALLOW_ANY, APP_SANDBOX, DRIVERKIT, Entitlements, USERCLIENT_ACCESS};
use super::matching::short;
use super::report::{Check, Status};
use super::sysext::{ACTIVATED_ENABLED, DRIVER_EXTENSION, ENDPOINT_SECURITY, SysextList};
use crate::lab::Prop;

pub const SYSEXT_FLAG: &str =
    "--sysext FILE: the output of `systemextensionsctl list > sysext.txt`";
pub const HOST_FLAG: &str = "--host-entitlements FILE: `codesign -d --entitlements - --xml /path/to/Host.app > host-entitlements.xml`";
pub const DEXT_FLAG: &str = "--dext-entitlements FILE: `codesign -d --entitlements - --xml /path/to/Host.app/Contents/Library/SystemExtensions/<bundle id>.dext > dext-entitlements.xml`";

const ACTIVATED: &str = "the dext is installed and activated";

pub fn activation_check(
    list: &SysextList,
    bundle: Option<&str>,
    found: &mut Vec<Finding>,
) -> Check {
    let rows: Vec<_> = list
        .drivers()
        .filter(|r| bundle.is_none_or(|b| r.bundle_id == b))
        .collect();
    if rows.is_empty() {
        let whose = bundle.unwrap_or("any dext");
        found.push(Finding::new(
            CauseKind::DextNotActivated,
            Strength::Confirmed,
            format!("{} lists no driver extension {whose}", list.source),
        ));
        return Check::new(
            "dext-activated",
            ACTIVATED,
            Status::Fail,
            format!("{} lists no driver extension for {whose}", list.source),
        )
        .action(CauseKind::DextNotActivated.action());
    }
    let mut c = match rows.iter().find(|r| r.state == ACTIVATED_ENABLED) {
        Some(r) => {
            found.push(Finding::new(
                CauseKind::DextNotActivated,
                Strength::RuledOut,
                r.label(),
            ));
            Check::new("dext-activated", ACTIVATED, Status::Pass, r.label())
        }
        None => {
            let r = rows[0];
            found.push(Finding::new(
                CauseKind::DextNotActivated,
                Strength::Confirmed,
                format!("{} (line {})", r.label(), r.line),
            ));
            let action = if r.state.contains("waiting for user") {
                "approve the dext in System Settings (Privacy & Security, or General > Login Items & Extensions > Driver Extensions)".to_string()
            } else {
                format!(
                    "the dext is [{}]: reboot if it waits for one, then activate it again from the host app",
                    r.state
                )
            };
            Check::new(
                "dext-activated",
                ACTIVATED,
                Status::Fail,
                format!(
                    "{} is [{}], not [{ACTIVATED_ENABLED}]",
                    r.bundle_id, r.state
                ),
            )
            .action(action)
        }
    };
    let failed = c.status == Status::Fail;
    for r in rows
        .iter()
        .filter(|r| r.state != ACTIVATED_ENABLED || failed)
    {
        c = c.evidence(format!("line {}: {}", r.line, r.label()));
    }
    if bundle.is_none() && rows.len() > 1 {
        c = c.evidence("several dexts are listed: give --bundle-id to pick yours");
    }
    c
}

const OTHERS: &str = "other system extensions that can refuse an open";

pub fn others_check(list: &SysextList, found: &mut Vec<Finding>) -> Check {
    let active = |r: &&super::sysext::SysextRow| r.state == ACTIVATED_ENABLED;
    let es: Vec<_> = list
        .rows
        .iter()
        .filter(|r| r.category == ENDPOINT_SECURITY)
        .filter(active)
        .collect();
    let others: Vec<_> = list
        .rows
        .iter()
        .filter(|r| r.category != ENDPOINT_SECURITY && r.category != DRIVER_EXTENSION)
        .filter(active)
        .collect();
    let mut c = if es.is_empty() {
        Check::new(
            "other-extensions",
            OTHERS,
            Status::Pass,
            "no EndpointSecurity client is active",
        )
    } else {
        for r in &es {
            found.push(Finding::new(
                CauseKind::Macf,
                Strength::Hint,
                format!("EndpointSecurity client active: {}", r.label()),
            ));
        }
        Check::new("other-extensions", OTHERS, Status::Warn, format!("{} EndpointSecurity client(s) active: a security product's MACF policy can refuse IOServiceOpen (kIOReturnNotPermitted)", es.len()))
            .action(CauseKind::Macf.action())
    };
    for r in es.iter().chain(&others) {
        c = c.evidence(format!("{} ({})", r.label(), r.category));
    }
    c
}

const DEXT_ENT: &str = "the dext's entitlements";

pub fn dext_entitlements_check(dext: &Entitlements) -> Check {
    let mut c = if dext.is_true(DRIVERKIT) {
        Check::new(
            "dext-entitlements",
            DEXT_ENT,
            Status::Pass,
            format!("{DRIVERKIT} = true"),
        )
    } else {
        Check::new("dext-entitlements", DEXT_ENT, Status::Fail, format!("{DRIVERKIT} is not true: this is not a DriverKit driver as signed"))
            .action("sign the dext with its .entitlements file (and a provisioning profile that grants DriverKit)")
    };
    c = c.evidence(format!("from {}", dext.source));
    if let Some(n) = &dext.note {
        c = c.evidence(n.clone());
    }
    if dext.has(ALLOW_ANY) {
        c = c.evidence(format!(
            "{ALLOW_ANY} present: any host may open its user clients"
        ));
    }
    c
}

const HOST_ENT: &str = "the host may open the dext (userclient-access)";

/// The §2 check (xnu iokit/Kernel/IOUserServer.cpp `IOUserServer::serviceNewUserClient`): allowed when the
/// dext has allow-any, or the host's userclient-access contains the service's CFBundleIdentifier as
/// `prop->iterateObjects` sees it: an array's elements, or a single string itself (libkern OSObject.cpp
/// `OSObject::iterateObjects` calls the block once on a non-collection), so one string equal to the bundle
/// id passes and a newline-joined string does not. allow-any on the host counts for nothing.
pub fn host_entitlements_check(
    host: &Entitlements,
    dext: Option<&Entitlements>,
    bundle: Option<&str>,
    found: &mut Vec<Finding>,
) -> Check {
    let dext_any = dext.map(|d| d.has(ALLOW_ANY));
    let host_any = host.has(ALLOW_ANY);
    let access = host.get(USERCLIENT_ACCESS);
    let mut evidence = vec![format!("from {}", host.source)];
    if let Some(n) = &host.note {
        evidence.push(n.clone());
    }
    if let Some(a) = access {
        evidence.push(format!("{USERCLIENT_ACCESS} = {}", short(a)));
    }
    let names = |b: &str| match access {
        Some(Prop::Array(items)) => items.iter().any(|i| i.as_str() == Some(b)),
        Some(Prop::Str(s)) => s == b,
        _ => false,
    };
    let listed = bundle.map(names);
    let joined = match access {
        Some(Prop::Str(s)) if s.contains('\n') => Some(s.clone()),
        _ => None,
    };
    let mut problems: Vec<(CauseKind, String)> = Vec::new();
    if let Some(s) = &joined {
        problems.push((
            CauseKind::UserClientAccessString,
            format!(
                "{USERCLIENT_ACCESS} is one newline-joined string ({s:?}): the kernel compares the whole string with the bundle id, and it equals none; an array of strings is the form to use"
            ),
        ));
    }
    if host_any && dext_any != Some(true) {
        problems.push((
            CauseKind::AllowAnyOnHostOnly,
            format!("{ALLOW_ANY} is on the host, where it has no effect (only the dext's counts)"),
        ));
    }
    if joined.is_none() && listed != Some(true) {
        let what = match (access, bundle) {
            (None, _) => format!("the host has no {USERCLIENT_ACCESS}"),
            (Some(_), Some(b)) => format!("{USERCLIENT_ACCESS} does not contain {b}"),
            (Some(_), None) => {
                "the dext's bundle id is unknown (give --bundle-id), so the array cannot be checked"
                    .to_string()
            }
        };
        problems.push((CauseKind::UserClientAccess, what));
    }
    let covered = dext_any == Some(true) || listed == Some(true);
    let kinds = [
        CauseKind::UserClientAccessString,
        CauseKind::AllowAnyOnHostOnly,
        CauseKind::UserClientAccess,
    ];
    if covered {
        let why = if listed == Some(true) {
            format!("{USERCLIENT_ACCESS} contains {}", bundle.unwrap_or("?"))
        } else {
            format!("the dext has {ALLOW_ANY}")
        };
        for k in kinds {
            found.push(Finding::new(k, Strength::RuledOut, why.clone()));
        }
        let mut c = Check::new("host-entitlements", HOST_ENT, Status::Pass, why);
        c.evidence = evidence;
        if matches!(access, Some(Prop::Str(_))) && listed == Some(true) {
            c = c.evidence("a single string equal to the bundle id passes (OSObject::iterateObjects on a non-collection); an array of strings is the documented form");
        }
        for (_, p) in problems
            .iter()
            .filter(|(k, _)| *k != CauseKind::UserClientAccess)
        {
            c = c.evidence(format!("harmless here, but wrong: {p}"));
        }
        return c;
    }
    // Not covered. Without the dext's entitlements, its allow-any could still save the open: warn.
    let status = if dext_any == Some(false) {
        Status::Fail
    } else {
        Status::Warn
    };
    let strength = if status == Status::Fail {
        Strength::Confirmed
    } else {
        Strength::Hint
    };
    for (i, (k, p)) in problems.iter().enumerate() {
        // The first problem is the one to fix; the generic "not listed" is only a hint beside a named one.
        let s = if i == 0 { strength } else { Strength::Hint };
        found.push(Finding::new(*k, s, p.clone()));
    }
    for k in kinds
        .into_iter()
        .filter(|k| problems.iter().all(|(p, _)| p != k))
    {
        found.push(Finding::new(
            k,
            Strength::RuledOut,
            format!("not the case in {}", host.source),
        ));
    }
    let summary = problems.first().map(|(_, p)| p.clone()).unwrap_or_default();
    let mut c = Check::new("host-entitlements", HOST_ENT, status, summary);
    c.evidence = evidence;
    for (_, p) in problems.iter().skip(1) {
        c = c.evidence(p.clone());
    }
    if dext_any.is_none() {
        c = c.evidence(format!("unless the dext has {ALLOW_ANY}: give {DEXT_FLAG}"));
    } else {
        c = c.evidence(format!("the dext has no {ALLOW_ANY}"));
    }
    let first = problems
        .first()
        .map(|(k, _)| *k)
        .unwrap_or(CauseKind::UserClientAccess);
    c.action(first.action())
}

pub fn sandbox_check(host: &Entitlements, found: &mut Vec<Finding>) -> Check {
    let t = "the host's sandbox";
    if host.is_true(APP_SANDBOX) {
        found.push(Finding::new(
            CauseKind::Sandbox,
            Strength::Hint,
            format!("the host has {APP_SANDBOX}"),
        ));
        Check::new("host-sandbox", t, Status::Warn, format!("{APP_SANDBOX} = true: the sandbox filter runs on open and may refuse it with its own code"))
            .action(CauseKind::Sandbox.action())
    } else {
        found.push(Finding::new(
            CauseKind::Sandbox,
            Strength::RuledOut,
            "the host is not sandboxed",
        ));
        Check::new("host-sandbox", t, Status::Pass, "the host is not sandboxed")
    }
}
