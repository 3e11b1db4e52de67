//! The return-code table `dexthil decode` uses, re-derived from xnu's own headers on every test run.
//!
//! `ci/codes/xnu-11417.101.15/` holds unedited copies of `iokit/IOKit/IOReturn.h`, `osfmk/mach/kern_return.h`,
//! `osfmk/mach/message.h` and `osfmk/mach/mig_errors.h` (copied by `ci/codes/extract.sh`). This file is the
//! extractor: it reads every code name those headers define, renders `src/ioreturn/headers.rs`, and fails when
//! the committed table differs from what the headers give (a hand edit, or a header update not regenerated).
//! `DEXTHIL_WRITE_CODES=1 cargo test --test header_codes` writes the table instead of comparing.
//! It also checks, through the library, that every extracted name decodes to its value with all its names.

use std::fmt::Write as _;
use std::path::PathBuf;

const XNU: &str = "xnu-11417.101.15";
const TABLE: &str = "src/ioreturn/headers.rs";

/// One `#define` the extractor kept.
#[derive(Clone, Debug, PartialEq)]
struct Define {
    name: String,
    value: u32,
    meaning: String,
    family: &'static str,
    header: &'static str,
    /// 1-based line in the header, for the error when a define cannot be read.
    line: usize,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn header_text(rel: &str) -> String {
    let p = root().join("ci/codes").join(XNU).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `#define NAME VALUE rest` → (NAME, VALUE, rest), tokens split on whitespace.
fn define(line: &str) -> Option<(&str, &str, &str)> {
    let rest = line.trim_start().strip_prefix("#define")?;
    let rest = rest.trim_start();
    let (name, rest) = rest.split_once(char::is_whitespace)?;
    let rest = rest.trim_start();
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    Some((name, &rest[..end], rest[end..].trim()))
}

fn number(text: &str, header: &str, line: usize) -> u32 {
    let t = text.trim();
    let parsed = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else {
        t.parse::<i64>().ok().map(|v| v as i32 as u32)
    };
    parsed.unwrap_or_else(|| panic!("{header}:{line}: `{t}` is not a number"))
}

/// The text of a `/* ... */` comment starting on `lines[at]`, whitespace collapsed.
fn block_comment(lines: &[&str], at: usize) -> Option<String> {
    let first = lines.get(at)?.trim_start().strip_prefix("/*")?;
    let mut text = String::new();
    for l in std::iter::once(first).chain(lines[at + 1..].iter().copied()) {
        let (part, done) = match l.find("*/") {
            Some(i) => (&l[..i], true),
            None => (l, false),
        };
        text.push(' ');
        text.push_str(part.trim().trim_start_matches('*'));
        if done {
            break;
        }
    }
    Some(collapse(&text))
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `kIOReturn*` from IOReturn.h: `iokit_common_err(0x2bc) // comment`, the comment possibly continued on
/// `//` lines below; `kIOReturnSuccess` is `KERN_SUCCESS`. `//#define` lines are unassigned values.
fn io_return() -> Vec<Define> {
    const H: &str = "iokit/IOKit/IOReturn.h";
    let text = header_text(H);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some((name, value, _)) = define(l) else {
            continue;
        };
        if !name.starts_with("kIOReturn") {
            continue;
        }
        let (value, family) = if value == "KERN_SUCCESS" {
            (0, "Success")
        } else {
            let inner = l
                .split_once("iokit_common_err(")
                .and_then(|(_, r)| r.split_once(')'))
                .map(|(v, _)| v)
                .unwrap_or_else(|| panic!("{H}:{}: expected iokit_common_err(...)", i + 1));
            // iokit_common_err(r) = sys_iokit | sub_iokit_common | r = err_system(0x38) | err_sub(0) | r.
            (0xE000_0000 | number(inner, H, i + 1), "IoKitCommon")
        };
        let mut meaning = l
            .split_once("//")
            .map(|(_, c)| c.trim().to_string())
            .unwrap_or_default();
        for next in &lines[i + 1..] {
            match next.trim_start().strip_prefix("//") {
                Some(more) if !next.trim_start().starts_with("//#") => {
                    meaning.push(' ');
                    meaning.push_str(more.trim());
                }
                _ => break,
            }
        }
        out.push(Define {
            name: name.into(),
            value,
            meaning: collapse(&meaning),
            family,
            header: H,
            line: i + 1,
        });
    }
    out
}

/// `KERN_*` from kern_return.h, each with the comment block below it. `KERN_RETURN_MAX` is the bound on
/// values ("Maximum return value allowable"), not a code, and is left out.
fn kern_return() -> Vec<Define> {
    const H: &str = "osfmk/mach/kern_return.h";
    let text = header_text(H);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some((name, value, _)) = define(l) else {
            continue;
        };
        if !name.starts_with("KERN_") || name == "KERN_RETURN_MAX" || name.ends_with("_H_") {
            continue;
        }
        let value = number(value, H, i + 1);
        let meaning = block_comment(&lines, i + 1).unwrap_or_else(|| "success".into());
        out.push(Define {
            name: name.into(),
            value,
            meaning,
            family: if value == 0 { "Success" } else { "MachKern" },
            header: H,
            line: i + 1,
        });
    }
    out
}

/// The mach_msg return values of message.h: from `typedef kern_return_t mach_msg_return_t;` to the kernel-
/// private block after them. `MACH_MSG_MASK` and the four special bits it masks are not codes of their own:
/// they are returned OR'd into a MACH_SEND_* / MACH_RCV_* code, so they go to their own list.
fn message() -> (Vec<Define>, Vec<Define>, u32) {
    const H: &str = "osfmk/mach/message.h";
    let text = header_text(H);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("typedef kern_return_t mach_msg_return_t;"))
        .expect("message.h has the mach_msg_return_t typedef");
    let mut codes = Vec::new();
    let mut bits = Vec::new();
    let mut mask = None;
    for (i, l) in lines.iter().enumerate().skip(start) {
        if l.starts_with("#ifdef XNU_KERNEL_PRIVATE") {
            break;
        }
        let Some((name, value, _)) = define(l) else {
            continue;
        };
        let value = number(value, H, i + 1);
        let meaning = block_comment(&lines, i + 1).unwrap_or_else(|| "success".into());
        let family = if value == 0 {
            "Success"
        } else if name.starts_with("MACH_SEND_") {
            "MachSend"
        } else if name.starts_with("MACH_RCV_") {
            "MachRcv"
        } else {
            "MachMsgBit"
        };
        let d = Define {
            name: name.into(),
            value,
            meaning,
            family,
            header: H,
            line: i + 1,
        };
        match name {
            "MACH_MSG_MASK" => mask = Some(value),
            _ if family == "MachMsgBit" => bits.push(d),
            _ => codes.push(d),
        }
    }
    (codes, bits, mask.expect("message.h defines MACH_MSG_MASK"))
}

