//! `ioreg -a` output (an XML plist, or the same converted to a binary plist) into a [`DumpTree`].
//!
//! Reference §5: every node carries `IORegistryEntryName`, `IORegistryEntryLocation`, `IORegistryEntryID`,
//! `IOObjectClass`, `IOObjectRetainCount`, `IOServiceState`, `IOServiceBusyState`, `IOServiceBusyTime`,
//! `IORegistryEntryChildren` (an array; a dictionary with `-r -t`), `IOObjectInheritance` with `-i`, and
//! its properties with `-l`. Without `-r` the top level is the root dictionary, with `-r` an array.
//!
//! Binary plists (`bplist00`, what `plutil -convert binary1` makes of a dump) load too: the `plist` crate
//! reads both, and refusing one would only make a user convert it back.

use super::error::DumpError;
use super::tree::{DumpTree, RegNode, known_class_chain};
use crate::lab::Prop;
use plist::Value;
use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Keys ioreg adds to describe the node itself; the rest of a node's dictionary is its properties.
const NODE_KEYS: &[&str] = &[
    "IORegistryEntryName",
    "IORegistryEntryLocation",
    "IORegistryEntryID",
    "IOObjectClass",
    "IOObjectRetainCount",
    "IOServiceState",
    "IOServiceBusyState",
    "IOServiceBusyTime",
    "IOObjectInheritance",
    "IORegistryEntryChildren",
];

/// `IOServiceState` bits (IOKitLibPrivate.h; the reference names the key but not its bits).
const INACTIVE: i128 = 0x1;
const REGISTERED: i128 = 0x2;

/// Seconds from 1970-01-01 to 2001-01-01 (the CFAbsoluteTime epoch).
const CF_EPOCH_FROM_UNIX: f64 = 978_307_200.0;

/// Parse a plist dump held in `bytes` (XML or binary), read from `path`.
pub fn parse_plist(path: &Path, bytes: &[u8]) -> Result<DumpTree, DumpError> {
    let binary = bytes.starts_with(b"bplist");
    if let Err(deep) = super::plist_depth::check_depth(bytes, super::plist_depth::MAX_PLIST_DEPTH) {
        let what = format!(
            "nested more than {} levels deep: not a registry dump",
            super::plist_depth::MAX_PLIST_DEPTH
        );
        return Err(match deep.offset {
            Some(o) => {
                let (line, column) = line_column(bytes, o as u64);
                DumpError::syntax(path, line, column, what)
            }
            None => DumpError::Binary {
                path: path.to_path_buf(),
                offset: None,
                what,
            },
        });
    }
    let value = Value::from_reader(Cursor::new(bytes)).map_err(|e| {
        let text = e.to_string();
        let offset = byte_offset(&text);
        if binary {
            DumpError::Binary {
                path: path.to_path_buf(),
                offset,
                what: strip_offset(&text),
            }
        } else {
            let (line, column) = offset
                .map(|o| line_column(bytes, o))
                .unwrap_or((count_lines(bytes), None));
            DumpError::syntax(
                path,
                line,
                column,
                format!(
                    "not a complete XML plist ({}); expected the whole output of `ioreg -a -l`",
                    strip_offset(&text)
                ),
            )
        }
    })?;
    let roots = match value {
        Value::Dictionary(d) => vec![node(path, &d, "the top-level dictionary")?],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Dictionary(d) => node(path, d, &format!("match #{}", i + 1)),
                _ => Err(shape(path, format!("match #{} is not a dictionary", i + 1))),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(shape(
                path,
                "the top level is neither a dictionary (`ioreg -a -l`) nor an array (`ioreg -a -l -r`)",
            ));
        }
    };
    Ok(DumpTree {
        source: path.to_path_buf(),
        roots,
        warnings: Vec::new(),
    })
}

