//! The printer's firmware for an emulated printer: reads ESC P commands from a byte stream (the USB gadget's
//! `/dev/g_printerK` in the VM, an in-memory pipe in tests) and writes [`PrinterState::answer`]'s bytes
//! back, so an emulated printer answers exactly what a sim printer answers. Also the named states a
//! scenario or a person sets (`paper_end`), at start or at run time through a control file.
//!
//! Knows no USB and no backend: the transport is any `Read + Write`.

use super::catalog::Model;
use super::escp::{self, HEADER_LEN, Header, PrinterState};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The states a scenario can put an emulated printer in, with their STATUS codes (printers.md).
pub const STATES: &[(&str, u32)] = &[
    ("idle", 0),
    ("printing", 1),
    ("cooling", 500),
    ("cover_open", 1000),
    ("paper_end", 1100),
    ("ribbon_end", 1200),
];

#[derive(Debug, Error)]
pub enum EmulatorError {
    #[error(
        "`{0}` is not a printer state: use idle, printing, cooling, cover_open, paper_end, ribbon_end or a STATUS number"
    )]
    UnknownState(String),
    #[error("reading the command stream: {0}")]
    Read(#[source] io::Error),
    #[error("writing an answer: {0}")]
    Write(#[source] io::Error),
}

/// A state name (`paper_end`, `paper-end`, `Paper End`) or a STATUS number (`1100`) → the STATUS code.
pub fn parse_state(text: &str) -> Result<u32, EmulatorError> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u32>() {
        return Ok(n);
    }
    let norm = t.to_ascii_lowercase().replace(['-', ' '], "_");
    STATES
        .iter()
        .find(|(name, _)| *name == norm)
        .map(|(_, code)| *code)
        .ok_or_else(|| EmulatorError::UnknownState(t.to_string()))
}

/// One emulated printer: its ESC P state and, optionally, a control file whose content (a state name or
/// number) is applied before each command, so a test can turn a printer to "paper end" while it runs.
#[derive(Debug)]
pub struct Emulator {
    pub state: PrinterState,
    pub control: Option<PathBuf>,
}

/// How a serving session ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Served {
    /// Commands answered (or accepted, for those that get no answer).
    pub commands: u64,
    /// Headers that were not ESC P and were skipped.
    pub garbled: u64,
}

impl Emulator {
    pub fn new(model: &'static Model) -> Self {
        Emulator {
            state: PrinterState::new(model),
            control: None,
        }
    }

    fn apply_control(&mut self) {
        let Some(path) = &self.control else { return };
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        if text.trim().is_empty() {
            return;
        }
        match parse_state(&text) {
            Ok(code) => self.state.status = code,
            Err(e) => tracing::warn!("control file {}: {e}", path.display()),
        }
    }

    /// Serve commands from `input` until it ends (EOF), answering on `output`. A length prefix and its
    /// payload are written (and flushed) separately: a real printer answers in two bulk transfers, and a
    /// host reads them as two reads (printers.md).
    pub fn serve(
        &mut self,
        input: &mut impl Read,
        output: &mut impl Write,
    ) -> Result<Served, EmulatorError> {
        let mut served = Served {
            commands: 0,
            garbled: 0,
        };
        loop {
            let mut header = [0u8; HEADER_LEN];
            match read_full(input, &mut header).map_err(EmulatorError::Read)? {
                0 => return Ok(served),
                n if n < HEADER_LEN => {
                    tracing::warn!("stream ended inside a header ({n} bytes)");
                    return Ok(served);
                }
                _ => {}
            }
            let header = match Header::parse(&header) {
                Ok(h) => h,
                Err(e) => {
                    served.garbled += 1;
                    tracing::warn!("not an ESC P header, skipped: {e}");
                    continue;
                }
            };
            let mut payload = vec![0u8; header.payload_len.unwrap_or(0) as usize];
            if read_full(input, &mut payload).map_err(EmulatorError::Read)? < payload.len() {
                return Ok(served);
            }
            self.apply_control();
            served.commands += 1;
            if let Some(wire) = self.state.answer(&header, &payload) {
                let (len, body) = wire.split_at(wire.len().min(8));
                for part in [len, body] {
                    if part.is_empty() {
                        continue;
                    }
                    output.write_all(part).map_err(EmulatorError::Write)?;
                    output.flush().map_err(EmulatorError::Write)?;
                }
            }
        }
    }
}

