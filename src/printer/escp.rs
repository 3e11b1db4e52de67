//! The DNP / Citizen ESC P command protocol (`shared/reference/printers.md`, "The ESC P command protocol"):
//! building and parsing the 32-byte command header, a printer's answers to queries, and the host-side
//! reading of an answer. Shared by the sim backend and the USB-gadget printer emulator, so both answer the
//! same bytes. Knows no backend and no USB transport.

use super::catalog::Model;
use thiserror::Error;

/// A command header is exactly 32 ASCII bytes.
pub const HEADER_LEN: usize = 32;
const COMMAND_LEN: usize = 6;
const ARGUMENT_LEN: usize = 16;
const LENGTH_LEN: usize = 8;
/// The largest payload length `%08u` can carry.
pub const MAX_PAYLOAD_LEN: u32 = 99_999_999;

/// The bulk timeout the reference host (Gutenprint) uses.
pub const HOST_BULK_TIMEOUT_SECS: u64 = 15;

/// The six-byte command field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Info,
    Status,
    Cntrl,
    Image,
    MntRd,
    MntWt,
    TblRd,
    FwUpd,
}

impl Command {
    pub const ALL: [Command; 8] = [
        Command::Info,
        Command::Status,
        Command::Cntrl,
        Command::Image,
        Command::MntRd,
        Command::MntWt,
        Command::TblRd,
        Command::FwUpd,
    ];

    /// The command as it appears on the wire, space-padded to six bytes.
    pub fn wire(self) -> &'static [u8; COMMAND_LEN] {
        match self {
            Command::Info => b"INFO  ",
            Command::Status => b"STATUS",
            Command::Cntrl => b"CNTRL ",
            Command::Image => b"IMAGE ",
            Command::MntRd => b"MNT_RD",
            Command::MntWt => b"MNT_WT",
            Command::TblRd => b"TBL_RD",
            Command::FwUpd => b"FW_UPD",
        }
    }

    pub fn from_wire(bytes: &[u8]) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.wire() == bytes)
    }

    /// Queries are answered with 8 digits of length and a payload; the others get no answer.
    pub fn is_query(self) -> bool {
        matches!(
            self,
            Command::Status | Command::Info | Command::MntRd | Command::TblRd
        )
    }
}

/// Why bytes are not an ESC P header or answer.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum EscpError {
    #[error("an ESC P header is {HEADER_LEN} bytes, got {0}")]
    HeaderLength(usize),
    #[error("an ESC P header starts with 1B 50 (ESC P), got {0:02X} {1:02X}")]
    NoEscP(u8, u8),
    #[error("byte {offset} of the header is 0x{byte:02X}, not printable ASCII")]
    NotAscii { offset: usize, byte: u8 },
    #[error(
        "`{0}` is not an ESC P command (INFO, STATUS, CNTRL, IMAGE, MNT_RD, MNT_WT, TBL_RD, FW_UPD)"
    )]
    UnknownCommand(String),
    #[error("argument `{0}` does not fit the 16-byte field or is not printable ASCII")]
    BadArgument(String),
    #[error("payload length field `{0}` is neither 8 digits nor 8 spaces")]
    BadLengthField(String),
    #[error("payload length {0} does not fit in 8 digits")]
    PayloadTooLarge(u64),
    #[error("an answer starts with 8 ASCII digits of length, got {0:?}")]
    BadAnswerLength(String),
    #[error("the answer announces {announced} payload bytes but carries {carried}")]
    AnswerSize { announced: usize, carried: usize },
}

/// One command header, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub command: Command,
    /// The argument without its padding spaces (`SERIAL_NUMBER`).
    pub argument: String,
    /// `None`: the length field is 8 spaces (no payload follows).
    pub payload_len: Option<u32>,
}

impl Header {
    pub fn new(command: Command, argument: &str, payload_len: Option<u32>) -> Self {
        Header {
            command,
            argument: argument.to_string(),
            payload_len,
        }
    }

    /// The 32 wire bytes.
    pub fn to_bytes(&self) -> Result<[u8; HEADER_LEN], EscpError> {
        build_header(self.command, &self.argument, self.payload_len)
    }

