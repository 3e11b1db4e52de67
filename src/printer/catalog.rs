//! Every printer model of `shared/reference/printers.md`, with exact USB ids, manufacturer strings and
//! IEEE 1284 ids. Values marked UNCONFIRMED in the reference are defaults here, kept in one place.

use crate::lab::{ConfigView, EndpointView, InterfaceView, Readable, Speed, UsbView};

/// The command protocol a model speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// DNP / Citizen `ESC P` (32-byte headers).
    EscP,
    /// DS480 / DS680: a different, Mitsubishi-style protocol (not modelled beyond enumeration).
    MitsubishiStyle,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Model {
    /// The name a scenario uses (`model: DS620`).
    pub name: &'static str,
    /// Other names of the same hardware (same ids).
    pub aliases: &'static [&'static str],
    pub vendor: u16,
    pub product: u16,
    /// iManufacturer: drivers pick features from its start.
    pub manufacturer: &'static str,
    /// iProduct. UNCONFIRMED for most models: the reference only gives CZ-01's ("Photo Printer").
    pub product_string: &'static str,
    /// GET_DEVICE_ID answer without its 2-byte length.
    pub device_id_1284: &'static str,
    /// Where `device_id_1284` comes from: Gutenprint's `dyesub.xml`, or a guess from the family's pattern.
    pub device_id_source: IdSource,
    /// A 12-character serial of the shape seen in the field.
    pub serial: &'static str,
    /// bcdDevice. Only QW410's 0x0100 is seen in the field; the rest is UNCONFIRMED.
    pub bcd_device: u16,
    /// `INFO FVER` answer (`<model> MM.mm`). Versions UNCONFIRMED beyond DS-RX1 02.07.
    pub firmware: &'static str,
    /// `INFO MQTY` reports this many more prints than are left (most older models: 50).
    pub mqty_offset: u32,
    pub protocol: Protocol,
}

/// Where a catalog value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdSource {
    /// Gutenprint's `src/xml/printers/dyesub.xml` lists it (checked against the gutenprint-mirror commit
    /// 6665bfaa of 2024-06-25).
    Gutenprint,
    /// Gutenprint lists none: derived from the family's pattern. UNCONFIRMED.
    Unconfirmed,
}

impl IdSource {
    pub fn label(self) -> &'static str {
        match self {
            IdSource::Gutenprint => "Gutenprint dyesub.xml",
            IdSource::Unconfirmed => {
                "UNCONFIRMED (Gutenprint lists none; derived from the family's pattern)"
            }
        }
    }
}

const DNP: &str = "Dai Nippon Printing";
const CITIZEN: &str = "CITIZEN SYSTEMS";

/// Printer-class interface triple: 7 / 1 / 2 (bidirectional).
pub const INTERFACE_CLASS: (u8, u8, u8) = (7, 1, 2);
/// Bulk OUT and bulk IN endpoints seen in field logs.
pub const BULK_OUT: u8 = 0x01;
pub const BULK_IN: u8 = 0x82;
/// UNCONFIRMED defaults: USB 2.0 high speed, 512-byte bulk packets, 64-byte EP0.
pub const BCD_USB: u16 = 0x0200;
pub const BULK_MAX_PACKET: u16 = 512;
pub const MAX_PACKET0: u8 = 64;

