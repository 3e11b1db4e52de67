//! Reading a dump file: tell the plist form (XML or binary) from the pasted text form, and refuse what is
//! neither with a place and a hint.

use super::error::DumpError;
use super::plist_form::{line_column, parse_plist};
use super::text_form::parse_text;
use super::tree::DumpTree;
use std::path::Path;

/// Read and parse one dump file (`ioreg -a -l` plist, XML or binary, or `ioreg -l` text).
pub fn load_dump(path: &Path) -> Result<DumpTree, DumpError> {
    let bytes = crate::input::read_capped(path, crate::input::DUMP)?;
    parse_dump(path, &bytes)
}

/// Parse a dump already in memory; `path` is only for messages.
pub fn parse_dump(path: &Path, bytes: &[u8]) -> Result<DumpTree, DumpError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err(DumpError::Empty {
            path: path.to_path_buf(),
        });
    };
    let head = &body[start..];
    if body.starts_with(b"bplist")
        || head.starts_with(b"<?xml")
        || head.starts_with(b"<!DOCTYPE")
        || head.starts_with(b"<plist")
    {
        return parse_plist(path, bytes);
    }
    let not_text = |offset: usize, byte: u8| {
        let (line, column) = line_column(bytes, offset as u64);
        DumpError::syntax(
            path,
            line,
            column,
            format!(
                "byte 0x{byte:02X} is not text: expected `ioreg -a -l` output (a plist) or `ioreg -l` text"
            ),
        )
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        not_text(at, bytes.get(at).copied().unwrap_or(0))
    })?;
    if let Some(at) = text.find('\0') {
        return Err(not_text(at, 0));
    }
    parse_text(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_only_is_empty() {
        let e = parse_dump(Path::new("e.txt"), b" \n\n").unwrap_err();
        assert!(matches!(e, DumpError::Empty { .. }));
        assert!(e.to_string().starts_with("e.txt:1: the file is empty"));
    }

    #[test]
    fn non_utf8_bytes_are_placed() {
        let e = parse_dump(Path::new("g.bin"), b"ab\ncd\xff\x00").unwrap_err();
        assert_eq!(
            e.to_string(),
            "g.bin:2:3: byte 0xFF is not text: expected `ioreg -a -l` output (a plist) or `ioreg -l` text"
        );
    }
}
