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

/// The scalar output count the kernel sees: the MIG stub sends `min(capacity, 16)` because
/// `scalar_output` is CountInOut in device.defs (bootstrap_cmds `migcom`, `WriteInitializeCount`;
/// reference §3). So room for 17 outputs passes a "16 out" check and gets 16 back.
pub fn scalar_output_count(args: &CallArgs) -> u32 {
    args.scalars_out_capacity.min(SCALAR_MAX as u32)
}

/// The MIG limit the client library enforces before anything is sent: more than 16 scalar *inputs* is
/// MIG_ARRAY_TOO_LARGE (reference §1, §3). Every backend refuses these alike. Output room above 16 is not
/// refused: it is clamped ([`scalar_output_count`]).
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
    Ok(())
}

/// The checks a call passes through, in the order xnu's `IOUserClient2022::dispatchExternalMethod`
/// (iokit/Kernel/IOUserClient.cpp) makes them: the client-side MIG limit, the selector past the table, the
/// scalar input count, the structure input size, the scalar output count, the structure output size, the
/// completion, and a NULL `function` (kIOReturnNoCompletion). libdriverkit's own dispatcher is closed
/// source: that it keeps the kernel's order is UNCONFIRMED, and the kernel only *forbids* an async
/// reference (`allowAsync`) where DriverKit's `checkCompletionExists` can also require one (reference §3).
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
                scalar_output_count(args) as usize,
            ),
            (
                "structure output size",
                rule.struct_out,
                args.struct_out_capacity as usize,
            ),
        ];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{DispatchRule, SimBehaviour, VARIABLE};
    use crate::span::Span;

    fn selector(id: u32, rule: Option<DispatchRule>, implemented: bool) -> Selector {
        Selector {
            id,
            name: format!("s{id}"),
            rule,
            implemented,
            sim: SimBehaviour::Succeed,
            answers: vec![],
            span: Span::builtin("test"),
        }
    }

    fn rule(
        completion: CompletionCheck,
        scalars_in: u32,
        struct_in: u32,
        scalars_out: u32,
        struct_out: u32,
    ) -> DispatchRule {
        let check = |n: u32| {
            if n == VARIABLE {
                SizeCheck::Variable
            } else {
                SizeCheck::Exact(n)
            }
        };
        DispatchRule {
            completion,
            scalars_in: check(scalars_in),
            struct_in: check(struct_in),
            scalars_out: check(scalars_out),
            struct_out: check(struct_out),
        }
    }

    fn driver() -> Driver {
        use CompletionCheck::*;
        Driver {
            source: "test".into(),
            name: "t".into(),
            bundle_id: "com.example.t".into(),
            user_class: "T".into(),
            io_class: "IOUserService".into(),
            server_name: "com.example.t".into(),
            provider: crate::driver::Provider::UserResources,
            user_client_properties: None,
            open_types: vec![],
            rejected_type_answer: ReturnCode(code::kIOReturnBadArgument),
            entitlements: Default::default(),
            log_prefix: None,
            log: Default::default(),
            classes: Default::default(),
            selectors: vec![
                selector(0, None, true),
                selector(1, Some(rule(Forbidden, 2, 16, 1, 8)), true),
                selector(
                    2,
                    Some(rule(DontCare, VARIABLE, VARIABLE, VARIABLE, VARIABLE)),
                    true,
                ),
                selector(3, Some(rule(Required, 0, 16, 0, 0)), true),
                selector(4, Some(rule(DontCare, 0, 0, 0, 0)), false),
                selector(5, Some(rule(Forbidden, 0, 0, 16, 0)), true),
            ],
        }
    }

    fn call(
        selector: u32,
        scalars: usize,
        sin: usize,
        sout: u32,
        stout: u32,
        completion: bool,
    ) -> CallArgs {
        CallArgs {
            selector,
            scalars_in: vec![7; scalars],
            struct_in: vec![0; sin],
            scalars_out_capacity: sout,
            struct_out_capacity: stout,
            completion,
        }
    }

    #[test]
    fn exact_and_variable_checks_table() {
        let d = driver();
        let bad = Some(code::kIOReturnBadArgument);
        // (case, args, expected refusal code or None for passed)
        let cases: Vec<(&str, CallArgs, Option<u32>)> = vec![
            ("exact shape passes", call(1, 2, 16, 1, 8, false), None),
            ("one scalar too many", call(1, 3, 16, 1, 8, false), bad),
            ("one scalar too few", call(1, 1, 16, 1, 8, false), bad),
            ("struct in +1", call(1, 2, 17, 1, 8, false), bad),
            ("struct in -1", call(1, 2, 15, 1, 8, false), bad),
            (
                "scalar out capacity differs",
                call(1, 2, 16, 2, 8, false),
                bad,
            ),
            (
                "struct out capacity differs",
                call(1, 2, 16, 1, 9, false),
                bad,
            ),
            (
                "completion given but forbidden",
                call(1, 2, 16, 1, 8, true),
                bad,
            ),
            (
                "completion required, missing",
                call(3, 0, 16, 0, 0, false),
                bad,
            ),
            (
                "completion required, given",
                call(3, 0, 16, 0, 0, true),
                None,
            ),
            (
                "variable accepts anything",
                call(2, 16, 9000, 16, 9000, true),
                None,
            ),
            ("variable accepts nothing", call(2, 0, 0, 0, 0, false), None),
            (
                "unchecked selector passes anything",
                call(0, 5, 3, 2, 1, true),
                None,
            ),
            ("past the table", call(9, 0, 0, 0, 0, false), bad),
            (
                "NULL function",
                call(4, 0, 0, 0, 0, false),
                Some(code::kIOReturnNoCompletion),
            ),
            (
                "NULL function still checks shape first",
                call(4, 1, 0, 0, 0, false),
                bad,
            ),
            (
                "17 scalars never leave the process",
                call(0, 17, 0, 0, 0, false),
                Some(code::MIG_ARRAY_TOO_LARGE),
            ),
            (
                "room for 17 scalars out is clamped to 16, not refused",
                call(0, 0, 0, 17, 0, false),
                None,
            ),
            (
                "room for 17 outs passes a \"16 out\" check",
                call(5, 0, 0, 17, 0, false),
                None,
            ),
            (
                "room for 15 outs fails a \"16 out\" check",
                call(5, 0, 0, 15, 0, false),
                bad,
            ),
            ("16 scalars are fine", call(0, 16, 0, 16, 0, false), None),
        ];
        for (case, args, want) in cases {
            let got = dispatch(&d, &args).err().map(|r| r.code.0);
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn out_of_line_starts_at_4097_bytes() {
        let d = driver();
        let at = |sin: usize, sout: u32| {
            let ok = dispatch(&d, &call(2, 0, sin, 0, sout, false)).unwrap();
            (ok.struct_in_out_of_line, ok.struct_out_out_of_line)
        };
        assert_eq!(at(4096, 4096), (false, false));
        assert_eq!(at(4097, 4096), (true, false));
        assert_eq!(at(4096, 4097), (false, true));
        assert_eq!(at(4104, 4104), (true, true));
    }

    /// Rule D3 (docs/kernel-rules.md): sizes before the completion, as `dispatchExternalMethod` has it.
    #[test]
    fn a_call_wrong_in_two_ways_is_refused_for_the_first_check_in_kernel_order() {
        let d = driver();
        // Selector 1 forbids a completion and wants 2 scalars: this call has both wrong.
        let r = dispatch(&d, &call(1, 3, 16, 1, 8, true)).unwrap_err();
        assert!(r.reason.contains("scalar input count"), "{}", r.reason);
        // Struct output size wrong and completion wrong: the size is named.
        let r = dispatch(&d, &call(1, 2, 16, 1, 9, true)).unwrap_err();
        assert!(r.reason.contains("structure output size"), "{}", r.reason);
    }

    #[test]
    fn refusals_say_where_they_come_from() {
        let d = driver();
        let r = dispatch(&d, &call(1, 3, 16, 1, 8, false)).unwrap_err();
        assert!(
            r.reason.contains("scalar input count 2, the call has 3"),
            "{}",
            r.reason
        );
        let r = dispatch(&d, &call(0, 17, 0, 0, 0, false)).unwrap_err();
        assert!(r.reason.starts_with("client side"), "{}", r.reason);
    }
}