/// `MIG_*` from mig_errors.h: `#define MIG_TYPE_ERROR -300 /* comment */`.
fn mig_errors() -> Vec<Define> {
    const H: &str = "osfmk/mach/mig_errors.h";
    let text = header_text(H);
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let Some((name, value, rest)) = define(l) else {
            continue;
        };
        if !name.starts_with("MIG_") {
            continue;
        }
        let meaning = rest
            .strip_prefix("/*")
            .and_then(|r| r.split_once("*/"))
            .map(|(c, _)| collapse(c))
            .unwrap_or_else(|| panic!("{H}:{}: expected a /* comment */", i + 1));
        out.push(Define {
            name: name.into(),
            value: number(value, H, i + 1),
            meaning,
            family: "Mig",
            header: H,
            line: i + 1,
        });
    }
    out
}

fn rust_str(s: &str) -> String {
    format!("{s:?}")
}

fn entry(d: &Define) -> String {
    format!(
        "    KnownCode {{ name: {}, value: 0x{:08X}, meaning: {}, family: Family::{}, header: {} }},\n",
        rust_str(&d.name),
        d.value,
        rust_str(&d.meaning),
        d.family,
        rust_str(d.header)
    )
}

/// The generated module's text.
fn render() -> (String, Vec<Define>) {
    let mut codes = io_return();
    codes.extend(kern_return());
    let (msg, bits, mask) = message();
    codes.extend(msg);
    codes.extend(mig_errors());
    let mut s = String::new();
    let _ = writeln!(
        s,
        "//! Every return code named in {XNU}'s `iokit/IOKit/IOReturn.h` (kIOReturn*), `osfmk/mach/kern_return.h`\n\
         //! (KERN_*), `osfmk/mach/message.h` (the mach_msg return values) and `osfmk/mach/mig_errors.h` (MIG_*),\n\
         //! with the header's own comment as its meaning, in header order.\n\
         //!\n\
         //! GENERATED by `tests/header_codes.rs` from the copies in `ci/codes/{XNU}/`: do not edit. To regenerate,\n\
         //! run `ci/codes/extract.sh` (copies the headers from an xnu checkout, then\n\
         //! `DEXTHIL_WRITE_CODES=1 cargo test --test header_codes`). KERN_RETURN_MAX is a bound, not a code."
    );
    s.push_str("\nuse super::{Family, KnownCode};\n\n");
    s.push_str(
        "/// The codes, in header order: IOReturn.h, kern_return.h, message.h, mig_errors.h.\n",
    );
    s.push_str("pub const HEADER_CODES: &[KnownCode] = &[\n");
    for d in &codes {
        s.push_str(&entry(d));
    }
    s.push_str("];\n\n");
    let _ = writeln!(
        s,
        "/// `MACH_MSG_MASK`: the bits of a MACH_SEND_* / MACH_RCV_* code that carry extra information.\n\
         pub const MACH_MSG_MASK: u32 = 0x{mask:08X};\n"
    );
    s.push_str("/// The special bits `MACH_MSG_MASK` covers, OR'd into a send or receive code.\n");
    s.push_str("pub const MACH_MSG_SPECIAL_BITS: &[KnownCode] = &[\n");
    for d in &bits {
        s.push_str(&entry(d));
    }
    s.push_str("];\n\n");
    s.push_str("/// Each header name as a constant (`code::kIOReturnError`).\n");
    s.push_str("#[allow(non_upper_case_globals)]\npub mod names {\n");
    for d in &codes {
        let _ = writeln!(s, "    pub const {}: u32 = 0x{:08X};", d.name, d.value);
    }
    s.push_str("}\n");
    (s, codes)
}

