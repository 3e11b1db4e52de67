//! Driver files (`scenarios/drivers/*.yaml`): their raw serde shape and the check into a validated
//! [`Driver`]. Owns the driver-file keys of docs/format.md; knows nothing of scenarios.

use super::error::Diag;
use super::values::{self, PropMap, RawCodes, RawInt, RawUserClientProps};
use crate::driver::{
    CompletionCheck, DispatchRule, Driver, PlantedBug, Provider, Selector, SimBehaviour, SizeCheck,
};
use crate::ioreturn::{ReturnCode, code};
use serde::Deserialize;
use serde::de::{Deserializer, Visitor};
use serde_saphyr::Spanned;
use std::fmt;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDriver {
    pub name: Spanned<String>,
    pub bundle_id: Spanned<String>,
    pub user_class: Spanned<String>,
    pub io_class: Option<Spanned<String>>,
    pub server_name: Option<Spanned<String>>,
    pub provider: RawProvider,
    pub user_client_properties: Option<RawUserClientProps>,
    pub open_types: Option<Vec<Spanned<RawInt>>>,
    pub rejected_type_answer: Option<Spanned<RawCodes>>,
    pub entitlements: Option<PropMap>,
    pub log_prefix: Option<Spanned<String>>,
    pub log: Option<RawLog>,
    /// The classes that override `NewUserClient` (default: `user_class`).
    pub new_user_client_classes: Option<Spanned<Vec<Spanned<String>>>>,
    /// Services the dext publishes below its service.
    pub nubs: Option<Vec<Spanned<RawNub>>>,
    pub selectors: Vec<Spanned<RawSelector>>,
}

/// `nubs: [{ user_class: DNPStatusNub, io_class: IOUserService }]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNub {
    pub user_class: Spanned<String>,
    pub io_class: Option<Spanned<String>>,
}

/// A name the kernel, a log line or a terminal will show (a bundle id, a class, a selector name): not
/// empty, and no control character (a newline in a bundle id never equals the service's; issue 18).
fn checked_name(diag: &mut Diag, what: &str, v: &Spanned<String>) -> Option<String> {
    if v.value.trim().is_empty() {
        diag.error(v.referenced, format!("`{what}` is empty: expected a name"));
        return None;
    }
    if let Some(c) = v.value.chars().find(|c| c.is_control()) {
        diag.error(
            v.referenced,
            format!(
                "`{what}` {:?} contains the control character {:?}: expected one name on one line",
                v.value, c
            ),
        );
        return None;
    }
    Some(v.value.clone())
}

fn checked_names(
    diag: &mut Diag,
    what: &str,
    list: Option<&Vec<Spanned<String>>>,
) -> Option<Vec<String>> {
    let before = diag.errors.len();
    let out: Vec<String> = list
        .into_iter()
        .flatten()
        .filter_map(|v| checked_name(diag, what, v))
        .collect();
    (diag.errors.len() == before).then_some(out)
}

/// `log: { predicate: ..., level: ... }`: how a Mac captures the dext's log (docs/logs.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub predicate: Option<Spanned<String>>,
    pub level: Option<Spanned<String>>,
}

fn log_config(diag: &mut Diag, raw: Option<RawLog>) -> Option<crate::logs::LogConfig> {
    let Some(raw) = raw else {
        return Some(crate::logs::LogConfig::default());
    };
    use crate::logs::LogLevel;
    let level = match &raw.level {
        None => Some(LogLevel::default()),
        Some(l) => match LogLevel::parse(&l.value) {
            Some(level) => Some(level),
            None => {
                diag.error_hint(
                    l.referenced,
                    format!(
                        "`{}` is not a log level: expected one of {}",
                        l.value,
                        LogLevel::NAMES.join(", ")
                    ),
                    crate::names::nearest(&l.value, LogLevel::NAMES.iter().copied()),
                );
                None
            }
        },
    };
    let predicate = match raw.predicate {
        Some(p) if p.value.trim().is_empty() => {
            diag.error(
                p.referenced,
                "`predicate` is empty: leave it out for the built-in one (docs/logs.md)",
            );
            None
        }
        Some(p) => Some(Some(p.value)),
        None => Some(None),
    };
    Some(crate::logs::LogConfig {
        predicate: predicate?,
        level: level?,
    })
}

