//! `dexthil doctor`: why `IOServiceOpen` on a dext's service fails, from the files a user attaches to a bug
//! report (an ioreg dump, the host's matching dictionary, codesign's entitlements of host and dext,
//! `systemextensionsctl list`, the failing code, a captured kernel log, a crash report), given by flag or
//! as positional files and folders recognised by content ([`attachments`]), or live on a Mac. Every file
//! is read through [`crate::input`] (no FIFO, device or oversized file).
//!
//! [`Inputs`] is what was given (any subset); [`diagnose`] turns it into a [`Report`]: checks in a fixed
//! order, each pass / warn / fail / skipped with evidence and what to do, the code decoded through
//! [`crate::decode`], and the causes ranked by the evidence ([`causes`]). A check whose input is missing is
//! skipped and names the flag that would let it run; it never fails the report. The kernel rules are those
//! of `shared/reference/iokit.md` §2; keys §5; log capture §6.
//!
//! This module reads files and, in `live`, runs macOS tools; it knows nothing of scenarios or the engine.

pub mod attachments;
pub mod causes;
pub mod dext;
mod dext_checks;
mod dext_log;
pub mod dext_symbols;
mod dext_user_client;
mod crash_check;
pub mod entitlements;
pub mod entitlements_text;
mod error;
pub mod live;
pub mod logs;
pub mod matching;
mod opened;
pub mod registry;
mod report;
mod setup;
pub mod sysext;

pub use causes::{CauseKind, Finding, RankedCause, Strength};
pub use dext::DextBundle;
pub use entitlements::Entitlements;
pub use error::DoctorError;
pub use logs::LogScan;
pub use matching::HostMatching;
pub use registry::RegistryDump;
pub use report::{Check, CodeReport, Report, Status};
pub use sysext::SysextList;

use crate::backends::replay::load_dump;
use crate::ioreturn::ReturnCode;
use std::path::PathBuf;

/// What doctor says when it was given nothing to read (exit 2).
pub const NOTHING_GIVEN: &str = "doctor needs something to read: give the bug report's attachments \
(`dexthil doctor ioreg.txt sysext.txt host.entitlements ...` or a folder of them; each is recognised by its \
content), or flags (--ioreg, --sysext, --host-entitlements, --dext-entitlements, --matching, --log, --crash, \
--code), or --live on the Mac; see docs/doctor.md";

/// The files (and values) of an offline run, as given on the command line.
#[derive(Clone, Debug, Default)]
pub struct Files {
    pub ioreg: Option<PathBuf>,
    pub matching: Option<PathBuf>,
    pub host_entitlements: Option<PathBuf>,
    pub dext_entitlements: Option<PathBuf>,
    pub sysext: Option<PathBuf>,
    pub log: Option<PathBuf>,
    /// A `.dext` bundle or its Info.plist (`--dext`): personalities and the executable's symbols.
    pub dext: Option<PathBuf>,
    /// An `.ips` or `.crash` crash report.
    pub crash: Option<PathBuf>,
    /// As a person writes it: hex, decimal, or a name.
    pub code: Option<String>,
    pub bundle_id: Option<String>,
}

/// Everything doctor was given, parsed. Any field may be missing.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub registry: Option<RegistryDump>,
    pub matching: Option<HostMatching>,
    pub host_entitlements: Option<Entitlements>,
    pub dext_entitlements: Option<Entitlements>,
    pub sysext: Option<SysextList>,
    pub log: Option<LogScan>,
    pub dext: Option<DextBundle>,
    pub crash: Option<crate::logs::CrashReport>,
    /// Lines a pasted text dump had to skip, cut or guess.
    pub registry_warnings: Vec<String>,
    pub code: Option<ReturnCode>,
    pub bundle_id: Option<String>,
    /// Said at the end of the report (what this mode could not do).
    pub notes: Vec<String>,
}

impl Inputs {
    /// Read every file given; the first that does not load is the error (exit 2).
    pub fn load(files: &Files) -> Result<Inputs, DoctorError> {
        Self::load_with(files, &[])
    }

    /// True when nothing at all was given: no file, no code, no bundle id.
    pub fn nothing_given(files: &Files, positional: &[PathBuf]) -> bool {
        positional.is_empty()
            && files.ioreg.is_none()
            && files.matching.is_none()
            && files.host_entitlements.is_none()
            && files.dext_entitlements.is_none()
            && files.sysext.is_none()
            && files.log.is_none()
            && files.crash.is_none()
            && files.dext.is_none()
            && files.code.is_none()
    }

