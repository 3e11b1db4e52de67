//! The checks a probe makes through the lab traits, so they are the same on a Mac and under test: printers
//! in both views, a round trip through Apple's sample, and `log stream` started for a moment. The macOS
//! probe (`selftest::macos`) adds only what only a Mac can give (libusb's raw port numbers,
//! completions on the notification port).

use super::probe::{AsyncRoundTrip, LogStreamCheck, PrinterSighting, RegisteredPrinter};
use crate::driver::Driver;
use crate::lab::{CallArgs, ConnectionId, Lab, OpenRequest, RegEntry};
use crate::printer::catalog;
use crate::usb::darwin;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the sample's service is looked for before it counts as not installed.
const SAMPLE_WAIT: Duration = Duration::from_secs(2);
/// How long `log stream` is left running.
pub const LOG_STREAM_WINDOW: Duration = Duration::from_secs(3);

fn printer_interface(lab: &dyn Lab, device: &RegEntry) -> Option<RegEntry> {
    lab.children(device.id)
        .ok()?
        .into_iter()
        .find(|c| c.int("bInterfaceClass") == Some(crate::usb::libusb::PRINTER_CLASS.into()))
}

/// Every catalog printer on the bus with its registry entries. `raw_ports` gives what libusb itself said
/// for a (bus, address), before the registry corrected it.
pub fn printers(
    lab: &dyn Lab,
    raw_ports: &dyn Fn(u8, u8) -> Option<Vec<u8>>,
) -> Result<Vec<PrinterSighting>, String> {
    let usb = lab.devices().map_err(|e| e.to_string())?;
    let registry = darwin::reg_usb_devices(lab).map_err(|e| e.to_string())?;
    Ok(usb
        .into_iter()
        .filter(|v| catalog::by_ids(v.vendor_id, v.product_id).is_some())
        .map(|v| {
            let device =
                darwin::pair(v.bus, v.address, &registry).and_then(|r| lab.entry(r.entry).ok());
            let interface = device.as_ref().and_then(|d| printer_interface(lab, d));
            let dext_attached = interface.as_ref().is_some_and(|i| {
                lab.children(i.id)
                    .is_ok_and(|c| c.iter().any(|s| s.prop("IOUserClass").is_some()))
            });
            PrinterSighting {
                libusb_port_numbers: raw_ports(v.bus, v.address).unwrap_or_default(),
                usb: v,
                device,
                interface,
                dext_attached,
            }
        })
        .collect())
}

/// Every `IOUSBHostDevice` with a catalog printer's ids, with its printer interface.
pub fn registered_printers(lab: &dyn Lab) -> Result<Vec<RegisteredPrinter>, String> {
    let devices = lab
        .find(&crate::lab::Matching {
            class: Some("IOUSBHostDevice".into()),
            ..crate::lab::Matching::default()
        })
        .map_err(|e| e.to_string())?;
    let id = |e: &RegEntry, key: &str| {
        e.int(key)
            .and_then(darwin::as_u32)
            .and_then(|v| u16::try_from(v).ok())
    };
    Ok(devices
        .into_iter()
        .filter(|e| match (id(e, "idVendor"), id(e, "idProduct")) {
            (Some(v), Some(p)) => catalog::by_ids(v, p).is_some(),
            _ => false,
        })
        .map(|device| RegisteredPrinter {
            interface: printer_interface(lab, &device),
            device,
        })
        .collect())
}

/// The sample's service, or `None` when it is not installed.
fn sample_service(lab: &dyn Lab, sample: &Driver) -> Option<RegEntry> {
    crate::engine::service::resource_service(lab, sample, Instant::now() + SAMPLE_WAIT).ok()
}

fn with_connection<T>(
    lab: &dyn Lab,
    service: &RegEntry,
    f: impl FnOnce(ConnectionId) -> Result<T, String>,
) -> Result<T, String> {
    let opened = lab
        .open(&OpenRequest {
            entry: service.id,
            open_type: 0,
        })
        .map_err(|e| e.to_string())?;
    let Some(connection) = opened.connection else {
        return Err(format!("IOServiceOpen answered {}", opened.code));
    };
    let result = f(connection);
    let _ = lab.close(connection);
    result
}

/// One synchronous call of the sample's selector 0 (16 scalars in, 16 out: reference §4): its time.
pub fn call_round_trip(lab: &dyn Lab, sample: &Driver) -> Option<Result<Duration, String>> {
    let service = sample_service(lab, sample)?;
    Some(with_connection(lab, &service, |c| {
        let out = lab
            .call(
                c,
                &CallArgs {
                    selector: 0,
                    scalars_in: (0..16).collect(),
                    scalars_out_capacity: 16,
                    ..CallArgs::default()
                },
            )
            .map_err(|e| e.to_string())?;
        if !out.code.is_success() {
            return Err(format!("selector 0 answered {}", out.code));
        }
        Ok(out.took)
    }))
}

