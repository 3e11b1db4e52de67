//! The assumptions the darwin double makes that closed source could break, and the verdict on each from
//! what a probe observed: assumption → observed → verdict, as a table for people and JSON for the folder.

use super::probe::{
    AsyncRoundTrip, FolderCheck, LogStreamCheck, PrinterSighting, RegisteredPrinter, SelftestProbe,
};
use crate::lab::Readable;
use crate::usb::{darwin, location};
use serde::Serialize;
use std::fmt::Write;
use std::time::Duration;

/// A call slower than this makes the engine's per-step deadlines meaningless on this machine.
pub const CALL_ROUND_TRIP_LIMIT: Duration = Duration::from_millis(500);

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "why")]
pub enum Verdict {
    /// This machine behaves as the double assumes.
    Holds,
    /// It does not: the double (and what passes under it) is wrong for this machine.
    Broken,
    /// Nothing here to check it with (no printer, the sample not installed); the reason.
    NotChecked(String),
}

impl Verdict {
    fn label(&self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Broken => "BROKEN",
            Verdict::NotChecked(_) => "not checked",
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// A short stable name (`class-names`), for bug reports and tests.
    pub id: &'static str,
    pub assumption: &'static str,
    pub observed: String,
    pub verdict: Verdict,
}

fn finding(
    id: &'static str,
    assumption: &'static str,
    observed: String,
    verdict: Verdict,
) -> Finding {
    Finding {
        id,
        assumption,
        observed,
        verdict,
    }
}

fn not_checked(id: &'static str, assumption: &'static str, why: &str) -> Finding {
    finding(id, assumption, "-".into(), Verdict::NotChecked(why.into()))
}

const CLASS_NAMES: &str = "IOObjectGetClass names a printer's device IOUSBDevice and its interface IOUSBInterface \
                           (IOClassNameOverride)";
const PAIRING: &str = "libusb's bus and address pair each printer with one IOUSBHostDevice (locationID >> 24, \
                       USB Address)";
const PORTS: &str =
    "libusb's port numbers are locationID's port path, or empty (libusb 1.0.27 on macOS 26)";
const STRINGS: &str = "strings and GET_DEVICE_ID read while a dext owns the printer interface";
const ASYNC: &str = "an async completion comes back on the notification port (Apple's sample)";
const CALL_TIME: &str = "one IOConnectCallMethod round trip takes under 500 ms";
const LOG_STREAM: &str = "`log stream` runs for this user and captures";
const CRASH_DIRS: &str = "the DiagnosticReports folders can be read";

fn class_names(printers: &[RegisteredPrinter]) -> Finding {
    if printers.is_empty() {
        return not_checked("class-names", CLASS_NAMES, "no printer in the registry");
    }
    let mut holds = true;
    let observed = printers
        .iter()
        .map(|p| {
            let interface = p.interface.as_ref().map(|i| i.class.as_str());
            holds &=
                p.device.class == "IOUSBDevice" && interface.is_none_or(|c| c == "IOUSBInterface");
            format!(
                "{} 0x{:X}: device {}, interface {}",
                p.device.name,
                p.device.id,
                p.device.class,
                interface.unwrap_or("-")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    finding("class-names", CLASS_NAMES, observed, verdict_of(holds))
}

fn verdict_of(holds: bool) -> Verdict {
    if holds {
        Verdict::Holds
    } else {
        Verdict::Broken
    }
}

fn location_of(p: &PrinterSighting) -> Option<u32> {
    p.device
        .as_ref()
        .and_then(|d| d.int("locationID"))
        .and_then(darwin::as_u32)
}

fn pairing(printers: &[PrinterSighting]) -> Finding {
    if printers.is_empty() {
        return not_checked("pairing", PAIRING, "no printer on the bus");
    }
    let unpaired: Vec<_> = printers
        .iter()
        .filter(|p| p.device.is_none())
        .map(|p| p.usb.label())
        .collect();
    let observed = if unpaired.is_empty() {
        format!("{} of {} paired", printers.len(), printers.len())
    } else {
        format!("no entry for {}", unpaired.join(", "))
    };
    finding(
        "pairing",
        PAIRING,
        observed,
        verdict_of(unpaired.is_empty()),
    )
}

fn port_numbers(printers: &[PrinterSighting]) -> Finding {
    let seen: Vec<_> = printers
        .iter()
        .filter_map(|p| location_of(p).map(|l| (p, l)))
        .collect();
    if seen.is_empty() {
        return not_checked("port-numbers", PORTS, "no printer with a locationID");
    }
    let mut holds = true;
    let observed = seen
        .iter()
        .map(|(p, loc)| {
            let from_loc = location::decode(*loc).1;
            let libusb = &p.libusb_port_numbers;
            holds &= libusb.is_empty() || *libusb == from_loc;
            format!(
                "libusb {} vs locationID 0x{loc:08x} → {}",
                if libusb.is_empty() {
                    "(empty)".into()
                } else {
                    location::port_path_text(libusb)
                },
                location::port_path_text(&from_loc)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    finding("port-numbers", PORTS, observed, verdict_of(holds))
}

fn readable_text(what: &str, r: &Readable<String>) -> (bool, String) {
    match r {
        Readable::Value(v) => (true, format!("{what} {v:?}")),
        Readable::Absent => (true, format!("{what} absent")),
        Readable::Unreadable(why) => (false, format!("{what} unreadable: {why}")),
    }
}

fn strings(printers: &[PrinterSighting]) -> Finding {
    let owned: Vec<_> = printers.iter().filter(|p| p.dext_attached).collect();
    if owned.is_empty() {
        return not_checked(
            "strings-with-dext",
            STRINGS,
            "no printer has a dext attached",
        );
    }
    let mut holds = true;
    let observed = owned
        .iter()
        .map(|p| {
            let parts: Vec<_> = [
                readable_text("serial", &p.usb.serial),
                readable_text("1284 id", &p.usb.device_id_1284),
            ]
            .into_iter()
            .map(|(ok, text)| {
                holds &= ok;
                text
            })
            .collect();
            format!("{}: {}", p.usb.label(), parts.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ");
    finding("strings-with-dext", STRINGS, observed, verdict_of(holds))
}

fn async_completion(r: Option<Result<AsyncRoundTrip, String>>) -> Finding {
    match r {
        None => not_checked("async-completion", ASYNC, "Apple's sample is not installed"),
        Some(Err(e)) => finding("async-completion", ASYNC, e, Verdict::Broken),
        Some(Ok(rt)) => finding(
            "async-completion",
            ASYNC,
            format!(
                "calls {}; {} completion(s)",
                rt.codes.join(", "),
                rt.completions
            ),
            verdict_of(rt.completions > 0),
        ),
    }
}

fn call_time(r: Option<Result<Duration, String>>) -> Finding {
    match r {
        None => not_checked("call-time", CALL_TIME, "Apple's sample is not installed"),
        Some(Err(e)) => finding("call-time", CALL_TIME, e, Verdict::Broken),
        Some(Ok(took)) => finding(
            "call-time",
            CALL_TIME,
            format!("{took:?}"),
            verdict_of(took < CALL_ROUND_TRIP_LIMIT),
        ),
    }
}

fn log_stream(c: LogStreamCheck) -> Finding {
    if !c.tool_present {
        return not_checked(
            "log-stream",
            LOG_STREAM,
            "this machine has no `log` tool (not a Mac: the double's run)",
        );
    }
    let mut observed = format!("`{}`: ", c.command);
    if c.ran {
        let _ = write!(observed, "ran, {} line(s)", c.lines);
    } else {
        observed.push_str("did not run");
    }
    if let Some(t) = &c.trouble {
        let _ = write!(observed, "; said: {t}");
    }
    finding(
        "log-stream",
        LOG_STREAM,
        observed,
        verdict_of(c.ran && c.trouble.is_none()),
    )
}

fn crash_folders(folders: Vec<FolderCheck>) -> Finding {
    if !folders.iter().any(|f| f.exists) {
        return not_checked(
            "crash-folders",
            CRASH_DIRS,
            "no DiagnosticReports folder on this machine (not a Mac: the double's run)",
        );
    }
    let holds = folders.iter().all(|f| f.unreadable.is_none());
    let observed = folders
        .iter()
        .map(|f| match (&f.unreadable, f.exists) {
            (Some(e), _) => format!("{}: unreadable ({e})", f.path.display()),
            (None, false) => format!("{}: absent", f.path.display()),
            (None, true) => format!("{}: {} report(s)", f.path.display(), f.reports),
        })
        .collect::<Vec<_>>()
        .join("; ");
    finding("crash-folders", CRASH_DIRS, observed, verdict_of(holds))
}

/// Run every check of `probe` and judge it.
pub fn judge(probe: &dyn SelftestProbe) -> Vec<Finding> {
    let mut findings = vec![match probe.registered_printers() {
        Ok(p) => class_names(&p),
        Err(e) => finding(
            "class-names",
            CLASS_NAMES,
            format!("reading the registry failed: {e}"),
            Verdict::Broken,
        ),
    }];
    match probe.printers() {
        Ok(p) => findings.extend([pairing(&p), port_numbers(&p), strings(&p)]),
        Err(e) => findings.extend(
            ["pairing", "port-numbers", "strings-with-dext"]
                .into_iter()
                .zip([PAIRING, PORTS, STRINGS])
                .map(|(id, a)| {
                    finding(
                        id,
                        a,
                        format!("listing printers failed: {e}"),
                        Verdict::Broken,
                    )
                }),
        ),
    }
    findings.push(async_completion(probe.async_round_trip()));
    findings.push(call_time(probe.call_round_trip()));
    findings.push(log_stream(probe.log_stream()));
    findings.push(crash_folders(probe.crash_folders()));
    findings
}

/// 1 when an assumption is broken, else 0.
pub fn exit_code(findings: &[Finding]) -> u8 {
    u8::from(findings.iter().any(|f| f.verdict == Verdict::Broken))
}

/// assumption → observed → verdict, one block per assumption.
pub fn render(machine: &str, findings: &[Finding]) -> String {
    let mut out = format!("dexthil selftest on {machine}\n\n");
    for f in findings {
        let _ = writeln!(out, "{:<18} {}", f.id, f.assumption);
        let _ = writeln!(out, "{:<18}   observed: {}", "", f.observed);
        match &f.verdict {
            Verdict::NotChecked(why) => {
                let _ = writeln!(out, "{:<18}   → not checked: {why}", "");
            }
            v => {
                let _ = writeln!(out, "{:<18}   → {}", "", v.label());
            }
        }
    }
    let count = |v: fn(&Verdict) -> bool| findings.iter().filter(|f| v(&f.verdict)).count();
    let _ = writeln!(
        out,
        "\n{} hold, {} broken, {} not checked",
        count(|v| *v == Verdict::Holds),
        count(|v| *v == Verdict::Broken),
        count(|v| matches!(v, Verdict::NotChecked(_)))
    );
    out
}
