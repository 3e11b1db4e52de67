//! The simulated dext and kernel as pure functions: what `IOServiceOpen` answers for an entry (reference
//! §2, in its order) with the log lines the kernel and dext would write, and what a selector's
//! [`SimBehaviour`] returns once a call has passed [`crate::dispatch::dispatch`] (reference §3, §4).
//! No state, no timing, no faults: `SimLab` feeds these from its state.

use crate::driver::SimBehaviour;
use crate::ioreturn::{ReturnCode, code};
use crate::lab::{CallArgs, EntryId, Prop};
use crate::printer::escp::{self, Command, Header, PrinterState};
use std::collections::BTreeMap;

pub const ALLOW_ANY_USERCLIENT_ACCESS: &str =
    "com.apple.developer.driverkit.allow-any-userclient-access";
pub const USERCLIENT_ACCESS: &str = "com.apple.developer.driverkit.userclient-access";
/// The process name the kernel's `IOUC` lines name: the sim's host is dexthil itself.
pub const HOST_PROCESS: &str = "dexthil";

/// The registry object an open targets, as the open rules need to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenTargetKind {
    /// Not an IOService at all (the registry root).
    NotAService,
    /// The dext's `IOUserServer` object.
    UserServer,
    /// The `IOUSBHostInterface` the dext matched on.
    Interface,
    /// An IOService with no `IOUserClientClass` (the IOUSBHostDevice, IOUserResources).
    NoUserClient,
    /// The dext's service; `running` is false when its server is gone (crashed, or a stale entry).
    DextService { running: bool },
}

/// Everything the open rules look at, spelled out so each rule can be tested alone.
#[derive(Clone, Debug)]
pub struct OpenInput<'a> {
    pub target: OpenTargetKind,
    pub open_type: u32,
    /// The service's `UserClientProperties` property, as found on the entry.
    pub user_client_properties: Option<&'a Prop>,
    /// Types the dext's NewUserClient accepts; empty: any.
    pub open_types: &'a [u32],
    pub rejected_type_answer: ReturnCode,
    pub dext_entitlements: &'a BTreeMap<String, Prop>,
    pub host_entitlements: &'a BTreeMap<String, Prop>,
    /// Boot-arg `dk` bit 0x8000.
    pub skip_entitlement_check: bool,
    /// The service's `CFBundleIdentifier`.
    pub bundle_id: &'a str,
    /// The service's `IOUserClass`, as the `DK:` lines name it.
    pub user_class: &'a str,
    pub registry_id: EntryId,
    /// Prefix of the dext's own log lines.
    pub log_prefix: &'a str,
}

/// What the open answered, and what the kernel and dext logged on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenDecision {
    pub code: ReturnCode,
    pub log: Vec<String>,
}

fn decided(code: u32, log: Vec<String>) -> OpenDecision {
    OpenDecision {
        code: ReturnCode(code),
        log,
    }
}

