//! USB facts and the libusb view: locationID encoding, hub requests, the pairing of a USB 3 hub's halves and
//! the 1284 id (pure), the libusb view of the bus and its corrections from the IORegistry on a Mac (`darwin`),
//! strings read once per enumeration, replug (hub port power on both halves, reset), the device table shown
//! by `list-devices`, and ESC P over bulk pipes (for printers dexthil owns, as in the VM).

pub mod bulk;
pub mod darwin;
pub mod device_id;
pub mod hub;
pub mod hub_pair;
mod hub_power;
pub mod libusb;
pub mod location;
pub mod replug;
pub mod strings;
pub mod table;
pub mod view;
