//! What one fuzz operation is ([`FuzzOp`], [`FuzzCall`]), as the journal stores it and a scenario replays
//! it, and what a call must answer ([`allowed`]): the dispatch rules of reference §3 through
//! [`crate::dispatch::dispatch`], plus what the driver file lets a selector answer.

use crate::dispatch::dispatch;
use crate::driver::Driver;
use crate::ioreturn::{ReturnCode, code};
use crate::lab::CallArgs;
use serde::{Deserialize, Serialize};

/// How a generated call relates to the selector's dispatch entry (for reports; the expected answer is
/// always computed from the rules, never from this label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// The entry's exact counts and sizes (variable ones at interesting lengths).
    Valid,
    /// One check off by a little: `what` names it.
    NearMiss(Miss),
    /// A selector the table does not have.
    PastTable,
}

/// Which check a near miss misses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Miss {
    ScalarsIn,
    StructIn,
    ScalarsOut,
    StructOut,
    Completion,
    /// More than 16 scalars: MIG_ARRAY_TOO_LARGE before anything is sent.
    TooManyScalars,
}

/// One user-client call. The struct input is `pattern` repeated and cut to `struct_len`, so a 4097-byte
/// input stays one short line in the journal and `{repeat: .., len: ..}` in a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuzzCall {
    pub selector: u32,
    pub scalars: Vec<u64>,
    #[serde(with = "hex")]
    pub pattern: Vec<u8>,
    pub struct_len: u32,
    pub scalars_out: u32,
    pub struct_out: u32,
    pub completion: bool,
    pub shape: Shape,
}

impl FuzzCall {
    pub fn struct_in(&self) -> Vec<u8> {
        if self.pattern.is_empty() {
            return vec![0; self.struct_len as usize];
        }
        self.pattern
            .iter()
            .copied()
            .cycle()
            .take(self.struct_len as usize)
            .collect()
    }

    pub fn args(&self) -> CallArgs {
        CallArgs {
            selector: self.selector,
            scalars_in: self.scalars.clone(),
            struct_in: self.struct_in(),
            scalars_out_capacity: self.scalars_out,
            struct_out_capacity: self.struct_out,
            completion: self.completion,
        }
    }

    /// `selector 3 (near miss struct_in): 0 scalars, struct 17 bytes, out 0/16`.
    pub fn describe(&self, driver: &Driver) -> String {
        let name = driver
            .selector(self.selector)
            .map(|s| format!("`{}` ({})", s.name, s.id))
            .unwrap_or_else(|| format!("#{}", self.selector));
        let shape = match self.shape {
            Shape::Valid => "valid shape".to_string(),
            Shape::NearMiss(m) => format!("near miss: {}", miss_name(m)),
            Shape::PastTable => "past the table".to_string(),
        };
        format!(
            "call {name} [{shape}]: {} scalars, struct in {} bytes, room for {} scalars and {} bytes out{}",
            self.scalars.len(),
            self.struct_len,
            self.scalars_out,
            self.struct_out,
            if self.completion {
                ", with a completion"
            } else {
                ""
            }
        )
    }
}

pub fn miss_name(m: Miss) -> &'static str {
    match m {
        Miss::ScalarsIn => "scalar input count",
        Miss::StructIn => "struct input size",
        Miss::ScalarsOut => "scalar output count",
        Miss::StructOut => "struct output size",
        Miss::Completion => "completion",
        Miss::TooManyScalars => "more than 16 scalars",
    }
}

/// One operation of a fuzz case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FuzzOp {
    /// `IOServiceOpen` of the dext's service.
    Open,
    Call(FuzzCall),
    /// A call on a connection that was closed: what a dead connection answers on this lab.
    CallClosed(FuzzCall),
    Close,
    /// Re-plug the printer (no connection is open) and wait for the dext to match again.
    Replug,
    /// Wait for the dext's service to be registered.
    Await,
}

impl FuzzOp {
    pub fn describe(&self, driver: &Driver) -> String {
        match self {
            FuzzOp::Open => "open".into(),
            FuzzOp::Call(c) => c.describe(driver),
            FuzzOp::CallClosed(c) => format!("on a closed connection: {}", c.describe(driver)),
            FuzzOp::Close => "close".into(),
            FuzzOp::Replug => "replug".into(),
            FuzzOp::Await => "await matched".into(),
        }
    }
}

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

mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex_of(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        if !text.len().is_multiple_of(2) {
            return Err(serde::de::Error::custom("odd number of hex digits"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not hex")))
            })
            .collect()
    }
}

/// Lowercase hex without spaces.
pub fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