/// Register a callback (selector 4) and ask for it (selector 5), as the sample's client does; `completions`
/// counts what came back on the connection's notification port.
pub fn async_round_trip(
    lab: &dyn Lab,
    sample: &Driver,
    completions: &dyn Fn(ConnectionId) -> usize,
) -> Option<Result<AsyncRoundTrip, String>> {
    let service = sample_service(lab, sample)?;
    Some(with_connection(lab, &service, |c| {
        let mut codes = Vec::new();
        for (selector, struct_out) in [(4, 16), (5, 0)] {
            let out = lab
                .call(
                    c,
                    &CallArgs {
                        selector,
                        struct_in: vec![0; 16],
                        struct_out_capacity: struct_out,
                        completion: true,
                        ..CallArgs::default()
                    },
                )
                .map_err(|e| e.to_string())?;
            codes.push(out.code.to_string());
        }
        Ok(AsyncRoundTrip {
            codes,
            completions: completions(c),
        })
    }))
}

/// Run `program args` for `window`, then stop it: did it run, how many lines, what did it complain of.
pub fn log_stream(program: &Path, args: &[String], window: Duration) -> LogStreamCheck {
    let command = format!("{} {}", program.display(), args.join(" "));
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return LogStreamCheck {
                command,
                tool_present: e.kind() != std::io::ErrorKind::NotFound,
                ran: false,
                lines: 0,
                trouble: Some(format!("cannot start it: {e}")),
            };
        }
    };
    let read_all = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = r.read_to_string(&mut text);
            text
        })
    };
    let stdout = child.stdout.take().map(|s| read_all(Box::new(s)));
    let stderr = child.stderr.take().map(|s| read_all(Box::new(s)));
    let until = Instant::now() + window;
    let mut exited = None;
    while Instant::now() < until {
        if let Ok(Some(status)) = child.try_wait() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if exited.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let text = |h: Option<std::thread::JoinHandle<String>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    let (out, err) = (text(stdout), text(stderr));
    let failed = exited.is_some_and(|s| !s.success());
    let trouble = match err.trim() {
        "" if failed => Some(format!(
            "it exited with {}",
            exited.map_or(String::new(), |s| s.to_string())
        )),
        "" => None,
        e => Some(e.lines().take(3).collect::<Vec<_>>().join(" / ")),
    };
    LogStreamCheck {
        command,
        tool_present: true,
        ran: !failed,
        lines: out.lines().count(),
        trouble,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::{Readable, UserClients};

    #[test]
    fn the_sim_lab_s_printers_are_seen_in_both_views() {
        let lab = crate::testkit::sim_lab();
        let found = printers(&lab, &|_, _| Some(Vec::new())).unwrap();
        assert!(!found.is_empty());
        for p in &found {
            let device = p
                .device
                .as_ref()
                .expect("every sim printer has its IOUSBHostDevice");
            assert_eq!(device.int("USB Address"), Some(p.usb.address.into()));
            assert!(p.interface.is_some(), "{}", p.usb.label());
            assert!(matches!(p.usb.serial, Readable::Value(_)));
        }
    }

    #[test]
    fn the_registry_alone_shows_the_sim_printers_and_their_interfaces() {
        let lab = crate::testkit::sim_lab();
        let usb = crate::lab::UsbBus::devices(&lab).unwrap();
        let found = registered_printers(&lab).unwrap();
        assert_eq!(found.len(), usb.len());
        for p in &found {
            assert!(
                p.device.conforms_to("IOUSBHostDevice"),
                "{:?}",
                p.device.class
            );
            let interface = p.interface.as_ref().expect("a printer interface");
            assert_eq!(interface.int("bInterfaceClass"), Some(7));
        }
    }

    #[test]
    fn the_sample_answers_a_timed_call_and_an_async_round_trip() {
        let lab = crate::testkit::sim_lab_for("scenarios/drivers/apple-sample.yaml");
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/drivers/apple-sample.yaml");
        let sample = crate::scenario::load_driver(&path).unwrap();
        let before = lab.open_count();
        let took = call_round_trip(&lab, &sample).expect("the sim has the sample");
        assert!(took.is_ok(), "{took:?}");
        let round_trip = async_round_trip(&lab, &sample, &|_| 1)
            .expect("the sim has the sample")
            .unwrap();
        assert_eq!(round_trip.codes.len(), 2);
        assert!(
            round_trip
                .codes
                .iter()
                .all(|c| c.contains("kIOReturnSuccess")),
            "{round_trip:?}"
        );
        assert_eq!(
            lab.open_count(),
            before,
            "every connection the probe opened is closed"
        );
    }

    #[test]
    fn a_stream_that_runs_is_counted_and_one_that_refuses_is_not() {
        let sh = Path::new("/bin/sh");
        let ok = log_stream(
            sh,
            &["-c".into(), "echo a; echo b; exec sleep 5".into()],
            Duration::from_millis(500),
        );
        assert!(ok.ran && ok.trouble.is_none(), "{ok:?}");
        assert_eq!(ok.lines, 2);
        let refused = log_stream(
            sh,
            &[
                "-c".into(),
                "echo 'log: Must be admin to run stream' >&2; exit 64".into(),
            ],
            Duration::from_secs(2),
        );
        assert!(!refused.ran, "{refused:?}");
        assert!(refused.trouble.unwrap().contains("Must be admin"));
        let missing = log_stream(
            Path::new("/nonexistent/log"),
            &[],
            Duration::from_millis(100),
        );
        assert!(!missing.ran && !missing.tool_present);
        assert!(missing.trouble.unwrap().contains("cannot start"));
    }
}
