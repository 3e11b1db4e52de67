//! USB hub class requests as pure logic: which hub and port a device hangs off, how a port-power request is
//! encoded, and how a port status reads back. The I/O that sends them lives in `replug`.
//!
//! Source: USB 2.0 specification §11.24 (hub class requests, wPortStatus bits) and USB 3.2 §10.16.2.6
//! (SuperSpeed wPortStatus, where PORT_POWER moved from bit 8 to bit 9).

/// One control transfer, as the five setup fields plus the data length (IN) or payload (OUT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlRequest {
    pub request_type: u8,
    pub request: u8,
    pub value: u16,
    pub index: u16,
    /// Bytes to read for an IN request; 0 for a request with no data stage.
    pub length: u16,
}

/// bmRequestType: host-to-device, class, other (a hub port).
pub const RT_CLASS_OTHER_OUT: u8 = 0x23;
/// bmRequestType: device-to-host, class, other (a hub port).
pub const RT_CLASS_OTHER_IN: u8 = 0xA3;
pub const GET_STATUS: u8 = 0;
pub const CLEAR_FEATURE: u8 = 1;
pub const SET_FEATURE: u8 = 3;
/// Port feature selector PORT_POWER (USB 2.0 table 11-17).
pub const PORT_POWER: u16 = 8;
/// bDeviceClass of a hub.
pub const HUB_CLASS: u8 = 9;

/// The hub a device is plugged into and the hub port, from the device's port path: the hub is the device
/// whose port path is this one minus its last element, on the same bus. A device plugged straight into a
/// root port (path of one element) hangs off the root hub, which libusb shows with an empty path.
pub fn hub_for(device_port_path: &[u8]) -> Option<(Vec<u8>, u8)> {
    let (&port, hub) = device_port_path.split_last()?;
    if port == 0 {
        return None;
    }
    Some((hub.to_vec(), port))
}

/// CLEAR_FEATURE(PORT_POWER) to switch a port off, SET_FEATURE(PORT_POWER) to switch it on.
pub fn port_power_request(on: bool, port: u8) -> ControlRequest {
    ControlRequest {
        request_type: RT_CLASS_OTHER_OUT,
        request: if on { SET_FEATURE } else { CLEAR_FEATURE },
        value: PORT_POWER,
        index: port as u16,
        length: 0,
    }
}

/// GET_STATUS on a port: 4 bytes back, wPortStatus then wPortChange, little-endian.
pub fn port_status_request(port: u8) -> ControlRequest {
    ControlRequest {
        request_type: RT_CLASS_OTHER_IN,
        request: GET_STATUS,
        value: 0,
        index: port as u16,
        length: 4,
    }
}

/// What a hub says about one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortStatus {
    pub status: u16,
    pub change: u16,
    /// Bit 0: a device is connected.
    pub connected: bool,
    /// Bit 1: the port is enabled.
    pub enabled: bool,
    /// Bit 8 on a USB 2 hub, bit 9 on a USB 3 hub.
    pub powered: bool,
}

/// Decode a GET_STATUS answer. `usb3` selects the SuperSpeed layout (PORT_POWER at bit 9); on a USB 2 hub it
/// is bit 8.
pub fn decode_port_status(bytes: [u8; 4], usb3: bool) -> PortStatus {
    let status = u16::from_le_bytes([bytes[0], bytes[1]]);
    let change = u16::from_le_bytes([bytes[2], bytes[3]]);
    let power_bit = if usb3 { 9 } else { 8 };
    PortStatus {
        status,
        change,
        connected: status & 0x0001 != 0,
        enabled: status & 0x0002 != 0,
        powered: status & (1 << power_bit) != 0,
    }
}

/// A hub is a USB 3 (SuperSpeed) hub when its bcdUSB is 3.0 or later and it runs at SuperSpeed. A USB 3 hub
/// also presents a USB 2 companion hub on the same connector; that one uses the USB 2 layout.
pub fn hub_is_usb3(bcd_usb: u16, super_speed: bool) -> bool {
    bcd_usb >= 0x0300 && super_speed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_is_the_path_minus_its_last_port() {
        assert_eq!(hub_for(&[1, 4, 2]), Some((vec![1, 4], 2)));
        assert_eq!(hub_for(&[3]), Some((vec![], 3)));
        assert_eq!(hub_for(&[]), None);
        assert_eq!(hub_for(&[2, 0]), None);
    }

    #[test]
    fn power_requests_match_the_hub_class_encoding() {
        assert_eq!(
            port_power_request(false, 3),
            ControlRequest {
                request_type: 0x23,
                request: 1,
                value: 8,
                index: 3,
                length: 0
            }
        );
        let on = port_power_request(true, 7);
        assert_eq!(
            (on.request_type, on.request, on.value, on.index),
            (0x23, 3, 8, 7)
        );
        let st = port_status_request(2);
        assert_eq!(
            (st.request_type, st.request, st.value, st.index, st.length),
            (0xA3, 0, 0, 2, 4)
        );
    }

    #[test]
    fn port_power_bit_depends_on_the_hub_generation() {
        // wPortStatus 0x0103: connected, enabled, power (USB 2 bit 8).
        let usb2 = decode_port_status([0x03, 0x01, 0x01, 0x00], false);
        assert!(usb2.connected && usb2.enabled && usb2.powered);
        assert_eq!(usb2.change, 1);
        // The same bytes on a USB 3 hub: bit 8 is not power there.
        assert!(!decode_port_status([0x03, 0x01, 0, 0], true).powered);
        // 0x0203: power at bit 9 on USB 3.
        assert!(decode_port_status([0x03, 0x02, 0, 0], true).powered);
        assert!(!decode_port_status([0x03, 0x02, 0, 0], false).powered);
        let off = decode_port_status([0, 0, 0, 0], false);
        assert!(!off.connected && !off.powered);
    }

    #[test]
    fn usb3_layout_needs_both_version_and_speed() {
        assert!(hub_is_usb3(0x0320, true));
        assert!(!hub_is_usb3(0x0320, false));
        assert!(!hub_is_usb3(0x0200, true));
    }
}
