//! USB facts that are pure logic: locationID encoding. (The libusb view itself comes with the real lab.)

pub mod location;
