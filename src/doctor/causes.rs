//! The causes an `IOServiceOpen` failure can have on a DriverKit service, each with the source function that
//! produces it (reference §2, read against xnu-11417.101.15), and their ranking: first the causes the
//! failing code can come from, ordered by the evidence the checks found (a failed check over a hint over
//! nothing), then by the order the source makes them likely for that code; causes a check ruled out go
//! last. Without a code, evidence alone orders them.
//!
//! What opening an `IOUSBHostInterface` or `IOUSBHostDevice` answers is closed source (IOUSBHostFamily) and
//! UNCONFIRMED: no cause here claims it, so it is never evidence for a code.

use crate::ioreturn::{ReturnCode, code};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CauseKind {
    /// The open reached a dext-backed service whose class has no NewUserClient override.
    NoNewUserClientOverride,
    /// The dext's own NewUserClient returned the error.
    DextNewUserClient,
    /// newUserClient succeeded with an object that is not an IOUserClient.
    NotAnIoUserClient,
    /// The object opened is not a service a dext instantiated: the IOUserServer above all.
    NotADextService,
    /// The client the dext created is not an IOUserUserClient.
    NotUserUserClient,
    /// `UserClientProperties` missing, not a dictionary, or its IOClass not a string.
    UserClientProperties,
    /// `userclient-access` is one newline-joined string, which equals no bundle id.
    UserClientAccessString,
    /// allow-any is on the host, where it has no effect, and not on the dext.
    AllowAnyOnHostOnly,
    /// The host's `userclient-access` does not name the dext and the dext has no allow-any.
    UserClientAccess,
    /// The host lacks what the user client's `IOServiceDEXTEntitlements` lists.
    DextEntitlements,
    /// A MACF policy (a security product) refused the open.
    Macf,
    /// The host's sandbox filter refused the open.
    Sandbox,
    /// The user client's `IOUserClientEntitlements` names an entitlement the host lacks.
    UserClientEntitlements,
    /// The service opened is from before a re-enumeration, or no longer registered.
    StaleEntry,
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
            CauseKind::NoNewUserClientOverride => {
                "the open reached a dext-backed service whose class has no NewUserClient override, so the base implementation answered kIOReturnError before any code of the developer's ran"
            }
            CauseKind::DextNewUserClient => "the dext's own NewUserClient returned the code",
            CauseKind::NotAnIoUserClient => {
                "newUserClient succeeded with an object that is not an IOUserClient"
            }
            CauseKind::NotADextService => {
                "the host opens an object that is not a service the dext instantiated (its IOUserServer above all): the kernel's generic newUserClient finds no IOUserClientClass and answers kIOReturnUnsupported; the dext is never asked"
            }
            CauseKind::NotUserUserClient => {
                "the user client the dext creates is not an IOUserUserClient (UserClientProperties IOClass), so the kernel terminates it"
            }
            CauseKind::UserClientProperties => {
                "the service's UserClientProperties is missing, not a dictionary, or its IOClass is not a string, so NewUserClient's Create fails"
            }
            CauseKind::UserClientAccessString => {
                "the host's com.apple.developer.driverkit.userclient-access is one newline-joined string: the kernel compares the whole string with the bundle id and it never equals it"
            }
            CauseKind::AllowAnyOnHostOnly => {
                "com.apple.developer.driverkit.allow-any-userclient-access is on the host, where it has no effect; only the dext's counts"
            }
            CauseKind::UserClientAccess => {
                "the host's com.apple.developer.driverkit.userclient-access does not contain the dext's bundle id, and the dext has no allow-any-userclient-access"
            }
            CauseKind::DextEntitlements => {
                "the host lacks the entitlements the user client's IOServiceDEXTEntitlements lists"
            }
            CauseKind::Macf => {
                "a MACF policy (a security product such as an EndpointSecurity client) refused the open"
            }
            CauseKind::Sandbox => "the host's sandbox filter refused the open (with its own code)",
            CauseKind::UserClientEntitlements => {
                "the user client's IOUserClientEntitlements names an entitlement the host lacks"
            }
            CauseKind::StaleEntry => {
                "the host opens a stale service: one from before the printer re-enumerated, or no longer registered"
            }
            CauseKind::DextNotRunning => {
                "the dext's server is not running (crashed, terminating, or not finished launching)"
            }
            CauseKind::DextNotActivated => "the dext is not [activated enabled]",
            CauseKind::NoService => {
                "the dext has no service in the registry (not matched: printer unplugged, personality does not match, or dext not activated)"
            }
        }
    }

    /// The function in the source that gives this answer.
    pub fn source(self) -> &'static str {
        match self {
            CauseKind::NoNewUserClientOverride => {
                "xnu iokit/Kernel/IOService.cpp IOService::newUserClient → iokit/Kernel/IOUserServer.cpp IOUserServer::serviceNewUserClient → IOService::NewUserClient_Impl / _NewUserClient_Impl (return kIOReturnError; libdriverkit's user-space default is closed source, UNCONFIRMED, presumed the same)"
            }
            CauseKind::DextNewUserClient => {
                "xnu iokit/Kernel/IOUserServer.cpp IOUserServer::serviceNewUserClient (returns the dext's error as-is)"
            }
            CauseKind::NotAnIoUserClient => {
                "xnu iokit/Kernel/IOUserClient.cpp is_io_service_open_extended"
            }
            CauseKind::NotADextService => {
                "xnu iokit/Kernel/IOService.cpp IOService::newUserClient (forwards to the dext only when reserved->uvars->userServer is set)"
            }
            CauseKind::NotUserUserClient => {
                "xnu iokit/Kernel/IOUserServer.cpp IOUserServer::serviceNewUserClient"
            }
            CauseKind::UserClientProperties => {
                "xnu iokit/Kernel/IOUserServer.cpp IOService::Create_Impl"
            }
            CauseKind::UserClientAccessString
            | CauseKind::AllowAnyOnHostOnly
            | CauseKind::UserClientAccess => {
                "xnu iokit/Kernel/IOUserServer.cpp IOUserServer::serviceNewUserClient (userclient-access, iterateObjects)"
            }
            CauseKind::DextEntitlements => {
                "xnu iokit/Kernel/IOUserServer.cpp IOUserServer::serviceNewUserClient → IOUserServer::checkEntitlements"
            }
            CauseKind::Macf => {
                "xnu iokit/Kernel/IOUserClient.cpp is_io_service_open_extended (mac_iokit_check_open_service, mac_iokit_check_open)"
            }
            CauseKind::Sandbox => {
                "xnu iokit/Kernel/IOUserClient.cpp is_io_service_open_extended (io_filter_resolver)"
            }
            CauseKind::UserClientEntitlements => {
                "xnu iokit/Kernel/IOUserClient.cpp is_io_service_open_extended (IOUserClientEntitlements)"
            }
            CauseKind::StaleEntry | CauseKind::DextNotRunning => {
                "xnu iokit/Kernel/IOUserServer.cpp IOUserServer::rpc"
            }
            CauseKind::DextNotActivated | CauseKind::NoService => {
                "no service to open: nothing in the kernel is reached"
            }
        }
    }

    /// What to do about it.
    pub fn action(self) -> &'static str {
        match self {
            CauseKind::NoNewUserClientOverride => {
                "open the service whose class overrides NewUserClient (the one with UserClientProperties), or make the personality's IOUserClass that class, or declare `NewUserClient(uint32_t type, IOUserClient ** userClient) override;` in the class's .iig and implement it"
            }
            CauseKind::DextNewUserClient => {
                "read the dext's NewUserClient log lines: its own error path returned this"
            }
            CauseKind::NotAnIoUserClient => {
                "check what the service's newUserClient creates: it must be an IOUserClient"
            }
            CauseKind::NotADextService => {
                "match the dext's service, not its server: IOServiceNameMatching(\"<IOUserClass>\") or IOServiceMatching(\"IOUserService\") with IOPropertyMatch {CFBundleIdentifier = <bundle id>}; never IOUserServer"
            }
            CauseKind::NotUserUserClient => "set UserClientProperties IOClass to IOUserUserClient",
            CauseKind::UserClientProperties => {
                "add UserClientProperties = {IOClass = IOUserUserClient, IOUserClass = <your user client class>} to the personality in the dext's Info.plist"
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
            CauseKind::DextEntitlements => {
                "give the host every entitlement of one inner array of the user client's IOServiceDEXTEntitlements, or change that list"
            }
            CauseKind::Macf => {
                "retry with the security product's extension disabled, and look for `IOUC ... failed MACF` in the kernel log"
            }
            CauseKind::Sandbox => {
                "look for `IOUC ... failed sandbox` in the kernel log; try the host unsandboxed"
            }
            CauseKind::UserClientEntitlements => {
                "give the host the entitlement named by the user client's IOUserClientEntitlements (a string), or set it to boolean false"
            }
            CauseKind::StaleEntry => {
                "look the service up again after each re-enumeration (a matching notification), and skip entries that are not registered"
            }
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
            CauseKind::NoNewUserClientOverride | CauseKind::NotAnIoUserClient => {
                &[code::kIOReturnError]
            }
            // The dext's NewUserClient may return anything; kIOReturnError is where it is a candidate.
            CauseKind::DextNewUserClient => &[],
            CauseKind::NotADextService | CauseKind::NotUserUserClient => {
                &[code::kIOReturnUnsupported]
            }
            CauseKind::UserClientProperties => &[code::kIOReturnBadArgument],
            CauseKind::UserClientAccessString
            | CauseKind::AllowAnyOnHostOnly
            | CauseKind::UserClientAccess
            | CauseKind::DextEntitlements
            | CauseKind::Macf => &[code::kIOReturnNotPermitted],
            CauseKind::UserClientEntitlements => &[code::kIOReturnNotPrivileged],
            CauseKind::StaleEntry | CauseKind::DextNotRunning => &[
                code::kIOReturnOffline,
                code::kIOReturnNotReady,
                code::MIG_SERVER_DIED,
            ],
            CauseKind::Sandbox | CauseKind::DextNotActivated | CauseKind::NoService => &[],
        }
    }
}

