//! IOReturn, Mach and MIG codes: names, meanings, families, and where on the user-client path they arise.
//!
//! Every value here is from `shared/reference/iokit.md` §1 (xnu `iokit/IOKit/IOReturn.h`,
//! `osfmk/mach/kern_return.h`, `message.h`, `mig_errors.h`). This module is the one decoder: anything that
//! prints a code goes through [`decode`].

use std::fmt;

/// Which header family a code belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Success,
    IoKitCommon,
    IoKitUsb,
    UsbHost,
    MachKern,
    MachSend,
    MachRcv,
    Mig,
    Unknown,
}

impl Family {
    pub fn label(self) -> &'static str {
        match self {
            Family::Success => "success",
            Family::IoKitCommon => "IOKit common (sys_iokit | sub_iokit_common)",
            Family::IoKitUsb => "IOKit USB family (sys_iokit | sub_iokit_usb)",
            Family::UsbHost => "USBDriverKit host",
            Family::MachKern => "Mach kern_return_t",
            Family::MachSend => "Mach message send",
            Family::MachRcv => "Mach message receive",
            Family::Mig => "MIG",
            Family::Unknown => "unknown",
        }
    }
}

/// One known code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownCode {
    pub name: &'static str,
    pub value: u32,
    pub meaning: &'static str,
    pub family: Family,
}

macro_rules! codes {
    ($($fam:ident $name:ident = $val:expr, $meaning:expr;)*) => {
        /// Every code the project knows, in header order.
        pub const KNOWN: &[KnownCode] = &[
            $(KnownCode { name: stringify!($name), value: $val as u32, meaning: $meaning, family: Family::$fam },)*
        ];
        #[allow(non_upper_case_globals)]
        pub mod code {
            $(pub const $name: u32 = $val as u32;)*
        }
    };
}

