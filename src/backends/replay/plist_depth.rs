//! A depth limit for plists, checked before a `plist::Value` is built: building (and dropping) a value
//! recurses once per level, so a binary plist nested 50,000 deep would overflow the stack (issue 18). The
//! check walks the document without building it: the XML form by its tags (so the error has a line and
//! column), the binary form through serde with a visitor that stops at the limit (the `plist` crate's
//! readers are iterative; only building a value recurses).

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A whole `ioreg -a -l` nests two levels per registry depth (a dictionary and its
/// `IORegistryEntryChildren` array) plus a few for properties: a real registry stays far below this.
pub const MAX_PLIST_DEPTH: usize = 512;

/// Where the limit was passed: a byte offset into the file (XML only).
#[derive(Debug)]
pub struct TooDeep {
    pub offset: Option<usize>,
}

/// `Err` when `bytes` nests arrays and dictionaries deeper than `max`.
pub fn check_depth(bytes: &[u8], max: usize) -> Result<(), TooDeep> {
    if bytes.starts_with(b"bplist") {
        return match plist::from_bytes::<Probe>(bytes) {
            Err(e) if e.to_string().contains(TOO_DEEP) => Err(TooDeep { offset: None }),
            // Any other error is the parser's to report, with its own words.
            _ => Ok(()),
        };
    }
    xml_depth(bytes, max)
}

fn xml_depth(bytes: &[u8], max: usize) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(lt) = bytes[i..].iter().position(|&b| b == b'<') {
        let at = i + lt;
        let rest = &bytes[at + 1..];
        let open = rest.starts_with(b"dict>") || rest.starts_with(b"array>");
        let close = rest.starts_with(b"/dict>") || rest.starts_with(b"/array>");
        if open {
            depth += 1;
            if depth > max {
                return Err(TooDeep { offset: Some(at) });
            }
        } else if close {
            depth = depth.saturating_sub(1);
        }
        i = at + 1;
    }
    Ok(())
}

const TOO_DEEP: &str = "dexthil: plist nested past the depth limit";

/// Deserializes anything, refusing to go deeper than [`MAX_PLIST_DEPTH`].
struct Probe;

impl<'de> de::Deserialize<'de> for Probe {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Level(0).deserialize(d)
    }
}

struct Level(usize);

impl<'de> DeserializeSeed<'de> for Level {
    type Value = Probe;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Probe, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level {
    type Value = Probe;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any plist value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Probe, E> {
        Ok(Probe)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Probe, E> {
        Ok(Probe)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Probe, E> {
        Ok(Probe)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Probe, E> {
        Ok(Probe)
    }
    fn visit_str<E>(self, _: &str) -> Result<Probe, E> {
        Ok(Probe)
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Probe, E> {
        Ok(Probe)
    }
    fn visit_unit<E>(self) -> Result<Probe, E> {
        Ok(Probe)
    }
    fn visit_none<E>(self) -> Result<Probe, E> {
        Ok(Probe)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Probe, D::Error> {
        Level(self.0).deserialize(d)
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<Probe, D::Error> {
        Level(self.0).deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Probe, A::Error> {
        if self.0 >= MAX_PLIST_DEPTH {
            return Err(de::Error::custom(TOO_DEEP));
        }
        while seq.next_element_seed(Level(self.0 + 1))?.is_some() {}
        Ok(Probe)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Probe, A::Error> {
        if self.0 >= MAX_PLIST_DEPTH {
            return Err(de::Error::custom(TOO_DEEP));
        }
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(Level(self.0 + 1))?;
        }
        Ok(Probe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary plist of `depth` nested one-element arrays, written by hand (bplist00, 1-byte refs).
    pub(crate) fn nested_binary(depth: usize) -> Vec<u8> {
        let mut out = b"bplist00".to_vec();
        let mut offsets = Vec::new();
        // Object i is an array holding object i+1; the last is an empty array.
        let n = depth;
        let ref_size = if n < 256 {
            1
        } else if n < 65536 {
            2
        } else {
            4
        };
        for i in 0..n {
            offsets.push(out.len());
            if i + 1 < n {
                out.push(0xA1);
                let r = (i + 1) as u32;
                out.extend_from_slice(&r.to_be_bytes()[4 - ref_size..]);
            } else {
                out.push(0xA0);
            }
        }
        let table_at = out.len();
        for o in &offsets {
            out.extend_from_slice(&(*o as u32).to_be_bytes());
        }
        out.extend_from_slice(&[0; 6]);
        out.push(4);
        out.push(ref_size as u8);
        out.extend_from_slice(&(n as u64).to_be_bytes());
        out.extend_from_slice(&0u64.to_be_bytes());
        out.extend_from_slice(&(table_at as u64).to_be_bytes());
        out
    }

    #[test]
    fn a_binary_plist_50000_deep_is_refused_without_overflowing() {
        assert!(check_depth(&nested_binary(50_000), MAX_PLIST_DEPTH).is_err());
        assert!(check_depth(&nested_binary(10), MAX_PLIST_DEPTH).is_ok());
        // The probe must read the hand-made file as a plist at all, or the first assertion proves nothing.
        assert!(plist::Value::from_reader(std::io::Cursor::new(nested_binary(10))).is_ok());
    }

    #[test]
    fn deep_xml_is_placed() {
        let mut x = String::from("<plist version=\"1.0\">\n");
        for _ in 0..600 {
            x.push_str("<array>");
        }
        let e = check_depth(x.as_bytes(), MAX_PLIST_DEPTH).unwrap_err();
        assert_eq!(e.offset, Some(22 + 512 * 7));
    }
}
