//! The simulated lab: a faithful model of a lab Mac with the built-in station (one printer of every
//! catalog model), the dext under test, and the scenario's faults. Dispatch follows the driver file
//! through [`crate::dispatch`]; open rules, registry shape and return codes follow
//! `shared/reference/iokit.md`.
//!
//! One mutex guards the whole state, one condvar announces every change (waits, hung calls and the timer
//! thread sleep on it), and one timer thread applies timed events. Files: `station` (printers and USB
//! view), `registry_tree` (the IORegistry), `dext` (open rules and selector behaviours, pure), `faults`,
//! `clock` (timed events), `state` (transitions).

mod clock;
pub mod dext;
mod faults;
mod hooks;
mod registry_tree;
mod state;
pub mod station;

use super::{LabFactory, LabSpec};
use crate::dispatch::{self, SCALAR_MAX};
use crate::ioreturn::{ReturnCode, code};
use crate::lab::{
    CallArgs, CallOutcome, ConnectionId, EntryId, Lab, LabError, Matching, OpenOutcome,
    OpenRequest, Prop, RegEntry, Registry, UsbBus, UsbView, UserClients, WaitError, WaitFor,
};
use crate::logs::{CrashReport, LogBuffer, LogCapture, LogLine};
use crate::scenario::Scenario;
use dext::{OpenInput, OpenTargetKind};
use faults::{CallFault, FaultBook};
use registry_tree::NodeKind;
use state::{Conn, Setup, State};
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// What a hung call answers once its connection is closed from another thread. The reference is silent.
/// The request was already sent, so a send error (MACH_SEND_INVALID_DEST) does not fit; the kernel aborts
/// the pending call with the user client, which is what kIOReturnAborted ("operation aborted") names.
pub const HUNG_CALL_RELEASED: u32 = code::kIOReturnAborted;

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
                dext::USERCLIENT_ACCESS.to_string(),
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
        self.log.all().into_iter().map(|l| l.text).collect()
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

    fn open_input<'a>(st: &'a State, req: &OpenRequest) -> Result<OpenInput<'a>, LabError> {
        let node = st
            .tree
            .node(req.entry)
            .ok_or(LabError::NoEntry(req.entry))?;
        let setup = &st.setup;
        let target = match node.kind {
            NodeKind::Root => OpenTargetKind::NotAService,
            NodeKind::Device { .. } | NodeKind::UserResources => OpenTargetKind::NoUserClient,
            NodeKind::Interface { .. } => OpenTargetKind::Interface,
            NodeKind::UserServer { .. } => OpenTargetKind::UserServer,
            NodeKind::Service { slot } => OpenTargetKind::DextService {
                // A stale service (from before a crash or re-enumeration) has no server behind it.
                running: st.slots[slot].running && st.slots[slot].service == Some(req.entry),
            },
        };
        let string = |k: &str| node.properties.get(k).and_then(Prop::as_str).unwrap_or("");
        Ok(OpenInput {
            target,
            open_type: req.open_type,
            user_client_properties: node.properties.get("UserClientProperties"),
            open_types: &setup.driver.open_types,
            rejected_type_answer: setup.driver.rejected_type_answer,
            dext_entitlements: &setup.dext_entitlements,
            host_entitlements: &setup.host_entitlements,
            skip_entitlement_check: setup.skip_entitlement_check,
            bundle_id: string("CFBundleIdentifier"),
            user_class: string("IOUserClass"),
            registry_id: req.entry,
            log_prefix: setup
                .driver
                .log_prefix
                .as_deref()
                .unwrap_or(&setup.driver.user_class),
        })
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

/// The driver as a dext with a planted `loose_struct_in` on `selector` dispatches it: that entry's struct
/// input check is `kIOUserClientVariableStructureSize`. `None` when the selector carries no such bug.
fn loosened(driver: &crate::driver::Driver, selector: u32) -> Option<crate::driver::Driver> {
    use crate::driver::{PlantedBug, SimBehaviour, SizeCheck};
    let s = driver.selector(selector)?;
    if s.sim != SimBehaviour::Planted(PlantedBug::LooseStructIn) {
        return None;
    }
    let mut d = driver.clone();
    for s in d.selectors.iter_mut().filter(|s| s.id == selector) {
        if let Some(rule) = &mut s.rule {
            rule.struct_in = SizeCheck::Variable;
        }
    }
    Some(d)
}

/// What a planted bug does to a call that reached the selector's function, if this call triggers it.
fn planted_fault(behaviour: &crate::driver::SimBehaviour, args: &CallArgs) -> Option<CallFault> {
    use crate::driver::{PlantedBug, SimBehaviour};
    match behaviour {
        SimBehaviour::Planted(PlantedBug::CrashOnStructIn(n))
            if args.struct_in.len() == *n as usize =>
        {
            Some(CallFault::Crash {
                rematch_after: PLANTED_CRASH_REMATCH,
            })
        }
        SimBehaviour::Planted(PlantedBug::HangOnAllOnes)
            if args.scalars_in.first() == Some(&u64::MAX) =>
        {
            Some(CallFault::Hang)
        }
        _ => None,
    }
}

/// How long a dext that crashed on a planted bug takes to match again (launchd restarts it).
pub const PLANTED_CRASH_REMATCH: Duration = Duration::from_millis(20);

fn outcome(code: u32, started: Instant) -> CallOutcome {
    CallOutcome {
        code: ReturnCode(code),
        scalars_out: vec![],
        struct_out: vec![],
        took: started.elapsed(),
    }
}