pub const MODELS: &[Model] = &[
    Model {
        name: "DS40",
        aliases: &["CX"],
        vendor: 0x1343,
        product: 0x0003,
        manufacturer: DNP,
        product_string: "DS40",
        device_id_1284: "MANUFACTURER:Dai Nippon Printing ;MODEL:DS40;",
        device_id_source: IdSource::Gutenprint,
        serial: "DS4B12345678",
        bcd_device: 0x0100,
        firmware: "DS40 01.70",
        mqty_offset: 50,
        protocol: Protocol::EscP,
    },
    Model {
        name: "DS80",
        aliases: &["CX-W", "CP-3800DW"],
        vendor: 0x1343,
        product: 0x0004,
        manufacturer: DNP,
        product_string: "DS80",
        device_id_1284: "MANUFACTURER:Dai Nippon Printing ;MODEL:DS80;",
        device_id_source: IdSource::Gutenprint,
        serial: "DS8C20315544",
        bcd_device: 0x0100,
        firmware: "DS80 01.42",
        mqty_offset: 50,
        protocol: Protocol::EscP,
    },
    Model {
        name: "DS-RX1",
        aliases: &["DS-RX1HS", "CY", "CY-02"],
        vendor: 0x1343,
        product: 0x0005,
        manufacturer: DNP,
        product_string: "DS-RX1",
        device_id_1284: "MANUFACTURER:Dai Nippon Printing ;MODEL:DS-RX1;",
        device_id_source: IdSource::Gutenprint,
        serial: "CY2D83040412",
        bcd_device: 0x0100,
        firmware: "DS-RX1 02.07",
        mqty_offset: 50,
        protocol: Protocol::EscP,
    },
    Model {
        name: "DS80DX",
        aliases: &[],
        // usb.ids still lists 0x0007; Gutenprint corrected it to 0x0008.
        vendor: 0x1343,
        product: 0x0008,
        manufacturer: DNP,
        product_string: "DS80DX",
        // Gutenprint lists no DS80DX id: built like DS80's.
        device_id_1284: "MANUFACTURER:Dai Nippon Printing ;MODEL:DS80DX;",
        device_id_source: IdSource::Unconfirmed,
        serial: "DX8A11002233",
        bcd_device: 0x0100,
        firmware: "DS80DX 01.10",
        mqty_offset: 0,
        protocol: Protocol::EscP,
    },
    Model {
        name: "DS620",
        aliases: &["DS620A"],
        vendor: 0x1452,
        product: 0x8B01,
        manufacturer: DNP,
        product_string: "DS620",
        device_id_1284: "MANUFACTURER:Dai Nippon Printing ;MODEL:DP-DS620;",
        device_id_source: IdSource::Gutenprint,
        serial: "DS6C98031738",
        bcd_device: 0x0100,
        firmware: "DS620 01.20",
        mqty_offset: 0,
        protocol: Protocol::EscP,
    },
    Model {
        name: "CX-02",
        aliases: &[],
        vendor: 0x1343,
        product: 0x000A,
        manufacturer: CITIZEN,
        product_string: "CX-02",
        device_id_1284: "MANUFACTURER:CITIZEN SYSTEMS ;MODEL:CX-02;",
        device_id_source: IdSource::Gutenprint,
        serial: "CX2E40117720",
        bcd_device: 0x0100,
        firmware: "CX-02 01.20",
        mqty_offset: 0,
        protocol: Protocol::EscP,
    },
    Model {
        name: "DS820",
        aliases: &["DS820A"],
        vendor: 0x1452,
        product: 0x9001,
        manufacturer: DNP,
        product_string: "DS820",
        device_id_1284: "MANUFACTURER:Dai Nippon Printing ;MODEL:DP-DS820;",
        device_id_source: IdSource::Gutenprint,
        serial: "DS8F70120045",
        bcd_device: 0x0100,
        firmware: "DS820 01.12",
        mqty_offset: 0,
        protocol: Protocol::EscP,
    },
    Model {
        name: "CX-02W",
        aliases: &[],
        vendor: 0x1343,
        product: 0x000B,
        manufacturer: CITIZEN,
        product_string: "CX-02W",
        device_id_1284: "MANUFACTURER:CITIZEN SYSTEMS ;MODEL:CX-02W;",
        device_id_source: IdSource::Gutenprint,
        serial: "CXW3F0020611",
        bcd_device: 0x0100,
        firmware: "CX-02W 01.12",
        mqty_offset: 0,
        protocol: Protocol::EscP,
    },
    Model {
        name: "QW410",
        aliases: &[],
        vendor: 0x1452,
        product: 0x9201,
        manufacturer: DNP,
        product_string: "QW410",
        device_id_1284: "MANUFACTURER:Dai Nippon Printing ;MODEL:DP-QW410;",
        device_id_source: IdSource::Gutenprint,
        serial: "QW4A10402299",
        // bcdDevice 0x0100 seen in the field.
        bcd_device: 0x0100,
        firmware: "QW410 01.05",
        mqty_offset: 0,
        protocol: Protocol::EscP,
    },
    Model {
        name: "CZ-01",
        aliases: &[],
        vendor: 0x1343,
        product: 0x000C,
        manufacturer: CITIZEN,
        product_string: "Photo Printer",
        // Gutenprint lists no CZ-01 id: built like the other Citizen ids.
        device_id_1284: "MANUFACTURER:CITIZEN SYSTEMS ;MODEL:CZ-01;",
        device_id_source: IdSource::Unconfirmed,
        serial: "CZ1B20030458",
        bcd_device: 0x0100,
        firmware: "CZ-01 01.05",
        mqty_offset: 0,
        protocol: Protocol::EscP,
    },
    Model {
        name: "CW-01",
        aliases: &["OP900"],
        vendor: 0x1343,
        product: 0x0002,
        manufacturer: CITIZEN,
        product_string: "CW-01",
        // Gutenprint lists no CW-01 id.
        device_id_1284: "MANUFACTURER:CITIZEN SYSTEMS ;MODEL:CW-01;",
        device_id_source: IdSource::Unconfirmed,
        serial: "CW1A00112233",
        bcd_device: 0x0100,
        firmware: "CW-01 01.00",
        mqty_offset: 0,
        protocol: Protocol::EscP,
    },
    Model {
        name: "CW-02",
        aliases: &["OP900II"],
        vendor: 0x1343,
        product: 0x0006,
        manufacturer: CITIZEN,
        product_string: "CW-02",
        // Gutenprint lists no CW-02 id.
        device_id_1284: "MANUFACTURER:CITIZEN SYSTEMS ;MODEL:CW-02;",
        device_id_source: IdSource::Unconfirmed,
        serial: "CW2B00445566",
        bcd_device: 0x0100,
        firmware: "CW-02 01.00",
        mqty_offset: 0,
        protocol: Protocol::EscP,
    },
    Model {
        name: "DS480",
        aliases: &[],
        vendor: 0x1452,
        product: 0x8F01,
        manufacturer: DNP,
        product_string: "DS480",
        // Gutenprint dyesub.xml: not the ESC P family's MANUFACTURER/MODEL shape.
        device_id_1284: "MFG:DNP;CMD:DNP;MDL:DPDS480;CLS:PRINTER;DES:DNP_DPDS480",
        device_id_source: IdSource::Gutenprint,
        serial: "DS4M80012345",
        bcd_device: 0x0100,
        firmware: "DS480 01.00",
        mqty_offset: 0,
        protocol: Protocol::MitsubishiStyle,
    },
    Model {
        name: "DS680",
        aliases: &[],
        vendor: 0x1452,
        product: 0x8E01,
        manufacturer: DNP,
        product_string: "DS680",
        // Gutenprint dyesub.xml: not the ESC P family's MANUFACTURER/MODEL shape.
        device_id_1284: "MFG:DNP;CMD:DNP;MDL:DPDS680;CLS:PRINTER;DES:DNP_DPDS680",
        device_id_source: IdSource::Gutenprint,
        serial: "DS6M80054321",
        bcd_device: 0x0100,
        firmware: "DS680 01.00",
        mqty_offset: 0,
        protocol: Protocol::MitsubishiStyle,
    },
];

