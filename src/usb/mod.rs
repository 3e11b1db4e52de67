//! USB facts and the libusb view: locationID encoding and hub requests (pure), the libusb view of the bus,
//! replug (hub port power, reset), and the device table shown by `list-devices`.

pub mod hub;
pub mod libusb;
pub mod location;
pub mod replug;
pub mod table;
