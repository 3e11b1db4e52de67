//! The simulated lab: a faithful model of a lab Mac with the built-in station (one printer of every
//! catalog model), the dext under test, and the scenario's faults. Dispatch follows the driver file
//! through [`crate::dispatch`]; open rules, registry shape and return codes follow docs/kernel-rules.md
//! (each rule with its xnu source, or UNCONFIRMED).
//!
//! One mutex guards the whole state, one condvar announces every change (waits, hung calls and the timer
//! thread sleep on it), and one timer thread applies timed events. Files: `station` (printers and USB
//! view), `registry_tree` (the IORegistry) and `registry_entries` (each entry's keys), `open_rules` (what
//! an open answers, pure), `dext` (selector behaviours, pure), `user_clients` (open / call / close),
//! `faults`, `clock` (timed events), `state` (transitions); `rules_table` tests each documented rule.

mod clock;
pub mod dext;
mod faults;
mod hooks;
pub mod open_rules;
mod registry_entries;
mod registry_tree;
pub mod seating;
mod state;
pub mod station;
mod user_clients;

use super::{LabFactory, LabSpec};
use crate::dispatch::{self, SCALAR_MAX};
use crate::ioreturn::{ReturnCode, code};
use crate::lab::{
    CallArgs, CallOutcome, ConnectionId, EntryId, Lab, LabError, Matching, OpenOutcome,
    OpenRequest, Prop, RegEntry, Registry, UsbBus, UsbView, UserClients, WaitError, WaitFor,
};
use crate::logs::{CrashReport, LogBuffer, LogCapture, LogLine};
use crate::scenario::Scenario;
use faults::{CallFault, FaultBook};
use open_rules::{OpenInput, OpenTargetKind};
use registry_tree::NodeKind;
use state::{Conn, Setup, State, UsbConn};
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// What a hung call answers once its connection is closed from another thread. The reference is silent.
/// The request was already sent, so a send error (MACH_SEND_INVALID_DEST) does not fit; the kernel aborts
/// the pending call with the user client, which is what kIOReturnAborted ("operation aborted") names.
pub const HUNG_CALL_RELEASED: u32 = code::kIOReturnAborted;

/// What a call on Apple's USB user client answers (a connection opened on the `IOUSBHostInterface` or
/// `IOUSBHostDevice` when `usb_host_open` lets it succeed): its methods are not the dext's selectors.
/// UNCONFIRMED (IOUSBHostFamily is closed source); docs/kernel-rules.md O3.
pub const APPLE_USB_CALL_ANSWER: u32 = code::kIOReturnUnsupported;

pub struct SimFactory;

impl LabFactory for SimFactory {
    fn name(&self) -> &'static str {
        "sim"
    }
    fn lab_for(&self, spec: &LabSpec) -> Result<Arc<dyn Lab>, LabError> {
        Ok(Arc::new(SimLab::for_spec(spec, 1, station::seats())?))
    }
    fn lab_for_attempt(&self, spec: &LabSpec, attempt: u32) -> Result<Arc<dyn Lab>, LabError> {
        Ok(Arc::new(SimLab::for_spec(spec, attempt, station::seats())?))
    }
}

struct Shared {
    state: Mutex<State>,
    /// Every change: waits and hung calls sleep on it.
    changed: Condvar,
    /// The timer thread sleeps on its own condvar, woken only for an event due before its next one (or
    /// shutdown), not for every change the waiters care about.
    timer: Condvar,
}

impl Shared {
    /// After scheduling an event: wake the timer thread if the event is due before what it sleeps towards.
    /// (It sleeps only inside its wait, so whoever holds the lock sees its current target.)
    fn kick_timer(&self, st: &State) {
        if let Some(due) = st.schedule.next_due()
            && st.timer_until.is_none_or(|t| due < t)
        {
            self.timer.notify_one();
        }
    }

    /// The state, even if a panicking thread poisoned the lock: the sim must keep answering.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait_until<'a>(
        &self,
        guard: MutexGuard<'a, State>,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, State> {
        match deadline {
            None => self.changed.wait(guard).unwrap_or_else(|e| e.into_inner()),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                self.changed
                    .wait_timeout(guard, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        }
    }
}

