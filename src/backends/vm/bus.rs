//! [`VmBus`]: the real libusb view of the VM's bus ([`LibusbBus`]: enumeration, strings, 1284 ids,
//! hotplug), with replug done the VM's way, by unbinding the printer gadget's UDC and binding it back.

use super::gadgets::{self, Gadget};
use crate::lab::{LabError, UsbBus, UsbView, WaitError};
use crate::printer::gadget::GADGET_ROOT;
use crate::usb::libusb::LibusbBus;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a replugged gadget stays unbound. A real unplug lasts at least this; the host sees the
/// departure ~20 ms after the unbind (usb-vm.md).
pub const OFF_TIME: Duration = Duration::from_millis(200);

pub struct VmBus {
    libusb: LibusbBus,
    gadgets: Vec<Gadget>,
}

impl VmBus {
    /// The bus of the VM, with the gadgets under `USBVM_GADGET_ROOT` (default: configfs's `usb_gadget`).
    pub fn new() -> Result<VmBus, LabError> {
        let root = std::env::var_os("USBVM_GADGET_ROOT")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| GADGET_ROOT.into());
        Self::with_gadgets(&root)
    }

    pub fn with_gadgets(root: &Path) -> Result<VmBus, LabError> {
        let gadgets = gadgets::discover(root)?;
        if gadgets.is_empty() {
            return Err(LabError::Unsupported {
                backend: "vm",
                what: "find the emulated printers",
                why: format!("no bound printer gadget under {}", root.display()),
            });
        }
        Ok(VmBus {
            libusb: LibusbBus::new()?,
            gadgets,
        })
    }

    pub fn libusb(&self) -> &LibusbBus {
        &self.libusb
    }

    pub fn gadgets(&self) -> &[Gadget] {
        &self.gadgets
    }

    fn gadget_of(&self, device: &UsbView) -> Result<&Gadget, LabError> {
        self.gadgets.iter().find(|g| g.is(device)).ok_or_else(|| {
            LabError::Other(format!("{} is not an emulated printer", device.label()))
        })
    }
}

impl UsbBus for VmBus {
    fn devices(&self) -> Result<Vec<UsbView>, LabError> {
        self.libusb.devices()
    }

    /// Unbind now; bind again after [`OFF_TIME`] on a helper thread, so the caller can watch the
    /// departure and the return through hotplug.
    fn replug(&self, device: &UsbView) -> Result<(), LabError> {
        let gadget = self.gadget_of(device)?.clone();
        gadget.unbind()?;
        std::thread::spawn(move || {
            std::thread::sleep(OFF_TIME);
            if let Err(e) = gadget.bind() {
                tracing::error!("replug could not plug the printer back in: {e}");
            }
        });
        Ok(())
    }

    fn wait_usb(
        &self,
        pred: &(dyn Fn(&UsbView) -> bool + Sync),
        present: bool,
        deadline: Instant,
    ) -> Result<Option<UsbView>, WaitError> {
        self.libusb.wait_usb(pred, present, deadline)
    }
}
