//! The registry's account of a USB device as a [`UsbView`], for recordings without a `usb.json`.
//! Pure: it reads only the keys reference §5 lists for `IOUSBHostDevice` and `IOUSBHostInterface`.
//!
//! What the registry does not hold is said, not invented: of the endpoints only `bNumEndpoints` is there,
//! so each interface gets that many endpoints of transfer type [`UNKNOWN_ENDPOINT`] (address, packet size
//! and interval 0), and the IEEE 1284 id (a class request to the printer) is `Unreadable` with the reason.

use crate::lab::{ConfigView, EndpointView, InterfaceView, Readable, RegEntry, Speed, UsbView};

/// The transfer type of an endpoint known only by the interface's `bNumEndpoints`.
pub const UNKNOWN_ENDPOINT: &str = "unknown (the registry holds only bNumEndpoints)";
use crate::usb::location;

/// `Device Speed` values (IOUSBFamily `USB.h`: kUSBDeviceSpeedLow 0, Full 1, High 2, Super 3, SuperPlus 4,
/// SuperPlusBy2 5; the reference names the key, not its values).
fn speed(value: Option<i128>) -> Speed {
    match value {
        Some(0) => Speed::Low,
        Some(1) => Speed::Full,
        Some(2) => Speed::High,
        Some(3) => Speed::Super,
        Some(4 | 5) => Speed::SuperPlus,
        _ => Speed::Unknown,
    }
}

fn num<T: TryFrom<i128> + Default>(e: &RegEntry, keys: &[&str]) -> T {
    keys.iter()
        .find_map(|k| e.int(k))
        .and_then(|v| T::try_from(v).ok())
        .unwrap_or_default()
}

/// A string descriptor: the first key present, else absent when the descriptor index is 0, else unreadable.
fn string(e: &RegEntry, keys: &[&str], index: u8, what: &str) -> Readable<String> {
    match keys.iter().find_map(|k| e.string(k)) {
        Some(s) => Readable::Value(s.to_string()),
        None if index == 0 => Readable::Absent,
        None => Readable::Unreadable(format!(
            "the registry has no {what} string for descriptor index {index}"
        )),
    }
}