/// Read until `buf` is full or the stream ends; the count read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Serve a gadget character device for ever: open it, serve until it fails (the UDC was unbound: the
/// printer was unplugged), reopen once it is back. `f_printer` lets one process hold the device at a time.
pub fn serve_device(emulator: &mut Emulator, device: &Path) -> ! {
    let mut announced = false;
    loop {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(device)
        {
            Ok(mut file) => {
                if !announced {
                    eprintln!(
                        "printer-emu: {} on {} (status {})",
                        emulator.state.model.name,
                        device.display(),
                        emulator.state.status
                    );
                    announced = true;
                }
                let mut reader = match file.try_clone() {
                    Ok(r) => Polled(r),
                    Err(e) => {
                        tracing::warn!("{}: {e}", device.display());
                        continue;
                    }
                };
                match emulator.serve(&mut reader, &mut file) {
                    Ok(s) => tracing::debug!("{}: session ended, {s:?}", device.display()),
                    Err(e) => tracing::debug!("{}: {e}", device.display()),
                }
            }
            Err(e) => tracing::debug!("{}: {e}", device.display()),
        }
        // Unbound (unplugged) or not yet bound: try again soon, a replug takes about half a second.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A gadget device read through `poll(2)` with a short timeout. f_printer queues its OUT requests in
/// open, read and poll (drivers/usb/gadget/function/f_printer.c, `setup_rx_reqs`); after a UDC unbind /
/// bind a read already blocked would never see the host's data again, while a poll re-queues them.
struct Polled(std::fs::File);

impl Read for Polled {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while !crate::os::wait_readable(&self.0, std::time::Duration::from_millis(100))? {}
        self.0.read(buf)
    }
}

/// The wire answer for one command as [`Emulator::serve`] would write it, for comparisons.
pub fn answer_bytes(state: &mut PrinterState, command: escp::Command, arg: &str) -> Vec<u8> {
    let Ok(bytes) = escp::build_header(command, arg, None) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut e = Emulator {
        state: state.clone(),
        control: None,
    };
    let _ = e.serve(&mut &bytes[..], &mut out);
    *state = e.state;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::catalog;
    use crate::printer::escp::{Command, build_header};

    fn commands(list: &[(Command, &str)]) -> Vec<u8> {
        list.iter()
            .flat_map(|(c, a)| build_header(*c, a, None).unwrap())
            .collect()
    }

    /// Records each write separately, to see the two-transfer answers.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);
    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_ds620_answers_byte_exact_and_cntrl_gets_nothing() {
        let mut e = Emulator::new(catalog::find("DS620").unwrap());
        let input = commands(&[
            (Command::Status, ""),
            (Command::Cntrl, "START"),
            (Command::Info, "FVER"),
            (Command::Info, "SERIAL_NUMBER"),
            (Command::Info, "MEDIA"),
            (Command::Info, "MQTY"),
        ]);
        let mut out = Writes::default();
        let served = e.serve(&mut &input[..], &mut out).unwrap();
        assert_eq!(
            served,
            Served {
                commands: 6,
                garbled: 0
            }
        );
        let want: Vec<&[u8]> = vec![
            b"00000001",
            b"0",
            b"00000011",
            b"DS620 01.20",
            b"00000012",
            b"DS6C98031738",
            b"00000007",
            b"0000150",
            b"00000003",
            b"400",
        ];
        assert_eq!(out.0, want);
    }

    #[test]
    fn a_payload_is_consumed_and_garbage_is_skipped_not_fatal() {
        let mut e = Emulator::new(catalog::find("CX-02").unwrap());
        let mut input = build_header(Command::Image, "", Some(5)).unwrap().to_vec();
        input.extend_from_slice(b"\x1bPxxx");
        input.extend_from_slice(&[0xFF; HEADER_LEN]);
        input.extend_from_slice(&build_header(Command::Info, "FVER", None).unwrap());
        let mut out = Vec::new();
        let served = e.serve(&mut &input[..], &mut out).unwrap();
        assert_eq!(served.garbled, 1);
        assert_eq!(out, b"00000011CX-02 01.20");
    }

    #[test]
    fn a_control_file_turns_the_printer_to_paper_end_while_it_runs() {
        let dir = std::env::temp_dir().join(format!("dexthil-emu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let control = dir.join("DS620.state");
        std::fs::write(&control, "paper_end\n").unwrap();
        let mut e = Emulator::new(catalog::find("DS620").unwrap());
        e.control = Some(control.clone());
        let mut out = Vec::new();
        e.serve(&mut &commands(&[(Command::Status, "")])[..], &mut out)
            .unwrap();
        assert_eq!(out, b"000000041100");
        std::fs::write(&control, "idle").unwrap();
        out.clear();
        e.serve(&mut &commands(&[(Command::Status, "")])[..], &mut out)
            .unwrap();
        assert_eq!(out, b"000000010");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn states_parse_by_name_or_number() {
        assert_eq!(parse_state("paper_end").unwrap(), 1100);
        assert_eq!(parse_state("Cover Open").unwrap(), 1000);
        assert_eq!(parse_state("ribbon-end\n").unwrap(), 1200);
        assert_eq!(parse_state("cooling").unwrap(), 500);
        assert_eq!(parse_state("1300").unwrap(), 1300);
        assert!(
            parse_state("jammed")
                .unwrap_err()
                .to_string()
                .contains("paper_end")
        );
    }
}