codes! {
    Success kIOReturnSuccess = 0x0000_0000u32, "OK";
    IoKitCommon kIOReturnError = 0xE000_02BCu32, "general error";
    IoKitCommon kIOReturnNoMemory = 0xE000_02BDu32, "can't allocate memory";
    IoKitCommon kIOReturnNoResources = 0xE000_02BEu32, "resource shortage";
    IoKitCommon kIOReturnIPCError = 0xE000_02BFu32, "error during IPC";
    IoKitCommon kIOReturnNoDevice = 0xE000_02C0u32, "no such device";
    IoKitCommon kIOReturnNotPrivileged = 0xE000_02C1u32, "privilege violation";
    IoKitCommon kIOReturnBadArgument = 0xE000_02C2u32, "invalid argument";
    IoKitCommon kIOReturnLockedRead = 0xE000_02C3u32, "device read locked";
    IoKitCommon kIOReturnLockedWrite = 0xE000_02C4u32, "device write locked";
    IoKitCommon kIOReturnExclusiveAccess = 0xE000_02C5u32, "exclusive access and device already open";
    IoKitCommon kIOReturnBadMessageID = 0xE000_02C6u32, "sent/received messages had different msg_id";
    IoKitCommon kIOReturnUnsupported = 0xE000_02C7u32, "unsupported function";
    IoKitCommon kIOReturnVMError = 0xE000_02C8u32, "misc. VM failure";
    IoKitCommon kIOReturnInternalError = 0xE000_02C9u32, "internal error";
    IoKitCommon kIOReturnIOError = 0xE000_02CAu32, "General I/O error";
    IoKitCommon kIOReturnCannotLock = 0xE000_02CCu32, "can't acquire lock";
    IoKitCommon kIOReturnNotOpen = 0xE000_02CDu32, "device not open";
    IoKitCommon kIOReturnNotReadable = 0xE000_02CEu32, "read not supported";
    IoKitCommon kIOReturnNotWritable = 0xE000_02CFu32, "write not supported";
    IoKitCommon kIOReturnNotAligned = 0xE000_02D0u32, "alignment error";
    IoKitCommon kIOReturnBadMedia = 0xE000_02D1u32, "Media Error";
    IoKitCommon kIOReturnStillOpen = 0xE000_02D2u32, "device(s) still open";
    IoKitCommon kIOReturnRLDError = 0xE000_02D3u32, "rld failure";
    IoKitCommon kIOReturnDMAError = 0xE000_02D4u32, "DMA failure";
    IoKitCommon kIOReturnBusy = 0xE000_02D5u32, "Device Busy";
    IoKitCommon kIOReturnTimeout = 0xE000_02D6u32, "I/O Timeout";
    IoKitCommon kIOReturnOffline = 0xE000_02D7u32, "device offline";
    IoKitCommon kIOReturnNotReady = 0xE000_02D8u32, "not ready";
    IoKitCommon kIOReturnNotAttached = 0xE000_02D9u32, "device not attached";
    IoKitCommon kIOReturnNoChannels = 0xE000_02DAu32, "no DMA channels left";
    IoKitCommon kIOReturnNoSpace = 0xE000_02DBu32, "no space for data";
    IoKitCommon kIOReturnPortExists = 0xE000_02DDu32, "port already exists";
    IoKitCommon kIOReturnCannotWire = 0xE000_02DEu32, "can't wire down physical memory";
    IoKitCommon kIOReturnNoInterrupt = 0xE000_02DFu32, "no interrupt attached";
    IoKitCommon kIOReturnNoFrames = 0xE000_02E0u32, "no DMA frames enqueued";
    IoKitCommon kIOReturnMessageTooLarge = 0xE000_02E1u32, "oversized msg received on interrupt port";
    IoKitCommon kIOReturnNotPermitted = 0xE000_02E2u32, "not permitted";
    IoKitCommon kIOReturnNoPower = 0xE000_02E3u32, "no power to device";
    IoKitCommon kIOReturnNoMedia = 0xE000_02E4u32, "media not present";
    IoKitCommon kIOReturnUnformattedMedia = 0xE000_02E5u32, "media not formatted";
    IoKitCommon kIOReturnUnsupportedMode = 0xE000_02E6u32, "no such mode";
    IoKitCommon kIOReturnUnderrun = 0xE000_02E7u32, "data underrun";
    IoKitCommon kIOReturnOverrun = 0xE000_02E8u32, "data overrun";
    IoKitCommon kIOReturnDeviceError = 0xE000_02E9u32, "the device is not working properly";
    IoKitCommon kIOReturnNoCompletion = 0xE000_02EAu32, "a completion routine is required";
    IoKitCommon kIOReturnAborted = 0xE000_02EBu32, "operation aborted";
    IoKitCommon kIOReturnNoBandwidth = 0xE000_02ECu32, "bus bandwidth would be exceeded";
    IoKitCommon kIOReturnNotResponding = 0xE000_02EDu32, "device not responding";
    IoKitCommon kIOReturnIsoTooOld = 0xE000_02EEu32, "isochronous I/O request for distant past";
    IoKitCommon kIOReturnIsoTooNew = 0xE000_02EFu32, "isochronous I/O request for distant future";
    IoKitCommon kIOReturnNotFound = 0xE000_02F0u32, "data was not found";
    IoKitCommon kIOReturnInvalid = 0xE000_0001u32, "should never be seen";
    IoKitUsb kIOUSBInterfaceNotFound = 0xE000_404Eu32, "interface not found";
    IoKitUsb kIOUSBPipeStalled = 0xE000_404Fu32, "pipe stalled";
    IoKitUsb kIOUSBTransactionReturned = 0xE000_4050u32, "transaction returned";
    IoKitUsb kIOUSBTransactionTimeout = 0xE000_4051u32, "transaction timed out";
    IoKitUsb kIOUSBConfigNotFound = 0xE000_4056u32, "configuration not found";
    IoKitUsb kIOUSBEndpointNotFound = 0xE000_4057u32, "endpoint not found";
    IoKitUsb kIOUSBNotEnoughPowerErr = 0xE000_405Du32, "not enough power";
    IoKitUsb kIOUSBNotEnoughPipesErr = 0xE000_405Eu32, "not enough pipes";
    IoKitUsb kIOUSBNoAsyncPortErr = 0xE000_405Fu32, "no async port";
    IoKitUsb kIOUSBTooManyPipesErr = 0xE000_4060u32, "too many pipes";
    IoKitUsb kIOUSBUnknownPipeErr = 0xE000_4061u32, "unknown pipe";
    UsbHost kUSBHostReturnPipeStalled = 0xE000_5000u32, "pipe stalled (USBDriverKit)";
    UsbHost kUSBHostReturnNoPower = 0xE000_5001u32, "no power (USBDriverKit)";
    MachKern KERN_INVALID_ARGUMENT = 4u32, "invalid argument";
    MachKern KERN_FAILURE = 5u32, "failure";
    MachKern KERN_RESOURCE_SHORTAGE = 6u32, "resource shortage";
    MachKern KERN_NO_ACCESS = 8u32, "no access";
    MachKern KERN_INVALID_NAME = 15u32, "invalid port name";
    MachKern KERN_INVALID_RIGHT = 17u32, "invalid port right";
    MachKern KERN_TERMINATED = 37u32, "object terminated";
    MachKern KERN_NOT_SUPPORTED = 46u32, "not supported";
    MachKern KERN_OPERATION_TIMED_OUT = 49u32, "operation timed out";
    MachKern KERN_DENIED = 53u32, "denied";
    MachKern KERN_NOT_FOUND = 56u32, "not found";
    MachSend MACH_SEND_INVALID_DATA = 0x1000_0002u32, "invalid message data";
    MachSend MACH_SEND_INVALID_DEST = 0x1000_0003u32, "dead or null destination port (the server is gone)";
    MachSend MACH_SEND_TIMED_OUT = 0x1000_0004u32, "send timed out";
    MachSend MACH_SEND_INTERRUPTED = 0x1000_0007u32, "send interrupted";
    MachSend MACH_SEND_INVALID_RIGHT = 0x1000_000Au32, "invalid right in message";
    MachSend MACH_SEND_NO_BUFFER = 0x1000_000Du32, "no kernel buffer";
    MachSend MACH_SEND_TOO_LARGE = 0x1000_000Eu32, "message too large";
    MachRcv MACH_RCV_TIMED_OUT = 0x1000_4003u32, "receive timed out";
    MachRcv MACH_RCV_TOO_LARGE = 0x1000_4004u32, "receive buffer too small";
    MachRcv MACH_RCV_INTERRUPTED = 0x1000_4005u32, "receive interrupted";
    Mig MIG_TYPE_ERROR = -300i32, "type check failure";
    Mig MIG_REPLY_MISMATCH = -301i32, "wrong reply message id";
    Mig MIG_REMOTE_ERROR = -302i32, "server detected error";
    Mig MIG_BAD_ID = -303i32, "bad request message id";
    Mig MIG_BAD_ARGUMENTS = -304i32, "server found bad arguments";
    Mig MIG_NO_REPLY = -305i32, "no reply should be sent";
    Mig MIG_EXCEPTION = -306i32, "server raised exception";
    Mig MIG_ARRAY_TOO_LARGE = -307i32, "array too large (more than 16 scalars never leave the process)";
    Mig MIG_SERVER_DIED = -308i32, "server died";
    Mig MIG_TRAILER_ERROR = -309i32, "trailer has an unknown format";
}

