//! Replug a printer so that it departs and comes back: hub port power off/on (the hub found from the port
//! path), else a libusb reset, else an error naming everything tried. And the verified form that waits for
//! the departure and the re-arrival and says when each was seen.

use super::darwin::RESET_REPLUG_WAIT;
use super::hub::{self, ControlRequest, HUB_CLASS};
use super::hub_pair::{self, HubFacts};
use super::libusb::{READ_TIMEOUT, bounded, raw_descriptor, speed_of};
use crate::lab::{LabError, Readable, Speed, UsbBus, UsbView, WaitError};
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
            ReplugMethod::HubPower => hub_power_cycle(&devices, target, options, port_path_of),
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

fn send<T: UsbContext>(
    handle: &rusb::DeviceHandle<T>,
    req: &ControlRequest,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    if req.request_type & 0x80 != 0 {
        let mut buf = vec![0u8; req.length as usize];
        let n = handle
            .read_control(
                req.request_type,
                req.request,
                req.value,
                req.index,
                &mut buf,
                timeout,
            )
            .map_err(|e| e.to_string())?;
        buf.truncate(n);
        Ok(buf)
    } else {
        handle
            .write_control(
                req.request_type,
                req.request,
                req.value,
                req.index,
                &[],
                timeout,
            )
            .map(|_| Vec::new())
            .map_err(|e| e.to_string())
    }
}

fn port_powered<T: UsbContext>(
    handle: &rusb::DeviceHandle<T>,
    port: u8,
    usb3: bool,
    timeout: Duration,
) -> Result<bool, String> {
    let answer = send(handle, &hub::port_status_request(port), timeout)?;
    let bytes: [u8; 4] = answer
        .as_slice()
        .try_into()
        .map_err(|_| format!("GET_STATUS answered {} bytes, not 4", answer.len()))?;
    Ok(hub::decode_port_status(bytes, usb3).powered)
}

/// One hub whose port is switched: its handle, the port's status layout, and a name for messages.
struct SwitchedHub<T: UsbContext> {
    handle: rusb::DeviceHandle<T>,
    usb3_layout: bool,
    name: String,
}

fn usb3_layout<T: UsbContext>(hub: &rusb::Device<T>) -> bool {
    let bcd_usb = raw_descriptor(hub).map_or(0x0200, |d| d.bcdUSB);
    hub::hub_is_usb3(
        bcd_usb,
        matches!(speed_of(hub.speed()), Speed::Super | Speed::SuperPlus),
    )
}

fn open_hub<T: UsbContext + 'static>(
    hub: &rusb::Device<T>,
    name: String,
    timeout: Duration,
) -> Result<SwitchedHub<T>, String> {
    let opener = hub.clone();
    let handle = bounded(&format!("opening {name}"), timeout, move || opener.open())?;
    Ok(SwitchedHub {
        handle,
        usb3_layout: usb3_layout(hub),
        name,
    })
}

/// What pairs a hub with its other half, read from the hub itself (uhubctl's `get_hub_info`). Values that
/// cannot be read are left out, which leaves the hub unpaired rather than failing the replug.
fn hub_facts<T: UsbContext + 'static>(
    hub: &rusb::Device<T>,
    port_path: Vec<u8>,
    timeout: Duration,
) -> HubFacts {
    let bcd_usb = raw_descriptor(hub).map_or(0x0200, |d| d.bcdUSB);
    let super_speed = bcd_usb >= 0x0300;
    let mut facts = HubFacts {
        bus: hub.bus_number(),
        port_path,
        super_speed,
        ports: None,
        container_id: None,
        serial: None,
    };
    let serial_index = raw_descriptor(hub).map_or(0, |d| d.iSerialNumber);
    let opener = hub.clone();
    let Ok(handle) = bounded("opening a hub", timeout, move || opener.open()) else {
        return facts;
    };
    let kind = if super_speed {
        hub_pair::SUPERSPEED_HUB_DESCRIPTOR
    } else {
        hub_pair::HUB_DESCRIPTOR
    };
    let mut buf = [0u8; 255];
    // GET_DESCRIPTOR(hub) is a class request to the device (USB 2.0 §11.24.2.5).
    if let Ok(n) = handle.read_control(0xA0, 6, (kind as u16) << 8, 0, &mut buf, timeout) {
        facts.ports = hub_pair::hub_ports(&buf[..n]);
    }
    // GET_DESCRIPTOR(BOS) is a standard request (USB 3.2 §9.4.3); the descriptor is short, one read does.
    if let Ok(n) = handle.read_control(
        0x80,
        6,
        (hub_pair::BOS_DESCRIPTOR as u16) << 8,
        0,
        &mut buf,
        timeout,
    ) {
        facts.container_id = hub_pair::container_id(&buf[..n]);
    }
    if serial_index != 0
        && let Ok(langs) = handle.read_languages(READ_TIMEOUT)
        && let Some(lang) = langs.first()
    {
        facts.serial = handle
            .read_string_descriptor(*lang, serial_index, READ_TIMEOUT)
            .ok();
    }
    facts
}

