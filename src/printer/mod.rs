//! The printers dexthil knows: the catalog (ids, strings, 1284 ids, descriptors) and the ESC P command
//! protocol model. Both the sim backend and the printer emulator use these, so a simulated printer and an
//! emulated one answer the same bytes.

pub mod catalog;
pub mod escp;
