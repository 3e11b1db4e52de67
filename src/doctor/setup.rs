//! Checks on how the dext is installed and signed: its activation state and other system extensions
//! (`systemextensionsctl list`), the entitlements of dext and host (codesign), the captured kernel log,
//! and the failing code. Rules from reference §2.

use super::causes::{CauseKind, Finding, Strength};
use super::entitlements::{ALLOW_ANY, APP_SANDBOX, DRIVERKIT, Entitlements, USERCLIENT_ACCESS};
use super::logs::{LogScan, Refusal};
use super::matching::short;
use super::report::{Check, Status};
use super::sysext::{ACTIVATED_ENABLED, DRIVER_EXTENSION, ENDPOINT_SECURITY, SysextList};
use crate::ioreturn::{ReturnCode, code};
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

/// The §2 check: allowed when the dext has allow-any, or the host's userclient-access ARRAY contains the
/// service's CFBundleIdentifier. A string is not an array; allow-any on the host counts for nothing.
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
        _ => false,
    };
    let listed = bundle.map(names);
    let joined = match access {
        Some(Prop::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let mut problems: Vec<(CauseKind, String)> = Vec::new();
    if let Some(s) = &joined {
        let what = if s.contains('\n') {
            format!(
                "{USERCLIENT_ACCESS} is one newline-joined string ({:?}), not an array of strings: the kernel looks for an array element equal to the bundle id and finds none",
                s
            )
        } else {
            format!("{USERCLIENT_ACCESS} is a string ({s:?}), not an array of strings")
        };
        problems.push((CauseKind::UserClientAccessString, what));
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

/// `IOUserClientEntitlements` in `UserClientProperties` (the kernel reads it from the client, §2).
pub fn client_entitlements_check(
    ucp: Option<&Prop>,
    host: Option<&Entitlements>,
    found: &mut Vec<Finding>,
) -> Option<Check> {
    let t = "the user client's IOUserClientEntitlements";
    let want = ucp?.as_dict()?.get("IOUserClientEntitlements")?;
    let Some(host) = host else {
        return Some(Check::skipped(
            "user-client-entitlements",
            t,
            format!(
                "the user client requires {}; the host's entitlements were not given",
                short(want)
            ),
            HOST_FLAG,
        ));
    };
    let needed: Vec<&str> = match want {
        Prop::Str(s) => vec![s.as_str()],
        Prop::Dict(d) => d.keys().map(String::as_str).collect(),
        Prop::Array(a) => a.iter().filter_map(Prop::as_str).collect(),
        _ => vec![],
    };
    let missing: Vec<&str> = needed.iter().copied().filter(|k| !host.has(k)).collect();
    Some(if missing.is_empty() {
        found.push(Finding::new(
            CauseKind::UserClientEntitlements,
            Strength::RuledOut,
            "the host has them",
        ));
        Check::new(
            "user-client-entitlements",
            t,
            Status::Pass,
            format!("the host has {}", needed.join(", ")),
        )
    } else {
        found.push(Finding::new(
            CauseKind::UserClientEntitlements,
            Strength::Confirmed,
            format!("the host lacks {}", missing.join(", ")),
        ));
        Check::new(
            "user-client-entitlements",
            t,
            Status::Fail,
            format!(
                "the host lacks {}: the open answers kIOReturnNotPrivileged",
                missing.join(", ")
            ),
        )
        .action(CauseKind::UserClientEntitlements.action())
    })
}

const LOG: &str = "the dext's kernel log";

pub fn log_check(log: &LogScan, code: Option<ReturnCode>, found: &mut Vec<Finding>) -> Check {
    let first_refusal = log.refusals.first();
    if let Some((r, line)) = first_refusal {
        let kind = match r {
            Refusal::UserClientAccess => CauseKind::UserClientAccess,
            Refusal::MissingEntitlement => CauseKind::UserClientEntitlements,
            Refusal::Macf => CauseKind::Macf,
            Refusal::Sandbox => CauseKind::Sandbox,
        };
        let mut c = Check::new(
            "dext-log",
            LOG,
            Status::Fail,
            format!("the kernel refused the open: {}", line.text),
        );
        for (_, l) in &log.refusals {
            found.push(Finding::new(
                kind_of(l),
                Strength::Confirmed,
                format!("{}:{}: {}", log.source, l.line, l.text),
            ));
            c = c.evidence(format!("{}:{}: {}", log.source, l.line, l.text));
        }
        if let Some(b) = log.needed_bundle_id() {
            c = c.evidence(format!("the kernel needed bundle ID {b}"));
        }
        found.push(Finding::new(
            CauseKind::WrongObject,
            Strength::RuledOut,
            "the kernel's refusal names the dext's service: the right object was opened",
        ));
        return c.action(kind.action());
    }
    if let Some(l) = log.new_user_client.first() {
        found.push(Finding::new(
            CauseKind::WrongObject,
            Strength::RuledOut,
            format!("NewUserClient ran ({}:{})", log.source, l.line),
        ));
        if code == Some(ReturnCode(code::kIOReturnError)) {
            found.push(Finding::new(
                CauseKind::DextNewUserClient,
                Strength::Hint,
                format!(
                    "NewUserClient ran and no kernel refusal followed: {}",
                    l.text
                ),
            ));
        }
        let mut c = Check::new(
            "dext-log",
            LOG,
            Status::Pass,
            format!(
                "the open reached the dext's NewUserClient ({} line(s)); no kernel refusal",
                log.new_user_client.len()
            ),
        );
        for l in log.new_user_client.iter().chain(&log.dk).take(6) {
            c = c.evidence(format!("{}:{}: {}", log.source, l.line, l.text));
        }
        return c;
    }
    if !log.covers_open() {
        // A log of activation or matching says nothing about an open (issue 17): no conclusion from it.
        return Check::new(
            "dext-log",
            LOG,
            Status::Warn,
            format!(
                "{} does not cover an open: no line concerns one",
                log.source
            ),
        )
        .evidence(format!("{} line(s) read: {}", log.lines, log.covered()))
        .action("capture the log with the command below while the host opens the dext");
    }
    let why = format!(
        "{} has no NewUserClient line and no kernel refusal: the open never reached the dext",
        log.source
    );
    found.push(Finding::new(
        CauseKind::WrongObject,
        Strength::Hint,
        why.clone(),
    ));
    if code == Some(ReturnCode(code::kIOReturnNotPermitted)) {
        // mac_iokit_check_open_service runs before newUserClient (§2).
        found.push(Finding::new(CauseKind::Macf, Strength::Hint, why.clone()));
    }
    Check::new("dext-log", LOG, Status::Warn, why)
        .evidence(format!("{} line(s) read", log.lines))
        .action("make sure the log was captured with the command below while the host opened (and that the dext logs in NewUserClient)")
}

fn kind_of(l: &super::logs::LogLine) -> CauseKind {
    if l.text.contains("missing entitlement") {
        CauseKind::UserClientEntitlements
    } else if l.text.contains("failed MACF") {
        CauseKind::Macf
    } else if l.text.contains("failed sandbox") {
        CauseKind::Sandbox
    } else {
        CauseKind::UserClientAccess
    }
}