/// `is_io_service_open_extended` → `IOService::newUserClient` → `IOUserServer::serviceNewUserClient`
/// (reference §2), in that order.
pub fn open_rules(input: &OpenInput) -> OpenDecision {
    let mut log = Vec::new();
    let running = match input.target {
        OpenTargetKind::NotAService => return decided(code::kIOReturnBadArgument, log),
        // Reference §2 "Consequences" and §5: the server object or the provider answers kIOReturnError
        // without the dext's NewUserClient running.
        OpenTargetKind::UserServer | OpenTargetKind::Interface => {
            return decided(code::kIOReturnError, log);
        }
        // A plain IOService with no IOUserClientClass (reference §2).
        OpenTargetKind::NoUserClient => return decided(code::kIOReturnUnsupported, log),
        OpenTargetKind::DextService { running } => running,
    };
    if !running {
        return decided(code::kIOReturnOffline, log);
    }
    // Step 1: the dext's NewUserClient runs (and logs) before any entitlement check.
    log.push(format!(
        "{}: NewUserClient({})",
        input.log_prefix, input.open_type
    ));
    let ucp = input.user_client_properties.and_then(Prop::as_dict);
    let Some(ucp) = ucp.filter(|d| d.contains_key("IOClass")) else {
        // `Create(this, "UserClientProperties", &client)`: missing, not a dictionary, or no IOClass.
        return decided(code::kIOReturnBadArgument, log);
    };
    if !input.open_types.is_empty() && !input.open_types.contains(&input.open_type) {
        return OpenDecision {
            code: input.rejected_type_answer,
            log,
        };
    }
    // Step 2: the created object must be an IOUserUserClient.
    if ucp.get("IOClass").and_then(Prop::as_str) != Some("IOUserUserClient") {
        return decided(code::kIOReturnUnsupported, log);
    }
    // Step 3: the userclient-access check.
    if !input.skip_entitlement_check && !entitled(input) {
        let who = format!("{}-0x{:x}", input.user_class, input.registry_id);
        log.push(format!(
            "DK: {who}:UC failed userclient-access check, needed bundle ID {}",
            input.bundle_id
        ));
        log.push(format!("DK: {who}:UC entitlements check failed"));
        return decided(code::kIOReturnNotPermitted, log);
    }
    // Back in is_io_service_open_extended: the client's IOUserClientEntitlements.
    if missing_client_entitlement(ucp, input.host_entitlements).is_some() {
        let class = ucp
            .get("IOUserClass")
            .and_then(Prop::as_str)
            .unwrap_or("IOUserUserClient");
        log.push(format!(
            "IOUC {class} missing entitlement in process {HOST_PROCESS}"
        ));
        return decided(code::kIOReturnNotPrivileged, log);
    }
    decided(code::kIOReturnSuccess, log)
}

/// Reference §2 step 3: the dext's `allow-any-userclient-access` (presence counts; the host's has no
/// effect), or the host's `userclient-access` ARRAY containing the bundle id (a newline-joined string
/// does not count).
fn entitled(input: &OpenInput) -> bool {
    if input
        .dext_entitlements
        .contains_key(ALLOW_ANY_USERCLIENT_ACCESS)
    {
        return true;
    }
    input
        .host_entitlements
        .get(USERCLIENT_ACCESS)
        .and_then(Prop::as_array)
        .is_some_and(|ids| ids.iter().any(|p| p.as_str() == Some(input.bundle_id)))
}

/// `IOUserClientEntitlements` on the client properties: a string names one entitlement the host must
/// have; a dictionary names several (keys); `false` asks for none. The shapes are xnu's; the reference
/// only states the rule.
fn missing_client_entitlement(
    ucp: &BTreeMap<String, Prop>,
    host: &BTreeMap<String, Prop>,
) -> Option<String> {
    match ucp.get("IOUserClientEntitlements")? {
        Prop::Str(name) => (!host.contains_key(name)).then(|| name.clone()),
        Prop::Dict(names) => names.keys().find(|k| !host.contains_key(*k)).cloned(),
        _ => None,
    }
}

/// The dext's own breadcrumb when the kernel hands it a call: its `ExternalMethod` override logs the
/// selector before dispatching (the project's dext logs with its prefix, as it does `NewUserClient(type)`).
pub fn external_method_breadcrumb(log_prefix: &str, selector: u32) -> String {
    format!("{log_prefix}: ExternalMethod({selector})")
}

/// The crash report a crashing sim dext leaves. The shape is reference §6's; the values are the sim's own
/// (an abort in the selector's handler), and the path says `sim:` so nobody goes looking for the file.
pub fn crash_report(
    bundle_id: &str,
    user_class: &str,
    selector: u32,
    n: usize,
) -> crate::logs::CrashReport {
    crate::logs::CrashReport {
        path: format!("sim:{bundle_id}-crash-{n}.ips").into(),
        process: Some(bundle_id.to_string()),
        pid: None,
        timestamp: None,
        bug_type: Some("309".into()),
        os_version: None,
        incident_id: None,
        exception_type: Some("EXC_CRASH".into()),
        signal: Some("SIGABRT".into()),
        codes: None,
        crashed_thread: Some(0),
        frames: vec![crate::logs::CrashFrame {
            image: Some(bundle_id.to_string()),
            symbol: Some(format!(
                "{user_class}::ExternalMethod (selector {selector})"
            )),
            image_offset: None,
        }],
    }
}

