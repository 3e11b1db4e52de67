//! A scenario after loading and validation: every name resolved (roles, connections, selectors), every
//! number in range, every step carrying the span it came from. The engine runs these; it never sees YAML.

use crate::driver::Driver;
use crate::ioreturn::ReturnCode;
use crate::lab::{CallArgs, OpenTarget, Prop, WaitFor};
use crate::span::Span;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_STEP_DEADLINE: Duration = Duration::from_secs(10);
pub const DEFAULT_SCENARIO_DEADLINE: Duration = Duration::from_secs(120);
/// A `replug` step's deadline is never shorter than this, whatever `step_deadline` says: on a Mac a reset
/// re-enumerates inside libusb for up to 10 s (`darwin_usb.c`, `DARWIN_REENUMERATE_TIMEOUT_US`) and the lab
/// then confirms the return in the registry (`usb::darwin::RESET_REPLUG_WAIT`, 11 s), so a 10 s step would
/// fail a replug that is merely slow.
pub const REPLUG_STEP_MIN_DEADLINE: Duration = Duration::from_secs(15);

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub about: String,
    pub tags: Vec<String>,
    pub source: PathBuf,
    pub span: Span,
    pub driver: Arc<Driver>,
    pub printers: Vec<Role>,
    /// The whole scenario must finish within this.
    pub deadline: Duration,
    /// Default deadline of each step that has no `within` of its own.
    pub step_deadline: Duration,
    pub sim: SimConfig,
    pub steps: Vec<Step>,
}

/// A printer role: which printer of the lab a scenario means. Every given field must match.
#[derive(Clone, Debug, PartialEq)]
pub struct Role {
    pub name: String,
    pub span: Span,
    pub model: Option<String>,
    pub vendor: Option<u16>,
    pub product: Option<u16>,
    pub serial: Option<String>,
    /// A `locationID`.
    pub location: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct Step {
    pub span: Span,
    /// This step's deadline (its `within`, else the scenario's step deadline).
    pub deadline: Duration,
    pub kind: StepKind,
    /// Log lines this step expects to see (or never to see) once its own checks passed.
    pub logs: Vec<LogExpect>,
}

/// `expect_log` / `expect_no_log` on a step.
#[derive(Clone, Debug, PartialEq)]
pub struct LogExpect {
    pub span: Span,
    /// The text a line must contain.
    pub contains: String,
    /// `true`: such a line must appear; `false`: none may.
    pub present: bool,
    /// How long after the step's own work to wait for it (or for it not to come). `None`: for a line that
    /// must appear, [`DEFAULT_LOG_WAIT`]; for one that must not, the lab's log latency.
    pub within: Option<Duration>,
}

/// How long a step waits, by default, for a log line it expects.
pub const DEFAULT_LOG_WAIT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
pub enum StepKind {
    /// Power-cycle / reset the role's printer.
    Replug {
        role: String,
    },
    /// Wait for the dext to match (or its service to be gone) on a printer, or on the driver's resource
    /// provider when `role` is `None`.
    Await {
        role: Option<String>,
        state: WaitFor,
    },
    /// Compare the libusb view of the printer with its IORegistry entries.
    CrossCheck {
        role: String,
        /// Field names not compared.
        skip: Vec<String>,
        /// Field names that must mismatch (a known field bug).
        expect_mismatch: Vec<String>,
    },
    Open {
        role: Option<String>,
        target: OpenTarget,
        open_type: u32,
        /// The connection's name for later `call` / `close`.
        name: String,
        expect: Expect,
    },
    Call {
        connection: String,
        selector_name: String,
        args: CallArgs,
        expect: Expect,
    },
    Close {
        connection: String,
        expect: Expect,
    },
    Repeat {
        times: u32,
        steps: Vec<Step>,
    },
    Sleep(Duration),
    /// Fuzz the dext's user client (docs/fuzz.md); a finding fails the step with the minimal case.
    Fuzz(FuzzStep),
    /// A marker line (`log: "before the replug storm"`): the step passes with it as its detail, so it
    /// stands in the console with `-v` and in the journal between the steps around it.
    Log(String),
}

/// A `fuzz` step, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct FuzzStep {
    /// Calls only, on this open connection.
    pub connection: Option<String>,
    /// Full sequences (open, call, close, replug) against this role's printer.
    pub role: Option<String>,
    /// Selector ids; empty: all.
    pub selectors: Vec<u32>,
    pub cases: u32,
    pub seed: Option<u64>,
    pub budget: Option<Duration>,
    pub durability: super::Durability,
    /// Each operation's deadline.
    pub within: Duration,
}

