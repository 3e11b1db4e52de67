//! `dexthil decode`: a code's name, meaning, family, and where on the user-client path it arises.
//!
//! The path notes are from `shared/reference/iokit.md` §2 (IOServiceOpen on a DriverKit service) and §3
//! (ExternalMethod dispatch); the names and meanings from §1 through [`crate::ioreturn`].

use crate::ioreturn::{self, Decoded, ReturnCode, code};
use std::fmt;

/// Where on the user-client path a code can come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathNote {
    /// `IOServiceOpen`, `IOConnectCallMethod`, ...
    pub call: &'static str,
    pub cause: &'static str,
}

macro_rules! note {
    ($call:expr, $cause:expr) => {
        PathNote {
            call: $call,
            cause: $cause,
        }
    };
}

/// The causes a code can have on the user-client path, most common first.
pub fn path_notes(value: u32) -> &'static [PathNote] {
    const OPEN: &str = "IOServiceOpen";
    const CALL: &str = "IOConnectCallMethod";
    match value {
        code::kIOReturnError => &[
            note!(
                OPEN,
                "the object opened is not the dext's service: its IOUserServer object, the IOUSBHostInterface provider, or a stale entry from before a re-enumeration (newUserClient gave no IOUserClient; the dext's NewUserClient never ran)"
            ),
            note!(
                OPEN,
                "the dext's NewUserClient returned it (Apple's sample does when its cast of the created client fails)"
            ),
        ],
        code::kIOReturnNotPermitted => &[
            note!(
                OPEN,
                "userclient-access check failed: the dext lacks com.apple.developer.driverkit.allow-any-userclient-access and the host's com.apple.developer.driverkit.userclient-access array does not contain the service's CFBundleIdentifier (a single newline-joined string does not count; allow-any on the host has no effect). Kernel log: `DK: <UserClass>-0x<id>:UC failed userclient-access check`. NewUserClient ran before this check"
            ),
            note!(
                OPEN,
                "MACF denied mac_iokit_check_open_service or mac_iokit_check_open (`IOUC %s failed MACF in process %s`)"
            ),
        ],
        code::kIOReturnNotPrivileged => &[note!(
            OPEN,
            "the user client has IOUserClientEntitlements and the host lacks that entitlement (`IOUC %s missing entitlement in process %s`)"
        )],
        code::kIOReturnBadArgument => &[
            note!(
                CALL,
                "dispatch refused the call: scalar or struct counts / sizes differ from the dispatch entry's checks, a completion given where forbidden or missing where required, or a selector past the table"
            ),
            note!(
                OPEN,
                "NewUserClient's Create(this, \"UserClientProperties\", ...) found UserClientProperties missing, not a dictionary, or without IOClass"
            ),
            note!(
                OPEN,
                "the object is not an IOService, or the owning task is not the caller"
            ),
            note!(
                CALL,
                "the dext's structure output is longer than the caller's buffer"
            ),
        ],
        code::kIOReturnUnsupported => &[
            note!(
                OPEN,
                "the client the dext created is not an IOUserUserClient (UserClientProperties IOClass), so the kernel terminated it"
            ),
            note!(
                OPEN,
                "a plain IOService with no IOUserClientClass property (for example the IOUSBHostDevice)"
            ),
            note!(
                OPEN,
                "Create could not alloc / init / attach the user client"
            ),
        ],
        code::kIOReturnNoMemory => &[note!(
            OPEN,
            "Create could not copy the user client's properties"
        )],
        code::kIOReturnOffline => &[note!(
            OPEN,
            "the dext's server is not running (crashed or not yet launched)"
        )],
        code::kIOReturnNoCompletion => &[note!(
            CALL,
            "the call passed dispatch but the entry's function is NULL"
        )],
        code::kIOReturnIPCError => &[note!(
            CALL,
            "an out-of-line struct input or output of 4096 bytes or less"
        )],
        code::MIG_ARRAY_TOO_LARGE => &[note!(
            CALL,
            "more than 16 scalars in or out: refused in the caller's process, nothing was sent"
        )],
        code::MACH_SEND_INVALID_DEST => &[note!(
            CALL,
            "the connection's port is dead or null: the dext crashed, the service terminated, or the connection was closed"
        )],
        _ => &[],
    }
}

/// Everything `decode` says about one code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    pub decoded: Decoded,
    pub notes: &'static [PathNote],
}

pub fn explain(value: u32) -> Explanation {
    Explanation {
        decoded: ioreturn::decode(value),
        notes: path_notes(value),
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.decoded;
        writeln!(f, "{}", ReturnCode(d.value))?;
        if let Some(k) = d.known {
            writeln!(f, "  meaning: {}", k.meaning)?;
        }
        writeln!(f, "  family:  {}", d.family().label())?;
        writeln!(
            f,
            "  split:   system 0x{:02X}, subsystem 0x{:03X}, code 0x{:04X}; as signed {}",
            d.system, d.subsystem, d.code, d.value as i32
        )?;
        for n in self.notes {
            writeln!(f, "  from {}: {}", n.call, n.cause)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_question_points_at_the_object_opened_first() {
        let e = explain(0xE00002BC);
        assert_eq!(e.decoded.known.unwrap().name, "kIOReturnError");
        assert!(e.notes[0].cause.contains("IOUserServer"), "{e}");
        assert!(e.to_string().starts_with("kIOReturnError (0xE00002BC)"));
    }

    #[test]
    fn unknown_codes_still_split() {
        let text = explain(0xE0003FFF).to_string();
        assert!(
            text.contains("subsystem 0x000") && text.contains("code 0x3FFF"),
            "{text}"
        );
    }

    #[test]
    fn mig_codes_show_their_signed_value() {
        let text = explain(code::MIG_ARRAY_TOO_LARGE).to_string();
        assert!(
            text.contains("MIG_ARRAY_TOO_LARGE") && text.contains("-307"),
            "{text}"
        );
    }
}