/// The simulated lab. `Send + Sync`; dropping it stops its timer thread.
pub struct SimLab {
    shared: Arc<Shared>,
    timer: Option<JoinHandle<()>>,
    /// What the sim kernel and dext logged, through the same capability a Mac's `log stream` fills.
    log: LogBuffer,
    /// Crash reports the sim dext left, with when.
    crashes: Mutex<Vec<(SystemTime, CrashReport)>>,
    log_prefix: String,
    hooks: hooks::TestHooks,
}

fn timer_loop(shared: Arc<Shared>) {
    let mut st = shared.lock();
    loop {
        if st.shutdown {
            return;
        }
        let now = Instant::now();
        if st.run_due(now) {
            st.last_fired = Some(now);
            shared.changed.notify_all();
            continue;
        }
        let next = st.schedule.next_due();
        st.timer_until = next;
        st = match next {
            None => shared.timer.wait(st).unwrap_or_else(|e| e.into_inner()),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                shared
                    .timer
                    .wait_timeout(st, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
        st.timer_until = None;
    }
}

impl SimLab {
    /// A fresh lab for a scenario: its driver, its `sim:` block, its roles (each must resolve against the
    /// station, else [`LabError::NoPrinter`]).
    pub fn for_scenario(scenario: &Scenario) -> Result<SimLab, LabError> {
        Self::for_attempt(scenario, 1)
    }

    /// The lab for attempt `attempt` (1-based) of a scenario: `open_lab_error` faults past their
    /// `attempts` are left out.
    pub fn for_attempt(scenario: &Scenario, attempt: u32) -> Result<SimLab, LabError> {
        Self::for_spec(&LabSpec::of(scenario), attempt, station::seats())
    }

    /// A fresh lab whose printers sit at `seats` instead of the built-in station's: the `vm` lab puts
    /// them where the VM's real printers are, so its registry mirrors the real bus.
    pub fn for_scenario_at(
        scenario: &Scenario,
        seats: Vec<station::Seat>,
    ) -> Result<SimLab, LabError> {
        Self::for_spec(&LabSpec::of(scenario), 1, seats)
    }

    /// The lab for attempt `attempt` of what `spec` describes, its printers at `seats`.
    pub fn for_spec(
        spec: &LabSpec,
        attempt: u32,
        seats: Vec<station::Seat>,
    ) -> Result<SimLab, LabError> {
        let sim = &spec.sim;
        let faults: Vec<crate::scenario::Fault> = sim
            .faults
            .iter()
            .filter(|f| match f.kind {
                crate::scenario::FaultKind::OpenLabError { attempts, .. } => attempt <= attempts,
                _ => true,
            })
            .cloned()
            .collect();
        let driver = Arc::clone(&spec.driver);
        let views: Vec<UsbView> = seats
            .iter()
            .enumerate()
            .map(|(i, seat)| station::usb_view(seat, i as u8 + 2))
            .collect();
        let mut resolved = BTreeMap::new();
        for role in &spec.printers {
            let v = role.resolve(&views)?;
            let idx = views.iter().position(|x| x == &v).unwrap_or(0);
            resolved.insert(role.name.clone(), idx);
        }
        let faults = FaultBook::arm(&faults, |role| {
            resolved
                .get(role)
                .copied()
                .ok_or_else(|| LabError::NoPrinter {
                    role: role.to_string(),
                    detail: "a sim fault names a role the scenario does not define".into(),
                })
        })?;
        let host_entitlements = sim.host_entitlements.clone().unwrap_or_else(|| {
            BTreeMap::from([(
                open_rules::USERCLIENT_ACCESS.to_string(),
                Prop::Array(vec![Prop::Str(driver.bundle_id.clone())]),
            )])
        });
        let setup = Setup {
            timing: sim.timing,
            user_client_properties: match &sim.user_client_properties {
                None => driver.user_client_properties.clone(),
                Some(over) => over.clone(),
            },
            dext_entitlements: sim
                .dext_entitlements
                .clone()
                .unwrap_or_else(|| driver.entitlements.clone()),
            host_entitlements,
            skip_entitlement_check: sim.skip_entitlement_check,
            usb_host_open: ReturnCode(
                sim.usb_host_open
                    .map_or(crate::scenario::USB_HOST_OPEN_GUESS, |c| c.0),
            ),
            driver,
        };
        let state = State::new(Arc::new(setup), faults, Instant::now(), seats);
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            changed: Condvar::new(),
            timer: Condvar::new(),
        });
        let for_timer = Arc::clone(&shared);
        let timer = std::thread::Builder::new()
            .name("sim-lab-timer".into())
            .spawn(move || timer_loop(for_timer))
            .map_err(|e| LabError::Other(format!("cannot start the sim timer thread: {e}")))?;
        Ok(SimLab {
            shared,
            timer: Some(timer),
            log: LogBuffer::new(),
            crashes: Mutex::new(Vec::new()),
            log_prefix: spec.driver.log_prefix().to_string(),
            hooks: hooks::TestHooks::default(),
        })
    }

    /// Test hook: calls of `selector` that pass dispatch answer `outcome` (scalars and struct too).
    pub fn answer(&self, selector: u32, outcome: CallOutcome) {
        self.hooks.answer(selector, outcome);
    }

    /// Test hook: calls of `selector` that pass dispatch panic, as a bug in a backend would.
    pub fn panic_on(&self, selector: u32) {
        self.hooks.panic_on(selector);
    }

    /// Test hook: from now on, note the selector of every call that reaches the dext (see [`SimLab::calls`]).
    pub fn record_calls(&self) {
        self.hooks.record_calls();
    }

    /// The selectors of the calls that reached the dext since a hook was planted, in order.
    pub fn calls(&self) -> Vec<u32> {
        self.hooks.calls()
    }

    /// The kernel and dext log lines so far (`DK: ...`, `IOUC ...`, the dext's `NewUserClient(type)`),
    /// in order, as a log capture on a Mac would show them.
    pub fn log_lines(&self) -> Vec<String> {
        self.log
            .all()
            .into_iter()
            .map(|l| l.text.to_string())
            .collect()
    }

    fn emit(&self, lines: impl IntoIterator<Item = String>) {
        let now = crate::logs::log_timestamp(SystemTime::now());
        self.log.extend(
            lines
                .into_iter()
                .map(|t| LogLine::classify(now.clone(), t, &self.log_prefix)),
        );
    }

    /// When the timer thread last applied a timed event (a printer arriving, the dext matching): what the
    /// engine bench measures a wait's wake-up from.
    pub fn last_timed_event(&self) -> Option<Instant> {
        self.shared.lock().last_fired
    }

    /// How many calls are blocked in a `hang` fault right now.
    pub fn hung_calls(&self) -> usize {
        self.shared.lock().hung_calls
    }

    /// Wait (event-driven) until at least `n` calls are hung, up to `deadline`; true when they are.
    pub fn wait_hung_calls(&self, n: usize, deadline: Instant) -> bool {
        let mut st = self.shared.lock();
        while st.hung_calls < n {
            if Instant::now() >= deadline {
                return false;
            }
            st = self.shared.wait_until(st, Some(deadline));
        }
        true
    }

    /// The dext's service on a role's printer (or on IOUserResources for `None`), while it is matched.
    pub fn service_entry(&self, printer: Option<&UsbView>) -> Option<RegEntry> {
        let st = self.shared.lock();
        let slot = match printer {
            Some(v) => st.slot_of_printer(st.printer_at(v.bus, &v.port_path)?)?,
            None => st.slots.iter().position(|s| s.printer.is_none())?,
        };
        st.tree.reg_entry(st.slots[slot].service?)
    }

    /// Every registry entry of `class`, live ones only (a shortcut over [`Registry::find`]).
    pub fn entries_of_class(&self, class: &str) -> Vec<RegEntry> {
        self.shared.lock().tree.find(&Matching {
            class: Some(class.into()),
            ..Matching::default()
        })
    }

    /// Mirror a real device's USB address onto the station printer at its bus and port (the `vm` lab: the
    /// registry it simulates must agree with the real bus libusb sees). Unknown positions are ignored.
    pub fn mirror_address(&self, real: &UsbView) {
        let mut st = self.shared.lock();
        if let Some(p) = st.printer_at(real.bus, &real.port_path) {
            st.mirror_address(p, real.address);
        }
        drop(st);
        self.shared.changed.notify_all();
    }

    /// Set a printer's ESC P status (a paper jam, say), as a scenario-free test might.
    pub fn set_printer_status(&self, printer: &UsbView, status: u32) -> Result<(), LabError> {
        let mut st = self.shared.lock();
        let p = st
            .printer_at(printer.bus, &printer.port_path)
            .ok_or_else(|| LabError::Other(format!("no station printer at {}", printer.label())))?;
        st.printers[p].escp.status = status;
        Ok(())
    }
}

