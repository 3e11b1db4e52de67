//! The host's matching dictionary (the one it passes to `IOServiceGetMatchingServices`), from a plist or
//! JSON file, as [`Matching`]s the registry can be searched with. `IONameMatch` may list several names;
//! each becomes one [`Matching`] and an entry matches when any does.

use super::error::{DoctorError, line_column, read};
use crate::backends::replay::prop_from_plist;
use crate::lab::{Matching, Prop, RegEntry};
use std::collections::BTreeMap;
use std::path::Path;

const KEYS: &[&str] = &[
    "IOProviderClass",
    "IONameMatch",
    "IOPropertyMatch",
    "IOParentMatch",
    "IORegistryEntryID",
];

/// Top-level keys IOUSBHostFamily compares as properties (`IOServiceMatching(kIOUSBHostDeviceClassName)`
/// plus `idVendor`, the usual host code). Keys from reference §5; that the family compares them at the top
/// level is UNCONFIRMED there, so they are read as property matches rather than refused.
const USB_TOP_LEVEL: &[&str] = &[
    "idVendor",
    "idProduct",
    "bcdDevice",
    "bInterfaceNumber",
    "bConfigurationValue",
    "bInterfaceClass",
    "bInterfaceSubClass",
    "bInterfaceProtocol",
    "locationID",
];

/// The host's matching, read from `source`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostMatching {
    pub source: String,
    pub alternatives: Vec<Matching>,
    /// The dictionary as written, for evidence (`IOProviderClass = IOUserServer, ...`).
    pub text: String,
}

impl HostMatching {
    pub fn load(path: &Path) -> Result<HostMatching, DoctorError> {
        let bytes = read(path, crate::input::SMALL_TEXT)?;
        parse(path, &bytes)
    }

    pub fn matches(&self, e: &RegEntry) -> bool {
        self.alternatives.iter().any(|m| m.matches(e))
    }
}

/// Parse a JSON object or a plist (XML or binary) dictionary.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<HostMatching, DoctorError> {
    let first = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let Some(first) = first else {
        return Err(DoctorError::syntax(
            path,
            1,
            None,
            "the file is empty: expected the matching dictionary as a plist or JSON object",
        ));
    };
    let dict = if bytes[first] == b'{' {
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            DoctorError::syntax(
                path,
                e.line().max(1),
                Some(e.column().max(1)),
                format!("not a JSON object: {e}"),
            )
        })?;
        json_prop(&v)
    } else {
        // Building a plist::Value recurses per level: refuse deep nesting first (issue 18).
        use crate::backends::replay::plist_depth::{MAX_PLIST_DEPTH, check_depth};
        if let Err(deep) = check_depth(bytes, MAX_PLIST_DEPTH) {
            let (line, column) = line_column(bytes, deep.offset.unwrap_or(0));
            return Err(DoctorError::syntax(
                path,
                line,
                Some(column),
                format!(
                    "nested more than {MAX_PLIST_DEPTH} levels deep: not a matching dictionary"
                ),
            ));
        }
        let v = plist::Value::from_reader(std::io::Cursor::new(bytes)).map_err(|e| {
            let text = e.to_string();
            let offset = text
                .rfind("(offset ")
                .and_then(|i| text[i + 8..].split(')').next()?.parse::<usize>().ok());
            let (line, column) = line_column(bytes, offset.unwrap_or(0));
            DoctorError::syntax(
                path,
                line,
                Some(column),
                format!("not a plist or JSON matching dictionary: {text}"),
            )
        })?;
        prop_from_plist(&v)
    };
    let Prop::Dict(dict) = dict else {
        return Err(DoctorError::syntax(
            path,
            1,
            Some(1),
            "the top level is not a dictionary: expected the matching dictionary",
        ));
    };
    let at = |key: &str, what: String| {
        let (line, column) = key_place(bytes, key);
        DoctorError::syntax(path, line, column, format!("`{key}`: {what}"))
    };
    let mut base = Matching::default();
    let mut names = Vec::new();
    for (key, value) in &dict {
        match key.as_str() {
            "IOProviderClass" => {
                base.class = Some(
                    string(value).ok_or_else(|| at(key, "expected a class name string".into()))?,
                )
            }
            "IONameMatch" => match value {
                Prop::Str(s) => names.push(s.clone()),
                Prop::Array(items) => {
                    for i in items {
                        names.push(string(i).ok_or_else(|| {
                            at(key, "expected a name or an array of names".into())
                        })?);
                    }
                }
                _ => return Err(at(key, "expected a name or an array of names".into())),
            },
            "IOPropertyMatch" => match value {
                Prop::Dict(d) => base.properties.extend(d.clone()),
                _ => return Err(at(key, "expected a dictionary of properties".into())),
            },
            "IOParentMatch" => {
                let id = value
                    .as_dict()
                    .filter(|d| d.len() == 1)
                    .and_then(|d| d.get("IORegistryEntryID"))
                    .and_then(id_of)
                    .ok_or_else(|| {
                        at(
                            key,
                            "doctor reads only `{IORegistryEntryID = <id>}` here".into(),
                        )
                    })?;
                base.parent = Some(id);
            }
            "IORegistryEntryID" => {
                base.id = Some(
                    id_of(value)
                        .ok_or_else(|| at(key, "expected an integer registry id".into()))?,
                )
            }
            k if USB_TOP_LEVEL.contains(&k) => {
                base.properties.insert(key.clone(), value.clone());
            }
            _ => {
                let hint = crate::names::nearest(key, KEYS.iter().copied())
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default();
                return Err(at(
                    key,
                    format!(
                        "not a matching key doctor reads; expected one of {}{hint}; properties to compare go in IOPropertyMatch",
                        KEYS.join(", ")
                    ),
                ));
            }
        }
    }
    let alternatives = if names.is_empty() {
        vec![base]
    } else {
        names
            .into_iter()
            .map(|n| Matching {
                name: Some(n),
                ..base.clone()
            })
            .collect()
    };
    Ok(HostMatching {
        source: path.display().to_string(),
        alternatives,
        text: describe(&dict),
    })
}