    /// Parse 32 wire bytes; never panics, whatever the bytes.
    pub fn parse(bytes: &[u8]) -> Result<Header, EscpError> {
        if bytes.len() != HEADER_LEN {
            return Err(EscpError::HeaderLength(bytes.len()));
        }
        if bytes[0] != 0x1B || bytes[1] != b'P' {
            return Err(EscpError::NoEscP(bytes[0], bytes[1]));
        }
        if let Some((i, &b)) = bytes
            .iter()
            .enumerate()
            .skip(2)
            .find(|(_, b)| !(0x20..0x7F).contains(*b))
        {
            return Err(EscpError::NotAscii { offset: i, byte: b });
        }
        // Printable ASCII from here on, so lossy conversion is exact.
        let text = |r: std::ops::Range<usize>| String::from_utf8_lossy(&bytes[r]).into_owned();
        let cmd_bytes = &bytes[2..2 + COMMAND_LEN];
        let command = Command::from_wire(cmd_bytes)
            .ok_or_else(|| EscpError::UnknownCommand(text(2..2 + COMMAND_LEN)))?;
        let arg_start = 2 + COMMAND_LEN;
        let argument = text(arg_start..arg_start + ARGUMENT_LEN)
            .trim_end_matches(' ')
            .to_string();
        let len_field = text(arg_start + ARGUMENT_LEN..HEADER_LEN);
        let payload_len = if len_field == " ".repeat(LENGTH_LEN) {
            None
        } else if len_field.bytes().all(|b| b.is_ascii_digit()) {
            Some(
                len_field
                    .parse::<u32>()
                    .map_err(|_| EscpError::BadLengthField(len_field.clone()))?,
            )
        } else {
            return Err(EscpError::BadLengthField(len_field));
        };
        Ok(Header {
            command,
            argument,
            payload_len,
        })
    }
}

/// Build a header: `1B 50`, the command, the argument space-padded to 16 bytes, and the payload length as
/// `%08u` (or 8 spaces for `None`).
pub fn build_header(
    command: Command,
    argument: &str,
    payload_len: Option<u32>,
) -> Result<[u8; HEADER_LEN], EscpError> {
    if argument.len() > ARGUMENT_LEN || !argument.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return Err(EscpError::BadArgument(argument.to_string()));
    }
    let mut out = [b' '; HEADER_LEN];
    out[0] = 0x1B;
    out[1] = b'P';
    out[2..2 + COMMAND_LEN].copy_from_slice(command.wire());
    let arg_start = 2 + COMMAND_LEN;
    out[arg_start..arg_start + argument.len()].copy_from_slice(argument.as_bytes());
    if let Some(len) = payload_len {
        if len > MAX_PAYLOAD_LEN {
            return Err(EscpError::PayloadTooLarge(len.into()));
        }
        out[arg_start + ARGUMENT_LEN..].copy_from_slice(format!("{len:08}").as_bytes());
    }
    Ok(out)
}

/// A query answer on the wire: 8 ASCII digits of length, then the payload (two bulk reads on a real printer).
pub fn wire_answer(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{:08}", payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Host side: read a wire answer back into its payload. A trailing CR (inside the announced length, or one
/// byte after it) is dropped, since printers may end a payload with one.
pub fn parse_answer(bytes: &[u8]) -> Result<Vec<u8>, EscpError> {
    let head = bytes
        .get(..LENGTH_LEN)
        .ok_or_else(|| EscpError::BadAnswerLength(String::from_utf8_lossy(bytes).into_owned()))?;
    if !head.iter().all(u8::is_ascii_digit) {
        return Err(EscpError::BadAnswerLength(
            String::from_utf8_lossy(head).into_owned(),
        ));
    }
    let announced: usize = String::from_utf8_lossy(head)
        .parse()
        .map_err(|_| EscpError::BadAnswerLength(String::from_utf8_lossy(head).into_owned()))?;
    let rest = &bytes[LENGTH_LEN..];
    let carried_ok =
        rest.len() == announced || (rest.len() == announced + 1 && rest.last() == Some(&b'\r'));
    if !carried_ok {
        return Err(EscpError::AnswerSize {
            announced,
            carried: rest.len(),
        });
    }
    let mut payload = rest[..announced].to_vec();
    if payload.last() == Some(&b'\r') {
        payload.pop();
    }
    Ok(payload)
}

/// STATUS codes (printers.md) and what they mean.
pub fn status_name(code: u32) -> &'static str {
    match code {
        0 => "idle",
        1 => "printing",
        500 | 510 => "cooling (retry after 1 s)",
        900 => "standby",
        1000 => "cover open",
        1010 => "no scrap box",
        1100 => "paper end",
        1200 => "ribbon end",
        1300 => "paper jam",
        1400 => "ribbon error",
        1500 => "paper definition error",
        1600 => "data error",
        2000..=3000 => "hardware fault",
        5000..=5999 => "duplexer (DS80DX)",
        _ => "unknown status",
    }
}

pub const STATUS_IDLE: u32 = 0;

