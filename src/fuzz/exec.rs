//! Running fuzz operations against a lab, each under the engine's deadline ([`Worker`]), and checking the
//! invariants after each: the call returned in time, its code is allowed for its shape, the dext's
//! service and server are still registered, and after a close the count of open user clients is back
//! where the case started.

use super::case::{FuzzCall, FuzzOp, allowed};
use crate::driver::Driver;
use crate::engine::WAIT_GRACE;
use crate::engine::deadline::DeadlineError;
use crate::engine::service;
use crate::engine::worker::Worker;
use crate::ioreturn::{ReturnCode, code};
use crate::lab::{ConnectionId, EntryId, Lab, LabError, OpenRequest, UsbView};
use crate::report::human_duration;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the dext may take to (re)appear in the registry: after a replug, or a crash in the last case.
pub const MATCH_WAIT: Duration = Duration::from_secs(5);

/// What the fuzzer works on.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// The printer whose dext service is fuzzed; `None`: the driver's resource-matched service.
    pub printer: Option<UsbView>,
    /// A connection someone else opened (a scenario's `on: uc`): calls only, on it.
    pub connection: Option<ConnectionId>,
}

/// An invariant a case broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The operation that broke it, its index in the case.
    pub step: u32,
    pub message: String,
    pub expected: String,
    pub actual: String,
    /// The code the operation got, when it got one.
    pub code: Option<ReturnCode>,
}

/// Why a case stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    Finding(Finding),
    /// The lab could not do what the case needed: not the driver's fault, the run ends.
    Lab(String),
}

pub struct Exec {
    lab: Arc<dyn Lab>,
    driver: Arc<Driver>,
    worker: Worker,
    within: Duration,
    printer: Option<UsbView>,
    fixed: Option<ConnectionId>,
    conn: Option<ConnectionId>,
    closed: Option<ConnectionId>,
    service: Option<(EntryId, Option<EntryId>)>,
    baseline: usize,
    open_type: u32,
}

fn lab_stop(what: &str, e: impl std::fmt::Display) -> Stop {
    Stop::Lab(format!("{what}: {e}"))
}

impl Exec {
    pub fn new(lab: Arc<dyn Lab>, driver: Arc<Driver>, target: Target, within: Duration) -> Exec {
        let open_type = driver.open_types.first().copied().unwrap_or(0);
        Exec {
            lab,
            driver,
            worker: Worker::new("fuzz"),
            within,
            printer: target.printer,
            fixed: target.connection,
            conn: None,
            closed: None,
            service: None,
            baseline: 0,
            open_type,
        }
    }

    /// Before a case: the dext is matched (waiting for it after a crash in the last case), and the count of
    /// open user clients is the case's baseline.
    pub fn begin_case(&mut self) -> Result<(), Stop> {
        self.conn = None;
        self.closed = None;
        if !self.alive() {
            self.service = Some(self.find_service().map_err(|e| {
                Stop::Lab(format!(
                    "the dext's service is not registered, even after {}: {e}",
                    human_duration(MATCH_WAIT)
                ))
            })?);
        }
        self.baseline = self.lab.open_count();
        Ok(())
    }

    /// After a case, whatever happened: close the connection the case left (a hung call is released by it).
    pub fn end_case(&mut self) {
        if let Some(id) = self.conn.take() {
            let lab = self.lab.clone();
            let _ = self
                .worker
                .run(Instant::now() + crate::engine::CLEANUP_WAIT, move || {
                    lab.close(id)
                });
        }
    }

    fn find_service(&mut self) -> Result<(EntryId, Option<EntryId>), String> {
        let lab = self.lab.clone();
        let driver = self.driver.clone();
        let printer = self.printer.clone();
        let until = Instant::now() + MATCH_WAIT;
        let found = self.worker.run(until + WAIT_GRACE, move || {
            let svc = match &printer {
                Some(v) => service::printer_service(&*lab, v, &driver, until).map(|p| p.service),
                None => service::resource_service(&*lab, &driver, until),
            }
            .map_err(|e| e.to_string())?;
            let server = service::user_server(&*lab, &driver, until)
                .ok()
                .map(|e| e.id);
            Ok::<_, String>((svc.id, server))
        });
        found.map_err(|e| e.to_string())?
    }

    /// The dext's service and its server are still in the registry.
    fn alive(&self) -> bool {
        match self.service {
            None => false,
            Some((svc, server)) => {
                self.lab.entry(svc).is_ok() && server.is_none_or(|s| self.lab.entry(s).is_ok())
            }
        }
    }

    fn finding(
        &self,
        step: u32,
        message: String,
        expected: String,
        actual: String,
        code: Option<ReturnCode>,
    ) -> Stop {
        Stop::Finding(Finding {
            step,
            message,
            expected,
            actual,
            code,
        })
    }

    pub fn run_op(&mut self, step: u32, op: &FuzzOp) -> Result<(), Stop> {
        match op {
            FuzzOp::Open => self.open(step),
            FuzzOp::Call(c) => self.call(step, c),
            FuzzOp::CallClosed(c) => self.call_closed(step, c),
            FuzzOp::Close => self.close(step),
            FuzzOp::Replug => self.replug(step),
            FuzzOp::Await => match self.find_service() {
                Ok(s) => {
                    self.service = Some(s);
                    Ok(())
                }
                Err(e) => Err(self.finding(
                    step,
                    format!("await matched: {e}"),
                    "the dext's service registered".into(),
                    "not registered".into(),
                    None,
                )),
            },
        }
    }

