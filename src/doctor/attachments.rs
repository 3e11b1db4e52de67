//! Doctor's positional inputs: files and folders of bug-report attachments, each recognised by what it
//! holds rather than by its name (people attach `ioreg.txt`, `Untitled.rtf.txt`, `log.log`, `crash.ips`).
//!
//! [`recognise`] looks at the bytes; [`sort_into`] files each recognised attachment into the [`Files`]
//! slot a flag would have filled (a flag given on the command line wins) and says, as notes, what it
//! skipped. A folder is walked once through [`crate::input::walk`] (special files skipped, symbolic link
//! loops visited once).

use super::entitlements::{self, DRIVERKIT};
use super::error::DoctorError;
use super::{Files, sysext};
use crate::input::{self, FileKind};
use std::path::{Path, PathBuf};

/// What an attachment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attachment {
    /// `ioreg -l` text or `ioreg -a -l` plist.
    Ioreg,
    /// `systemextensionsctl list`.
    Sysext,
    /// codesign's entitlements (any form) of a dext: it has `com.apple.developer.driverkit`.
    DextEntitlements,
    /// codesign's entitlements of anything else: the host.
    HostEntitlements,
    /// A matching dictionary (`IOProviderClass` ...), plist or JSON.
    Matching,
    /// `.ips` or `.crash`.
    Crash,
    /// `log stream` / `log show` / Console text, any style.
    Log,
    /// The code `IOServiceOpen` returned, alone in a file (`code.txt`): hex, decimal or a name.
    Code,
}

impl Attachment {
    pub fn label(self) -> &'static str {
        match self {
            Attachment::Ioreg => "registry dump",
            Attachment::Sysext => "systemextensionsctl list",
            Attachment::DextEntitlements => "dext entitlements",
            Attachment::HostEntitlements => "host entitlements",
            Attachment::Matching => "matching dictionary",
            Attachment::Crash => "crash report",
            Attachment::Log => "log",
            Attachment::Code => "failing code",
        }
    }
}

/// Keys only a matching dictionary has at its top: xnu-11417 `iokit/IOKit/IOKitKeys.h` (`kIOProviderClassKey`,
/// `kIOPropertyMatchKey`, `kIONameMatchKey`, `kIOParentMatchKey`, `kIOPathMatchKey`, `kIORegistryEntryIDKey`,
/// `kIOPropertyExistsMatchKey`).
const MATCHING_KEYS: &[&str] = &[
    "IOProviderClass",
    "IOPropertyMatch",
    "IONameMatch",
    "IOParentMatch",
    "IOPathMatch",
    "IORegistryEntryID",
    "IOPropertyExistsMatch",
];

/// Recognise an attachment from its bytes; `None` when it is none of the kinds doctor reads.
pub fn recognise(path: &Path, bytes: &[u8]) -> Option<Attachment> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let head = &body[..body.len().min(256 * 1024)];
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start();
    // A file holding one token that decodes as a code (what a bug report's `code.txt` is).
    if body.len() <= 64 {
        let word = text.trim();
        if !word.is_empty()
            && !word.contains(char::is_whitespace)
            && crate::ioreturn::parse(word).is_ok()
        {
            return Some(Attachment::Code);
        }
    }
    if body.starts_with(b"bplist") || text.contains("<plist") || text.contains("<?xml") {
        return recognise_plist(path, bytes, &text);
    }
    if trimmed.starts_with('{') {
        let first = trimmed.lines().next().unwrap_or("");
        if first.contains("\"bug_type\"") || first.contains("\"app_name\"") {
            return Some(Attachment::Crash);
        }
        if first.contains("\"eventMessage\"") || first.contains("\"traceID\"") {
            return Some(Attachment::Log);
        }
        if MATCHING_KEYS
            .iter()
            .any(|k| text.contains(&format!("\"{k}\"")))
        {
            return Some(Attachment::Matching);
        }
    }
    if crate::logs::crash_text::looks_like(&text) {
        return Some(Attachment::Crash);
    }
    if text
        .lines()
        .any(|l| l.contains("+-o ") && l.contains("<class "))
    {
        return Some(Attachment::Ioreg);
    }
    if sysext::looks_like(&text) {
        return Some(Attachment::Sysext);
    }
    if super::entitlements_text::looks_like(&text) {
        return entitlements::parse(path, bytes).ok().map(|e| side(&e));
    }
    if super::logs::looks_like(&text) {
        return Some(Attachment::Log);
    }
    // Grep-filtered ioreg text: property lines and no node line.
    if text
        .lines()
        .filter(|l| {
            l.trim_start()
                .trim_start_matches('|')
                .trim_start()
                .starts_with('"')
                && l.contains("\" = ")
        })
        .count()
        >= 2
    {
        return Some(Attachment::Ioreg);
    }
    None
}

fn recognise_plist(path: &Path, bytes: &[u8], text: &str) -> Option<Attachment> {
    if [
        "IOObjectClass",
        "IORegistryEntryName",
        "IORegistryEntryChildren",
    ]
    .iter()
    .any(|k| text.contains(&format!("<key>{k}</key>")))
    {
        return Some(Attachment::Ioreg);
    }
    if MATCHING_KEYS
        .iter()
        .any(|k| text.contains(&format!("<key>{k}</key>")))
    {
        return Some(Attachment::Matching);
    }
    if bytes.starts_with(b"bplist") {
        // A binary plist has no readable keys: an ioreg dump is the likely one; the entitlements
        // reader takes binary too, so try it when the dump reader refuses.
        if crate::backends::replay::parse_plist(path, bytes).is_ok() {
            return Some(Attachment::Ioreg);
        }
    }
    entitlements::parse(path, bytes).ok().map(|e| side(&e))
}