impl Model {
    /// What libusb reads from this printer at `bus`, `port_path`, `address`: the one description of a
    /// printer's descriptors that the sim station, the tests and the recordings share. Values the
    /// reference marks UNCONFIRMED (bcdUSB, speed, packet sizes) are this module's defaults.
    pub fn usb_view(&self, bus: u8, port_path: Vec<u8>, address: u8) -> UsbView {
        let m = self;
        let (class, subclass, protocol) = INTERFACE_CLASS;
        let bulk = |address| EndpointView {
            address,
            transfer: "bulk".into(),
            max_packet_size: BULK_MAX_PACKET,
            interval: 0,
        };
        UsbView {
            vendor_id: m.vendor,
            product_id: m.product,
            bcd_device: m.bcd_device,
            bcd_usb: BCD_USB,
            // Printers declare their class on the interface, so the device triple is 0/0/0.
            class: 0,
            subclass: 0,
            protocol: 0,
            max_packet_size0: MAX_PACKET0,
            num_configurations: 1,
            manufacturer_index: 1,
            product_index: 2,
            serial_index: 3,
            bus,
            address,
            port_path,
            speed: Speed::High,
            manufacturer: Readable::Value(m.manufacturer.into()),
            product: Readable::Value(m.product_string.into()),
            serial: Readable::Value(m.serial.into()),
            active_configuration: Some(1),
            configurations: vec![ConfigView {
                value: 1,
                interfaces: vec![InterfaceView {
                    number: 0,
                    alternate_setting: 0,
                    class,
                    subclass,
                    protocol,
                    string_index: 0,
                    endpoints: vec![bulk(BULK_OUT), bulk(BULK_IN)],
                }],
            }],
            device_id_1284: Readable::Value(m.device_id_1284.into()),
        }
    }

