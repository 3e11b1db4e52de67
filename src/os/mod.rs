//! Platform code behind one name, with the same functions on every platform (nextest's
//! `#[cfg(unix)] #[path = "unix.rs"] mod os;`). Nothing outside `os` and the two Apple-only backends
//! (`backends/macos`, `backends/darwin_double`) writes `cfg(unix)`, `cfg(target_os)` or calls `libc`;
//! `tests/platform_code.rs` keeps it so.
//!
//! - `macos.rs`, `linux.rs`, `other.rs`: which lab is the default here, the labs only some platforms have,
//!   recording the live machine, whether this is a Mac (the doctor's `--live`, `selftest`, provenance);
//! - `unix.rs`, which `macos.rs` and `linux.rs` include (and `other.rs` on another Unix): opening files
//!   without blocking, telling special files apart, stop signals, child processes, `poll(2)`, the host
//!   name; `not_unix.rs` is the same functions where there is no Unix.
//!
//! Each `unsafe` block lives here with its `// SAFETY:` reason. Logic stays with its owner: the doctor's
//! live gatherer, `inspect` and `isolate` ask `os` only what the platform is or does.

use std::path::PathBuf;

#[cfg(target_os = "macos")]
#[path = "macos.rs"]
mod imp;

#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod imp;

#[cfg(not(any(target_os = "macos", target_os = "linux")))]
#[path = "other.rs"]
mod imp;

// Labs and this machine.
pub use imp::{
    IS_MAC, default_lab, live_registry_lab, macos_factory, record_live, selftest_probe, vm_factory,
};
// Files, signals, processes.
pub use imp::{
    NULL_DEVICE, StopHandlers, exit_signal, file_identity, hostname, open_nonblocking, parent_pid,
    set_blocking, signal_name, special_file_kind, terminate, wait_readable,
};

/// A command that prints a listing ends quietly when its reader goes away (`dexthil list | head`), as Unix
/// tools do, instead of panicking on the broken pipe: Rust ignores SIGPIPE, so `println!` panics on EPIPE.
/// Only for commands that write nothing but their output: `run`, `fuzz`, `report`, `record` and `selftest`
/// must live on to write their files.
pub fn quiet_on_closed_stdout() {
    imp::quiet_on_closed_stdout();
}

/// Which file or directory a path leads to, whatever the links on the way: device and inode on Unix, the
/// canonical path elsewhere ([`file_identity`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FileId {
    Inode { dev: u64, ino: u64 },
    Path(PathBuf),
}

/// Declares the Apple-only backend modules where they build: `macos` on a Mac, and on Linux against the
/// darwin double (`--features darwin-double`), which is declared only there. Used once, by `backends`.
macro_rules! declare_apple_backends {
    () => {
        #[cfg(all(feature = "darwin-double", not(target_os = "macos")))]
        pub mod darwin_double;
        #[cfg(any(target_os = "macos", feature = "darwin-double"))]
        pub mod macos;
    };
}
pub(crate) use declare_apple_backends;

/// What more than one platform that is not a Mac says the same way.
#[cfg(not(target_os = "macos"))]
mod imp_shared {
    #[cfg(not(feature = "darwin-double"))]
    use crate::lab::LabError;
    use crate::selftest::SelftestProbe;
    use std::path::Path;

    #[cfg(not(feature = "darwin-double"))]
    pub fn not_a_mac() -> LabError {
        LabError::Unsupported {
            backend: "macos",
            what: "run",
            why: "this is not a Mac: the IOKit backend exists only on macOS; use `--lab sim` or `--lab replay:<dir>`"
                .into(),
        }
    }

    /// The darwin double: the macOS backend's probe through the real backend, the double serving Apple's
    /// sample from `sample_driver`. Without the double there is nothing to probe.
    pub fn selftest_probe(sample_driver: &Path) -> Result<Box<dyn SelftestProbe>, String> {
        #[cfg(feature = "darwin-double")]
        {
            let sample = crate::scenario::load_driver(sample_driver).map_err(|e| e.to_string())?;
            let lab =
                crate::backends::darwin_double::selftest_lab(std::sync::Arc::new(sample.clone()))
                    .map_err(|e| e.to_string())?;
            Ok(crate::selftest::macos::probe_on(lab, sample))
        }
        #[cfg(not(feature = "darwin-double"))]
        {
            let _ = sample_driver;
            Err(crate::selftest::NOT_A_MAC.into())
        }
    }
}
