//! Seating a sim lab at a real bus: its printers put where libusb sees the real ones (bus, port path, USB
//! Address), so the simulated IORegistry pairs with the real devices as a Mac's registry pairs with libusb
//! (bus from `locationID >> 24`, `USB Address`; `usb::darwin::pair`). Shared by the `vm` lab and the darwin
//! double's factory, which both serve a sim registry beside the USB VM's real printers. It lives with the
//! sim (not the Linux-only `vm` backend) so the double builds wherever it is asked for.

use super::{SimLab, station::Seat};
use crate::backends::LabSpec;
use crate::lab::{LabError, UsbView};
use crate::printer::catalog;

/// Where the sim's printers go: one per catalog printer on the real bus, at its real bus and port path.
pub fn seats_of(views: &[UsbView]) -> Vec<Seat> {
    views
        .iter()
        .filter_map(|v| {
            Some(Seat {
                model: catalog::by_ids(v.vendor_id, v.product_id)?,
                bus: v.bus,
                port_path: v.port_path.clone(),
            })
        })
        .collect()
}

/// A fresh sim lab for attempt `attempt` of `spec` whose printers are the catalog printers of `real`
/// (the libusb views, with libusb's own port paths), each at its real bus, port path and USB Address.
/// A role no real printer fills fails here with [`LabError::NoPrinter`], naming what the bus has.
pub fn seated_sim(spec: &LabSpec, attempt: u32, real: &[UsbView]) -> Result<SimLab, LabError> {
    let sim = SimLab::for_spec(spec, attempt, seats_of(real))?;
    for v in real {
        sim.mirror_address(v);
    }
    Ok(sim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::sim::station;

    #[test]
    fn the_sims_printers_sit_where_the_real_ones_are_and_strangers_are_left_out() {
        let seat = station::seats()
            .into_iter()
            .find(|s| s.model.name == "CX-02")
            .unwrap();
        let mut real = station::usb_view(&seat, 2);
        real.bus = 2;
        real.port_path = vec![1];
        let mut stranger = real.clone();
        stranger.vendor_id = 0x1d6b;
        let seats = seats_of(&[real, stranger]);
        assert_eq!(seats.len(), 1);
        assert_eq!((seats[0].model.name, seats[0].bus), ("CX-02", 2));
        assert_eq!(seats[0].port_path, vec![1]);
    }
}
