//! Entitlements in every form a person attaches: `codesign -d --entitlements - --xml <path>` output (an XML
//! plist dictionary, binary plists too, possibly after the `Executable=...` lines codesign prints first),
//! the older `--entitlements :-` / `-` output with its 8-byte blob header (magic `0xfade7171` and a
//! length before the XML: xnu-11417 `osfmk/kern/cs_blobs.h` CSMAGIC_EMBEDDED_ENTITLEMENTS), the
//! plain-text form newer codesign prints without `--xml` ([`super::entitlements_text`]), and a source
//! `.entitlements` file (a plain plist). Keys and rules are from reference §2 (the `userclient-access`
//! check in `IOUserServer::serviceNewUserClient`); a key one edit away from a real one is called out
//! ([`near_misses`]), since the kernel only sees the exact spelling.

use super::error::{DoctorError, line_column, read};
use crate::backends::replay::plist_depth::{MAX_PLIST_DEPTH, check_depth};
use crate::backends::replay::prop_from_plist;
use crate::lab::Prop;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A dext must have it to be a DriverKit driver at all.
pub const DRIVERKIT: &str = "com.apple.developer.driverkit";
/// On the host: an ARRAY of the bundle ids it may open (reference §2).
pub const USERCLIENT_ACCESS: &str = "com.apple.developer.driverkit.userclient-access";
/// On the dext: any host may open its user clients. Presence counts; on the host it has no effect (§2).
pub const ALLOW_ANY: &str = "com.apple.developer.driverkit.allow-any-userclient-access";
/// On the host: the sandbox filter runs on open and may refuse with its own code (§2).
pub const APP_SANDBOX: &str = "com.apple.security.app-sandbox";

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entitlements {
    /// Where they were read from.
    pub source: String,
    pub values: BTreeMap<String, Prop>,
    /// What codesign said instead of entitlements (`not signed at all`), when it printed none.
    pub note: Option<String>,
}

impl Entitlements {
    pub fn load(path: &Path) -> Result<Entitlements, DoctorError> {
        let bytes = read(path, crate::input::SMALL_TEXT)?;
        parse(path, &bytes)
    }

    pub fn has(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// True when the key is present and is `true` (booleans only; presence is checked with [`has`]).
    pub fn is_true(&self, key: &str) -> bool {
        self.values.get(key) == Some(&Prop::Bool(true))
    }

    pub fn get(&self, key: &str) -> Option<&Prop> {
        self.values.get(key)
    }
}

/// Parse codesign's output held in `bytes`; `path` names it in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Entitlements, DoctorError> {
    let source = path.display().to_string();
    let start = [&b"bplist"[..], b"<?xml", b"<!DOCTYPE", b"<plist"]
        .iter()
        .filter_map(|m| find(bytes, m))
        .min();
    let Some(start) = start else {
        let text = String::from_utf8_lossy(bytes);
        if super::entitlements_text::looks_like(&text) {
            return Ok(Entitlements {
                source,
                values: super::entitlements_text::parse(path, &text)?,
                note: None,
            });
        }
        return without_plist(path, source, bytes);
    };
    let body = &bytes[start..];
    if let Err(deep) = check_depth(body, MAX_PLIST_DEPTH) {
        let (line, column) = line_column(bytes, start + deep.offset.unwrap_or(0));
        return Err(DoctorError::syntax(
            path,
            line,
            Some(column),
            format!("nested more than {MAX_PLIST_DEPTH} levels deep: not codesign's entitlements"),
        ));
    }
    let value = plist::Value::from_reader(std::io::Cursor::new(body)).map_err(|e| {
        let text = e.to_string();
        let offset = text
            .rfind("(offset ")
            .and_then(|i| text[i + 8..].split(')').next()?.parse::<usize>().ok());
        let (line, column) = line_column(bytes, start + offset.unwrap_or(0));
        DoctorError::syntax(
            path,
            line,
            Some(column),
            format!(
                "not a complete entitlements plist ({text}); capture it again with \
                 `codesign -d --entitlements - --xml <path> > file`"
            ),
        )
    })?;
    match prop_from_plist(&value) {
        Prop::Dict(values) => Ok(Entitlements {
            source,
            values,
            note: None,
        }),
        _ => {
            let (line, column) = line_column(bytes, start);
            Err(DoctorError::syntax(
                path,
                line,
                Some(column),
                "the plist is not a dictionary: expected the entitlements dictionary codesign prints",
            ))
        }
    }
}

/// codesign prints only `Executable=` (and similar `Key=value`) lines for a binary without entitlements,
/// and a message for one that is not signed. Anything else is not codesign output.
fn without_plist(path: &Path, source: String, bytes: &[u8]) -> Result<Entitlements, DoctorError> {
    let text = String::from_utf8_lossy(bytes);
    let empty = |note: &str| {
        Ok(Entitlements {
            source: source.clone(),
            values: BTreeMap::new(),
            note: Some(note.to_string()),
        })
    };
    if text.contains("not signed at all") {
        return empty("codesign: code object is not signed at all");
    }
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.split_once('=').is_some_and(|(k, _)| !k.contains(' ')) {
            continue;
        }
        let hint = if t.contains("[Dict]") || t.starts_with("[Key]") {
            "this is codesign's text form: capture with `--xml` (`codesign -d --entitlements - --xml <path>`)"
        } else {
            "expected the output of `codesign -d --entitlements - --xml <path>`: an XML plist, \
             optionally after `Executable=...` lines"
        };
        let column = line.len() - line.trim_start().len() + 1;
        return Err(DoctorError::syntax(path, i + 1, Some(column), hint));
    }
    empty("codesign printed no entitlements")
}