/// What a step must produce. `codes` is any-of; an empty `codes` means success.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expect {
    pub codes: Vec<ReturnCode>,
    pub scalars: Option<Vec<u64>>,
    pub struct_out: Option<Vec<u8>>,
    /// The call must return within this (measured by the lab), a softer bound than the deadline.
    pub within: Option<Duration>,
}

impl Expect {
    pub fn allows(&self, code: ReturnCode) -> bool {
        if self.codes.is_empty() {
            code.is_success()
        } else {
            self.codes.contains(&code)
        }
    }
}

/// The `sim:` block: used by the sim backend only.
#[derive(Clone, Debug, Default)]
pub struct SimConfig {
    pub faults: Vec<Fault>,
    /// The host process's entitlements. `None`: a host whose `userclient-access` array names the driver's
    /// bundle id (the correctly signed host).
    pub host_entitlements: Option<BTreeMap<String, Prop>>,
    /// Overrides the driver file's dext entitlements.
    pub dext_entitlements: Option<BTreeMap<String, Prop>>,
    /// `Some(None)`: the service has no `UserClientProperties`; `Some(Some(d))`: these instead of the driver's.
    pub user_client_properties: Option<Option<BTreeMap<String, Prop>>>,
    /// Boot-arg `dk` bit 0x8000: skip the userclient-access check (reference §2).
    pub skip_entitlement_check: bool,
    /// What opening the `IOUSBHostInterface` or `IOUSBHostDevice` answers (Apple's closed USB user clients:
    /// UNCONFIRMED). `None`: the sim's documented guess, [`USB_HOST_OPEN_GUESS`].
    pub usb_host_open: Option<ReturnCode>,
    pub timing: SimTiming,
}

/// The sim's guess for opening an `IOUSBHostInterface` / `IOUSBHostDevice`: success with Apple's own USB
/// user client (real registries show `AppleUSBHostInterfaceUserClient` instances), not the dext's.
/// UNCONFIRMED (IOUSBHostFamily is closed source); a scenario sets `sim: usb_host_open` to model another.
pub const USB_HOST_OPEN_GUESS: u32 = crate::ioreturn::code::kIOReturnSuccess;

/// How long the simulated lab takes for things that take time on real hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimTiming {
    /// A replugged printer stays away this long.
    pub replug_off: Duration,
    /// From arrival on the bus to the dext's service being registered.
    pub match_delay: Duration,
}

