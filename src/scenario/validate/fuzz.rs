//! Validating a `fuzz` step: its target, selectors, counts, seed, budget and durability.

use super::*;

impl Ctx<'_> {
    pub(super) fn fuzz(&mut self, f: &Spanned<RawFuzz>, conns: &Conns) -> Option<FuzzStep> {
        let before = self.diag.errors.len();
        let r = &f.value;
        let connection = match &r.on {
            Some(c) => {
                self.use_conn(conns, &c.value, c.referenced, "fuzz on");
                Some(c.value.clone())
            }
            None => None,
        };
        let role = match &r.printer {
            Some(p) => self.role_ref(&p.value, p.referenced),
            None => None,
        };
        if r.on.is_some() && r.printer.is_some() {
            self.diag.error(
                f.referenced,
                "`fuzz` takes `on: CONNECTION` (calls on it) or `printer: ROLE` (open / call / close / replug sequences), not both",
            );
        } else if r.on.is_none()
            && r.printer.is_none()
            && self.driver.provider != Provider::UserResources
        {
            self.diag.error(
                f.referenced,
                format!(
                    "`fuzz` needs `on: CONNECTION` or `printer: ROLE`: driver `{}` matches on USB interfaces",
                    self.driver.name
                ),
            );
        }
        let selectors = match r.selectors.as_ref().map(|s| (&s.value, s.referenced)) {
            None | Some((RawSelectors::All, _)) => Vec::new(),
            Some((RawSelectors::List(list), _)) => list
                .iter()
                .filter_map(|s| self.selector_ref(s).map(|(id, _)| id))
                .collect(),
            Some((RawSelectors::Other(t), at)) => {
                self.diag.error(
                    at,
                    format!("`selectors` is `{t}`: expected `all` or a list of selector names or numbers"),
                );
                Vec::new()
            }
        };
        let cases = match &r.cases {
            Some(n) => values::int_in(&mut self.diag, "cases", n, 1, 10_000_000, "a case count")
                .map(|n| n as u32),
            None => Some(100),
        };
        let seed = r
            .seed
            .as_ref()
            .and_then(|s| values::u64_of(&mut self.diag, "seed", s));
        let budget = r
            .budget
            .as_ref()
            .and_then(|d| values::duration_of(&mut self.diag, "budget", d));
        let within = r
            .within
            .as_ref()
            .and_then(|d| values::deadline_of(&mut self.diag, "within", d))
            .unwrap_or(crate::scenario::DEFAULT_OPERATION_DEADLINE);
        let durability = match &r.durability {
            None => Some(crate::scenario::Durability::Batch),
            Some(d) => match crate::scenario::Durability::parse(&d.value) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.diag.error(d.referenced, e);
                    None
                }
            },
        };
        if self.diag.errors.len() != before {
            return None;
        }
        Some(FuzzStep {
            connection,
            role,
            selectors,
            cases: cases?,
            seed,
            budget,
            durability: durability?,
            within,
        })
    }
}
