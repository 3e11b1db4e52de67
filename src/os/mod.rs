//! Platform primitives behind one name, with the same functions on every platform (nextest's
//! `#[cfg(unix)] #[path = "unix.rs"] mod os;`): opening files without blocking, telling special files apart,
//! stop signals, child processes, `poll(2)`, the host name, whether this is a Mac. `unix.rs` is what every
//! Unix does alike (macOS, Linux, the BSDs); `not_unix.rs` is the same functions where there is no Unix.
//!
//! `os` is the bottom layer: it uses nothing else of the crate, so any module may call it. Nothing outside
//! `os` and the two Apple-only backends (`backends/macos`, `backends/darwin_double`) writes `cfg(unix)`,
//! `cfg(target_os)` or calls `libc`; `tests/platform_code.rs` keeps it so. A module whose *code* differs by
//! platform keeps that code and says where it builds through the macros below (`on_mac!`,
//! `off_mac!`, `with_macos_backend!`, `if_mac!`, `on_unix!`): the platform's name stays here, the
//! choice with its owner (which labs `backends` offers, how `record` records the live machine, which probe
//! `selftest` runs, what `inspect` lists).
//!
//! Each `unsafe` block lives here with its `// SAFETY:` reason.

use std::path::PathBuf;

#[cfg(unix)]
#[path = "unix.rs"]
mod sys;

#[cfg(not(unix))]
#[path = "not_unix.rs"]
mod sys;

/// Making the special files a Unix has (a FIFO, a symbolic link), for tests of the code that meets them.
#[cfg(all(test, unix))]
pub(crate) use sys::test_files;
pub use sys::{
    NULL_DEVICE, StopHandlers, exit_signal, file_identity, hostname, open_nonblocking, parent_pid,
    set_blocking, signal_name, special_file_kind, terminate, wait_readable,
};

/// This is a Mac: the IOKit lab is the default and the real one, `record` reads `ioreg`, the doctor's
/// `--live` and `selftest` check this machine, provenance asks `sw_vers`.
pub const IS_MAC: bool = cfg!(target_os = "macos");

/// This is Linux: the USB VM lab runs here (inside the guest of `ci/usb-vm/run.sh`).
pub const IS_LINUX: bool = cfg!(target_os = "linux");

/// A command that prints a listing ends quietly when its reader goes away (`dexthil list | head`), as Unix
/// tools do, instead of panicking on the broken pipe: Rust ignores SIGPIPE, so `println!` panics on EPIPE.
/// Only for commands that write nothing but their output: `run`, `fuzz`, `report`, `record` and `selftest`
/// must live on to write their files.
pub fn quiet_on_closed_stdout() {
    sys::quiet_on_closed_stdout();
}

/// Which file or directory a path leads to, whatever the links on the way: device and inode on Unix, the
/// canonical path elsewhere ([`file_identity`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FileId {
    Inode { dev: u64, ino: u64 },
    Path(PathBuf),
}

/// The items passed, on a Mac only (each gets `#[cfg(target_os = "macos")]`):
/// `crate::os::on_mac! { mod macos; }`.
macro_rules! on_mac {
    ($($item:item)*) => {
        $(
            #[cfg(target_os = "macos")]
            $item
        )*
    };
}
pub(crate) use on_mac;

/// The items passed, everywhere but on a Mac (each gets `#[cfg(not(target_os = "macos"))]`).
macro_rules! off_mac {
    ($($item:item)*) => {
        $(
            #[cfg(not(target_os = "macos"))]
            $item
        )*
    };
}
pub(crate) use off_mac;

/// The items passed, on every Unix (macOS, Linux, the BSDs) only (each gets `#[cfg(unix)]`).
// Only tests use it for now (`input`'s tests of FIFOs and symlink loops).
#[allow(unused_macros)]
macro_rules! on_unix {
    ($($item:item)*) => {
        $(
            #[cfg(unix)]
            $item
        )*
    };
}
#[allow(unused_imports)]
pub(crate) use on_unix;

/// The items passed, where the macOS backend (`backends::macos`) builds: on a Mac, and elsewhere against the
/// darwin double (`--features darwin-double`). For what uses that backend: the backend itself (`backends`)
/// and the self-test's probe (`selftest::macos`).
macro_rules! with_macos_backend {
    ($($item:item)*) => {
        $(
            #[cfg(any(target_os = "macos", feature = "darwin-double"))]
            $item
        )*
    };
}
pub(crate) use with_macos_backend;

/// `crate::os::if_mac!(on_a_mac, else elsewhere)`: the first expression on a Mac, the second elsewhere. Only
/// the chosen one is compiled, so each may name what exists only on its side (`backends::macos` off a
/// Mac without the double, say). Both must have the type the caller expects.
macro_rules! if_mac {
    ($on_mac:expr, else $elsewhere:expr $(,)?) => {{
        #[cfg(target_os = "macos")]
        let chosen = $on_mac;
        #[cfg(not(target_os = "macos"))]
        let chosen = $elsewhere;
        chosen
    }};
}
pub(crate) use if_mac;