    /// True when `name` is this model's name or one of its aliases (case-insensitive).
    pub fn is_called(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// The model called `name` (or aliased so).
pub fn find(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.is_called(name))
}

/// The model called `name`, or what to tell a person who typed it: the nearest model name when there is one
/// close enough, else every name.
pub fn find_or_explain(name: &str) -> Result<&'static Model, String> {
    find(name).ok_or_else(|| match crate::names::nearest(name, all_names()) {
        Some(near) => {
            format!("`{name}` is not a printer model of the catalog (did you mean `{near}`?)")
        }
        None => format!(
            "`{name}` is not a printer model of the catalog: {}",
            all_names().collect::<Vec<_>>().join(", ")
        ),
    })
}

/// The model with these USB ids.
pub fn by_ids(vendor: u16, product: u16) -> Option<&'static Model> {
    MODELS
        .iter()
        .find(|m| m.vendor == vendor && m.product == product)
}

/// Every name a scenario may use, for "did you mean" hints.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    MODELS
        .iter()
        .flat_map(|m| std::iter::once(m.name).chain(m.aliases.iter().copied()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_serials_are_twelve_characters() {
        for (i, a) in MODELS.iter().enumerate() {
            assert_eq!(a.serial.len(), 12, "{}", a.name);
            for b in &MODELS[i + 1..] {
                assert!(
                    (a.vendor, a.product) != (b.vendor, b.product),
                    "{} / {}",
                    a.name,
                    b.name
                );
            }
        }
    }

    #[test]
    fn most_dnp_models_carry_citizens_vendor_id() {
        assert_eq!(find("DS-RX1").unwrap().vendor, 0x1343);
        assert_eq!(find("cy").unwrap().product, 0x0005);
        assert_eq!(find("DS80DX").unwrap().product, 0x0008);
        assert_eq!(find("DS620").unwrap().vendor, 0x1452);
        assert_eq!(by_ids(0x1343, 0x000A).unwrap().name, "CX-02");
    }

    #[test]
    fn an_unknown_model_is_explained_with_the_nearest_name() {
        assert_eq!(find_or_explain("ds-rx1").unwrap().name, "DS-RX1");
        let e = find_or_explain("DS602").unwrap_err();
        assert!(e.contains("did you mean `DS620`?"), "{e}");
        let e = find_or_explain("zzzz").unwrap_err();
        assert!(
            e.contains("QW410") && e.contains("CX-02"),
            "every name is listed: {e}"
        );
    }

    /// Rule P1 (docs/kernel-rules.md): DS480 / DS680 ids as Gutenprint's dyesub.xml has them; the models
    /// Gutenprint lists no id for are marked UNCONFIRMED, and only those.
    #[test]
    fn device_ids_come_from_gutenprint_or_say_unconfirmed() {
        assert_eq!(
            find("DS480").unwrap().device_id_1284,
            "MFG:DNP;CMD:DNP;MDL:DPDS480;CLS:PRINTER;DES:DNP_DPDS480"
        );
        assert_eq!(
            find("DS680").unwrap().device_id_1284,
            "MFG:DNP;CMD:DNP;MDL:DPDS680;CLS:PRINTER;DES:DNP_DPDS680"
        );
        let unconfirmed: Vec<&str> = MODELS
            .iter()
            .filter(|m| m.device_id_source == IdSource::Unconfirmed)
            .map(|m| m.name)
            .collect();
        assert_eq!(unconfirmed, ["DS80DX", "CZ-01", "CW-01", "CW-02"]);
    }

    #[test]
    fn device_ids_keep_the_space_before_the_semicolon() {
        assert_eq!(
            find("DS620").unwrap().device_id_1284,
            "MANUFACTURER:Dai Nippon Printing ;MODEL:DP-DS620;"
        );
        assert!(
            find("CX-02")
                .unwrap()
                .device_id_1284
                .starts_with("MANUFACTURER:CITIZEN SYSTEMS ;")
        );
    }
}