fn shape(path: &Path, what: impl Into<String>) -> DumpError {
    DumpError::Shape {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

fn node(path: &Path, d: &plist::Dictionary, where_: &str) -> Result<RegNode, DumpError> {
    let name = d
        .get("IORegistryEntryName")
        .and_then(Value::as_string)
        .ok_or_else(|| shape(path, format!("{where_} has no IORegistryEntryName string")))?
        .to_string();
    let here = format!("{where_} `{name}`");
    let class = d
        .get("IOObjectClass")
        .and_then(Value::as_string)
        .ok_or_else(|| shape(path, format!("{here} has no IOObjectClass string")))?
        .to_string();
    let id = d
        .get("IORegistryEntryID")
        .and_then(|v| v.as_unsigned_integer())
        .ok_or_else(|| shape(path, format!("{here} has no IORegistryEntryID integer")))?;
    let location = d
        .get("IORegistryEntryLocation")
        .and_then(Value::as_string)
        .map(String::from);
    let class_chain = match d.get("IOObjectInheritance").and_then(Value::as_array) {
        // ioreg lists the inheritance base first (it inserts each superclass at index 0).
        Some(a) => a
            .iter()
            .rev()
            .filter_map(Value::as_string)
            .map(String::from)
            .collect(),
        None => known_class_chain(&class),
    };
    let registered = match d.get("IOServiceState").map(prop) {
        Some(Prop::Int(s)) => s & REGISTERED != 0 && s & INACTIVE == 0,
        _ => false,
    };
    let children = match d.get("IORegistryEntryChildren") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::Dictionary(c) => node(path, c, &format!("a child of {here}")),
                _ => Err(shape(
                    path,
                    format!("a child of {here} is not a dictionary"),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Dictionary(items)) => items
            .iter()
            .map(|(k, v)| match v {
                Value::Dictionary(c) => node(path, c, &format!("child `{k}` of {here}")),
                _ => Err(shape(
                    path,
                    format!("child `{k}` of {here} is not a dictionary"),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(shape(
                path,
                format!("IORegistryEntryChildren of {here} is neither an array nor a dictionary"),
            ));
        }
    };
    let properties = d
        .iter()
        .filter(|(k, _)| !NODE_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), prop(v)))
        .collect();
    Ok(RegNode {
        id,
        name,
        location,
        class,
        class_chain,
        registered,
        properties,
        children,
    })
}

/// A plist value as a [`Prop`]. Integers keep unsigned 64-bit values exactly (i128). A real becomes
/// [`Prop::Str`] with its decimal text: the kernel's OSNumber has no floating point, so a real never comes
/// from the registry itself, and a string shows it without pretending it is an integer. A UID (keyed
/// archives only) becomes its integer.
pub fn prop(v: &Value) -> Prop {
    match v {
        Value::Boolean(b) => Prop::Bool(*b),
        Value::Integer(i) => match i.as_unsigned() {
            Some(u) => Prop::Int(u as i128),
            None => Prop::Int(i.as_signed().map(i128::from).unwrap_or_default()),
        },
        Value::Real(r) => Prop::Str(r.to_string()),
        Value::String(s) => Prop::Str(s.clone()),
        Value::Data(d) => Prop::Data(d.clone()),
        Value::Date(d) => Prop::Date(cf_absolute_time(SystemTime::from(*d))),
        Value::Array(a) => Prop::Array(a.iter().map(prop).collect()),
        Value::Dictionary(d) => Prop::Dict(
            d.iter()
                .map(|(k, v)| (k.clone(), prop(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
        Value::Uid(u) => Prop::Int(u.get() as i128),
        // `plist::Value` is non-exhaustive; a kind it adds later is kept visibly rather than dropped.
        other => Prop::Str(format!("{other:?}")),
    }
}

fn cf_absolute_time(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64() - CF_EPOCH_FROM_UNIX,
        Err(e) => -e.duration().as_secs_f64() - CF_EPOCH_FROM_UNIX,
    }
}

/// The `plist` crate keeps an error's byte offset private but prints it as `(offset N)`.
fn byte_offset(message: &str) -> Option<u64> {
    let start = message.rfind("(offset ")? + "(offset ".len();
    let rest = &message[start..];
    rest[..rest.find(')')?].parse().ok()
}

fn strip_offset(message: &str) -> String {
    match message.rfind(" (offset ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// 1-based line and column of a byte offset (clamped to the end of the input).
pub(crate) fn line_column(bytes: &[u8], offset: u64) -> (usize, Option<usize>) {
    let offset = (offset as usize).min(bytes.len());
    let before = &bytes[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, Some(offset - line_start + 1))
}

fn count_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(body: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n{body}\n</plist>\n"
        )
    }

    #[test]
    fn unsigned_64_bit_integers_survive_exactly() {
        let v = Value::from_reader_xml(xml("<integer>18446744073709551615</integer>").as_bytes())
            .unwrap();
        assert_eq!(prop(&v), Prop::Int(u64::MAX as i128));
        let v = Value::from_reader_xml(xml("<integer>-5</integer>").as_bytes()).unwrap();
        assert_eq!(prop(&v), Prop::Int(-5));
    }

    #[test]
    fn dates_are_seconds_since_2001_and_reals_are_text() {
        let v =
            Value::from_reader_xml(xml("<date>2001-01-01T00:01:00Z</date>").as_bytes()).unwrap();
        assert_eq!(prop(&v), Prop::Date(60.0));
        let v = Value::from_reader_xml(xml("<real>1.5</real>").as_bytes()).unwrap();
        assert_eq!(prop(&v), Prop::Str("1.5".into()));
    }

    #[test]
    fn node_keys_are_not_properties_and_state_gives_registered() {
        let body = "<dict><key>IORegistryEntryName</key><string>X</string>\
            <key>IOObjectClass</key><string>IOUserService</string>\
            <key>IORegistryEntryID</key><integer>4294970000</integer>\
            <key>IOServiceState</key><integer>30</integer>\
            <key>IOUserClass</key><string>X</string></dict>";
        let tree = parse_plist(Path::new("t.plist"), xml(body).as_bytes()).unwrap();
        let n = &tree.roots[0];
        assert!(n.registered);
        assert_eq!(n.properties.keys().collect::<Vec<_>>(), ["IOUserClass"]);
        assert_eq!(n.id, 4_294_970_000);
    }

    #[test]
    fn terminated_services_are_not_registered() {
        let body = "<dict><key>IORegistryEntryName</key><string>X</string>\
            <key>IOObjectClass</key><string>IOUserService</string>\
            <key>IORegistryEntryID</key><integer>7</integer>\
            <key>IOServiceState</key><integer>31</integer></dict>";
        let tree = parse_plist(Path::new("t.plist"), xml(body).as_bytes()).unwrap();
        assert!(!tree.roots[0].registered);
    }

    #[test]
    fn offsets_become_lines() {
        assert_eq!(line_column(b"ab\ncd\nef", 4), (2, Some(2)));
        assert_eq!(byte_offset("UnexpectedEof (offset 1234)"), Some(1234));
    }
}