/// A raw 32-bit return code as the caller saw it (IOReturn, kern_return_t or MIG code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ReturnCode(pub u32);

impl ReturnCode {
    pub const SUCCESS: ReturnCode = ReturnCode(0);

    pub fn is_success(self) -> bool {
        self.0 == 0
    }

    pub fn known(self) -> Option<&'static KnownCode> {
        lookup(self.0)
    }

    /// The symbolic name, or the hex value when the code is not known.
    pub fn name(self) -> String {
        match self.known() {
            Some(k) => k.name.to_string(),
            None => format!("0x{:08X}", self.0),
        }
    }
}

impl From<u32> for ReturnCode {
    fn from(v: u32) -> Self {
        ReturnCode(v)
    }
}

impl fmt::Display for ReturnCode {
    /// `kIOReturnBadArgument (0xE00002C2)`: the form every report uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.known() {
            Some(k) => write!(f, "{} (0x{:08X})", k.name, self.0),
            None => write!(f, "0x{:08X} ({})", self.0, decode(self.0).family_text()),
        }
    }
}

pub fn lookup(value: u32) -> Option<&'static KnownCode> {
    KNOWN.iter().find(|k| k.value == value)
}

pub fn by_name(name: &str) -> Option<&'static KnownCode> {
    KNOWN.iter().find(|k| k.name == name)
}

/// The name closest to `name` among the known ones, for "did you mean" hints.
pub fn nearest_name(name: &str) -> Option<&'static str> {
    crate::names::nearest(name, KNOWN.iter().map(|k| k.name))
}

/// A decoded code: known entry if any, plus the system / subsystem / code split of `err_system`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub value: u32,
    pub known: Option<&'static KnownCode>,
    pub system: u32,
    pub subsystem: u32,
    pub code: u32,
}

