//! A libusb device as a [`UsbView`]: what libusb knows from its cached descriptors without opening the
//! device; `LibusbBus` adds the strings and 1284 id `strings` reads once per enumeration.

use super::strings::{DeviceStrings, PrinterInterface, printer_interface};
use crate::lab::{ConfigView, EndpointView, InterfaceView, Readable, Speed, UsbView};
use rusb::UsbContext;

pub(crate) fn speed_of(speed: rusb::Speed) -> Speed {
    match speed {
        rusb::Speed::Low => Speed::Low,
        rusb::Speed::Full => Speed::Full,
        rusb::Speed::High => Speed::High,
        rusb::Speed::Super => Speed::Super,
        rusb::Speed::SuperPlus => Speed::SuperPlus,
        _ => Speed::Unknown,
    }
}

fn transfer_name(t: rusb::TransferType) -> &'static str {
    match t {
        rusb::TransferType::Control => "control",
        rusb::TransferType::Isochronous => "isochronous",
        rusb::TransferType::Bulk => "bulk",
        rusb::TransferType::Interrupt => "interrupt",
    }
}

/// The raw device descriptor: rusb's `Version` loses non-BCD bcdDevice values, the raw one does not.
pub(crate) fn raw_descriptor<T: UsbContext>(
    device: &rusb::Device<T>,
) -> Option<rusb::ffi::libusb_device_descriptor> {
    let mut desc = std::mem::MaybeUninit::<rusb::ffi::libusb_device_descriptor>::uninit();
    // SAFETY: the device pointer is valid for the life of `device`; libusb fills the whole struct on success.
    let rc = unsafe { rusb::ffi::libusb_get_device_descriptor(device.as_raw(), desc.as_mut_ptr()) };
    // SAFETY: rc 0 means libusb wrote the descriptor.
    (rc == 0).then(|| unsafe { desc.assume_init() })
}

fn configurations<T: UsbContext>(device: &rusb::Device<T>, count: u8) -> Vec<(u8, ConfigView)> {
    (0..count)
        .filter_map(|index| {
            let config = device
                .config_descriptor(index)
                .inspect_err(|e| tracing::warn!("config descriptor {index} unreadable: {e}"))
                .ok()?;
            let interfaces = config
                .interfaces()
                .flat_map(|i| i.descriptors().collect::<Vec<_>>())
                .map(|alt| InterfaceView {
                    number: alt.interface_number(),
                    alternate_setting: alt.setting_number(),
                    class: alt.class_code(),
                    subclass: alt.sub_class_code(),
                    protocol: alt.protocol_code(),
                    string_index: alt.description_string_index().unwrap_or(0),
                    endpoints: alt
                        .endpoint_descriptors()
                        .map(|e| EndpointView {
                            address: e.address(),
                            transfer: transfer_name(e.transfer_type()).into(),
                            max_packet_size: e.max_packet_size(),
                            interval: e.interval(),
                        })
                        .collect(),
                })
                .collect();
            Some((
                index,
                ConfigView {
                    value: config.number(),
                    interfaces,
                },
            ))
        })
        .collect()
}

/// The view with the strings and 1284 id read from the device.
pub(crate) fn with_strings(mut view: UsbView, s: DeviceStrings) -> UsbView {
    view.manufacturer = s.manufacturer;
    view.product = s.product;
    view.serial = s.serial;
    view.device_id_1284 = s.device_id_1284;
    view
}

/// Everything libusb knows without opening the device (its cached descriptors), the strings left
/// `Absent`, and the printer interface to ask GET_DEVICE_ID of.
pub(crate) fn view_without_strings<T: UsbContext + 'static>(
    device: &rusb::Device<T>,
) -> Option<(UsbView, Option<PrinterInterface>)> {
    let Some(d) = raw_descriptor(device) else {
        tracing::warn!(
            "bus {} address {}: no device descriptor, left out of the view",
            device.bus_number(),
            device.address()
        );
        return None;
    };
    let configs = configurations(device, d.bNumConfigurations);
    let active = device.active_config_descriptor().ok().map(|c| c.number());
    let printer = printer_interface(&configs, active);
    let port_path = device.port_numbers().unwrap_or_else(|e| {
        tracing::warn!(
            "bus {} address {}: no port path: {e}",
            device.bus_number(),
            device.address()
        );
        Vec::new()
    });
    let view = UsbView {
        vendor_id: d.idVendor,
        product_id: d.idProduct,
        bcd_device: d.bcdDevice,
        bcd_usb: d.bcdUSB,
        class: d.bDeviceClass,
        subclass: d.bDeviceSubClass,
        protocol: d.bDeviceProtocol,
        max_packet_size0: d.bMaxPacketSize0,
        num_configurations: d.bNumConfigurations,
        manufacturer_index: d.iManufacturer,
        product_index: d.iProduct,
        serial_index: d.iSerialNumber,
        bus: device.bus_number(),
        address: device.address(),
        port_path,
        speed: speed_of(device.speed()),
        manufacturer: Readable::Absent,
        product: Readable::Absent,
        serial: Readable::Absent,
        active_configuration: active,
        device_id_1284: Readable::Absent,
        configurations: configs.into_iter().map(|(_, c)| c).collect(),
    };
    Some((view, printer))
}