// Raw parse trees live only while one file loads; boxing variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawProvider {
    UserResources,
    UsbInterface(RawUsbInterface),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUsbInterface {
    pub devices: Vec<Spanned<Vec<Spanned<RawInt>>>>,
    pub interface: Spanned<RawInt>,
    pub configuration: Spanned<RawInt>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSelector {
    pub id: Spanned<RawInt>,
    pub name: Spanned<String>,
    pub checked: Option<bool>,
    pub completion: Option<RawCompletion>,
    pub scalars_in: Option<Spanned<RawSize>>,
    pub struct_in: Option<Spanned<RawSize>>,
    pub scalars_out: Option<Spanned<RawSize>>,
    pub struct_out: Option<Spanned<RawSize>>,
    pub implemented: Option<bool>,
    pub sim: Option<Spanned<RawSimBehaviour>>,
    pub answers: Option<Spanned<RawCodes>>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawCompletion {
    Required,
    Forbidden,
    Any,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawSimBehaviour {
    Succeed,
    Add(Spanned<RawInt>),
    StructAdd(Vec<Spanned<RawInt>>),
    Answer(Spanned<RawCodes>),
    PrinterStatus,
    PrinterInfo(String),
    Planted(RawPlanted),
}

/// `planted: { crash_on_struct_in: 4097 }`, `planted: loose_struct_in`, `planted: hang_on_all_ones`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawPlanted {
    CrashOnStructIn(Spanned<RawInt>),
    LooseStructIn,
    HangOnAllOnes,
}

/// A dispatch count or size: a number, or `variable`.
#[derive(Debug)]
pub enum RawSize {
    Count(RawInt),
    Variable,
    Other(String),
}

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count or `variable`")
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawSize, E> {
                Ok(RawSize::Count(RawInt::Value(v.into())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawSize, E> {
                Ok(RawSize::Count(RawInt::Value(v.into())))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawSize, E> {
                Ok(if v == "variable" {
                    RawSize::Variable
                } else {
                    RawSize::Other(v.to_string())
                })
            }
        }
        d.deserialize_any(V)
    }
}

fn size_of(diag: &mut Diag, field: &str, v: &Option<Spanned<RawSize>>) -> Option<SizeCheck> {
    let Some(v) = v else {
        // An entry that leaves a check out is zero-initialised in C: exactly 0.
        return Some(SizeCheck::Exact(0));
    };
    match &v.value {
        RawSize::Variable => Some(SizeCheck::Variable),
        RawSize::Count(n) => {
            let spanned = Spanned {
                value: n.clone(),
                referenced: v.referenced,
                defined: v.defined,
            };
            // 0xFFFFFFFF is kIOUserClientVariableStructureSize; say `variable` instead.
            values::int_in(diag, field, &spanned, 0, u32::MAX as i128 - 1, "a count")
                .map(|n| SizeCheck::Exact(n as u32))
        }
        RawSize::Other(t) => {
            diag.error(
                v.referenced,
                format!("`{field}` is `{t}`: expected a count or `variable`"),
            );
            None
        }
    }
}

/// Check a parsed driver file into a [`Driver`]; errors go to `diag`.
pub fn validate(diag: &mut Diag, source: &Path, raw: RawDriver) -> Option<Driver> {
    let before = diag.errors.len();
    let log = log_config(diag, raw.log);
    let bundle_id = checked_name(diag, "bundle_id", &raw.bundle_id);
    let user_class = checked_name(diag, "user_class", &raw.user_class);
    let io_class = raw
        .io_class
        .as_ref()
        .map(|c| checked_name(diag, "io_class", c));
    let server_name = raw
        .server_name
        .as_ref()
        .map(|c| checked_name(diag, "server_name", c));
    let log_prefix = raw
        .log_prefix
        .as_ref()
        .map(|c| checked_name(diag, "log_prefix", c));
    let name = checked_name(diag, "name", &raw.name);
    let new_user_client = checked_names(
        diag,
        "new_user_client_classes",
        raw.new_user_client_classes.as_ref().map(|l| &l.value),
    );
    if let Some(list) = &raw.new_user_client_classes
        && list.value.is_empty()
    {
        diag.error(
            list.referenced,
            "`new_user_client_classes` is empty: leave it out for `user_class`, or name the class whose NewUserClient is overridden",
        );
    }
    let mut nubs = Vec::new();
    for n in raw.nubs.iter().flatten() {
        let user_class = checked_name(diag, "nubs.user_class", &n.value.user_class);
        let io_class = match &n.value.io_class {
            Some(c) => checked_name(diag, "nubs.io_class", c),
            None => Some("IOUserService".to_string()),
        };
        if let (Some(user_class), Some(io_class)) = (user_class, io_class) {
            if user_class == raw.user_class.value {
                diag.error(
                    n.value.user_class.referenced,
                    format!("nub `{user_class}` has the personality's own `user_class`: a nub is another service"),
                );
            }
            nubs.push(crate::driver::Nub {
                user_class,
                io_class,
            });
        }
    }
    let provider = match raw.provider {
        RawProvider::UserResources => Some(Provider::UserResources),
        RawProvider::UsbInterface(u) => {
            let mut devices = Vec::new();
            for pair in &u.devices {
                match pair.value.as_slice() {
                    [v, p] => {
                        if let (Some(v), Some(p)) = (
                            values::u16_of(diag, "vendor id", v),
                            values::u16_of(diag, "product id", p),
                        ) {
                            devices.push((v, p));
                        }
                    }
                    _ => diag.error(
                        pair.referenced,
                        "each device is a [vendor, product] pair, e.g. [0x1452, 0x8B01]",
                    ),
                }
            }
            if u.devices.is_empty() {
                diag.error(
                    u.interface.referenced,
                    "`devices` is empty: list the [vendor, product] pairs the dext matches",
                );
            }
            let interface = values::u8_of(diag, "interface", &u.interface);
            let configuration = values::u8_of(diag, "configuration", &u.configuration);
            match (interface, configuration) {
                (Some(interface), Some(configuration)) => Some(Provider::UsbInterface {
                    devices,
                    interface,
                    configuration,
                }),
                _ => None,
            }
        }
    };
    let open_types: Vec<u32> = raw
        .open_types
        .iter()
        .flatten()
        .filter_map(|t| values::u32_of(diag, "open_types", t))
        .collect();
    let rejected_type_answer = match &raw.rejected_type_answer {
        Some(c) => match values::codes_of(diag, c).as_deref() {
            Some([one]) => Some(*one),
            Some(_) => {
                diag.error(
                    c.referenced,
                    "`rejected_type_answer` is one code, not a list",
                );
                None
            }
            None => None,
        },
        None => Some(ReturnCode(code::kIOReturnBadArgument)),
    };

    let mut selectors: Vec<Selector> = Vec::new();
    for s in &raw.selectors {
        let Some(sel) = selector(diag, &s.value) else {
            continue;
        };
        let at = s.value.id.referenced;
        if let Some(prev) = selectors.iter().find(|p| p.id == sel.id) {
            diag.error(
                at,
                format!(
                    "selector id {} is already used by `{}` at {}",
                    sel.id, prev.name, prev.span
                ),
            );
        } else if let Some(prev) = selectors.iter().find(|p| p.name == sel.name) {
            diag.error(
                s.value.name.referenced,
                format!(
                    "selector name `{}` is already used at {}",
                    sel.name, prev.span
                ),
            );
        } else {
            selectors.push(Selector {
                span: diag.span(s.referenced),
                ..sel
            });
        }
    }

    if diag.errors.len() != before {
        return None;
    }
    let bundle_id = bundle_id?;
    Some(Driver {
        source: source.to_path_buf(),
        server_name: server_name.flatten().unwrap_or_else(|| bundle_id.clone()),
        name: name?,
        bundle_id,
        user_class: user_class?,
        io_class: io_class
            .flatten()
            .unwrap_or_else(|| "IOUserService".to_string()),
        provider: provider?,
        user_client_properties: match raw.user_client_properties {
            Some(u) => u.into_model(),
            None => None,
        },
        open_types,
        rejected_type_answer: rejected_type_answer?,
        entitlements: raw.entitlements.map(|e| e.0).unwrap_or_default(),
        log_prefix: log_prefix.flatten(),
        log: log?,
        classes: crate::driver::DextClasses {
            new_user_client: new_user_client?,
            nubs,
        },
        selectors,
    })
}

fn selector(diag: &mut Diag, s: &RawSelector) -> Option<Selector> {
    let before = diag.errors.len();
    let id = values::u32_of(diag, "id", &s.id);
    checked_name(diag, "name", &s.name);
    let checked = s.checked.unwrap_or(true);
    let rule = if checked {
        let completion = match s.completion {
            Some(RawCompletion::Required) => Some(CompletionCheck::Required),
            Some(RawCompletion::Forbidden) => Some(CompletionCheck::Forbidden),
            Some(RawCompletion::Any) => Some(CompletionCheck::DontCare),
            None => {
                diag.error(
                    s.name.referenced,
                    format!(
                        "selector `{}` has a dispatch entry but no `completion`: say required, forbidden or any (or `checked: false`)",
                        s.name.value
                    ),
                );
                None
            }
        };
        let rule = (
            completion,
            size_of(diag, "scalars_in", &s.scalars_in),
            size_of(diag, "struct_in", &s.struct_in),
            size_of(diag, "scalars_out", &s.scalars_out),
            size_of(diag, "struct_out", &s.struct_out),
        );
        match rule {
            (
                Some(completion),
                Some(scalars_in),
                Some(struct_in),
                Some(scalars_out),
                Some(struct_out),
            ) => Some(DispatchRule {
                completion,
                scalars_in,
                struct_in,
                scalars_out,
                struct_out,
            }),
            _ => None,
        }
    } else {
        let given = [
            ("completion", s.completion.is_some()),
            ("scalars_in", s.scalars_in.is_some()),
            ("struct_in", s.struct_in.is_some()),
            ("scalars_out", s.scalars_out.is_some()),
            ("struct_out", s.struct_out.is_some()),
            ("implemented", s.implemented.is_some()),
        ];
        for (key, _) in given.iter().filter(|(_, g)| *g) {
            diag.error(
                s.name.referenced,
                format!(
                    "selector `{}` is `checked: false` (no dispatch entry), so `{key}` has no meaning: remove it",
                    s.name.value
                ),
            );
        }
        None
    };
    let sim = match &s.sim {
        None => Some(SimBehaviour::Succeed),
        Some(b) => sim_behaviour(diag, b),
    };
    let answers = match &s.answers {
        None => Some(Vec::new()),
        Some(c) => values::codes_of(diag, c),
    };
    if diag.errors.len() != before {
        return None;
    }
    Some(Selector {
        id: id?,
        name: s.name.value.clone(),
        rule,
        implemented: s.implemented.unwrap_or(true),
        sim: sim?,
        answers: answers?,
        span: diag.span(s.id.referenced),
    })
}

fn sim_behaviour(diag: &mut Diag, b: &Spanned<RawSimBehaviour>) -> Option<SimBehaviour> {
    Some(match &b.value {
        RawSimBehaviour::Succeed => SimBehaviour::Succeed,
        RawSimBehaviour::Add(n) => SimBehaviour::AddToScalars(values::u64_of(diag, "add", n)?),
        RawSimBehaviour::StructAdd(list) => {
            let before = diag.errors.len();
            let adds: Vec<u64> = list
                .iter()
                .filter_map(|n| values::u64_of(diag, "struct_add", n))
                .collect();
            if diag.errors.len() != before {
                return None;
            }
            SimBehaviour::AddToStructFields(adds)
        }
        RawSimBehaviour::Answer(c) => match values::codes_of(diag, c)?.as_slice() {
            [one] => SimBehaviour::Answer(*one),
            _ => {
                diag.error(c.referenced, "`answer` is one code, not a list");
                return None;
            }
        },
        RawSimBehaviour::PrinterStatus => SimBehaviour::PrinterStatus,
        RawSimBehaviour::PrinterInfo(what) => SimBehaviour::PrinterInfo(what.clone()),
        RawSimBehaviour::Planted(p) => SimBehaviour::Planted(match p {
            RawPlanted::CrashOnStructIn(n) => {
                PlantedBug::CrashOnStructIn(values::u32_of(diag, "crash_on_struct_in", n)?)
            }
            RawPlanted::LooseStructIn => PlantedBug::LooseStructIn,
            RawPlanted::HangOnAllOnes => PlantedBug::HangOnAllOnes,
        }),
    })
}
