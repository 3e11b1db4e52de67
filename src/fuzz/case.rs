//! What a call must answer ([`allowed`]): the dispatch rules of reference §3 through
//! [`crate::dispatch::dispatch`], plus what the driver file lets a selector answer. The operations
//! themselves are event types ([`crate::report::fuzz_op`]).

use crate::dispatch::dispatch;
use crate::driver::Driver;
use crate::ioreturn::{ReturnCode, code};
use crate::lab::CallArgs;
pub use crate::report::fuzz_op::{FuzzCall, FuzzOp, Miss, Shape, hex_of, miss_name};

/// What a call may answer, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowed {
    pub codes: Vec<ReturnCode>,
    pub why: String,
}

impl Allowed {
    pub fn allows(&self, c: ReturnCode) -> bool {
        self.codes.contains(&c)
    }

    /// `kIOReturnSuccess (0x00000000) or kIOReturnBadArgument (0xE00002C2)`.
    pub fn text(&self) -> String {
        self.codes
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// The answers a call may get. A refusal by dispatch (reference §3: a mismatch or a selector past the
/// table is kIOReturnBadArgument, more than 16 scalars MIG_ARRAY_TOO_LARGE, a NULL function
/// kIOReturnNoCompletion) is the only answer allowed. A call that passes may get success or a code the
/// driver file's `answers:` lists; a selector without a dispatch entry checks its arguments itself
/// (Apple's sample `Struct` refuses a short struct, reference §4), so kIOReturnBadArgument is allowed too.
pub fn allowed(driver: &Driver, args: &CallArgs) -> Allowed {
    match dispatch(driver, args) {
        Err(refusal) => Allowed {
            codes: vec![refusal.code],
            why: refusal.reason,
        },
        Ok(d) => {
            let mut codes = vec![ReturnCode::SUCCESS];
            let mut why = format!("`{}` passes its dispatch checks", d.selector.name);
            if d.selector.rule.is_none() {
                codes.push(ReturnCode(code::kIOReturnBadArgument));
                why = format!(
                    "`{}` has no dispatch entry and checks its own arguments",
                    d.selector.name
                );
            }
            for c in &d.selector.answers {
                if !codes.contains(c) {
                    codes.push(*c);
                }
            }
            Allowed { codes, why }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Driver {
        crate::scenario::load_driver(std::path::Path::new("scenarios/drivers/apple-sample.yaml"))
            .unwrap()
    }

    fn call(
        selector: u32,
        scalars: usize,
        len: u32,
        so: u32,
        sto: u32,
        completion: bool,
    ) -> CallArgs {
        FuzzCall {
            selector,
            scalars: vec![1; scalars],
            pattern: vec![0xab],
            struct_len: len,
            scalars_out: so,
            struct_out: sto,
            completion,
            shape: Shape::Valid,
        }
        .args()
    }

    #[test]
    fn a_near_miss_may_only_be_refused_and_a_valid_shape_may_succeed() {
        let d = sample();
        let bad = ReturnCode(code::kIOReturnBadArgument);
        // CheckedStruct: 0 scalars, 16 bytes in, 16 out, completion forbidden.
        assert_eq!(allowed(&d, &call(3, 0, 17, 0, 16, false)).codes, vec![bad]);
        assert_eq!(allowed(&d, &call(3, 0, 16, 0, 16, true)).codes, vec![bad]);
        assert_eq!(
            allowed(&d, &call(3, 0, 16, 0, 16, false)).codes,
            vec![ReturnCode::SUCCESS]
        );
        assert_eq!(
            allowed(&d, &call(u32::MAX, 0, 0, 0, 0, false)).codes,
            vec![bad]
        );
        assert_eq!(
            allowed(&d, &call(0, 17, 0, 0, 0, false)).codes,
            vec![ReturnCode(code::MIG_ARRAY_TOO_LARGE)]
        );
        // Struct (1) has no dispatch entry: it refuses a short struct itself.
        assert!(allowed(&d, &call(1, 0, 3, 0, 16, false)).allows(bad));
    }

    #[test]
    fn a_struct_is_its_pattern_repeated_and_survives_the_journal() {
        let c = FuzzCall {
            selector: 1,
            scalars: vec![u64::MAX],
            pattern: vec![0x01, 0xff],
            struct_len: 5,
            scalars_out: 0,
            struct_out: 0,
            completion: false,
            shape: Shape::NearMiss(Miss::StructIn),
        };
        assert_eq!(c.struct_in(), vec![1, 0xff, 1, 0xff, 1]);
        let op = FuzzOp::Call(c);
        let text = serde_json::to_string(&op).unwrap();
        assert!(text.contains("\"pattern\":\"01ff\""), "{text}");
        assert_eq!(serde_json::from_str::<FuzzOp>(&text).unwrap(), op);
    }
}
