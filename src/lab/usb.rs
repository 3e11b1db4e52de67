//! The libusb view of one device: what the host sees on the bus, independent of the IORegistry.

use serde::{Deserialize, Serialize};

/// A value read from the device that may have failed to read (a string descriptor a driver refuses, say).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Readable<T> {
    Value(T),
    /// The device has no such value (string index 0).
    Absent,
    /// Reading failed; the reason (a libusb error, a timeout) is kept.
    Unreadable(String),
}

impl<T> Readable<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Readable::Value(v) => Some(v),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speed {
    Low,
    Full,
    High,
    Super,
    SuperPlus,
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointView {
    pub address: u8,
    /// "bulk", "interrupt", "isochronous", "control".
    pub transfer: String,
    pub max_packet_size: u16,
    pub interval: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceView {
    pub number: u8,
    pub alternate_setting: u8,
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
    pub string_index: u8,
    pub endpoints: Vec<EndpointView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigView {
    pub value: u8,
    pub interfaces: Vec<InterfaceView>,
}

/// One device as libusb sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsbView {
    pub vendor_id: u16,
    pub product_id: u16,
    pub bcd_device: u16,
    pub bcd_usb: u16,
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
    pub max_packet_size0: u8,
    pub num_configurations: u8,
    pub manufacturer_index: u8,
    pub product_index: u8,
    pub serial_index: u8,
    pub bus: u8,
    pub address: u8,
    /// Hub ports from the root, outermost first (libusb's `port_numbers`).
    pub port_path: Vec<u8>,
    pub speed: Speed,
    pub manufacturer: Readable<String>,
    pub product: Readable<String>,
    pub serial: Readable<String>,
    pub active_configuration: Option<u8>,
    pub configurations: Vec<ConfigView>,
    /// The IEEE 1284 device id from the printer-class GET_DEVICE_ID request.
    pub device_id_1284: Readable<String>,
}

impl UsbView {
    /// `1.2.1` style port path, for messages.
    pub fn port_path_text(&self) -> String {
        port_path_text(&self.port_path)
    }

    /// A short label for messages: `1452:8b01 serial DS6C98031738 at bus 1 port 1.2`.
    pub fn label(&self) -> String {
        let serial = self.serial.value().map(String::as_str).unwrap_or("-");
        format!(
            "{:04x}:{:04x} serial {} at bus {} port {}",
            self.vendor_id,
            self.product_id,
            serial,
            self.bus,
            self.port_path_text()
        )
    }
}

/// Every device on a bus in one line for messages (`no devices` for an empty bus).
pub fn bus_text(devices: &[UsbView]) -> String {
    if devices.is_empty() {
        return "no devices".to_string();
    }
    devices
        .iter()
        .map(UsbView::label)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1.1.2` for messages (`-` for a root device).
pub fn port_path_text(ports: &[u8]) -> String {
    if ports.is_empty() {
        return "-".into();
    }
    ports
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(".")
}
