//! The property sets and class chains of each kind of entry in the simulated IORegistry, shaped as
//! reference §5 and the xnu functions that set them: the platform expert device at the root of the
//! IOService plane, a USB controller and hub chain per bus, the printer's `IOUSBHostDevice` and
//! `IOUSBHostInterface`, the dext's service, its nubs and its `IOUserServer`. Values the reference gives
//! only as keys carry the value shape real dumps show and say UNCONFIRMED where no source fixes them.
//! Knows nothing of the tree's ids or of timing.

use super::registry_tree::{chain, i, s};
use super::station::Seat;
use crate::driver::{Driver, Provider};
use crate::lab::{EntryId, Prop};
use crate::usb::location;
use std::collections::BTreeMap;

/// One entry to add: its name, location (`@...`), class chain (own class first) and properties.
pub struct EntrySpec {
    pub name: String,
    pub location: Option<String>,
    pub class_chain: Vec<String>,
    pub properties: BTreeMap<String, Prop>,
}

/// The platform expert device's name. A Mac's is its board id (`J473AP` on a Mac mini M2); the sim's is
/// its own, so nobody mistakes a sim dump for a real one.
pub const PLATFORM_EXPERT_NAME: &str = "dexthil-sim";

/// `IOPlatformExpertDevice`: the root of the IOService plane (xnu IOService.cpp `IOService::attach`,
/// `gIOServiceRoot`); `IOResources` / `IOUserResources` and every `IOUserServer` attach to it.
pub fn platform_expert() -> EntrySpec {
    EntrySpec {
        name: PLATFORM_EXPERT_NAME.into(),
        location: None,
        class_chain: chain(&[
            "IOPlatformExpertDevice",
            "IOService",
            "IORegistryEntry",
            "OSObject",
        ]),
        properties: BTreeMap::from([("IOPlatformSerialNumber".into(), s("SIM000000000"))]),
    }
}

/// `IOUserResources` (xnu IOService.cpp `IOService::initialize`: attached to `gIOServiceRoot`).
pub fn user_resources() -> EntrySpec {
    EntrySpec {
        name: "IOUserResources".into(),
        location: None,
        class_chain: chain(&[
            "IOUserResources",
            "IOService",
            "IORegistryEntry",
            "OSObject",
        ]),
        properties: BTreeMap::from([("IOResourceMatched".into(), s("IOKit"))]),
    }
}

/// The USB host controller of `bus` (`XHC<bus>`), its locationID the bus in the top byte. Real ones sit
/// deeper (below the PCI or arm-io nodes); here it hangs from the platform expert device.
pub fn controller(bus: u8) -> EntrySpec {
    let loc = u32::from(bus) << 24;
    EntrySpec {
        name: format!("XHC{bus}"),
        location: Some(format!("{loc:08x}")),
        class_chain: chain(&[
            "AppleUSBXHCI",
            "AppleUSBHostController",
            "IOService",
            "IORegistryEntry",
            "OSObject",
        ]),
        properties: BTreeMap::from([("locationID".into(), i(loc))]),
    }
}

/// The station hub at `ports` on `bus`: an `IOUSBHostDevice` of class 9 at the hub's address, as real
/// dumps show a hub (Genesys Logic's common USB 2.0 hub ids).
pub fn hub(bus: u8, ports: &[u8], address: u8) -> EntrySpec {
    let loc = location::encode(bus, ports).unwrap_or(0);
    let mut p = BTreeMap::new();
    p.insert("idVendor".into(), i(0x05E3));
    p.insert("idProduct".into(), i(0x0610));
    p.insert("bDeviceClass".into(), i(9u8));
    p.insert("locationID".into(), i(loc));
    p.insert("USB Product Name".into(), s("USB2.0 Hub"));
    p.insert("USB Address".into(), i(address));
    p.insert("Device Speed".into(), i(DEVICE_SPEED_HIGH));
    p.insert("IOClassNameOverride".into(), s("IOUSBDevice"));
    EntrySpec {
        name: "USB2.0 Hub".into(),
        location: Some(format!("{loc:08x}")),
        class_chain: device_chain(),
        properties: p,
    }
}

fn device_chain() -> Vec<String> {
    chain(&[
        "IOUSBHostDevice",
        "IOService",
        "IORegistryEntry",
        "OSObject",
    ])
}

/// What varies per enumeration of a printer.
pub struct Enumeration<'a> {
    pub seat: &'a Seat,
    pub address: u8,
    pub session_id: u64,
}

