//! What `IOServiceOpen` answers for a registry entry, as pure functions, with the log lines the kernel and
//! the dext write on the way (reference §2, in its order). Each rule carries the id docs/kernel-rules.md
//! gives it (`O1`..) and the xnu-11417.101.15 function it comes from. No state, no timing: `SimLab` feeds
//! these from its state and faults.

use crate::ioreturn::{ReturnCode, code};
use crate::lab::{EntryId, Prop};
use std::collections::BTreeMap;

pub const ALLOW_ANY_USERCLIENT_ACCESS: &str =
    "com.apple.developer.driverkit.allow-any-userclient-access";
pub const USERCLIENT_ACCESS: &str = "com.apple.developer.driverkit.userclient-access";
/// `kIODriverKitRequiredEntitlementsKey` (xnu iokit/IOKit/IOKitKeys.h).
pub const DRIVER_ACCESS: &str = "com.apple.private.driverkit.driver-access";
/// `kIOServiceDEXTEntitlementsKey` (xnu iokit/IOKit/IOKitKeys.h).
pub const DEXT_ENTITLEMENTS_KEY: &str = "IOServiceDEXTEntitlements";
/// `kIOUserClientEntitlementsKey` (xnu iokit/IOKit/IOKitKeys.h).
pub const USER_CLIENT_ENTITLEMENTS_KEY: &str = "IOUserClientEntitlements";
/// The kernel class every DriverKit user client is (`IOUserUserClient`, xnu IOUserServer.h): the class the
/// `IOUC` lines name, and the only `IOClass` `serviceNewUserClient` accepts.
pub const USER_USER_CLIENT: &str = "IOUserUserClient";
/// The process name the kernel's `IOUC` lines name: the sim's host is dexthil itself.
pub const HOST_PROCESS: &str = "dexthil";

/// The registry object an open targets, as the open rules need to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenTargetKind {
    /// Not an IOService at all (the registry root).
    NotAService,
    /// An IOService that takes `IOService::newUserClient`'s generic path and has no `IOUserClientClass`:
    /// the dext's `IOUserServer`, `IOUserResources`.
    Generic,
    /// The `IOUSBHostInterface` or `IOUSBHostDevice`: Apple's closed USB user clients answer.
    UsbHost,
    /// A service the dext instantiated (`reserved->uvars->userServer` set): its personality's service or a
    /// nub it published.
    DextBacked {
        /// False when its server is gone (crashed, or a stale entry).
        running: bool,
        /// Whether the service's C++ class overrides `NewUserClient`.
        overrides_new_user_client: bool,
    },
}

/// Everything the open rules look at, spelled out so each rule can be tested alone.
#[derive(Clone, Debug)]
pub struct OpenInput<'a> {
    pub target: OpenTargetKind,
    pub open_type: u32,
    /// The opened service's `UserClientProperties` property, as found on the entry.
    pub user_client_properties: Option<&'a Prop>,
    /// Types the dext's NewUserClient accepts; empty: any.
    pub open_types: &'a [u32],
    pub rejected_type_answer: ReturnCode,
    pub dext_entitlements: &'a BTreeMap<String, Prop>,
    pub host_entitlements: &'a BTreeMap<String, Prop>,
    /// Boot-arg `dk` bit 0x8000 (`kIODKDisableEntitlementChecking`).
    pub skip_entitlement_check: bool,
    /// The service's `CFBundleIdentifier` (`gIOModuleIdentifierKey`); `None` when it has none.
    pub bundle_id: Option<&'a str>,
    /// The registry id the created user client gets (the `0x%qx` of its `DK:` lines).
    pub user_client_id: EntryId,
    /// The host's pid, for `IOCopyLogNameForPID`.
    pub host_pid: u32,
    /// Prefix of the dext's own log lines.
    pub log_prefix: &'a str,
    /// What Apple's USB user clients answer (UNCONFIRMED; the scenario's `sim: usb_host_open`).
    pub usb_host_answer: ReturnCode,
    /// An RPC failure a sim fault injects into `_NewUserClient` (rule O5).
    pub rpc_failure: Option<ReturnCode>,
}

