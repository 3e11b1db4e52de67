//! The `dext-log` check: what a captured kernel log says about an open, read as xnu prints it (reference
//! §2): the dext's own NewUserClient breadcrumbs (did the open reach the dext?), and the kernel's refusals:
//! `DKLOG(DKS ":UC ...")` lines of `IOUserServer::serviceNewUserClient` (xnu iokit/Kernel/IOUserServer.cpp),
//! named after the *user client* (`DKS` is `"%s-0x%qx"`: its IOUserClass and registry id), and the
//! `IOUC %s ... in process %s` lines of `is_io_service_open_extended` (xnu iokit/Kernel/IOUserClient.cpp).

use super::causes::{CauseKind, Finding, Strength};
use super::logs::{LogLine, LogScan};
use super::report::{Check, Status};
use crate::ioreturn::{ReturnCode, code};
use crate::lab::RegEntry;

const LOG: &str = "the dext's kernel log";

/// `service`: the service the host opens, when the registry and the matching say which.
pub fn log_check(
    log: &LogScan,
    code: Option<ReturnCode>,
    service: Option<&RegEntry>,
    found: &mut Vec<Finding>,
) -> Check {
    let at = |l: &LogLine| format!("{}:{}: {}", log.source, l.line, l.text);
    if let Some((_, first)) = log.refusals.first() {
        let mut c = Check::new(
            "dext-log",
            LOG,
            Status::Fail,
            format!("the kernel refused the open: {}", first.text),
        );
        let lines: Vec<&LogLine> = log.refusals.iter().map(|(_, l)| l).collect();
        // "failed userclient-access check" is logged only when the entitlement or the bundle id is absent;
        // "UC entitlements check failed" follows every refusal (xnu IOUserServer::serviceNewUserClient).
        let access_absent = lines.iter().any(|l| l.text.contains(ACCESS_ABSENT));
        for l in &lines {
            c = c.evidence(at(l));
            let (kind, strength) = if l.text.contains(ACCESS_ABSENT) {
                (CauseKind::UserClientAccess, Strength::Confirmed)
            } else if l.text.contains(ENTITLEMENTS_FAILED) {
                if access_absent {
                    continue;
                }
                // A present userclient-access that does not match, or IOServiceDEXTEntitlements not held.
                for k in [
                    CauseKind::UserClientAccessString,
                    CauseKind::DextEntitlements,
                ] {
                    found.push(Finding::new(k, Strength::Hint, format!("{} (no \"{ACCESS_ABSENT}\" line: a userclient-access value is present but does not match, or IOServiceDEXTEntitlements is not held)", at(l))));
                }
                (CauseKind::UserClientAccess, Strength::Hint)
            } else if l.text.contains("missing entitlement") {
                (CauseKind::UserClientEntitlements, Strength::Confirmed)
            } else if l.text.contains("failed MACF") {
                (CauseKind::Macf, Strength::Confirmed)
            } else {
                (CauseKind::Sandbox, Strength::Confirmed)
            };
            found.push(Finding::new(kind, strength, at(l)));
        }
        if let Some(b) = log.needed_bundle_id() {
            c = c.evidence(format!("the kernel needed bundle ID {b}"));
        }
        if let Some((class, process)) = lines.iter().find_map(|l| iouc_parts(&l.text)) {
            c = c.evidence(format!(
                "the kernel's user client class is {class}; the process refused: {process}"
            ));
        }
        // Every refusal line is logged after the user client was created: the dext's NewUserClient ran.
        let why = match lines.iter().find_map(|l| user_client_name(&l.text)) {
            Some(uc) => format!(
                "the kernel names the user client {uc}: the dext's NewUserClient created it"
            ),
            None => {
                "the kernel refused a user client that was created: the dext's NewUserClient ran"
                    .to_string()
            }
        };
        c = c.evidence(why.clone());
        for k in [
            CauseKind::NotADextService,
            CauseKind::NoNewUserClientOverride,
        ] {
            found.push(Finding::new(k, Strength::RuledOut, why.clone()));
        }
        let kind = found
            .iter()
            .rev()
            .find(|f| f.strength == Strength::Confirmed)
            .map(|f| f.kind)
            .unwrap_or(CauseKind::UserClientAccess);
        return c.action(kind.action());
    }
    if let Some(l) = log.new_user_client.first() {
        for k in [
            CauseKind::NotADextService,
            CauseKind::NoNewUserClientOverride,
        ] {
            found.push(Finding::new(
                k,
                Strength::RuledOut,
                format!("NewUserClient ran ({}:{})", log.source, l.line),
            ));
        }
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
            c = c.evidence(at(l));
        }
        return c;
    }
    if !log.covers_open() {
        // A log of activation or matching says nothing about an open (issue 17): no conclusion from it.
        return Check::new(
            "dext-log",
            LOG,
            Status::Warn,
            format!("{} does not cover an open: no line concerns one", log.source),
        )
        .evidence(format!("{} line(s) read: {}", log.lines, log.covered()))
        .action("capture the log with the command below while the host opens the dext");
    }
    let why = format!(
        "{} has no NewUserClient line of the dext's and no kernel refusal: the dext's NewUserClient never ran",
        log.source
    );
    match code.map(|c| c.0) {
        Some(code::kIOReturnError) => {
            let what = match service.and_then(|s| Some((s, s.string("IOUserClass")?))) {
                Some((s, class)) => format!(
                    "{why}; the open reached {} (class {class}); if {class} does not override NewUserClient, the base answered (give --dext PATH to read which classes do)",
                    s.name
                ),
                None => why.clone(),
            };
            found.push(Finding::new(
                CauseKind::NoNewUserClientOverride,
                Strength::Hint,
                what,
            ))
        }
        Some(code::kIOReturnUnsupported) => found.push(Finding::new(
            CauseKind::NotADextService,
            Strength::Hint,
            why.clone(),
        )),
        // mac_iokit_check_open_service runs before newUserClient (is_io_service_open_extended).
        Some(code::kIOReturnNotPermitted) => {
            found.push(Finding::new(CauseKind::Macf, Strength::Hint, why.clone()))
        }
        _ => {}
    }
    Check::new("dext-log", LOG, Status::Warn, why)
        .evidence(format!("{} line(s) read", log.lines))
        .action("make sure the log was captured with the command below while the host opened (and that the dext logs in NewUserClient)")
}