/// The USB 3 hub's other half of `hubs[of]`, found as uhubctl finds it (`hub_pair`).
fn sibling_of<T: UsbContext + 'static>(
    hubs: &[(rusb::Device<T>, Vec<u8>)],
    of: usize,
    timeout: Duration,
) -> Option<usize> {
    let (hub, path) = &hubs[of];
    let me = hub_facts(hub, path.clone(), timeout);
    me.container_id?;
    // Only the other generation can be the sibling: read no more hubs than that.
    let facts: Vec<HubFacts> = hubs
        .iter()
        .enumerate()
        .map(|(i, (d, p))| {
            if i == of {
                return me.clone();
            }
            let other_gen = raw_descriptor(d).map_or(0x0200, |x| x.bcdUSB) >= 0x0300;
            if other_gen == me.super_speed {
                HubFacts {
                    bus: d.bus_number(),
                    port_path: p.clone(),
                    super_speed: other_gen,
                    ports: None,
                    container_id: None,
                    serial: None,
                }
            } else {
                hub_facts(d, p.clone(), timeout)
            }
        })
        .collect();
    hub_pair::sibling(&facts, of)
}

fn switch_off<T: UsbContext>(
    hub: &SwitchedHub<T>,
    port: u8,
    options: &ReplugOptions,
) -> Result<(), String> {
    for attempt in 1..=options.power_off_attempts.max(1) {
        send(
            &hub.handle,
            &hub::port_power_request(false, port),
            options.timeout,
        )?;
        std::thread::sleep(Duration::from_millis(100));
        if !port_powered(&hub.handle, port, hub.usb3_layout, options.timeout)? {
            return Ok(());
        }
        tracing::debug!(
            "{} port {port} still powered after power-off request {attempt}",
            hub.name
        );
    }
    Err(format!(
        "{} port {port} stayed powered after {} power-off requests: the hub has no per-port power \
         switching (it ganged or ignores PORT_POWER)",
        hub.name,
        options.power_off_attempts.max(1)
    ))
}

fn switch_on<T: UsbContext>(
    hub: &SwitchedHub<T>,
    port: u8,
    options: &ReplugOptions,
) -> Result<(), String> {
    send(
        &hub.handle,
        &hub::port_power_request(true, port),
        options.timeout,
    )?;
    if !port_powered(&hub.handle, port, hub.usb3_layout, options.timeout)? {
        return Err(format!(
            "{} port {port} did not come back on after SET_FEATURE(PORT_POWER): the printer is unpowered",
            hub.name
        ));
    }
    Ok(())
}

fn hub_power_cycle<T: UsbContext + 'static>(
    devices: &[rusb::Device<T>],
    target: &UsbView,
    options: &ReplugOptions,
    port_path_of: PortPathOf<'_, T>,
) -> Result<(), String> {
    let (hub_path, port) = hub::hub_for(&target.port_path)
        .ok_or_else(|| "its port path is unknown, so its hub is too".to_string())?;
    let hubs: Vec<(rusb::Device<T>, Vec<u8>)> = devices
        .iter()
        .filter(|d| {
            d.device_descriptor()
                .is_ok_and(|desc| desc.class_code() == HUB_CLASS)
        })
        .map(|d| (d.clone(), port_path_of(d)))
        .collect();
    let at = hubs
        .iter()
        .position(|(d, path)| d.bus_number() == target.bus && *path == hub_path)
        .ok_or_else(|| {
            format!(
                "no hub at bus {} port {} in the libusb view",
                target.bus,
                crate::usb::location::port_path_text(&hub_path)
            )
        })?;
    let name = |(d, path): &(rusb::Device<T>, Vec<u8>)| {
        format!(
            "hub at bus {} port {}",
            d.bus_number(),
            crate::usb::location::port_path_text(path)
        )
    };
    let mut halves = vec![open_hub(&hubs[at].0, name(&hubs[at]), options.timeout)?];
    // Many USB 3 hubs keep VBUS on until both halves switch the port off (uhubctl switches both).
    if let Some(other) = sibling_of(&hubs, at, options.timeout) {
        let sibling = name(&hubs[other]);
        tracing::info!(
            "{} has a USB 3 sibling: {sibling}; switching both",
            halves[0].name
        );
        halves.push(open_hub(
            &hubs[other].0,
            format!("{sibling} (the other half of the {})", halves[0].name),
            options.timeout,
        )?);
    }
    for half in &halves {
        switch_off(half, port, options)?;
    }
    std::thread::sleep(options.off_time);
    for half in &halves {
        switch_on(half, port, options)?;
    }
    Ok(())
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