/// What the open answered, and what the kernel and dext logged on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenDecision {
    pub code: ReturnCode,
    pub log: Vec<String>,
    /// True when the open created the dext's user client (a connection to the dext), false when it reached
    /// Apple's USB user client or failed.
    pub reaches_dext: bool,
}

fn decided(code: u32, log: Vec<String>) -> OpenDecision {
    OpenDecision {
        code: ReturnCode(code),
        log,
        reaches_dext: false,
    }
}

/// `is_io_service_open_extended` → `IOService::newUserClient` → `IOUserServer::serviceNewUserClient`
/// (xnu iokit/Kernel/IOUserClient.cpp, IOService.cpp, IOUserServer.cpp), in that order.
pub fn open_rules(input: &OpenInput) -> OpenDecision {
    let mut log = Vec::new();
    let overrides = match input.target {
        // O1 is_io_service_open_extended: CHECK(IOService, ...) fails → kIOReturnBadArgument.
        OpenTargetKind::NotAService => return decided(code::kIOReturnBadArgument, log),
        // O2 IOService::newUserClient: no uvars->userServer → the 4-argument newUserClient
        // (kIOReturnUnsupported), then IOUserClientClass; none → kIOReturnUnsupported.
        OpenTargetKind::Generic => return decided(code::kIOReturnUnsupported, log),
        // O3 UNCONFIRMED: IOUSBHostFamily is closed source; the answer is the scenario's to choose.
        OpenTargetKind::UsbHost => {
            return OpenDecision {
                code: input.usb_host_answer,
                log,
                reaches_dext: false,
            };
        }
        OpenTargetKind::DextBacked {
            running,
            overrides_new_user_client,
        } => {
            // O4 IOUserServer::rpc: an inactive server without a root queue → kIOReturnOffline.
            if !running {
                return decided(code::kIOReturnOffline, log);
            }
            overrides_new_user_client
        }
    };
    // O5 IOUserServer::rpc: the injected RPC failure (NotReady, MIG_SERVER_DIED, ...) is returned as-is.
    if let Some(rpc) = input.rpc_failure {
        return OpenDecision {
            code: rpc,
            log,
            reaches_dext: false,
        };
    }
    // O6 IOService::NewUserClient_Impl / _NewUserClient_Impl: the base class answers kIOReturnError; the
    // developer's NewUserClient (and its log line) never runs. libdriverkit's default: UNCONFIRMED, presumed
    // the same as the kernel's twin.
    if !overrides {
        return decided(code::kIOReturnError, log);
    }
    // The developer's NewUserClient runs (and logs) before any entitlement check.
    log.push(format!(
        "{}: NewUserClient({})",
        input.log_prefix, input.open_type
    ));
    if !input.open_types.is_empty() && !input.open_types.contains(&input.open_type) {
        return OpenDecision {
            code: input.rejected_type_answer,
            log,
            reaches_dext: false,
        };
    }
    // O7 IOService::Create_Impl: UserClientProperties missing or not a dictionary, or its IOClass not a
    // string → kIOReturnBadArgument.
    let Some(ucp) = input.user_client_properties.and_then(Prop::as_dict) else {
        return decided(code::kIOReturnBadArgument, log);
    };
    let Some(io_class) = ucp.get("IOClass").and_then(Prop::as_str) else {
        return decided(code::kIOReturnBadArgument, log);
    };
    // O8 Create_Impl's alloc/init/attach fails for a class that is no IOService (kIOReturnUnsupported), or
    // serviceNewUserClient's OSDynamicCast(IOUserUserClient) fails (kIOReturnUnsupported).
    if io_class != USER_USER_CLIENT {
        return decided(code::kIOReturnUnsupported, log);
    }
    // DKN(userUC): the user client is named after its IOUserClass by serviceAttach (setName), else it
    // keeps its class name.
    let uc_name = ucp
        .get("IOUserClass")
        .and_then(Prop::as_str)
        .unwrap_or(USER_USER_CLIENT);
    let dks = format!("DK: {uc_name}-0x{:x}", input.user_client_id);
    if !input.skip_entitlement_check && !entitled(input, ucp, &dks, &mut log) {
        // O12: every refusal logs this, then the client is terminated.
        log.push(format!("{dks}:UC entitlements check failed"));
        return decided(code::kIOReturnNotPermitted, log);
    }
    // O13 is_io_service_open_extended: IOUserClientEntitlements. IOUserUserClient is no IOUserClient2022,
    // so only an OSString (the entitlement the task must hold) refuses; false allows, other shapes are
    // ignored. IOTaskHasEntitlement asks AMFI for a boolean true (closed source, presumed).
    if let Some(Prop::Str(needed)) = ucp.get(USER_CLIENT_ENTITLEMENTS_KEY)
        && input.host_entitlements.get(needed) != Some(&Prop::Bool(true))
    {
        log.push(format!(
            "IOUC {USER_USER_CLIENT} missing entitlement in process pid {}, {HOST_PROCESS}",
            input.host_pid
        ));
        return decided(code::kIOReturnNotPrivileged, log);
    }
    OpenDecision {
        code: ReturnCode::SUCCESS,
        log,
        reaches_dext: true,
    }
}

