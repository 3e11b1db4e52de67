//! `locationID` ↔ (bus, port path).
//!
//! Reference §5: bits 31..24 are the bus; each following 4-bit nibble from bits 23..20 downward is the hub
//! port of one tier, so a port above 15 cannot be encoded and at most six tiers fit. `0x01112110` is bus 1,
//! ports 1.1.2.1.1.

// The text form belongs to the view it prints (`lab`); kept here under its old name.
pub use crate::lab::port_path_text;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum LocationError {
    #[error("port {port} at tier {tier} does not fit in a locationID nibble (ports 1 to 15 only)")]
    PortTooLarge { tier: usize, port: u8 },
    #[error("port 0 at tier {tier}: hub ports count from 1")]
    PortZero { tier: usize },
    #[error("a port path of {0} tiers does not fit in a locationID (6 at most)")]
    TooDeep(usize),
}

/// Encode bus and port path into a `locationID`.
pub fn encode(bus: u8, ports: &[u8]) -> Result<u32, LocationError> {
    if ports.len() > 6 {
        return Err(LocationError::TooDeep(ports.len()));
    }
    let mut id = (bus as u32) << 24;
    for (tier, &port) in ports.iter().enumerate() {
        if port == 0 {
            return Err(LocationError::PortZero { tier: tier + 1 });
        }
        if port > 15 {
            return Err(LocationError::PortTooLarge {
                tier: tier + 1,
                port,
            });
        }
        id |= (port as u32) << (20 - 4 * tier);
    }
    Ok(id)
}

/// Decode a `locationID` into bus and port path (nibbles up to the first zero).
pub fn decode(location_id: u32) -> (u8, Vec<u8>) {
    let bus = (location_id >> 24) as u8;
    let ports = (0..6)
        .map(|tier| ((location_id >> (20 - 4 * tier)) & 0xf) as u8)
        .take_while(|&p| p != 0)
        .collect();
    (bus, ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_example_decodes_outermost_port_first() {
        assert_eq!(decode(0x0111_2110), (1, vec![1, 1, 2, 1, 1]));
        assert_eq!(encode(1, &[1, 1, 2, 1, 1]).unwrap(), 0x0111_2110);
    }

    #[test]
    fn nibble_order_matters() {
        assert_eq!(encode(2, &[3, 1]).unwrap(), 0x0231_0000);
        assert_ne!(encode(2, &[3, 1]), encode(2, &[1, 3]));
    }

    #[test]
    fn ports_above_fifteen_and_port_zero_are_refused() {
        assert_eq!(
            encode(1, &[2, 16]),
            Err(LocationError::PortTooLarge { tier: 2, port: 16 })
        );
        assert_eq!(encode(1, &[0]), Err(LocationError::PortZero { tier: 1 }));
        assert_eq!(encode(1, &[1; 7]), Err(LocationError::TooDeep(7)));
    }

    #[test]
    fn round_trip_every_single_tier_port() {
        for p in 1..=15u8 {
            assert_eq!(decode(encode(20, &[p, 15]).unwrap()), (20, vec![p, 15]));
        }
    }
}
