//! The libusb view of the bus (rusb, every platform): devices as [`UsbView`], the IEEE 1284 device id, and
//! arrival / departure events for [`UsbBus::wait_usb`]. Replug itself is in `replug`.
//!
//! Rules from the field (reference §5): never claim an interface (a dext owns it and the claim can block for
//! tens of seconds); every libusb call has a deadline; what cannot be read is `Readable::Unreadable` with the
//! reason, never a failure of the whole view.

use super::replug::{self, ReplugOptions};
use crate::lab::{
    ConfigView, EndpointView, InterfaceView, LabError, Readable, Speed, UsbBus, UsbView, WaitError,
};
use rusb::UsbContext;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Deadline of each string-descriptor and GET_DEVICE_ID request.
pub const READ_TIMEOUT: Duration = Duration::from_millis(500);
/// How often `wait_usb` re-enumerates when libusb has no hotplug support on this platform.
pub const POLL_PERIOD: Duration = Duration::from_millis(250);
/// bInterfaceClass of a printer (USB Printer Class 1.1 §4.2).
pub const PRINTER_CLASS: u8 = 7;
/// A 1284 device id longer than this is refused (the length field is 16 bits; real ones are < 1 KiB).
const DEVICE_ID_BUFFER: usize = 1024;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeviceIdError {
    #[error("the answer has {0} bytes, fewer than its 2-byte length field")]
    TooShort(usize),
    #[error("the length field says {0} bytes, which cannot include the field itself")]
    LengthTooSmall(usize),
    #[error("the length field says {claimed} bytes but only {got} arrived")]
    Truncated { claimed: usize, got: usize },
}

/// Parse a GET_DEVICE_ID answer: a 2-byte big-endian length that includes itself, then the id text.
/// Non-UTF-8 bytes are replaced rather than refused: the id is for people and for matching on `MODEL:`.
pub fn parse_device_id(bytes: &[u8]) -> Result<String, DeviceIdError> {
    let [hi, lo, rest @ ..] = bytes else {
        return Err(DeviceIdError::TooShort(bytes.len()));
    };
    let claimed = u16::from_be_bytes([*hi, *lo]) as usize;
    if claimed < 2 {
        return Err(DeviceIdError::LengthTooSmall(claimed));
    }
    let body = claimed - 2;
    if rest.len() < body {
        return Err(DeviceIdError::Truncated {
            claimed,
            got: bytes.len(),
        });
    }
    Ok(String::from_utf8_lossy(&rest[..body]).into_owned())
}

/// The GET_DEVICE_ID setup fields for a printer interface (USB Printer Class 1.1 §4.2.1): wValue is the
/// configuration index, wIndex the interface in the high byte and the alternate setting in the low byte.
pub fn device_id_setup(config_index: u8, interface: u8, alt: u8) -> (u8, u8, u16, u16) {
    (
        0xA1,
        0,
        config_index as u16,
        ((interface as u16) << 8) | alt as u16,
    )
}

pub(crate) fn speed_of(speed: rusb::Speed) -> Speed {
    match speed {
        rusb::Speed::Low => Speed::Low,
        rusb::Speed::Full => Speed::Full,
        rusb::Speed::High => Speed::High,
        rusb::Speed::Super => Speed::Super,
        rusb::Speed::SuperPlus => Speed::SuperPlus,
        _ => Speed::Unknown,
    }
}

fn transfer_name(t: rusb::TransferType) -> &'static str {
    match t {
        rusb::TransferType::Control => "control",
        rusb::TransferType::Isochronous => "isochronous",
        rusb::TransferType::Bulk => "bulk",
        rusb::TransferType::Interrupt => "interrupt",
    }
}

/// Run a libusb call that takes no timeout of its own (`libusb_open`, `libusb_reset_device`) on a helper
/// thread and give up after `limit`. A call that never returns leaves its thread behind; that is the price
/// of never blocking the run.
pub(crate) fn bounded<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> rusb::Result<T> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {limit:?}")),
    }
}

/// The raw device descriptor: rusb's `Version` loses non-BCD bcdDevice values, the raw one does not.
pub(crate) fn raw_descriptor<T: UsbContext>(
    device: &rusb::Device<T>,
) -> Option<rusb::ffi::libusb_device_descriptor> {
    let mut desc = std::mem::MaybeUninit::<rusb::ffi::libusb_device_descriptor>::uninit();
    // SAFETY: the device pointer is valid for the life of `device`; libusb fills the whole struct on success.
    let rc = unsafe { rusb::ffi::libusb_get_device_descriptor(device.as_raw(), desc.as_mut_ptr()) };
    // SAFETY: rc 0 means libusb wrote the descriptor.
    (rc == 0).then(|| unsafe { desc.assume_init() })
}

