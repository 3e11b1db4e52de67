//! `doctor --live`: gather the inputs on this Mac by running the tools a person would (no shell, no root):
//! `systemextensionsctl list`, `/usr/sbin/ioreg -a -l`, and `codesign -d --entitlements - --xml` on the host
//! (this executable, which is what opens the dext in a lab run) and on the dext (`--dext PATH`, else found
//! under `/Library/SystemExtensions` when that is readable). Files given on the command line take the
//! place of what would be gathered. Off a Mac this is an error.

use super::{DoctorError, Inputs};
use std::path::PathBuf;

/// What `--live` may be told.
#[derive(Clone, Debug, Default)]
pub struct LiveOptions {
    /// The installed `.dext` bundle to read entitlements from.
    pub dext: Option<PathBuf>,
}

/// Fill in every input `given` lacks from this Mac.
pub fn gather(given: Inputs, opts: &LiveOptions) -> Result<Inputs, DoctorError> {
    if !crate::os::IS_MAC {
        return Err(DoctorError::Live(
            "--live reads this machine's IORegistry, system extensions and code signatures, which only a Mac has; \
             here, give the files a Mac recorded instead (--ioreg, --sysext, --host-entitlements, --dext-entitlements, --matching, --log, --code)"
                .into(),
        ));
    }
    imp::gather(given, opts)
}

/// The gatherer itself: built everywhere, run only on a Mac.
mod imp {
    use super::super::{Entitlements, RegistryDump, entitlements, sysext};
    use super::*;
    use crate::backends::replay::parse_dump;
    use std::path::Path;
    use std::process::Command;

    /// Run a tool with arguments (never through a shell) and return its standard output.
    fn run(program: &str, args: &[&str]) -> Result<Vec<u8>, DoctorError> {
        let shown = format!("{program} {}", args.join(" "));
        let out = Command::new(program)
            .args(args)
            .output()
            .map_err(|e| DoctorError::Live(format!("cannot run `{shown}`: {e}")))?;
        if !out.status.success() && out.stdout.is_empty() {
            return Err(DoctorError::Live(format!(
                "`{shown}` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out.stdout)
    }

    fn codesign(path: &Path) -> Result<Entitlements, DoctorError> {
        let p = path.display().to_string();
        let bytes = run(
            "/usr/bin/codesign",
            &["-d", "--entitlements", "-", "--xml", &p],
        )?;
        entitlements::parse(
            Path::new(&format!("codesign -d --entitlements - --xml {p}")),
            &bytes,
        )
    }

    /// `/Library/SystemExtensions/<uuid>/<bundle id>.dext`, when the folder can be listed.
    fn find_dext(bundle: &str) -> Result<Option<PathBuf>, std::io::Error> {
        for dir in std::fs::read_dir("/Library/SystemExtensions")? {
            let candidate = dir?.path().join(format!("{bundle}.dext"));
            if candidate.is_dir() {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    pub fn gather(mut i: Inputs, opts: &LiveOptions) -> Result<Inputs, DoctorError> {
        if i.sysext.is_none() {
            let out = run("/usr/bin/systemextensionsctl", &["list"])?;
            let text = String::from_utf8_lossy(&out).into_owned();
            i.sysext = Some(sysext::parse(Path::new("systemextensionsctl list"), &text)?);
        }
        if i.registry.is_none() {
            let out = run("/usr/sbin/ioreg", &["-a", "-l"])?;
            let tree = parse_dump(Path::new("ioreg -a -l"), &out)?;
            i.registry = Some(RegistryDump {
                source: "ioreg -a -l".into(),
                entries: tree.entries(),
            });
        }
        if i.host_entitlements.is_none() {
            let exe = std::env::current_exe().map_err(|e| {
                DoctorError::Live(format!(
                    "cannot find this executable to read its entitlements: {e}"
                ))
            })?;
            i.host_entitlements = Some(codesign(&exe)?);
            i.notes.push(format!(
                "the host checked is this executable ({}); give --host-entitlements to check another host",
                exe.display()
            ));
        }
        if i.dext_entitlements.is_none() {
            let bundle = i.bundle_id.clone().or_else(|| {
                let s = i.sysext.as_ref()?;
                let ids: Vec<_> = s.drivers().map(|r| r.bundle_id.clone()).collect();
                (ids.len() == 1).then(|| ids[0].clone())
            });
            let path = match (&opts.dext, bundle) {
                (Some(p), _) => Some(p.clone()),
                (None, Some(b)) => match find_dext(&b) {
                    Ok(p) => p,
                    Err(e) => {
                        i.notes.push(format!(
                            "cannot list /Library/SystemExtensions ({e}) to find {b}.dext: give --dext PATH, or run as root to let doctor find it"
                        ));
                        None
                    }
                },
                (None, None) => None,
            };
            if let Some(p) = path {
                i.dext_entitlements = Some(codesign(&p)?);
            }
        }
        i.notes.push(
            "doctor does not read the kernel log live: capture it with the command above while the host opens, and pass it with --log".into(),
        );
        Ok(i)
    }
}