impl Drop for SimLab {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.changed.notify_all();
        self.shared.timer.notify_all();
        if let Some(t) = self.timer.take() {
            let _ = t.join();
        }
    }
}

impl UsbBus for SimLab {
    fn devices(&self) -> Result<Vec<UsbView>, LabError> {
        let st = self.shared.lock();
        Ok((0..st.printers.len())
            .filter(|&p| st.printers[p].present)
            .map(|p| st.view(p))
            .collect())
    }

    fn replug(&self, device: &UsbView) -> Result<(), LabError> {
        let mut st = self.shared.lock();
        let p = st
            .printer_at(device.bus, &device.port_path)
            .filter(|&p| st.printers[p].present)
            .ok_or_else(|| LabError::Other(format!("{} is not on the bus", device.label())))?;
        st.replug(p, Instant::now());
        self.shared.kick_timer(&st);
        drop(st);
        self.shared.changed.notify_all();
        Ok(())
    }

    fn wait_usb(
        &self,
        pred: &(dyn Fn(&UsbView) -> bool + Sync),
        present: bool,
        deadline: Instant,
    ) -> Result<Option<UsbView>, WaitError> {
        let started = Instant::now();
        let mut st = self.shared.lock();
        loop {
            let found = (0..st.printers.len())
                .filter(|&p| st.printers[p].present)
                .map(|p| st.view(p))
                .find(|v| pred(v));
            match (present, found) {
                (true, Some(v)) => return Ok(Some(v)),
                (false, None) => return Ok(None),
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(WaitError::TimedOut(started.elapsed()));
            }
            st = self.shared.wait_until(st, Some(deadline));
        }
    }
}