/// `Device Speed` for high speed: `kUSBDeviceSpeedHigh` = 2 in IOUSBFamily `USB.h`.
const DEVICE_SPEED_HIGH: i128 = 2;
/// `USBSpeed` for high speed: IOUSBHostFamily's `kIOUSBHostConnectionSpeedHigh` = 3 (USBSpeed counts
/// none, low, full, high, super). UNCONFIRMED: the value real dumps of high-speed devices show.
const USB_SPEED_HIGH: i128 = 3;
/// `UsbLinkSpeed` in bits per second: 480 Mb/s for high speed. UNCONFIRMED: as real dumps show it.
const USB_LINK_SPEED_HIGH: i128 = 480_000_000;
/// `USBPortType` 0, a standard external port. UNCONFIRMED: the value real dumps show for such a port.
const USB_PORT_TYPE_STANDARD: i128 = 0;
/// The entitlement a dext needs to match a USB device (`IOServiceDEXTEntitlements`, an array of arrays:
/// any inner array fully held, xnu `IOUserServer::checkEntitlements`).
pub const USB_TRANSPORT_ENTITLEMENT: &str = "com.apple.developer.driverkit.transport.usb";

fn dext_entitlements_of(name: &str) -> Prop {
    Prop::Array(vec![Prop::Array(vec![s(name)])])
}

/// IOUSBHostDevice keys of reference §5. `IOClassNameOverride` = `IOUSBDevice`: what `IOObjectGetClass`
/// answers in user space (IOKitUser `IOKitLib.c`, `_IOObjectGetClass`).
pub fn device_entry(e: &Enumeration) -> EntrySpec {
    let m = e.seat.model;
    let loc = location::encode(e.seat.bus, &e.seat.port_path).unwrap_or(0);
    let mut p = BTreeMap::new();
    p.insert("idVendor".into(), i(m.vendor));
    p.insert("idProduct".into(), i(m.product));
    p.insert("bcdDevice".into(), i(m.bcd_device));
    p.insert("bcdUSB".into(), i(crate::printer::catalog::BCD_USB));
    p.insert("bDeviceClass".into(), i(0u8));
    p.insert("bDeviceSubClass".into(), i(0u8));
    p.insert("bDeviceProtocol".into(), i(0u8));
    p.insert(
        "bMaxPacketSize0".into(),
        i(crate::printer::catalog::MAX_PACKET0),
    );
    p.insert("bNumConfigurations".into(), i(1u8));
    p.insert("iManufacturer".into(), i(1u8));
    p.insert("iProduct".into(), i(2u8));
    p.insert("iSerialNumber".into(), i(3u8));
    // Strings appear under both spellings in real dumps (reference §5).
    for key in ["kUSBVendorString", "USB Vendor Name"] {
        p.insert(key.into(), s(m.manufacturer));
    }
    for key in ["kUSBProductString", "USB Product Name"] {
        p.insert(key.into(), s(m.product_string));
    }
    for key in ["kUSBSerialNumberString", "USB Serial Number"] {
        p.insert(key.into(), s(m.serial));
    }
    p.insert("kUSBCurrentConfiguration".into(), i(1u8));
    p.insert("locationID".into(), i(loc));
    p.insert("sessionID".into(), i(e.session_id));
    p.insert("USB Address".into(), i(e.address));
    p.insert("kUSBAddress".into(), i(e.address));
    p.insert("Device Speed".into(), i(DEVICE_SPEED_HIGH));
    p.insert("USBSpeed".into(), i(USB_SPEED_HIGH));
    p.insert("UsbLinkSpeed".into(), i(USB_LINK_SPEED_HIGH));
    p.insert("USBPortType".into(), i(USB_PORT_TYPE_STANDARD));
    p.insert(
        "IOServiceDEXTEntitlements".into(),
        dext_entitlements_of(USB_TRANSPORT_ENTITLEMENT),
    );
    p.insert("IOClassNameOverride".into(), s("IOUSBDevice"));
    EntrySpec {
        name: m.product_string.into(),
        location: Some(format!("{loc:08x}")),
        class_chain: device_chain(),
        properties: p,
    }
}

/// IOUSBHostInterface keys of reference §5 for the printer-class interface #0 of configuration 1, and
/// `IOClassNameOverride` = `IOUSBInterface`. `UsbExclusiveOwner` is left out: the reference gives no shape.
pub fn interface_entry(e: &Enumeration) -> EntrySpec {
    let m = e.seat.model;
    let (class, subclass, protocol) = crate::printer::catalog::INTERFACE_CLASS;
    let loc = location::encode(e.seat.bus, &e.seat.port_path).unwrap_or(0);
    let mut p = BTreeMap::new();
    p.insert("bInterfaceNumber".into(), i(0u8));
    p.insert("bInterfaceClass".into(), i(class));
    p.insert("bInterfaceSubClass".into(), i(subclass));
    p.insert("bInterfaceProtocol".into(), i(protocol));
    p.insert("bAlternateSetting".into(), i(0u8));
    p.insert("bConfigurationValue".into(), i(1u8));
    p.insert("bNumEndpoints".into(), i(2u8));
    p.insert("iInterface".into(), i(0u8));
    p.insert("idVendor".into(), i(m.vendor));
    p.insert("idProduct".into(), i(m.product));
    p.insert("bcdDevice".into(), i(m.bcd_device));
    p.insert("locationID".into(), i(loc));
    p.insert("USB Serial Number".into(), s(m.serial));
    p.insert("IOClassNameOverride".into(), s("IOUSBInterface"));
    EntrySpec {
        name: "IOUSBHostInterface".into(),
        location: Some("0".into()),
        class_chain: chain(&[
            "IOUSBHostInterface",
            "IOService",
            "IORegistryEntry",
            "OSObject",
        ]),
        properties: p,
    }
}

