//! The causes an `IOServiceOpen` failure can have on a DriverKit service (reference §2), and their ranking:
//! first the causes the failing code can come from, ordered by the evidence the checks found (a failed
//! check over a hint over nothing), then by how common they are for that code; causes a check ruled out go
//! last. Without a code, evidence alone orders them.

use crate::ioreturn::{ReturnCode, code};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CauseKind {
    /// The host opens the IOUserServer, the IOUSBHostInterface or another object that is not the service.
    WrongObject,
    /// The service opened is from before a re-enumeration, or no longer registered.
    StaleEntry,
    /// The dext's own NewUserClient returned the error.
    DextNewUserClient,
    /// `userclient-access` is one newline-joined string, not an array.
    UserClientAccessString,
    /// allow-any is on the host, where it has no effect, and not on the dext.
    AllowAnyOnHostOnly,
    /// The host's `userclient-access` does not name the dext and the dext has no allow-any.
    UserClientAccess,
    /// A security product (MACF hook, EndpointSecurity) refused the open.
    Macf,
    /// The host's sandbox refused the open.
    Sandbox,
    /// The user client has `IOUserClientEntitlements` and the host lacks that entitlement.
    UserClientEntitlements,
    /// `UserClientProperties` missing, not a dictionary, or without IOClass.
    UserClientProperties,
    /// The client the dext created is not an IOUserUserClient.
    NotUserUserClient,
    /// The dext's server is not running.
    DextNotRunning,
    /// The dext is not `[activated enabled]`.
    DextNotActivated,
    /// The registry has no service of the dext at all.
    NoService,
}