#[test]
fn the_committed_table_is_what_the_headers_give() {
    let (text, _) = render();
    let path = root().join(TABLE);
    if std::env::var_os("DEXTHIL_WRITE_CODES").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != text {
        let (line, (want, got)) = text
            .lines()
            .zip(committed.lines().chain(std::iter::repeat("<end of file>")))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .unwrap_or((text.lines().count(), ("<end of file>", "<more lines>")));
        panic!(
            "{TABLE}:{}: differs from what ci/codes/{XNU}/ gives:\n  headers: {want}\n  table:   {got}\n\
             regenerate with ci/codes/extract.sh",
            line + 1
        );
    }
}

#[test]
fn the_extractor_finds_every_family_the_headers_define() {
    let (_, codes) = render();
    let count = |prefix: &str| codes.iter().filter(|d| d.name.starts_with(prefix)).count();
    // Counted by hand in the headers: kIOReturn 53 (0x2CB and 0x2DC are commented out), KERN_ 57 (0..=56),
    // mach_msg 1 + 23 send + 18 receive, MIG 10.
    assert_eq!(count("kIOReturn"), 53);
    assert_eq!(count("KERN_"), 57);
    assert_eq!(count("MACH_MSG_"), 1);
    assert_eq!(count("MACH_SEND_"), 23);
    assert_eq!(count("MACH_RCV_"), 18);
    assert_eq!(count("MIG_"), 10);
    let (_, bits, mask) = message();
    // MACH_MSG_MASK (0x3E00) also covers 0x200, which no special bit uses.
    assert_eq!(bits.len(), 4);
    assert!(bits.iter().all(|b| b.value & !mask == 0), "{bits:?}");
    for d in &codes {
        assert!(!d.meaning.is_empty(), "{}:{}: {}", d.header, d.line, d.name);
    }
}

#[test]
fn every_header_name_decodes_to_its_value_with_all_its_names() {
    let (_, codes) = render();
    for d in &codes {
        assert_eq!(
            dexthil::ioreturn::parse(&d.name).map(|c| c.0),
            Ok(d.value),
            "{}",
            d.name
        );
        let text = dexthil::decode::explain(d.value).to_string();
        for other in codes.iter().filter(|o| o.value == d.value) {
            assert!(
                text.contains(&other.name),
                "0x{:08X} does not show {}: {text}",
                d.value,
                other.name
            );
        }
    }
}

#[test]
fn zero_is_every_success_name() {
    let text = dexthil::decode::explain(0).to_string();
    assert!(text.starts_with("kIOReturnSuccess (0x00000000)"), "{text}");
    for name in ["KERN_SUCCESS", "MACH_MSG_SUCCESS"] {
        assert!(text.contains(name), "{text}");
    }
}