/// What a selector's function returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BehaviourOutput {
    pub code: ReturnCode,
    pub scalars_out: Vec<u64>,
    pub struct_out: Vec<u8>,
}

fn answer(c: u32) -> BehaviourOutput {
    BehaviourOutput {
        code: ReturnCode(c),
        scalars_out: vec![],
        struct_out: vec![],
    }
}

/// The dext's struct output as the caller receives it: longer than the caller's buffer is
/// kIOReturnBadArgument; shorter comes back at the length the dext wrote, not padded to the buffer
/// (`structureOutputSize = copylen`, reference §3; rule D5 in docs/kernel-rules.md).
fn fit_struct(out: Vec<u8>, capacity: u32) -> Result<Vec<u8>, BehaviourOutput> {
    if out.len() > capacity as usize {
        return Err(answer(code::kIOReturnBadArgument));
    }
    Ok(out)
}

/// Run a selector's behaviour on a call that passed dispatch. `printer` is the printer behind the
/// connection's service (`None` for a service on IOUserResources).
pub fn run_behaviour(
    behaviour: &SimBehaviour,
    args: &CallArgs,
    printer: Option<&mut PrinterState>,
) -> BehaviourOutput {
    // The MIG stub clamps the output room to 16 (reference §3).
    let scalar_cap = crate::dispatch::scalar_output_count(args) as usize;
    let zeroed = || BehaviourOutput {
        code: ReturnCode::SUCCESS,
        scalars_out: vec![0; scalar_cap],
        struct_out: vec![0; args.struct_out_capacity as usize],
    };
    match behaviour {
        // A planted bug behaves until its trigger, which `SimLab::call` checks (it needs the lab's state).
        SimBehaviour::Succeed | SimBehaviour::Planted(_) => zeroed(),
        SimBehaviour::Answer(c) => answer(c.0),
        SimBehaviour::AddToScalars(n) => BehaviourOutput {
            code: ReturnCode::SUCCESS,
            scalars_out: args
                .scalars_in
                .iter()
                .take(scalar_cap)
                .map(|v| v.wrapping_add(*n))
                .collect(),
            struct_out: vec![],
        },
        SimBehaviour::AddToStructFields(adds) => {
            // The dext reads the fields it knows from the front of the input (inline or, past 4096 bytes,
            // through its descriptor) and answers with just those fields: Apple's sample answers its
            // 16-byte {foo, bar} also to the 4104-byte variant (reference §4).
            if args.struct_in.len() < 8 * adds.len() {
                return answer(code::kIOReturnBadArgument);
            }
            let mut out = args.struct_in[..8 * adds.len()].to_vec();
            for (k, add) in adds.iter().enumerate() {
                let field = &mut out[8 * k..8 * k + 8];
                let mut le = [0u8; 8];
                le.copy_from_slice(field);
                field.copy_from_slice(&u64::from_le_bytes(le).wrapping_add(*add).to_le_bytes());
            }
            match fit_struct(out, args.struct_out_capacity) {
                Ok(struct_out) => BehaviourOutput {
                    code: ReturnCode::SUCCESS,
                    scalars_out: vec![],
                    struct_out,
                },
                Err(refused) => refused,
            }
        }
        SimBehaviour::PrinterStatus => {
            let Some(p) = printer else {
                return answer(code::kIOReturnNoDevice);
            };
            let Ok(payload) = ask(p, Command::Status, "") else {
                return answer(code::kIOReturnIOError);
            };
            let status = String::from_utf8_lossy(&payload).trim().parse::<u64>();
            let Ok(status) = status else {
                return answer(code::kIOReturnIOError);
            };
            let mut out = zeroed();
            if let Some(first) = out.scalars_out.first_mut() {
                *first = status;
            }
            out.struct_out.clear();
            out
        }
        SimBehaviour::PrinterInfo(arg) => {
            let Some(p) = printer else {
                return answer(code::kIOReturnNoDevice);
            };
            let Ok(mut payload) = ask(p, Command::Info, arg) else {
                return answer(code::kIOReturnIOError);
            };
            // The dext copies what fits into the caller's buffer; the output size the caller gets back is
            // the answer's length, not the buffer's (IOConnectCallMethod updates outputStructCnt).
            payload.truncate(args.struct_out_capacity as usize);
            BehaviourOutput {
                code: ReturnCode::SUCCESS,
                scalars_out: vec![],
                struct_out: payload,
            }
        }
    }
}

