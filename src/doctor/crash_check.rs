//! Doctor's checks on two attachments read by this side of doctor: a crash report (whose process it is,
//! what killed it, the top of the crashed thread, and whether it is the dext the other inputs name), and
//! entitlement keys one edit away from a real DriverKit key (the kernel reads only the exact spelling, so
//! `user-client-access` is the same as no key at all).

use super::entitlements::{Entitlements, near_misses};
use super::report::{Check, Status};
use crate::logs::CrashReport;

const CRASH: &str = "a crash report of the dext";

pub fn check(c: &CrashReport, bundle_id: Option<&str>) -> Check {
    let who = c.process.as_deref().unwrap_or("an unnamed process");
    let what = match (&c.exception_type, &c.signal) {
        (Some(t), Some(s)) => format!("{t} ({s})"),
        (Some(t), None) => t.clone(),
        (None, Some(s)) => s.clone(),
        (None, None) => "no exception recorded".into(),
    };
    let (status, summary) = match bundle_id {
        Some(b) if c.is_of(b) => (Status::Fail, format!("the dext {who} crashed: {what}")),
        Some(b) => (
            Status::Warn,
            format!("the report is of {who}, not of the dext {b}: {what}"),
        ),
        None => (
            Status::Warn,
            format!("{who} crashed: {what} (no other input names the dext to compare)"),
        ),
    };
    let mut check = Check::new("dext-crash", CRASH, status, summary);
    for line in c.summary_lines().into_iter().skip(1) {
        check = check.evidence(line);
    }
    if status == Status::Fail {
        check = check.action(
            "the dext's process died: an open during the crash, or after it until the dext restarts, fails; \
             fix the crash at the top frame of the crashed thread",
        );
    }
    check
}

/// A check when any key of the given entitlements is a near miss of a real one; none otherwise.
pub fn entitlement_keys_check<'a>(sets: impl Iterator<Item = &'a Entitlements>) -> Option<Check> {
    let mut check: Option<Check> = None;
    for e in sets {
        for (found, meant) in near_misses(e) {
            let c = check.take().unwrap_or_else(|| {
                Check::new(
                    "entitlement-keys",
                    "entitlement keys are spelled as the kernel reads them",
                    Status::Fail,
                    format!("`{found}` is not a DriverKit key: did you mean `{meant}`?"),
                )
                .action("rename the key in the .entitlements file and sign again; the kernel ignores a misspelled key")
            });
            check = Some(c.evidence(format!("{}: `{found}` (meant `{meant}`)", e.source)));
        }
    }
    check
}
