//! Hub port power, the I/O: find the printer's hub (by the bus's port paths, registry-corrected on a Mac),
//! find the other half of a USB 3 hub (`hub_pair`), switch the port off on both halves until GET_STATUS says
//! so, wait, and switch it back on. The requests and their encoding are `hub`'s.

use super::hub::{self, ControlRequest, HUB_CLASS};
use super::hub_pair::{self, HubFacts};
use super::libusb::{READ_TIMEOUT, bounded, raw_descriptor, speed_of};
use super::replug::{PortPathOf, ReplugOptions};
use super::strings::with_code;
use crate::lab::{Speed, UsbView};
use rusb::UsbContext;
use std::time::Duration;

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
            .map_err(with_code)?;
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
            .map_err(with_code)
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

pub(crate) fn hub_power_cycle<T: UsbContext + 'static>(
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
