//! The simulated lab's mutable state and its transitions: printers arriving and departing, the dext
//! matching and crashing, connections dying with their provider. Every transition happens under the
//! lab's one mutex; the caller notifies the condvar after it.

use super::clock::{Event, Schedule};
use super::faults::FaultBook;
use super::registry_entries::{self as entries, Enumeration};
use super::registry_tree::{NodeKind, Tree};
use super::station::{self, AddressPool, Seat};
use crate::driver::{Driver, Provider};
use crate::ioreturn::{ReturnCode, code};
use crate::lab::{ConnectionId, EntryId, Prop, UsbView};
use crate::printer::escp::PrinterState;
use crate::scenario::SimTiming;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a call on a connection whose provider terminated answers. The reference is silent; issue text
/// (not the reference) says kIOReturnNotAttached for a printer that is gone. One rule for unplug and replug.
pub const PROVIDER_GONE: u32 = code::kIOReturnNotAttached;
/// What a call answers after the dext crashed: its connection port is dead (reference §1,
/// MACH_SEND_INVALID_DEST "dead or null connection port").
pub const SERVER_DIED: u32 = code::MACH_SEND_INVALID_DEST;

/// The first dext process id the sim hands out (its `IOUserServer`'s `IOUserClientCreator`).
const SIM_DEXT_PID_BASE: u32 = 900;

/// What does not change during a lab's life.
#[derive(Debug)]
pub struct Setup {
    pub driver: Arc<Driver>,
    pub timing: SimTiming,
    /// Effective `UserClientProperties` (SimConfig override, else the driver file's).
    pub user_client_properties: Option<BTreeMap<String, Prop>>,
    pub dext_entitlements: BTreeMap<String, Prop>,
    pub host_entitlements: BTreeMap<String, Prop>,
    pub skip_entitlement_check: bool,
    /// What opening a printer's IOUSBHostInterface / IOUSBHostDevice answers (UNCONFIRMED guess unless the
    /// scenario says).
    pub usb_host_open: ReturnCode,
}

#[derive(Clone, Debug)]
pub struct Printer {
    pub seat: Seat,
    pub present: bool,
    /// Unplugged by a fault: never comes back.
    pub gone_for_good: bool,
    pub address: u8,
    /// The address a real bus gave this printer, when the sim mirrors one (the `vm` lab): enumeration
    /// then uses it instead of the sim's own pool, so the registry agrees with libusb.
    pub mirrored_address: Option<u8>,
    pub session_id: u64,
    pub device: Option<EntryId>,
    pub interface: Option<EntryId>,
    /// Bumped on every departure, so a pending arrival of an older absence is ignored.
    pub epoch: u64,
    pub escp: PrinterState,
}

/// One instance of the dext: a provider it matches on, and its service and server while matched.
/// The reference does not say whether one dext process serves several providers; here each matched
/// provider has its own server (its own `IOUserServer` tag), so a crash takes down one service.
#[derive(Clone, Debug)]
pub struct Slot {
    /// The printer it matches on; `None` for IOUserResources.
    pub printer: Option<usize>,
    pub service: Option<EntryId>,
    pub server: Option<EntryId>,
    pub running: bool,
    /// Bumped whenever the service terminates, so a pending match of an older life is ignored.
    pub epoch: u64,
}

/// A connection to Apple's USB user client on a printer's interface or device (not the dext's).
#[derive(Clone, Debug)]
pub struct UsbConn {
    /// The station printer it is on; `None` for a hub.
    pub printer: Option<usize>,
    /// Set when the printer left the bus.
    pub dead: Option<ReturnCode>,
}

#[derive(Clone, Debug)]
pub struct Conn {
    pub slot: usize,
    /// Its user client's registry entry, forgotten when the connection closes.
    pub user_client: Option<EntryId>,
    /// Set when the server died or the provider terminated: the code every later call answers.
    pub dead: Option<ReturnCode>,
}

#[derive(Debug)]
pub struct State {
    pub setup: Arc<Setup>,
    pub printers: Vec<Printer>,
    pub slots: Vec<Slot>,
    pub tree: Tree,
    /// The platform expert device: the root of the IOService plane.
    pub platform: EntryId,
    pub resources: EntryId,
    /// What a printer's device entry attaches to: the hub at a (bus, port path) prefix, or the bus's
    /// controller for a printer on a root port.
    pub usb_parents: BTreeMap<(u8, Vec<u8>), EntryId>,
    pub addresses: AddressPool,
    pub conns: BTreeMap<ConnectionId, Conn>,
    pub usb_conns: BTreeMap<ConnectionId, UsbConn>,
    pub next_conn: ConnectionId,
    pub next_session: u64,
    pub faults: FaultBook,
    pub schedule: Schedule,
    pub shutdown: bool,
    /// What the timer thread sleeps towards while it waits (`None`: no event pending, or it is awake).
    pub timer_until: Option<Instant>,
    /// When the timer thread last applied events.
    pub last_fired: Option<Instant>,
    /// Calls blocked in a `CallHangs` fault right now.
    pub hung_calls: usize,
}

