//! What a log line is about, whatever style it was captured in: `log stream` / `log show` default,
//! compact, syslog and ndjson styles, and Console's copy-paste (tab-separated columns). Shapes from the
//! `log(1)` man page (`--style default|compact|syslog|json|ndjson`) and reference §6.
//!
//! [`message_of`] takes the message out of a line (the `eventMessage` of an ndjson entry; the whole line
//! otherwise, since every text style ends with the message); [`classify`] says which part of a dext's life
//! the message concerns. Doctor draws conclusions about an open only from [`LineClass::Open`] lines.

use serde::Serialize;

/// Which part of a dext's life a line concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineClass {
    /// sysextd / the System Extensions framework installing, activating or replacing the dext.
    Activation,
    /// The kernel matching the dext to a provider, launching its process, its `Start`.
    Matching,
    /// A user client being opened: `IOServiceOpen`, `NewUserClient`, the kernel's `UC` / `IOUC` refusals.
    Open,
    /// Calls on an open user client: `ExternalMethod`, selectors.
    Dispatch,
    /// The dext's process dying: a crash, an exception, an exit.
    Crash,
}

impl LineClass {
    pub fn label(self) -> &'static str {
        match self {
            LineClass::Activation => "activation",
            LineClass::Matching => "matching",
            LineClass::Open => "open",
            LineClass::Dispatch => "dispatch",
            LineClass::Crash => "crash",
        }
    }
}

/// The message of one captured line: an ndjson entry's `eventMessage` (None for an entry without one,
/// such as an activity event), else the line itself.
pub fn message_of(line: &str) -> Option<String> {
    let t = line.trim();
    if t.starts_with('{') {
        return match serde_json::from_str::<serde_json::Value>(t) {
            Ok(v) => v
                .get("eventMessage")
                .and_then(|m| m.as_str())
                .map(String::from),
            // A cut ndjson line: its text still says what it is about.
            Err(_) => Some(t.to_string()),
        };
    }
    Some(t.to_string())
}

/// Lines `log` itself prints around the entries: the predicate banner, the column header of the default
/// style, the end marker of `log show`.
pub fn is_banner(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("Filtering the log data")
        || t.starts_with("Timestamp ")
        || t.starts_with("Timestamp\t")
        || t.starts_with("Skipping info and debug messages")
        || t.starts_with("Log      - Default:")
        || t == "--"
        || t.starts_with("---")
}

/// Which part of a dext's life `message` concerns; `None` for a line about none of them.
pub fn classify(message: &str) -> Option<LineClass> {
    let m = message;
    let lower = m.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if m.contains("UC failed")
        || m.contains("UC entitlements check failed")
        || m.contains("IOUC ")
        || has(&[
            "newuserclient",
            "ioserviceopen",
            "userclient-access",
            "open user client",
        ])
    {
        return Some(LineClass::Open);
    }
    if has(&["externalmethod", "selector", "dispatch"]) {
        return Some(LineClass::Dispatch);
    }
    if has(&[
        "crash",
        "exc_bad",
        "exc_crash",
        "sigsegv",
        "sigabrt",
        "sigbus",
        "corpse",
        "exited",
        "::exit",
        "died",
        "panic",
    ]) {
        return Some(LineClass::Crash);
    }
    if has(&[
        "sysextd",
        "systemextension",
        "system extension",
        "activat",
        "driver_extension",
        "extension request",
        "validating",
        "staging",
        "uninstall",
    ]) {
        return Some(LineClass::Activation);
    }
    if has(&[
        "match",
        "probe",
        "start(",
        "::start",
        "kernelmanagerd",
        "ioserviceregister",
        "registerservice",
        "iouserserver",
        "launched",
        "dext ",
    ]) {
        return Some(LineClass::Matching);
    }
    None
}

/// True when `text` reads as a captured log in any of the styles above.
pub fn looks_like(text: &str) -> bool {
    text.lines().take(200).any(|l| {
        let t = l.trim();
        t.starts_with("Filtering the log data")
            || (t.starts_with('{') && t.contains("\"eventMessage\""))
            || (has_clock(t)
                && (t.contains("kernel") || t.contains("DK: ") || t.contains("sysextd")))
    })
}

/// `HH:MM:SS` somewhere in the first 40 characters: every text style starts with a time.
fn has_clock(line: &str) -> bool {
    let head: Vec<u8> = line.bytes().take(40).collect();
    head.windows(8).any(|w| {
        w[2] == b':' && w[5] == b':' && [0, 1, 3, 4, 6, 7].iter().all(|&i| w[i].is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_style_gives_its_message_and_class() {
        let default = "2025-03-14 09:27:01.123456-0700 0x1a2b     Default     0x0                  0      0    kernel: (DNPPrinterDriver) DNPPrinterDriver: NewUserClient(0)";
        let compact = "2025-03-14 09:27:01.123 Df kernel[0:1a2b] (DNPPrinterDriver) DNPPrinterDriver: ExternalMethod(2)";
        let syslog =
            "Mar 14 09:27:01 lab-mac kernel[0]: DK: DNPPrinterDriver-0x100000a3c::exit(Crashed)";
        let console = "default\t09:27:01.123456-0700\tsysextd\tactivating extension com.example.dexthil.DNPPrinterDriver";
        let ndjson = r#"{"eventMessage":"DNPPrinterDriver: Start matched provider","processImagePath":"\/kernel"}"#;
        let class = |l: &str| classify(&message_of(l).unwrap());
        assert_eq!(class(default), Some(LineClass::Open));
        assert_eq!(class(compact), Some(LineClass::Dispatch));
        assert_eq!(class(syslog), Some(LineClass::Crash));
        assert_eq!(class(console), Some(LineClass::Activation));
        assert_eq!(class(ndjson), Some(LineClass::Matching));
        assert_eq!(class("2025-03-14 09:27:01 kernel: hello"), None);
        for l in [default, compact, syslog, console, ndjson] {
            assert!(looks_like(l), "{l}");
        }
        assert!(!looks_like("just words\n"));
    }
}