/// xnu's `DKLOG(DKS ":UC failed userclient-access check, needed bundle ID %s\n", DKN(userUC), ...)`.
const ACCESS_ABSENT: &str = "UC failed userclient-access check, needed bundle ID";
/// xnu's `DKLOG(DKS ":UC entitlements check failed\n", DKN(userUC))`.
const ENTITLEMENTS_FAILED: &str = "UC entitlements check failed";

/// `DNPPrinterUserClient-0x100000b20` from a `DKS ":UC ..."` line (`DKS` is `"%s-0x%qx"`: the user client's
/// name, its IOUserClass, and registry id).
fn user_client_name(text: &str) -> Option<&str> {
    let end = text.find(":UC ")?;
    let start = text[..end].rfind(' ').map_or(0, |i| i + 1);
    let name = &text[start..end];
    name.contains("-0x").then_some(name)
}

/// (`IOUserUserClient`, `pid 812, DNPPrinterHost`) from `IOUC %s <what> in process %s` (xnu
/// `is_io_service_open_extended`: the kernel class name, and `IOCopyLogNameForPID`'s `pid <n>, <name>`).
fn iouc_parts(text: &str) -> Option<(&str, &str)> {
    let rest = &text[text.find("IOUC ")? + "IOUC ".len()..];
    let class = rest.split_whitespace().next()?;
    let process = rest.split_once(" in process ")?.1.trim();
    Some((class, process))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xnu_log_lines_give_the_user_client_and_the_process() {
        assert_eq!(
            user_client_name(
                "kernel: DK: DNPPrinterUserClient-0x100000b20:UC entitlements check failed"
            ),
            Some("DNPPrinterUserClient-0x100000b20")
        );
        assert_eq!(user_client_name("kernel: DNPPrinterDriver: Start"), None);
        assert_eq!(
            iouc_parts(
                "kernel: IOUC IOUserUserClient missing entitlement in process pid 812, DNPPrinterHost"
            ),
            Some(("IOUserUserClient", "pid 812, DNPPrinterHost"))
        );
    }

    #[test]
    fn an_access_list_that_does_not_match_is_not_read_as_an_absent_one() {
        // Without "failed userclient-access check" the list was present: a hint, never a confirmation.
        let log = crate::doctor::logs::scan(
            "log.txt",
            "kernel: DK: DNPPrinterUserClient-0x100000b20:UC entitlements check failed\n",
        );
        let mut found = Vec::new();
        let c = log_check(&log, None, None, &mut found);
        assert_eq!(c.status, Status::Fail);
        assert!(
            found
                .iter()
                .filter(|f| f.kind == CauseKind::UserClientAccess)
                .all(|f| f.strength == Strength::Hint),
            "{found:?}"
        );
        assert!(found.iter().any(|f| f.kind == CauseKind::DextEntitlements));
    }
}
