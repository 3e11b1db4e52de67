//! Platform code behind one name, with the same functions on every platform (nextest's
//! `#[cfg(unix)] #[path = "unix.rs"] mod os;`): which lab is the default here, the labs only some
//! platforms have, and recording the live machine. Callers never write `cfg(target_os)`.
//!
//! Other platform code still sits in its own modules (the doctor's live checks, signals, `--isolate`,
//! the printer emulator, `inspect`, provenance): moving it here is left for their owners.

#[cfg(target_os = "macos")]
#[path = "macos.rs"]
mod imp;

#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod imp;

#[cfg(not(any(target_os = "macos", target_os = "linux")))]
#[path = "other.rs"]
mod imp;

pub use imp::{default_lab, macos_factory, record_live, vm_factory};

/// A command that prints a listing ends quietly when its reader goes away (`dexthil list | head`), as Unix
/// tools do, instead of panicking on the broken pipe: Rust ignores SIGPIPE, so `println!` panics on EPIPE.
/// Only for commands that write nothing but their output: `run`, `fuzz`, `report`, `record` and `selftest`
/// must live on to write their files.
pub fn quiet_on_closed_stdout() {
    #[cfg(unix)]
    // SAFETY: resetting one signal's disposition to its default before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// What more than one platform says the same way.
#[allow(dead_code)] // macOS uses none of it
mod imp_shared {
    use crate::lab::LabError;

    pub fn not_a_mac() -> LabError {
        LabError::Unsupported {
            backend: "macos",
            what: "run",
            why: "this is not a Mac: the IOKit backend exists only on macOS; use `--lab sim` or `--lab replay:<dir>`"
                .into(),
        }
    }
}