fn configurations<T: UsbContext>(device: &rusb::Device<T>, count: u8) -> Vec<(u8, ConfigView)> {
    (0..count)
        .filter_map(|index| {
            let config = device
                .config_descriptor(index)
                .inspect_err(|e| tracing::warn!("config descriptor {index} unreadable: {e}"))
                .ok()?;
            let interfaces = config
                .interfaces()
                .flat_map(|i| i.descriptors().collect::<Vec<_>>())
                .map(|alt| InterfaceView {
                    number: alt.interface_number(),
                    alternate_setting: alt.setting_number(),
                    class: alt.class_code(),
                    subclass: alt.sub_class_code(),
                    protocol: alt.protocol_code(),
                    string_index: alt.description_string_index().unwrap_or(0),
                    endpoints: alt
                        .endpoint_descriptors()
                        .map(|e| EndpointView {
                            address: e.address(),
                            transfer: transfer_name(e.transfer_type()).into(),
                            max_packet_size: e.max_packet_size(),
                            interval: e.interval(),
                        })
                        .collect(),
                })
                .collect();
            Some((
                index,
                ConfigView {
                    value: config.number(),
                    interfaces,
                },
            ))
        })
        .collect()
}

fn read_string<T: UsbContext>(
    handle: &Result<rusb::DeviceHandle<T>, String>,
    language: &Result<rusb::Language, String>,
    index: u8,
) -> Readable<String> {
    if index == 0 {
        return Readable::Absent;
    }
    let (handle, language) = match (handle, language) {
        (Ok(h), Ok(l)) => (h, l),
        (Err(e), _) | (_, Err(e)) => return Readable::Unreadable(e.clone()),
    };
    match handle.read_string_descriptor(*language, index, READ_TIMEOUT) {
        Ok(s) => Readable::Value(s),
        Err(e) => Readable::Unreadable(format!("string descriptor {index}: {e}")),
    }
}

fn read_device_id<T: UsbContext>(
    handle: &Result<rusb::DeviceHandle<T>, String>,
    configs: &[(u8, ConfigView)],
    active: Option<u8>,
) -> Readable<String> {
    let printer = configs
        .iter()
        .filter(|(_, c)| active.is_none_or(|a| c.value == a))
        .flat_map(|(index, c)| c.interfaces.iter().map(move |i| (*index, i)))
        .find(|(_, i)| i.class == PRINTER_CLASS);
    let Some((config_index, interface)) = printer else {
        return Readable::Absent;
    };
    let handle = match handle {
        Ok(h) => h,
        Err(e) => return Readable::Unreadable(e.clone()),
    };
    // A class request on the default pipe needs no claimed interface: claiming one a dext owns is what
    // blocks (reference §5).
    let (rt, req, value, index) =
        device_id_setup(config_index, interface.number, interface.alternate_setting);
    let mut buf = vec![0u8; DEVICE_ID_BUFFER];
    match handle.read_control(rt, req, value, index, &mut buf, READ_TIMEOUT) {
        Ok(n) => match parse_device_id(&buf[..n]) {
            Ok(id) => Readable::Value(id),
            Err(e) => Readable::Unreadable(format!("GET_DEVICE_ID: {e}")),
        },
        Err(e) => Readable::Unreadable(format!("GET_DEVICE_ID: {e}")),
    }
}

/// One device as a [`UsbView`]; `None` only when libusb cannot give even its device descriptor.
pub fn view_of<T: UsbContext + 'static>(device: &rusb::Device<T>) -> Option<UsbView> {
    let Some(d) = raw_descriptor(device) else {
        tracing::warn!(
            "bus {} address {}: no device descriptor, left out of the view",
            device.bus_number(),
            device.address()
        );
        return None;
    };
    let configs = configurations(device, d.bNumConfigurations);
    let active = device.active_config_descriptor().ok().map(|c| c.number());
    let opener = device.clone();
    let handle = bounded("opening the device", READ_TIMEOUT * 4, move || {
        opener.open()
    });
    let language = match &handle {
        Ok(h) => match h.read_languages(READ_TIMEOUT) {
            Ok(langs) => langs
                .first()
                .copied()
                .ok_or_else(|| "the device lists no string language".to_string()),
            Err(e) => Err(format!("string languages: {e}")),
        },
        Err(e) => Err(e.clone()),
    };
    let port_path = device.port_numbers().unwrap_or_else(|e| {
        tracing::warn!(
            "bus {} address {}: no port path: {e}",
            device.bus_number(),
            device.address()
        );
        Vec::new()
    });
    Some(UsbView {
        vendor_id: d.idVendor,
        product_id: d.idProduct,
        bcd_device: d.bcdDevice,
        bcd_usb: d.bcdUSB,
        class: d.bDeviceClass,
        subclass: d.bDeviceSubClass,
        protocol: d.bDeviceProtocol,
        max_packet_size0: d.bMaxPacketSize0,
        num_configurations: d.bNumConfigurations,
        manufacturer_index: d.iManufacturer,
        product_index: d.iProduct,
        serial_index: d.iSerialNumber,
        bus: device.bus_number(),
        address: device.address(),
        port_path,
        speed: speed_of(device.speed()),
        manufacturer: read_string(&handle, &language, d.iManufacturer),
        product: read_string(&handle, &language, d.iProduct),
        serial: read_string(&handle, &language, d.iSerialNumber),
        active_configuration: active,
        device_id_1284: read_device_id(&handle, &configs, active),
        configurations: configs.into_iter().map(|(_, c)| c).collect(),
    })
}