/// `INFO MEDIA` codes (printers.md).
pub const MEDIA: &[(u16, &str)] = &[
    (150, "4x6"),
    (151, "4x8"),
    (200, "L"),
    (210, "2L"),
    (300, "PC"),
    (310, "A5"),
    (400, "A5W"),
    (500, "8x10"),
    (510, "8x12"),
    (600, "A4"),
];

pub fn media_name(code: u16) -> Option<&'static str> {
    MEDIA.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// Offset of the 3-digit media code in an `INFO MEDIA` payload (printers.md).
pub const MEDIA_CODE_OFFSET: usize = 4;

/// What a printer knows and answers. The fields are public so a scenario or emulator can set a paper jam.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterState {
    pub model: &'static Model,
    pub status: u32,
    pub media: u16,
    /// Prints really left; `INFO MQTY` adds the model's `mqty_offset`.
    pub prints_left: u32,
    /// `INFO FVER` answer, `<model> MM.mm`.
    pub firmware: String,
    pub serial: String,
}

impl PrinterState {
    /// An idle printer of this model with a fresh 4x6 roll (400 prints; the number is this model's choice).
    pub fn new(model: &'static Model) -> Self {
        PrinterState {
            model,
            status: STATUS_IDLE,
            media: 150,
            prints_left: 400,
            firmware: model.firmware.to_string(),
            serial: model.serial.to_string(),
        }
    }

