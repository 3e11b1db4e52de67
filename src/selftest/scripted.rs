//! A probe that answers as the darwin double assumes a Mac behaves, with faults that break one assumption
//! each: how tests (and `dexthil selftest --scripted`) check the verdicts, the table and the folder without
//! a Mac.

use super::probe::{
    AsyncRoundTrip, FolderCheck, LogStreamCheck, PrinterSighting, RegisteredPrinter, SelftestProbe,
};
use crate::lab::{Prop, Readable, RegEntry};
use crate::printer::catalog;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// One assumption a scripted run breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptedFault {
    /// `IOObjectGetClass` gives the real class, not the override.
    ClassNames,
    /// libusb's port numbers disagree with `locationID`.
    PortNumbers,
    /// The dext makes the Mac refuse string and GET_DEVICE_ID reads.
    StringsRefused,
    /// The sample's completion never comes back.
    NoCompletion,
    /// `log stream` refuses a non-admin user.
    LogStreamRefused,
    /// A synchronous call takes 800 ms.
    SlowCall,
    /// `/Library/Logs/DiagnosticReports` cannot be listed by this user.
    CrashFoldersUnreadable,
    /// Apple's sample is not installed (its two checks cannot run).
    NoSample,
}

impl ScriptedFault {
    pub const NAMES: &[&str] = &[
        "class-names",
        "port-numbers",
        "strings-refused",
        "no-completion",
        "log-stream-refused",
        "slow-call",
        "crash-folders-unreadable",
        "no-sample",
    ];

    pub fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "class-names" => ScriptedFault::ClassNames,
            "port-numbers" => ScriptedFault::PortNumbers,
            "strings-refused" => ScriptedFault::StringsRefused,
            "no-completion" => ScriptedFault::NoCompletion,
            "log-stream-refused" => ScriptedFault::LogStreamRefused,
            "slow-call" => ScriptedFault::SlowCall,
            "crash-folders-unreadable" => ScriptedFault::CrashFoldersUnreadable,
            "no-sample" => ScriptedFault::NoSample,
            other => {
                return Err(format!(
                    "`{other}` is not a scripted fault (one of {})",
                    Self::NAMES.join(", ")
                ));
            }
        })
    }
}

/// The scripted probe: one DS620 at bus 1 port 1.3 with the printer dext attached, Apple's sample
/// installed, and every fault given.
pub struct ScriptedProbe {
    pub faults: Vec<ScriptedFault>,
}

const LOCATION_ID: u32 = 0x0113_0000;

fn entry(
    id: u64,
    name: &str,
    class: &str,
    parent: Option<u64>,
    props: Vec<(&str, Prop)>,
) -> RegEntry {
    RegEntry {
        id,
        name: name.into(),
        location: None,
        class: class.into(),
        class_chain: vec![class.into(), "IOService".into()],
        parent,
        path: String::new(),
        registered: true,
        properties: props
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<BTreeMap<_, _>>(),
    }
}

impl ScriptedProbe {
    fn has(&self, f: ScriptedFault) -> bool {
        self.faults.contains(&f)
    }
}

impl SelftestProbe for ScriptedProbe {
    fn machine(&self) -> String {
        "a scripted Mac (no hardware: the answers the darwin double assumes)".into()
    }

    fn printers(&self) -> Result<Vec<PrinterSighting>, String> {
        let model = catalog::find("DS620").ok_or("DS620 is not in the catalog")?;
        let mut usb = model.usb_view(1, vec![1, 3], 5);
        if self.has(ScriptedFault::StringsRefused) {
            let refused =
                "GET_DEVICE_ID: Access denied (insufficient permissions) (LIBUSB_ERROR_ACCESS -3)";
            usb.device_id_1284 = Readable::Unreadable(refused.into());
        }
        let (device_class, interface_class) = if self.has(ScriptedFault::ClassNames) {
            ("IOUSBHostDevice", "IOUSBHostInterface")
        } else {
            ("IOUSBDevice", "IOUSBInterface")
        };
        let device = entry(
            0x1000,
            model.name,
            device_class,
            None,
            vec![
                ("locationID", Prop::Int(LOCATION_ID.into())),
                ("USB Address", Prop::Int(5)),
                ("sessionID", Prop::Int(0x4242)),
            ],
        );
        let interface = entry(
            0x1001,
            "IOUSBHostInterface",
            interface_class,
            Some(0x1000),
            vec![("bInterfaceClass", Prop::Int(7))],
        );
        Ok(vec![PrinterSighting {
            usb,
            libusb_port_numbers: if self.has(ScriptedFault::PortNumbers) {
                vec![2]
            } else {
                Vec::new()
            },
            device: Some(device),
            interface: Some(interface),
            dext_attached: true,
        }])
    }

    fn registered_printers(&self) -> Result<Vec<RegisteredPrinter>, String> {
        Ok(self
            .printers()?
            .into_iter()
            .filter_map(|p| {
                Some(RegisteredPrinter {
                    device: p.device?,
                    interface: p.interface,
                })
            })
            .collect())
    }

    fn async_round_trip(&self) -> Option<Result<AsyncRoundTrip, String>> {
        if self.has(ScriptedFault::NoSample) {
            return None;
        }
        Some(Ok(AsyncRoundTrip {
            codes: vec!["kIOReturnSuccess (0x0)".into(); 2],
            completions: usize::from(!self.has(ScriptedFault::NoCompletion)),
        }))
    }

    fn call_round_trip(&self) -> Option<Result<Duration, String>> {
        if self.has(ScriptedFault::NoSample) {
            return None;
        }
        Some(Ok(if self.has(ScriptedFault::SlowCall) {
            Duration::from_millis(800)
        } else {
            Duration::from_micros(180)
        }))
    }

    fn log_stream(&self) -> LogStreamCheck {
        let refused = self.has(ScriptedFault::LogStreamRefused);
        LogStreamCheck {
            command: "/usr/bin/log stream --style ndjson --predicate 'process == \"kernel\"'"
                .into(),
            tool_present: true,
            ran: !refused,
            lines: if refused { 0 } else { 3 },
            trouble: refused.then(|| "log: Must be admin to run 'stream' command".into()),
        }
    }

    fn crash_folders(&self) -> Vec<FolderCheck> {
        vec![FolderCheck {
            path: PathBuf::from("/Library/Logs/DiagnosticReports"),
            exists: true,
            unreadable: self
                .has(ScriptedFault::CrashFoldersUnreadable)
                .then(|| "Permission denied (os error 13)".into()),
            reports: 0,
        }]
    }

    fn attachments(&self) -> Vec<(String, String)> {
        let printers = self.printers().unwrap_or_default();
        vec![(
            "printers.json".into(),
            serde_json::to_string_pretty(&printers).unwrap_or_default(),
        )]
    }
}
