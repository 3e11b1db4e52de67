//! Where a scenario's driver file may come from. A scenario file is untrusted (it may arrive with a bug
//! report), and its `driver:` path is read and echoed in error messages, so it must not reach outside
//! the files the user chose to run. The allowed places ("roots") for a scenario reached through a path
//! the user gave (`dexthil run PATH`, default `scenarios/`) are:
//!
//! - the directory dexthil runs in (the project: its `scenarios/drivers/` and test fixtures), and
//! - the directory the user gave, or for a scenario file given by name, the directory holding it.
//!
//! The driver path is resolved first (symlinks included, `canonicalize`), so neither `..` nor a symlink
//! leads out. Owns that rule only.

use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Roots {
    /// (canonical, as shown in messages)
    dirs: Vec<(PathBuf, String)>,
}

impl Roots {
    /// The roots for scenarios found under `given` (a directory or a scenario file).
    pub fn for_path(given: &Path) -> Roots {
        let mut dirs = Vec::new();
        if let Ok(cwd) = std::env::current_dir().and_then(|c| c.canonicalize()) {
            dirs.push((cwd, "the directory dexthil runs in".to_string()));
        }
        let dir = if given.is_dir() {
            given
        } else {
            given.parent().unwrap_or(Path::new("."))
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(c) = dir.canonicalize()
            && !dirs.iter().any(|(d, _)| c.starts_with(d))
        {
            dirs.push((c, format!("`{}`", dir.display())));
        }
        Roots { dirs }
    }

    /// `Ok(canonical path)` when `path` (as written, relative to the current directory) lies inside a
    /// root. A path that does not exist is only "unreadable": nothing outside can leak from it.
    pub fn admit(&self, path: &Path) -> Result<PathBuf, Refusal> {
        match path.canonicalize() {
            Ok(c) if self.dirs.iter().any(|(d, _)| c.starts_with(d)) => Ok(c),
            Ok(c) => Err(Refusal::Outside(self.outside(&c))),
            Err(e) => Err(Refusal::Unreadable(e)),
        }
    }

    fn outside(&self, resolved: &Path) -> String {
        let allowed = self
            .dirs
            .iter()
            .map(|(_, shown)| shown.as_str())
            .collect::<Vec<_>>()
            .join(" or ");
        format!(
            "resolves to {}, outside the scenario root: a driver file must lie under {allowed}",
            resolved.display()
        )
    }
}

pub enum Refusal {
    Outside(String),
    Unreadable(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_past_the_root_is_refused_and_a_path_inside_is_admitted() {
        let roots = Roots::for_path(Path::new("scenarios"));
        assert!(
            roots
                .admit(Path::new("scenarios/drivers/dnp-printer.yaml"))
                .is_ok()
        );
        let far = "scenarios/smoke/../../../../../../../../../../etc/passwd";
        match roots.admit(Path::new(far)) {
            Err(Refusal::Outside(m)) => assert!(m.contains("outside the scenario root"), "{m}"),
            _ => panic!("{far} was not refused as outside"),
        }
    }
}