/// serviceNewUserClient's entitlement block (O9-O11), logging what it logs. True when the open may go on.
fn entitled(
    input: &OpenInput,
    ucp: &BTreeMap<String, Prop>,
    dks: &str,
    log: &mut Vec<String>,
) -> bool {
    let host = input.host_entitlements;
    let mut ok = false;
    // The private driver-access check: its list must be held by the *dext*; failing it falls through.
    if let Some(required) = host.get(DRIVER_ACCESS) {
        ok = check_entitlements(input.dext_entitlements, Some(required));
        if !ok {
            log.push(format!("{dks}:UC failed required entitlement check"));
        }
    }
    if !ok {
        // O9: the dext's allow-any-userclient-access: its presence is what counts; the host's is ignored.
        ok = input
            .dext_entitlements
            .contains_key(ALLOW_ANY_USERCLIENT_ACCESS);
    }
    if !ok {
        // O10: the host's userclient-access, iterated with OSObject::iterateObjects: an array's elements,
        // any other object once (so one string equal to the bundle id passes; a newline-joined one does
        // not). Only an absent entitlement or bundle id logs the "needed bundle ID" line.
        match (input.bundle_id, host.get(USERCLIENT_ACCESS)) {
            (Some(bundle_id), Some(access)) => {
                let held = |p: &Prop| p.as_str() == Some(bundle_id);
                ok = match access {
                    Prop::Array(items) => items.iter().any(held),
                    other => held(other),
                };
            }
            (bundle_id, _) => log.push(format!(
                "{dks}:UC failed userclient-access check, needed bundle ID {}",
                bundle_id.unwrap_or("(null)")
            )),
        }
    }
    // O11: the host must also hold the user client's IOServiceDEXTEntitlements.
    ok && check_entitlements(host, ucp.get(DEXT_ENTITLEMENTS_KEY))
}

/// `IOUserServer::checkEntitlements`: no list passes; a string must be present; an array passes when any
/// of its elements is fully present (an inner array: every string in it). Presence is what counts, not
/// the value.
pub fn check_entitlements(held: &BTreeMap<String, Prop>, list: Option<&Prop>) -> bool {
    let Some(list) = list else {
        return true;
    };
    let present = |p: &Prop| p.as_str().is_some_and(|k| held.contains_key(k));
    // iterateObjects on a non-collection calls the block once with the object itself.
    let all_present = |p: &Prop| match p {
        // An empty inner array leaves `allPresent` false.
        Prop::Array(inner) => !inner.is_empty() && inner.iter().all(present),
        other => present(other),
    };
    match list {
        Prop::Array(outer) => outer.iter().any(all_present),
        other => all_present(other),
    }
}
