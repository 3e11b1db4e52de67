//! The replay backend: registry dumps recorded on a Mac, answered read-only anywhere.
//!
//! A recording is a folder with `ioreg.plist` (`ioreg -a -l`, XML or binary) or `ioreg.txt` (`ioreg -l`
//! text as users paste it), and optionally `usb.json` (a JSON array of [`UsbView`]). Both dump forms are
//! read into one [`DumpTree`]; [`ReplayLab`] answers the lab traits from it. Open and call are refused: a
//! recording holds no live dext. `summary` is the library side of `dexthil ioreg <dump> [--json]`.
//!
//! This module must not know the engine or scenarios beyond the factory interface.

mod dexts;
mod error;
mod lab;
mod load;
pub mod plist_depth;
mod plist_form;
mod summary;
mod text_form;
mod text_node;
mod text_value;
mod tree;
mod usb_view;

pub use dexts::{DextEntry, dext_entries};
pub use error::{DumpError, Place};
pub use lab::{ReplayLab, UsbSource};
pub use load::{load_dump, parse_dump};
pub use plist_form::{parse_plist, prop as prop_from_plist};
pub use summary::{
    DeviceSummary, DextService, DumpSummary, InterfaceSummary, UserServerSummary, render,
    summarize, user_servers,
};
pub use text_form::parse_text;
pub use text_value::{ValueError, parse_value};
pub use tree::{DumpTree, RegNode, known_class_chain};
pub use usb_view::usb_view_from_registry;

use super::LabFactory;
use crate::lab::{Lab, LabError, UsbView};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whether a recording holds a file of this name at all. Only "no such file" is absence: a FIFO, a
/// directory, a dangling link or an unreadable entry under the name is there, and reading it reports what
/// it is (`input::read_capped`), so a broken recording is never mistaken for one without that file.
fn present(path: &Path) -> bool {
    !matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

/// The dump file of a recording folder: `ioreg.plist` if present, else `ioreg.txt`.
pub fn dump_path(dir: &Path) -> Result<PathBuf, DumpError> {
    ["ioreg.plist", "ioreg.txt"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| present(p))
        .ok_or_else(|| DumpError::NoDump {
            dir: dir.to_path_buf(),
        })
}

/// A recorded `usb.json`: a JSON array of [`UsbView`].
pub fn load_usb_json(path: &Path) -> Result<Vec<UsbView>, DumpError> {
    let bytes = crate::input::read_capped(path, crate::input::RECORDING)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        DumpError::syntax(
            path,
            e.line().max(1),
            Some(e.column()).filter(|&c| c > 0),
            format!("not a JSON array of USB views: {e}"),
        )
    })
}

/// Load a recording folder into a lab.
pub fn load_recording(dir: &Path) -> Result<ReplayLab, DumpError> {
    let tree = load_dump(&dump_path(dir)?)?;
    let usb_json = dir.join("usb.json");
    let usb = if present(&usb_json) {
        Some(load_usb_json(&usb_json)?)
    } else {
        None
    };
    Ok(ReplayLab::new(&tree, usb))
}

/// Hands the same recording to every scenario: it is loaded once, here.
pub struct ReplayFactory {
    lab: Arc<ReplayLab>,
}

impl ReplayFactory {
    pub fn lab(&self) -> Arc<ReplayLab> {
        Arc::clone(&self.lab)
    }
}

impl LabFactory for ReplayFactory {
    fn name(&self) -> &'static str {
        "replay"
    }
    fn lab_for(&self, _spec: &crate::backends::LabSpec) -> Result<Arc<dyn Lab>, LabError> {
        Ok(self.lab.clone() as Arc<dyn Lab>)
    }
}

impl ReplayFactory {
    /// Load the recording in `dir` once; every scenario then gets the same lab.
    pub fn load(dir: &Path) -> Result<Self, DumpError> {
        Ok(ReplayFactory {
            lab: Arc::new(load_recording(dir)?),
        })
    }
}

/// The `--lab replay:<dir>` factory.
pub fn factory(dir: &Path) -> Result<Box<dyn LabFactory>, LabError> {
    let f = ReplayFactory::load(dir).map_err(|e| LabError::Other(format!("replay: {e}")))?;
    Ok(Box::new(f))
}