/// The causes a code comes from on this path, in the order the source makes them likely (reference §2;
/// `decode::path_notes` order).
pub fn prior(value: u32) -> &'static [CauseKind] {
    use CauseKind::*;
    match value {
        code::kIOReturnError => &[
            NoNewUserClientOverride,
            DextNewUserClient,
            NotAnIoUserClient,
        ],
        code::kIOReturnUnsupported => &[NotADextService, NotUserUserClient],
        code::kIOReturnNotPermitted => &[
            UserClientAccessString,
            AllowAnyOnHostOnly,
            UserClientAccess,
            DextEntitlements,
            Macf,
            Sandbox,
        ],
        code::kIOReturnNotPrivileged => &[UserClientEntitlements],
        code::kIOReturnBadArgument => &[UserClientProperties],
        code::kIOReturnOffline | code::kIOReturnNotReady | code::MIG_SERVER_DIED => {
            &[DextNotRunning, StaleEntry]
        }
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
    /// The function in the source that gives this answer (repository, file, function).
    pub source: &'static str,
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
                    // A ruled-out cause shows why; any other shows what speaks for it, not what was ruled
                    // out for another service of the same kind.
                    evidence: mine
                        .iter()
                        .filter(|f| {
                            (f.strength == Strength::RuledOut)
                                == (strength == Some(Strength::RuledOut))
                        })
                        .map(|f| f.text.clone())
                        .collect(),
                    action: kind.action().to_string(),
                    source: kind.source(),
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
            Finding::new(
                CauseKind::NoNewUserClientOverride,
                Strength::RuledOut,
                "NewUserClient ran",
            ),
            Finding::new(
                CauseKind::DextNotRunning,
                Strength::RuledOut,
                "server present",
            ),
        ];
        let r = rank(Some(ReturnCode(code::kIOReturnError)), &f);
        assert_eq!(r.last().unwrap().kind, CauseKind::NoNewUserClientOverride);
        assert!(r.iter().all(|c| c.kind != CauseKind::DextNotRunning));
    }

    #[test]
    fn every_cause_a_code_lists_can_give_that_code_and_names_its_source() {
        let codes = [
            code::kIOReturnError,
            code::kIOReturnUnsupported,
            code::kIOReturnNotPermitted,
            code::kIOReturnNotPrivileged,
            code::kIOReturnBadArgument,
            code::kIOReturnOffline,
            code::kIOReturnNotReady,
            code::MIG_SERVER_DIED,
        ];
        for c in codes {
            for k in prior(c) {
                assert!(
                    k.codes().is_empty() || k.codes().contains(&c),
                    "{k:?} listed for 0x{c:08X}"
                );
                assert!(k.source().starts_with("xnu "), "{k:?}");
            }
        }
        // Reference §2: the IOUserServer's answer is kIOReturnUnsupported, never kIOReturnError.
        assert_eq!(
            prior(code::kIOReturnUnsupported)[0],
            CauseKind::NotADextService
        );
        assert!(!prior(code::kIOReturnError).contains(&CauseKind::NotADextService));
        assert_eq!(
            prior(code::kIOReturnError)[0],
            CauseKind::NoNewUserClientOverride
        );
    }
}