impl Registry for SimLab {
    fn find(&self, matching: &Matching) -> Result<Vec<RegEntry>, LabError> {
        Ok(self.shared.lock().tree.find(matching))
    }

    fn entry(&self, id: EntryId) -> Result<RegEntry, LabError> {
        let st = self.shared.lock();
        if !st.tree.is_live(id) {
            return Err(LabError::NoEntry(id));
        }
        st.tree.reg_entry(id).ok_or(LabError::NoEntry(id))
    }

    fn is_registered(&self, id: EntryId) -> bool {
        self.shared.lock().tree.is_live(id)
    }

    fn children(&self, id: EntryId) -> Result<Vec<RegEntry>, LabError> {
        let st = self.shared.lock();
        if !st.tree.is_live(id) {
            return Err(LabError::NoEntry(id));
        }
        Ok(st.tree.children(id))
    }

    fn wait(
        &self,
        matching: &Matching,
        what: WaitFor,
        deadline: Instant,
    ) -> Result<Option<RegEntry>, WaitError> {
        let started = Instant::now();
        let mut st = self.shared.lock();
        loop {
            let first = st.tree.find_first(matching);
            match (what, first) {
                (WaitFor::Matched, Some(e)) => return Ok(Some(e)),
                (WaitFor::Gone, None) => return Ok(None),
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(WaitError::TimedOut(started.elapsed()));
            }
            st = self.shared.wait_until(st, Some(deadline));
        }
    }
}

pub use user_clients::PLANTED_CRASH_REMATCH;

impl Lab for SimLab {
    fn name(&self) -> &'static str {
        "sim"
    }

    /// What the station printer's ESC P model answers to `INFO FVER` (its catalog firmware); the
    /// Mitsubishi-style models speak no ESC P, so they cannot tell.
    fn printer_firmware(&self, printer: &UsbView) -> Option<String> {
        let model = crate::printer::catalog::by_ids(printer.vendor_id, printer.product_id)?;
        (model.protocol == crate::printer::catalog::Protocol::EscP)
            .then(|| model.firmware.to_string())
    }

    fn logs(&self) -> Option<&dyn LogCapture> {
        Some(self)
    }
}

impl LogCapture for SimLab {
    fn buffer(&self) -> &LogBuffer {
        &self.log
    }

    fn crash_report(&self, since: SystemTime, _wait: Duration) -> Option<CrashReport> {
        let crashes = self.crashes.lock().unwrap_or_else(|p| p.into_inner());
        crashes
            .iter()
            .rev()
            .find(|(at, _)| *at >= since)
            .map(|(_, r)| r.clone())
    }
}

#[cfg(test)]
mod rules_table;
#[cfg(test)]
mod tests;