/// Entitlement keys a dext and its host use: the first four from reference §2; the rest from Apple's
/// published DriverKit entitlement list (developer.apple.com/documentation/driverkit, "Requesting
/// Entitlements for DriverKit Development"), UNCONFIRMED here against signed binaries. A key outside this
/// list that is one or two edits from one in it is called a near miss, so the list only needs real keys.
pub const KNOWN_KEYS: &[&str] = &[
    DRIVERKIT,
    USERCLIENT_ACCESS,
    ALLOW_ANY,
    APP_SANDBOX,
    "com.apple.developer.driverkit.transport.usb",
    "com.apple.developer.driverkit.transport.pci",
    "com.apple.developer.driverkit.transport.hid",
    "com.apple.developer.driverkit.family.serial",
    "com.apple.developer.driverkit.family.networking",
    "com.apple.developer.driverkit.family.hid.device",
    "com.apple.developer.driverkit.family.hid.eventservice",
    "com.apple.developer.driverkit.family.audio",
    "com.apple.developer.driverkit.family.scsicontroller",
    "com.apple.developer.driverkit.allow-third-party-userclients",
    "com.apple.developer.driverkit.communicates-with-drivers",
    "com.apple.developer.system-extension.install",
    "com.apple.security.get-task-allow",
    "com.apple.application-identifier",
    "com.apple.developer.team-identifier",
];

/// Keys one or two edits away from a key in [`KNOWN_KEYS`] (and not one themselves): `(found, meant)`.
/// `user-client-access` for `userclient-access` is one insertion; the kernel ignores the misspelled key.
pub fn near_misses(e: &Entitlements) -> Vec<(String, &'static str)> {
    e.values
        .keys()
        .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
        .filter_map(|k| {
            KNOWN_KEYS
                .iter()
                .map(|known| (strsim::levenshtein(k, known), *known))
                .filter(|(d, _)| (1..=2).contains(d))
                .min()
                .map(|(_, known)| (k.clone(), known))
        })
        .collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(body: &str) -> String {
        format!(
            "Executable=/Applications/Host.app/Contents/MacOS/Host\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <plist version=\"1.0\"><dict>{body}</dict></plist>\n"
        )
    }

    #[test]
    fn executable_lines_before_the_xml_are_skipped() {
        let text = xml(
            "<key>com.apple.developer.driverkit.userclient-access</key><array><string>a.b</string></array>",
        );
        let e = parse(Path::new("h.xml"), text.as_bytes()).unwrap();
        assert_eq!(
            e.get(USERCLIENT_ACCESS),
            Some(&Prop::Array(vec![Prop::Str("a.b".into())]))
        );
    }

    #[test]
    fn only_executable_lines_means_no_entitlements() {
        let e = parse(Path::new("h.xml"), b"Executable=/x/y\nIdentifier=y\n").unwrap();
        assert!(e.values.is_empty());
        assert_eq!(e.note.as_deref(), Some("codesign printed no entitlements"));
    }

    #[test]
    fn the_text_form_is_read_and_a_cut_one_is_placed() {
        let e = parse(
            Path::new("h.txt"),
            b"Executable=/x\n[Dict]\n\t[Key] com.apple.developer.driverkit.user-client-access\n\t[Value]\n\t\t[Bool] true\n",
        )
        .unwrap();
        assert_eq!(
            near_misses(&e),
            [(
                "com.apple.developer.driverkit.user-client-access".to_string(),
                USERCLIENT_ACCESS
            )]
        );
        let err = parse(Path::new("h.txt"), b"Executable=/x\n[Dict]\n\t[Key] a\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("h.txt:3:2: the key `a` has no value"),
            "{err}"
        );
    }

    #[test]
    fn the_blob_header_form_is_read() {
        let mut bytes = b"Executable=/x\n\xfa\xde\x71\x71\x00\x00\x01\x00".to_vec();
        bytes.extend_from_slice(
            xml("<key>com.apple.developer.driverkit</key><true/>")
                .split_once('\n')
                .unwrap()
                .1
                .as_bytes(),
        );
        let e = parse(Path::new("d.bin"), &bytes).unwrap();
        assert!(e.is_true(DRIVERKIT));
    }

    #[test]
    fn a_truncated_plist_is_placed_in_the_file() {
        let text = xml("<key>a</key><true/>");
        let cut = &text[..text.len() - 20];
        let err = parse(Path::new("h.xml"), cut.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("h.xml:"), "{err}");
        assert!(err.contains("not a complete entitlements plist"), "{err}");
    }
}
