//! The simulated dext as pure functions: what a selector's [`SimBehaviour`] returns once a call has passed
//! [`crate::dispatch::dispatch`] (reference §3, §4), its breadcrumbs and crash report. The open path is
//! `open_rules`. No state, no timing, no faults: `SimLab` feeds these from its state.

use crate::driver::SimBehaviour;
use crate::ioreturn::{ReturnCode, code};
use crate::lab::CallArgs;
use crate::printer::escp::{self, Command, Header, PrinterState};

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
