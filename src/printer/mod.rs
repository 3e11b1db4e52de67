//! The printers dexthil knows: the catalog (ids, strings, 1284 ids, descriptors) and the ESC P command
//! protocol model. Both the sim backend and the printer emulator use these, so a simulated printer and an
//! emulated one answer the same bytes. `emulator` is that printer's firmware over any byte stream;
//! `gadget` writes the Linux USB gadget set-up that gives it a USB face.

pub mod catalog;
pub mod emulator;
pub mod escp;
pub mod gadget;
