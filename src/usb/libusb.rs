//! The libusb view of the bus (rusb, every platform): devices as [`UsbView`], the IEEE 1284 device id, and
//! arrival / departure events for [`UsbBus::wait_usb`]. Replug itself is in `replug`.
//!
//! Rules from the field (reference §5): never claim an interface (a dext owns it and the claim can block for
//! tens of seconds); every libusb call has a deadline; what cannot be read is `Readable::Unreadable` with the
//! reason, never a failure of the whole view.

use super::darwin::{self, Reenumeration, RegUsbDevice};
use super::replug::{self, ReplugMethod, ReplugOptions};
use super::strings::{
    DeviceStrings, Enumeration, PrinterInterface, StringCache, printer_interface,
    read_device_strings,
};
use crate::lab::{
    ConfigView, EndpointView, InterfaceView, LabError, Readable, Registry, Speed, UsbBus, UsbView,
    WaitError,
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

/// One device as a [`UsbView`], its strings read now; `None` only when libusb cannot give even its device
/// descriptor. The bus reads strings once per enumeration instead ([`StringCache`]).
pub fn view_of<T: UsbContext + 'static>(device: &rusb::Device<T>) -> Option<UsbView> {
    let (view, printer) = view_without_strings(device)?;
    let strings = read_device_strings(
        device,
        [
            view.manufacturer_index,
            view.product_index,
            view.serial_index,
        ],
        printer,
    );
    Some(with_strings(view, strings))
}

fn with_strings(mut view: UsbView, s: DeviceStrings) -> UsbView {
    view.manufacturer = s.manufacturer;
    view.product = s.product;
    view.serial = s.serial;
    view.device_id_1284 = s.device_id_1284;
    view
}

