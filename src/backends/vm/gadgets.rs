//! The emulated printers' USB gadgets, as configfs shows them in the VM: which gadget is which device, and
//! the replug of one by unbinding its UDC and binding it back (usb-vm.md, "Replug": the device is gone
//! ~20 ms after the unbind and back ~0.45 s after the bind, at a new address).

use crate::lab::{LabError, UsbView};
use std::path::{Path, PathBuf};

/// One gadget: its configfs directory, the ids and serial it presents, the UDC it binds to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gadget {
    pub dir: PathBuf,
    pub vendor: u16,
    pub product: u16,
    pub serial: String,
    /// The controller it was bound to when found (`dummy_udc.0`), to bind it back after an unplug.
    pub udc: String,
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn read_hex(path: &Path) -> Option<u16> {
    let text = read_trimmed(path)?;
    u16::from_str_radix(text.trim_start_matches("0x"), 16).ok()
}

impl Gadget {
    fn read(dir: &Path) -> Option<Gadget> {
        Some(Gadget {
            vendor: read_hex(&dir.join("idVendor"))?,
            product: read_hex(&dir.join("idProduct"))?,
            serial: read_trimmed(&dir.join("strings/0x409/serialnumber")).unwrap_or_default(),
            udc: read_trimmed(&dir.join("UDC")).filter(|u| !u.is_empty())?,
            dir: dir.to_path_buf(),
        })
    }

    /// Whether `view` is this gadget as the host sees it.
    pub fn is(&self, view: &UsbView) -> bool {
        view.vendor_id == self.vendor
            && view.product_id == self.product
            && view.serial.value().is_none_or(|s| *s == self.serial)
    }

    fn write_udc(&self, text: &str) -> Result<(), LabError> {
        std::fs::write(self.dir.join("UDC"), text).map_err(|e| {
            LabError::Other(format!(
                "writing `{}` to {}: {e}",
                text.trim(),
                self.dir.join("UDC").display()
            ))
        })
    }

    /// Detach from the host: the device departs.
    pub fn unbind(&self) -> Result<(), LabError> {
        self.write_udc("\n")
    }

    /// Attach again: the device re-enumerates.
    pub fn bind(&self) -> Result<(), LabError> {
        self.write_udc(&format!("{}\n", self.udc))
    }
}

/// Every bound gadget under `root` (configfs `usb_gadget`), in directory order.
pub fn discover(root: &Path) -> Result<Vec<Gadget>, LabError> {
    let entries = std::fs::read_dir(root).map_err(|e| LabError::Unsupported {
        backend: "vm",
        what: "find the emulated printers",
        why: format!(
            "{}: {e} (the `vm` lab runs inside the USB VM: ci/usb-vm/run.sh)",
            root.display()
        ),
    })?;
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    Ok(dirs.iter().filter_map(|d| Gadget::read(d)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::sim::station;

    fn fake_gadget(root: &Path, name: &str, vid: &str, pid: &str, serial: &str, udc: &str) {
        let d = root.join(name);
        std::fs::create_dir_all(d.join("strings/0x409")).unwrap();
        std::fs::write(d.join("idVendor"), vid).unwrap();
        std::fs::write(d.join("idProduct"), pid).unwrap();
        std::fs::write(d.join("strings/0x409/serialnumber"), serial).unwrap();
        std::fs::write(d.join("UDC"), udc).unwrap();
    }

    #[test]
    fn gadgets_are_found_by_the_ids_and_serial_the_host_sees_and_replug_rewrites_udc() {
        let root = std::env::temp_dir().join(format!("dexthil-gadgets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        fake_gadget(
            &root,
            "printer0",
            "0x1452\n",
            "0x8b01\n",
            "DS6C98031738\n",
            "dummy_udc.0\n",
        );
        fake_gadget(
            &root,
            "printer1",
            "0x1343\n",
            "0x000a\n",
            "CX2E40117720\n",
            "dummy_udc.1\n",
        );
        fake_gadget(&root, "unbound", "0x1343\n", "0x0003\n", "X\n", "\n");
        let gadgets = discover(&root).unwrap();
        assert_eq!(
            gadgets.len(),
            2,
            "an unbound gadget has no UDC to come back to"
        );
        let ds620 = station::seats()
            .into_iter()
            .find(|s| s.model.name == "DS620")
            .unwrap();
        let view = station::usb_view(&ds620, 2);
        let g = gadgets.iter().find(|g| g.is(&view)).unwrap();
        assert_eq!(g.udc, "dummy_udc.0");
        g.unbind().unwrap();
        assert_eq!(std::fs::read_to_string(g.dir.join("UDC")).unwrap(), "\n");
        g.bind().unwrap();
        assert_eq!(
            std::fs::read_to_string(g.dir.join("UDC")).unwrap(),
            "dummy_udc.0\n"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn outside_the_vm_the_error_says_where_it_runs() {
        let e = discover(Path::new("/nonexistent/usb_gadget")).unwrap_err();
        assert!(e.to_string().contains("ci/usb-vm/run.sh"), "{e}");
    }
}
