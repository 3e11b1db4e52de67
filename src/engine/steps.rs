//! What each step kind does against the lab. Every lab operation runs directly on the scenario's thread
//! with the step's deadline armed in its watchdog; waits that carry their own deadline get a short grace
//! before the scenario is given up.

use super::expect::{check_code, check_within};
use super::run::{Conn, Hang, Run, hang_failure};
use super::{failure, summary::target_name};
use crate::crosscheck;
use crate::driver::Provider;
use crate::lab::{
    CallArgs, Matching, OpenRequest, OpenTarget, Prop, RegEntry, UsbView, WaitError, WaitFor,
};
use crate::ops::service::{self, FindError};
use crate::ops::usb::{ReplugError, wait_present};
use crate::ops::{WAIT_GRACE, same_printer};
use crate::report::{Failure, human_duration};
use crate::scenario::{Expect, Role, Step, StepKind};
use std::fmt::Write;
use std::time::{Duration, Instant};

type StepResult = Result<String, Failure>;

/// Which USB device a role means right now.
type DevicePred = Box<dyn Fn(&UsbView) -> bool + Send + Sync>;

impl Run<'_> {
    pub(super) fn step(&mut self, step: &Step, until: Instant) -> StepResult {
        match &step.kind {
            StepKind::Replug { role } => self.replug(role, until),
            StepKind::Await { role, state } => self.await_(role.as_deref(), *state, until),
            StepKind::CrossCheck {
                role,
                skip,
                expect_mismatch,
            } => self.cross_check(role, skip, expect_mismatch, until),
            StepKind::Open {
                role,
                target,
                open_type,
                name,
                expect,
            } => self.open(role.as_deref(), *target, *open_type, name, expect, until),
            // Its selector is in `self.what` (`GetStatus on uc`), made once per scenario run.
            StepKind::Call {
                connection,
                args,
                expect,
                ..
            } => self.call(connection, args, expect, until),
            StepKind::Close { connection, expect } => self.close(connection, expect, until),
            StepKind::Sleep(d) => self.sleep(*d),
            StepKind::Fuzz(f) => self.fuzz(f, until),
            StepKind::Log(text) => Ok(text.clone()),
            // Repeats are expanded by the runner of steps.
            StepKind::Repeat { .. } => Ok(String::new()),
        }
    }

    /// Run a lab job that reports its own failures; a hang or panic of the job is the lab's fault.
    fn lab_job<T>(
        &mut self,
        until: Instant,
        job: impl FnOnce() -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        match self.armed(until, Hang::LabWait, |_| job()).0 {
            Ok(r) => r,
            Err(e) => Err(failure::lab(e.to_string())),
        }
    }

    fn role(&self, name: &str) -> Result<Role, Failure> {
        self.scenario
            .printers
            .iter()
            .find(|r| r.name == name)
            .cloned()
            .ok_or_else(|| failure::lab(format!("the scenario has no printer role `{name}`")))
    }

    /// Which device is the role's: the one last seen for it, else any the role matches.
    fn role_pred(&self, name: &str) -> Result<DevicePred, Failure> {
        Ok(match self.views.get(name) {
            Some(v) => Box::new(same_printer(v)),
            None => {
                let role = self.role(name)?;
                Box::new(move |v: &UsbView| role.matches(v))
            }
        })
    }

    fn replug(&mut self, role: &str, until: Instant) -> StepResult {
        let pred = self.role_pred(role)?;
        let role_def = self.role(role)?;
        let lab = self.lab.clone();
        let budget = human_duration(self.budget);
        let r = self.lab_job(until + WAIT_GRACE, move || {
            let devices = lab.devices().map_err(failure::from_lab)?;
            let before = match devices.iter().find(|v| pred(v)) {
                Some(v) => v.clone(),
                None => role_def.resolve(&devices).map_err(failure::from_lab)?,
            };
            crate::ops::usb::replug_and_wait(&*lab, &before, until).map_err(|e| match e {
                ReplugError::Lab(e) => failure::from_lab(e),
                e => failure::lab(format!("{e} within {budget}")),
            })
        })?;
        let (before, after, left, back) = (r.before, r.after, r.left, r.back);
        let detail = format!(
            "{}: left after {}, back after {} at address {} (was {})",
            after.label(),
            human_duration(left),
            human_duration(back),
            after.address,
            before.address
        );
        self.views.insert(role.to_string(), after);
        Ok(detail)
    }

    fn await_(&mut self, role: Option<&str>, state: WaitFor, until: Instant) -> StepResult {
        let driver = self.scenario.driver.clone();
        let lab = self.lab.clone();
        let t0 = Instant::now();
        let budget = human_duration(self.budget);
        match (role, state) {
            (Some(name), WaitFor::Matched) => {
                let pred = self.role_pred(name)?;
                let describe = self.role(name)?.describe();
                let (view, entry) = self.lab_job(until + WAIT_GRACE, move || {
                    let view = wait_present(&*lab, &pred, until).map_err(|e| {
                        wait_failure(
                            e,
                            format!("no printer with {describe} on the bus within {budget}"),
                        )
                    })?;
                    let entry = match driver.provider {
                        Provider::UserResources => service::resource_service(&*lab, &driver, until),
                        Provider::UsbInterface { .. } => {
                            service::printer_service(&*lab, &view, &driver, until)
                                .map(|p| p.service)
                        }
                    }
                    .map_err(|e| find_failure(e, &budget))?;
                    Ok((view, entry))
                })?;
                self.views.insert(name.to_string(), view);
                Ok(matched_detail(&entry, t0))
            }
            (None, WaitFor::Matched) => {
                let entry = self.lab_job(until + WAIT_GRACE, move || {
                    service::resource_service(&*lab, &driver, until)
                        .map_err(|e| find_failure(e, &budget))
                })?;
                Ok(matched_detail(&entry, t0))
            }
            (role, WaitFor::Gone) => {
                let view = role.and_then(|r| self.views.get(r).cloned());
                let pred = role.map(|r| self.role_pred(r)).transpose()?;
                self.lab_job(until + WAIT_GRACE, move || {
                    let matching = gone_matching(&*lab, &driver, view, pred)?;
                    let Some(m) = matching else {
                        return Ok("already gone".to_string());
                    };
                    service::wait_gone(
                        &*lab,
                        &m,
                        &format!("the {} service", driver.user_class),
                        until,
                    )
                    .map_err(|e| find_failure(e, &budget))?;
                    Ok(format!("gone after {}", human_duration(t0.elapsed())))
                })
            }
        }
    }

    fn cross_check(
        &mut self,
        role: &str,
        skip: &[String],
        expect_mismatch: &[String],
        until: Instant,
    ) -> StepResult {
        let pred = self.role_pred(role)?;
        let role_def = self.role(role)?;
        let driver = self.scenario.driver.clone();
        let lab = self.lab.clone();
        let (view, gathered) = self.lab_job(until + WAIT_GRACE, move || {
            let devices = lab.devices().map_err(failure::from_lab)?;
            let view = match devices.iter().find(|v| pred(v)) {
                Some(v) => v.clone(),
                None => role_def.resolve(&devices).map_err(failure::from_lab)?,
            };
            let gathered = service::cross_check_side(&*lab, &view).map_err(failure::from_lab)?;
            Ok((view, gathered))
        })?;
        let Some(side) = gathered else {
            return Err(failure::driver(format!(
                "no IOUSBHostDevice in the registry has {}'s ids and serial or its locationID",
                view.label()
            )));
        };
        let findings = crosscheck::check(&view, side.as_side(), &driver);
        let j = crosscheck::judge(findings, skip, expect_mismatch);
        let both = format!("{} and {}", view.label(), side.device.path);
        if !j.unexpected.is_empty() {
            let list = |f: &dyn Fn(&crosscheck::Finding) -> String| {
                j.unexpected.iter().map(f).collect::<Vec<_>>().join("; ")
            };
            return Err(Failure {
                expected: Some(format!(
                    "libusb: {}",
                    list(&|f| format!("{} {}", f.field, f.usb_text()))
                )),
                actual: Some(format!(
                    "registry: {}",
                    list(&|f| format!("{} {}", f.field, f.registry))
                )),
                ..failure::driver(format!(
                    "libusb and the IORegistry disagree about {both}: {}",
                    list(&|f| f.to_string())
                ))
            });
        }
        if !j.agreed_but_expected_mismatch.is_empty() {
            let fields = j.agreed_but_expected_mismatch.join(", ");
            return Err(Failure {
                expected: Some(format!("a mismatch in {fields}")),
                actual: Some("they agree".into()),
                ..failure::driver(format!(
                    "{fields} agree for {both}, but the scenario expects a mismatch"
                ))
            });
        }
        let mut detail = format!("{} fields agree for {both}", j.compared - j.expected.len());
        for f in &j.expected {
            detail.push_str(&format!("; expected mismatch {f}"));
        }
        Ok(detail)
    }

    fn open(
        &mut self,
        role: Option<&str>,
        target: OpenTarget,
        open_type: u32,
        name: &str,
        expect: &Expect,
        until: Instant,
    ) -> StepResult {
        let driver = self.scenario.driver.clone();
        let lab = self.lab.clone();
        let pred = role.map(|r| self.role_pred(r)).transpose()?;
        let budget = human_duration(self.budget);
        let entry = self.lab_job(until + WAIT_GRACE, move || {
            let view = match pred {
                Some(pred) => Some(wait_present(&*lab, &pred, until).map_err(|e| {
                    wait_failure(
                        e,
                        format!("the printer is not on the bus (waited {budget})"),
                    )
                })?),
                None => None,
            };
            let needs_printer = || {
                failure::lab(format!(
                    "opening the {} needs a printer",
                    target_name(target)
                ))
            };
            let found = match (target, &view) {
                (OpenTarget::Service, Some(v)) if driver.provider != Provider::UserResources => {
                    service::printer_service(&*lab, v, &driver, until).map(|p| p.service)
                }
                (OpenTarget::Service, _) => service::resource_service(&*lab, &driver, until),
                (OpenTarget::UserServer, _) => match &view {
                    Some(v) if driver.provider != Provider::UserResources => {
                        service::printer_service(&*lab, v, &driver, until).map(|p| p.service)
                    }
                    _ => service::resource_service(&*lab, &driver, until),
                }
                .and_then(|s| service::user_server(&*lab, &driver, &s, until)),
                (OpenTarget::Device, Some(v)) => service::device_entry(&*lab, v, until),
                (OpenTarget::Interface, Some(v)) => {
                    service::driver_interface(&driver).and_then(|n| {
                        let dev = service::device_entry(&*lab, v, until)?;
                        service::interface_entry(&*lab, &dev, n, until)
                    })
                }
                (OpenTarget::Nub, _) => {
                    let service = match &view {
                        Some(v) if driver.provider != Provider::UserResources => {
                            service::printer_service(&*lab, v, &driver, until).map(|p| p.service)
                        }
                        _ => service::resource_service(&*lab, &driver, until),
                    };
                    service.and_then(|s| service::dext_nub(&*lab, &s, &driver, until))
                }
                (OpenTarget::Device | OpenTarget::Interface, None) => return Err(needs_printer()),
            };
            found.map_err(|e| find_failure(e, &budget))
        })?;
        let request = OpenRequest {
            entry: entry.id,
            open_type,
        };
        let what = format!("IOServiceOpen of {} (type {open_type})", entry.path);
        let (r, _) = self.armed(until, Hang::UserClient(what.as_str().into()), |lab| {
            lab.open(&request)
        });
        let out = match r {
            Ok(r) => r.map_err(failure::from_lab)?,
            Err(e) => return Err(hang_failure(e, &what, self.budget)),
        };
        if let Some(id) = out.connection {
            self.conns.push(Conn {
                name: name.to_string(),
                id,
                dead_seen: false,
            });
            self.publish_conn(id, Some(name));
        } else if out.code.is_success() {
            return Err(failure::lab(format!(
                "{what} succeeded but the lab gave no connection"
            )));
        }
        check_code(expect, out.code, &what)?;
        check_within(expect, out.took, &what)?;
        Ok(format!("{} on {}", out.code, entry.path))
    }

    fn conn(&self, name: &str) -> Result<(usize, u64), Failure> {
        let i = self
            .conns
            .iter()
            .rposition(|c| c.name == name)
            .ok_or_else(|| {
                failure::lab(format!(
                    "connection `{name}` is not open (it was closed, or its open failed)"
                ))
            })?;
        Ok((i, self.conns[i].id))
    }

    fn call(&mut self, conn: &str, args: &CallArgs, expect: &Expect, until: Instant) -> StepResult {
        let (i, id) = self.conn(conn)?;
        let what = self.what.clone();
        let (r, _) = self.armed(until, Hang::UserClient(what.clone()), |lab| {
            lab.call(id, args)
        });
        let out = match r {
            Ok(r) => r.map_err(failure::from_lab)?,
            Err(e) => return Err(hang_failure(e, &what, self.budget)),
        };
        if out.code.0 == crate::ioreturn::code::MACH_SEND_INVALID_DEST && !self.conns[i].dead_seen {
            self.conns[i].dead_seen = true;
            self.look_for_crash_report(until);
        }
        super::expect::check_call(expect, &out, &what)?;
        // One buffer for the whole detail: this runs once per call, thousands of times in a loop.
        let mut detail = String::with_capacity(64);
        let _ = write!(detail, "{}", out.code);
        if !out.scalars_out.is_empty() {
            // As `{:?}` writes the list, without `core::fmt` per number (16 of them on many calls).
            let mut digits = itoa::Buffer::new();
            detail.push_str(" scalars [");
            for (i, v) in out.scalars_out.iter().enumerate() {
                if i > 0 {
                    detail.push_str(", ");
                }
                detail.push_str(digits.format(*v));
            }
            detail.push(']');
        }
        if !out.struct_out.is_empty() {
            let _ = write!(detail, " struct {} bytes", out.struct_out.len());
        }
        Ok(detail)
    }

    fn close(&mut self, conn: &str, expect: &Expect, until: Instant) -> StepResult {
        let (i, id) = self.conn(conn)?;
        let what = self.what.clone();
        let (r, _) = self.armed(until, Hang::UserClient(what.clone()), |lab| lab.close(id));
        let code = match r {
            Ok(r) => {
                self.conns.remove(i);
                self.publish_conn(id, None);
                r.map_err(failure::from_lab)?
            }
            Err(e) => return Err(hang_failure(e, &what, self.budget)),
        };
        check_code(expect, code, &what)?;
        Ok(code.to_string())
    }

    fn fuzz(&mut self, f: &crate::scenario::FuzzStep, until: Instant) -> StepResult {
        let connection = match &f.connection {
            Some(name) => Some(self.conn(name)?.1),
            None => None,
        };
        let printer = match &f.role {
            Some(role) => {
                let pred = self.role_pred(role)?;
                let lab = self.lab.clone();
                let role = role.clone();
                // Armed like every lab operation: a bus listing can hang too.
                Some(self.lab_job(until + WAIT_GRACE, move || {
                    let devices = lab.devices().map_err(failure::from_lab)?;
                    devices
                        .into_iter()
                        .find(|v| pred(v))
                        .ok_or_else(|| failure::lab(format!("printer `{role}` is not on the bus")))
                })?)
            }
            None => None,
        };
        let left = until.saturating_duration_since(Instant::now());
        let opts = crate::fuzz::FuzzOptions {
            cases: f.cases,
            seed: f.seed,
            // The step's budget, never past the step's (and so the scenario's) deadline.
            budget: Some(f.budget.map_or(left, |b| b.min(left))),
            selectors: f.selectors.clone(),
            durability: f.durability,
            within: f.within,
            ..Default::default()
        };
        let target = crate::fuzz::Target {
            printer,
            connection,
        };
        let (lab, driver, sink) = (
            self.lab.clone(),
            self.scenario.driver.clone(),
            self.sink.clone(),
        );
        let run_start = self.run_start;
        // The fuzzer ends at its budget; the case in flight may take one more operation's deadline.
        let outcome = self.lab_job(until + f.within + WAIT_GRACE, move || {
            crate::fuzz::fuzz(lab, driver, target, &opts, sink, run_start)
                .map_err(|e| failure::lab(e.to_string()))
        })?;
        let Some(found) = outcome.findings.first() else {
            return Ok(format!(
                "{} cases, {} operations, seed {}: no findings",
                outcome.generated, outcome.ops, outcome.seed
            ));
        };
        let driver = &self.scenario.driver;
        let ops: Vec<String> = found.ops.iter().map(|o| o.describe(driver)).collect();
        let more = match outcome.findings.len() {
            1 => String::new(),
            n => format!(" ({n} findings; the first:)"),
        };
        Err(Failure {
            expected: Some(found.finding.expected.clone()),
            actual: Some(found.finding.actual.clone()),
            code: found.finding.code,
            ..failure::driver(format!(
                "fuzz (seed {}) found{more}: {}; minimal case: {}",
                outcome.seed,
                found.finding.message,
                ops.join("; ")
            ))
        })
    }

    fn sleep(&mut self, d: Duration) -> StepResult {
        let left = self.deadline.saturating_duration_since(Instant::now());
        // Woken by a stop (SIGINT) at once: a long sleep must not hold up a run that was asked to end.
        if let Some(why) = self.stop.wait(d.min(left)) {
            return Err(failure::lab(format!("interrupted ({why})")));
        }
        if d <= left {
            return Ok(String::new());
        }
        Err(failure::driver(format!(
            "the scenario's deadline of {} ends during this sleep",
            human_duration(self.scenario.deadline)
        )))
    }
}

