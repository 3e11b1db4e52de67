//! Running fuzz operations against a lab, each directly on the fuzz thread with its deadline armed in the
//! watchdog of the lab-operation layer ([`crate::ops`]; no thread hop per operation), and checking the
//! invariants after each: the call returned in time, its code is allowed for its shape, the dext's service
//! and server are still registered, and after a close the count of open user clients is back where the case
//! started. A call that hangs is released by the watchdog closing its connection (the fuzz thread then
//! carries on); what each call covered is counted in a [`Coverage`].

use super::case::{FuzzCall, FuzzOp, allowed};
use super::coverage::{Answer, Coverage, SelectorClass, ShapeClass};
use crate::driver::Driver;
use crate::ioreturn::{ReturnCode, code};
use crate::lab::{ConnectionId, EntryId, Lab, LabError, OpenRequest, UsbView};
use crate::ops::deadline::{DeadlineError, Watchdog, armed};
use crate::ops::usb::replug_and_wait;
use crate::ops::{CLEANUP_WAIT, WAIT_GRACE, service};
use crate::report::human_duration;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the dext may take to (re)appear in the registry: after a replug, or a crash in the last case.
pub const MATCH_WAIT: Duration = Duration::from_secs(5);

/// The watchdog the fuzz thread arms: it publishes the connection an operation is on, which the watchdog
/// closes to release a call that hangs.
pub type FuzzDog<R> = Watchdog<R, Option<ConnectionId>>;

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
    /// What makes it distinct from other findings: the operation (selector and shape class for a call) and
    /// the answer or the invariant broken. Cases with a signature already found are not reported again.
    pub signature: String,
}

/// Why a case stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    Finding(Finding),
    /// The lab could not do what the case needed: not the driver's fault, the run ends.
    Lab(String),
}

/// `CheckedStruct near miss: struct input size` (what a call is, for signatures).
pub fn call_class(driver: &Driver, call: &FuzzCall) -> (String, String) {
    (
        SelectorClass::of(call.selector, call.shape).text(driver),
        ShapeClass::of(call.shape).text(),
    )
}

pub struct Exec<'a, R> {
    dog: &'a FuzzDog<R>,
    lab: Arc<dyn Lab>,
    driver: Arc<Driver>,
    within: Duration,
    printer: Option<UsbView>,
    fixed: Option<ConnectionId>,
    conn: Option<ConnectionId>,
    closed: Option<ConnectionId>,
    service: Option<(EntryId, Option<EntryId>)>,
    baseline: usize,
    open_type: u32,
    /// The end of the last case found the dext's service and server registered.
    known_alive: bool,
    /// What the calls answered, counted while `counting` (not while shrinking).
    pub coverage: Coverage,
    pub counting: bool,
}

fn lab_stop(what: &str, e: impl std::fmt::Display) -> Stop {
    Stop::Lab(format!("{what}: {e}"))
}

impl<'a, R> Exec<'a, R> {
    pub fn new(
        dog: &'a FuzzDog<R>,
        lab: Arc<dyn Lab>,
        driver: Arc<Driver>,
        target: Target,
        within: Duration,
    ) -> Self {
        let open_type = driver.open_types.first().copied().unwrap_or(0);
        Exec {
            dog,
            lab,
            driver,
            within,
            printer: target.printer,
            fixed: target.connection,
            conn: None,
            closed: None,
            service: None,
            baseline: 0,
            open_type,
            known_alive: false,
            coverage: Coverage::default(),
            counting: true,
        }
    }

    /// Run `op` on this thread with `until` armed; `on` is the connection the watchdog closes should it
    /// hang. An operation that comes back after `until` (released, or merely late) did not answer in time.
    fn armed<X>(
        &self,
        until: Instant,
        on: Option<ConnectionId>,
        op: impl FnOnce(&dyn Lab) -> X,
    ) -> Result<X, DeadlineError> {
        let budget = until.saturating_duration_since(Instant::now());
        let x = armed(self.dog, until, |slot| *slot = on, || op(&*self.lab))?;
        if Instant::now() > until {
            return Err(DeadlineError::Hung { budget });
        }
        Ok(x)
    }

