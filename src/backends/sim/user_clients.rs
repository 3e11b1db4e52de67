//! `UserClients` for the sim lab: an open decided by `open_rules` (or a fault), its connection to the dext
//! or to Apple's USB user client, calls through `crate::dispatch` and the selector's behaviour or fault,
//! and close. Everything happens under the lab's one lock, as in `mod.rs`.

use super::*;

impl SimLab {
    fn open_input<'a>(st: &'a mut State, req: &OpenRequest) -> Result<OpenInput<'a>, LabError> {
        let kind = st
            .tree
            .node(req.entry)
            .ok_or(LabError::NoEntry(req.entry))?
            .kind;
        let dext_backed = |slot: usize, st: &State| {
            let class = st
                .tree
                .node(req.entry)
                .and_then(|n| n.properties.get("IOUserClass"))
                .and_then(Prop::as_str)
                .unwrap_or("");
            OpenTargetKind::DextBacked {
                // A stale entry (from before a crash or re-enumeration) has no server behind it.
                running: st.slots[slot].running && st.tree.is_live(req.entry),
                overrides_new_user_client: st.setup.driver.overrides_new_user_client(class),
            }
        };
        let target = match kind {
            NodeKind::Root => OpenTargetKind::NotAService,
            // The sim gives these no IOUserClientClass (a Mac's platform expert and controllers have
            // user clients of their own for other types; nothing here opens them).
            NodeKind::PlatformExpert
            | NodeKind::Controller { .. }
            | NodeKind::UserResources
            | NodeKind::UserServer { .. }
            | NodeKind::UserClient { .. } => OpenTargetKind::Generic,
            NodeKind::Device { .. } | NodeKind::Interface { .. } | NodeKind::Hub { .. } => {
                OpenTargetKind::UsbHost
            }
            NodeKind::Service { slot } | NodeKind::Nub { slot } => dext_backed(slot, st),
        };
        // Only an open that reaches the dext makes an RPC a fault can break.
        let rpc_failure = match target {
            OpenTargetKind::DextBacked { running: true, .. } => st.faults.rpc_failure(),
            _ => None,
        };
        let user_client_id = st.tree.reserve_id();
        let st = &*st;
        let node = st
            .tree
            .node(req.entry)
            .ok_or(LabError::NoEntry(req.entry))?;
        let setup = &st.setup;
        Ok(OpenInput {
            target,
            open_type: req.open_type,
            user_client_properties: node.properties.get("UserClientProperties"),
            open_types: &setup.driver.open_types,
            rejected_type_answer: setup.driver.rejected_type_answer,
            dext_entitlements: &setup.dext_entitlements,
            host_entitlements: &setup.host_entitlements,
            skip_entitlement_check: setup.skip_entitlement_check,
            bundle_id: node
                .properties
                .get("CFBundleIdentifier")
                .and_then(Prop::as_str),
            user_client_id,
            host_pid: std::process::id(),
            log_prefix: setup.driver.log_prefix(),
            usb_host_answer: setup.usb_host_open,
            rpc_failure,
        })
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
            Some(code) => open_rules::OpenDecision {
                code,
                log: vec![],
                reaches_dext: code.is_success(),
            },
            None => open_rules::open_rules(&Self::open_input(&mut st, request)?),
        };
        self.emit(decision.log);
        let connection = if decision.code.is_success() {
            let id = st.next_conn;
            st.next_conn += 1;
            match st.tree.node(request.entry).map(|n| n.kind) {
                Some(NodeKind::Service { slot } | NodeKind::Nub { slot })
                    if decision.reaches_dext =>
                {
                    // The user client appears below the opened service while the connection lives.
                    let ucp = st
                        .tree
                        .node(request.entry)
                        .and_then(|n| n.properties.get("UserClientProperties"))
                        .and_then(Prop::as_dict)
                        .cloned()
                        .unwrap_or_default();
                    let spec = registry_entries::user_client_entry(
                        &st.setup.driver,
                        &ucp,
                        std::process::id(),
                    );
                    let user_client =
                        st.tree
                            .add_spec(request.entry, spec, NodeKind::UserClient { slot });
                    st.conns.insert(
                        id,
                        Conn {
                            slot,
                            user_client: Some(user_client),
                            dead: None,
                        },
                    );
                }
                Some(
                    kind @ (NodeKind::Device { .. }
                    | NodeKind::Interface { .. }
                    | NodeKind::Hub { .. }),
                ) => {
                    let printer = match kind {
                        NodeKind::Device { printer } | NodeKind::Interface { printer } => {
                            Some(printer)
                        }
                        _ => None,
                    };
                    st.usb_conns.insert(
                        id,
                        UsbConn {
                            printer,
                            dead: None,
                        },
                    );
                }
                _ => {
                    return Err(LabError::Other(format!(
                        "an open answered {} on an entry the sim cannot connect to",
                        decision.code
                    )));
                }
            }
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
        if let Some(usb) = st.usb_conns.get(&connection) {
            return Ok(outcome(
                usb.dead.map_or(APPLE_USB_CALL_ANSWER, |d| d.0),
                started,
            ));
        }
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
        let too_many = args.scalars_in.len() > SCALAR_MAX;
        if let (true, Err(refusal)) = (too_many, &dispatched) {
            return Ok(outcome(refusal.code.0, started));
        }
        if let Some(dead) = conn.dead {
            return Ok(outcome(dead.0, started));
        }
        // The ExternalMethod RPC into the dext fails before the dext sees it (IOUserServer::rpc).
        if let Some(rpc) = st.faults.rpc_failure() {
            return Ok(outcome(rpc.0, started));
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
        let mut st = self.shared.lock();
        let removed = match st.conns.remove(&connection) {
            Some(conn) => {
                if let Some(uc) = conn.user_client {
                    st.tree.forget(uc);
                }
                true
            }
            None => st.usb_conns.remove(&connection).is_some(),
        };
        drop(st);
        self.shared.changed.notify_all();
        if removed {
            Ok(ReturnCode::SUCCESS)
        } else {
            Err(LabError::NotOpen(connection))
        }
    }

    fn open_count(&self) -> usize {
        let st = self.shared.lock();
        st.conns.len() + st.usb_conns.len()
    }
}
