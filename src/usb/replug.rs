//! Replug a printer so that it departs and comes back: hub port power off/on (the hub found from the port
//! path), else a libusb reset, else an error naming everything tried. And the verified form that waits for
//! the departure and the re-arrival and says when each was seen.

use super::darwin::RESET_REPLUG_WAIT;
use super::hub_power;
use super::libusb::bounded;
use crate::lab::{LabError, Readable, UsbBus, UsbView, WaitError};
use rusb::UsbContext;
use std::fmt;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplugMethod {
    /// CLEAR_FEATURE / SET_FEATURE(PORT_POWER) on the parent hub's port.
    HubPower,
    /// `libusb_reset_device`; on macOS libusb re-enumerates the device (libusb `darwin_usb.c`,
    /// `darwin_reset_device` → `darwin_reenumerate_device`), so it departs and comes back.
    Reset,
}

impl fmt::Display for ReplugMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReplugMethod::HubPower => "hub port power off/on",
            ReplugMethod::Reset => "libusb reset",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplugOptions {
    /// Tried in order until one works (per printer from the lab file; both by default).
    pub methods: Vec<ReplugMethod>,
    /// How long the port stays unpowered.
    pub off_time: Duration,
    /// Power-off requests sent until GET_STATUS shows the port off: some hubs ignore the first one
    /// (uhubctl's `--repeat` option exists for the same reason).
    pub power_off_attempts: u32,
    /// Deadline of each control request.
    pub timeout: Duration,
}

impl Default for ReplugOptions {
    fn default() -> Self {
        ReplugOptions {
            methods: vec![ReplugMethod::HubPower, ReplugMethod::Reset],
            off_time: Duration::from_secs(2),
            power_off_attempts: 3,
            timeout: Duration::from_secs(1),
        }
    }
}

