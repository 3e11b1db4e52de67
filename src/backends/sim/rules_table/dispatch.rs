//! Rows D1-D7 (dispatch).

use super::*;

pub(super) fn sample() -> crate::driver::Driver {
    crate::scenario::load_driver(&root("scenarios/drivers/apple-sample.yaml"))
        .expect("the sample loads")
}

pub(super) fn args(
    selector: u32,
    scalars: usize,
    struct_in: usize,
    scalars_out: u32,
    struct_out: u32,
    completion: bool,
) -> CallArgs {
    CallArgs {
        selector,
        scalars_in: vec![1; scalars],
        struct_in: vec![0; struct_in],
        scalars_out_capacity: scalars_out,
        struct_out_capacity: struct_out,
        completion,
    }
}

pub(super) fn refused(a: &CallArgs) -> Option<u32> {
    crate::dispatch::dispatch(&sample(), a)
        .err()
        .map(|r| r.code.0)
}

pub(super) fn dispatch_rows() -> Vec<(&'static str, Check)> {
    vec![
        (
            "D1",
            Box::new(|| {
                expect(
                    "17 scalars in",
                    refused(&args(0, 17, 0, 0, 0, false)),
                    Some(code::MIG_ARRAY_TOO_LARGE),
                )
            }),
        ),
        (
            "D2",
            Box::new(|| {
                // CheckedScalar checks 16 out: room for 17 is clamped to 16 and passes, 16 come back.
                expect(
                    "room for 17 out",
                    refused(&args(2, 16, 0, 17, 0, false)),
                    None,
                )?;
                let out = dext::run_behaviour(
                    &crate::driver::SimBehaviour::AddToScalars(1),
                    &args(0, 16, 0, 40, 0, false),
                    None,
                );
                expect("scalars back", out.scalars_out.len(), 16)
            }),
        ),
        (
            "D3",
            Box::new(|| {
                let r =
                    crate::dispatch::dispatch(&sample(), &args(2, 15, 0, 16, 0, true)).unwrap_err();
                holds(
                    &format!("scalar count named before the completion: {}", r.reason),
                    r.reason.contains("scalar input count"),
                )
            }),
        ),
        (
            "D4",
            Box::new(|| {
                expect(
                    "past the table",
                    refused(&args(6, 0, 0, 0, 0, false)),
                    Some(code::kIOReturnBadArgument),
                )?;
                expect(
                    "completion where forbidden",
                    refused(&args(2, 16, 0, 16, 0, true)),
                    Some(code::kIOReturnBadArgument),
                )?;
                expect(
                    "completion missing where required",
                    refused(&args(4, 0, 16, 0, 16, false)),
                    Some(code::kIOReturnBadArgument),
                )
            }),
        ),
        (
            "D5",
            Box::new(|| {
                let add = crate::driver::SimBehaviour::AddToStructFields(vec![1, 10]);
                let out = dext::run_behaviour(&add, &args(1, 0, 16, 0, 64, false), None);
                expect("struct length back", out.struct_out.len(), 16)?;
                let out = dext::run_behaviour(&add, &args(1, 0, 16, 0, 8, false), None);
                expect(
                    "longer than the buffer",
                    out.code.0,
                    code::kIOReturnBadArgument,
                )
            }),
        ),
        (
            "D6",
            Box::new(|| {
                let mut d = sample();
                d.selectors
                    .iter_mut()
                    .filter(|s| s.id == 5)
                    .for_each(|s| s.implemented = false);
                let r = crate::dispatch::dispatch(&d, &args(5, 0, 16, 0, 0, false))
                    .err()
                    .map(|r| r.code.0);
                expect("NULL function", r, Some(code::kIOReturnNoCompletion))
            }),
        ),
        (
            "D7",
            Box::new(|| {
                let d = sample();
                let at = |n| {
                    crate::dispatch::dispatch(&d, &args(1, 0, n, 0, 0, false))
                        .map(|x| x.struct_in_out_of_line)
                };
                expect(
                    "4096 inline, 4097 out of line",
                    (at(4096), at(4097)),
                    (Ok(false), Ok(true)),
                )
            }),
        ),
    ]
}