    /// [`Inputs::load`] after sorting `positional` files and folders into their slots by content
    /// ([`attachments`]); what each was taken as, and what was skipped, is in the report's notes.
    pub fn load_with(files: &Files, positional: &[PathBuf]) -> Result<Inputs, DoctorError> {
        let mut files = files.clone();
        let notes = attachments::sort_into(&mut files, positional)?;
        let mut i = Self::load_files(&files)?;
        i.notes.splice(0..0, notes);
        if let Some(s) = &i.sysext {
            i.notes.extend(s.warnings.iter().cloned());
        }
        i.notes.append(&mut i.registry_warnings);
        Ok(i)
    }

    fn load_files(files: &Files) -> Result<Inputs, DoctorError> {
        let code = match &files.code {
            Some(c) => Some(crate::ioreturn::parse(c).map_err(DoctorError::Code)?),
            None => None,
        };
        let tree = files.ioreg.as_deref().map(load_dump).transpose()?;
        Ok(Inputs {
            registry_warnings: tree
                .as_ref()
                .map(|t| t.warnings.clone())
                .unwrap_or_default(),
            registry: match (&files.ioreg, &tree) {
                (Some(p), Some(t)) => Some(RegistryDump {
                    source: p.display().to_string(),
                    entries: t.entries(),
                }),
                _ => None,
            },
            matching: files
                .matching
                .as_deref()
                .map(HostMatching::load)
                .transpose()?,
            host_entitlements: files
                .host_entitlements
                .as_deref()
                .map(Entitlements::load)
                .transpose()?,
            dext_entitlements: files
                .dext_entitlements
                .as_deref()
                .map(Entitlements::load)
                .transpose()?,
            sysext: files.sysext.as_deref().map(SysextList::load).transpose()?,
            log: files.log.as_deref().map(LogScan::load).transpose()?,
            dext: files.dext.as_deref().map(DextBundle::load).transpose()?,
            crash: match &files.crash {
                Some(p) => {
                    let text =
                        String::from_utf8_lossy(&error::read(p, crate::input::CRASH)?).into_owned();
                    Some(
                        crate::logs::crash::parse_any(p, &text)
                            .map_err(|e| DoctorError::Crash(Box::new(e)))?,
                    )
                }
                None => None,
            },
            code,
            bundle_id: files.bundle_id.clone(),
            notes: Vec::new(),
        })
    }
}

/// The dext's bundle id: given, else the one dext `systemextensionsctl` lists, else the one dext with
/// services in the registry, else what the host's matching selects, else what the kernel log names.
fn bundle_id(i: &Inputs) -> Option<String> {
    if let Some(b) = &i.bundle_id {
        return Some(b.clone());
    }
    if let Some(b) = i.dext.as_ref().and_then(|d| d.bundle_id.clone()) {
        return Some(b);
    }
    let one = |mut ids: Vec<String>| {
        ids.sort();
        ids.dedup();
        (ids.len() == 1).then(|| ids.remove(0))
    };
    if let Some(b) = i
        .sysext
        .as_ref()
        .and_then(|s| one(s.drivers().map(|r| r.bundle_id.clone()).collect()))
    {
        return Some(b);
    }
    if let Some(reg) = &i.registry {
        let ids = reg
            .entries
            .iter()
            .filter(|e| registry::is_dext_service(e))
            .filter_map(|e| registry::bundle_of(e).map(String::from))
            .collect();
        if let Some(b) = one(ids) {
            return Some(b);
        }
        if let Some(m) = &i.matching
            && let Some(b) = reg
                .entries
                .iter()
                .find(|e| m.matches(e))
                .and_then(registry::bundle_of)
        {
            return Some(b.to_string());
        }
    }
    i.log
        .as_ref()
        .and_then(|l| l.needed_bundle_id())
        .map(String::from)
}

const IOREG_FLAG: &str = "--ioreg FILE: `ioreg -l > ioreg.txt` (or `ioreg -a -l > ioreg.plist`) with the printer plugged in";
const MATCHING_FLAG: &str = "--matching FILE: the dictionary the host passes to IOServiceGetMatchingServices, as a plist or JSON object";
const LOG_FLAG: &str =
    "--log FILE: the kernel log captured with the command below while the host opens";
