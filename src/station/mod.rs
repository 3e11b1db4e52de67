//! Station (lab) files, `ci/labs/*.yaml`: which backend a lab Mac uses and which printers sit where (model,
//! serial, locationID, hub port, how to replug each). Loaded with the scenario loader's error style; used
//! for the health check before a nightly, the printer keys that serialize scenarios, and provenance.
//!
//! Knows the lab traits (for the health check and provenance), never a backend's insides.

mod file;
pub mod health;
pub mod provenance;

pub use file::load_station;

use crate::backends::LabChoice;
use crate::span::Span;
use crate::usb::replug::{ReplugMethod, ReplugOptions};
use std::path::PathBuf;
use std::time::Duration;

/// One lab station.
#[derive(Clone, Debug, PartialEq)]
pub struct Station {
    pub name: String,
    pub source: PathBuf,
    pub backend: LabChoice,
    pub printers: Vec<StationPrinter>,
}

/// How a station printer is power-cycled when a scenario says `replug`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplugChoice {
    /// Hub port power when the hub can, else a libusb reset.
    Auto,
    HubPower,
    Reset,
    /// Never replugged: a scenario that replugs it fails as a lab failure.
    None,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StationPrinter {
    /// The station's name for it (`ds620`): reports and printer locks use it.
    pub name: String,
    pub span: Span,
    /// A catalog model name.
    pub model: String,
    pub serial: Option<String>,
    /// `locationID`.
    pub location: Option<u32>,
    /// The port of the power-switching hub it hangs from.
    pub hub_port: Option<u8>,
    pub replug: ReplugChoice,
    pub power_off: Duration,
    pub power_off_attempts: u32,
}

impl StationPrinter {
    /// True when the USB device is this printer (every given field matches).
    pub fn matches(&self, v: &crate::lab::UsbView) -> bool {
        let model_ok = crate::printer::catalog::find(&self.model)
            .is_some_and(|m| m.vendor == v.vendor_id && m.product == v.product_id);
        let serial_ok = self
            .serial
            .as_deref()
            .is_none_or(|s| v.serial.value().is_some_and(|have| have == s));
        let location_ok = self.location.is_none_or(|loc| {
            crate::usb::location::encode(v.bus, &v.port_path).is_ok_and(|l| l == loc)
        });
        model_ok && serial_ok && location_ok
    }

    /// `model DS620, serial X, location 0x01130000`.
    pub fn describe(&self) -> String {
        let mut s = format!("model {}", self.model);
        if let Some(serial) = &self.serial {
            s.push_str(&format!(", serial {serial}"));
        }
        if let Some(l) = self.location {
            s.push_str(&format!(", location 0x{l:08x}"));
        }
        s
    }

    /// What `src/usb/replug.rs` needs for this printer; `None` when it must not be replugged.
    pub fn replug_options(&self) -> Option<ReplugOptions> {
        let methods = match self.replug {
            ReplugChoice::Auto => vec![ReplugMethod::HubPower, ReplugMethod::Reset],
            ReplugChoice::HubPower => vec![ReplugMethod::HubPower],
            ReplugChoice::Reset => vec![ReplugMethod::Reset],
            ReplugChoice::None => return None,
        };
        Some(ReplugOptions {
            methods,
            off_time: self.power_off,
            power_off_attempts: self.power_off_attempts,
            ..ReplugOptions::default()
        })
    }

    /// Could a scenario role mean this printer? Every field the role gives must agree with the station's.
    pub fn serves(&self, role: &crate::scenario::Role) -> bool {
        let same_model = |name: &str| {
            let a = crate::printer::catalog::find(name);
            let b = crate::printer::catalog::find(&self.model);
            a.is_some() && a == b
        };
        role.model.as_deref().is_none_or(same_model)
            && role
                .serial
                .as_deref()
                .is_none_or(|s| self.serial.as_deref() == Some(s))
            && role.location.is_none_or(|l| self.location == Some(l))
            && role.vendor.is_none_or(|v| {
                crate::printer::catalog::find(&self.model).is_some_and(|m| m.vendor == v)
            })
            && role.product.is_none_or(|p| {
                crate::printer::catalog::find(&self.model).is_some_and(|m| m.product == p)
            })
    }
}

/// The station's replug choices as the libusb bus takes them: one plan per printer, matched like the health
/// check matches (model, serial, location).
pub fn replug_plan(station: &Station) -> Vec<crate::usb::libusb::ReplugPlan> {
    station
        .printers
        .iter()
        .map(|p| {
            let printer = p.clone();
            crate::usb::libusb::ReplugPlan {
                printer: p.name.clone(),
                options: p.replug_options(),
                matches: Box::new(move |v| printer.matches(v)),
            }
        })
        .collect()
}
