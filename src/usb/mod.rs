//! USB facts and the libusb view: locationID encoding and hub requests (pure), the libusb view of the bus,
//! replug (hub port power, reset), the device table shown by `list-devices`, and ESC P over bulk pipes
//! (for printers dexthil owns, as in the VM).

pub mod bulk;
pub mod darwin;
pub mod hub;
pub mod hub_pair;
pub mod libusb;
pub mod location;
pub mod replug;
pub mod strings;
pub mod table;
