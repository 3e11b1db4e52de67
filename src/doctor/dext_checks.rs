//! Checks on a `.dext` bundle read offline ([`super::dext::DextBundle`]): which class each personality makes
//! the kernel instantiate and whether that class overrides NewUserClient (else the base answers
//! kIOReturnError: xnu iokit/Kernel/IOUserServer.cpp `IOService::NewUserClient_Impl`; libdriverkit's default
//! UNCONFIRMED, presumed the same), and whether the user client class `UserClientProperties` names
//! overrides ExternalMethod. A stripped executable or an Info.plist alone says what could not be checked.

use super::causes::{CauseKind, Finding, Strength};
use super::dext::{DextBundle, Personality};
use super::dext_symbols::{EXTERNAL_METHOD, ExecutableSymbols, NEW_USER_CLIENT, START};
use super::report::{Check, Status};
use crate::lab::RegEntry;

const BUNDLE: &str = "the dext bundle (--dext)";
const OVERRIDE: &str = "the personality's class overrides NewUserClient";
const EXTERNAL: &str = "the user client class overrides ExternalMethod";

/// The symbols, or why they cannot be used.
fn symbols(d: &DextBundle) -> Result<&ExecutableSymbols, String> {
    match &d.executable {
        None => Err(format!(
            "only an Info.plist was given ({}): give the .dext bundle to read its executable's symbols",
            d.info_plist.display()
        )),
        Some(e) if e.symbols.stripped() => Err(format!(
            "{} is stripped (no C++ symbols): doctor cannot tell which class defines {NEW_USER_CLIENT} or {EXTERNAL_METHOD}",
            e.path.display()
        )),
        Some(e) => Ok(&e.symbols),
    }
}

pub fn bundle_check(d: &DextBundle) -> Check {
    let names: Vec<String> = d
        .personalities
        .iter()
        .map(|p| {
            format!(
                "{} (IOUserClass {})",
                p.name,
                p.user_class_name().unwrap_or("missing")
            )
        })
        .collect();
    let mut c = Check::new(
        "dext-bundle",
        BUNDLE,
        Status::Pass,
        format!(
            "{}: {} personality(ies): {}",
            d.bundle_id.as_deref().unwrap_or("(no CFBundleIdentifier)"),
            d.personalities.len(),
            names.join(", ")
        ),
    )
    .evidence(format!("Info.plist: {}", d.info_plist.display()));
    match (&d.executable, symbols(d)) {
        (Some(e), Ok(s)) => {
            c = c.evidence(format!(
                "executable: {} ({})",
                e.path.display(),
                e.symbols.arches.join(", ")
            ));
            for m in [NEW_USER_CLIENT, EXTERNAL_METHOD, START] {
                let with = s.classes_with(m);
                let list = if with.is_empty() {
                    "none".to_string()
                } else {
                    with.join(", ")
                };
                c = c.evidence(format!("classes defining {m}: {list}"));
            }
        }
        // Release builds are often stripped: not a fault, but the symbol checks say they were skipped.
        (_, Err(why)) => c = c.evidence(why),
        (None, Ok(_)) => {}
    }
    for p in &d.personalities {
        if let Some(prov) = p.provider_class.as_ref().and_then(|v| v.as_str()) {
            let keys: Vec<&str> = p.matching.keys().map(String::as_str).collect();
            c = c.evidence(format!(
                "{}: IOProviderClass {prov}, matching keys {}",
                p.name,
                if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join(", ")
                }
            ));
        }
    }
    c
}

