//! The files of a bug report, recognised by what they hold rather than by flags: `dexthil doctor FILE..` or a
//! folder of attachments. Each file's head is sniffed (an `ioreg` dump, `codesign` entitlements of the host or
//! of the dext, `systemextensionsctl list` output, a captured kernel log, a matching dictionary, a code) and
//! put in the slot of [`crate::doctor::Files`] its flag would fill. Knows file shapes, not what doctor checks.

use crate::doctor::Files;
use std::io::Read;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// How much of a file is read to tell what it is.
const SNIFF: u64 = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ioreg,
    Matching,
    HostEntitlements,
    DextEntitlements,
    Sysext,
    Log,
    Code,
}

impl Kind {
    /// The flag that takes such a file.
    pub fn flag(self) -> &'static str {
        match self {
            Kind::Ioreg => "--ioreg",
            Kind::Matching => "--matching",
            Kind::HostEntitlements => "--host-entitlements",
            Kind::DextEntitlements => "--dext-entitlements",
            Kind::Sysext => "--sysext",
            Kind::Log => "--log",
            Kind::Code => "--code",
        }
    }
}

#[derive(Debug, Error)]
pub enum AttachmentError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a regular file or a folder", path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "cannot tell what {} is (not an ioreg dump, codesign entitlements, systemextensionsctl output, a \
         kernel log, a matching dictionary or a code): pass it with its flag (see `dexthil doctor --help`)",
        path.display()
    )]
    Unknown { path: PathBuf },
    #[error("{} and {} both look like {}: pass the one to use with {}", first.display(), second.display(), what, flag)]
    Twice {
        first: PathBuf,
        second: PathBuf,
        what: &'static str,
        flag: &'static str,
    },
}

/// What `text` (a file's head) is, if it is any of the attachments doctor reads.
pub fn kind_of(text: &str) -> Option<Kind> {
    let t = text.trim_start_matches('\u{feff}').trim();
    if !t.contains(char::is_whitespace) && !t.is_empty() && crate::ioreturn::parse(t).is_ok() {
        return Some(Kind::Code);
    }
    if t.starts_with("+-o ") || t.contains("<key>IORegistryEntryName</key>") {
        return Some(Kind::Ioreg);
    }
    if t.contains("extension(s)") && t.contains("--- com.apple.system_extension") {
        return Some(Kind::Sysext);
    }
    let first = t.lines().next().unwrap_or("");
    let dated = |l: &str| {
        let b = l.as_bytes();
        b.len() > 19
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[4] == b'-'
            && b[10] == b' '
            && b[13] == b':'
    };
    if first.starts_with("Filtering the log data")
        || first.starts_with("Timestamp")
        || dated(first)
        || t.contains("\"eventMessage\"")
    {
        return Some(Kind::Log);
    }
    let plist = t.contains("<plist") || t.starts_with("<?xml");
    if plist && t.contains("com.apple.developer.driverkit") {
        // `codesign -d` names the executable; a dext's lives in a `.dext` bundle. Without that line, only a
        // dext is entitled to be a driver (`com.apple.developer.driverkit` itself).
        let dext = match t.lines().find_map(|l| l.strip_prefix("Executable=")) {
            Some(exe) => exe.contains(".dext/"),
            None => t.contains("<key>com.apple.developer.driverkit</key>"),
        };
        return Some(if dext {
            Kind::DextEntitlements
        } else {
            Kind::HostEntitlements
        });
    }
    if (plist || t.starts_with('{')) && t.contains("IOProviderClass") {
        return Some(Kind::Matching);
    }
    None
}

/// The head of a regular file (never blocking on a FIFO or reading a device without end).
fn head(path: &Path) -> Result<String, AttachmentError> {
    let err = |source| AttachmentError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(err)?;
    if !meta.is_file() {
        return Err(AttachmentError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(err)?
        .take(SNIFF)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Fill `files` from `inputs`: files, and folders whose regular files are taken one level deep (what cannot
/// be recognised in a folder, a README, is skipped with a warning; a file given by name must be recognised).
/// A slot a flag already filled is left to the flag.
pub fn sort_into(files: &mut Files, inputs: &[PathBuf]) -> Result<Vec<String>, AttachmentError> {
    let mut warnings = Vec::new();
    let mut seen: Vec<(Kind, PathBuf)> = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|source| AttachmentError::Read {
            path: input.clone(),
            source,
        })?;
        let (paths, in_folder) = if meta.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|source| AttachmentError::Read {
                    path: input.clone(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            v.sort();
            (v, true)
        } else {
            (vec![input.clone()], false)
        };
        for path in paths {
            let kind = match head(&path) {
                Ok(text) => kind_of(&text),
                Err(e) if in_folder => {
                    warnings.push(format!("skipped {e}"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Some(kind) = kind else {
                if in_folder {
                    warnings.push(format!(
                        "skipped {}: not a file doctor reads",
                        path.display()
                    ));
                    continue;
                }
                return Err(AttachmentError::Unknown { path });
            };
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == kind) {
                return Err(AttachmentError::Twice {
                    first: first.clone(),
                    second: path,
                    what: describe(kind),
                    flag: kind.flag(),
                });
            }
            seen.push((kind, path.clone()));
            let slot = match kind {
                Kind::Ioreg => &mut files.ioreg,
                Kind::Matching => &mut files.matching,
                Kind::HostEntitlements => &mut files.host_entitlements,
                Kind::DextEntitlements => &mut files.dext_entitlements,
                Kind::Sysext => &mut files.sysext,
                Kind::Log => &mut files.log,
                Kind::Code => {
                    if files.code.is_none() {
                        files.code = head(&path).ok().map(|t| t.trim().to_string());
                    }
                    continue;
                }
            };
            if slot.is_none() {
                *slot = Some(path);
            }
        }
    }
    Ok(warnings)
}

fn describe(kind: Kind) -> &'static str {
    match kind {
        Kind::Ioreg => "an ioreg dump",
        Kind::Matching => "a matching dictionary",
        Kind::HostEntitlements => "the host's entitlements",
        Kind::DextEntitlements => "the dext's entitlements",
        Kind::Sysext => "systemextensionsctl output",
        Kind::Log => "a kernel log",
        Kind::Code => "a code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attachment_of_a_bug_report_is_recognised_by_its_content() {
        let dir = Path::new("tests/fixtures/doctor/a-opened-user-server");
        for (file, kind) in [
            ("code.txt", Kind::Code),
            ("dext-entitlements.xml", Kind::DextEntitlements),
            ("host-entitlements.xml", Kind::HostEntitlements),
            ("ioreg.txt", Kind::Ioreg),
            ("log.txt", Kind::Log),
            ("matching.json", Kind::Matching),
            ("sysext.txt", Kind::Sysext),
        ] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert_eq!(kind_of(&text), Some(kind), "{file}");
        }
        assert_eq!(kind_of("hello, world"), None);
        // Prose that mentions the keys is not a file of them.
        assert_eq!(
            kind_of("# notes\nthe com.apple.developer.driverkit entitlement, IOProviderClass"),
            None
        );
    }
}