/// One ESC P query over real 32-byte headers and the wire answer, as the dext would do it on the bulk pipes.
fn ask(p: &mut PrinterState, command: Command, arg: &str) -> Result<Vec<u8>, escp::EscpError> {
    let bytes = escp::build_header(command, arg, None)?;
    let header = Header::parse(&bytes)?;
    let wire = p.answer(&header, &[]).unwrap_or_default();
    escp::parse_answer(&wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ucp(class: &str) -> Prop {
        Prop::Dict(BTreeMap::from([(
            "IOClass".to_string(),
            Prop::Str(class.into()),
        )]))
    }

    fn decide(target: OpenTargetKind, props: Option<&Prop>, host: &BTreeMap<String, Prop>) -> u32 {
        let none = BTreeMap::new();
        open_rules(&OpenInput {
            target,
            open_type: 0,
            user_client_properties: props,
            open_types: &[],
            rejected_type_answer: ReturnCode(code::kIOReturnBadArgument),
            dext_entitlements: &none,
            host_entitlements: host,
            skip_entitlement_check: false,
            bundle_id: "com.example.d",
            user_class: "D",
            registry_id: 0x100,
            log_prefix: "D",
        })
        .code
        .0
    }

    #[test]
    fn rules_answer_in_the_reference_order() {
        let ok_host = BTreeMap::from([(
            USERCLIENT_ACCESS.to_string(),
            Prop::Array(vec![Prop::Str("com.example.d".into())]),
        )]);
        let good = ucp("IOUserUserClient");
        let running = OpenTargetKind::DextService { running: true };
        let cases = [
            (
                OpenTargetKind::NotAService,
                Some(&good),
                code::kIOReturnBadArgument,
            ),
            (
                OpenTargetKind::UserServer,
                Some(&good),
                code::kIOReturnError,
            ),
            (OpenTargetKind::Interface, Some(&good), code::kIOReturnError),
            (
                OpenTargetKind::NoUserClient,
                Some(&good),
                code::kIOReturnUnsupported,
            ),
            (
                OpenTargetKind::DextService { running: false },
                None,
                code::kIOReturnOffline,
            ),
            (running, None, code::kIOReturnBadArgument),
            (
                running,
                Some(&Prop::Str("x".into())),
                code::kIOReturnBadArgument,
            ),
            (
                running,
                Some(&Prop::Dict(BTreeMap::new())),
                code::kIOReturnBadArgument,
            ),
            (
                running,
                Some(&ucp("IOUserClient")),
                code::kIOReturnUnsupported,
            ),
            (running, Some(&good), code::kIOReturnSuccess),
        ];
        for (target, props, want) in cases {
            assert_eq!(
                decide(target, props, &ok_host),
                want,
                "{target:?} {props:?}"
            );
        }
        assert_eq!(
            decide(running, Some(&good), &BTreeMap::new()),
            code::kIOReturnNotPermitted
        );
    }
}