/// A change counter that waiters sleep on: bumped by hotplug (here) and IOKit notification callbacks
/// (the macOS registry), so waits are event-driven.
#[derive(Default)]
pub(crate) struct Changes {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Changes {
    pub(crate) fn bump(&self) {
        let mut g = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        *g += 1;
        self.changed.notify_all();
    }
    pub(crate) fn current(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Sleep until the generation moves past `seen` or `until` passes.
    pub(crate) fn wait_past(&self, seen: u64, until: Instant) {
        let mut g = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        while *g == seen {
            let now = Instant::now();
            if now >= until {
                return;
            }
            g = match self.changed.wait_timeout(g, until - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

struct Notifier(Arc<Changes>);

impl rusb::Hotplug<rusb::Context> for Notifier {
    fn device_arrived(&mut self, _device: rusb::Device<rusb::Context>) {
        self.0.bump();
    }
    fn device_left(&mut self, _device: rusb::Device<rusb::Context>) {
        self.0.bump();
    }
}

/// The real USB bus through libusb.
pub struct LibusbBus {
    context: rusb::Context,
    events: Arc<Changes>,
    registration: Mutex<Option<rusb::Registration<rusb::Context>>>,
    stop: Arc<AtomicBool>,
    pump: Option<JoinHandle<()>>,
    replug: ReplugOptions,
    /// Per-printer replug choices from a station file; devices it does not name use `replug`.
    replug_plan: Mutex<Vec<ReplugPlan>>,
}

/// How one station printer is replugged: `options` `None` means the station forbids it.
pub struct ReplugPlan {
    /// The station's name for the printer, for messages.
    pub printer: String,
    pub matches: Box<dyn Fn(&UsbView) -> bool + Send + Sync>,
    pub options: Option<ReplugOptions>,
}

impl LibusbBus {
    /// Replug the printers a station names its way (`replug: auto | hub_power | reset | none`, off time,
    /// power-off attempts); every other device keeps the bus's default.
    pub fn set_replug_plan(&self, plan: Vec<ReplugPlan>) {
        *self.replug_plan.lock().unwrap_or_else(|p| p.into_inner()) = plan;
    }

    pub fn new() -> Result<Self, LabError> {
        Self::with_replug(ReplugOptions::default())
    }

    pub fn with_replug(replug: ReplugOptions) -> Result<Self, LabError> {
        let context = rusb::Context::new().map_err(|e| LabError::Unsupported {
            backend: "libusb",
            what: "start",
            why: format!("libusb_init failed: {e}"),
        })?;
        let events = Arc::new(Changes::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut registration = None;
        let mut pump = None;
        if rusb::has_hotplug() {
            match rusb::HotplugBuilder::new()
                .enumerate(false)
                .register(&context, Box::new(Notifier(events.clone())))
            {
                Ok(r) => {
                    registration = Some(r);
                    let (ctx, stop) = (context.clone(), stop.clone());
                    // Hotplug callbacks run inside libusb_handle_events; this thread drives it.
                    pump = Some(std::thread::spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            let _ = ctx.handle_events(Some(Duration::from_millis(200)));
                        }
                    }));
                }
                Err(e) => {
                    tracing::warn!("libusb hotplug registration failed ({e}); polling instead")
                }
            }
        }
        if registration.is_none() {
            static ONCE: Once = Once::new();
            ONCE.call_once(|| {
                tracing::info!(
                    "libusb has no hotplug here: waits re-enumerate every {POLL_PERIOD:?}"
                )
            });
        }
        Ok(LibusbBus {
            context,
            events,
            registration: Mutex::new(registration),
            stop,
            pump,
            replug,
            replug_plan: Mutex::new(Vec::new()),
        })
    }

    /// Whether waits are woken by hotplug events (else they poll every [`POLL_PERIOD`]).
    pub fn event_driven(&self) -> bool {
        self.registration
            .lock()
            .map(|r| r.is_some())
            .unwrap_or(false)
    }

    pub fn context(&self) -> &rusb::Context {
        &self.context
    }
}

impl Drop for LibusbBus {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Ok(mut r) = self.registration.lock() {
            r.take();
        }
        if let Some(pump) = self.pump.take() {
            let _ = pump.join();
        }
    }
}

impl UsbBus for LibusbBus {
    fn devices(&self) -> Result<Vec<UsbView>, LabError> {
        let list = self
            .context
            .devices()
            .map_err(|e| LabError::Other(format!("libusb cannot list devices: {e}")))?;
        Ok(list.iter().filter_map(|d| view_of(&d)).collect())
    }

    fn replug(&self, device: &UsbView) -> Result<(), LabError> {
        let planned = self
            .replug_plan
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|p| (p.matches)(device))
            .map(|p| (p.printer.clone(), p.options.clone()));
        let options = match planned {
            Some((_, Some(options))) => options,
            Some((printer, None)) => {
                return Err(LabError::Unsupported {
                    backend: "libusb",
                    what: "replug",
                    why: format!(
                        "the station says printer `{printer}` ({}) is not to be replugged (`replug: none`)",
                        device.label()
                    ),
                });
            }
            None => self.replug.clone(),
        };
        replug::replug(&self.context, device, &options).map(|done| {
            tracing::info!("replugged {} by {}", device.label(), done);
        })
    }

    fn wait_usb(
        &self,
        pred: &(dyn Fn(&UsbView) -> bool + Sync),
        present: bool,
        deadline: Instant,
    ) -> Result<Option<UsbView>, WaitError> {
        let started = Instant::now();
        loop {
            let seen = self.events.current();
            let found = self.devices()?.into_iter().find(|d| pred(d));
            match (present, found) {
                (true, Some(d)) => return Ok(Some(d)),
                (false, None) => return Ok(None),
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(WaitError::TimedOut(now - started));
            }
            // With hotplug, sleep until an event (re-checking each second in case one was missed while
            // enumerating); without, re-enumerate on a fixed period.
            let slice = if self.event_driven() {
                Duration::from_secs(1)
            } else {
                POLL_PERIOD
            };
            self.events.wait_past(seen, deadline.min(now + slice));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_length_includes_itself() {
        let id = b"MANUFACTURER:Dai Nippon Printing ;MODEL:DP-DS620;";
        let mut answer = ((id.len() + 2) as u16).to_be_bytes().to_vec();
        answer.extend_from_slice(id);
        assert_eq!(
            parse_device_id(&answer).unwrap(),
            "MANUFACTURER:Dai Nippon Printing ;MODEL:DP-DS620;"
        );
        // Trailing bytes past the length are not part of the id.
        answer.extend_from_slice(b"garbage");
        assert!(parse_device_id(&answer).unwrap().ends_with("DP-DS620;"));
    }

    #[test]
    fn malformed_device_ids_are_errors_not_panics() {
        assert_eq!(parse_device_id(&[]), Err(DeviceIdError::TooShort(0)));
        assert_eq!(parse_device_id(&[0]), Err(DeviceIdError::TooShort(1)));
        assert_eq!(
            parse_device_id(&[0, 1]),
            Err(DeviceIdError::LengthTooSmall(1))
        );
        assert_eq!(parse_device_id(&[0, 2]).unwrap(), "");
        assert_eq!(
            parse_device_id(&[0, 10, b'M', b'O']),
            Err(DeviceIdError::Truncated {
                claimed: 10,
                got: 4
            })
        );
        assert_eq!(
            parse_device_id(&[0xFF, 0xFF, b'x']),
            Err(DeviceIdError::Truncated {
                claimed: 0xFFFF,
                got: 3
            })
        );
    }

    #[test]
    fn device_id_request_addresses_interface_and_alt() {
        assert_eq!(device_id_setup(0, 0, 0), (0xA1, 0, 0, 0));
        assert_eq!(device_id_setup(1, 2, 1), (0xA1, 0, 1, 0x0201));
    }

    #[test]
    fn a_machine_without_usb_gives_a_list_or_a_clear_error() {
        match LibusbBus::new() {
            Ok(bus) => {
                let devices = bus.devices().expect("listing works once libusb is up");
                for d in &devices {
                    assert!(!d.label().is_empty());
                }
            }
            Err(e) => assert!(e.to_string().contains("libusb"), "{e}"),
        }
    }

    #[test]
    fn a_wait_for_an_absent_device_ends_at_its_deadline() {
        let Ok(bus) = LibusbBus::new() else { return };
        let deadline = Instant::now() + Duration::from_millis(300);
        let never = |_: &UsbView| false;
        assert!(matches!(
            bus.wait_usb(&never, true, deadline),
            Err(WaitError::TimedOut(_))
        ));
        assert!(Instant::now() < deadline + Duration::from_secs(2));
        assert_eq!(bus.wait_usb(&never, false, deadline).unwrap(), None);
    }
}
