//! The IEEE 1284 device id of a printer-class interface (USB Printer Class 1.1 §4.2.1): the request that
//! asks for it and the parse of the answer. Pure; the reading is `strings`'.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeviceIdError {
    #[error("the answer has {0} bytes, fewer than its 2-byte length field")]
    TooShort(usize),
    #[error("the length field says {0} bytes, which cannot include the field itself")]
    LengthTooSmall(usize),
    #[error("the length field says {claimed} bytes but only {got} arrived")]
    Truncated { claimed: usize, got: usize },
}

/// Parse a GET_DEVICE_ID answer: a 2-byte big-endian length that includes itself, then the id text.
/// Non-UTF-8 bytes are replaced rather than refused: the id is for people and for matching on `MODEL:`.
pub fn parse_device_id(bytes: &[u8]) -> Result<String, DeviceIdError> {
    let [hi, lo, rest @ ..] = bytes else {
        return Err(DeviceIdError::TooShort(bytes.len()));
    };
    let claimed = u16::from_be_bytes([*hi, *lo]) as usize;
    if claimed < 2 {
        return Err(DeviceIdError::LengthTooSmall(claimed));
    }
    let body = claimed - 2;
    if rest.len() < body {
        return Err(DeviceIdError::Truncated {
            claimed,
            got: bytes.len(),
        });
    }
    Ok(String::from_utf8_lossy(&rest[..body]).into_owned())
}

/// The GET_DEVICE_ID setup fields for a printer interface (USB Printer Class 1.1 §4.2.1): wValue is the
/// configuration index, wIndex the interface in the high byte and the alternate setting in the low byte.
pub fn device_id_setup(config_index: u8, interface: u8, alt: u8) -> (u8, u8, u16, u16) {
    (
        0xA1,
        0,
        config_index as u16,
        ((interface as u16) << 8) | alt as u16,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_length_includes_itself() {
        let id = b"MANUFACTURER:Dai Nippon Printing ;MODEL:DP-DS620;";
        let mut answer = ((id.len() + 2) as u16).to_be_bytes().to_vec();
        answer.extend_from_slice(id);
        assert_eq!(
            parse_device_id(&answer).unwrap(),
            "MANUFACTURER:Dai Nippon Printing ;MODEL:DP-DS620;"
        );
        // Trailing bytes past the length are not part of the id.
        answer.extend_from_slice(b"garbage");
        assert!(parse_device_id(&answer).unwrap().ends_with("DP-DS620;"));
    }

    #[test]
    fn malformed_device_ids_are_errors_not_panics() {
        assert_eq!(parse_device_id(&[]), Err(DeviceIdError::TooShort(0)));
        assert_eq!(parse_device_id(&[0]), Err(DeviceIdError::TooShort(1)));
        assert_eq!(
            parse_device_id(&[0, 1]),
            Err(DeviceIdError::LengthTooSmall(1))
        );
        assert_eq!(parse_device_id(&[0, 2]).unwrap(), "");
        assert_eq!(
            parse_device_id(&[0, 10, b'M', b'O']),
            Err(DeviceIdError::Truncated {
                claimed: 10,
                got: 4
            })
        );
        assert_eq!(
            parse_device_id(&[0xFF, 0xFF, b'x']),
            Err(DeviceIdError::Truncated {
                claimed: 0xFFFF,
                got: 3
            })
        );
    }

    #[test]
    fn device_id_request_addresses_interface_and_alt() {
        assert_eq!(device_id_setup(0, 0, 0), (0xA1, 0, 0, 0));
        assert_eq!(device_id_setup(1, 2, 1), (0xA1, 0, 1, 0x0201));
    }
}
