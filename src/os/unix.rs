//! What every Unix does the same way (macOS, Linux, the BSDs): files opened without blocking, special
//! files told apart, stop signals, child processes, `poll(2)`, the host name. `crate::os` includes it on
//! every Unix; `not_unix.rs` has the same functions for the rest.

use crate::os::FileId;
use std::fs::{File, FileType, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Where output nobody wants goes.
pub const NULL_DEVICE: &str = "/dev/null";

/// Open with `O_NONBLOCK`: opening a FIFO then returns at once (for reading: with no writer; for writing:
/// ENXIO with no reader) instead of waiting for the other end for ever.
pub fn open_nonblocking(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    options.custom_flags(libc::O_NONBLOCK).open(path)
}

/// Make reads and writes of `file` wait again (after [`open_nonblocking`]). A failure leaves it as it was.
pub fn set_blocking(file: &File) {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor `file` owns and keeps open for the call, with flags read from it.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
}

/// `a FIFO (named pipe)`, `a character device`, ... for a file that is neither regular nor a directory;
/// `None` when this platform has no word for it.
pub fn special_file_kind(t: &FileType) -> Option<&'static str> {
    if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        None
    }
}

/// Device and inode: what a symlink loop leads back to.
pub fn file_identity(path: &Path) -> Option<FileId> {
    let m = std::fs::metadata(path).ok()?;
    Some(FileId::Inode {
        dev: m.dev(),
        ino: m.ino(),
    })
}

/// The SIGINT and SIGTERM handlers of one run (see `runner::signals`), removed when dropped.
pub struct StopHandlers(Vec<signal_hook::SigId>);

impl StopHandlers {
    /// The first SIGINT sets `int`, a second one exits at once with status 130; SIGTERM sets `term`. A
    /// handler that cannot be installed is warned about and left out.
    pub fn install(int: &Arc<AtomicBool>, term: &Arc<AtomicBool>) -> StopHandlers {
        use signal_hook::consts::{SIGINT, SIGTERM};
        use signal_hook::flag;
        // Order matters: the conditional shutdown sees the flag the first signal set, so only a second
        // SIGINT exits.
        let ids = [
            flag::register_conditional_shutdown(SIGINT, 130, int.clone()),
            flag::register(SIGINT, int.clone()),
            flag::register(SIGTERM, term.clone()),
        ]
        .into_iter()
        .filter_map(|r| {
            r.map_err(|e| tracing::warn!(error = %e, "cannot install a signal handler"))
                .ok()
        })
        .collect();
        StopHandlers(ids)
    }
}

impl Drop for StopHandlers {
    fn drop(&mut self) {
        for id in self.0.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Ask child process `pid` to stop as a run does on its first signal (SIGTERM). False where this platform
/// cannot ask; here it always can (a process already gone is not an error).
pub fn terminate(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    // SAFETY: kill(2) has no memory effects; the caller passes a pid it spawned and has not yet reaped
    // (`runner::isolate` removes it from its children before `wait`), so the id cannot name another process.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    true
}

/// The signal that killed a process, from its exit status.
pub fn exit_signal(status: &ExitStatus) -> Option<i32> {
    status.signal()
}

/// `SIGABRT` for 6, ... for the signals a crash or a stop sends; `a signal` for others.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGTRAP => "SIGTRAP",
        _ => "a signal",
    }
}

/// This process's parent; it changes when the parent dies (the process is re-parented).
pub fn parent_pid() -> u32 {
    std::os::unix::process::parent_id()
}

/// Wait up to `timeout` for `file` to have data: `Ok(true)` when it has, `Ok(false)` when the time ran
/// out or a signal came, an error when the device reports one (POLLERR, POLLHUP, POLLNVAL).
pub fn wait_readable(file: &File, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd, borrowed for the duration of the call; `file` keeps the descriptor open.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    if n > 0 && pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
        return Err(io::Error::other(format!(
            "poll: revents {:#x}",
            pfd.revents
        )));
    }
    Ok(n > 0 && pfd.revents & libc::POLLIN != 0)
}

/// This machine's host name, when it has a readable one.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname writes at most that many bytes.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// A listing command ends quietly when its reader goes away, as Unix tools do: SIGPIPE back to its
/// default (Rust ignores it, so `println!` would panic on EPIPE).
pub fn quiet_on_closed_stdout() {
    // SAFETY: resetting one signal's disposition to its default before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Making the special files `input` must refuse or walk past, for its tests.
#[cfg(test)]
pub mod test_files {
    use std::io;
    use std::path::Path;

    /// A FIFO (named pipe) at `path`, readable and writable by this user only.
    pub fn make_fifo(path: &Path) -> io::Result<()> {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: a NUL-terminated path that outlives the call.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// A symbolic link at `link` that leads to `target`.
    pub fn symlink(target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }
}
