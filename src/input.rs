//! What a file we read may be: the one place every reader (scenario, driver and station files, registry
//! dumps, journals, recordings, entitlements, `systemextensionsctl` listings, logs, crash reports) opens
//! its input, and the one folder walk (scenario folders, doctor's attachment folders).
//!
//! A bug report or a careless command line can hand a reader a FIFO (`open` blocks until a writer comes,
//! `read` then waits for ever), `/dev/zero` (never ends), a directory or a file of gigabytes. So a read
//! opens without blocking (`O_NONBLOCK`, which makes opening a FIFO with no writer return at once), checks
//! on the opened file that it is a regular file, and reads at most `cap` bytes plus one to tell "too large"
//! from "exactly the cap". A walk visits each real directory once (a symlink loop is walked once, not level
//! after level) and skips special files with a warning.
//!
//! It knows nothing of what the bytes mean; callers turn [`InputError`] into their own located errors.

use crate::os::FileId;
use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A size limit and the words that say what kind of file it is for, for the message.
#[derive(Clone, Copy, Debug)]
pub struct Cap {
    pub bytes: u64,
    /// `a registry dump`, `a journal`, ...
    pub what: &'static str,
}

pub const MIB: u64 = 1024 * 1024;

/// A full `ioreg -l` of a busy Mac is tens of MiB; `ioreg -a -l` a little more.
pub const DUMP: Cap = Cap {
    bytes: 256 * MIB,
    what: "a registry dump",
};
/// A nightly's journal with fuzz cases: one line per event.
pub const JOURNAL: Cap = Cap {
    bytes: 1024 * MIB,
    what: "a journal",
};
/// A recorded `usb.json`: a few printers' descriptors.
pub const RECORDING: Cap = Cap {
    bytes: 64 * MIB,
    what: "a recorded USB view",
};
/// A captured `log stream` / `log show`.
pub const LOG: Cap = Cap {
    bytes: 512 * MIB,
    what: "a captured log",
};
/// A crash report (`.ips` or `.crash`): a few hundred KiB at most.
pub const CRASH: Cap = Cap {
    bytes: 32 * MIB,
    what: "a crash report",
};
/// A dext's executable (`doctor --dext`): a universal DriverKit binary is a few MiB.
pub const EXECUTABLE: Cap = Cap {
    bytes: 256 * MIB,
    what: "a dext executable",
};
/// codesign output, `systemextensionsctl list`, a matching dictionary: a few KiB.
pub const SMALL_TEXT: Cap = Cap {
    bytes: 4 * MIB,
    what: "this kind of attachment",
};

#[derive(Debug, Error)]
pub enum InputError {
    #[error("{}: cannot read the file: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: cannot read the file: it is a directory; give a file", path.display())]
    Directory { path: PathBuf },
    /// A FIFO, socket or device: reading it could block for ever or never end.
    #[error(
        "{}: not a regular file (it is {kind}): refusing to read it, since it could block or never end; \
         save the output to a file and give that",
        path.display()
    )]
    Special { path: PathBuf, kind: &'static str },
    #[error(
        "{}: the file is larger than {} MiB, the limit for {}: is this the right file?",
        path.display(),
        cap.bytes / MIB,
        cap.what
    )]
    TooLarge { path: PathBuf, cap: Cap },
}

impl InputError {
    pub fn path(&self) -> &Path {
        match self {
            InputError::Open { path, .. }
            | InputError::Directory { path }
            | InputError::Special { path, .. }
            | InputError::TooLarge { path, .. } => path,
        }
    }
}

/// What a path is, without opening it (symlinks followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    /// `a FIFO (named pipe)`, `a character device`, ...
    Special(&'static str),
}

fn kind_of_type(t: std::fs::FileType) -> FileKind {
    if t.is_file() {
        return FileKind::Regular;
    }
    if t.is_dir() {
        return FileKind::Directory;
    }
    FileKind::Special(crate::os::special_file_kind(&t).unwrap_or("not a regular file"))
}

/// The kind of `path`, following symlinks; `None` when it cannot be stat'ed (missing, dangling link).
pub fn kind_of(path: &Path) -> Option<FileKind> {
    std::fs::metadata(path)
        .ok()
        .map(|m| kind_of_type(m.file_type()))
}

/// Open without blocking: a FIFO with no writer opens at once instead of waiting for one.
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    crate::os::open_nonblocking(std::fs::OpenOptions::new().read(true), path)
}

