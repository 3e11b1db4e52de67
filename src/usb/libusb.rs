//! The libusb view of the bus (rusb, every platform): [`LibusbBus`] lists devices as [`UsbView`] (built in
//! `view`, strings read once per enumeration by `strings`), corrected from the IORegistry on a Mac
//! (`darwin`), and waits for arrival and departure for [`UsbBus::wait_usb`]. Replug itself is in `replug`.
//!
//! Rules from the field (reference §5): never claim an interface (a dext owns it and the claim can block for
//! tens of seconds); every libusb call has a deadline; what cannot be read is `Readable::Unreadable` with the
//! reason, never a failure of the whole view.

use super::darwin::{self, ConfirmedReset, RegUsbDevice};
pub use super::device_id::{DeviceIdError, device_id_setup, parse_device_id};
use super::replug::{self, ReplugMethod, ReplugOptions};
use super::strings::{Enumeration, StringCache, read_device_strings};
pub(crate) use super::view::{raw_descriptor, speed_of};
use super::view::{view_without_strings, with_strings};
use crate::lab::{LabError, Registry, UsbBus, UsbView, WaitError};
use rusb::UsbContext;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Deadline of each string-descriptor and GET_DEVICE_ID request.
pub const READ_TIMEOUT: Duration = Duration::from_millis(500);
/// How often `wait_usb` re-enumerates when libusb has no hotplug support on this platform.
pub const POLL_PERIOD: Duration = Duration::from_millis(250);
/// bInterfaceClass of a printer (USB Printer Class 1.1 §4.2).
pub const PRINTER_CLASS: u8 = 7;

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
    /// A reset re-enumeration the registry confirmed but libusb does not show.
    reset_departure: Mutex<ConfirmedReset>,
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
            reset_departure: Mutex::new(ConfirmedReset::default()),
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
        self.reset_departure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .departed(d.bus, d.address)
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
            let (path, source) = darwin::port_path(
                view.bus,
                view.address,
                libusb_ports.clone(),
                registry.as_deref(),
            );
            view.port_path = path;
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
            // Said once per enumeration, not on every poll of a wait.
            if !cache.knows(&key)
                && let Some(said) =
                    darwin::disagreement(view.bus, view.address, &libusb_ports, &source)
            {
                tracing::warn!("{said}");
            }
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
        self.reset_departure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
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
                    darwin::confirm_reenumeration(
                        &**registry,
                        before,
                        entry.location_id,
                        started + darwin::RESET_REPLUG_WAIT,
                    )?;
                    self.reset_departure
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .confirm(device.bus, device.address);
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
