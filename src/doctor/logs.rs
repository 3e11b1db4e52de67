//! The dext's kernel log: the command that captures it (reference §6), and what a captured log says about
//! an open. The kernel's own refusals are `DK: ` lines and `IOUC ...` lines (reference §2); the dext's
//! NewUserClient breadcrumbs show whether the open reached the dext at all. Works on the plain text and on
//! `--style ndjson` alike, since both keep the message text on one line.

use super::error::read_text;
use crate::logs::classify::{LineClass, classify, is_banner, message_of};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What a kernel line says refused the open (reference §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// `DK: <UserClass>-0x<id>:UC failed userclient-access check, needed bundle ID <id>` or
    /// `...:UC entitlements check failed`.
    UserClientAccess,
    /// `IOUC %s missing entitlement in process %s`.
    MissingEntitlement,
    /// `IOUC %s failed MACF in process %s`.
    Macf,
    /// `IOUC %s failed sandbox in process %s`.
    Sandbox,
}

impl Refusal {
    fn of(line: &str) -> Option<Refusal> {
        if line.contains("UC failed userclient-access check")
            || line.contains("UC entitlements check failed")
        {
            Some(Refusal::UserClientAccess)
        } else if line.contains("IOUC") && line.contains("missing entitlement") {
            Some(Refusal::MissingEntitlement)
        } else if line.contains("IOUC") && line.contains("failed MACF") {
            Some(Refusal::Macf)
        } else if line.contains("IOUC") && line.contains("failed sandbox") {
            Some(Refusal::Sandbox)
        } else {
            None
        }
    }
}

/// A line of the log that is evidence, with its place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub line: usize,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogScan {
    pub source: String,
    pub lines: usize,
    /// Lines mentioning NewUserClient: the open reached the dext.
    pub new_user_client: Vec<LogLine>,
    pub refusals: Vec<(Refusal, LogLine)>,
    /// Other `DK: ` lines, for context.
    pub dk: Vec<LogLine>,
    /// How many lines concern each part of the dext's life ([`LineClass`]).
    pub classes: BTreeMap<LineClass, usize>,
}

/// True when `text` reads as a captured log (any `log` style, Console's copy-paste).
pub fn looks_like(text: &str) -> bool {
    crate::logs::classify::looks_like(text)
}

impl LogScan {
    /// True when some line concerns an open: only then may doctor conclude about one.
    pub fn covers_open(&self) -> bool {
        self.classes.contains_key(&LineClass::Open)
    }

    /// `activation 3, matching 2`: what the log does cover, for a report that it does not cover an open.
    pub fn covered(&self) -> String {
        if self.classes.is_empty() {
            return "no line about the dext's activation, matching, open, dispatch or a crash"
                .into();
        }
        self.classes
            .iter()
            .map(|(c, n)| format!("{} {n}", c.label()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn load(path: &Path) -> Result<LogScan, super::DoctorError> {
        let text = read_text(path, crate::input::LOG)?;
        Ok(scan(&path.display().to_string(), &text))
    }

    /// The bundle id a `needed bundle ID <id>` line names, if any.
    pub fn needed_bundle_id(&self) -> Option<&str> {
        self.refusals.iter().find_map(|(_, l)| {
            let rest = &l.text[l.text.find("needed bundle ID ")? + "needed bundle ID ".len()..];
            rest.split(|c: char| c.is_whitespace() || c == '"' || c == ',')
                .next()
        })
    }
}

pub fn scan(source: &str, text: &str) -> LogScan {
    let mut out = LogScan {
        source: source.to_string(),
        lines: 0,
        new_user_client: Vec::new(),
        refusals: Vec::new(),
        dk: Vec::new(),
        classes: BTreeMap::new(),
    };
    for (i, raw) in text.lines().enumerate() {
        out.lines += 1;
        if is_banner(raw) {
            continue;
        }
        let Some(message) = message_of(raw) else {
            continue;
        };
        let class = classify(&message);
        if let Some(c) = class {
            *out.classes.entry(c).or_default() += 1;
        }
        let l = LogLine {
            line: i + 1,
            text: raw.trim().to_string(),
        };
        if let Some(r) = Refusal::of(&message) {
            out.refusals.push((r, l));
        } else if class == Some(LineClass::Open)
            && message.to_ascii_lowercase().contains("newuserclient")
        {
            out.new_user_client.push(l);
        } else if message.contains("DK: ") {
            out.dk.push(l);
        }
    }
    out
}

/// The command that captures the dext's log (reference §6): the dext's `os_log` goes through the kernel,
/// so it shows under `process == "kernel"`; `/usr/bin/log` because zsh has a builtin `log`; debug level
/// because info and debug lines are hidden otherwise. The predicate is the lab's own
/// ([`crate::logs::ndjson::default_predicate`]): the kernel's refusals are named after the *user client*
/// (`DK: <uc>-0x..:UC ...`) or its kernel class (`IOUC ...`), never after the service's class, so matching
/// the prefix alone would miss exactly the lines doctor reads (xnu `IOUserServer::serviceNewUserClient`).
pub fn capture_command(prefix: &str) -> String {
    let predicate = crate::logs::ndjson::default_predicate(prefix);
    format!(
        "/usr/bin/log stream --predicate '{}' --level debug",
        predicate.replace('\'', "")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_breadcrumbs_and_the_needed_bundle_are_found() {
        let text = "2025-05-01 10:00:01.1 kernel: DNPPrinterDriver: NewUserClient type 0\n\
            2025-05-01 10:00:01.2 kernel: DK: DNPPrinterDriver-0x100000a12:UC failed userclient-access check, needed bundle ID com.example.dexthil.DNPPrinterDriver\n\
            2025-05-01 10:00:01.2 kernel: DK: DNPPrinterDriver-0x100000a12:UC entitlements check failed\n";
        let s = scan("log.txt", text);
        assert_eq!(s.new_user_client.len(), 1);
        assert_eq!(s.refusals.len(), 2);
        assert_eq!(s.refusals[0].1.line, 2);
        assert_eq!(
            s.needed_bundle_id(),
            Some("com.example.dexthil.DNPPrinterDriver")
        );
    }

    #[test]
    fn the_capture_command_uses_the_full_path_and_the_kernel_process() {
        assert_eq!(
            capture_command("DNPPrinterDriver"),
            "/usr/bin/log stream --predicate 'process == \"kernel\" AND (eventMessage CONTAINS \"DNPPrinterDriver\" OR eventMessage BEGINSWITH \"DK: \" OR eventMessage BEGINSWITH \"IOUC \")' --level debug"
        );
    }
}
