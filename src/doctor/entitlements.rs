//! Entitlements from `codesign -d --entitlements - --xml <path>` output: an XML plist dictionary (binary
//! plists are read too), possibly after the `Executable=...` lines codesign prints first. Keys and rules
//! are from reference §2 (the `userclient-access` check in `IOUserServer::serviceNewUserClient`).

use super::error::{DoctorError, line_column, read};
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
        let bytes = read(path)?;
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
        return without_plist(path, source, bytes);
    };
    let body = &bytes[start..];
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
    fn the_text_form_is_refused_with_the_flag_to_use() {
        let err = parse(Path::new("h.txt"), b"Executable=/x\n[Dict]\n\t[Key] a\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("h.txt:2:1: this is codesign's text form"),
            "{err}"
        );
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
