//! The built-in station: one printer of every catalog model, on two hubs, and what libusb sees of each
//! ([`UsbView`]). Owns positions, descriptors and USB address assignment; knows nothing of the registry.

use crate::lab::UsbView;
use crate::printer::catalog::{self, Model};

/// The hub every printer hangs from sits on root port 1 of its bus; printers use hub ports 1..=7.
const HUB_ROOT_PORT: u8 = 1;
const PRINTERS_PER_HUB: usize = 7;
/// The hub takes the first address on its bus, as a host enumerating from the root would give it.
pub const HUB_ADDRESS: u8 = 1;

/// Where one station printer sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seat {
    pub model: &'static Model,
    pub bus: u8,
    /// Root port of the hub, then the hub port.
    pub port_path: Vec<u8>,
}

/// Every catalog model, bus 1 hub ports 1..7 then bus 2 hub ports 1..7 (and so on for a longer catalog).
pub fn seats() -> Vec<Seat> {
    catalog::MODELS
        .iter()
        .enumerate()
        .map(|(i, model)| Seat {
            model,
            bus: (i / PRINTERS_PER_HUB) as u8 + 1,
            port_path: vec![HUB_ROOT_PORT, (i % PRINTERS_PER_HUB) as u8 + 1],
        })
        .collect()
}

/// USB addresses per bus, handed out like a host does: the next free one, so a device that re-enumerates
/// gets a new address.
#[derive(Clone, Debug, Default)]
pub struct AddressPool {
    /// Last address given, per bus.
    last: std::collections::BTreeMap<u8, u8>,
}

impl AddressPool {
    /// The next address on `bus` not in `in_use` (1..=127, wrapping; the hub keeps its own).
    pub fn next(&mut self, bus: u8, in_use: &[u8]) -> u8 {
        let last = self.last.entry(bus).or_insert(HUB_ADDRESS);
        for step in 1..=127u16 {
            let candidate = ((u16::from(*last) - 1 + step) % 127 + 1) as u8;
            if candidate != HUB_ADDRESS && !in_use.contains(&candidate) {
                *last = candidate;
                return candidate;
            }
        }
        // 126 devices on one bus cannot happen in a 14-printer station; keep the last one rather than panic.
        *last
    }
}

/// What libusb reads from a station printer at `address` (the catalog's view of its model).
pub fn usb_view(seat: &Seat, address: u8) -> UsbView {
    seat.model
        .usb_view(seat.bus, seat.port_path.clone(), address)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usb::location;

    #[test]
    fn every_model_has_a_seat_behind_a_hub() {
        let seats = seats();
        assert_eq!(seats.len(), catalog::MODELS.len());
        assert_eq!(
            location::encode(seats[0].bus, &seats[0].port_path),
            Ok(0x0111_0000)
        );
        assert_eq!(
            location::encode(seats[7].bus, &seats[7].port_path),
            Ok(0x0211_0000)
        );
        assert_eq!(seats[6].port_path, vec![1, 7]);
    }

    #[test]
    fn re_enumeration_gets_a_new_address() {
        let mut pool = AddressPool::default();
        let a = pool.next(1, &[]);
        let b = pool.next(1, &[a]);
        assert_eq!((a, b), (2, 3));
        assert_ne!(pool.next(1, &[b]), a);
        assert_eq!(pool.next(2, &[]), 2);
    }
}
