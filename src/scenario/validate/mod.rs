//! Scenario raw → model: resolves roles, connection names (in step order, through `repeat` bodies) and
//! selector names against the driver file, range-checks every number, and fills defaults (deadlines,
//! output capacities from the selector's dispatch rule). Every problem is pushed to the file's [`Diag`];
//! validation goes on after an error so one run reports them all.

mod fuzz;
mod sim;

use super::error::{Diag, nearest_owned};
use super::model::*;
use super::raw::*;
use super::values::{self, MAX_SCALARS, MAX_STRUCT, RawSelectorRef};
use crate::driver::{Driver, Provider, SizeCheck};
use crate::lab::{CallArgs, OpenTarget};
use crate::span::Span;
use serde_saphyr::{Location, Spanned};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Fields a cross-check compares, by the names a scenario uses in `skip` / `expect_mismatch` (the one list
/// lives with the rules; `N` is an interface number).
pub const CROSS_CHECK_FIELDS: &[&str] = crate::crosscheck::FIELDS;
pub const MAX_REPEAT: i128 = 100_000;

/// What a connection name stands for at a point of the step list.
#[derive(Clone, Debug, PartialEq)]
enum Conn {
    Open(Span),
    Closed(Span),
    /// Its open expects failure only, so it never yields a connection.
    NeverOpened(Span),
}

type Conns = BTreeMap<String, Conn>;

struct Ctx<'a> {
    diag: Diag,
    driver: &'a Driver,
    roles: Vec<String>,
    step_deadline: Duration,
    scenario_deadline: Duration,
}

/// Validate one parsed scenario against its driver. `None` when anything was wrong (see `diag`).
pub fn scenario(
    diag: Diag,
    source: &Path,
    raw: Spanned<RawScenario>,
    driver: Arc<Driver>,
    default_name: &str,
) -> (Diag, Option<Scenario>) {
    let mut diag = diag;
    let span = diag.span(raw.referenced);
    let raw = raw.value;
    let deadline = raw
        .deadline
        .as_ref()
        .and_then(|d| values::deadline_of(&mut diag, "deadline", d))
        .unwrap_or(DEFAULT_SCENARIO_DEADLINE);
    let step_deadline = raw
        .step_deadline
        .as_ref()
        .and_then(|d| values::deadline_of(&mut diag, "step_deadline", d))
        .unwrap_or(DEFAULT_STEP_DEADLINE);
    let name = match &raw.name {
        Some(n) if n.value.trim().is_empty() => {
            diag.error(n.referenced, "`name` is empty: give the scenario a name");
            String::new()
        }
        Some(n) => {
            refuse_control_chars(&mut diag, n.referenced, "`name`", &n.value);
            n.value.clone()
        }
        None => {
            refuse_control_chars(
                &mut diag,
                raw.driver.referenced,
                "the file name (the scenario's default name)",
                default_name,
            );
            default_name.to_string()
        }
    };
    for t in raw.tags.iter().flatten() {
        refuse_control_chars(&mut diag, raw.driver.referenced, "a tag", t);
    }

    let printers: Vec<Role> = raw
        .printers
        .iter()
        .flat_map(|m| m.0.iter())
        .filter_map(|(name, r)| role(&mut diag, name, r))
        .collect();
    let mut ctx = Ctx {
        diag,
        driver: &driver,
        roles: printers.iter().map(|r| r.name.clone()).collect(),
        step_deadline,
        scenario_deadline: deadline,
    };
    let sim = raw.sim.map(|s| ctx.sim(s)).unwrap_or_default();
    if raw.steps.is_empty() {
        ctx.diag.error(
            raw.driver.referenced,
            "`steps` is empty: a scenario needs at least one step",
        );
    }
    let steps = ctx.steps(&raw.steps, &mut Conns::new());
    let diag = ctx.diag;
    if !diag.errors.is_empty() {
        return (diag, None);
    }
    let scenario = Scenario {
        name,
        about: raw.about.unwrap_or_default(),
        tags: raw.tags.unwrap_or_default(),
        source: source.to_path_buf(),
        span,
        driver,
        printers,
        deadline,
        step_deadline,
        sim,
        steps,
    };
    (diag, Some(scenario))
}

/// Names reach a terminal, a thread name and JUnit: a control character there is refused, not passed on
/// (a NUL panics a thread name, an escape sequence rewrites the terminal). Issue 18.
pub fn refuse_control_chars(diag: &mut Diag, at: Location, what: &str, text: &str) {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        diag.error(
            at,
            format!(
                "{what} `{}` holds the control character U+{:04X}: names may hold only printable characters",
                text.escape_debug(),
                c as u32
            ),
        );
    }
}