impl State {
    /// The station with every printer present, enumerated and (unless a fault slows it) matched.
    pub fn new(setup: Arc<Setup>, faults: FaultBook, now: Instant, seats: Vec<Seat>) -> State {
        let (mut tree, root) = Tree::new();
        let platform = tree.add_spec(root, entries::platform_expert(), NodeKind::PlatformExpert);
        let resources = tree.add_spec(platform, entries::user_resources(), NodeKind::UserResources);
        // A controller per bus and a hub per port-path prefix, so devices hang under a chain, not the root.
        let mut usb_parents = BTreeMap::new();
        for seat in &seats {
            let controller = *usb_parents
                .entry((seat.bus, Vec::new()))
                .or_insert_with(|| {
                    tree.add_spec(
                        platform,
                        entries::controller(seat.bus),
                        NodeKind::Controller { bus: seat.bus },
                    )
                });
            let mut parent = controller;
            for depth in 1..seat.port_path.len() {
                let prefix = seat.port_path[..depth].to_vec();
                parent = *usb_parents
                    .entry((seat.bus, prefix.clone()))
                    .or_insert_with(|| {
                        tree.add_spec(
                            parent,
                            entries::hub(seat.bus, &prefix, station::HUB_ADDRESS),
                            NodeKind::Hub { bus: seat.bus },
                        )
                    });
            }
        }
        let printers = seats
            .into_iter()
            .map(|seat| Printer {
                escp: PrinterState::new(seat.model),
                seat,
                present: false,
                gone_for_good: false,
                address: 0,
                mirrored_address: None,
                session_id: 0,
                device: None,
                interface: None,
                epoch: 0,
            })
            .collect();
        let mut st = State {
            setup,
            printers,
            slots: Vec::new(),
            tree,
            platform,
            resources,
            usb_parents,
            addresses: AddressPool::default(),
            conns: BTreeMap::new(),
            usb_conns: BTreeMap::new(),
            next_conn: 1,
            next_session: 0x2_4C3B_0000,
            faults,
            schedule: Schedule::default(),
            shutdown: false,
            timer_until: None,
            last_fired: None,
            hung_calls: 0,
        };
        match st.setup.driver.provider {
            Provider::UserResources => st.slots.push(Slot {
                printer: None,
                service: None,
                server: None,
                running: false,
                epoch: 0,
            }),
            Provider::UsbInterface { .. } => {
                for p in 0..st.printers.len() {
                    if entries::personality_matches(&st.setup.driver, &st.printers[p].seat) {
                        st.slots.push(Slot {
                            printer: Some(p),
                            service: None,
                            server: None,
                            running: false,
                            epoch: 0,
                        });
                    }
                }
            }
        }
        for p in 0..st.printers.len() {
            st.enumerate(p);
        }
        // At start the dext has already matched, as on a lab Mac that has been up; a slow match
        // (fault) delays it from start instead.
        for slot in 0..st.slots.len() {
            if let Some(p) = st.slots[slot].printer
                && st.faults.never_match(p)
            {
                continue;
            }
            let delay = match st.slots[slot].printer {
                Some(p) => st.faults.slow_match(p),
                None => None,
            };
            match delay {
                Some(d) => st.schedule_match(slot, now + d),
                None => st.match_slot(slot),
            }
        }
        for (printer, after) in st.faults.unplugs() {
            st.schedule.at(now + after, Event::Unplug { printer });
        }
        for (printer, after) in st.faults.reenumerations() {
            st.schedule.at(now + after, Event::Reenumerate { printer });
        }
        st
    }

    pub fn view(&self, p: usize) -> UsbView {
        let pr = &self.printers[p];
        station::usb_view(&pr.seat, pr.address)
    }

    pub fn slot_of_printer(&self, p: usize) -> Option<usize> {
        self.slots.iter().position(|s| s.printer == Some(p))
    }

