//! Property values as `ioreg -l` prints them, into [`Prop`]: decimal (or `0x` hex) integers, `"strings"`,
//! `Yes` / `No`, data `<0a1b>` (or `<"text","text">` when ioreg judged the bytes to be strings), arrays
//! `(a,b)` and dictionaries printed inline `{"k"=v,"k2"=v2}`. A hand-written recursive-descent reader over
//! one line; errors carry the 0-based byte column of the problem.
//!
//! ioreg prints strings without escaping, so a string ends at the first `"` that is followed by a
//! delimiter (`,` `)` `}` `=` `>`, spaces allowed before it) or the end of the line: a quote inside a
//! string survives.

use crate::lab::Prop;
use std::collections::BTreeMap;

/// A value could not be read: where (byte offset in the line) and what was expected.
#[derive(Debug, PartialEq, Eq)]
pub struct ValueError {
    pub column: usize,
    pub what: String,
}

/// Nesting deeper than this is refused rather than risking the stack on hostile input.
const MAX_DEPTH: usize = 64;

/// A `"key" = value` property line (leading and trailing spaces already removed, `offset` its column).
pub fn parse_property_line(line: &str, offset: usize) -> Result<(String, Prop), ValueError> {
    let mut r = Reader {
        s: line.as_bytes(),
        text: line,
        pos: 0,
        offset,
    };
    if r.peek() != Some(b'"') {
        return Err(r.err("expected a property line `\"key\" = value`"));
    }
    let key = r.string(b"=")?;
    r.skip_spaces();
    if !r.eat(b'=') {
        return Err(r.err(format!("expected `=` after the key \"{key}\"")));
    }
    r.skip_spaces();
    let value = r.value(0)?;
    r.skip_spaces();
    if r.pos != r.s.len() {
        return Err(r.err("expected the end of the line after the value"));
    }
    Ok((key, value))
}

/// One value standing alone (tests, and callers that already split a line).
pub fn parse_value(text: &str) -> Result<Prop, ValueError> {
    let mut r = Reader {
        s: text.as_bytes(),
        text,
        pos: 0,
        offset: 0,
    };
    let v = r.value(0)?;
    if r.pos != r.s.len() {
        return Err(r.err("expected the end of the value"));
    }
    Ok(v)
}

struct Reader<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
    offset: usize,
}

