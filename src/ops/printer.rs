//! The one "same printer" rule: after a replug or a re-enumeration, which device on the bus is the printer
//! we had. A printer is its vendor and product ids and its serial number: a re-enumeration changes its
//! address and may move it to another port (a hub that re-routes it, a cable moved), and it is still the
//! same printer. Only a printer without a serial is known by where it is (bus and port path).

use crate::lab::UsbView;

/// A predicate that recognises `v` after a re-enumeration (see the module docs).
pub fn same_printer(v: &UsbView) -> impl Fn(&UsbView) -> bool + Send + Sync + 'static {
    let v = v.clone();
    move |o: &UsbView| {
        o.vendor_id == v.vendor_id
            && o.product_id == v.product_id
            && match v.serial.value() {
                Some(s) => o.serial.value() == Some(s),
                None => o.bus == v.bus && o.port_path == v.port_path,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::catalog;

    fn ds620() -> UsbView {
        catalog::find("DS620")
            .expect("the DS620 is in the catalog")
            .usb_view(1, vec![2], 5)
    }

    #[test]
    fn a_printer_that_re_enumerates_onto_another_port_is_the_same_printer() {
        let before = ds620();
        let same = same_printer(&before);
        let mut moved = before.clone();
        moved.port_path = vec![9, 9];
        moved.address = before.address.wrapping_add(7);
        assert!(
            same(&moved),
            "ids and serial make the printer, not its port"
        );
        let mut other = before.clone();
        other.serial = crate::lab::Readable::Value("OTHER-SERIAL".into());
        assert!(!same(&other), "another serial is another printer");
    }
}