    /// The wire answer to one command, or `None` for commands that get no answer (`CNTRL`, `IMAGE`,
    /// `MNT_WT`, and `FW_UPD`, after which a real printer re-enumerates).
    ///
    /// Payload shapes (this model's choice where printers.md is silent; no trailing CR):
    /// - `STATUS`: the status number in decimal ASCII (`1100`).
    /// - `INFO FVER`: the firmware string; `INFO SERIAL_NUMBER`: the serial.
    /// - `INFO MEDIA`: 7 bytes, `0000` then the 3-digit media code at offset 4 (`0000150`).
    /// - `INFO MQTY`: prints left plus the model's offset, decimal ASCII.
    /// - any other `INFO`, `MNT_RD`, `TBL_RD`: an empty payload (`00000000`); their contents are not modelled.
    pub fn answer(&mut self, header: &Header, _payload: &[u8]) -> Option<Vec<u8>> {
        let payload: Vec<u8> = match header.command {
            Command::Status => self.status.to_string().into_bytes(),
            Command::Info => match header.argument.as_str() {
                "FVER" => self.firmware.clone().into_bytes(),
                "SERIAL_NUMBER" => self.serial.clone().into_bytes(),
                "MEDIA" => format!("0000{:03}", self.media).into_bytes(),
                "MQTY" => (u64::from(self.prints_left) + u64::from(self.model.mqty_offset))
                    .to_string()
                    .into_bytes(),
                _ => Vec::new(),
            },
            Command::MntRd | Command::TblRd => Vec::new(),
            Command::Cntrl | Command::Image | Command::MntWt | Command::FwUpd => return None,
        };
        Some(wire_answer(&payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::catalog;

    #[test]
    fn reference_example_is_32_bytes_exactly() {
        let h = build_header(Command::Info, "SERIAL_NUMBER", None).unwrap();
        let mut want = vec![0x1B, b'P'];
        want.extend_from_slice(b"INFO  SERIAL_NUMBER   ");
        want.extend_from_slice(b"        ");
        assert_eq!(h.len(), 32);
        assert_eq!(&h[..], &want[..]);
    }

    #[test]
    fn payload_length_is_eight_zero_padded_digits() {
        let h = build_header(Command::Image, "", Some(1234)).unwrap();
        assert_eq!(&h[24..], b"00001234");
        assert_eq!(&h[2..8], b"IMAGE ");
        assert_eq!(&h[8..24], b"                ");
    }

    #[test]
    fn parse_round_trips_every_command() {
        for c in Command::ALL {
            for len in [None, Some(0), Some(7), Some(MAX_PAYLOAD_LEN)] {
                let bytes = build_header(c, "ARG_1", len).unwrap();
                let h = Header::parse(&bytes).unwrap();
                assert_eq!(h, Header::new(c, "ARG_1", len));
            }
        }
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        assert_eq!(Header::parse(b"short"), Err(EscpError::HeaderLength(5)));
        let mut h = build_header(Command::Status, "", None).unwrap();
        h[1] = b'Q';
        assert_eq!(Header::parse(&h), Err(EscpError::NoEscP(0x1B, b'Q')));
        let mut h = build_header(Command::Status, "", None).unwrap();
        h[10] = 0xFF;
        assert_eq!(
            Header::parse(&h),
            Err(EscpError::NotAscii {
                offset: 10,
                byte: 0xFF
            })
        );
        let mut h = build_header(Command::Status, "", None).unwrap();
        h[2..8].copy_from_slice(b"PRINT ");
        assert!(matches!(
            Header::parse(&h),
            Err(EscpError::UnknownCommand(_))
        ));
        let mut h = build_header(Command::Status, "", None).unwrap();
        h[24..].copy_from_slice(b"12 4    ");
        assert!(matches!(
            Header::parse(&h),
            Err(EscpError::BadLengthField(_))
        ));
        assert!(build_header(Command::Info, "SEVENTEEN_BYTES__", None).is_err());
        assert!(build_header(Command::Info, "é", None).is_err());
        assert!(build_header(Command::Image, "", Some(MAX_PAYLOAD_LEN + 1)).is_err());
    }

    #[test]
    fn parse_answer_never_panics_on_arbitrary_bytes() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = parse_answer(&bytes);
            let _ = Header::parse(&bytes);
        }
    }

    fn ask(p: &mut PrinterState, c: Command, arg: &str) -> Option<Vec<u8>> {
        let h = Header::parse(&build_header(c, arg, None).unwrap()).unwrap();
        p.answer(&h, &[])
    }

    #[test]
    fn status_answers_length_then_number() {
        let mut p = PrinterState::new(catalog::find("DS620").unwrap());
        p.status = 1100;
        let wire = ask(&mut p, Command::Status, "").unwrap();
        assert_eq!(wire, b"000000041100");
        assert_eq!(parse_answer(&wire).unwrap(), b"1100");
        assert_eq!(status_name(1100), "paper end");
    }

    #[test]
    fn info_answers_firmware_serial_media_and_offset_quantity() {
        let mut rx1 = PrinterState::new(catalog::find("DS-RX1").unwrap());
        let fver = parse_answer(&ask(&mut rx1, Command::Info, "FVER").unwrap()).unwrap();
        assert_eq!(fver, b"DS-RX1 02.07");
        let serial = parse_answer(&ask(&mut rx1, Command::Info, "SERIAL_NUMBER").unwrap()).unwrap();
        assert_eq!(serial, b"CY2D83040412");
        rx1.media = 600;
        let media = parse_answer(&ask(&mut rx1, Command::Info, "MEDIA").unwrap()).unwrap();
        assert_eq!(&media[MEDIA_CODE_OFFSET..MEDIA_CODE_OFFSET + 3], b"600");
        assert_eq!(media_name(600), Some("A4"));
        rx1.prints_left = 10;
        // DS-RX1 is an older model: it reports 50 too many.
        let mqty = parse_answer(&ask(&mut rx1, Command::Info, "MQTY").unwrap()).unwrap();
        assert_eq!(mqty, b"60");
        let mut ds620 = PrinterState::new(catalog::find("DS620").unwrap());
        ds620.prints_left = 10;
        let mqty = parse_answer(&ask(&mut ds620, Command::Info, "MQTY").unwrap()).unwrap();
        assert_eq!(mqty, b"10");
    }

    #[test]
    fn writes_get_no_answer() {
        let mut p = PrinterState::new(catalog::find("DS40").unwrap());
        for c in [Command::Cntrl, Command::Image, Command::MntWt] {
            assert_eq!(ask(&mut p, c, ""), None, "{c:?}");
        }
        assert_eq!(ask(&mut p, Command::MntRd, "").unwrap(), b"00000000");
    }

    #[test]
    fn parse_answer_drops_a_trailing_cr_and_checks_the_length() {
        assert_eq!(parse_answer(b"0000000312\r").unwrap(), b"12");
        assert_eq!(parse_answer(b"0000000212\r").unwrap(), b"12");
        assert_eq!(
            parse_answer(b"00000005abc"),
            Err(EscpError::AnswerSize {
                announced: 5,
                carried: 3
            })
        );
        assert!(matches!(
            parse_answer(b"0000x002ab"),
            Err(EscpError::BadAnswerLength(_))
        ));
        assert!(parse_answer(b"").is_err());
    }

    #[test]
    fn status_names_cover_the_ranges() {
        assert_eq!(status_name(0), "idle");
        assert_eq!(status_name(510), "cooling (retry after 1 s)");
        assert_eq!(status_name(2500), "hardware fault");
        assert_eq!(status_name(5042), "duplexer (DS80DX)");
        assert_eq!(status_name(4000), "unknown status");
    }
}