    /// The printer with this bus and port path.
    pub fn printer_at(&self, bus: u8, ports: &[u8]) -> Option<usize> {
        self.printers
            .iter()
            .position(|p| p.seat.bus == bus && p.seat.port_path == ports)
    }

    /// The printer a registry entry belongs to, for faults scoped to a role.
    pub fn printer_of_entry(&self, id: EntryId) -> Option<usize> {
        match self.tree.node(id)?.kind {
            NodeKind::Device { printer } | NodeKind::Interface { printer } => Some(printer),
            NodeKind::Service { slot }
            | NodeKind::UserServer { slot }
            | NodeKind::Nub { slot }
            | NodeKind::UserClient { slot } => self.slots.get(slot).and_then(|s| s.printer),
            NodeKind::Root
            | NodeKind::PlatformExpert
            | NodeKind::Controller { .. }
            | NodeKind::Hub { .. }
            | NodeKind::UserResources => None,
        }
    }

    /// Follow a real bus: printer `p` has `address` there. Its registry entry says so at once, and every
    /// later enumeration uses it until the next mirror.
    pub fn mirror_address(&mut self, p: usize, address: u8) {
        let pr = &mut self.printers[p];
        pr.mirrored_address = Some(address);
        if pr.present {
            pr.address = address;
            if let Some(device) = pr.device {
                for key in ["USB Address", "kUSBAddress"] {
                    self.tree
                        .set_property(device, key, crate::lab::Prop::Int(address.into()));
                }
            }
        }
    }

    /// Put a printer on the bus at a new address with fresh registry entries.
    fn enumerate(&mut self, p: usize) {
        let bus = self.printers[p].seat.bus;
        let in_use: Vec<u8> = self
            .printers
            .iter()
            .filter(|o| o.present && o.seat.bus == bus)
            .map(|o| o.address)
            .collect();
        let address = match self.printers[p].mirrored_address {
            Some(a) => a,
            None => self.addresses.next(bus, &in_use),
        };
        self.next_session += 0x1_0000;
        let session_id = self.next_session;
        let e = Enumeration {
            seat: &self.printers[p].seat,
            address,
            session_id,
        };
        let device_spec = entries::device_entry(&e);
        let interface_spec = entries::interface_entry(&e);
        let seat = &self.printers[p].seat;
        let hub = seat.port_path[..seat.port_path.len().saturating_sub(1)].to_vec();
        let parent = self
            .usb_parents
            .get(&(seat.bus, hub))
            .or_else(|| self.usb_parents.get(&(seat.bus, Vec::new())))
            .copied()
            .unwrap_or(self.platform);
        let device = self
            .tree
            .add_spec(parent, device_spec, NodeKind::Device { printer: p });
        let interface =
            self.tree
                .add_spec(device, interface_spec, NodeKind::Interface { printer: p });
        let pr = &mut self.printers[p];
        pr.present = true;
        pr.address = address;
        pr.session_id = session_id;
        pr.device = Some(device);
        pr.interface = Some(interface);
    }

    fn schedule_match(&mut self, slot: usize, due: Instant) {
        let epoch = self.slots[slot].epoch;
        self.schedule.at(due, Event::Match { slot, epoch });
    }

    /// The dext's service and server appear on the slot's provider, with new registry ids.
    fn match_slot(&mut self, slot: usize) {
        let provider = match self.slots[slot].printer {
            Some(p) => match (self.printers[p].present, self.printers[p].interface) {
                (true, Some(i)) => i,
                _ => return,
            },
            None => self.resources,
        };
        if self.slots[slot].service.is_some() {
            return;
        }
        let setup = Arc::clone(&self.setup);
        let seat = self.slots[slot].printer.map(|p| &self.printers[p].seat);
        let spec =
            entries::service_entry(&setup.driver, setup.user_client_properties.as_ref(), seat);
        let service = self
            .tree
            .add_spec(provider, spec, NodeKind::Service { slot });
        // The server's tag is the registry id of the service whose match launched it (xnu IOService.cpp
        // `IOService::startCandidate`: `serverTag = OSNumber::withNumber(service->getRegistryEntryID(), 64)`,
        // and `__WAITING_FOR_USER_SERVER__` accepts only a server with that IOUserServerTag).
        let tag = service;
        // The dext process's pid: the sim's own numbering, one process per slot.
        let dext_pid = SIM_DEXT_PID_BASE + slot as u32;
        let spec = entries::server_entry(&setup.driver, tag, service, dext_pid);
        // IOPlatformExpertDevice::newUserClient attaches the server to the platform expert device.
        let server = self
            .tree
            .add_spec(self.platform, spec, NodeKind::UserServer { slot });
        // The nubs the dext publishes itself: Create(this, ...) attaches them below its service.
        for nub in &setup.driver.classes.nubs {
            let spec = entries::nub_entry(&setup.driver, nub);
            self.tree.add_spec(service, spec, NodeKind::Nub { slot });
        }
        let s = &mut self.slots[slot];
        s.service = Some(service);
        s.server = Some(server);
        s.running = true;
    }