/// Map an `IOUSBHostDevice` entry and its `IOUSBHostInterface` children to the view libusb would give.
/// Keys (reference §5): `idVendor`, `idProduct`, `bcdDevice`, `bcdUSB`, `bDeviceClass`, `bDeviceSubClass`,
/// `bDeviceProtocol`, `bMaxPacketSize0`, `bNumConfigurations`, `iManufacturer`, `iProduct`, `iSerialNumber`,
/// `kUSBVendorString` / `USB Vendor Name`, `kUSBProductString` / `USB Product Name`,
/// `kUSBSerialNumberString` / `USB Serial Number`, `kUSBCurrentConfiguration`, `locationID` (bus and port
/// path, §5's nibble layout), `USB Address` / `kUSBAddress`, `Device Speed`; per interface
/// `bInterfaceNumber`, `bAlternateSetting`, `bInterfaceClass`, `bInterfaceSubClass`, `bInterfaceProtocol`,
/// `iInterface`, `bConfigurationValue`.
pub fn usb_view_from_registry(device: &RegEntry, interfaces: &[RegEntry]) -> UsbView {
    let location_id: u32 = num(device, &["locationID"]);
    let (bus, port_path) = location::decode(location_id);
    let manufacturer_index = num(device, &["iManufacturer"]);
    let product_index = num(device, &["iProduct"]);
    let serial_index = num(device, &["iSerialNumber"]);
    let active_configuration = device
        .int("kUSBCurrentConfiguration")
        .and_then(|v| u8::try_from(v).ok());

    let mut configurations: Vec<ConfigView> = Vec::new();
    for i in interfaces {
        let value = i
            .int("bConfigurationValue")
            .and_then(|v| u8::try_from(v).ok())
            .or(active_configuration)
            .unwrap_or(1);
        let view = InterfaceView {
            number: num(i, &["bInterfaceNumber"]),
            alternate_setting: num(i, &["bAlternateSetting"]),
            class: num(i, &["bInterfaceClass"]),
            subclass: num(i, &["bInterfaceSubClass"]),
            protocol: num(i, &["bInterfaceProtocol"]),
            string_index: num(i, &["iInterface"]),
            endpoints: (0..num::<u8>(i, &["bNumEndpoints"]))
                .map(|_| EndpointView {
                    address: 0,
                    transfer: UNKNOWN_ENDPOINT.into(),
                    max_packet_size: 0,
                    interval: 0,
                })
                .collect(),
        };
        match configurations.iter_mut().find(|c| c.value == value) {
            Some(c) => c.interfaces.push(view),
            None => configurations.push(ConfigView {
                value,
                interfaces: vec![view],
            }),
        }
    }

    UsbView {
        vendor_id: num(device, &["idVendor"]),
        product_id: num(device, &["idProduct"]),
        bcd_device: num(device, &["bcdDevice"]),
        bcd_usb: num(device, &["bcdUSB"]),
        class: num(device, &["bDeviceClass"]),
        subclass: num(device, &["bDeviceSubClass"]),
        protocol: num(device, &["bDeviceProtocol"]),
        max_packet_size0: num(device, &["bMaxPacketSize0"]),
        num_configurations: num(device, &["bNumConfigurations"]),
        manufacturer_index,
        product_index,
        serial_index,
        bus,
        address: num(device, &["USB Address", "kUSBAddress"]),
        port_path,
        speed: speed(device.int("Device Speed")),
        manufacturer: string(
            device,
            &["kUSBVendorString", "USB Vendor Name"],
            manufacturer_index,
            "manufacturer",
        ),
        product: string(
            device,
            &["kUSBProductString", "USB Product Name"],
            product_index,
            "product",
        ),
        serial: string(
            device,
            &["kUSBSerialNumberString", "USB Serial Number"],
            serial_index,
            "serial number",
        ),
        active_configuration,
        configurations,
        device_id_1284: Readable::Unreadable(
            "not in the IORegistry: GET_DEVICE_ID is a printer-class request; record usb.json to have it"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Prop;
    use std::collections::BTreeMap;

    fn entry(class: &str, props: &[(&str, Prop)]) -> RegEntry {
        RegEntry {
            id: 1,
            name: class.into(),
            location: None,
            class: class.into(),
            class_chain: vec![class.into()],
            parent: None,
            path: String::new(),
            registered: true,
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn ds620() -> RegEntry {
        let s = |v: &str| Prop::Str(v.into());
        entry(
            "IOUSBHostDevice",
            &[
                ("idVendor", Prop::Int(0x1452)),
                ("idProduct", Prop::Int(0x8B01)),
                ("bcdDevice", Prop::Int(0x0100)),
                ("bcdUSB", Prop::Int(0x0200)),
                ("bDeviceClass", Prop::Int(0)),
                ("bDeviceSubClass", Prop::Int(0)),
                ("bDeviceProtocol", Prop::Int(0)),
                ("bMaxPacketSize0", Prop::Int(64)),
                ("bNumConfigurations", Prop::Int(1)),
                ("iManufacturer", Prop::Int(1)),
                ("iProduct", Prop::Int(2)),
                ("iSerialNumber", Prop::Int(3)),
                ("kUSBVendorString", s("Dai Nippon Printing")),
                ("USB Product Name", s("DS620")),
                ("USB Serial Number", s("DS6C98031738")),
                ("kUSBCurrentConfiguration", Prop::Int(1)),
                ("locationID", Prop::Int(0x0112_0000)),
                ("USB Address", Prop::Int(5)),
                ("Device Speed", Prop::Int(2)),
            ],
        )
    }

    fn printer_interface() -> RegEntry {
        entry(
            "IOUSBHostInterface",
            &[
                ("bInterfaceNumber", Prop::Int(0)),
                ("bAlternateSetting", Prop::Int(0)),
                ("bInterfaceClass", Prop::Int(7)),
                ("bInterfaceSubClass", Prop::Int(1)),
                ("bInterfaceProtocol", Prop::Int(2)),
                ("iInterface", Prop::Int(0)),
                ("bConfigurationValue", Prop::Int(1)),
                ("bNumEndpoints", Prop::Int(2)),
            ],
        )
    }

    #[test]
    fn every_device_field_maps() {
        let v = usb_view_from_registry(&ds620(), &[printer_interface()]);
        assert_eq!((v.vendor_id, v.product_id), (0x1452, 0x8B01));
        assert_eq!((v.bcd_device, v.bcd_usb), (0x0100, 0x0200));
        assert_eq!((v.class, v.subclass, v.protocol), (0, 0, 0));
        assert_eq!((v.max_packet_size0, v.num_configurations), (64, 1));
        assert_eq!(
            (v.manufacturer_index, v.product_index, v.serial_index),
            (1, 2, 3)
        );
        assert_eq!(
            v.manufacturer,
            Readable::Value("Dai Nippon Printing".into())
        );
        assert_eq!(v.product, Readable::Value("DS620".into()));
        assert_eq!(v.serial, Readable::Value("DS6C98031738".into()));
        assert_eq!((v.address, v.speed), (5, Speed::High));
        assert_eq!(v.active_configuration, Some(1));
        assert!(matches!(v.device_id_1284, Readable::Unreadable(_)));
    }

    #[test]
    fn location_0x01120000_is_bus_1_port_1_2_outermost_first() {
        let v = usb_view_from_registry(&ds620(), &[]);
        assert_eq!(v.bus, 1);
        assert_eq!(v.port_path, [1, 2], "a swapped nibble order would give 2.1");
        assert_eq!(v.port_path_text(), "1.2");
    }

    #[test]
    fn interfaces_group_under_their_configuration() {
        let v = usb_view_from_registry(&ds620(), &[printer_interface()]);
        assert_eq!(v.configurations.len(), 1);
        let c = &v.configurations[0];
        assert_eq!(c.value, 1);
        let i = &c.interfaces[0];
        assert_eq!((i.number, i.alternate_setting), (0, 0));
        assert_eq!((i.class, i.subclass, i.protocol), (7, 1, 2));
        let kinds: Vec<&str> = i.endpoints.iter().map(|e| e.transfer.as_str()).collect();
        assert_eq!(
            kinds,
            vec![UNKNOWN_ENDPOINT; 2],
            "bNumEndpoints is all the registry says of endpoints"
        );
    }

    #[test]
    fn missing_strings_are_absent_or_unreadable_by_index() {
        let mut d = ds620();
        d.properties.remove("USB Serial Number");
        let v = usb_view_from_registry(&d, &[]);
        assert!(matches!(v.serial, Readable::Unreadable(ref why) if why.contains("index 3")));
        d.properties.insert("iSerialNumber".into(), Prop::Int(0));
        assert_eq!(usb_view_from_registry(&d, &[]).serial, Readable::Absent);
    }

    #[test]
    fn legacy_address_key_and_unknown_speed() {
        let mut d = ds620();
        d.properties.remove("USB Address");
        d.properties.insert("kUSBAddress".into(), Prop::Int(9));
        d.properties.insert("Device Speed".into(), Prop::Int(42));
        let v = usb_view_from_registry(&d, &[]);
        assert_eq!((v.address, v.speed), (9, Speed::Unknown));
    }
}