fn role(diag: &mut Diag, name: &Spanned<String>, r: &Spanned<RawRole>) -> Option<Role> {
    let before = diag.errors.len();
    refuse_control_chars(diag, name.referenced, "the printer role", &name.value);
    let raw = &r.value;
    if raw.model.is_none()
        && raw.vendor.is_none()
        && raw.product.is_none()
        && raw.serial.is_none()
        && raw.location.is_none()
    {
        diag.error(
            r.referenced,
            format!(
                "printer role `{}` says nothing about the printer: give at least one of model, vendor, product, serial, location",
                name.value
            ),
        );
    }
    let model = raw
        .model
        .as_ref()
        .and_then(|m| match crate::printer::catalog::find(&m.value) {
            Some(found) => Some(found.name.to_string()),
            None => {
                diag.error_hint(
                    m.referenced,
                    format!("`{}` is not a printer model of the catalog", m.value),
                    crate::names::nearest(&m.value, crate::printer::catalog::all_names()),
                );
                None
            }
        });
    let vendor = raw
        .vendor
        .as_ref()
        .and_then(|v| values::u16_of(diag, "vendor", v));
    let product = raw
        .product
        .as_ref()
        .and_then(|v| values::u16_of(diag, "product", v));
    let location = raw
        .location
        .as_ref()
        .and_then(|v| values::u32_of(diag, "location", v));
    if diag.errors.len() != before {
        return None;
    }
    Some(Role {
        name: name.value.clone(),
        span: diag.span(name.referenced),
        model,
        vendor,
        product,
        serial: raw.serial.as_ref().map(|s| s.0.clone()),
        location,
    })
}