impl Default for SimTiming {
    fn default() -> Self {
        SimTiming {
            replug_off: Duration::from_millis(30),
            match_delay: Duration::from_millis(10),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub span: Span,
    pub kind: FaultKind,
    /// How many times the fault fires; `None` = every time.
    pub times: Option<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// `IOServiceOpen` answers this code (on this role's printer, or any).
    OpenAnswers {
        role: Option<String>,
        code: ReturnCode,
    },
    /// A call of this selector answers this code.
    CallAnswers { selector: u32, code: ReturnCode },
    /// A call of this selector never returns (until the connection is abandoned).
    CallHangs { selector: u32 },
    /// The dext crashes during a call of this selector: that call and every later call on its connections
    /// answer MACH_SEND_INVALID_DEST, the service and server terminate, and the dext matches again after
    /// `rematch_after`.
    DextCrash {
        selector: u32,
        rematch_after: Duration,
    },
    /// The printer is unplugged this long after the scenario starts (departure from both views) and stays away.
    Unplug { role: String, after: Duration },
    /// The dext takes this long to match this role's printer (after arrival or at start).
    SlowMatch { role: String, delay: Duration },
    /// The printer is pulled out during a call of this selector: that call answers `code`
    /// (kIOReturnNotAttached unless the scenario says kIOReturnNoDevice or another), then the printer
    /// leaves both views for good and its connections answer kIOReturnNotAttached.
    UnplugMidCall { selector: u32, code: ReturnCode },
    /// This long after the start the role's printer re-enumerates: it leaves and comes back on another
    /// hub port (a new locationID) at a new USB address, as after a bus reset or a cable moved to
    /// another port of the same hub.
    Reenumerate { role: String, after: Duration },
    /// The dext never matches this role's printer (a personality that does not fit, a dext that is not
    /// activated): `await: matched` fails at its deadline.
    NeverMatch { role: String },
    /// In the first `attempts` attempts of the scenario (a run and its `--retries`), opening a user client
    /// on this role's printer (or any) fails as the lab's fault, as a hub dropping the printer would: an
    /// infrastructure failure that a retry gets past.
    OpenLabError { role: Option<String>, attempts: u32 },
    /// A call of this selector aborts the whole dexthil process (`std::process::abort`, SIGABRT), as a
    /// crash in the host-side FFI would: for testing `--isolate`. Never use it without `--isolate` unless
    /// the point is to see the run die.
    Abort { selector: u32 },
    /// Every RPC into the dext (`_NewUserClient` on open, `ExternalMethod` on call) fails as
    /// `IOUserServer::rpc` can fail: kIOReturnOffline (server inactive, no root queue), kIOReturnNotReady
    /// (no send port) or MIG_SERVER_DIED (a send-once notification). `code` is one of those three.
    RpcFails { code: ReturnCode },
}

impl Role {
    /// True when every field the role gives matches the device.
    pub fn matches(&self, v: &crate::lab::UsbView) -> bool {
        let model_ok = self.model.as_deref().is_none_or(|name| {
            crate::printer::catalog::find(name)
                .is_some_and(|m| m.vendor == v.vendor_id && m.product == v.product_id)
        });
        let location_ok = self.location.is_none_or(|loc| {
            crate::usb::location::encode(v.bus, &v.port_path).is_ok_and(|l| l == loc)
        });
        model_ok
            && location_ok
            && self.vendor.is_none_or(|x| x == v.vendor_id)
            && self.product.is_none_or(|x| x == v.product_id)
            && self
                .serial
                .as_deref()
                .is_none_or(|s| v.serial.value().is_some_and(|have| have == s))
    }

    /// The first device (in bus / port order) the role matches.
    pub fn resolve(
        &self,
        devices: &[crate::lab::UsbView],
    ) -> Result<crate::lab::UsbView, crate::lab::LabError> {
        let mut found: Vec<&crate::lab::UsbView> =
            devices.iter().filter(|v| self.matches(v)).collect();
        found.sort_by(|a, b| (a.bus, &a.port_path).cmp(&(b.bus, &b.port_path)));
        found
            .first()
            .map(|v| (*v).clone())
            .ok_or_else(|| crate::lab::LabError::NoPrinter {
                role: self.name.clone(),
                detail: format!(
                    "wanted {}; the lab has {}",
                    self.describe(),
                    crate::lab::bus_text(devices)
                ),
            })
    }

    /// `model DS620, serial X` for messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = &self.model {
            parts.push(format!("model {m}"));
        }
        if let Some(v) = self.vendor {
            parts.push(format!("vendor 0x{v:04x}"));
        }
        if let Some(p) = self.product {
            parts.push(format!("product 0x{p:04x}"));
        }
        if let Some(s) = &self.serial {
            parts.push(format!("serial {s}"));
        }
        if let Some(l) = self.location {
            parts.push(format!("location 0x{l:08x}"));
        }
        if parts.is_empty() {
            "any printer".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_replug_step_outlasts_the_reset_wait() {
        // A slow reset is not a failed step: the step waits longer than the lab confirms a reset's return.
        assert!(super::REPLUG_STEP_MIN_DEADLINE > crate::usb::darwin::RESET_REPLUG_WAIT);
    }
}