    fn open(&mut self, step: u32) -> Result<(), Stop> {
        let Some((entry, _)) = self.service else {
            return Err(Stop::Lab("no dext service to open".into()));
        };
        let lab = self.lab.clone();
        let request = OpenRequest {
            entry,
            open_type: self.open_type,
        };
        let out = self
            .worker
            .run(Instant::now() + self.within, move || lab.open(&request))
            .map_err(|e| lab_stop("IOServiceOpen", e))?
            .map_err(|e| lab_stop("IOServiceOpen", e))?;
        match out.connection {
            Some(id) if out.code.is_success() => {
                self.conn = Some(id);
                Ok(())
            }
            _ => Err(self.finding(
                step,
                format!("IOServiceOpen of the dext's service answered {}", out.code),
                ReturnCode::SUCCESS.to_string(),
                out.code.to_string(),
                Some(out.code),
            )),
        }
    }

    fn call(&mut self, step: u32, call: &FuzzCall) -> Result<(), Stop> {
        let id = self
            .conn
            .or(self.fixed)
            .ok_or_else(|| Stop::Lab("a call with no connection open".into()))?;
        let args = call.args();
        let want = allowed(&self.driver, &args);
        let what = call.describe(&self.driver);
        let lab = self.lab.clone();
        let out = match self
            .worker
            .run(Instant::now() + self.within, move || lab.call(id, &args))
        {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err(lab_stop(&what, e)),
            Err(DeadlineError::Hung { .. }) => {
                // Closing the connection is what releases a hung call (and the next case needs none open).
                self.conn = Some(id);
                self.end_case();
                let within = human_duration(self.within);
                return Err(self.finding(
                    step,
                    format!("{what}: no answer within {within}: the call hung"),
                    format!("an answer within {within}: {}", want.text()),
                    "no answer".into(),
                    None,
                ));
            }
            Err(e) => return Err(lab_stop(&what, e)),
        };
        let crashed = !self.alive();
        if !want.allows(out.code) || crashed {
            let mut message = format!("{what}: answered {}", out.code);
            if crashed {
                message.push_str("; the dext's service or server is gone: the dext crashed");
            }
            message.push_str(&format!(" ({})", want.why));
            return Err(self.finding(
                step,
                message,
                want.text(),
                out.code.to_string(),
                Some(out.code),
            ));
        }
        Ok(())
    }

    /// A call on a handle that was closed. Both the sim (`SimLab::call`) and the Mac backend
    /// (`macos/userclient.rs`) no longer hold it and answer `LabError::NotOpen` without calling; a port
    /// that reached the kernel would answer MACH_SEND_INVALID_DEST, a dead port (reference §1).
    fn call_closed(&mut self, step: u32, call: &FuzzCall) -> Result<(), Stop> {
        let Some(id) = self.closed else {
            return Err(Stop::Lab(
                "a call on a closed handle, but none was closed".into(),
            ));
        };
        let args = call.args();
        let lab = self.lab.clone();
        let what = format!("on a closed connection: {}", call.describe(&self.driver));
        match self
            .worker
            .run(Instant::now() + self.within, move || lab.call(id, &args))
        {
            Ok(Err(LabError::NotOpen(_))) => Ok(()),
            Ok(Ok(out)) if out.code.0 == code::MACH_SEND_INVALID_DEST => Ok(()),
            Ok(Ok(out)) => Err(self.finding(
                step,
                format!("{what}: answered {}", out.code),
                "a dead connection (MACH_SEND_INVALID_DEST)".into(),
                out.code.to_string(),
                Some(out.code),
            )),
            Ok(Err(e)) => Err(lab_stop(&what, e)),
            Err(e) => Err(self.finding(
                step,
                format!("{what}: {e}"),
                "an answer at once".into(),
                "no answer".into(),
                None,
            )),
        }
    }

    fn close(&mut self, step: u32) -> Result<(), Stop> {
        let id = self
            .conn
            .take()
            .ok_or_else(|| Stop::Lab("a close with no connection open".into()))?;
        let lab = self.lab.clone();
        let got = self
            .worker
            .run(Instant::now() + self.within, move || lab.close(id))
            .map_err(|e| lab_stop("IOServiceClose", e))?
            .map_err(|e| lab_stop("IOServiceClose", e))?;
        self.closed = Some(id);
        if !got.is_success() {
            return Err(self.finding(
                step,
                format!("IOServiceClose answered {got}"),
                ReturnCode::SUCCESS.to_string(),
                got.to_string(),
                Some(got),
            ));
        }
        let now = self.lab.open_count();
        if now > self.baseline {
            return Err(self.finding(
                step,
                format!(
                    "after the close, {now} user clients of the dext are open; {} were before the case opened one: a user client leaked",
                    self.baseline
                ),
                format!("{} open user clients", self.baseline),
                format!("{now}"),
                None,
            ));
        }
        Ok(())
    }

    fn replug(&mut self, step: u32) -> Result<(), Stop> {
        let Some(before) = self.printer.clone() else {
            return Err(Stop::Lab("a replug with no printer".into()));
        };
        let lab = self.lab.clone();
        let until = Instant::now() + MATCH_WAIT;
        let same = before.clone();
        let back = self
            .worker
            .run(until + WAIT_GRACE, move || {
                let is = |v: &UsbView| v.bus == same.bus && v.port_path == same.port_path;
                lab.replug(&same).map_err(|e| e.to_string())?;
                lab.wait_usb(&is, false, until).map_err(|e| e.to_string())?;
                lab.wait_usb(&is, true, until)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| "the printer did not come back".to_string())
            })
            .map_err(|e| lab_stop("replug", e))?
            .map_err(|e| lab_stop("replug", e))?;
        self.printer = Some(back);
        match self.find_service() {
            Ok(s) => {
                self.service = Some(s);
                Ok(())
            }
            Err(e) => Err(self.finding(
                step,
                format!("after the replug the dext did not match again: {e}"),
                "the dext's service registered".into(),
                "not registered".into(),
                None,
            )),
        }
    }
}
