//! Opening a report file (journal, JUnit) for writing without ever blocking: a FIFO nobody reads would
//! otherwise hang `open(2)` for ever (issue 18). On unix the file is opened with `O_NONBLOCK` (a FIFO
//! without a reader then fails with ENXIO, a clear error) and set back to blocking writes once open.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Open `path` to write: `append` to add to it (created if missing), else to write over an existing
/// non-regular file in place (a device, a FIFO).
pub fn open_for_writing(path: &Path, append: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    if append {
        o.create(true).append(true);
    } else {
        o.write(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NONBLOCK);
        let file = o.open(path)?;
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: fcntl on a descriptor this function owns (through `file`), with flags it read itself.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        o.open(path)
    }
}