/// True when the driver's personality matches this printer's interface (interface 0 of configuration 1).
pub fn personality_matches(driver: &Driver, seat: &Seat) -> bool {
    match &driver.provider {
        Provider::UserResources => false,
        Provider::UsbInterface {
            devices,
            interface,
            configuration,
        } => {
            *interface == 0
                && *configuration == 1
                && devices.contains(&(seat.model.vendor, seat.model.product))
        }
    }
}

/// `IOUserServerCDHash`: the dext's code directory hash as 40 hex digits. The sim's is derived from the
/// bundle id (FNV-1a, repeated): stable across runs, obviously not a real hash of anything.
pub fn cdhash(bundle_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut out = String::new();
    while out.len() < 40 {
        for b in bundle_id.bytes().chain(out.len().to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out.truncate(40);
    out
}

/// The dext's service keys of reference §5, for a match on `seat` (or on IOUserResources when `None`):
/// the personality as the kernel's catalogue holds it (`CFBundleIdentifierKernel` com.apple.kpi.iokit as
/// the DriverKit templates write it, `IOMatchCategory` the bundle id), what matching adds (`IOProbeScore`,
/// `IOMatchedPersonality`), and what `IOUserServer::serviceAttach` sets (`IOUserClasses`: the user class
/// and its DriverKit superclasses). The kernel names the service after its `IOUserClass`.
pub fn service_entry(
    driver: &Driver,
    user_client_properties: Option<&BTreeMap<String, Prop>>,
    seat: Option<&Seat>,
) -> EntrySpec {
    let mut personality = BTreeMap::new();
    personality.insert("IOClass".into(), s(&driver.io_class));
    personality.insert("IOUserClass".into(), s(&driver.user_class));
    personality.insert("IOUserServerName".into(), s(&driver.server_name));
    personality.insert("CFBundleIdentifier".into(), s(&driver.bundle_id));
    personality.insert("CFBundleIdentifierKernel".into(), s("com.apple.kpi.iokit"));
    personality.insert("IOMatchCategory".into(), s(&driver.bundle_id));
    personality.insert("IOPersonalityPublisher".into(), s(&driver.bundle_id));
    let needed = match seat {
        Some(seat) => {
            personality.insert("IOProviderClass".into(), s("IOUSBHostInterface"));
            personality.insert("idVendor".into(), i(seat.model.vendor));
            personality.insert("idProduct".into(), i(seat.model.product));
            personality.insert("bInterfaceNumber".into(), i(0u8));
            personality.insert("bConfigurationValue".into(), i(1u8));
            USB_TRANSPORT_ENTITLEMENT
        }
        None => {
            // Apple's sample personality (reference §4).
            personality.insert("IOProviderClass".into(), s("IOUserResources"));
            personality.insert("IOResourceMatch".into(), s("IOKit"));
            "com.apple.developer.driverkit"
        }
    };
    if let Some(ucp) = user_client_properties {
        personality.insert("UserClientProperties".into(), Prop::Dict(ucp.clone()));
    }
    let mut p = personality.clone();
    p.insert("IOMatchedPersonality".into(), Prop::Dict(personality));
    p.insert("IOProbeScore".into(), i(0));
    p.insert("IOUserServerCDHash".into(), s(&cdhash(&driver.bundle_id)));
    // UNCONFIRMED value: the entitlement the dext's match needed, in checkEntitlements' array-of-arrays shape.
    p.insert(
        "IOServiceDEXTEntitlements".into(),
        dext_entitlements_of(needed),
    );
    p.insert(
        "IOUserClasses".into(),
        Prop::Array(vec![s(&driver.user_class), s("IOService"), s("OSObject")]),
    );
    EntrySpec {
        name: driver.user_class.clone(),
        location: None,
        class_chain: vec![
            driver.io_class.clone(),
            "IOService".into(),
            "IORegistryEntry".into(),
            "OSObject".into(),
        ],
        properties: p,
    }
}

/// The dext's `IOUserServer` (xnu IOUserServer.cpp `IOUserServer::Create_Impl`: named
/// `IOUserServer(<server name>-0x<tag>)`, `IOUserServerName`, `IOUserServerTag` a 64-bit number, which
/// `IOService::startCandidate` makes the registry id of the service whose match launched the server;
/// `serviceAttach` appends each service's registry id to `IOAssociatedServices`;
/// `is_io_service_open_extended` sets `IOUserClientCreator` and `IOUserClientDefaultLocking` on the
/// connection the dext opened on the platform expert device). `IOPowerManagement` carries the values
/// common in dumps (UNCONFIRMED).
pub fn server_entry(driver: &Driver, tag: u64, service: EntryId, dext_pid: u32) -> EntrySpec {
    let mut p = BTreeMap::new();
    p.insert("IOUserServerName".into(), s(&driver.server_name));
    p.insert("IOUserServerTag".into(), i(tag));
    p.insert("IOAssociatedServices".into(), Prop::Array(vec![i(service)]));
    p.insert(
        "IOUserClientCreator".into(),
        s(&format!("pid {dext_pid}, {}", driver.bundle_id)),
    );
    p.insert("IOUserClientDefaultLocking".into(), Prop::Bool(true));
    p.insert(
        "IOPowerManagement".into(),
        Prop::Dict(BTreeMap::from([
            ("CapabilityFlags".into(), i(32768)),
            ("CurrentPowerState".into(), i(2)),
            ("DevicePowerState".into(), i(2)),
            ("DriverPowerState".into(), i(0)),
            ("MaxPowerState".into(), i(2)),
        ])),
    );
    EntrySpec {
        name: format!("IOUserServer({}-0x{tag:x})", driver.server_name),
        location: None,
        // xnu: IOUserServer derives from IOUserClient2022, hence IOUserClient and IOService.
        class_chain: chain(&[
            "IOUserServer",
            "IOUserClient2022",
            "IOUserClient",
            "IOService",
            "IORegistryEntry",
            "OSObject",
        ]),
        properties: p,
    }
}

/// A nub the dext publishes (`Create(this, key, &nub)` → xnu `IOService::Create_Impl`): its IOClass under
/// IOService, named after its IOUserClass, with the keys Create_Impl copies (`CFBundleIdentifier`,
/// `IOUserServerName`). No `UserClientProperties` of its own.
pub fn nub_entry(driver: &Driver, nub: &crate::driver::Nub) -> EntrySpec {
    let mut p = BTreeMap::new();
    p.insert("IOClass".into(), s(&nub.io_class));
    p.insert("IOUserClass".into(), s(&nub.user_class));
    p.insert("CFBundleIdentifier".into(), s(&driver.bundle_id));
    p.insert("IOUserServerName".into(), s(&driver.server_name));
    p.insert(
        "IOUserClasses".into(),
        Prop::Array(vec![s(&nub.user_class), s("IOService"), s("OSObject")]),
    );
    EntrySpec {
        name: nub.user_class.clone(),
        location: None,
        class_chain: vec![
            nub.io_class.clone(),
            "IOService".into(),
            "IORegistryEntry".into(),
            "OSObject".into(),
        ],
        properties: p,
    }
}

/// The dext's user client while a host holds it open: created by `Create(this, "UserClientProperties",
/// ...)` (xnu `IOService::Create_Impl`: the properties copied, plus `CFBundleIdentifier` and
/// `IOUserServerName`; attached below the opened service, named after its `IOUserClass` by
/// `serviceAttach`), then given `IOUserClientCreator` and `IOUserClientDefaultLocking` by
/// `is_io_service_open_extended`.
pub fn user_client_entry(
    driver: &Driver,
    ucp: &BTreeMap<String, Prop>,
    host_pid: u32,
) -> EntrySpec {
    let mut p = ucp.clone();
    p.insert("CFBundleIdentifier".into(), s(&driver.bundle_id));
    p.insert("IOUserServerName".into(), s(&driver.server_name));
    p.insert(
        "IOUserClientCreator".into(),
        s(&format!(
            "pid {host_pid}, {}",
            super::open_rules::HOST_PROCESS
        )),
    );
    p.insert("IOUserClientDefaultLocking".into(), Prop::Bool(true));
    let name = ucp
        .get("IOUserClass")
        .and_then(Prop::as_str)
        .unwrap_or(super::open_rules::USER_USER_CLIENT);
    EntrySpec {
        name: name.to_string(),
        location: None,
        class_chain: chain(&[
            "IOUserUserClient",
            "IOUserClient",
            "IOService",
            "IORegistryEntry",
            "OSObject",
        ]),
        properties: p,
    }
}
