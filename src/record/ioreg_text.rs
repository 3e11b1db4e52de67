//! Registry entries rendered in the `ioreg -l` text form (inheritance spelling, as `ioreg -il` prints
//! it), so that a registry the sim or a replay holds becomes a dump the replay text parser reads back.
//! Only what the parser reads is written: the node line's class chain, id and state, then the properties.

use crate::lab::{Prop, RegEntry};
use std::fmt::Write;

/// A property value as `ioreg -l` prints it: numbers in decimal, strings quoted, `Yes` / `No`, data in
/// `<hex>`, arrays in `( )`, dictionaries in `{ }` with `=`.
pub fn value(p: &Prop) -> String {
    match p {
        Prop::Bool(b) => if *b { "Yes" } else { "No" }.to_string(),
        Prop::Int(v) => v.to_string(),
        Prop::Str(s) => format!("{s:?}"),
        Prop::Data(d) => format!(
            "<{}>",
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        Prop::Array(a) => format!("({})", a.iter().map(value).collect::<Vec<_>>().join(",")),
        Prop::Dict(d) => format!(
            "{{{}}}",
            d.iter()
                .map(|(k, v)| format!("{k:?}={}", value(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        // ioreg prints dates as text; seconds since 2001 keep the value.
        Prop::Date(secs) => format!("{secs}"),
    }
}

fn node_line(e: &RegEntry) -> String {
    let mut chain: Vec<&str> = e.class_chain.iter().map(String::as_str).collect();
    if chain.is_empty() {
        chain.push(&e.class);
    }
    chain.reverse();
    let name = match &e.location {
        Some(l) => format!("{}@{l}", e.name),
        None => e.name.clone(),
    };
    let state = if e.class == "IORegistryEntry" {
        String::new()
    } else if e.registered {
        ", registered, matched, active, busy 0 (0 ms)".to_string()
    } else {
        ", !registered, !matched, active, busy 0 (0 ms)".to_string()
    };
    format!(
        "+-o {name}  <class {}, id 0x{:x}{state}, retain 1>",
        chain.join(":"),
        e.id
    )
}

fn render_node(entries: &[RegEntry], e: &RegEntry, prefix: &str, last: bool, out: &mut String) {
    let _ = writeln!(out, "{prefix}{}", node_line(e));
    let children: Vec<&RegEntry> = entries.iter().filter(|c| c.parent == Some(e.id)).collect();
    let child_prefix = format!("{prefix}{}", if last { "  " } else { "| " });
    let bar = format!(
        "{child_prefix}{}",
        if children.is_empty() { "  " } else { "| " }
    );
    let _ = writeln!(out, "{bar}{{");
    for (k, v) in &e.properties {
        let _ = writeln!(out, "{bar}  {k:?} = {}", value(v));
    }
    let _ = writeln!(out, "{bar}}}");
    let _ = writeln!(out, "{}", bar.trim_end());
    for (i, c) in children.iter().enumerate() {
        render_node(entries, c, &child_prefix, i + 1 == children.len(), out);
    }
}

/// Every entry whose parent is not among `entries` is a top-level node; children follow their parent.
pub fn render(entries: &[RegEntry]) -> String {
    let mut out = String::new();
    let tops: Vec<&RegEntry> = entries
        .iter()
        .filter(|e| e.parent.is_none_or(|p| !entries.iter().any(|o| o.id == p)))
        .collect();
    for (i, e) in tops.iter().enumerate() {
        render_node(entries, e, "", i + 1 == tops.len(), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::replay::parse_text;
    use std::path::Path;

    #[test]
    fn a_parsed_dump_renders_back_to_the_same_entries() {
        for fixture in ["ds620.txt", "ds-rx1.txt", "cx-02.txt"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/ioreg")
                .join(fixture);
            let text = std::fs::read_to_string(&path).unwrap();
            let entries = parse_text(&path, &text).unwrap().entries();
            let again = parse_text(&path, &render(&entries)).unwrap().entries();
            let key = |e: &RegEntry| {
                (
                    e.id,
                    e.name.clone(),
                    e.class.clone(),
                    e.parent,
                    e.registered,
                    e.properties.clone(),
                )
            };
            assert_eq!(
                again.iter().map(key).collect::<Vec<_>>(),
                entries.iter().map(key).collect::<Vec<_>>(),
                "{fixture}"
            );
        }
    }

    #[test]
    fn values_are_spelled_as_ioreg_spells_them() {
        let d = Prop::Dict([("IOClass".to_string(), Prop::Str("IOUserUserClient".into()))].into());
        assert_eq!(value(&d), r#"{"IOClass"="IOUserUserClient"}"#);
        assert_eq!(
            value(&Prop::Array(vec![Prop::Int(1), Prop::Bool(true)])),
            "(1,Yes)"
        );
        assert_eq!(value(&Prop::Data(vec![0xde, 0xad])), "<dead>");
    }
}
