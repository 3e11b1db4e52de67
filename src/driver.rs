//! The dext under test, as its driver file describes it: identity, personality, open types and the
//! selector table in the shape of `IOUserClientMethodDispatch` (reference §3).
//!
//! These are validated types; `scenario::load_driver` builds them from YAML. The sim backend reads the
//! `sim` behaviour of each selector; every other backend ignores it.

use crate::ioreturn::ReturnCode;
use crate::lab::Prop;
use crate::span::Span;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `kIOUserClientVariableStructureSize`.
pub const VARIABLE: u32 = 0xFFFF_FFFF;

/// One of the four count / size checks of a dispatch entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeCheck {
    Exact(u32),
    /// `kIOUserClientVariableStructureSize`: don't care.
    Variable,
}

impl SizeCheck {
    pub fn accepts(self, actual: u32) -> bool {
        match self {
            SizeCheck::Exact(n) => n == actual,
            SizeCheck::Variable => true,
        }
    }
}

/// `checkCompletionExists`: 1 must, 0 must not, 0xFFFFFFFF don't care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionCheck {
    Required,
    Forbidden,
    DontCare,
}

impl CompletionCheck {
    pub fn accepts(self, given: bool) -> bool {
        match self {
            CompletionCheck::Required => given,
            CompletionCheck::Forbidden => !given,
            CompletionCheck::DontCare => true,
        }
    }
}

/// One `IOUserClientMethodDispatch` entry's checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DispatchRule {
    pub completion: CompletionCheck,
    pub scalars_in: SizeCheck,
    pub struct_in: SizeCheck,
    pub scalars_out: SizeCheck,
    pub struct_out: SizeCheck,
}

/// What the simulated dext does when a call passes dispatch. Ignored by real backends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimBehaviour {
    /// Success, outputs zero-filled to the caller's capacities.
    Succeed,
    /// scalar out[i] = scalar in[i] + n (Apple sample `Scalar`, `CheckedScalar`).
    AddToScalars(u64),
    /// The struct input read as little-endian u64 fields, field i incremented by `adds[i]`, written back as the
    /// struct output (Apple sample `Struct`: foo + 1, bar + 10).
    AddToStructFields(Vec<u64>),
    /// Return this code and no output.
    Answer(ReturnCode),
    /// Ask the printer `ESC P STATUS`; scalar out[0] = the status number.
    PrinterStatus,
    /// Ask the printer `ESC P INFO <arg>`; struct out = the answer bytes (truncated / zero-padded to capacity).
    PrinterInfo(String),
    /// A bug planted on purpose, for proving the fuzzer finds it (docs/fuzz.md); otherwise like `Succeed`.
    Planted(PlantedBug),
}

/// Bugs a sim dext can carry so the fuzzer has something real to find. Each is a mistake seen in dexts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// The dext crashes when its struct input is exactly this long (an off-by-one at the out-of-line
    /// boundary: 4097 bytes arrive as a descriptor with a NULL inline pointer, reference §3).
    CrashOnStructIn(u32),
    /// The dext's dispatch entry says `kIOUserClientVariableStructureSize` for the struct input while the
    /// driver file (what the host was told) says an exact size: near misses reach the function.
    LooseStructIn,
    /// The dext never answers when scalar input 0 is all ones (a loop bounded by `n + 1`).
    HangOnAllOnes,
}

/// One selector of the dext's user client.
#[derive(Clone, Debug, PartialEq)]
pub struct Selector {
    pub id: u32,
    pub name: String,
    /// `None`: the dext handles this selector itself without a dispatch entry (Apple sample 0 and 1).
    pub rule: Option<DispatchRule>,
    /// `false`: dispatch entry whose `function` is NULL (answers kIOReturnNoCompletion).
    pub implemented: bool,
    pub sim: SimBehaviour,
    /// Codes the selector's function may answer to a call of a valid shape besides success (the driver
    /// file's `answers:`); the fuzzer flags any other.
    pub answers: Vec<ReturnCode>,
    pub span: Span,
}

/// Where the dext's personality matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provider {
    /// `IOProviderClass = IOUserResources`, `IOResourceMatch = IOKit` (Apple's sample).
    UserResources,
    /// `IOProviderClass = IOUSBHostInterface` on these vendor/product pairs.
    UsbInterface {
        devices: Vec<(u16, u16)>,
        interface: u8,
        configuration: u8,
    },
}

/// A service the dext publishes itself (`Create(this, "<key>", &nub)`), attached below its personality's
/// service. It is dext-backed: opening it runs the `NewUserClient` of *its* class (reference §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nub {
    /// Its `IOUserClass` (the kernel names it after this).
    pub user_class: String,
    /// Its `IOClass` (`IOUserService` unless the file says otherwise).
    pub io_class: String,
}

/// Which of the dext's C++ classes do what the open path depends on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DextClasses {
    /// The classes that override `NewUserClient`; empty means the personality's `user_class` alone.
    pub new_user_client: Vec<String>,
    /// Services the dext publishes below its personality's service.
    pub nubs: Vec<Nub>,
}

/// A driver file, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Driver {
    pub source: PathBuf,
    pub name: String,
    pub bundle_id: String,
    /// `IOUserClass` of the service (the kernel names the service after it).
    pub user_class: String,
    /// `IOClass` of the service (`IOUserService` or a family class).
    pub io_class: String,
    /// `IOUserServerName` (the bundle id unless the file says otherwise).
    pub server_name: String,
    pub provider: Provider,
    /// The service's `UserClientProperties`; `None` when the dext ships without (a classic bug).
    pub user_client_properties: Option<BTreeMap<String, Prop>>,
    /// Open types the dext's `NewUserClient` accepts; empty means any.
    pub open_types: Vec<u32>,
    /// What `NewUserClient` answers for any other type (the dext's choice, not the kernel's).
    pub rejected_type_answer: ReturnCode,
    /// The dext's own entitlements (`codesign -d --entitlements`).
    pub entitlements: BTreeMap<String, Prop>,
    /// Prefix of the dext's log lines, for log capture.
    pub log_prefix: Option<String>,
    /// How a Mac captures the dext's log: the `log stream` predicate and level (docs/logs.md).
    pub log: crate::logs::LogConfig,
    /// Which classes override `NewUserClient`, and the nubs the dext publishes.
    pub classes: DextClasses,
    pub selectors: Vec<Selector>,
}

impl Driver {
    pub fn selector(&self, id: u32) -> Option<&Selector> {
        self.selectors.iter().find(|s| s.id == id)
    }

    /// The text the dext's own log lines carry: its `log_prefix`, else its `IOUserClass`.
    pub fn log_prefix(&self) -> &str {
        self.log_prefix.as_deref().unwrap_or(&self.user_class)
    }

    /// Whether a dext-backed service of `class` answers an open with the developer's `NewUserClient`
    /// (else the base class answers kIOReturnError, reference §2 step 1).
    pub fn overrides_new_user_client(&self, class: &str) -> bool {
        if self.classes.new_user_client.is_empty() {
            class == self.user_class
        } else {
            self.classes.new_user_client.iter().any(|c| c == class)
        }
    }

    pub fn selector_by_name(&self, name: &str) -> Option<&Selector> {
        self.selectors.iter().find(|s| s.name == name)
    }
}
