//! The value forms shared by scenario and driver files (docs/format.md "Common value forms"): integers
//! range-checked per field, durations with units, byte strings, return codes, and property trees. Each
//! form is read by a small hand-written visitor (so a wrong shape gets a located message, and spans
//! survive) and checked here into its final type.

use super::error::Diag;
use crate::ioreturn::{self, ReturnCode};
use crate::lab::Prop;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Durations are bounded so a typo (`5m` for `5ms`) cannot park a lab for days.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Struct inputs, outputs and expectations.
pub const MAX_STRUCT: usize = 1024 * 1024;
/// Scalar lists: more than 16 is allowed (it is how a scenario provokes MIG_ARRAY_TOO_LARGE).
pub const MAX_SCALARS: usize = 64;

macro_rules! expecting {
    ($text:expr) => {
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str($text)
        }
    };
}

/// An integer as written: decimal, YAML hex / octal, or a quoted number; range-checked later per field.
#[derive(Clone, Debug, PartialEq)]
pub enum RawInt {
    Value(i128),
    /// Not an integer (a float, a number past 64 bits, other text): the text, for the message.
    Bad(String),
}

impl<'de> Deserialize<'de> for RawInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawInt;
            expecting!("an integer");
            fn visit_u64<E>(self, v: u64) -> Result<RawInt, E> {
                Ok(RawInt::Value(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawInt, E> {
                Ok(RawInt::Value(v.into()))
            }
            fn visit_u128<E>(self, v: u128) -> Result<RawInt, E> {
                Ok(i128::try_from(v).map_or_else(|_| RawInt::Bad(format!("`{v}`")), RawInt::Value))
            }
            fn visit_i128<E>(self, v: i128) -> Result<RawInt, E> {
                Ok(RawInt::Value(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawInt, E> {
                // YAML reads a decimal past 64 bits as a float; say so rather than print its rounding.
                Ok(RawInt::Bad(if v.fract() == 0.0 && v.abs() >= 9.2e18 {
                    "a number too large for 64 bits".to_string()
                } else {
                    format!("`{v}`")
                }))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawInt, E> {
                Ok(parse_int_text(v).map_or_else(|| RawInt::Bad(format!("`{v}`")), RawInt::Value))
            }
        }
        d.deserialize_any(V)
    }
}

fn parse_int_text(t: &str) -> Option<i128> {
    let t = t.trim().replace('_', "");
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.as_str()),
    };
    let v = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(h) => i128::from_str_radix(h, 16).ok()?,
        None => body.parse::<i128>().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// Range-check an integer for a field of type `what` (`u8`, `u16`, ...).
pub fn int_in(
    diag: &mut Diag,
    field: &str,
    v: &Spanned<RawInt>,
    min: i128,
    max: i128,
    what: &str,
) -> Option<i128> {
    match &v.value {
        RawInt::Value(n) if (min..=max).contains(n) => Some(*n),
        RawInt::Value(n) => {
            diag.error(
                v.referenced,
                format!("`{field}` is {n}, out of range for {what} ({min}..={max})"),
            );
            None
        }
        RawInt::Bad(text) => {
            diag.error(
                v.referenced,
                format!("`{field}` must be an integer ({what}), found {text}"),
            );
            None
        }
    }
}

pub fn u8_of(diag: &mut Diag, field: &str, v: &Spanned<RawInt>) -> Option<u8> {
    int_in(diag, field, v, 0, u8::MAX.into(), "u8").map(|n| n as u8)
}
pub fn u16_of(diag: &mut Diag, field: &str, v: &Spanned<RawInt>) -> Option<u16> {
    int_in(diag, field, v, 0, u16::MAX.into(), "u16").map(|n| n as u16)
}
pub fn u32_of(diag: &mut Diag, field: &str, v: &Spanned<RawInt>) -> Option<u32> {
    int_in(diag, field, v, 0, u32::MAX.into(), "u32").map(|n| n as u32)
}
pub fn u64_of(diag: &mut Diag, field: &str, v: &Spanned<RawInt>) -> Option<u64> {
    int_in(diag, field, v, 0, u64::MAX.into(), "u64").map(|n| n as u64)
}

/// A list of u64 scalars, at most [`MAX_SCALARS`].
pub fn scalars_of(
    diag: &mut Diag,
    field: &str,
    list: &Spanned<Vec<Spanned<RawInt>>>,
) -> Option<Vec<u64>> {
    if list.value.len() > MAX_SCALARS {
        diag.error(
            list.referenced,
            format!(
                "`{field}` has {} entries; at most {MAX_SCALARS} are allowed",
                list.value.len()
            ),
        );
        return None;
    }
    let before = diag.errors.len();
    let out: Vec<u64> = list
        .value
        .iter()
        .filter_map(|s| u64_of(diag, field, s))
        .collect();
    (diag.errors.len() == before).then_some(out)
}

/// A duration as written: text with a unit, or a bare number (an error: the unit must be said).
#[derive(Clone, Debug, PartialEq)]
pub enum RawDuration {
    Text(String),
    Bare(String),
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawDuration;
            expecting!("a duration such as `250ms`, `5s` or `2m`");
            fn visit_u64<E>(self, v: u64) -> Result<RawDuration, E> {
                Ok(RawDuration::Bare(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawDuration, E> {
                Ok(RawDuration::Bare(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawDuration, E> {
                Ok(RawDuration::Bare(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parse `250ms`, `5s`, `2m`, `1.5s`, `100us` (no bigger than [`MAX_DURATION`]).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!("`{t}` is negative: a duration is 0 or more"));
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let nanos_per_unit: f64 = match unit.trim() {
        "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "" => {
            return Err(format!(
                "`{t}` has no unit: write e.g. `{t}s` or `{t}ms` (units: us, ms, s, m)"
            ));
        }
        other => {
            return Err(format!(
                "`{other}` is not a duration unit in `{t}`: expected us, ms, s or m"
            ));
        }
    };
    let value: f64 = number.parse().map_err(|_| {
        format!("`{t}` is not a duration: expected a number and a unit, e.g. `250ms`")
    })?;
    let nanos = value * nanos_per_unit;
    if !nanos.is_finite() || nanos > MAX_DURATION.as_nanos() as f64 {
        return Err(format!("`{t}` is longer than the limit of 1 hour (60m)"));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

pub fn duration_of(diag: &mut Diag, field: &str, v: &Spanned<RawDuration>) -> Option<Duration> {
    let result = match &v.value {
        RawDuration::Text(t) => parse_duration(t),
        RawDuration::Bare(n) => Err(format!(
            "`{n}` has no unit: write e.g. `{n}s` or `{n}ms` (units: us, ms, s, m)"
        )),
    };
    result
        .map_err(|m| diag.error(v.referenced, format!("`{field}`: {m}")))
        .ok()
}

/// A deadline (`within`, `deadline`, `step_deadline`): a duration that is not zero. Anything below the
/// clock's resolution (1 ns) is zero, so `0ms` and `0.0000000001us` are refused alike: a deadline of zero
/// could only be met by racing the watchdog, passing or failing by chance (issue 18).
pub fn deadline_of(diag: &mut Diag, field: &str, v: &Spanned<RawDuration>) -> Option<Duration> {
    let d = duration_of(diag, field, v)?;
    if d.is_zero() {
        diag.error(
            v.referenced,
            format!(
                "`{field}`: a deadline of zero can never be met (below 1ns counts as zero): give at least 1us"
            ),
        );
        return None;
    }
    Some(d)
}

/// Bytes as written: a hex string or one of the generator maps.
// Raw parse trees live only while one file loads; boxing variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum RawBytes {
    Hex(String),
    Map(BytesMap),
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BytesMap {
    u64le: Option<Vec<Spanned<RawInt>>>,
    /// Text taken byte for byte (printer answers such as `DS620 01.20` read better so).
    ascii: Option<Spanned<String>>,
    repeat: Option<Spanned<String>>,
    fill: Option<Spanned<RawInt>>,
    len: Option<Spanned<RawInt>>,
}

impl<'de> Deserialize<'de> for RawBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawBytes;
            expecting!(
                "bytes: a hex string (\"00 01 ff\") or {u64le: [..]}, {ascii: \"text\"}, {repeat: \"ab\", len: N}, {fill: B, len: N}"
            );
            fn visit_str<E>(self, v: &str) -> Result<RawBytes, E> {
                Ok(RawBytes::Hex(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<RawBytes, A::Error> {
                BytesMap::deserialize(de::value::MapAccessDeserializer::new(m)).map(RawBytes::Map)
            }
        }
        d.deserialize_any(V)
    }
}

pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(bad) = digits.iter().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "`{bad}` is not a hex digit in \"{text}\": expected pairs of 0-9 a-f, spaces allowed"
        ));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!(
            "\"{text}\" has an odd number of hex digits: each byte needs two"
        ));
    }
    Ok(digits
        .chunks(2)
        .map(|p| {
            let hi = p[0].to_digit(16).unwrap_or(0);
            let lo = p[1].to_digit(16).unwrap_or(0);
            (hi * 16 + lo) as u8
        })
        .collect())
}

pub fn bytes_of(diag: &mut Diag, field: &str, v: &Spanned<RawBytes>) -> Option<Vec<u8>> {
    let at = v.referenced;
    let map = match &v.value {
        RawBytes::Hex(text) => {
            return match parse_hex(text) {
                Ok(b) if b.len() > MAX_STRUCT => {
                    diag.error(at, format!("`{field}` is longer than 1 MiB"));
                    None
                }
                Ok(b) => Some(b),
                Err(m) => {
                    diag.error(at, format!("`{field}`: {m}"));
                    None
                }
            };
        }
        RawBytes::Map(m) => m,
    };
    let len = |diag: &mut Diag| -> Option<usize> {
        match &map.len {
            Some(l) => int_in(diag, "len", l, 0, MAX_STRUCT as i128, "a size up to 1 MiB")
                .map(|n| n as usize),
            None => {
                diag.error(
                    at,
                    format!("`{field}` needs `len: N` with `repeat` or `fill`"),
                );
                None
            }
        }
    };
    if let Some(text) = &map.ascii {
        if map.u64le.is_some() || map.repeat.is_some() || map.fill.is_some() || map.len.is_some() {
            diag.error(
                at,
                format!("`{field}`: `ascii` stands alone, without other keys"),
            );
            return None;
        }
        if text.value.len() > MAX_STRUCT {
            diag.error(text.referenced, format!("`{field}` is longer than 1 MiB"));
            return None;
        }
        return Some(text.value.as_bytes().to_vec());
    }
    match (&map.u64le, &map.repeat, &map.fill) {
        (Some(fields), None, None) if map.len.is_none() => {
            if fields.len() * 8 > MAX_STRUCT {
                diag.error(at, format!("`{field}` is longer than 1 MiB"));
                return None;
            }
            let before = diag.errors.len();
            let out: Vec<u8> = fields
                .iter()
                .filter_map(|f| u64_of(diag, "u64le", f))
                .flat_map(u64::to_le_bytes)
                .collect();
            (diag.errors.len() == before).then_some(out)
        }
        (None, Some(pattern), None) => {
            let unit = match parse_hex(&pattern.value) {
                Ok(u) if !u.is_empty() => u,
                Ok(_) => {
                    diag.error(pattern.referenced, "`repeat` needs at least one hex byte");
                    return None;
                }
                Err(m) => {
                    diag.error(pattern.referenced, format!("`repeat`: {m}"));
                    return None;
                }
            };
            let n = len(diag)?;
            Some(unit.iter().copied().cycle().take(n).collect())
        }
        (None, None, Some(byte)) => {
            let b = u8_of(diag, "fill", byte)?;
            let n = len(diag)?;
            Some(vec![b; n])
        }
        _ => {
            diag.error(
                at,
                format!(
                    "`{field}` must be exactly one of {{u64le: [..]}}, {{ascii: \"text\"}}, {{repeat: \"ab\", len: N}}, {{fill: B, len: N}}"
                ),
            );
            None
        }
    }
}

/// One return code as written: a name / hex text, or a YAML number.
#[derive(Clone, Debug, PartialEq)]
pub enum RawCode {
    Text(String),
    Number(i128),
}

/// `return:` — one code or a list (any of them).
#[derive(Clone, Debug, PartialEq)]
pub struct RawCodes(pub Vec<Spanned<RawCode>>);

impl<'de> Deserialize<'de> for RawCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawCode;
            expecting!(
                "a return code: a name like kIOReturnBadArgument, hex like 0xE00002C2, or a number"
            );
            fn visit_u64<E>(self, v: u64) -> Result<RawCode, E> {
                Ok(RawCode::Number(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawCode, E> {
                Ok(RawCode::Number(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawCode, E> {
                Ok(RawCode::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawCodes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawCodes;
            expecting!("a return code or a list of them");
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<RawCodes, A::Error> {
                let mut out = Vec::new();
                while let Some(c) = s.next_element::<Spanned<RawCode>>()? {
                    out.push(c);
                }
                Ok(RawCodes(out))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawCodes, E> {
                Ok(RawCodes(vec![unlocated(RawCode::Number(v.into()))]))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawCodes, E> {
                Ok(RawCodes(vec![unlocated(RawCode::Number(v.into()))]))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawCodes, E> {
                Ok(RawCodes(vec![unlocated(RawCode::Text(v.to_string()))]))
            }
        }
        d.deserialize_any(V)
    }
}

fn unlocated<T>(value: T) -> Spanned<T> {
    Spanned {
        value,
        referenced: Location::UNKNOWN,
        defined: Location::UNKNOWN,
    }
}

pub fn code_of(diag: &mut Diag, at: Location, v: &Spanned<RawCode>) -> Option<ReturnCode> {
    let at = if v.referenced.line() == 0 {
        at
    } else {
        v.referenced
    };
    match &v.value {
        RawCode::Number(n) if (i32::MIN as i128..=u32::MAX as i128).contains(n) => {
            Some(ReturnCode(*n as u32))
        }
        RawCode::Number(n) => {
            diag.error(at, format!("return code {n} does not fit in 32 bits"));
            None
        }
        RawCode::Text(t) => match ioreturn::parse(t) {
            Ok(c) => Some(c),
            Err(_) if t.trim().starts_with(|c: char| c.is_ascii_alphabetic()) => {
                diag.error_hint(
                    at,
                    format!("`{t}` is not a known return code name (or hex value, or number)"),
                    ioreturn::nearest_name(t.trim()),
                );
                None
            }
            Err(m) => {
                diag.error(at, m);
                None
            }
        },
    }
}

/// A whole `return:` (the span of the key's value is used for codes given as one scalar).
pub fn codes_of(diag: &mut Diag, v: &Spanned<RawCodes>) -> Option<Vec<ReturnCode>> {
    if v.value.0.is_empty() {
        diag.error(v.referenced, "`return` lists no codes: give at least one");
        return None;
    }
    let before = diag.errors.len();
    let out: Vec<ReturnCode> = v
        .value
        .0
        .iter()
        .filter_map(|c| code_of(diag, v.referenced, c))
        .collect();
    (diag.errors.len() == before).then_some(out)
}

/// A property value (entitlements, `UserClientProperties`).
#[derive(Clone, Debug, PartialEq)]
pub struct RawProp(pub Prop);

impl<'de> Deserialize<'de> for RawProp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawProp;
            expecting!("a property value: a string, integer, boolean, list or map");
            fn visit_bool<E>(self, v: bool) -> Result<RawProp, E> {
                Ok(RawProp(Prop::Bool(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawProp, E> {
                Ok(RawProp(Prop::Int(v.into())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawProp, E> {
                Ok(RawProp(Prop::Int(v.into())))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawProp, E> {
                Ok(RawProp(Prop::Str(v.to_string())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<RawProp, A::Error> {
                let mut out = Vec::new();
                while let Some(RawProp(p)) = s.next_element()? {
                    out.push(p);
                }
                Ok(RawProp(Prop::Array(out)))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<RawProp, A::Error> {
                PropMap::deserialize(de::value::MapAccessDeserializer::new(m))
                    .map(|d| RawProp(Prop::Dict(d.0)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A map of property values (string keys).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PropMap(pub BTreeMap<String, Prop>);

impl<'de> Deserialize<'de> for PropMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PropMap;
            expecting!("a map of property names to values");
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<PropMap, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, RawProp(v))) = m.next_entry::<String, RawProp>()? {
                    out.insert(k, v);
                }
                Ok(PropMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `user_client_properties:` — `missing` or a map.
#[derive(Clone, Debug, PartialEq)]
pub enum RawUserClientProps {
    Missing,
    Map(PropMap),
}

impl<'de> Deserialize<'de> for RawUserClientProps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawUserClientProps;
            expecting!("`missing` or a map of properties");
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawUserClientProps, E> {
                if v == "missing" {
                    Ok(RawUserClientProps::Missing)
                } else {
                    Err(E::custom(format!(
                        "`{v}` is not allowed here: expected `missing` or a map of properties"
                    )))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<RawUserClientProps, A::Error> {
                PropMap::deserialize(de::value::MapAccessDeserializer::new(m))
                    .map(RawUserClientProps::Map)
            }
        }
        d.deserialize_any(V)
    }
}

impl RawUserClientProps {
    pub fn into_model(self) -> Option<BTreeMap<String, Prop>> {
        match self {
            RawUserClientProps::Missing => None,
            RawUserClientProps::Map(m) => Some(m.0),
        }
    }
}

/// A map whose keys keep their file order (roles are listed in the order written).
#[derive(Clone, Debug, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(Spanned<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = OrderedMap<V>;
            expecting!("a map");
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<OrderedMap<V>, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = m.next_entry::<Spanned<String>, V>()? {
                    out.push(entry);
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(Vis(std::marker::PhantomData))
    }
}

/// Text that YAML may have read as a number (`serial: 12345`).
#[derive(Clone, Debug, PartialEq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            expecting!("text");
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A selector as a scenario names it: a name from the driver file, or a number.
#[derive(Clone, Debug, PartialEq)]
pub enum RawSelectorRef {
    Name(String),
    Id(RawInt),
}

impl<'de> Deserialize<'de> for RawSelectorRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawSelectorRef;
            expecting!("a selector name from the driver file, or a selector number");
            fn visit_u64<E>(self, v: u64) -> Result<RawSelectorRef, E> {
                Ok(RawSelectorRef::Id(RawInt::Value(v.into())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawSelectorRef, E> {
                Ok(RawSelectorRef::Id(RawInt::Value(v.into())))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawSelectorRef, E> {
                Ok(RawSelectorRef::Name(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_every_unit_and_refuse_bare_numbers_and_more_than_an_hour() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("60m"), Ok(MAX_DURATION));
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("61m").unwrap_err().contains("1 hour"));
        assert!(
            parse_duration("5h")
                .unwrap_err()
                .contains("not a duration unit")
        );
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("1e999s").is_err());
    }

    #[test]
    fn hex_allows_spaces_and_names_the_bad_digit() {
        assert_eq!(parse_hex("00 01 ff"), Ok(vec![0, 1, 0xff]));
        assert_eq!(parse_hex("0001FF"), Ok(vec![0, 1, 0xff]));
        assert!(parse_hex("0g").unwrap_err().contains("`g`"));
        assert!(parse_hex("001").unwrap_err().contains("odd"));
    }

    #[test]
    fn int_text_takes_hex_and_underscores() {
        assert_eq!(parse_int_text("0x1452"), Some(0x1452));
        assert_eq!(parse_int_text("1_000"), Some(1000));
        assert_eq!(parse_int_text("-3"), Some(-3));
        assert_eq!(parse_int_text("twelve"), None);
    }
}