    /// The slot's service and server terminate; its connections die with `dead`.
    fn end_slot(&mut self, slot: usize, dead: u32) {
        let s = &mut self.slots[slot];
        s.running = false;
        s.epoch += 1;
        let ids = [s.service.take(), s.server.take()];
        for id in ids.into_iter().flatten() {
            self.tree.terminate(id);
        }
        for c in self.conns.values_mut().filter(|c| c.slot == slot) {
            c.dead.get_or_insert(ReturnCode(dead));
        }
    }

    /// The printer leaves the bus: USB view and registry subtree at once.
    pub fn depart(&mut self, p: usize) {
        if let Some(slot) = self.slot_of_printer(p) {
            self.end_slot(slot, PROVIDER_GONE);
        }
        for c in self.usb_conns.values_mut().filter(|c| c.printer == Some(p)) {
            c.dead.get_or_insert(ReturnCode(PROVIDER_GONE));
        }
        let pr = &mut self.printers[p];
        pr.present = false;
        pr.epoch += 1;
        if let Some(d) = pr.device.take() {
            self.tree.terminate(d);
        }
        pr.interface = None;
    }

    /// Replug: leave now, come back after `replug_off`.
    pub fn replug(&mut self, p: usize, now: Instant) {
        self.depart(p);
        let epoch = self.printers[p].epoch;
        let due = now + self.setup.timing.replug_off;
        self.schedule.at(due, Event::Arrive { printer: p, epoch });
    }

    /// A hub port no other printer uses on `p`'s hub, above the occupied ones (a locationID nibble
    /// holds at most 15).
    fn free_hub_port(&self, p: usize) -> u8 {
        let seat = &self.printers[p].seat;
        let hub = &seat.port_path[..seat.port_path.len().saturating_sub(1)];
        let used: Vec<u8> = self
            .printers
            .iter()
            .filter(|o| o.seat.bus == seat.bus && o.seat.port_path.starts_with(hub))
            .filter_map(|o| o.seat.port_path.last().copied())
            .collect();
        (1..=15)
            .rev()
            .find(|port| !used.contains(port))
            .unwrap_or(15)
    }

    /// The printer is pulled out: it leaves both views for good.
    pub fn unplug_now(&mut self, p: usize) {
        self.printers[p].gone_for_good = true;
        self.depart(p);
    }

    /// The dext crashes while serving a call on `slot`.
    pub fn crash(&mut self, slot: usize, now: Instant, rematch_after: Duration) {
        self.end_slot(slot, SERVER_DIED);
        self.schedule_match(slot, now + rematch_after);
    }

    pub fn apply(&mut self, event: Event, now: Instant) {
        match event {
            Event::Arrive { printer, epoch } => {
                let pr = &self.printers[printer];
                if pr.epoch != epoch || pr.present || pr.gone_for_good {
                    return;
                }
                self.enumerate(printer);
                if self.faults.never_match(printer) {
                    return;
                }
                if let Some(slot) = self.slot_of_printer(printer) {
                    let delay = self
                        .faults
                        .slow_match(printer)
                        .unwrap_or(self.setup.timing.match_delay);
                    self.schedule_match(slot, now + delay);
                }
            }
            Event::Match { slot, epoch } => {
                if self.slots.get(slot).is_some_and(|s| s.epoch == epoch) {
                    self.match_slot(slot);
                }
            }
            Event::Unplug { printer } => {
                self.printers[printer].gone_for_good = true;
                self.depart(printer);
            }
            Event::Reenumerate { printer } => {
                if !self.printers[printer].present {
                    return;
                }
                self.replug(printer, now);
                let port = self.free_hub_port(printer);
                if let Some(last) = self.printers[printer].seat.port_path.last_mut() {
                    *last = port;
                }
            }
        }
    }

    /// Apply every event due by `now`; true when something was applied.
    pub fn run_due(&mut self, now: Instant) -> bool {
        let due = self.schedule.take_due(now);
        let any = !due.is_empty();
        for e in due {
            self.apply(e, now);
        }
        any
    }
}