/// Each personality's IOUserClass against the classes that define NewUserClient_Impl.
pub fn new_user_client_check(d: &DextBundle, found: &mut Vec<Finding>) -> Check {
    let s = match symbols(d) {
        Ok(s) => s,
        Err(why) => {
            return Check::skipped(
                "dext-new-user-client",
                OVERRIDE,
                why,
                "--dext PATH: the .dext bundle with an unstripped executable",
            );
        }
    };
    let with = s.classes_with(NEW_USER_CLIENT);
    let has = |p: &Personality| {
        p.user_class_name()
            .is_some_and(|c| s.defines(c, NEW_USER_CLIENT))
    };
    let any_ok = d.personalities.iter().any(has);
    let mut c = Check::new(
        "dext-new-user-client",
        OVERRIDE,
        Status::Pass,
        String::new(),
    );
    let mut bad = Vec::new();
    for p in &d.personalities {
        let Some(class) = p.user_class_name() else {
            c = c.evidence(format!(
                "personality {}: no IOUserClass string: the kernel has no dext class to instantiate",
                p.name
            ));
            bad.push(format!("personality {} (no IOUserClass)", p.name));
            continue;
        };
        if has(p) {
            c = c.evidence(format!(
                "personality {}: {class} defines {NEW_USER_CLIENT}",
                p.name
            ));
            found.push(Finding::new(
                CauseKind::NoNewUserClientOverride,
                Strength::RuledOut,
                format!("personality {}: {class} defines {NEW_USER_CLIENT}", p.name),
            ));
            continue;
        }
        // A personality without UserClientProperties need not create user clients, unless none does.
        if p.user_client_properties.is_none() && any_ok {
            c = c.evidence(format!(
                "personality {}: {class} has no {NEW_USER_CLIENT} and no UserClientProperties: opening its service answers kIOReturnError (fine if the host never opens it)",
                p.name
            ));
            continue;
        }
        let others = if with.is_empty() {
            "no class of the executable defines it".to_string()
        } else {
            format!("{} does", with.join(", "))
        };
        let text = format!(
            "personality {}: IOUserClass {class} defines no {NEW_USER_CLIENT}; {others}. The kernel instantiates {class} for this personality, so opening its service runs the base NewUserClient: kIOReturnError, with no NewUserClient line of yours{}",
            p.name,
            if p.user_client_properties.is_some() {
                " (its UserClientProperties are never used)"
            } else {
                ""
            }
        );
        found.push(Finding::new(
            CauseKind::NoNewUserClientOverride,
            Strength::Confirmed,
            text.clone(),
        ));
        c = c.evidence(text);
        bad.push(format!("personality {} (IOUserClass {class})", p.name));
    }
    if bad.is_empty() {
        c.summary =
            format!("every personality meant to be opened names a class with {NEW_USER_CLIENT}");
        c
    } else {
        c.status = Status::Fail;
        c.summary = format!(
            "{} has no NewUserClient override{}",
            bad.join(", "),
            match with.first() {
                Some(w) => format!(" ({w} has it)"),
                None => String::new(),
            }
        );
        c.action(CauseKind::NoNewUserClientOverride.action())
    }
}

/// The user client class of each personality's UserClientProperties against ExternalMethod_Impl.
pub fn external_method_check(d: &DextBundle) -> Option<Check> {
    let clients: Vec<(&str, &str)> = d
        .personalities
        .iter()
        .filter_map(|p| Some((p.name.as_str(), p.user_client_class()?)))
        .collect();
    if clients.is_empty() {
        return None;
    }
    let s = match symbols(d) {
        Ok(s) => s,
        Err(why) => {
            return Some(Check::skipped(
                "dext-external-method",
                EXTERNAL,
                why,
                "--dext PATH: the .dext bundle with an unstripped executable",
            ));
        }
    };
    let mut c = Check::new(
        "dext-external-method",
        EXTERNAL,
        Status::Pass,
        String::new(),
    );
    let mut bad = Vec::new();
    for (p, class) in clients {
        if s.defines(class, EXTERNAL_METHOD) {
            c = c.evidence(format!(
                "personality {p}: {class} defines {EXTERNAL_METHOD}"
            ));
        } else if s.classes.contains_key(class) {
            c = c.evidence(format!("personality {p}: {class} defines no {EXTERNAL_METHOD}: every call reaches the base IOUserClient::ExternalMethod (closed source, what it answers UNCONFIRMED), never a selector of yours"));
            bad.push(class);
        } else {
            c = c.evidence(format!("personality {p}: UserClientProperties names {class}, but the executable defines no method of {class}: the kernel's Create cannot make it a user client of yours"));
            bad.push(class);
        }
    }
    if bad.is_empty() {
        c.summary = format!("the user client class defines {EXTERNAL_METHOD}");
        Some(c)
    } else {
        c.status = Status::Fail;
        c.summary = format!("{} does not define {EXTERNAL_METHOD}", bad.join(", "));
        Some(c.action("declare `ExternalMethod(...) override;` in the user client's .iig and implement it with IMPL(<class>, ExternalMethod), or name the right class in UserClientProperties IOUserClass"))
    }
}

/// The service the kernel would make from the personality meant to be opened (the first with
/// `UserClientProperties`, else the first): its properties are the personality's, as the kernel copies
/// them (reference §5), so the registry's `UserClientProperties` check can run on a bundle alone.
pub fn personality_entry(d: &DextBundle) -> Option<RegEntry> {
    let p = d
        .personalities
        .iter()
        .find(|p| p.user_client_properties.is_some())
        .or_else(|| d.personalities.first())?;
    let mut properties = p.matching.clone();
    for (k, v) in [
        ("IOClass", &p.io_class),
        ("IOUserClass", &p.user_class),
        ("IOProviderClass", &p.provider_class),
        ("UserClientProperties", &p.user_client_properties),
    ] {
        if let Some(v) = v {
            properties.insert(k.to_string(), v.clone());
        }
    }
    let name = p.user_class_name().unwrap_or(&p.name).to_string();
    Some(RegEntry {
        id: 0,
        class: p
            .io_class
            .as_ref()
            .and_then(|c| c.as_str())
            .unwrap_or("IOUserService")
            .to_string(),
        class_chain: Vec::new(),
        parent: None,
        location: None,
        path: format!("personality {} of {}", p.name, d.info_plist.display()),
        registered: false,
        name,
        properties,
    })
}
