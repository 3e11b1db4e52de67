//! A scenario file exactly as written: serde structs that reject unknown keys and keep the spans the
//! validation needs. Nothing here is resolved or range-checked; `validate` does that.

use super::values::{
    OrderedMap, PropMap, RawBytes, RawCodes, RawDuration, RawInt, RawSelectorRef,
    RawUserClientProps, Text,
};
use crate::lab::{OpenTarget, WaitFor};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Option<Spanned<String>>,
    pub about: Option<String>,
    pub tags: Option<Vec<String>>,
    pub driver: Spanned<String>,
    pub deadline: Option<Spanned<RawDuration>>,
    pub step_deadline: Option<Spanned<RawDuration>>,
    pub printers: Option<OrderedMap<Spanned<RawRole>>>,
    pub sim: Option<RawSim>,
    pub steps: Vec<Spanned<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    pub model: Option<Spanned<String>>,
    pub vendor: Option<Spanned<RawInt>>,
    pub product: Option<Spanned<RawInt>>,
    pub serial: Option<Text>,
    pub location: Option<Spanned<RawInt>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSim {
    pub faults: Option<Vec<Spanned<RawFault>>>,
    pub host_entitlements: Option<PropMap>,
    pub dext_entitlements: Option<PropMap>,
    pub user_client_properties: Option<RawUserClientProps>,
    pub skip_entitlement_check: Option<bool>,
    pub usb_host_open: Option<Spanned<RawCodes>>,
    pub timing: Option<RawTiming>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTiming {
    pub replug_off: Option<Spanned<RawDuration>>,
    pub match_delay: Option<Spanned<RawDuration>>,
}

/// One fault: exactly one of the kind keys plus that kind's companion (docs/format.md "Sim faults").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub open: Option<Spanned<String>>,
    pub call: Option<Spanned<RawSelectorRef>>,
    pub hang: Option<Spanned<RawSelectorRef>>,
    pub crash: Option<Spanned<RawSelectorRef>>,
    pub unplug: Option<Spanned<String>>,
    pub slow_match: Option<Spanned<String>>,
    pub unplug_mid_call: Option<Spanned<RawSelectorRef>>,
    pub reenumerate: Option<Spanned<String>>,
    pub never_match: Option<Spanned<String>>,
    pub answer: Option<Spanned<RawCodes>>,
    pub rematch_after: Option<Spanned<RawDuration>>,
    pub after: Option<Spanned<RawDuration>>,
    pub delay: Option<Spanned<RawDuration>>,
    pub times: Option<Spanned<RawInt>>,
    pub open_lab_error: Option<Spanned<String>>,
    pub attempts: Option<Spanned<RawInt>>,
    pub abort: Option<Spanned<RawSelectorRef>>,
    pub rpc: Option<Spanned<String>>,
}

// Raw parse trees live only while one file loads; boxing variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawStep {
    Replug(Spanned<String>),
    Await(RawAwait),
    CrossCheck(Spanned<RawCrossCheck>),
    Open(RawOpen),
    Call(RawCall),
    Close(Spanned<RawClose>),
    Repeat(RawRepeat),
    Sleep(Spanned<RawDuration>),
    Fuzz(Spanned<RawFuzz>),
    /// `log: "text"`: a marker line in the run's output and journal.
    Log(Spanned<String>),
}

/// `fuzz: { on: uc | printer: p, selectors: [..] | all, cases: N, seed: S, budget: 30s, durability: batch }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFuzz {
    pub on: Option<Spanned<String>>,
    pub printer: Option<Spanned<String>>,
    pub selectors: Option<Spanned<RawSelectors>>,
    pub cases: Option<Spanned<RawInt>>,
    pub seed: Option<Spanned<RawInt>>,
    pub budget: Option<Spanned<RawDuration>>,
    pub durability: Option<Spanned<String>>,
    pub within: Option<Spanned<RawDuration>>,
}

/// `all`, or a list of selector names / numbers.
#[derive(Debug)]
pub enum RawSelectors {
    All,
    List(Vec<Spanned<RawSelectorRef>>),
    Other(String),
}