    /// Before a case: the dext is matched (waiting for it after a crash in the last case), and the count of
    /// open user clients is the case's baseline.
    pub fn begin_case(&mut self) -> Result<(), Stop> {
        self.conn = None;
        self.closed = None;
        if !std::mem::take(&mut self.known_alive) && !self.alive() {
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

    /// After a case that broke nothing: the dext's service and server are still registered (a dext that
    /// crashed after answering is caught here, on the case's last operation).
    pub fn check_alive(&mut self, last_step: u32, last: &FuzzOp) -> Result<(), Stop> {
        self.known_alive = self.alive();
        if self.known_alive {
            return Ok(());
        }
        let what = last.describe(&self.driver);
        let op = match last {
            FuzzOp::Call(c) => {
                let (selector, shape) = call_class(&self.driver, c);
                format!("{selector} {shape}")
            }
            other => other.describe(&self.driver),
        };
        Err(finding(
            last_step,
            format!("{op}: the dext crashed"),
            format!("after {what}, the dext's service or server is gone: the dext crashed"),
            "the dext's service and server registered".into(),
            "gone".into(),
            None,
        ))
    }

    /// After a case, whatever happened: close the connection the case left.
    pub fn end_case(&mut self) {
        if let Some(id) = self.conn.take() {
            let _ = self.armed(Instant::now() + CLEANUP_WAIT, Some(id), |lab| lab.close(id));
        }
    }

    fn find_service(&mut self) -> Result<(EntryId, Option<EntryId>), String> {
        let until = Instant::now() + MATCH_WAIT;
        let (driver, printer) = (self.driver.clone(), self.printer.clone());
        let found = self.armed(until + WAIT_GRACE, None, |lab| {
            let svc = match &printer {
                Some(v) => service::printer_service(lab, v, &driver, until).map(|p| p.service),
                None => service::resource_service(lab, &driver, until),
            }
            .map_err(|e| e.to_string())?;
            let server = service::user_server(lab, &driver, &svc, until)
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
                self.lab.is_registered(svc) && server.is_none_or(|s| self.lab.is_registered(s))
            }
        }
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
                Err(e) => Err(finding(
                    step,
                    "await: not registered".into(),
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
        let request = OpenRequest {
            entry,
            open_type: self.open_type,
        };
        let out = self
            .armed(Instant::now() + self.within, None, |lab| lab.open(&request))
            .map_err(|e| lab_stop("IOServiceOpen", e))?
            .map_err(|e| lab_stop("IOServiceOpen", e))?;
        match out.connection {
            Some(id) if out.code.is_success() => {
                self.conn = Some(id);
                Ok(())
            }
            _ => Err(finding(
                step,
                format!("open: answered {}", out.code.name()),
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
        let got = self.armed(Instant::now() + self.within, Some(id), |lab| {
            lab.call(id, &args)
        });
        let class = (
            SelectorClass::of(call.selector, call.shape),
            ShapeClass::of(call.shape),
        );
        let out = match got {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err(lab_stop(&call.describe(&self.driver), e)),
            Err(DeadlineError::Hung { .. }) => {
                if self.counting {
                    self.coverage.count(class.0, class.1, Answer::Hung);
                }
                let (selector, shape) = call_class(&self.driver, call);
                // The watchdog closed the connection to release the call (or it came back late): either way
                // the case is over, and the next needs none open.
                self.conn = Some(id);
                self.end_case();
                let want = allowed(&self.driver, &args);
                let within = human_duration(self.within);
                return Err(finding(
                    step,
                    format!("{selector} {shape}: no answer"),
                    format!(
                        "{}: no answer within {within}: the call hung",
                        call.describe(&self.driver)
                    ),
                    format!("an answer within {within}: {}", want.text()),
                    "no answer".into(),
                    None,
                ));
            }
            Err(e) => return Err(lab_stop(&call.describe(&self.driver), e)),
        };
        if self.counting {
            self.coverage
                .count(class.0, class.1, Answer::Code(out.code.0));
        }
        let want = allowed(&self.driver, &args);
        // A dead port is what a crash answers; any other answer leaves the check to the end of the case.
        let crashed = out.code.0 == code::MACH_SEND_INVALID_DEST && !self.alive();
        if !want.allows(out.code) || crashed {
            let (selector, shape) = call_class(&self.driver, call);
            let what = call.describe(&self.driver);
            let mut message = format!("{what}: answered {}", out.code);
            let signature = if crashed {
                message.push_str("; the dext's service or server is gone: the dext crashed");
                format!("{selector} {shape}: the dext crashed")
            } else {
                format!("{selector} {shape}: answered {}", out.code.name())
            };
            message.push_str(&format!(" ({})", want.why));
            return Err(finding(
                step,
                signature,
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
        let got = self.armed(Instant::now() + self.within, None, |lab| {
            lab.call(id, &args)
        });
        if self.counting {
            let answer = match &got {
                Ok(Err(LabError::NotOpen(_))) => Answer::NotOpen,
                Ok(Ok(out)) => Answer::Code(out.code.0),
                Ok(Err(_)) => Answer::LabError,
                Err(_) => Answer::Hung,
            };
            let selector = SelectorClass::of(call.selector, call.shape);
            self.coverage
                .count(selector, ShapeClass::ClosedConnection, answer);
        }
        if matches!(got, Ok(Err(LabError::NotOpen(_)))) {
            return Ok(());
        }
        let (selector, _) = call_class(&self.driver, call);
        let what = format!("on a closed connection: {}", call.describe(&self.driver));
        match got {
            Ok(Err(LabError::NotOpen(_))) => Ok(()),
            Ok(Ok(out)) if out.code.0 == code::MACH_SEND_INVALID_DEST => Ok(()),
            Ok(Ok(out)) => Err(finding(
                step,
                format!("{selector} closed connection: answered {}", out.code.name()),
                format!("{what}: answered {}", out.code),
                "a dead connection (MACH_SEND_INVALID_DEST)".into(),
                out.code.to_string(),
                Some(out.code),
            )),
            Ok(Err(e)) => Err(lab_stop(&what, e)),
            Err(e) => Err(finding(
                step,
                format!("{selector} closed connection: no answer"),
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
        let got = self
            .armed(Instant::now() + self.within, Some(id), |lab| lab.close(id))
            .map_err(|e| lab_stop("IOServiceClose", e))?
            .map_err(|e| lab_stop("IOServiceClose", e))?;
        self.closed = Some(id);
        if !got.is_success() {
            return Err(finding(
                step,
                format!("close: answered {}", got.name()),
                format!("IOServiceClose answered {got}"),
                ReturnCode::SUCCESS.to_string(),
                got.to_string(),
                Some(got),
            ));
        }
        let now = self.lab.open_count();
        if now > self.baseline {
            return Err(finding(
                step,
                "close: a user client leaked".into(),
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
        let until = Instant::now() + MATCH_WAIT;
        let back = self
            .armed(until + WAIT_GRACE, None, |lab| {
                replug_and_wait(lab, &before, until)
            })
            .map_err(|e| lab_stop("replug", e))?
            .map_err(|e| lab_stop("replug", e))?;
        self.printer = Some(back.after);
        match self.find_service() {
            Ok(s) => {
                self.service = Some(s);
                Ok(())
            }
            Err(e) => Err(finding(
                step,
                "replug: the dext did not match again".into(),
                format!("after the replug the dext did not match again: {e}"),
                "the dext's service registered".into(),
                "not registered".into(),
                None,
            )),
        }
    }
}

fn finding(
    step: u32,
    signature: String,
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
        signature,
    })
}
