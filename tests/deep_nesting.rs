//! Issue 18 item 2, through the binary: input nested far deeper than any real one (a binary plist 50,000
//! levels deep, a journal line of 50,000 nested arrays, an ioreg paste 2,000 levels deep) is a located
//! error and exit 2, never a stack overflow (an abort, exit 134). Before the depth checks the plist case
//! aborted doctor's entitlement reader.

mod support;

use std::path::PathBuf;
use support::dexthil;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dexthil-deep-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// A binary plist of `depth` nested one-element arrays (bplist00, 4-byte object references).
fn nested_binary_plist(depth: usize) -> Vec<u8> {
    let mut out = b"bplist00".to_vec();
    let mut offsets = Vec::new();
    for i in 0..depth {
        offsets.push(out.len() as u32);
        if i + 1 < depth {
            out.push(0xA1);
            out.extend_from_slice(&((i + 1) as u32).to_be_bytes());
        } else {
            out.push(0xA0);
        }
    }
    let table = out.len() as u64;
    for o in offsets {
        out.extend_from_slice(&o.to_be_bytes());
    }
    out.extend_from_slice(&[0; 6]);
    out.push(4); // offset size
    out.push(4); // reference size
    out.extend_from_slice(&(depth as u64).to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&table.to_be_bytes());
    out
}

#[test]
fn a_binary_plist_50000_deep_is_a_clear_error_in_every_plist_reader() {
    let p = scratch("deep.plist");
    std::fs::write(&p, nested_binary_plist(50_000)).unwrap();
    let f = p.to_str().unwrap();
    for args in [
        vec!["doctor", "--dext-entitlements", f],
        vec!["doctor", "--host-entitlements", f],
        vec!["doctor", "--matching", f],
        vec!["doctor", "--ioreg", f],
        vec!["ioreg", f],
    ] {
        let (code, out) = dexthil(&args);
        assert_eq!(code, 2, "`{}`: {out}", args.join(" "));
        assert!(
            out.contains("deep.plist") && out.contains("nested more than 512 levels"),
            "`{}`: {out}",
            args.join(" ")
        );
    }
    // The same file shallow is parsed (and found not to be a dictionary): the error above is about depth,
    // not about the hand-made format.
    std::fs::write(&p, nested_binary_plist(20)).unwrap();
    let (_, out) = dexthil(&["doctor", "--host-entitlements", f]);
    assert!(out.contains("the plist is not a dictionary"), "{out}");
}

#[test]
fn a_journal_line_nested_50000_deep_is_placed() {
    let p = scratch("deep.jsonl");
    let line = format!("{}{}\n", "[".repeat(50_000), "]".repeat(50_000));
    std::fs::write(&p, line).unwrap();
    let (code, out) = dexthil(&["report", p.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("deep.jsonl:1:"), "{out}");
}

#[test]
fn an_ioreg_paste_2000_levels_deep_is_placed() {
    let p = scratch("deep.txt");
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!(
            "{}+-o N{i}  <class IOService, id 0x{:x}, registered, matched, active, busy 0 (0 ms), retain 1>\n",
            "  ".repeat(i),
            i + 1
        ));
    }
    std::fs::write(&p, text).unwrap();
    let (code, out) = dexthil(&["ioreg", p.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("deep.txt:513: nested more than 512 levels"),
        "{out}"
    );
}