impl Ctx<'_> {
    fn role_ref(&mut self, name: &str, at: Location) -> Option<String> {
        if self.roles.iter().any(|r| r == name) {
            return Some(name.to_string());
        }
        let message = if self.roles.is_empty() {
            format!("no printer role `{name}`: this scenario has no `printers:`")
        } else {
            format!(
                "no printer role `{name}`: roles are {}",
                self.roles
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let hint = nearest_owned(name, self.roles.iter().map(String::as_str));
        self.diag.push(self.diag.span(at), message, hint);
        None
    }

    fn selector_ref(&mut self, s: &Spanned<RawSelectorRef>) -> Option<(u32, String)> {
        match &s.value {
            RawSelectorRef::Name(name) => match self.driver.selector_by_name(name) {
                Some(sel) => Some((sel.id, sel.name.clone())),
                None => {
                    let hint =
                        nearest_owned(name, self.driver.selectors.iter().map(|s| s.name.as_str()));
                    let known = self
                        .driver
                        .selectors
                        .iter()
                        .map(|s| format!("`{}`", s.name))
                        .collect::<Vec<_>>()
                        .join(", ");
                    self.diag.push(
                        self.diag.span(s.referenced),
                        format!(
                            "driver `{}` has no selector `{name}` (it has {known}; a number may name one past the table)",
                            self.driver.name
                        ),
                        hint,
                    );
                    None
                }
            },
            RawSelectorRef::Id(n) => {
                let spanned = Spanned {
                    value: n.clone(),
                    referenced: s.referenced,
                    defined: s.defined,
                };
                let id = values::u32_of(&mut self.diag, "selector", &spanned)?;
                let name = self
                    .driver
                    .selector(id)
                    .map(|s| s.name.clone())
                    .unwrap_or_else(|| format!("#{id}"));
                Some((id, name))
            }
        }
    }

    fn deadline(&mut self, within: &Option<Spanned<values::RawDuration>>) -> Duration {
        within
            .as_ref()
            .and_then(|w| values::deadline_of(&mut self.diag, "within", w))
            .unwrap_or(self.step_deadline)
    }

    fn steps(&mut self, raw: &[Spanned<RawStep>], conns: &mut Conns) -> Vec<Step> {
        raw.iter().filter_map(|s| self.step(s, conns)).collect()
    }

    fn step(&mut self, s: &Spanned<RawStep>, conns: &mut Conns) -> Option<Step> {
        let span = self.diag.span(s.referenced);
        let mut deadline = self.step_deadline;
        let kind = match &s.value {
            RawStep::Replug(role) => {
                deadline = deadline.max(REPLUG_STEP_MIN_DEADLINE);
                StepKind::Replug {
                    role: self.role_ref(&role.value, role.referenced)?,
                }
            }
            RawStep::Await(a) => {
                deadline = self.deadline(&a.within);
                let role = match &a.printer {
                    Some(p) => Some(self.role_ref(&p.value, p.referenced)?),
                    None if self.driver.provider != Provider::UserResources => {
                        self.diag.error(
                            s.referenced,
                            format!(
                                "`await` without `printer` waits for the driver's resource service, but driver `{}` matches on USB interfaces: name a printer role",
                                self.driver.name
                            ),
                        );
                        return None;
                    }
                    None => None,
                };
                StepKind::Await {
                    role,
                    state: a.state,
                }
            }
            RawStep::CrossCheck(c) => match &c.value {
                RawCrossCheck::Role(r) => StepKind::CrossCheck {
                    role: self.role_ref(r, c.referenced)?,
                    skip: Vec::new(),
                    expect_mismatch: Vec::new(),
                },
                RawCrossCheck::Map(m) => {
                    deadline = self.deadline(&m.within);
                    let role = self.role_ref(&m.printer.value, m.printer.referenced);
                    let skip = self.fields(&m.skip);
                    let expect_mismatch = self.fields(&m.expect_mismatch);
                    StepKind::CrossCheck {
                        role: role?,
                        skip: skip?,
                        expect_mismatch: expect_mismatch?,
                    }
                }
            },
            RawStep::Open(o) => {
                deadline = self.deadline(&o.within);
                self.open(o, conns)?
            }
            RawStep::Call(c) => {
                deadline = self.deadline(&c.within);
                self.call(c, conns)?
            }
            RawStep::Close(c) => {
                let (name, at, expect) = match &c.value {
                    RawClose::Name(n) => (n.clone(), c.referenced, Expect::default()),
                    RawClose::Map(m) => {
                        deadline = self.deadline(&m.within);
                        let expect = self.expect(&m.expect, false)?;
                        (m.on.value.clone(), m.on.referenced, expect)
                    }
                };
                self.use_conn(conns, &name, at, "close")?;
                conns.insert(name.clone(), Conn::Closed(self.diag.span(at)));
                StepKind::Close {
                    connection: name,
                    expect,
                }
            }
            RawStep::Repeat(r) => {
                deadline = self.scenario_deadline;
                let times = values::int_in(
                    &mut self.diag,
                    "times",
                    &r.times,
                    1,
                    MAX_REPEAT,
                    "a repeat count",
                )
                .map(|n| n as u32);
                if r.steps.is_empty() {
                    self.diag.error(s.referenced, "`repeat` has no `steps`");
                }
                let errors_before = self.diag.errors.len();
                let steps = self.steps(&r.steps, conns);
                if times.unwrap_or(1) > 1 && self.diag.errors.len() == errors_before {
                    // Second time round: the body starts from the connections the first pass left.
                    let scratch = Diag::new(self.diag.file.clone());
                    let real = std::mem::replace(&mut self.diag, scratch);
                    let mut again = conns.clone();
                    self.steps(&r.steps, &mut again);
                    let second = std::mem::replace(&mut self.diag, real);
                    for e in second.errors {
                        self.diag.push(
                            e.span,
                            format!("{} (the second time round this `repeat`)", e.message),
                            e.hint,
                        );
                    }
                }
                StepKind::Repeat {
                    times: times?,
                    steps,
                }
            }
            RawStep::Fuzz(f) => {
                deadline = self.scenario_deadline;
                StepKind::Fuzz(self.fuzz(f, conns)?)
            }
            RawStep::Log(text) => {
                if text.value.trim().is_empty() || text.value.contains(['\n', '\r']) {
                    self.diag.error(
                        text.referenced,
                        "a `log` marker is one line of text, not empty".to_string(),
                    );
                    return None;
                }
                StepKind::Log(text.value.clone())
            }
            RawStep::Sleep(d) => {
                let d = values::duration_of(&mut self.diag, "sleep", d)?;
                // A sleep must not be cut short by its own deadline.
                deadline = d + self.step_deadline;
                StepKind::Sleep(d)
            }
        };
        let logs = match &s.value {
            RawStep::Await(a) => self.log_expects(&a.expect_log, &a.expect_no_log),
            RawStep::Open(o) => self.log_expects(&o.expect_log, &o.expect_no_log),
            RawStep::Call(c) => self.log_expects(&c.expect_log, &c.expect_no_log),
            RawStep::Close(c) => match &c.value {
                RawClose::Map(m) => self.log_expects(&m.expect_log, &m.expect_no_log),
                RawClose::Name(_) => Some(Vec::new()),
            },
            _ => Some(Vec::new()),
        }?;
        Some(Step {
            span,
            deadline,
            kind,
            logs,
        })
    }

    fn log_expects(
        &mut self,
        present: &Option<Spanned<RawLogExpect>>,
        absent: &Option<Spanned<RawLogExpect>>,
    ) -> Option<Vec<LogExpect>> {
        let before = self.diag.errors.len();
        let mut out = Vec::new();
        for (raw, is_present, key) in [
            (present, true, "expect_log"),
            (absent, false, "expect_no_log"),
        ] {
            let Some(raw) = raw else { continue };
            let contains = &raw.value.contains;
            if contains.value.is_empty() {
                self.diag.error(
                    contains.referenced,
                    format!("`{key}` has an empty `contains`: every line contains it; give the text to look for"),
                );
            }
            let within = raw
                .value
                .within
                .as_ref()
                .and_then(|w| values::deadline_of(&mut self.diag, "within", w));
            out.push(LogExpect {
                span: self.diag.span(raw.referenced),
                contains: contains.value.clone(),
                present: is_present,
                within,
            });
        }
        (self.diag.errors.len() == before).then_some(out)
    }

    fn fields(&mut self, list: &Option<Vec<Spanned<String>>>) -> Option<Vec<String>> {
        let before = self.diag.errors.len();
        let mut out = Vec::new();
        for f in list.iter().flatten() {
            if crate::crosscheck::is_field(&f.value) {
                out.push(f.value.clone());
            } else {
                self.diag.error_hint(
                    f.referenced,
                    format!(
                        "`{}` is not a cross-check field: expected a device field ({}), \
                         `interface.N` or `interface.N.<field>`, or `dext` or `dext.<field>` \
                         (the README lists all {})",
                        f.value,
                        CROSS_CHECK_FIELDS
                            .iter()
                            .filter(|n| !n.contains('.') && **n != "dext")
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", "),
                        CROSS_CHECK_FIELDS.len()
                    ),
                    crate::crosscheck::nearest_field(&f.value).as_deref(),
                );
            }
        }
        (self.diag.errors.len() == before).then_some(out)
    }

    /// Check that `name` is an open connection here.
    fn use_conn(&mut self, conns: &Conns, name: &str, at: Location, verb: &str) -> Option<()> {
        let message = match conns.get(name) {
            Some(Conn::Open(_)) => return Some(()),
            Some(Conn::Closed(where_)) => {
                format!("cannot {verb} `{name}`: the connection was closed at {where_}")
            }
            Some(Conn::NeverOpened(where_)) => format!(
                "cannot {verb} `{name}`: its open at {where_} expects a failure, so it defines no connection"
            ),
            None => {
                let open: Vec<&str> = conns
                    .iter()
                    .filter(|(_, c)| matches!(c, Conn::Open(_)))
                    .map(|(n, _)| n.as_str())
                    .collect();
                let hint = nearest_owned(name, open.iter().copied());
                let known = if open.is_empty() {
                    "no connection is open here".to_string()
                } else {
                    format!(
                        "open here: {}",
                        open.iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                self.diag.push(
                    self.diag.span(at),
                    format!("cannot {verb} `{name}`: no earlier `open` names a connection `{name}` ({known})"),
                    hint,
                );
                return None;
            }
        };
        self.diag.error(at, message);
        None
    }

    fn open(&mut self, o: &RawOpen, conns: &mut Conns) -> Option<StepKind> {
        let target = o.object.unwrap_or(OpenTarget::Service);
        if target == OpenTarget::Nub && self.driver.classes.nubs.is_empty() {
            self.diag.error(
                o.name.referenced,
                format!(
                    "`object: nub` opens a service the dext publishes, but driver `{}` declares no `nubs`",
                    self.driver.name
                ),
            );
        }
        let role = match &o.printer {
            Some(p) => self.role_ref(&p.value, p.referenced),
            None => {
                if let Provider::UsbInterface { .. } = self.driver.provider {
                    self.diag.error(
                        o.name.referenced,
                        format!(
                            "`open` needs `printer:`: driver `{}` matches on USB interfaces, so each printer has its own service",
                            self.driver.name
                        ),
                    );
                } else if matches!(target, OpenTarget::Interface | OpenTarget::Device) {
                    self.diag.error(
                        o.name.referenced,
                        "opening a USB `interface` or `device` needs `printer:`",
                    );
                }
                None
            }
        };
        let open_type = match &o.open_type {
            Some(t) => values::u32_of(&mut self.diag, "type", t),
            None => Some(0),
        };
        let expect = self.expect(&o.expect, false);
        let name = &o.name.value;
        refuse_control_chars(
            &mut self.diag,
            o.name.referenced,
            "the connection name",
            name,
        );
        if let Some(Conn::Open(at)) = conns.get(name) {
            self.diag.error(
                o.name.referenced,
                format!("connection `{name}` is still open (opened at {at}): close it first or use another name"),
            );
            return None;
        }
        let expect = expect?;
        let here = self.diag.span(o.name.referenced);
        let succeeds = expect.codes.is_empty() || expect.codes.iter().any(|c| c.is_success());
        conns.insert(
            name.clone(),
            if succeeds {
                Conn::Open(here)
            } else {
                Conn::NeverOpened(here)
            },
        );
        if o.printer.is_some() && role.is_none() {
            return None;
        }
        Some(StepKind::Open {
            role,
            target,
            open_type: open_type?,
            name: name.clone(),
            expect,
        })
    }

    fn call(&mut self, c: &RawCall, conns: &Conns) -> Option<StepKind> {
        let before = self.diag.errors.len();
        self.use_conn(conns, &c.on.value, c.on.referenced, "call on");
        let selector = self.selector_ref(&c.selector);
        let rule = selector
            .as_ref()
            .and_then(|(id, _)| self.driver.selector(*id))
            .and_then(|s| s.rule);
        let scalars_in = match &c.scalars {
            Some(s) => values::scalars_of(&mut self.diag, "scalars", s),
            None => Some(Vec::new()),
        };
        let struct_in = match &c.struct_in {
            Some(b) => values::bytes_of(&mut self.diag, "struct", b),
            None => Some(Vec::new()),
        };
        let exact = |check: Option<SizeCheck>| match check {
            Some(SizeCheck::Exact(n)) => n,
            _ => 0,
        };
        let scalars_out_capacity = match &c.scalars_out {
            Some(n) => values::int_in(
                &mut self.diag,
                "scalars_out",
                n,
                0,
                MAX_SCALARS as i128,
                "a scalar count",
            )
            .map(|n| n as u32),
            None => Some(exact(rule.map(|r| r.scalars_out))),
        };
        let struct_out_capacity = match &c.struct_out {
            Some(n) => values::int_in(
                &mut self.diag,
                "struct_out",
                n,
                0,
                MAX_STRUCT as i128,
                "a size up to 1 MiB",
            )
            .map(|n| n as u32),
            None => Some(exact(rule.map(|r| r.struct_out))),
        };
        let expect = self.expect(&c.expect, true);
        if self.diag.errors.len() != before {
            return None;
        }
        let (id, selector_name) = selector?;
        Some(StepKind::Call {
            connection: c.on.value.clone(),
            selector_name,
            args: CallArgs {
                selector: id,
                scalars_in: scalars_in?,
                struct_in: struct_in?,
                scalars_out_capacity: scalars_out_capacity?,
                struct_out_capacity: struct_out_capacity?,
                completion: c.completion.unwrap_or(false),
            },
            expect: expect?,
        })
    }

    fn expect(&mut self, e: &Option<Spanned<RawExpect>>, outputs: bool) -> Option<Expect> {
        let Some(e) = e else {
            return Some(Expect::default());
        };
        let before = self.diag.errors.len();
        let raw = &e.value;
        if !outputs {
            if let Some(s) = &raw.scalars {
                self.diag
                    .error(s.referenced, "only a `call` has scalar outputs to expect");
            }
            if let Some(s) = &raw.struct_out {
                self.diag
                    .error(s.referenced, "only a `call` has a struct output to expect");
            }
        }
        let codes = match &raw.codes {
            Some(c) => values::codes_of(&mut self.diag, c),
            None => Some(Vec::new()),
        };
        let scalars = raw
            .scalars
            .as_ref()
            .map(|s| values::scalars_of(&mut self.diag, "scalars", s));
        let struct_out = raw
            .struct_out
            .as_ref()
            .map(|b| values::bytes_of(&mut self.diag, "struct", b));
        let within = raw
            .within
            .as_ref()
            .map(|w| values::deadline_of(&mut self.diag, "within", w));
        if self.diag.errors.len() != before {
            return None;
        }
        Some(Expect {
            codes: codes?,
            scalars: scalars.flatten(),
            struct_out: struct_out.flatten(),
            within: within.flatten(),
        })
    }
}