impl CauseKind {
    pub fn title(self) -> &'static str {
        match self {
            CauseKind::WrongObject => {
                "the host opens an object that is not the dext's service (its IOUserServer, the IOUSBHostInterface, or another entry): newUserClient gives no IOUserClient and the dext's NewUserClient never runs"
            }
            CauseKind::StaleEntry => {
                "the host opens a stale service: one from before the printer re-enumerated, or no longer registered"
            }
            CauseKind::DextNewUserClient => "the dext's NewUserClient itself returned the code",
            CauseKind::UserClientAccessString => {
                "the host's com.apple.developer.driverkit.userclient-access is one newline-joined string, not an array of strings, so it does not contain the dext's bundle id"
            }
            CauseKind::AllowAnyOnHostOnly => {
                "com.apple.developer.driverkit.allow-any-userclient-access is on the host, where it has no effect; only the dext's counts"
            }
            CauseKind::UserClientAccess => {
                "the host's com.apple.developer.driverkit.userclient-access array does not contain the dext's bundle id, and the dext has no allow-any-userclient-access"
            }
            CauseKind::Macf => {
                "a MACF policy (a security product such as an EndpointSecurity client) refused the open"
            }
            CauseKind::Sandbox => "the host's sandbox refused the open",
            CauseKind::UserClientEntitlements => {
                "the user client has IOUserClientEntitlements and the host lacks that entitlement"
            }
            CauseKind::UserClientProperties => {
                "the service's UserClientProperties is missing, not a dictionary, or has no IOClass, so NewUserClient's Create fails"
            }
            CauseKind::NotUserUserClient => {
                "the user client the dext creates is not an IOUserUserClient (UserClientProperties IOClass)"
            }
            CauseKind::DextNotRunning => {
                "the dext's server is not running (crashed or not launched)"
            }
            CauseKind::DextNotActivated => "the dext is not [activated enabled]",
            CauseKind::NoService => {
                "the dext has no service in the registry (not matched: printer unplugged, personality does not match, or dext not activated)"
            }
        }
    }

    /// What to do about it.
    pub fn action(self) -> &'static str {
        match self {
            CauseKind::WrongObject => {
                "match the dext's service, not its server: IOServiceNameMatching(\"<IOUserClass>\") or IOServiceMatching(\"IOUserService\") with IOPropertyMatch {CFBundleIdentifier = <bundle id>}; never IOUserServer or IOUSBHostInterface"
            }
            CauseKind::StaleEntry => {
                "look the service up again after each re-enumeration (a matching notification), and skip entries that are not registered"
            }
            CauseKind::DextNewUserClient => {
                "read the dext's NewUserClient log lines: its own error path returned this"
            }
            CauseKind::UserClientAccessString => {
                "make userclient-access an <array> with one <string> per bundle id in the host's .entitlements, and re-sign"
            }
            CauseKind::AllowAnyOnHostOnly => {
                "move allow-any-userclient-access to the dext's entitlements, or give the host a userclient-access array with the dext's bundle id"
            }
            CauseKind::UserClientAccess => {
                "add the dext's bundle id to the host's userclient-access array (and the provisioning profile), or allow-any-userclient-access to the dext"
            }
            CauseKind::Macf => {
                "retry with the security product's extension disabled, and look for `IOUC ... failed MACF` in the kernel log"
            }
            CauseKind::Sandbox => {
                "look for `IOUC ... failed sandbox` in the kernel log; try the host unsandboxed"
            }
            CauseKind::UserClientEntitlements => {
                "give the host the entitlement named by the user client's IOUserClientEntitlements, or drop that key"
            }
            CauseKind::UserClientProperties => {
                "add UserClientProperties = {IOClass = IOUserUserClient, IOUserClass = <your user client class>} to the personality in the dext's Info.plist"
            }
            CauseKind::NotUserUserClient => "set UserClientProperties IOClass to IOUserUserClient",
            CauseKind::DextNotRunning => {
                "find the dext's crash report (.ips under /Library/Logs/DiagnosticReports) and replug the printer"
            }
            CauseKind::DextNotActivated => {
                "activate the dext from its host app and approve it in System Settings (Privacy & Security, or Login Items & Extensions > Driver Extensions)"
            }
            CauseKind::NoService => {
                "plug the printer in and check the personality's matching keys against the interface in ioreg"
            }
        }
    }

    /// The codes this cause produces at IOServiceOpen (reference §2); empty: its own or any code.
    fn codes(self) -> &'static [u32] {
        match self {
            CauseKind::WrongObject => &[
                code::kIOReturnError,
                code::kIOReturnUnsupported,
                code::kIOReturnBadArgument,
            ],
            CauseKind::StaleEntry | CauseKind::DextNewUserClient => &[code::kIOReturnError],
            CauseKind::UserClientAccessString
            | CauseKind::AllowAnyOnHostOnly
            | CauseKind::UserClientAccess
            | CauseKind::Macf => &[code::kIOReturnNotPermitted],
            CauseKind::UserClientEntitlements => &[code::kIOReturnNotPrivileged],
            CauseKind::UserClientProperties => &[code::kIOReturnBadArgument],
            CauseKind::NotUserUserClient => &[code::kIOReturnUnsupported],
            CauseKind::DextNotRunning | CauseKind::DextNotActivated => &[code::kIOReturnOffline],
            CauseKind::Sandbox | CauseKind::NoService => &[],
        }
    }
}

/// The causes a code comes from on this path, most common first (reference §2; `decode::path_notes` order).
pub fn prior(value: u32) -> &'static [CauseKind] {
    use CauseKind::*;
    match value {
        code::kIOReturnError => &[WrongObject, StaleEntry, DextNewUserClient],
        code::kIOReturnNotPermitted => &[
            UserClientAccessString,
            AllowAnyOnHostOnly,
            UserClientAccess,
            Macf,
        ],
        code::kIOReturnNotPrivileged => &[UserClientEntitlements],
        code::kIOReturnBadArgument => &[UserClientProperties, WrongObject],
        code::kIOReturnUnsupported => &[NotUserUserClient, WrongObject],
        code::kIOReturnOffline => &[DextNotRunning, DextNotActivated],
        _ => &[],
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// A check passed that excludes this cause.
    RuledOut,
    /// Suggestive: a warning, or a log line that is absent.
    Hint,
    /// A check failed that is this cause.
    Confirmed,
}

