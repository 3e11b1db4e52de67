//! DriverKit `ExternalMethod` dispatch as pure logic: given the driver's selector table and a call's shape,
//! what answers before the dext's function runs (reference §3).
//!
//! Used by the sim dext and, later, by the fuzzer to know what a call must answer. Knows no backend.

use crate::driver::{CompletionCheck, Driver, Selector, SizeCheck};
use crate::ioreturn::{ReturnCode, code};
use crate::lab::CallArgs;

/// `kIOUserClientScalarArrayCountMax`: 16 scalars in and 16 out.
pub const SCALAR_MAX: usize = 16;
/// `sizeof(io_struct_inband_t)`: larger structs travel out-of-line as memory descriptors.
pub const INBAND_MAX: usize = 4096;

/// Why a call was answered before the selector's function ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: ReturnCode,
    /// Where the refusal comes from, for reports: `client side: 17 scalars in (16 at most)`.
    pub reason: String,
}

/// A call that passed dispatch, with how its structs travel.
#[derive(Clone, Debug, PartialEq)]
pub struct Dispatched<'a> {
    pub selector: &'a Selector,
    /// The dext sees `structureInputDescriptor` and a NULL inline pointer.
    pub struct_in_out_of_line: bool,
    pub struct_out_out_of_line: bool,
}

fn refuse(code: u32, reason: String) -> Refusal {
    Refusal {
        code: ReturnCode(code),
        reason,
    }
}

/// The checks a call passes through, in order: the client-side MIG limits, the selector table, the
/// dispatch entry's five checks, and a NULL `function`.
/// The MIG limits the client library enforces before anything is sent: more than 16 scalars in, or room
/// for more than 16 out, is MIG_ARRAY_TOO_LARGE (reference §1, §3). Every backend refuses these alike.
pub fn client_side_limits(args: &CallArgs) -> Result<(), Refusal> {
    if args.scalars_in.len() > SCALAR_MAX {
        return Err(refuse(
            code::MIG_ARRAY_TOO_LARGE,
            format!(
                "client side: {} scalars in ({SCALAR_MAX} at most); nothing was sent",
                args.scalars_in.len()
            ),
        ));
    }
    if args.scalars_out_capacity as usize > SCALAR_MAX {
        return Err(refuse(
            code::MIG_ARRAY_TOO_LARGE,
            format!(
                "client side: room for {} scalars out ({SCALAR_MAX} at most); nothing was sent",
                args.scalars_out_capacity
            ),
        ));
    }
    Ok(())
}

pub fn dispatch<'a>(driver: &'a Driver, args: &CallArgs) -> Result<Dispatched<'a>, Refusal> {
    client_side_limits(args)?;
    let Some(selector) = driver.selector(args.selector) else {
        return Err(refuse(
            code::kIOReturnBadArgument,
            format!(
                "selector {} is past the dext's table ({} selectors)",
                args.selector,
                driver.selectors.len()
            ),
        ));
    };
    if let Some(rule) = selector.rule {
        let checks: [(&str, SizeCheck, usize); 4] = [
            ("scalar input count", rule.scalars_in, args.scalars_in.len()),
            ("structure input size", rule.struct_in, args.struct_in.len()),
            (
                "scalar output count",
                rule.scalars_out,
                args.scalars_out_capacity as usize,
            ),
            (
                "structure output size",
                rule.struct_out,
                args.struct_out_capacity as usize,
            ),
        ];
        if !rule.completion.accepts(args.completion) {
            let want = match rule.completion {
                CompletionCheck::Required => "requires an async completion and none was given",
                CompletionCheck::Forbidden => "forbids an async completion and one was given",
                CompletionCheck::DontCare => unreachable!("don't care accepts both"),
            };
            return Err(refuse(
                code::kIOReturnBadArgument,
                format!("dispatch: `{}` {want}", selector.name),
            ));
        }
        for (what, check, actual) in checks {
            if !check.accepts(actual as u32) {
                let SizeCheck::Exact(want) = check else {
                    unreachable!("variable accepts any size")
                };
                return Err(refuse(
                    code::kIOReturnBadArgument,
                    format!(
                        "dispatch: `{}` checks {what} {want}, the call has {actual}",
                        selector.name
                    ),
                ));
            }
        }
        if !selector.implemented {
            return Err(refuse(
                code::kIOReturnNoCompletion,
                format!(
                    "dispatch: `{}` passed its checks but its function is NULL",
                    selector.name
                ),
            ));
        }
    }
    Ok(Dispatched {
        selector,
        struct_in_out_of_line: args.struct_in.len() > INBAND_MAX,
        struct_out_out_of_line: args.struct_out_capacity as usize > INBAND_MAX,
    })
}
