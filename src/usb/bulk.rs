//! ESC P over a printer's bulk pipes through libusb: the host side of a query, the way a driver talks to
//! the printer. Used where dexthil owns the printer (the VM's emulated printers), never on a lab Mac, where
//! the dext owns the interface and a claim can block for tens of seconds (reference §5).
//!
//! Endpoints come from the descriptors, never from the catalog: the dummy controller in the VM numbers
//! them itself (usb-vm.md, "Quirks").

use super::libusb::{LibusbBus, PRINTER_CLASS, bounded};
use crate::lab::UsbView;
use crate::printer::escp::{self, Command, EscpError};
use rusb::UsbContext;
use std::time::Duration;
use thiserror::Error;

/// The printer interface and its bulk endpoints, as the descriptors say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrinterEndpoints {
    pub interface: u8,
    pub bulk_out: u8,
    pub bulk_in: u8,
}

#[derive(Debug, Error)]
pub enum BulkError {
    #[error("{0} has no printer-class interface with a bulk IN and a bulk OUT endpoint")]
    NoPrinterInterface(String),
    #[error("{0} is no longer on the bus")]
    Gone(String),
    #[error("{what} on {device}: {why}")]
    Usb {
        device: String,
        what: &'static str,
        why: String,
    },
    #[error("the printer's answer is not ESC P: {0}")]
    Answer(#[from] EscpError),
}

/// The first printer-class interface (of the active configuration) with bulk endpoints both ways.
pub fn printer_endpoints(view: &UsbView) -> Option<PrinterEndpoints> {
    view.configurations
        .iter()
        .filter(|c| view.active_configuration.is_none_or(|a| a == c.value))
        .flat_map(|c| &c.interfaces)
        .filter(|i| i.class == PRINTER_CLASS)
        .find_map(|i| {
            let bulk = |dir_in: bool| {
                i.endpoints
                    .iter()
                    .find(|e| e.transfer == "bulk" && (e.address & 0x80 != 0) == dir_in)
                    .map(|e| e.address)
            };
            Some(PrinterEndpoints {
                interface: i.number,
                bulk_out: bulk(false)?,
                bulk_in: bulk(true)?,
            })
        })
}

/// An open, claimed printer interface.
pub struct PrinterPipe {
    handle: rusb::DeviceHandle<rusb::Context>,
    pub endpoints: PrinterEndpoints,
    label: String,
    pub timeout: Duration,
}

/// Read buffer: a multiple of every bulk packet size, so a read never overflows.
const READ_CHUNK: usize = 4096;

impl PrinterPipe {
    /// Open the device `view` names (bus and address), detach a kernel driver (usblp binds printer
    /// interfaces on Linux) and claim the printer interface.
    pub fn open(bus: &LibusbBus, view: &UsbView) -> Result<PrinterPipe, BulkError> {
        let label = view.label();
        let endpoints =
            printer_endpoints(view).ok_or_else(|| BulkError::NoPrinterInterface(label.clone()))?;
        let usb = |what: &'static str, why: String| BulkError::Usb {
            device: label.clone(),
            what,
            why,
        };
        let list = bus
            .context()
            .devices()
            .map_err(|e| usb("listing devices", e.to_string()))?;
        let device = list
            .iter()
            .find(|d| d.bus_number() == view.bus && d.address() == view.address)
            .ok_or_else(|| BulkError::Gone(label.clone()))?;
        let handle = bounded("opening", Duration::from_secs(2), move || device.open())
            .map_err(|e| usb("opening", e))?;
        let iface = endpoints.interface;
        if handle.kernel_driver_active(iface).unwrap_or(false) {
            handle
                .detach_kernel_driver(iface)
                .map_err(|e| usb("detaching the kernel driver", e.to_string()))?;
        }
        handle
            .claim_interface(iface)
            .map_err(|e| usb("claiming the printer interface", e.to_string()))?;
        Ok(PrinterPipe {
            handle,
            endpoints,
            label,
            timeout: Duration::from_secs(escp::HOST_BULK_TIMEOUT_SECS),
        })
    }

    fn usb(&self, what: &'static str, e: rusb::Error) -> BulkError {
        BulkError::Usb {
            device: self.label.clone(),
            what,
            why: e.to_string(),
        }
    }

    /// Send a command with no answer (`CNTRL`, `IMAGE` with its payload).
    pub fn send(&self, command: Command, arg: &str, payload: &[u8]) -> Result<(), BulkError> {
        let len = (!payload.is_empty()).then_some(payload.len() as u32);
        let mut bytes = escp::build_header(command, arg, len)?.to_vec();
        bytes.extend_from_slice(payload);
        let mut sent = 0;
        while sent < bytes.len() {
            sent += self
                .handle
                .write_bulk(self.endpoints.bulk_out, &bytes[sent..], self.timeout)
                .map_err(|e| self.usb("bulk OUT", e))?;
        }
        Ok(())
    }

    /// Send a query and read its answer (8 digits of length, then the payload; any split into reads).
    /// Returns the wire bytes, which [`escp::parse_answer`] reads.
    pub fn query_wire(&self, command: Command, arg: &str) -> Result<Vec<u8>, BulkError> {
        self.send(command, arg, &[])?;
        let mut wire = Vec::new();
        let mut want = 8;
        let mut buf = vec![0u8; READ_CHUNK];
        while wire.len() < want {
            let n = self
                .handle
                .read_bulk(self.endpoints.bulk_in, &mut buf, self.timeout)
                .map_err(|e| self.usb("bulk IN", e))?;
            wire.extend_from_slice(&buf[..n]);
            if want == 8 && wire.len() >= 8 {
                want = 8 + answer_len(&wire[..8])?;
            }
        }
        Ok(wire)
    }

    /// Send a query and return its payload.
    pub fn query(&self, command: Command, arg: &str) -> Result<Vec<u8>, BulkError> {
        Ok(escp::parse_answer(&self.query_wire(command, arg)?)?)
    }
}

fn answer_len(head: &[u8]) -> Result<usize, EscpError> {
    let text = String::from_utf8_lossy(head);
    if !head.iter().all(u8::is_ascii_digit) {
        return Err(EscpError::BadAnswerLength(text.into_owned()));
    }
    text.parse()
        .map_err(|_| EscpError::BadAnswerLength(text.into_owned()))
}

impl Drop for PrinterPipe {
    fn drop(&mut self) {
        let _ = self.handle.release_interface(self.endpoints.interface);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::catalog;

    #[test]
    fn endpoints_come_from_the_descriptors() {
        let mut view = catalog::MODELS[0].usb_view(1, vec![1, 1], 2);
        let got = printer_endpoints(&view).unwrap();
        assert_eq!(
            (got.bulk_out, got.bulk_in),
            (catalog::BULK_OUT, catalog::BULK_IN)
        );
        // The VM's dummy controller numbers them its own way: what the descriptor says wins.
        view.configurations[0].interfaces[0].endpoints[0].address = 0x02;
        view.configurations[0].interfaces[0].endpoints[1].address = 0x81;
        let got = printer_endpoints(&view).unwrap();
        assert_eq!((got.interface, got.bulk_out, got.bulk_in), (0, 0x02, 0x81));
        view.configurations[0].interfaces[0].class = 8;
        assert_eq!(printer_endpoints(&view), None);
    }

    #[test]
    fn a_bad_length_is_an_error() {
        assert!(answer_len(b"0000x001").is_err());
        assert_eq!(answer_len(b"00000012").unwrap(), 12);
    }
}