/// The error when no method worked, naming each one tried and why it failed.
pub fn nothing_worked(device: &UsbView, tried: &[(ReplugMethod, String)]) -> LabError {
    let why = if tried.is_empty() {
        "no replug method is enabled for it".to_string()
    } else {
        tried
            .iter()
            .map(|(m, why)| format!("{m}: {why}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    LabError::Other(format!("cannot replug {}: {why}", device.label()))
}

/// The port path of a libusb device as the bus reports it (on a Mac from the registry's `locationID`, not
/// libusb's `port_numbers`: see `darwin`).
pub type PortPathOf<'a, T> = &'a dyn Fn(&rusb::Device<T>) -> Vec<u8>;

/// How long a reset may take: on a Mac `libusb_reset_device` re-enumerates and waits up to libusb's own 10 s
/// for the device to come back (`darwin_reenumerate_device`), so never less than [`RESET_REPLUG_WAIT`].
pub fn reset_wait(options: &ReplugOptions) -> Duration {
    (options.timeout * 5).max(RESET_REPLUG_WAIT)
}

/// Power-cycle or reset `target`; returns the method that worked.
pub fn replug<T: UsbContext + 'static>(
    context: &T,
    target: &UsbView,
    options: &ReplugOptions,
    port_path_of: PortPathOf<'_, T>,
) -> Result<ReplugMethod, LabError> {
    let devices = context
        .devices()
        .map_err(|e| LabError::Other(format!("libusb cannot list devices: {e}")))?;
    let devices: Vec<_> = devices.iter().collect();
    let mut tried = Vec::new();
    for &method in &options.methods {
        let result = match method {
            ReplugMethod::HubPower => {
                hub_power::hub_power_cycle(&devices, target, options, port_path_of)
            }
            ReplugMethod::Reset => reset(&devices, target, options),
        };
        match result {
            Ok(()) => return Ok(method),
            Err(why) => {
                tracing::info!("replug {} by {method} failed: {why}", target.label());
                tried.push((method, why));
            }
        }
    }
    Err(nothing_worked(target, &tried))
}

fn reset<T: UsbContext + 'static>(
    devices: &[rusb::Device<T>],
    target: &UsbView,
    options: &ReplugOptions,
) -> Result<(), String> {
    let device = devices
        .iter()
        .find(|d| d.bus_number() == target.bus && d.address() == target.address)
        .ok_or_else(|| format!("bus {} address {} is gone", target.bus, target.address))?
        .clone();
    let handle = bounded("opening the device", options.timeout * 5, move || {
        device.open()
    })?;
    match bounded("libusb reset", reset_wait(options), move || handle.reset()) {
        Ok(()) => Ok(()),
        // libusb_reset_device answers LIBUSB_ERROR_NOT_FOUND when the device re-enumerated and must be
        // rediscovered (libusb API docs): that is the departure we asked for.
        Err(e) if e.contains(&rusb::Error::NotFound.to_string()) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether `a` and `b` are the same printer across a re-enumeration: same ids, and the same serial when
/// both have one, else the same bus and port path (the address changes on every enumeration).
pub fn same_printer(a: &UsbView, b: &UsbView) -> bool {
    if (a.vendor_id, a.product_id) != (b.vendor_id, b.product_id) {
        return false;
    }
    match (&a.serial, &b.serial) {
        (Readable::Value(x), Readable::Value(y)) if !x.is_empty() => x == y,
        _ => a.bus == b.bus && a.port_path == b.port_path,
    }
}

/// A replug seen through: when the old device was seen gone and the printer seen back, from the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplugReport {
    pub departed_after: Duration,
    pub arrived_after: Duration,
    pub back: UsbView,
}

/// Replug and wait for the departure (the old bus address gone) and the re-arrival (the same printer at a
/// new address or the same one after a gap), both within `within`. Times are when each was seen, so with
/// polling they are upper bounds.
pub fn replug_and_wait(
    bus: &dyn UsbBus,
    device: &UsbView,
    within: Duration,
) -> Result<ReplugReport, WaitError> {
    let start = Instant::now();
    let deadline = start + within;
    bus.replug(device)?;
    let old = device.clone();
    let still_there =
        move |d: &UsbView| d.bus == old.bus && d.address == old.address && same_printer(d, &old);
    bus.wait_usb(&still_there, false, deadline)?;
    let departed_after = start.elapsed();
    let wanted = device.clone();
    let back = bus
        .wait_usb(&|d: &UsbView| same_printer(d, &wanted), true, deadline)?
        .ok_or_else(|| WaitError::TimedOut(start.elapsed()))?;
    Ok(ReplugReport {
        departed_after,
        arrived_after: start.elapsed(),
        back,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Mutex;

    pub(crate) fn printer(serial: &str, address: u8, port_path: Vec<u8>) -> UsbView {
        let mut v = crate::printer::catalog::find("DS620")
            .expect("DS620 is in the catalog")
            .usb_view(1, port_path, address);
        v.serial = if serial.is_empty() {
            Readable::Absent
        } else {
            Readable::Value(serial.into())
        };
        v
    }

    /// A bus whose replug moves the printer to a new address.
    struct FakeBus {
        devices: Mutex<Vec<UsbView>>,
        replug_works: bool,
    }

    impl UsbBus for FakeBus {
        fn devices(&self) -> Result<Vec<UsbView>, LabError> {
            Ok(self.devices.lock().unwrap().clone())
        }
        fn replug(&self, device: &UsbView) -> Result<(), LabError> {
            if !self.replug_works {
                return Err(nothing_worked(
                    device,
                    &[(ReplugMethod::HubPower, "no hub".into())],
                ));
            }
            let mut all = self.devices.lock().unwrap();
            for d in all.iter_mut() {
                if d.address == device.address {
                    d.address += 10;
                }
            }
            Ok(())
        }
        fn wait_usb(
            &self,
            pred: &(dyn Fn(&UsbView) -> bool + Sync),
            present: bool,
            _deadline: Instant,
        ) -> Result<Option<UsbView>, WaitError> {
            let found = self.devices()?.into_iter().find(|d| pred(d));
            match (present, found) {
                (true, Some(d)) => Ok(Some(d)),
                (false, None) => Ok(None),
                _ => Err(WaitError::TimedOut(Duration::ZERO)),
            }
        }
    }

    #[test]
    fn a_verified_replug_sees_the_old_address_go_and_the_printer_return() {
        let bus = FakeBus {
            devices: Mutex::new(vec![printer("DS6C98031738", 5, vec![1, 2])]),
            replug_works: true,
        };
        let before = bus.devices().unwrap()[0].clone();
        let report = replug_and_wait(&bus, &before, Duration::from_secs(5)).unwrap();
        assert_eq!(report.back.address, 15);
        assert!(report.departed_after <= report.arrived_after);
    }

    #[test]
    fn a_failed_replug_names_what_was_tried() {
        let bus = FakeBus {
            devices: Mutex::new(vec![printer("", 5, vec![1, 2])]),
            replug_works: false,
        };
        let d = bus.devices().unwrap()[0].clone();
        let err = replug_and_wait(&bus, &d, Duration::from_secs(1)).unwrap_err();
        assert!(
            err.to_string().contains("hub port power off/on: no hub"),
            "{err}"
        );
        let none = nothing_worked(&d, &[]);
        assert!(none.to_string().contains("no replug method"));
    }

    #[test]
    fn a_reset_outlasts_libusbs_reenumeration_wait() {
        // libusb's darwin backend waits up to 10 s inside libusb_reset_device; giving up sooner reports a
        // reset that is still re-enumerating as failed.
        assert!(reset_wait(&ReplugOptions::default()) >= Duration::from_secs(11));
        let slow = ReplugOptions {
            timeout: Duration::from_secs(3),
            ..ReplugOptions::default()
        };
        assert_eq!(reset_wait(&slow), Duration::from_secs(15));
    }

    #[test]
    fn identity_uses_serial_else_port() {
        let a = printer("DS6C98031738", 5, vec![1, 2]);
        assert!(same_printer(&a, &printer("DS6C98031738", 9, vec![3])));
        assert!(!same_printer(&a, &printer("DS6C00000000", 5, vec![1, 2])));
        let anon = printer("", 5, vec![1, 2]);
        assert!(same_printer(&anon, &printer("", 7, vec![1, 2])));
        assert!(!same_printer(&anon, &printer("", 7, vec![1, 3])));
    }
}
