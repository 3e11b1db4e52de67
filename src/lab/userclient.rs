//! Opening a service, calling its user client, and what came back.

use crate::ioreturn::ReturnCode;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::EntryId;

/// A connection handle (`io_connect_t` on a Mac), unique within one lab.
pub type ConnectionId = u64;

/// Which registry object an open targets. Hosts that open the wrong object are a classic field bug, so a
/// scenario can choose one on purpose (reference §2, §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenTarget {
    /// The dext's service (the right one).
    Service,
    /// The dext's `IOUserServer` object.
    UserServer,
    /// The `IOUSBHostInterface` the dext matched on.
    Interface,
    /// The `IOUSBHostDevice`.
    Device,
    /// The first service the dext publishes below its service (the driver file's first `nubs` entry).
    Nub,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenRequest {
    /// The registry entry to open.
    pub entry: EntryId,
    /// The `type` argument of `IOServiceOpen`.
    pub open_type: u32,
}

/// The result of `IOServiceOpen`: a connection when `code` is success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenOutcome {
    pub code: ReturnCode,
    pub connection: Option<ConnectionId>,
    pub took: Duration,
}

/// The arguments of one `IOConnectCallMethod` / `IOConnectCallAsyncMethod`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallArgs {
    pub selector: u32,
    pub scalars_in: Vec<u64>,
    pub struct_in: Vec<u8>,
    /// Capacity of the scalar output array the caller passes.
    pub scalars_out_capacity: u32,
    /// Size of the structure output buffer the caller passes.
    pub struct_out_capacity: u32,
    /// An async completion (reference) is passed (`IOConnectCallAsyncMethod`).
    pub completion: bool,
}

/// What one call returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallOutcome {
    /// The raw 32-bit code, as the caller got it.
    pub code: ReturnCode,
    pub scalars_out: Vec<u64>,
    pub struct_out: Vec<u8>,
    pub took: Duration,
}