fn side(e: &entitlements::Entitlements) -> Attachment {
    if e.has(DRIVERKIT) {
        Attachment::DextEntitlements
    } else {
        Attachment::HostEntitlements
    }
}

/// Read each positional path (a file, or a folder walked for files), recognise it and put it in its slot
/// of `files`. Returns notes for the report: what each attachment was taken as, and what was skipped.
pub fn sort_into(files: &mut Files, paths: &[PathBuf]) -> Result<Vec<String>, DoctorError> {
    let mut notes = Vec::new();
    let is_bundle = |p: &Path| p.extension().is_some_and(|e| e == "dext");
    for p in paths {
        match input::kind_of(p) {
            // A `.dext` bundle is one attachment (`--dext`), not a folder of them.
            Some(FileKind::Directory) if is_bundle(p) => take_bundle(files, p, &mut notes),
            Some(FileKind::Directory) => {
                let bundles = std::cell::RefCell::new(Vec::new());
                let w = input::walk(p, &|d| {
                    if is_bundle(d) {
                        bundles.borrow_mut().push(d.to_path_buf());
                        return false;
                    }
                    true
                });
                for b in bundles.into_inner() {
                    take_bundle(files, &b, &mut notes);
                }
                notes.extend(w.warnings);
                for (d, e) in w.errors {
                    notes.push(format!(
                        "{}: skipped: cannot read the folder: {e}",
                        d.display()
                    ));
                }
                for f in w.files {
                    // A folder holds all sorts: one that cannot be read or recognised is a note, not an error.
                    match input::read_capped(&f, input::LOG) {
                        Ok(bytes) => place(files, &f, &bytes, &mut notes, false)?,
                        Err(e) => notes.push(format!("skipped: {e}")),
                    }
                }
            }
            _ => {
                // A file named on the command line must be read: a FIFO or a device is an error.
                let bytes = input::read_capped(p, input::LOG)?;
                place(files, p, &bytes, &mut notes, true)?;
            }
        }
    }
    Ok(notes)
}

fn take_bundle(files: &mut Files, bundle: &Path, notes: &mut Vec<String>) {
    match &files.dext {
        None => {
            notes.push(format!("{}: read as the dext bundle", bundle.display()));
            files.dext = Some(bundle.to_path_buf());
        }
        Some(have) => notes.push(format!(
            "{}: skipped: a dext bundle was already given ({})",
            bundle.display(),
            have.display()
        )),
    }
}

fn place(
    files: &mut Files,
    path: &Path,
    bytes: &[u8],
    notes: &mut Vec<String>,
    named: bool,
) -> Result<(), DoctorError> {
    let Some(kind) = recognise(path, bytes) else {
        if named {
            return Err(DoctorError::syntax(
                path,
                1,
                Some(1),
                "not an attachment doctor recognises: expected `ioreg -l` text or an `ioreg -a -l` plist, \
                 `systemextensionsctl list`, codesign's entitlements, a matching dictionary, a crash report \
                 (.ips or .crash) or a `log stream` / `log show` capture",
            ));
        }
        notes.push(format!(
            "{}: skipped: not an attachment doctor recognises",
            path.display()
        ));
        return Ok(());
    };
    let slot = match kind {
        Attachment::Code => {
            match &files.code {
                Some(have) => notes.push(format!(
                    "{}: read as a failing code but {have} was already given: skipped",
                    path.display()
                )),
                None => {
                    notes.push(format!("{}: read as the failing code", path.display()));
                    files.code = Some(String::from_utf8_lossy(bytes).trim().to_string());
                }
            }
            return Ok(());
        }
        Attachment::Ioreg => &mut files.ioreg,
        Attachment::Sysext => &mut files.sysext,
        Attachment::DextEntitlements => &mut files.dext_entitlements,
        Attachment::HostEntitlements => &mut files.host_entitlements,
        Attachment::Matching => &mut files.matching,
        Attachment::Crash => &mut files.crash,
        Attachment::Log => &mut files.log,
    };
    match slot {
        Some(taken) => notes.push(format!(
            "{}: read as a {} but {} is already that input: skipped",
            path.display(),
            kind.label(),
            taken.display()
        )),
        None => {
            notes.push(format!("{}: read as the {}", path.display(), kind.label()));
            *slot = Some(path.to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Option<Attachment> {
        recognise(Path::new("a"), text.as_bytes())
    }

    #[test]
    fn each_kind_is_recognised_by_content() {
        assert_eq!(
            kind("+-o Root  <class IORegistryEntry, id 0x1, retain 9>\n"),
            Some(Attachment::Ioreg)
        );
        assert_eq!(
            kind("2 extension(s)\n--- com.apple.system_extension.driver_extension\n"),
            Some(Attachment::Sysext)
        );
        assert_eq!(
            kind("{\"app_name\":\"x\",\"bug_type\":\"309\"}\n{}\n"),
            Some(Attachment::Crash)
        );
        assert_eq!(
            kind("{\"IOProviderClass\": \"IOUserService\"}"),
            Some(Attachment::Matching)
        );
        assert_eq!(
            kind(
                "Executable=/x\n[Dict]\n\t[Key] com.apple.developer.driverkit\n\t[Value]\n\t\t[Bool] true\n"
            ),
            Some(Attachment::DextEntitlements)
        );
        assert_eq!(kind("hello world\n"), None);
    }
}