fn string(p: &Prop) -> Option<String> {
    p.as_str().map(String::from)
}

fn id_of(p: &Prop) -> Option<u64> {
    match p {
        Prop::Int(v) => u64::try_from(*v).ok(),
        // Ids are often written in hex, as ioreg prints them.
        Prop::Str(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16).ok(),
        _ => None,
    }
}

/// Where `key` is written in the file (`"key"` in JSON, `<key>key</key>` in XML), for error places.
fn key_place(bytes: &[u8], key: &str) -> (usize, Option<usize>) {
    let forms = [format!("\"{key}\""), format!("<key>{key}</key>")];
    let hit = forms
        .iter()
        .filter_map(|f| bytes.windows(f.len()).position(|w| w == f.as_bytes()))
        .min();
    match hit {
        Some(at) => {
            let (l, c) = line_column(bytes, at);
            (l, Some(c))
        }
        None => (1, None),
    }
}

fn json_prop(v: &serde_json::Value) -> Prop {
    use serde_json::Value as J;
    match v {
        J::Null => Prop::Str("null".into()),
        J::Bool(b) => Prop::Bool(*b),
        J::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Prop::Int(u as i128),
            (None, Some(i)) => Prop::Int(i as i128),
            _ => Prop::Str(n.to_string()),
        },
        J::String(s) => Prop::Str(s.clone()),
        J::Array(a) => Prop::Array(a.iter().map(json_prop).collect()),
        J::Object(o) => Prop::Dict(
            o.iter()
                .map(|(k, v)| (k.clone(), json_prop(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

/// `IOProviderClass = IOUserServer, IOPropertyMatch = {IOUserServerName = "x"}`.
fn describe(d: &BTreeMap<String, Prop>) -> String {
    d.iter()
        .map(|(k, v)| format!("{k} = {}", short(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn short(p: &Prop) -> String {
    match p {
        Prop::Bool(b) => b.to_string(),
        Prop::Int(i) => i.to_string(),
        Prop::Str(s) => format!("\"{s}\""),
        Prop::Data(d) => format!("<{} bytes>", d.len()),
        Prop::Array(a) => format!("({})", a.iter().map(short).collect::<Vec<_>>().join(", ")),
        Prop::Dict(d) => format!("{{{}}}", describe(d)),
        Prop::Date(t) => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_plist_give_the_same_matching() {
        let json = br#"{"IOProviderClass": "IOUserServer", "IOPropertyMatch": {"IOUserServerName": "a.b"}}"#;
        let xml = b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict>\
            <key>IOProviderClass</key><string>IOUserServer</string>\
            <key>IOPropertyMatch</key><dict><key>IOUserServerName</key><string>a.b</string></dict>\
            </dict></plist>";
        let a = parse(Path::new("m.json"), json).unwrap();
        let b = parse(Path::new("m.plist"), xml).unwrap();
        assert_eq!(a.alternatives, b.alternatives);
        assert_eq!(a.alternatives[0].class.as_deref(), Some("IOUserServer"));
    }

    #[test]
    fn several_names_are_alternatives() {
        let m = parse(Path::new("m.json"), br#"{"IONameMatch": ["A", "B"]}"#).unwrap();
        assert_eq!(m.alternatives.len(), 2);
    }

    #[test]
    fn an_unknown_key_is_placed_and_hinted() {
        let text = b"{\n  \"IOProviderClas\": \"IOUserService\"\n}";
        let e = parse(Path::new("m.json"), text).unwrap_err().to_string();
        assert!(e.starts_with("m.json:2:3: `IOProviderClas`"), "{e}");
        assert!(e.contains("did you mean `IOProviderClass`"), "{e}");
    }

    #[test]
    fn broken_json_is_placed() {
        let e = parse(Path::new("m.json"), b"{\n \"IONameMatch\": }")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m.json:2:"), "{e}");
    }
}