/// Everything libusb knows without opening the device (its cached descriptors), the strings left
/// `Absent`, and the printer interface to ask GET_DEVICE_ID of.
fn view_without_strings<T: UsbContext + 'static>(
    device: &rusb::Device<T>,
) -> Option<(UsbView, Option<PrinterInterface>)> {
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
    let printer = printer_interface(&configs, active);
    let port_path = device.port_numbers().unwrap_or_else(|e| {
        tracing::warn!(
            "bus {} address {}: no port path: {e}",
            device.bus_number(),
            device.address()
        );
        Vec::new()
    });
    let view = UsbView {
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
        manufacturer: Readable::Absent,
        product: Readable::Absent,
        serial: Readable::Absent,
        active_configuration: active,
        device_id_1284: Readable::Absent,
        configurations: configs.into_iter().map(|(_, c)| c).collect(),
    };
    Some((view, printer))
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
    /// On a Mac, the IORegistry: it pairs libusb devices with their `IOUSBHostDevice` (port paths) and
    /// confirms a reset's re-enumeration, which libusb hides (`darwin`).
    registry: Option<Arc<dyn Registry>>,
    /// Strings and 1284 ids, read once per enumeration.
    strings: Mutex<StringCache>,
    /// A device (bus, address) whose reset re-enumeration the registry confirmed but libusb still lists as
    /// if it never left: the next wait for its departure counts it as gone.
    reset_departure: Mutex<Option<(u8, u8)>>,
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
            registry: None,
            strings: Mutex::new(StringCache::default()),
            reset_departure: Mutex::new(None),
        })
    }

    /// On a Mac: take port paths from the registry's `locationID` and confirm resets there (`darwin`).
    pub fn with_registry(mut self, registry: Arc<dyn Registry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The registry's USB devices now; `None` off a Mac or when the registry cannot be read (said once in
    /// the log: the view then has libusb's port paths, which may be empty on macOS 26).
    fn registry_usb(&self) -> Option<Vec<RegUsbDevice>> {
        let registry = self.registry.as_ref()?;
        match darwin::reg_usb_devices(&**registry) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(
                    "the registry's USB devices cannot be read ({e}): libusb's port paths used"
                );
                None
            }
        }
    }

    /// Wait, up to `deadline`, for the registry to show the device at `location_id` re-enumerated.
    fn confirm_reenumeration(
        &self,
        registry: &dyn Registry,
        before: &[RegUsbDevice],
        location_id: u32,
        deadline: Instant,
    ) -> Result<(), LabError> {
        loop {
            let after = darwin::reg_usb_devices(registry)?;
            let last = match darwin::reenumeration(before, &after, location_id) {
                Reenumeration::Returned {
                    old_session,
                    new_session,
                    ..
                } => {
                    tracing::info!(
                        "the registry shows locationID 0x{location_id:08x} re-enumerated (sessionID \
                         0x{old_session:x} → 0x{new_session:x})"
                    );
                    return Ok(());
                }
                Reenumeration::Unknown => {
                    tracing::warn!(
                        "locationID 0x{location_id:08x} had no sessionID before the reset: its \
                         re-enumeration cannot be confirmed"
                    );
                    return Ok(());
                }
                other => other,
            };
            if Instant::now() >= deadline {
                let state = match last {
                    Reenumeration::Departed => "it left and has not come back",
                    _ => "the same sessionID is still there",
                };
                return Err(LabError::Other(format!(
                    "libusb reset returned but the registry shows no re-enumeration at locationID \
                     0x{location_id:08x} within {:?}: {state}",
                    darwin::RESET_REPLUG_WAIT
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What libusb itself answers for the port numbers of the device at `bus` / `address`, before the
    /// registry corrects them (for `dexthil selftest`).
    pub fn libusb_port_numbers(&self, bus: u8, address: u8) -> Option<Vec<u8>> {
        let list = self.context.devices().ok()?;
        let device = list
            .iter()
            .find(|d| d.bus_number() == bus && d.address() == address)?;
        Some(device.port_numbers().unwrap_or_default())
    }

    /// Whether `d` is the reset device whose departure the registry confirmed; consumes that confirmation.
    fn take_reset_departure(&self, d: &UsbView) -> bool {
        let mut pending = self
            .reset_departure
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if *pending == Some((d.bus, d.address)) {
            *pending = None;
            return true;
        }
        false
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
        let registry = self.registry_usb();
        let mut cache = self.strings.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut present = Vec::new();
        let mut views = Vec::new();
        for device in list.iter() {
            let Some((mut view, printer)) = view_without_strings(&device) else {
                continue;
            };
            let libusb_ports = std::mem::take(&mut view.port_path);
            view.port_path =
                darwin::port_path(view.bus, view.address, libusb_ports, registry.as_deref()).0;
            let key = Enumeration {
                bus: view.bus,
                address: view.address,
                vendor_id: view.vendor_id,
                product_id: view.product_id,
                session: registry
                    .as_deref()
                    .and_then(|r| darwin::pair(view.bus, view.address, r))
                    .and_then(|r| r.session_id),
            };
            let indexes = [
                view.manufacturer_index,
                view.product_index,
                view.serial_index,
            ];
            let strings =
                cache.get_or_read(&key, now, || read_device_strings(&device, indexes, printer));
            present.push(key);
            views.push(with_strings(view, strings));
        }
        cache.keep_only(&present);
        Ok(views)
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
        *self
            .reset_departure
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
        let started = Instant::now();
        let before = self.registry_usb();
        let port_path_of = |d: &rusb::Device<rusb::Context>| {
            let libusb_ports = d.port_numbers().unwrap_or_default();
            darwin::port_path(d.bus_number(), d.address(), libusb_ports, before.as_deref()).0
        };
        let done = replug::replug(&self.context, device, &options, &port_path_of)?;
        tracing::info!("replugged {} by {}", device.label(), done);
        // libusb on a Mac keeps a reset device listed at its old address and sends no hotplug event: only
        // the registry shows it left and came back.
        if let (ReplugMethod::Reset, Some(registry), Some(before)) = (done, &self.registry, &before)
        {
            match darwin::pair(device.bus, device.address, before) {
                Some(entry) => {
                    self.confirm_reenumeration(
                        &**registry,
                        before,
                        entry.location_id,
                        started + darwin::RESET_REPLUG_WAIT,
                    )?;
                    *self
                        .reset_departure
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = Some((device.bus, device.address));
                }
                None => tracing::warn!(
                    "no registry entry pairs with {}: its reset cannot be confirmed",
                    device.label()
                ),
            }
        }
        Ok(())
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
            let found = match self.devices()?.into_iter().find(|d| pred(d)) {
                Some(d) if !present && self.take_reset_departure(&d) => None,
                found => found,
            };
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