/// Read a regular file whole, refusing directories, special files and anything over `cap`.
pub fn read_capped(path: &Path, cap: Cap) -> Result<Vec<u8>, InputError> {
    let open_err = |source| InputError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = open_nonblocking(path).map_err(open_err)?;
    // Checked on the opened file, so what is read is what was checked.
    let meta = file.metadata().map_err(open_err)?;
    match kind_of_type(meta.file_type()) {
        FileKind::Regular => {}
        FileKind::Directory => {
            return Err(InputError::Directory {
                path: path.to_path_buf(),
            });
        }
        FileKind::Special(kind) => {
            return Err(InputError::Special {
                path: path.to_path_buf(),
                kind,
            });
        }
    }
    if meta.len() > cap.bytes {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            cap,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The size may grow while it is read (a log still being written): the cap holds regardless.
    file.take(cap.bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(open_err)?;
    if bytes.len() as u64 > cap.bytes {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            cap,
        });
    }
    Ok(bytes)
}

/// What a folder walk found: regular files in sorted order, what it skipped and why, and the folders it
/// could not read.
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<PathBuf>,
    /// `path: skipped: ...`, one per skipped special file or directory met again.
    pub warnings: Vec<String>,
    pub errors: Vec<(PathBuf, std::io::Error)>,
}

/// Walk `root` depth first in sorted order. `descend` says whether to enter a sub-directory (the root is
/// always entered). Each real directory is entered once, however many links lead to it.
pub fn walk(root: &Path, descend: &dyn Fn(&Path) -> bool) -> Walk {
    let mut w = Walk::default();
    let mut seen = HashSet::new();
    walk_into(root, descend, &mut seen, &mut w);
    w
}

fn walk_into(
    dir: &Path,
    descend: &dyn Fn(&Path) -> bool,
    seen: &mut HashSet<FileId>,
    w: &mut Walk,
) {
    // Device and inode where there are such (what a loop returns to), the canonical path else.
    if let Some(id) = crate::os::file_identity(dir)
        && !seen.insert(id)
    {
        w.warnings.push(format!(
            "{}: skipped: this folder was already visited (a symbolic link leads back to it)",
            dir.display()
        ));
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            w.errors.push((dir.to_path_buf(), e));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        match kind_of(&p) {
            Some(FileKind::Directory) => {
                if descend(&p) {
                    walk_into(&p, descend, seen, w);
                }
            }
            Some(FileKind::Regular) => w.files.push(p),
            Some(FileKind::Special(kind)) => w.warnings.push(format!(
                "{}: skipped: not a regular file (it is {kind})",
                p.display()
            )),
            None => w.warnings.push(format!(
                "{}: skipped: cannot be read (a dangling symbolic link?)",
                p.display()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: Cap = Cap {
        bytes: 8,
        what: "a test file",
    };

    #[test]
    fn a_file_over_the_cap_is_refused_with_its_name() {
        let dir = tempdir("cap");
        let p = dir.join("big.txt");
        std::fs::write(&p, b"123456789").unwrap();
        let e = read_capped(&p, TINY).unwrap_err().to_string();
        assert!(e.contains("big.txt: the file is larger than"), "{e}");
        std::fs::write(&p, b"12345678").unwrap();
        assert_eq!(read_capped(&p, TINY).unwrap(), b"12345678");
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempdir("dir");
        let e = read_capped(&dir, TINY).unwrap_err();
        assert!(matches!(e, InputError::Directory { .. }), "{e}");
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dexthil-input-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    // The input checks that only a Unix can be given: a FIFO, `/dev/zero`, a symlink loop.
    crate::os::on_unix! {
        mod special_files {
            use super::{TINY, tempdir};
            use crate::input::{read_capped, walk};
            use crate::os::test_files::{make_fifo, symlink};
            use std::path::Path;

            #[test]
            fn a_fifo_and_dev_zero_are_refused_without_blocking() {
                let dir = tempdir("fifo");
                let fifo = dir.join("pipe");
                make_fifo(&fifo).unwrap();
                // Without O_NONBLOCK this open would wait for a writer for ever and the test would hang.
                let e = read_capped(&fifo, TINY).unwrap_err().to_string();
                assert!(e.contains("it is a FIFO"), "{e}");
                let e = read_capped(Path::new("/dev/zero"), TINY)
                    .unwrap_err()
                    .to_string();
                assert!(e.contains("it is a character device"), "{e}");
            }

            #[test]
            fn a_symlink_loop_is_walked_once_and_a_fifo_is_skipped() {
                let dir = tempdir("walk");
                std::fs::create_dir_all(dir.join("a")).unwrap();
                std::fs::write(dir.join("a/x.yaml"), b"x").unwrap();
                symlink(&dir, &dir.join("a/loop")).unwrap();
                make_fifo(&dir.join("p.yaml")).unwrap();
                let w = walk(&dir, &|_| true);
                assert_eq!(w.files, [dir.join("a/x.yaml")]);
                assert_eq!(w.warnings.len(), 2, "{:?}", w.warnings);
                assert!(w.warnings.iter().any(|m| m.contains("already visited")));
                assert!(w.warnings.iter().any(|m| m.contains("p.yaml: skipped")));
            }
        }
    }
}