impl<'de> Deserialize<'de> for RawSelectors {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSelectors;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`all` or a list of selector names or numbers")
            }
            fn visit_str<E>(self, v: &str) -> Result<RawSelectors, E> {
                Ok(if v == "all" {
                    RawSelectors::All
                } else {
                    RawSelectors::Other(v.to_string())
                })
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<RawSelectors, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = s.next_element()? {
                    out.push(x);
                }
                Ok(RawSelectors::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAwait {
    pub printer: Option<Spanned<String>>,
    pub state: WaitFor,
    pub within: Option<Spanned<RawDuration>>,
    pub expect_log: Option<Spanned<RawLogExpect>>,
    pub expect_no_log: Option<Spanned<RawLogExpect>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCrossCheckMap {
    pub printer: Spanned<String>,
    pub skip: Option<Vec<Spanned<String>>>,
    pub expect_mismatch: Option<Vec<Spanned<String>>>,
    pub within: Option<Spanned<RawDuration>>,
}

/// `cross_check: p` or `cross_check: { printer: p, ... }`.
// Raw parse trees live only while one file loads; boxing variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum RawCrossCheck {
    Role(String),
    Map(RawCrossCheckMap),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpen {
    pub printer: Option<Spanned<String>>,
    pub object: Option<OpenTarget>,
    #[serde(rename = "type")]
    pub open_type: Option<Spanned<RawInt>>,
    #[serde(rename = "as")]
    pub name: Spanned<String>,
    pub within: Option<Spanned<RawDuration>>,
    pub expect: Option<Spanned<RawExpect>>,
    pub expect_log: Option<Spanned<RawLogExpect>>,
    pub expect_no_log: Option<Spanned<RawLogExpect>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCall {
    pub on: Spanned<String>,
    pub selector: Spanned<RawSelectorRef>,
    pub scalars: Option<Spanned<Vec<Spanned<RawInt>>>>,
    #[serde(rename = "struct")]
    pub struct_in: Option<Spanned<RawBytes>>,
    pub scalars_out: Option<Spanned<RawInt>>,
    pub struct_out: Option<Spanned<RawInt>>,
    pub completion: Option<bool>,
    pub within: Option<Spanned<RawDuration>>,
    pub expect: Option<Spanned<RawExpect>>,
    pub expect_log: Option<Spanned<RawLogExpect>>,
    pub expect_no_log: Option<Spanned<RawLogExpect>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    #[serde(rename = "return")]
    pub codes: Option<Spanned<RawCodes>>,
    pub scalars: Option<Spanned<Vec<Spanned<RawInt>>>>,
    #[serde(rename = "struct")]
    pub struct_out: Option<Spanned<RawBytes>>,
    pub within: Option<Spanned<RawDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCloseMap {
    pub on: Spanned<String>,
    pub within: Option<Spanned<RawDuration>>,
    pub expect: Option<Spanned<RawExpect>>,
    pub expect_log: Option<Spanned<RawLogExpect>>,
    pub expect_no_log: Option<Spanned<RawLogExpect>>,
}

/// `close: uc` or `close: { on: uc, expect: ... }`.
// Raw parse trees live only while one file loads; boxing variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum RawClose {
    Name(String),
    Map(RawCloseMap),
}

/// `expect_log: { contains: "...", within: 1s }` (and `expect_no_log`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogExpect {
    pub contains: Spanned<String>,
    pub within: Option<Spanned<RawDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRepeat {
    pub times: Spanned<RawInt>,
    pub steps: Vec<Spanned<RawStep>>,
}

/// The "a name or a map" shape: a hand-written visitor so the map's own spans and unknown-key errors
/// survive (an untagged enum would lose both).
macro_rules! name_or_map {
    ($ty:ident, $name:ident, $map:ident, $mapty:ty, $expecting:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E>(self, v: &str) -> Result<$ty, E> {
                        Ok($ty::$name(v.to_string()))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<$ty, A::Error> {
                        <$mapty>::deserialize(de::value::MapAccessDeserializer::new(m))
                            .map($ty::$map)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

name_or_map!(
    RawCrossCheck,
    Role,
    Map,
    RawCrossCheckMap,
    "a printer role, or { printer, skip, expect_mismatch }"
);
name_or_map!(
    RawClose,
    Name,
    Map,
    RawCloseMap,
    "a connection name, or { on, expect }"
);