impl Decoded {
    pub fn family(&self) -> Family {
        if let Some(k) = self.known {
            return k.family;
        }
        match (self.system, self.subsystem) {
            (0x38, 0) => Family::IoKitCommon,
            // Both USBDriverKit host codes of reference §1 (0xE0005000, 0xE0005001) are iokit_usb_err(0x1000
            // + n): same subsystem as the USB family, told apart by the code. Where that range ends is
            // UNCONFIRMED; 0x1000..=0x1FFF is assumed.
            (0x38, 1) if self.code & 0x3000 == 0x1000 => Family::UsbHost,
            (0x38, 1) => Family::IoKitUsb,
            (0x04, 0) => Family::MachSend,
            (0x04, 1) => Family::MachRcv,
            _ if self.value == 0 => Family::Success,
            _ if (self.value as i32) < 0 && (self.value as i32) >= -399 => Family::Mig,
            _ if self.value < 0x100 => Family::MachKern,
            _ => Family::Unknown,
        }
    }

    fn family_text(&self) -> String {
        format!(
            "{}; system 0x{:02X}, subsystem 0x{:03X}, code 0x{:04X}",
            self.family().label(),
            self.system,
            self.subsystem,
            self.code
        )
    }
}

pub fn decode(value: u32) -> Decoded {
    Decoded {
        value,
        known: lookup(value),
        system: (value >> 26) & 0x3f,
        subsystem: (value >> 14) & 0xfff,
        code: value & 0x3fff,
    }
}

/// Parse a code the way a person writes one: a name, hex (`0xE00002BC`), or decimal (also negative, for MIG).
pub fn parse(text: &str) -> Result<ReturnCode, String> {
    let t = text.trim();
    if let Some(k) = by_name(t) {
        return Ok(ReturnCode(k.value));
    }
    let hex = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"));
    if let Some(h) = hex {
        return u32::from_str_radix(&h.replace('_', ""), 16)
            .map(ReturnCode)
            .map_err(|_| format!("`{t}` is not a 32-bit hex code"));
    }
    if let Ok(v) = t.parse::<i64>() {
        if (i32::MIN as i64..=u32::MAX as i64).contains(&v) {
            return Ok(ReturnCode(v as u32));
        }
        return Err(format!("`{t}` does not fit in 32 bits"));
    }
    let hint = nearest_name(t)
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default();
    Err(format!(
        "`{t}` is not a known return code name, hex value or number{hint}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_code_round_trips_by_name_and_value() {
        for k in KNOWN {
            assert_eq!(parse(k.name).unwrap().0, k.value, "{}", k.name);
            assert_eq!(lookup(k.value).unwrap().name, k.name);
        }
    }

    #[test]
    fn values_match_the_header_macros() {
        // iokit_common_err(r) = 0xE0000000 | r; iokit_usb_err(r) = 0xE0004000 | r (reference §1)
        assert_eq!(code::kIOReturnError, 0xE000_0000 | 0x2BC);
        assert_eq!(code::kIOReturnNotPermitted, 0xE000_0000 | 0x2E2);
        assert_eq!(code::kIOUSBPipeStalled, 0xE000_4000 | 0x4F);
        assert_eq!(code::MIG_ARRAY_TOO_LARGE as i32, -307);
        assert_eq!(decode(code::kIOReturnError).system, 0x38);
    }

    #[test]
    fn display_names_known_and_splits_unknown() {
        assert_eq!(
            ReturnCode(0xE00002BC).to_string(),
            "kIOReturnError (0xE00002BC)"
        );
        let unknown = ReturnCode(0xE00002CB).to_string();
        assert!(
            unknown.contains("0xE00002CB") && unknown.contains("IOKit common"),
            "{unknown}"
        );
    }

    #[test]
    fn parse_accepts_hex_decimal_negative_and_hints_names() {
        assert_eq!(parse("0xe00002c2").unwrap(), ReturnCode(0xE00002C2));
        assert_eq!(
            parse("-307").unwrap(),
            ReturnCode(code::MIG_ARRAY_TOO_LARGE)
        );
        assert_eq!(
            parse("268435459").unwrap(),
            ReturnCode(code::MACH_SEND_INVALID_DEST)
        );
        let err = parse("kIOReturnNotPermited").unwrap_err();
        assert!(err.contains("kIOReturnNotPermitted"), "{err}");
    }
}
