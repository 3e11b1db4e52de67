//! The older `.crash` text form of a crash report (macOS 11 and earlier, and what Console still shows as
//! "Full Report" text): `Key:   value` header lines (`Process:  Name [pid]`, `Exception Type:`,
//! `Exception Codes:`, `Date/Time:`, `OS Version:`), then one block per thread, the crashed one headed
//! `Thread N Crashed:` with frames `0   image   0x00000001029a0123 symbol + 44`. Shape from Apple's
//! Technical Note TN2123 "CrashReporter" and TN2151 "Understanding and Analyzing Application Crash Reports".
//! Every field may be missing; only a text with none of the header keys is refused.

use super::crash::{CrashFrame, CrashReport, CrashReportError, TOP_FRAMES};
use std::path::Path;

/// Header keys that mark a text crash report; one is enough to recognise the form.
const MARKERS: &[&str] = &[
    "Process:",
    "Exception Type:",
    "Crashed Thread:",
    "Incident Identifier:",
];

/// True when `text` looks like a `.crash` text report (a key at the start of a line).
pub fn looks_like(text: &str) -> bool {
    text.lines()
        .take(200)
        .any(|l| MARKERS.iter().any(|m| l.trim_start().starts_with(m)))
        && text.lines().any(|l| l.trim_start().starts_with("Thread "))
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        l.trim_start()
            .strip_prefix(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    })
}

/// Parse the text form; `path` is only for messages and the result.
pub fn parse(path: &Path, text: &str) -> Result<CrashReport, CrashReportError> {
    if !MARKERS.iter().any(|m| field(text, m).is_some()) {
        return Err(CrashReportError {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message:
                "not a crash report: expected an `.ips` file (a JSON header line) or the `.crash` \
                      text form (`Process:`, `Exception Type:`, `Thread N Crashed:` lines)"
                    .into(),
        });
    }
    let (process, pid) = match field(text, "Process:") {
        Some(p) => match p.rsplit_once(" [") {
            Some((name, rest)) => (
                Some(name.trim().to_string()),
                rest.trim_end_matches(']').trim().parse().ok(),
            ),
            None => (Some(p.to_string()), None),
        },
        None => (None, None),
    };
    // `EXC_BAD_ACCESS (SIGSEGV)`: the signal is in the parentheses.
    let (exception_type, signal) = match field(text, "Exception Type:") {
        Some(e) => match e.split_once(" (") {
            Some((t, s)) => (
                Some(t.trim().to_string()),
                Some(s.trim_end_matches(')').to_string()),
            ),
            None => (Some(e.to_string()), None),
        },
        None => (None, None),
    };
    let crashed_thread = field(text, "Crashed Thread:")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .or_else(|| {
            text.lines().find_map(|l| {
                let rest = l.strip_prefix("Thread ")?;
                let (n, tail) = rest.split_once(' ')?;
                tail.starts_with("Crashed")
                    .then(|| n.parse().ok())
                    .flatten()
            })
        });
    let frames = crashed_thread
        .map(|n| frames_of(text, n))
        .unwrap_or_default();
    Ok(CrashReport {
        path: path.to_path_buf(),
        process,
        pid,
        timestamp: field(text, "Date/Time:").map(String::from),
        bug_type: None,
        os_version: field(text, "OS Version:").map(String::from),
        incident_id: field(text, "Incident Identifier:").map(String::from),
        exception_type,
        signal,
        codes: field(text, "Exception Codes:").map(String::from),
        crashed_thread,
        frames,
    })
}

/// The frames under `Thread N Crashed:` up to the first line that is not a frame.
fn frames_of(text: &str, thread: usize) -> Vec<CrashFrame> {
    let head = format!("Thread {thread} Crashed");
    text.lines()
        .skip_while(|l| !l.starts_with(&head))
        .skip(1)
        .map_while(frame)
        .take(TOP_FRAMES)
        .collect()
}

/// `0   com.example.Driver   \t0x00000001029a0123 DNPPrinterDriver::GetStatus() + 44`.
fn frame(line: &str) -> Option<CrashFrame> {
    let line = line.trim();
    let (index, rest) = line.split_once(char::is_whitespace)?;
    index.parse::<usize>().ok()?;
    // The first whitespace-separated `0x...` token is the address; the image name before it may hold spaces.
    let addr_at = rest
        .match_indices("0x")
        .map(|(i, _)| i)
        .find(|&i| rest[..i].ends_with(char::is_whitespace))?;
    let image = rest[..addr_at].trim();
    let after = &rest[addr_at..];
    let (_, sym) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
    let sym = sym.trim();
    // Unsymbolicated: `0x102a00000 + 49443` is the image base and the offset into it.
    let (symbol, image_offset) = match sym.split_once(" + ") {
        Some((base, off)) if base.starts_with("0x") => (None, off.trim().parse().ok()),
        _ if sym.is_empty() => (None, None),
        _ => (Some(sym.to_string()), None),
    };
    Some(CrashFrame {
        image: (!image.is_empty()).then(|| image.to_string()),
        symbol,
        image_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Process:               DNPPrinterDriver [812]\n\
        Identifier:            com.example.dexthil.DNPPrinterDriver\n\
        OS Version:            macOS 11.2.3 (20D91)\n\
        Exception Type:        EXC_BAD_ACCESS (SIGSEGV)\n\
        Exception Codes:       KERN_INVALID_ADDRESS at 0x0000000000000010\n\n\
        Thread 0:: Dispatch queue: com.apple.main-thread\n\
        0   libsystem_kernel.dylib        \t0x00000001a1b2c3d4 mach_msg_trap + 8\n\n\
        Thread 2 Crashed:\n\
        0   com.example.dexthil.DNPPrinterDriver\t0x0000000102a0c123 DNPPrinterDriver::GetStatus() + 44\n\
        1   com.apple.DriverKit           \t0x0000000102b00000 0x102b00000 + 4096\n\n\
        Thread 2 crashed with ARM Thread State (64-bit):\n";

    #[test]
    fn process_exception_and_the_crashed_threads_frames() {
        let r = parse(Path::new("x.crash"), REPORT).unwrap();
        assert_eq!(r.process.as_deref(), Some("DNPPrinterDriver"));
        assert_eq!(r.pid, Some(812));
        assert_eq!(r.exception_type.as_deref(), Some("EXC_BAD_ACCESS"));
        assert_eq!(r.signal.as_deref(), Some("SIGSEGV"));
        assert_eq!(r.crashed_thread, Some(2));
        assert_eq!(r.frames.len(), 2);
        assert_eq!(
            r.frames[0].symbol.as_deref(),
            Some("DNPPrinterDriver::GetStatus() + 44")
        );
        assert_eq!(r.frames[1].image_offset, Some(4096));
        assert!(looks_like(REPORT));
    }

    #[test]
    fn text_without_any_crash_key_is_refused() {
        assert!(parse(Path::new("x.crash"), "hello\n").is_err());
        assert!(!looks_like("hello\nThread 1\n"));
    }
}
