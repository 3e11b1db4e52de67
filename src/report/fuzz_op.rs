//! The fuzz operation as an event type: what one operation of a fuzz case is ([`FuzzOp`], [`FuzzCall`]),
//! as the journal stores it and a scenario replays it. The fuzzer generates these; reporters show them.

use crate::driver::Driver;
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