const DEXT_BUNDLE_FLAG: &str = "--dext PATH: the .dext bundle (or its Info.plist), e.g. Host.app/Contents/Library/SystemExtensions/<bundle id>.dext";
const CODE_FLAG: &str = "--code CODE: the value IOServiceOpen returned (hex, decimal or name)";

/// Run every check on what was given.
pub fn diagnose(i: &Inputs) -> Report {
    let bundle = bundle_id(i);
    let b = bundle.as_deref();
    let mut found = Vec::new();
    let mut checks = Vec::new();

    match &i.sysext {
        Some(s) => {
            checks.push(setup::activation_check(s, b, &mut found));
            checks.push(setup::others_check(s, &mut found));
        }
        None => {
            checks.push(Check::skipped(
                "dext-activated",
                "the dext is installed and activated",
                "no systemextensionsctl output",
                setup::SYSEXT_FLAG,
            ));
            checks.push(Check::skipped(
                "other-extensions",
                "other system extensions that can refuse an open",
                "no systemextensionsctl output",
                setup::SYSEXT_FLAG,
            ));
        }
    }

    let service = i
        .registry
        .as_ref()
        .and_then(|r| registry::services(r, b).current.first().copied().cloned());
    // The dext service the host opens, when the registry and the host's matching say which.
    let opened_service = match (&i.registry, &i.matching) {
        (Some(r), Some(m)) => r
            .entries
            .iter()
            .find(|e| m.matches(e))
            .filter(|e| registry::is_dext_service(e))
            .cloned(),
        _ => None,
    };
    match &i.registry {
        Some(reg) => checks.push(registry::service_check(reg, b, &mut found)),
        None => checks.push(Check::skipped(
            "dext-service",
            "the dext's service in the registry",
            "no registry dump",
            IOREG_FLAG,
        )),
    }
    match (&i.registry, &i.matching) {
        (Some(reg), Some(m)) => checks.push(opened::host_matching_check(
            reg,
            m,
            service.as_ref(),
            i.dext.as_ref(),
            &mut found,
        )),
        (None, _) => checks.push(Check::skipped(
            "host-matching",
            "the object the host's matching selects",
            "no registry dump to evaluate the matching against",
            if i.matching.is_some() {
                IOREG_FLAG
            } else {
                "--ioreg FILE and --matching FILE"
            },
        )),
        (Some(_), None) => checks.push(Check::skipped(
            "host-matching",
            "the object the host's matching selects",
            "no matching dictionary of the host",
            MATCHING_FLAG,
        )),
    }
    // Without a registry, the personality of a --dext bundle is what the kernel would copy into the service.
    let service_or_personality = service
        .clone()
        .or_else(|| i.dext.as_ref().and_then(dext_checks::personality_entry));
    let ucp = service_or_personality
        .as_ref()
        .and_then(|s| s.prop("UserClientProperties"));
    match &service_or_personality {
        Some(s) => checks.push(registry::user_client_properties_check(s, &mut found)),
        None => checks.push(Check::skipped(
            "user-client-properties",
            "the service's UserClientProperties",
            if i.registry.is_some() {
                "the registry has no current service of the dext to read it from"
            } else {
                "no registry dump"
            },
            IOREG_FLAG,
        )),
    }

    match &i.dext {
        Some(d) => {
            checks.push(dext_checks::bundle_check(d));
            checks.push(dext_checks::new_user_client_check(d, &mut found));
            checks.extend(dext_checks::external_method_check(d));
        }
        None => checks.push(Check::skipped(
            "dext-new-user-client",
            "the personality's class overrides NewUserClient",
            "no .dext bundle",
            DEXT_BUNDLE_FLAG,
        )),
    }

    match &i.dext_entitlements {
        Some(d) => checks.push(setup::dext_entitlements_check(d)),
        None => checks.push(Check::skipped(
            "dext-entitlements",
            "the dext's entitlements",
            "no codesign output for the dext",
            setup::DEXT_FLAG,
        )),
    }
    match &i.host_entitlements {
        Some(h) => {
            checks.push(setup::host_entitlements_check(
                h,
                i.dext_entitlements.as_ref(),
                b,
                &mut found,
            ));
            checks.push(setup::sandbox_check(h, &mut found));
        }
        None => {
            checks.push(Check::skipped(
                "host-entitlements",
                "the host may open the dext (userclient-access)",
                "no codesign output for the host",
                setup::HOST_FLAG,
            ));
            checks.push(Check::skipped(
                "host-sandbox",
                "the host's sandbox",
                "no codesign output for the host",
                setup::HOST_FLAG,
            ));
        }
    }
    checks.extend(dext_user_client::dext_entitlements_check(
        ucp,
        i.host_entitlements.as_ref(),
        &mut found,
    ));
    checks.extend(dext_user_client::client_entitlements_check(
        ucp,
        i.host_entitlements.as_ref(),
        &mut found,
    ));
    match &i.log {
        Some(l) => checks.push(dext_log::log_check(
            l,
            i.code,
            opened_service.as_ref(),
            &mut found,
        )),
        None => checks.push(Check::skipped(
            "dext-log",
            "the dext's kernel log",
            "no captured log",
            LOG_FLAG,
        )),
    }
    checks.push(code_check(i.code));
    match &i.crash {
        Some(c) => checks.push(crash_check::check(c, b)),
        None => checks.push(Check::skipped(
            "dext-crash",
            "a crash report of the dext",
            "no crash report",
            "--crash FILE: the dext's .ips (or .crash) from ~/Library/Logs/DiagnosticReports or /Library/Logs/DiagnosticReports",
        )),
    }
    if let Some(c) = crash_check::entitlement_keys_check(
        [&i.host_entitlements, &i.dext_entitlements]
            .into_iter()
            .flatten(),
    ) {
        checks.push(c);
    }

    let prefix = service
        .as_ref()
        .and_then(|s| s.string("IOUserClass").map(String::from))
        .or_else(|| b.map(|b| b.rsplit('.').next().unwrap_or(b).to_string()))
        .unwrap_or_else(|| "DK: ".to_string());
    let mut inputs = Vec::new();
    let mut read = |what: &str, src: Option<&String>| {
        if let Some(s) = src {
            inputs.push(format!("{what}: {s}"));
        }
    };
    read("registry", i.registry.as_ref().map(|r| &r.source));
    read("matching", i.matching.as_ref().map(|m| &m.source));
    read(
        "host entitlements",
        i.host_entitlements.as_ref().map(|e| &e.source),
    );
    read(
        "dext entitlements",
        i.dext_entitlements.as_ref().map(|e| &e.source),
    );
    read("system extensions", i.sysext.as_ref().map(|s| &s.source));
    read("log", i.log.as_ref().map(|l| &l.source));
    read("dext bundle", i.dext.as_ref().map(|d| &d.source));
    let crash_source = i.crash.as_ref().map(|c| c.path.display().to_string());
    read("crash report", crash_source.as_ref());
    let mut causes = causes::rank(i.code, &found);
    for c in &mut causes {
        c.action = c.action.replace("<IOUserClass>", &prefix);
        if let Some(b) = b {
            c.action = c.action.replace("<bundle id>", b);
        }
    }
    Report {
        bundle_id: bundle,
        inputs,
        checks,
        code: i.code.map(code_report),
        causes,
        log_command: logs::capture_command(&prefix),
        notes: i.notes.clone(),
    }
}

fn code_check(code: Option<ReturnCode>) -> Check {
    let t = "the failing code";
    match code {
        None => Check::skipped(
            "failing-code",
            t,
            "no code given: causes are ranked by the evidence alone",
            CODE_FLAG,
        ),
        Some(c) if c.is_success() => Check::new(
            "failing-code",
            t,
            Status::Pass,
            format!("{c}: the open succeeded"),
        ),
        Some(c) => {
            let e = crate::decode::explain(c.0);
            let mut check = Check::new(
                "failing-code",
                t,
                Status::Warn,
                format!("IOServiceOpen answered {c}"),
            );
            for n in e.notes.iter().filter(|n| n.call == "IOServiceOpen") {
                check = check.evidence(format!("can come from: {}", n.cause));
            }
            check
        }
    }
}

fn code_report(c: ReturnCode) -> CodeReport {
    let e = crate::decode::explain(c.0);
    CodeReport {
        value: c.to_string(),
        name: e.decoded.known.map(|k| k.name),
        meaning: e.decoded.known.map(|k| k.meaning),
        family: e.decoded.family().label(),
        from: e
            .notes
            .iter()
            .map(|n| format!("{}: {}", n.call, n.cause))
            .collect(),
    }
}
