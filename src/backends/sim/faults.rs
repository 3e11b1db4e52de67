//! The scenario's `sim:` faults, armed against the station: roles resolved to printers, `times` counted
//! down as faults fire. Owns only the bookkeeping; `SimLab` decides what a fired fault does.

use crate::ioreturn::ReturnCode;
use crate::scenario::{Fault, FaultKind};
use std::time::Duration;

/// What a call fault does to the call that fires it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallFault {
    Answer(ReturnCode),
    Hang,
    Crash {
        rematch_after: Duration,
    },
    /// The printer is pulled out during the call, which answers this code.
    Unplug(ReturnCode),
    /// The whole process aborts (SIGABRT).
    Abort,
}

#[derive(Clone, Debug)]
struct Armed {
    kind: FaultKind,
    /// The printer (station index) the fault's role resolved to, when it names one.
    printer: Option<usize>,
    left: Option<u32>,
}

impl Armed {
    /// Count one firing; false when the fault is used up.
    fn fire(&mut self) -> bool {
        match &mut self.left {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct FaultBook {
    armed: Vec<Armed>,
}

fn role_of(kind: &FaultKind) -> Option<&str> {
    match kind {
        FaultKind::OpenAnswers { role, .. } | FaultKind::OpenLabError { role, .. } => {
            role.as_deref()
        }
        FaultKind::Unplug { role, .. }
        | FaultKind::SlowMatch { role, .. }
        | FaultKind::Reenumerate { role, .. }
        | FaultKind::NeverMatch { role } => Some(role),
        FaultKind::CallAnswers { .. }
        | FaultKind::CallHangs { .. }
        | FaultKind::DextCrash { .. }
        | FaultKind::UnplugMidCall { .. }
        | FaultKind::Abort { .. }
        | FaultKind::RpcFails { .. } => None,
    }
}

impl FaultBook {
    /// Arm `faults`, resolving each role to a station printer with `resolve`.
    pub fn arm<E>(
        faults: &[Fault],
        mut resolve: impl FnMut(&str) -> Result<usize, E>,
    ) -> Result<Self, E> {
        let mut armed = Vec::new();
        for f in faults {
            let printer = match role_of(&f.kind) {
                Some(role) => Some(resolve(role)?),
                None => None,
            };
            armed.push(Armed {
                kind: f.kind.clone(),
                printer,
                left: f.times,
            });
        }
        Ok(FaultBook { armed })
    }

    /// An `OpenAnswers` fault for an open on `printer`'s entries (or any), fired.
    pub fn open_answer(&mut self, printer: Option<usize>) -> Option<ReturnCode> {
        self.armed.iter_mut().find_map(|a| {
            let code = match &a.kind {
                FaultKind::OpenAnswers { role, code } if role.is_none() || a.printer == printer => {
                    *code
                }
                _ => return None,
            };
            a.fire().then_some(code)
        })
    }

    /// An `OpenLabError` fault for an open on `printer`'s entries (or any), fired. The book holds only the
    /// faults of this attempt (see `SimLab::for_attempt`).
    pub fn open_lab_error(&mut self, printer: Option<usize>) -> bool {
        self.armed.iter_mut().any(|a| {
            matches!(&a.kind, FaultKind::OpenLabError { role, .. } if role.is_none() || a.printer == printer)
                && a.fire()
        })
    }

    /// The first call fault on `selector` that still fires.
    pub fn call_fault(&mut self, selector: u32) -> Option<CallFault> {
        self.armed.iter_mut().find_map(|a| {
            let fault = match a.kind {
                FaultKind::CallAnswers { selector: s, code } if s == selector => {
                    CallFault::Answer(code)
                }
                FaultKind::CallHangs { selector: s } if s == selector => CallFault::Hang,
                FaultKind::Abort { selector: s } if s == selector => CallFault::Abort,
                FaultKind::DextCrash {
                    selector: s,
                    rematch_after,
                } if s == selector => CallFault::Crash { rematch_after },
                FaultKind::UnplugMidCall { selector: s, code } if s == selector => {
                    CallFault::Unplug(code)
                }
                _ => return None,
            };
            a.fire().then_some(fault)
        })
    }

    /// An `RpcFails` fault for the next RPC into the dext, fired.
    pub fn rpc_failure(&mut self) -> Option<ReturnCode> {
        self.armed.iter_mut().find_map(|a| {
            let code = match a.kind {
                FaultKind::RpcFails { code } => code,
                _ => return None,
            };
            a.fire().then_some(code)
        })
    }

    /// Printers to unplug, and when (after lab creation).
    pub fn unplugs(&self) -> Vec<(usize, Duration)> {
        self.armed
            .iter()
            .filter_map(|a| match a.kind {
                FaultKind::Unplug { after, .. } => a.printer.map(|p| (p, after)),
                _ => None,
            })
            .collect()
    }

    /// Printers to re-enumerate on another port, and when (after lab creation).
    pub fn reenumerations(&self) -> Vec<(usize, Duration)> {
        self.armed
            .iter()
            .filter_map(|a| match a.kind {
                FaultKind::Reenumerate { after, .. } => a.printer.map(|p| (p, after)),
                _ => None,
            })
            .collect()
    }

    /// True when the dext must never match `printer` (a `NeverMatch` fault).
    pub fn never_match(&self, printer: usize) -> bool {
        self.armed
            .iter()
            .any(|a| matches!(a.kind, FaultKind::NeverMatch { .. }) && a.printer == Some(printer))
    }

    /// A `SlowMatch` delay for the next match on `printer`, fired.
    pub fn slow_match(&mut self, printer: usize) -> Option<Duration> {
        self.armed.iter_mut().find_map(|a| {
            let delay = match a.kind {
                FaultKind::SlowMatch { delay, .. } if a.printer == Some(printer) => delay,
                _ => return None,
            };
            a.fire().then_some(delay)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioreturn::code;
    use crate::span::Span;

    fn fault(kind: FaultKind, times: Option<u32>) -> Fault {
        Fault {
            span: Span::builtin("test"),
            kind,
            times,
        }
    }

    #[test]
    fn times_counts_down_and_roles_scope_open_faults() {
        let busy = ReturnCode(code::kIOReturnBusy);
        let mut book = FaultBook::arm(
            &[
                fault(
                    FaultKind::OpenAnswers {
                        role: Some("p".into()),
                        code: busy,
                    },
                    Some(1),
                ),
                fault(
                    FaultKind::CallAnswers {
                        selector: 3,
                        code: busy,
                    },
                    Some(2),
                ),
            ],
            |_| Ok::<_, ()>(4),
        )
        .unwrap();
        assert_eq!(book.open_answer(Some(5)), None);
        assert_eq!(book.open_answer(Some(4)), Some(busy));
        assert_eq!(book.open_answer(Some(4)), None);
        assert_eq!(book.call_fault(3), Some(CallFault::Answer(busy)));
        assert_eq!(book.call_fault(2), None);
        assert_eq!(book.call_fault(3), Some(CallFault::Answer(busy)));
        assert_eq!(book.call_fault(3), None);
    }
}