/// A USB wait that ended without its event: the printer or the hub misbehaved, which is the lab's.
fn wait_failure(e: WaitError, timed_out: String) -> Failure {
    match e {
        WaitError::TimedOut(_) => failure::lab(timed_out),
        WaitError::Lab(e) => failure::from_lab(e),
    }
}

/// Something the dext should have put in (or taken out of) the registry did not happen: the driver's.
fn find_failure(e: FindError, budget: &str) -> Failure {
    match e {
        FindError::NotRegistered { looked_for, found } => failure::driver(format!(
            "{looked_for} did not appear within {budget}{}",
            service::got_as_far(&found)
        )),
        FindError::StillRegistered(what) => {
            failure::driver(format!("{what} was still registered after {budget}"))
        }
        FindError::Location(_) | FindError::NotOnUsb(_) | FindError::Lab(_) => {
            failure::lab(e.to_string())
        }
    }
}

fn matched_detail(e: &RegEntry, t0: Instant) -> String {
    format!(
        "{} (id 0x{:x}) at {} after {}",
        e.name,
        e.id,
        e.path,
        human_duration(t0.elapsed())
    )
}

/// What must disappear for `await ... gone`: the service found now on the printer, or every service of the
/// dext when the printer is already away. `None`: nothing is there to wait for.
fn gone_matching(
    lab: &dyn crate::lab::Lab,
    driver: &crate::driver::Driver,
    view: Option<UsbView>,
    pred: Option<DevicePred>,
) -> Result<Option<Matching>, Failure> {
    if driver.provider == Provider::UserResources {
        return Ok(Some(service::resource_matching(driver)));
    }
    let now = Instant::now();
    let view = match (view, pred) {
        (Some(v), _) => Some(v),
        (None, Some(p)) => match lab
            .devices()
            .map_err(failure::from_lab)?
            .into_iter()
            .find(|v| p(v))
        {
            Some(v) => Some(v),
            // The role's printer is not on the bus, so it has no service. (Waiting on the class here
            // would wait for every other printer's service to go too.)
            None => return Ok(None),
        },
        (None, None) => None,
    };
    let by_class = Matching {
        properties: [(
            "IOUserClass".to_string(),
            Prop::Str(driver.user_class.clone()),
        )]
        .into(),
        ..Matching::default()
    };
    let Some(view) = view else {
        return Ok(Some(by_class));
    };
    match service::printer_service(lab, &view, driver, now) {
        Ok(p) => Ok(Some(Matching {
            id: Some(p.service.id),
            ..Matching::default()
        })),
        Err(FindError::NotRegistered { .. }) => Ok(None),
        Err(e) => Err(find_failure(e, "0s")),
    }
}
