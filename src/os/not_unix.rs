//! The functions of `unix.rs` where there is no Unix (Windows): what std alone can do, and plain "cannot"
//! for the rest. Nothing here is run by the lab; it keeps the tools that read files building.

use crate::os::FileId;
use std::fs::{File, FileType, OpenOptions};
use std::io;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub const NULL_DEVICE: &str = if cfg!(windows) { "NUL" } else { "/dev/null" };

/// No non-blocking open: a plain one.
pub fn open_nonblocking(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    options.open(path)
}

pub fn set_blocking(_file: &File) {}

pub fn special_file_kind(_t: &FileType) -> Option<&'static str> {
    None
}

/// No inode numbers: the canonical path.
pub fn file_identity(path: &Path) -> Option<FileId> {
    Some(FileId::Path(std::fs::canonicalize(path).ok()?))
}

/// No stop signals to handle.
pub struct StopHandlers;

impl StopHandlers {
    pub fn install(_int: &Arc<AtomicBool>, _term: &Arc<AtomicBool>) -> StopHandlers {
        StopHandlers
    }
}

/// There is no SIGTERM to send.
pub fn terminate(_pid: u32) -> bool {
    false
}

pub fn exit_signal(_status: &ExitStatus) -> Option<i32> {
    None
}

pub fn signal_name(_sig: i32) -> &'static str {
    "a signal"
}

/// No notion of a parent that changes: 0, which never does.
pub fn parent_pid() -> u32 {
    0
}

/// No `poll(2)`: the read that follows waits instead.
pub fn wait_readable(_file: &File, _timeout: Duration) -> io::Result<bool> {
    Ok(true)
}

pub fn hostname() -> Option<String> {
    None
}

pub fn quiet_on_closed_stdout() {}
