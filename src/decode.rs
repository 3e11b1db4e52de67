//! `dexthil decode`: a code's names, meaning, family, and where on the user-client path it arises.
//!
//! The path notes are from `shared/reference/iokit.md` §2 (IOServiceOpen on a DriverKit service) and §3
//! (ExternalMethod dispatch), each naming the xnu function it comes from; the names and meanings from the
//! headers through [`crate::ioreturn`].

use crate::ioreturn::{self, Decoded, code};
use std::fmt;

/// Where on the user-client path a code can come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathNote {
    /// `IOServiceOpen`, `IOConnectCallMethod`, ...
    pub call: &'static str,
    pub cause: &'static str,
    /// The function that answers it: `xnu iokit/Kernel/IOUserServer.cpp IOService::NewUserClient_Impl`.
    pub source: &'static str,
}

macro_rules! note {
    ($call:expr, $cause:expr, $source:expr) => {
        PathNote {
            call: $call,
            cause: $cause,
            source: $source,
        }
    };
}

/// The causes a code can have on the user-client path, in the order the source makes them likely.
pub fn path_notes(value: u32) -> &'static [PathNote] {
    const OPEN: &str = "IOServiceOpen";
    const CALL: &str = "IOConnectCallMethod";
    match value {
        code::kIOReturnError => &[
            note!(
                OPEN,
                "the open reached a dext-backed service whose class has no NewUserClient override, so the base implementation answered (the personality's IOUserClass names another class than the one with the override, or the host opened a nub the dext published); no NewUserClient line of the developer's is logged",
                "xnu iokit/Kernel/IOUserServer.cpp IOService::NewUserClient_Impl (the kernel's twin; libdriverkit's default is closed source, UNCONFIRMED, presumed the same)"
            ),
            note!(
                OPEN,
                "the dext's own NewUserClient returned it (Apple's sample does when its cast of the created client fails); its log shows it ran",
                "xnu iokit/Kernel/IOUserServer.cpp IOUserServer::serviceNewUserClient (the dext's error is returned as-is)"
            ),
            note!(
                OPEN,
                "newUserClient succeeded with an object that is not an IOUserClient",
                "xnu iokit/Kernel/IOUserClient.cpp is_io_service_open_extended"
            ),
        ],
        code::kIOReturnUnsupported => &[
            note!(
                OPEN,
                "the object opened is not a service a dext instantiated, so IOService::newUserClient takes the generic path and finds no IOUserClientClass: above all the dext's IOUserServer, or another kernel object",
                "xnu iokit/Kernel/IOService.cpp IOService::newUserClient"
            ),
            note!(
                OPEN,
                "the client the dext created is not an IOUserUserClient (UserClientProperties IOClass), so the kernel terminated it",
                "xnu iokit/Kernel/IOUserServer.cpp IOUserServer::serviceNewUserClient"
            ),
            note!(
                OPEN,
                "Create could not alloc / init / attach the user client",
                "xnu iokit/Kernel/IOUserServer.cpp IOService::Create_Impl"
            ),
        ],
        code::kIOReturnNotPermitted => &[
            note!(
                OPEN,
                "userclient-access check failed: the dext lacks com.apple.developer.driverkit.allow-any-userclient-access and the host's com.apple.developer.driverkit.userclient-access (an array, or one string equal to the bundle id) does not contain the service's CFBundleIdentifier; allow-any on the host has no effect. Kernel log: `<user client class>-0x<id>:UC entitlements check failed`. NewUserClient ran before this check",
                "xnu iokit/Kernel/IOUserServer.cpp IOUserServer::serviceNewUserClient"
            ),
            note!(
                OPEN,
                "the host lacks an entitlement the user client's IOServiceDEXTEntitlements lists (every entitlement of one inner array)",
                "xnu iokit/Kernel/IOUserServer.cpp IOUserServer::serviceNewUserClient → checkEntitlements"
            ),
            note!(
                OPEN,
                "MACF denied mac_iokit_check_open_service or mac_iokit_check_open (`IOUC %s failed MACF in process %s`)",
                "xnu iokit/Kernel/IOUserClient.cpp is_io_service_open_extended"
            ),
        ],
        code::kIOReturnNotPrivileged => &[note!(
            OPEN,
            "the user client's IOUserClientEntitlements names an entitlement the host lacks (`IOUC IOUserUserClient missing entitlement in process pid <n>, <name>`)",
            "xnu iokit/Kernel/IOUserClient.cpp is_io_service_open_extended"
        )],
        code::kIOReturnBadArgument => &[
            note!(
                CALL,
                "dispatch refused the call: scalar or struct counts / sizes differ from the dispatch entry's checks, a completion given where forbidden or missing where required, or a selector past the table",
                "xnu iokit/Kernel/IOUserClient.cpp IOUserClient2022::dispatchExternalMethod"
            ),
            note!(
                OPEN,
                "NewUserClient's Create(this, \"UserClientProperties\", ...) found UserClientProperties missing, not a dictionary, or with an IOClass that is not a string",
                "xnu iokit/Kernel/IOUserServer.cpp IOService::Create_Impl"
            ),
            note!(
                OPEN,
                "the object is not an IOService, or the owning task is not the caller",
                "xnu iokit/Kernel/IOUserClient.cpp is_io_service_open_extended"
            ),
            note!(
                CALL,
                "the dext's structure output is longer than the caller's buffer",
                "xnu iokit/Kernel/IOUserClient.cpp IOUserClient2022::dispatchExternalMethod"
            ),
        ],
        code::kIOReturnNoMemory => &[note!(
            OPEN,
            "Create could not copy the user client's properties",
            "xnu iokit/Kernel/IOUserServer.cpp IOService::Create_Impl"
        )],
        code::kIOReturnOffline => &[note!(
            OPEN,
            "the dext's server is inactive and has no root queue (crashed or terminating)",
            "xnu iokit/Kernel/IOUserServer.cpp IOUserServer::rpc"
        )],
        code::kIOReturnNotReady => &[note!(
            OPEN,
            "the dext's server has no send port yet (not finished launching)",
            "xnu iokit/Kernel/IOUserServer.cpp IOUserServer::rpc"
        )],
        code::MIG_SERVER_DIED => &[note!(
            OPEN,
            "the dext died during the RPC (a send-once notification came back instead of a reply)",
            "xnu iokit/Kernel/IOUserServer.cpp IOUserServer::rpc"
        )],
        code::kIOReturnNoCompletion => &[note!(
            CALL,
            "the call passed dispatch but the entry's function is NULL",
            "xnu iokit/Kernel/IOUserClient.cpp IOUserClient2022::dispatchExternalMethod"
        )],
        code::kIOReturnIPCError => &[note!(
            CALL,
            "an out-of-line struct input or output of 4096 bytes or less",
            "xnu iokit/Kernel/IOUserClient.cpp is_io_connect_method"
        )],
        code::MIG_ARRAY_TOO_LARGE => &[note!(
            CALL,
            "more than 16 scalar inputs: refused in the caller's process, nothing was sent (a scalar output capacity above 16 is clamped to 16 instead)",
            "bootstrap_cmds migcom (the IOConnectCallMethod stub of device.defs)"
        )],
        code::MACH_SEND_INVALID_DEST => &[note!(
            CALL,
            "the connection's port is dead or null: the dext crashed, the service terminated, or the connection was closed",
            "xnu osfmk/ipc mach_msg send path"
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
        // An unknown code's own Display already carries its family and split; the lines below say them once.
        match (d.known, ioreturn::mach_special_bits(d.value)) {
            (Some(k), _) => writeln!(f, "{} (0x{:08X})", k.name, d.value)?,
            (None, Some((base, bits))) => {
                let names: Vec<&str> = bits.iter().map(|b| b.name).collect();
                writeln!(
                    f,
                    "{} | {} (0x{:08X})",
                    base.name,
                    names.join(" | "),
                    d.value
                )?
            }
            (None, None) => writeln!(f, "0x{:08X} (not a code the headers name)", d.value)?,
        }
        if let Some(k) = d.known {
            writeln!(f, "  meaning: {}", k.meaning)?;
            writeln!(f, "  defined: {}", k.header)?;
        }
        for other in d.names.iter().skip(1) {
            writeln!(
                f,
                "  also:    {} ({}: {})",
                other.name, other.header, other.meaning
            )?;
        }
        if let (None, Some((base, bits))) = (d.known, ioreturn::mach_special_bits(d.value)) {
            writeln!(f, "  meaning: {} ({})", base.meaning, base.header)?;
            for b in bits {
                writeln!(
                    f,
                    "  bit:     {} = 0x{:08X}: {}",
                    b.name, b.value, b.meaning
                )?;
            }
        }
        writeln!(f, "  family:  {}", d.family().label())?;
        writeln!(
            f,
            "  split:   system 0x{:02X}, subsystem 0x{:03X}, code 0x{:04X}; as signed {}",
            d.system, d.subsystem, d.code, d.value as i32
        )?;
        for n in self.notes {
            writeln!(f, "  from {}: {} [{}]", n.call, n.cause, n.source)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioreturn::Family;

    #[test]
    fn the_seed_question_points_at_a_class_without_the_override_first() {
        let e = explain(0xE00002BC);
        assert_eq!(e.decoded.known.unwrap().name, "kIOReturnError");
        assert!(
            e.notes[0].cause.contains("no NewUserClient override"),
            "{e}"
        );
        assert!(e.notes[0].source.contains("NewUserClient_Impl"), "{e}");
        // Opening the IOUserServer answers kIOReturnUnsupported (reference §2), never kIOReturnError.
        assert!(
            e.notes.iter().all(|n| !n.cause.contains("IOUserServer")),
            "{e}"
        );
        assert!(
            explain(code::kIOReturnUnsupported).notes[0]
                .cause
                .contains("IOUserServer")
        );
        assert!(e.to_string().starts_with("kIOReturnError (0xE00002BC)"));
    }

    #[test]
    fn mach_special_bits_are_named_beside_their_base_code() {
        // MACH_RCV_HEADER_ERROR | MACH_MSG_IPC_SPACE (message.h: "See special bits").
        let text = explain(0x1000_400B | 0x2000).to_string();
        assert!(
            text.starts_with("MACH_RCV_HEADER_ERROR | MACH_MSG_IPC_SPACE (0x1000600B)"),
            "{text}"
        );
        assert!(text.contains("No room in IPC name space"), "{text}");
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

    /// Reference §1's IOKit common table, copied row by row (name, value, header comment), independently of
    /// the `codes!` list in `ioreturn`: a typo in either shows here.
    const SECTION_1_COMMON: &[(&str, u32, &str)] = &[
        ("kIOReturnSuccess", 0x0000_0000, "OK"),
        ("kIOReturnError", 0xE000_02BC, "general error"),
        ("kIOReturnNoMemory", 0xE000_02BD, "can't allocate memory"),
        ("kIOReturnNoResources", 0xE000_02BE, "resource shortage"),
        ("kIOReturnIPCError", 0xE000_02BF, "error during IPC"),
        ("kIOReturnNoDevice", 0xE000_02C0, "no such device"),
        ("kIOReturnNotPrivileged", 0xE000_02C1, "privilege violation"),
        ("kIOReturnBadArgument", 0xE000_02C2, "invalid argument"),
        ("kIOReturnLockedRead", 0xE000_02C3, "device read locked"),
        ("kIOReturnLockedWrite", 0xE000_02C4, "device write locked"),
        (
            "kIOReturnExclusiveAccess",
            0xE000_02C5,
            "exclusive access and device already open",
        ),
        (
            "kIOReturnBadMessageID",
            0xE000_02C6,
            "sent/received messages had different msg_id",
        ),
        ("kIOReturnUnsupported", 0xE000_02C7, "unsupported function"),
        ("kIOReturnVMError", 0xE000_02C8, "misc. VM failure"),
        ("kIOReturnInternalError", 0xE000_02C9, "internal error"),
        ("kIOReturnIOError", 0xE000_02CA, "General I/O error"),
        ("kIOReturnCannotLock", 0xE000_02CC, "can't acquire lock"),
        ("kIOReturnNotOpen", 0xE000_02CD, "device not open"),
        ("kIOReturnNotReadable", 0xE000_02CE, "read not supported"),
        ("kIOReturnNotWritable", 0xE000_02CF, "write not supported"),
        ("kIOReturnNotAligned", 0xE000_02D0, "alignment error"),
        ("kIOReturnBadMedia", 0xE000_02D1, "Media Error"),
        ("kIOReturnStillOpen", 0xE000_02D2, "device(s) still open"),
        ("kIOReturnRLDError", 0xE000_02D3, "rld failure"),
        ("kIOReturnDMAError", 0xE000_02D4, "DMA failure"),
        ("kIOReturnBusy", 0xE000_02D5, "Device Busy"),
        ("kIOReturnTimeout", 0xE000_02D6, "I/O Timeout"),
        ("kIOReturnOffline", 0xE000_02D7, "device offline"),
        ("kIOReturnNotReady", 0xE000_02D8, "not ready"),
        ("kIOReturnNotAttached", 0xE000_02D9, "device not attached"),
        ("kIOReturnNoChannels", 0xE000_02DA, "no DMA channels left"),
        ("kIOReturnNoSpace", 0xE000_02DB, "no space for data"),
        ("kIOReturnPortExists", 0xE000_02DD, "port already exists"),
        (
            "kIOReturnCannotWire",
            0xE000_02DE,
            "can't wire down physical memory",
        ),
        ("kIOReturnNoInterrupt", 0xE000_02DF, "no interrupt attached"),
        ("kIOReturnNoFrames", 0xE000_02E0, "no DMA frames enqueued"),
        (
            "kIOReturnMessageTooLarge",
            0xE000_02E1,
            "oversized msg received on interrupt port",
        ),
        ("kIOReturnNotPermitted", 0xE000_02E2, "not permitted"),
        ("kIOReturnNoPower", 0xE000_02E3, "no power to device"),
        ("kIOReturnNoMedia", 0xE000_02E4, "media not present"),
        (
            "kIOReturnUnformattedMedia",
            0xE000_02E5,
            "media not formatted",
        ),
        ("kIOReturnUnsupportedMode", 0xE000_02E6, "no such mode"),
        ("kIOReturnUnderrun", 0xE000_02E7, "data underrun"),
        ("kIOReturnOverrun", 0xE000_02E8, "data overrun"),
        (
            "kIOReturnDeviceError",
            0xE000_02E9,
            "the device is not working properly",
        ),
        (
            "kIOReturnNoCompletion",
            0xE000_02EA,
            "a completion routine is required",
        ),
        ("kIOReturnAborted", 0xE000_02EB, "operation aborted"),
        (
            "kIOReturnNoBandwidth",
            0xE000_02EC,
            "bus bandwidth would be exceeded",
        ),
        (
            "kIOReturnNotResponding",
            0xE000_02ED,
            "device not responding",
        ),
        (
            "kIOReturnIsoTooOld",
            0xE000_02EE,
            "isochronous I/O request for distant past",
        ),
        (
            "kIOReturnIsoTooNew",
            0xE000_02EF,
            "isochronous I/O request for distant future",
        ),
        ("kIOReturnNotFound", 0xE000_02F0, "data was not found"),
        ("kIOReturnInvalid", 0xE000_0001, "should never be seen"),
    ];

    /// The rest of §1: USB family, USBDriverKit host, Mach kern / send / receive, MIG.
    const SECTION_1_OTHERS: &[(&str, u32, Family)] = &[
        ("kIOUSBInterfaceNotFound", 0xE000_404E, Family::IoKitUsb),
        ("kIOUSBPipeStalled", 0xE000_404F, Family::IoKitUsb),
        ("kIOUSBTransactionReturned", 0xE000_4050, Family::IoKitUsb),
        ("kIOUSBTransactionTimeout", 0xE000_4051, Family::IoKitUsb),
        ("kIOUSBConfigNotFound", 0xE000_4056, Family::IoKitUsb),
        ("kIOUSBEndpointNotFound", 0xE000_4057, Family::IoKitUsb),
        ("kIOUSBNotEnoughPowerErr", 0xE000_405D, Family::IoKitUsb),
        ("kIOUSBNotEnoughPipesErr", 0xE000_405E, Family::IoKitUsb),
        ("kIOUSBNoAsyncPortErr", 0xE000_405F, Family::IoKitUsb),
        ("kIOUSBTooManyPipesErr", 0xE000_4060, Family::IoKitUsb),
        ("kIOUSBUnknownPipeErr", 0xE000_4061, Family::IoKitUsb),
        ("kUSBHostReturnPipeStalled", 0xE000_5000, Family::UsbHost),
        ("kUSBHostReturnNoPower", 0xE000_5001, Family::UsbHost),
        ("KERN_INVALID_ARGUMENT", 4, Family::MachKern),
        ("KERN_FAILURE", 5, Family::MachKern),
        ("KERN_RESOURCE_SHORTAGE", 6, Family::MachKern),
        ("KERN_NO_ACCESS", 8, Family::MachKern),
        ("KERN_INVALID_NAME", 15, Family::MachKern),
        ("KERN_INVALID_RIGHT", 17, Family::MachKern),
        ("KERN_TERMINATED", 37, Family::MachKern),
        ("KERN_NOT_SUPPORTED", 46, Family::MachKern),
        ("KERN_OPERATION_TIMED_OUT", 49, Family::MachKern),
        ("KERN_DENIED", 53, Family::MachKern),
        ("KERN_NOT_FOUND", 56, Family::MachKern),
        ("MACH_SEND_INVALID_DATA", 0x1000_0002, Family::MachSend),
        ("MACH_SEND_INVALID_DEST", 0x1000_0003, Family::MachSend),
        ("MACH_SEND_TIMED_OUT", 0x1000_0004, Family::MachSend),
        ("MACH_SEND_INTERRUPTED", 0x1000_0007, Family::MachSend),
        ("MACH_SEND_INVALID_RIGHT", 0x1000_000A, Family::MachSend),
        ("MACH_SEND_NO_BUFFER", 0x1000_000D, Family::MachSend),
        ("MACH_SEND_TOO_LARGE", 0x1000_000E, Family::MachSend),
        ("MACH_RCV_TIMED_OUT", 0x1000_4003, Family::MachRcv),
        ("MACH_RCV_TOO_LARGE", 0x1000_4004, Family::MachRcv),
        ("MACH_RCV_INTERRUPTED", 0x1000_4005, Family::MachRcv),
        ("MIG_TYPE_ERROR", -300i32 as u32, Family::Mig),
        ("MIG_REPLY_MISMATCH", -301i32 as u32, Family::Mig),
        ("MIG_REMOTE_ERROR", -302i32 as u32, Family::Mig),
        ("MIG_BAD_ID", -303i32 as u32, Family::Mig),
        ("MIG_BAD_ARGUMENTS", -304i32 as u32, Family::Mig),
        ("MIG_NO_REPLY", -305i32 as u32, Family::Mig),
        ("MIG_EXCEPTION", -306i32 as u32, Family::Mig),
        ("MIG_ARRAY_TOO_LARGE", -307i32 as u32, Family::Mig),
        ("MIG_SERVER_DIED", -308i32 as u32, Family::Mig),
        ("MIG_TRAILER_ERROR", -309i32 as u32, Family::Mig),
    ];

    #[test]
    fn every_section_1_code_decodes_to_its_name_meaning_and_family() {
        for &(name, value, meaning) in SECTION_1_COMMON {
            let text = explain(value).to_string();
            assert!(
                text.starts_with(&format!("{name} (0x{value:08X})")),
                "{name}: {text}"
            );
            assert!(text.contains(&format!("meaning: {meaning}")), "{text}");
            let family = if value == 0 {
                Family::Success
            } else {
                Family::IoKitCommon
            };
            assert_eq!(explain(value).decoded.family(), family, "{name}");
        }
        for &(name, value, family) in SECTION_1_OTHERS {
            let e = explain(value);
            assert_eq!(e.decoded.known.map(|k| k.name), Some(name), "0x{value:08X}");
            assert_eq!(e.decoded.family(), family, "{name}");
            assert!(e.to_string().contains(family.label()), "{e}");
        }
        assert_eq!(SECTION_1_COMMON.len(), 53);
    }

    #[test]
    fn unknown_codes_are_placed_in_their_family_by_the_split() {
        let cases = [
            (0xE000_02CB, Family::IoKitCommon, 0x38, 0x000, 0x02CB),
            (0xE000_4999, Family::IoKitUsb, 0x38, 0x001, 0x0999),
            (0xE000_5002, Family::UsbHost, 0x38, 0x001, 0x1002),
            (0x1000_0099, Family::MachSend, 0x04, 0x000, 0x0099),
            (0x1000_4099, Family::MachRcv, 0x04, 0x001, 0x0099),
            (-350i32 as u32, Family::Mig, 0x3F, 0xFFF, 0x3EA2),
            (0x1234_5678, Family::Unknown, 0x04, 0x8D1, 0x1678),
        ];
        for (value, family, system, subsystem, code) in cases {
            let e = explain(value);
            assert_eq!(e.decoded.known, None);
            assert_eq!(e.decoded.family(), family, "0x{value:08X}");
            let split =
                format!("system 0x{system:02X}, subsystem 0x{subsystem:03X}, code 0x{code:04X}");
            assert!(e.to_string().contains(&split), "{e}");
        }
    }
}