/// What one check found about one cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: CauseKind,
    pub strength: Strength,
    pub text: String,
}

impl Finding {
    pub fn new(kind: CauseKind, strength: Strength, text: impl Into<String>) -> Self {
        Finding {
            kind,
            strength,
            text: text.into(),
        }
    }
}

/// One cause in the ranking.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RankedCause {
    pub kind: CauseKind,
    pub cause: &'static str,
    /// The strongest evidence: `confirmed`, `hint`, `ruled_out`; `None` when nothing was checked for it.
    pub evidence_strength: Option<Strength>,
    /// Whether the failing code can come from this cause (`None`: no code given).
    pub fits_code: Option<bool>,
    pub evidence: Vec<String>,
    pub action: String,
}

pub fn rank(code: Option<ReturnCode>, findings: &[Finding]) -> Vec<RankedCause> {
    let code = code.filter(|c| !c.is_success());
    let prior = code.map(|c| prior(c.0)).unwrap_or(&[]);
    let mut kinds: Vec<CauseKind> = prior.to_vec();
    for f in findings {
        if !kinds.contains(&f.kind) {
            kinds.push(f.kind);
        }
    }
    let mut out: Vec<(i32, RankedCause)> = kinds
        .into_iter()
        .filter_map(|kind| {
            let mine: Vec<&Finding> = findings.iter().filter(|f| f.kind == kind).collect();
            let strength = if mine.iter().any(|f| f.strength == Strength::Confirmed) {
                Some(Strength::Confirmed)
            } else if mine.iter().any(|f| f.strength == Strength::RuledOut) {
                Some(Strength::RuledOut)
            } else {
                mine.iter().map(|f| f.strength).max()
            };
            let fits = code.map(|c| kind.codes().is_empty() || kind.codes().contains(&c.0));
            // Only hints and confirmations make a cause that does not fit the code worth listing.
            if fits == Some(false) && strength.is_none_or(|s| s == Strength::RuledOut) {
                return None;
            }
            // A ruled-out cause is worth saying only where the code made it a candidate.
            if strength == Some(Strength::RuledOut) && !prior.contains(&kind) {
                return None;
            }
            let position = prior.iter().position(|k| *k == kind).unwrap_or(prior.len()) as i32;
            let score = match fits {
                Some(true) => 1000,
                Some(false) => 0,
                None => 500,
            } + match strength {
                Some(Strength::Confirmed) => 300,
                Some(Strength::Hint) => 100,
                None => 0,
                Some(Strength::RuledOut) => -900,
            } - position;
            Some((
                score,
                RankedCause {
                    kind,
                    cause: kind.title(),
                    evidence_strength: strength,
                    fits_code: fits,
                    evidence: mine.iter().map(|f| f.text.clone()).collect(),
                    action: kind.action().to_string(),
                },
            ))
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.0));
    out.into_iter().map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_outranks_how_common_a_cause_is() {
        let f = [Finding::new(
            CauseKind::AllowAnyOnHostOnly,
            Strength::Confirmed,
            "x",
        )];
        let r = rank(Some(ReturnCode(code::kIOReturnNotPermitted)), &f);
        assert_eq!(r[0].kind, CauseKind::AllowAnyOnHostOnly);
    }

    #[test]
    fn a_ruled_out_cause_goes_last_and_one_that_cannot_give_the_code_is_dropped() {
        let f = [
            Finding::new(CauseKind::WrongObject, Strength::RuledOut, "service opened"),
            Finding::new(
                CauseKind::DextNotRunning,
                Strength::RuledOut,
                "server present",
            ),
        ];
        let r = rank(Some(ReturnCode(code::kIOReturnError)), &f);
        assert_eq!(r.last().unwrap().kind, CauseKind::WrongObject);
        assert!(r.iter().all(|c| c.kind != CauseKind::DextNotRunning));
    }
}
