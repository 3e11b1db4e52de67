//! The `host-matching` check: which object the host's matching dictionary selects, and what opening that
//! object answers, from the source (reference §2):
//! - a service the dext instantiated goes to `IOUserServer::serviceNewUserClient`, which runs the
//!   NewUserClient of that service's class; a class without the override answers kIOReturnError
//!   (`IOService::NewUserClient_Impl`, xnu iokit/Kernel/IOUserServer.cpp);
//! - any other object (the dext's `IOUserServer` above all) takes `IOService::newUserClient`'s generic path
//!   (xnu iokit/Kernel/IOService.cpp): no `IOUserClientClass`, kIOReturnUnsupported;
//! - an `IOUSBHostInterface` or `IOUSBHostDevice` is closed source (IOUSBHostFamily): what it answers is
//!   UNCONFIRMED, so the check says the object is wrong and gives no cause for the code.

use super::causes::{CauseKind, Finding, Strength};
use super::dext::DextBundle;
use super::dext_symbols::NEW_USER_CLIENT;
use super::matching::HostMatching;
use super::registry::{RegistryDump, bundle_of, is_dext_service, is_nub, label, stale_reason};
use super::report::{Check, Status};
use crate::lab::RegEntry;

const MATCHING: &str = "the object the host's matching selects";

pub fn host_matching_check(
    reg: &RegistryDump,
    m: &HostMatching,
    service: Option<&RegEntry>,
    dext: Option<&DextBundle>,
    found: &mut Vec<Finding>,
) -> Check {
    let hits: Vec<&RegEntry> = reg.entries.iter().filter(|e| m.matches(e)).collect();
    let dict = format!("{} ({})", m.text, m.source);
    let Some(first) = hits.first().copied() else {
        return Check::new("host-matching", MATCHING, Status::Fail, "the matching selects no entry: IOServiceGetMatchingServices returns an empty iterator, so the host opens nothing (or a null object)")
            .evidence(format!("matching: {dict}"))
            .action(CauseKind::NotADextService.action());
    };
    let mut c = Check::new(
        "host-matching",
        MATCHING,
        Status::Pass,
        format!("the first match is {}", label(first)),
    )
    .evidence(format!("matching: {dict}"));
    for h in hits.iter().skip(1).take(4) {
        c = c.evidence(format!("also matches: {}", label(h)));
    }
    let selects = format!(
        "the host's matching ({}) selects {}",
        m.source,
        label(first)
    );
    let fail = |mut c: Check, what: String| {
        c.status = Status::Fail;
        c.summary = format!("the first match is {}: {what}", label(first));
        if let Some(s) = service.filter(|s| s.id != first.id) {
            c = c.evidence(format!(
                "the dext's service to open is {} (it has UserClientProperties)",
                label(s)
            ));
        }
        c
    };
    if service.is_some_and(|s| s.id == first.id) {
        found.push(Finding::new(
            CauseKind::NotADextService,
            Strength::RuledOut,
            format!(
                "the host's matching selects the dext's service {}",
                first.path
            ),
        ));
        found.push(Finding::new(
            CauseKind::StaleEntry,
            Strength::RuledOut,
            format!("the first match {} is current", first.path),
        ));
        override_evidence(first, dext, found);
        return c;
    }
    if first.conforms_to("IOUserServer") {
        let what = "the dext's IOUserServer, not a service the dext instantiated: IOService::newUserClient takes the generic path, finds no IOUserClientClass and answers kIOReturnUnsupported; the dext's NewUserClient never runs".to_string();
        found.push(Finding::new(
            CauseKind::NotADextService,
            Strength::Confirmed,
            format!("{selects}: {what}"),
        ));
        return fail(c, what).action(CauseKind::NotADextService.action());
    }
    if first.conforms_to("IOUSBHostInterface") || first.conforms_to("IOUSBHostDevice") {
        // Closed source: no cause is claimed for the code (reference §2: UNCONFIRMED).
        let what = format!(
            "Apple's {} (closed-source IOUSBHostFamily), not the dext's service: its own USB user client answers (UNCONFIRMED what), never the dext's NewUserClient, so doctor does not use it to explain the code",
            first.class
        );
        return fail(c, what).action(CauseKind::NotADextService.action());
    }
    if is_dext_service(first) {
        if let Some(why) = stale_reason(first, reg) {
            found.push(Finding::new(
                CauseKind::StaleEntry,
                Strength::Confirmed,
                format!("{selects}: {why}"),
            ));
            c.status = Status::Fail;
            c.summary = format!("the first match is a stale service: {why}");
            return c.action(CauseKind::StaleEntry.action());
        }
        let ours = service.is_some_and(|s| bundle_of(s) == bundle_of(first));
        if !ours {
            return fail(c, "a service of another dext".to_string());
        }
        let class = first.string("IOUserClass").unwrap_or("?");
        let kind = if is_nub(first, reg) {
            "a nub the dext published (a service it created below its own)"
        } else {
            "another service of the dext"
        };
        let what = format!(
            "{kind}, of class {class}, without UserClientProperties: the kernel runs {class}'s NewUserClient, and without an override the base answers kIOReturnError"
        );
        match override_evidence(first, dext, found) {
            Some(true) => c,
            Some(false) => fail(c, what).action(CauseKind::NoNewUserClientOverride.action()),
            // A service with UserClientProperties is most likely one whose class creates the user client.
            None if first.prop("UserClientProperties").is_some() => c,
            None => {
                found.push(Finding::new(
                    CauseKind::NoNewUserClientOverride,
                    Strength::Hint,
                    format!(
                        "{selects}: {what} (give --dext PATH to read which classes override it)"
                    ),
                ));
                fail(c, what).action(CauseKind::NoNewUserClientOverride.action())
            }
        }
    } else {
        let what = format!(
            "a {} entry, not a service the dext instantiated: unless its class overrides newUserClient, the generic path answers kIOReturnUnsupported",
            first.class
        );
        if first.prop("IOUserClientClass").is_none() {
            found.push(Finding::new(
                CauseKind::NotADextService,
                Strength::Hint,
                format!("{selects}: {what}"),
            ));
        }
        fail(c, what).action(CauseKind::NotADextService.action())
    }
}

/// What the dext's symbols say about the NewUserClient override of `entry`'s class: `Some(true)` it has
/// one, `Some(false)` it has none (a confirmed cause), `None` no symbols to tell.
fn override_evidence(
    entry: &RegEntry,
    dext: Option<&DextBundle>,
    found: &mut Vec<Finding>,
) -> Option<bool> {
    let symbols = &dext?.executable.as_ref()?.symbols;
    if symbols.stripped() {
        return None;
    }
    let class = entry.string("IOUserClass")?;
    if symbols.defines(class, NEW_USER_CLIENT) {
        found.push(Finding::new(
            CauseKind::NoNewUserClientOverride,
            Strength::RuledOut,
            format!(
                "{class} (the class of {}) defines {NEW_USER_CLIENT}",
                entry.name
            ),
        ));
        return Some(true);
    }
    let with = symbols.classes_with(NEW_USER_CLIENT);
    let others = if with.is_empty() {
        "no class of the dext defines it".to_string()
    } else {
        format!("{} does", with.join(", "))
    };
    found.push(Finding::new(
        CauseKind::NoNewUserClientOverride,
        Strength::Confirmed,
        format!(
            "the host opens {} of class {class}, and {class} defines no {NEW_USER_CLIENT} in the dext's executable; {others}",
            entry.name
        ),
    ));
    Some(false)
}