impl Reader<'_> {
    fn err(&self, what: impl Into<String>) -> ValueError {
        ValueError {
            column: self.offset + self.pos,
            what: what.into(),
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Prop, ValueError> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("values nested deeper than {MAX_DEPTH}")));
        }
        match self.peek() {
            Some(b'"') => self.string(b",)}=>").map(Prop::Str),
            Some(b'<') => self.data(),
            Some(b'(') => self.array(depth),
            Some(b'{') => self.dict(depth),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) if self.word("Yes") => Ok(Prop::Bool(true)),
            Some(_) if self.word("No") => Ok(Prop::Bool(false)),
            Some(_) => Err(self.err(
                "expected a value: a number, \"string\", Yes, No, <data>, (array) or {dictionary}",
            )),
            None => Err(self.err("expected a value, found the end of the line")),
        }
    }

    fn word(&mut self, w: &str) -> bool {
        let end = self.pos + w.len();
        let follows_ok = matches!(self.s.get(end), None | Some(b',' | b')' | b'}' | b' '));
        if self.s.get(self.pos..end) == Some(w.as_bytes()) && follows_ok {
            self.pos = end;
            true
        } else {
            false
        }
    }

    /// A quoted string; it ends at a `"` followed (after any spaces) by one of `ends` or the end of the line.
    fn string(&mut self, ends: &[u8]) -> Result<String, ValueError> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        while self.pos < self.s.len() {
            if self.s[self.pos] == b'"' {
                let after = &self.s[self.pos + 1..];
                let next = after.iter().find(|&&b| b != b' ');
                if next.is_none_or(|b| ends.contains(b)) {
                    let text = self.text[start..self.pos].to_string();
                    self.pos += 1;
                    return Ok(text);
                }
            }
            self.pos += 1;
        }
        self.pos = open;
        Err(self.err(
            "unterminated string: expected a closing `\"` on this line (if the terminal cut the line, record with `ioreg -lw0`)",
        ))
    }

    fn number(&mut self) -> Result<Prop, ValueError> {
        let start = self.pos;
        let negative = self.eat(b'-');
        let hex = self.s.get(self.pos..self.pos + 2) == Some(b"0x");
        if hex {
            self.pos += 2;
        }
        let digits = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_hexdigit()) {
            self.pos += 1;
        }
        let text = &self.text[digits..self.pos];
        let parsed = if hex {
            u64::from_str_radix(text, 16).map(i128::from).ok()
        } else if text.bytes().all(|b| b.is_ascii_digit()) {
            text.parse::<u64>().map(i128::from).ok()
        } else {
            None
        };
        match parsed {
            Some(v) => Ok(Prop::Int(if negative { -v } else { v })),
            None => {
                self.pos = start;
                Err(self.err("expected a decimal or 0x hex integer of at most 64 bits"))
            }
        }
    }

    fn data(&mut self) -> Result<Prop, ValueError> {
        let open = self.pos;
        self.pos += 1;
        let mut bytes = Vec::new();
        if self.peek() == Some(b'"') {
            // ioreg's `<"a","b">`: NUL-terminated strings it recognised inside the data.
            loop {
                let s = self.string(b",>")?;
                bytes.extend_from_slice(s.as_bytes());
                bytes.push(0);
                if self.eat(b'>') {
                    return Ok(Prop::Data(bytes));
                }
                if !self.eat(b',') {
                    return Err(self.unterminated(open, '<', '>'));
                }
            }
        }
        loop {
            match self.peek() {
                Some(b'>') => {
                    self.pos += 1;
                    return Ok(Prop::Data(bytes));
                }
                Some(h) if h.is_ascii_hexdigit() => {
                    let lo = self.s.get(self.pos + 1).copied();
                    match lo.filter(u8::is_ascii_hexdigit) {
                        Some(l) => {
                            bytes.push((hex_digit(h) << 4) | hex_digit(l));
                            self.pos += 2;
                        }
                        None if lo.is_none() => return Err(self.unterminated(open, '<', '>')),
                        None => {
                            self.pos += 1;
                            return Err(self.err("expected a second hex digit in <data>"));
                        }
                    }
                }
                Some(b' ') => self.pos += 1,
                None => return Err(self.unterminated(open, '<', '>')),
                Some(_) => return Err(self.err("expected hex digits or `>` in <data>")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Prop, ValueError> {
        let open = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        if self.eat(b')') {
            return Ok(Prop::Array(items));
        }
        loop {
            if self.peek().is_none() {
                return Err(self.unterminated(open, '(', ')'));
            }
            items.push(self.value(depth + 1)?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {
                    self.pos += 1;
                    return Ok(Prop::Array(items));
                }
                None => return Err(self.unterminated(open, '(', ')')),
                Some(_) => return Err(self.err("expected `,` or `)` in an array")),
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Prop, ValueError> {
        let open = self.pos;
        self.pos += 1;
        let mut map = BTreeMap::new();
        if self.eat(b'}') {
            return Ok(Prop::Dict(map));
        }
        loop {
            match self.peek() {
                None => return Err(self.unterminated(open, '{', '}')),
                Some(b'"') => {}
                Some(_) => return Err(self.err("expected a \"key\" in a dictionary")),
            }
            let key = self.string(b"=")?;
            if !self.eat(b'=') {
                return Err(self.err(format!("expected `=` after the key \"{key}\"")));
            }
            let v = self.value(depth + 1)?;
            map.insert(key, v);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Prop::Dict(map));
                }
                None => return Err(self.unterminated(open, '{', '}')),
                Some(_) => return Err(self.err("expected `,` or `}` in a dictionary")),
            }
        }
    }

    fn unterminated(&mut self, open: usize, o: char, c: char) -> ValueError {
        self.pos = open;
        self.err(format!(
            "unterminated `{o}`: expected a closing `{c}` on this line (if the terminal cut the line, record with `ioreg -lw0`)"
        ))
    }
}

fn hex_digit(b: u8) -> u8 {
    (b as char).to_digit(16).unwrap_or(0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(pairs: &[(&str, Prop)]) -> Prop {
        Prop::Dict(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn every_value_kind_ioreg_prints() {
        let cases = [
            ("5202", Prop::Int(5202)),
            ("-1", Prop::Int(-1)),
            ("0x1452", Prop::Int(0x1452)),
            ("18446744073709551615", Prop::Int(u64::MAX as i128)),
            ("\"DS620\"", Prop::Str("DS620".into())),
            ("\"say \"hi\" now\"", Prop::Str("say \"hi\" now".into())),
            ("Yes", Prop::Bool(true)),
            ("No", Prop::Bool(false)),
            ("<0a1bff>", Prop::Data(vec![0x0a, 0x1b, 0xff])),
            ("<>", Prop::Data(vec![])),
            ("<\"ab\",\"c\">", Prop::Data(b"ab\0c\0".to_vec())),
            (
                "(1,\"x\",Yes)",
                Prop::Array(vec![Prop::Int(1), Prop::Str("x".into()), Prop::Bool(true)]),
            ),
            ("()", Prop::Array(vec![])),
        ];
        for (text, want) in cases {
            assert_eq!(parse_value(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn nested_dictionaries_print_inline() {
        let v = parse_value("{\"IOClass\"=\"IOUserUserClient\",\"n\"={\"a\"=(1,2)}}").unwrap();
        assert_eq!(
            v,
            dict(&[
                ("IOClass", Prop::Str("IOUserUserClient".into())),
                (
                    "n",
                    dict(&[("a", Prop::Array(vec![Prop::Int(1), Prop::Int(2)]))])
                ),
            ])
        );
    }

    #[test]
    fn property_lines_with_spaces_in_keys() {
        let (k, v) = parse_property_line("\"USB Product Name\" = \"DS620\"", 6).unwrap();
        assert_eq!(
            (k.as_str(), v),
            ("USB Product Name", Prop::Str("DS620".into()))
        );
    }

    #[test]
    fn unterminated_values_name_the_opening_column() {
        let e = parse_property_line("\"k\" = <0a1b", 4).unwrap_err();
        assert_eq!(e.column, 4 + 6);
        assert!(e.what.contains("unterminated `<`"), "{}", e.what);
        let e = parse_property_line("\"k\" = (1,2", 0).unwrap_err();
        assert!(e.what.contains("unterminated `(`"), "{}", e.what);
        let e = parse_property_line("\"k\" = {\"a\"=1", 0).unwrap_err();
        assert!(e.what.contains("unterminated `{`"), "{}", e.what);
        let e = parse_property_line("\"k\" = \"abc", 0).unwrap_err();
        assert!(e.what.contains("unterminated string"), "{}", e.what);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for text in [
            "",
            "maybe",
            "0xZZ",
            "<0>",
            "<zz>",
            "(1 2)",
            "{1=2}",
            "99999999999999999999999",
            "-",
            "\u{e9}",
        ] {
            assert!(parse_value(text).is_err(), "{text}");
        }
    }
}
