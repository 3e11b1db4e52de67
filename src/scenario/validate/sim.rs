//! Validating the `sim:` block: host and dext entitlements, UserClientProperties, timing, and each fault
//! with exactly one kind and the companions that kind takes.

use super::*;

impl Ctx<'_> {
    pub(super) fn sim(&mut self, s: RawSim) -> SimConfig {
        let faults = s
            .faults
            .iter()
            .flatten()
            .filter_map(|f| self.fault(f))
            .collect();
        let mut timing = SimTiming::default();
        if let Some(t) = &s.timing {
            if let Some(d) = t
                .replug_off
                .as_ref()
                .and_then(|d| values::duration_of(&mut self.diag, "replug_off", d))
            {
                timing.replug_off = d;
            }
            if let Some(d) = t
                .match_delay
                .as_ref()
                .and_then(|d| values::duration_of(&mut self.diag, "match_delay", d))
            {
                timing.match_delay = d;
            }
        }
        let usb_host_open = s.usb_host_open.as_ref().and_then(|c| {
            match values::codes_of(&mut self.diag, c)?.as_slice() {
                [one] => Some(*one),
                _ => {
                    self.diag
                        .error(c.referenced, "`usb_host_open` is one code, not a list");
                    None
                }
            }
        });
        SimConfig {
            usb_host_open,
            faults,
            host_entitlements: s.host_entitlements.map(|m| m.0),
            dext_entitlements: s.dext_entitlements.map(|m| m.0),
            user_client_properties: s.user_client_properties.map(|u| u.into_model()),
            skip_entitlement_check: s.skip_entitlement_check.unwrap_or(false),
            timing,
        }
    }

    fn fault(&mut self, f: &Spanned<RawFault>) -> Option<Fault> {
        let at = f.referenced;
        let r = &f.value;
        let kinds: Vec<&str> = [
            ("open", r.open.is_some()),
            ("call", r.call.is_some()),
            ("hang", r.hang.is_some()),
            ("crash", r.crash.is_some()),
            ("unplug", r.unplug.is_some()),
            ("slow_match", r.slow_match.is_some()),
            ("unplug_mid_call", r.unplug_mid_call.is_some()),
            ("reenumerate", r.reenumerate.is_some()),
            ("never_match", r.never_match.is_some()),
            ("open_lab_error", r.open_lab_error.is_some()),
            ("abort", r.abort.is_some()),
            ("rpc", r.rpc.is_some()),
        ]
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(k, _)| k)
        .collect();
        let [kind] = kinds.as_slice() else {
            self.diag.error(
                at,
                format!(
                    "a fault has exactly one of `open`, `call`, `hang`, `crash`, `unplug`, `slow_match`, `unplug_mid_call`, `reenumerate`, `never_match`, `open_lab_error`, `abort`, `rpc`; this one has {}",
                    if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") }
                ),
            );
            return None;
        };
        // Which companion keys each kind takes; any other is a mistake worth naming.
        let wanted: &[&str] = match *kind {
            "open" | "call" => &["answer"],
            "crash" => &["rematch_after"],
            "unplug" | "reenumerate" => &["after"],
            "slow_match" => &["delay"],
            "open_lab_error" => &["attempts"],
            _ => &[],
        };
        let given = [
            ("answer", r.answer.is_some()),
            ("rematch_after", r.rematch_after.is_some()),
            ("after", r.after.is_some()),
            ("delay", r.delay.is_some()),
            ("attempts", r.attempts.is_some()),
        ];
        let before = self.diag.errors.len();
        // Companions a kind may take but need not.
        let optional: &[&str] = match *kind {
            "unplug_mid_call" => &["answer"],
            _ => &[],
        };
        for (key, present) in given {
            if optional.contains(&key) {
                continue;
            }
            if present && !wanted.contains(&key) {
                self.diag
                    .error(at, format!("`{key}` does not belong to a `{kind}` fault"));
            }
            if !present && wanted.contains(&key) {
                self.diag
                    .error(at, format!("a `{kind}` fault needs `{key}`"));
            }
        }
        if self.diag.errors.len() != before {
            return None;
        }
        let answer = |ctx: &mut Self| -> Option<crate::ioreturn::ReturnCode> {
            let c = r.answer.as_ref()?;
            match values::codes_of(&mut ctx.diag, c)?.as_slice() {
                [one] => Some(*one),
                _ => {
                    ctx.diag
                        .error(c.referenced, "`answer` is one code, not a list");
                    None
                }
            }
        };
        let dur = |ctx: &mut Self, key: &str, d: &Option<Spanned<values::RawDuration>>| {
            d.as_ref()
                .and_then(|d| values::duration_of(&mut ctx.diag, key, d))
        };
        let times = match &r.times {
            Some(t) => {
                Some(
                    values::int_in(&mut self.diag, "times", t, 1, u32::MAX as i128, "a count")?
                        as u32,
                )
            }
            None => None,
        };
        let kind = if let Some(p) = &r.open {
            let role = if p.value == "any" {
                None
            } else {
                Some(self.role_ref(&p.value, p.referenced)?)
            };
            FaultKind::OpenAnswers {
                role,
                code: answer(self)?,
            }
        } else if let Some(s) = &r.call {
            let sel = self.selector_ref(s);
            FaultKind::CallAnswers {
                code: answer(self)?,
                selector: sel?.0,
            }
        } else if let Some(s) = &r.hang {
            FaultKind::CallHangs {
                selector: self.selector_ref(s)?.0,
            }
        } else if let Some(s) = &r.crash {
            let sel = self.selector_ref(s);
            FaultKind::DextCrash {
                rematch_after: dur(self, "rematch_after", &r.rematch_after)?,
                selector: sel?.0,
            }
        } else if let Some(p) = &r.unplug {
            let role = self.role_ref(&p.value, p.referenced);
            FaultKind::Unplug {
                after: dur(self, "after", &r.after)?,
                role: role?,
            }
        } else if let Some(p) = &r.slow_match {
            let role = self.role_ref(&p.value, p.referenced);
            FaultKind::SlowMatch {
                delay: dur(self, "delay", &r.delay)?,
                role: role?,
            }
        } else if let Some(s) = &r.unplug_mid_call {
            let sel = self.selector_ref(s);
            let code = match &r.answer {
                Some(_) => answer(self)?,
                None => crate::ioreturn::ReturnCode(crate::ioreturn::code::kIOReturnNotAttached),
            };
            FaultKind::UnplugMidCall {
                selector: sel?.0,
                code,
            }
        } else if let Some(p) = &r.reenumerate {
            let role = self.role_ref(&p.value, p.referenced);
            FaultKind::Reenumerate {
                after: dur(self, "after", &r.after)?,
                role: role?,
            }
        } else if let Some(p) = &r.never_match {
            FaultKind::NeverMatch {
                role: self.role_ref(&p.value, p.referenced)?,
            }
        } else if let Some(p) = &r.open_lab_error {
            let role = if p.value == "any" {
                None
            } else {
                Some(self.role_ref(&p.value, p.referenced)?)
            };
            let attempts = r.attempts.as_ref()?;
            let attempts =
                values::int_in(&mut self.diag, "attempts", attempts, 1, 100, "a count")? as u32;
            FaultKind::OpenLabError { role, attempts }
        } else if let Some(s) = &r.abort {
            FaultKind::Abort {
                selector: self.selector_ref(s)?.0,
            }
        } else if let Some(f) = &r.rpc {
            use crate::ioreturn::code;
            // IOUserServer::rpc's own failures (xnu iokit/Kernel/IOUserServer.cpp).
            const RPC: [(&str, u32); 3] = [
                ("offline", code::kIOReturnOffline),
                ("not_ready", code::kIOReturnNotReady),
                ("server_died", code::MIG_SERVER_DIED),
            ];
            let Some((_, c)) = RPC.iter().find(|(n, _)| *n == f.value) else {
                self.diag.error_hint(
                    f.referenced,
                    format!(
                        "`{}` is not an RPC failure: expected one of `offline`, `not_ready`, `server_died`",
                        f.value
                    ),
                    crate::names::nearest(&f.value, RPC.iter().map(|(n, _)| *n)),
                );
                return None;
            };
            FaultKind::RpcFails {
                code: crate::ioreturn::ReturnCode(*c),
            }
        } else {
            return None;
        };
        Some(Fault {
            span: self.diag.span(at),
            kind,
            times,
        })
    }
}
