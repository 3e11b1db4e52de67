//! Opening a report file (journal, JUnit) for writing without ever blocking: a FIFO nobody reads would
//! otherwise hang `open(2)` for ever (issue 18). The file is opened without blocking ([`crate::os`]: a FIFO
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
    let file = crate::os::open_nonblocking(&mut o, path)?;
    crate::os::set_blocking(&file);
    Ok(file)
}