impl UserClients for SimLab {
    fn open(&self, request: &OpenRequest) -> Result<OpenOutcome, LabError> {
        let started = Instant::now();
        let mut st = self.shared.lock();
        let printer = st.printer_of_entry(request.entry);
        if st.tree.node(request.entry).is_none() {
            return Err(LabError::NoEntry(request.entry));
        }
        if st.faults.open_lab_error(printer) {
            return Err(LabError::Other(
                "the printer dropped off the hub during IOServiceOpen (sim fault `open_lab_error`)"
                    .into(),
            ));
        }
        let decision = match st.faults.open_answer(printer) {
            Some(code) => dext::OpenDecision { code, log: vec![] },
            None => dext::open_rules(&Self::open_input(&st, request)?),
        };
        self.emit(decision.log);
        let connection = if decision.code.is_success() {
            let slot = match st.tree.node(request.entry).map(|n| n.kind) {
                Some(NodeKind::Service { slot }) => slot,
                _ => return Err(LabError::Other("an open succeeded on a non-service".into())),
            };
            let id = st.next_conn;
            st.next_conn += 1;
            st.conns.insert(id, Conn { slot, dead: None });
            Some(id)
        } else {
            None
        };
        drop(st);
        self.shared.changed.notify_all();
        Ok(OpenOutcome {
            code: decision.code,
            connection,
            took: started.elapsed(),
        })
    }

    fn call(&self, connection: ConnectionId, args: &CallArgs) -> Result<CallOutcome, LabError> {
        let started = Instant::now();
        let mut st = self.shared.lock();
        let conn = st
            .conns
            .get(&connection)
            .cloned()
            .ok_or(LabError::NotOpen(connection))?;
        let setup = Arc::clone(&st.setup);
        // A dext with a planted `loose_struct_in` dispatches with its own, looser entry.
        let loose = loosened(&setup.driver, args.selector);
        let dext_driver = loose.as_ref().unwrap_or(&setup.driver);
        // More than 16 scalars never leave the process (reference §3): not even a dead port is noticed.
        let dispatched = dispatch::dispatch(dext_driver, args);
        let too_many =
            args.scalars_in.len() > SCALAR_MAX || args.scalars_out_capacity as usize > SCALAR_MAX;
        if let (true, Err(refusal)) = (too_many, &dispatched) {
            return Ok(outcome(refusal.code.0, started));
        }
        if let Some(dead) = conn.dead {
            return Ok(outcome(dead.0, started));
        }
        // The call reached the dext: its ExternalMethod logs before dispatch decides anything.
        self.emit([dext::external_method_breadcrumb(
            &self.log_prefix,
            args.selector,
        )]);
        let dispatched = match dispatched {
            Ok(d) => d,
            Err(refusal) => return Ok(outcome(refusal.code.0, started)),
        };
        match self.hooks.on_call(args.selector) {
            Some(hooks::Hooked::Answer(o)) => return Ok(o),
            Some(hooks::Hooked::Panic) => {
                drop(st);
                panic!("sim test hook: a panic on selector {}", args.selector)
            }
            None => {}
        }
        // Faults model the selector's function, so they fire only on calls that passed dispatch.
        let fault = st
            .faults
            .call_fault(args.selector)
            .or_else(|| planted_fault(&dispatched.selector.sim, args));
        match fault {
            Some(CallFault::Answer(c)) => return Ok(outcome(c.0, started)),
            Some(CallFault::Hang) => {
                // Really blocks; the engine's deadline decides when to give up. Closing the connection
                // (or dropping the lab) releases it.
                st.hung_calls += 1;
                self.shared.changed.notify_all();
                while st.conns.contains_key(&connection) && !st.shutdown {
                    st = self.shared.wait_until(st, None);
                }
                st.hung_calls -= 1;
                return Ok(outcome(HUNG_CALL_RELEASED, started));
            }
            Some(CallFault::Abort) => {
                // What a crash in our own FFI looks like from outside: the process dies by a signal with
                // no unwinding and no cleanup. Only `--isolate` keeps the run alive.
                tracing::error!(
                    selector = args.selector,
                    "sim fault `abort`: aborting the process"
                );
                std::process::abort();
            }
            Some(CallFault::Unplug(code)) => {
                if let Some(p) = st.slots[conn.slot].printer {
                    st.unplug_now(p);
                }
                drop(st);
                self.shared.changed.notify_all();
                return Ok(outcome(code.0, started));
            }
            Some(CallFault::Crash { rematch_after }) => {
                let mut crashes = self.crashes.lock().unwrap_or_else(|p| p.into_inner());
                let n = crashes.len() + 1;
                let report = dext::crash_report(
                    &setup.driver.bundle_id,
                    &setup.driver.user_class,
                    args.selector,
                    n,
                );
                crashes.push((SystemTime::now(), report));
                drop(crashes);
                st.crash(conn.slot, Instant::now(), rematch_after);
                self.shared.kick_timer(&st);
                drop(st);
                self.shared.changed.notify_all();
                return Ok(outcome(state::SERVER_DIED, started));
            }
            None => {}
        }
        let printer = st.slots[conn.slot].printer;
        let escp = printer.map(|p| &mut st.printers[p].escp);
        let out = dext::run_behaviour(&dispatched.selector.sim, args, escp);
        Ok(CallOutcome {
            code: out.code,
            scalars_out: out.scalars_out,
            struct_out: out.struct_out,
            took: started.elapsed(),
        })
    }

    fn close(&self, connection: ConnectionId) -> Result<ReturnCode, LabError> {
        let removed = self.shared.lock().conns.remove(&connection);
        self.shared.changed.notify_all();
        match removed {
            Some(_) => Ok(ReturnCode::SUCCESS),
            None => Err(LabError::NotOpen(connection)),
        }
    }

    fn open_count(&self) -> usize {
        self.shared.lock().conns.len()
    }
}

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
mod tests;
