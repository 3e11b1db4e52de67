//! What doctor found: checks in order (pass / warn / fail / skipped, each with its evidence and what to do),
//! the failing code decoded, the causes ranked, and the command that captures the dext's log. Rendered for
//! a person ([`Report::render`]) or as JSON (serde).

use super::causes::RankedCause;
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// Could not be checked: `summary` says why and `action` which input would allow it.
    Skipped,
}

impl Status {
    fn tag(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skipped => "skip",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable name for scripts: `dext-activated`, `host-matching`, ...
    pub id: &'static str,
    pub title: &'static str,
    pub status: Status,
    /// One line: what was found, or why it could not be checked.
    pub summary: String,
    pub evidence: Vec<String>,
    /// What to do; for a skipped check, which flag or file would let doctor check it.
    pub action: Option<String>,
}

impl Check {
    pub fn new(
        id: &'static str,
        title: &'static str,
        status: Status,
        summary: impl Into<String>,
    ) -> Self {
        Check {
            id,
            title,
            status,
            summary: summary.into(),
            evidence: Vec::new(),
            action: None,
        }
    }

    pub fn skipped(
        id: &'static str,
        title: &'static str,
        why: impl Into<String>,
        flag: impl Into<String>,
    ) -> Self {
        Check::new(id, title, Status::Skipped, why).action(flag)
    }

    pub fn evidence(mut self, line: impl Into<String>) -> Self {
        self.evidence.push(line.into());
        self
    }

    pub fn action(mut self, what: impl Into<String>) -> Self {
        self.action = Some(what.into());
        self
    }
}

/// The failing code as decode explains it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CodeReport {
    pub value: String,
    pub name: Option<&'static str>,
    pub meaning: Option<&'static str>,
    pub family: &'static str,
    /// Where on the open path it can arise (`decode::path_notes`).
    pub from: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The dext's bundle id, when known.
    pub bundle_id: Option<String>,
    /// The inputs read (`ioreg: case/ioreg.txt`).
    pub inputs: Vec<String>,
    pub checks: Vec<Check>,
    pub code: Option<CodeReport>,
    /// Most likely first.
    pub causes: Vec<RankedCause>,
    /// `/usr/bin/log stream ...` (reference §6).
    pub log_command: String,
    /// What doctor could not do in this mode (root-only checks, ...).
    pub notes: Vec<String>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }

    /// 0: no check failed; 1: a check failed (the setup is broken).
    pub fn exit_code(&self) -> u8 {
        u8::from(self.failed())
    }

    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report is plain data") + "\n"
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let who = self
            .bundle_id
            .as_deref()
            .unwrap_or("(bundle id unknown: give --bundle-id)");
        let _ = writeln!(s, "doctor: {who}");
        for i in &self.inputs {
            let _ = writeln!(s, "  read {i}");
        }
        let _ = writeln!(s);
        for c in &self.checks {
            let _ = writeln!(s, "[{}] {}: {}", c.status.tag(), c.title, c.summary);
            for e in &c.evidence {
                let _ = writeln!(s, "       evidence: {e}");
            }
            if let Some(a) = &c.action {
                let label = if c.status == Status::Skipped {
                    "to check"
                } else {
                    "do"
                };
                let _ = writeln!(s, "       {label}: {a}");
            }
        }
        if let Some(code) = &self.code {
            let _ = writeln!(s, "\nfailing code: {}", code.value);
            if let Some(m) = code.meaning {
                let _ = writeln!(s, "  meaning: {m}; family: {}", code.family);
            } else {
                let _ = writeln!(s, "  family: {}", code.family);
            }
        }
        if !self.causes.is_empty() {
            let _ = writeln!(s, "\nmost likely cause first:");
            for (i, c) in self.causes.iter().enumerate() {
                let weight = match (c.evidence_strength, c.fits_code) {
                    (Some(super::Strength::Confirmed), _) => "confirmed by a check",
                    (Some(super::Strength::Hint), _) => "suggested by the evidence",
                    (Some(super::Strength::RuledOut), _) => "ruled out by a check",
                    (None, Some(true)) => "possible for this code; not checked",
                    (None, _) => "not checked",
                };
                let _ = writeln!(s, "  {}. {} ({weight})", i + 1, c.cause);
                for e in &c.evidence {
                    let _ = writeln!(s, "     evidence: {e}");
                }
                if c.evidence_strength != Some(super::Strength::RuledOut) {
                    let _ = writeln!(s, "     do: {}", c.action);
                }
                let _ = writeln!(s, "     source: {}", c.source);
            }
        }
        let _ = writeln!(
            s,
            "\ncapture the dext's log (run before the host opens, in Terminal):\n  {}",
            self.log_command
        );
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        let count = |st| self.checks.iter().filter(|c| c.status == st).count();
        let _ = writeln!(
            s,
            "\n{} failed, {} warnings, {} passed, {} skipped",
            count(Status::Fail),
            count(Status::Warn),
            count(Status::Pass),
            count(Status::Skipped)
        );
        s
    }
}
