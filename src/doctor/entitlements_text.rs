//! The plain-text entitlements form newer `codesign -d --entitlements -` prints without `--xml` (macOS 12
//! and later): `[Dict]`, then `[Key] name` / `[Value]` pairs, values `[Bool] true`, `[String] s`,
//! `[Integer] n`, `[Array]` and nested `[Dict]`, each level one tab deeper. Shape as codesign prints it in
//! public threads (Apple Developer Forums "codesign entitlements output format changed", 2021), not a
//! spec. Nesting is capped at [`MAX_DEPTH`] with a located error, so a hostile file cannot overflow the stack.

use super::error::DoctorError;
use crate::lab::Prop;
use std::collections::BTreeMap;
use std::path::Path;

/// Entitlements nest two or three levels; anything past this is not codesign output.
pub const MAX_DEPTH: usize = 64;

/// True when the text has the `[Dict]` / `[Key]` lines of this form.
pub fn looks_like(text: &str) -> bool {
    let mut lines = text.lines().map(str::trim);
    lines.any(|l| l == "[Dict]") && text.lines().any(|l| l.trim().starts_with("[Key] "))
}

struct Item<'a> {
    line: usize,
    indent: usize,
    tag: &'a str,
    value: &'a str,
}

/// Parse the form; `path` names it in errors. Lines before `[Dict]` (`Executable=...`) are skipped.
pub fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, Prop>, DoctorError> {
    let items: Vec<Item> = text
        .lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let t = raw.trim_start();
            let rest = t.strip_prefix('[')?;
            let (tag, value) = rest.split_once(']')?;
            Some(Item {
                line: i + 1,
                indent: raw.len() - t.len(),
                tag,
                value: value.trim(),
            })
        })
        .collect();
    let Some(start) = items.iter().position(|i| i.tag == "Dict") else {
        return Err(DoctorError::syntax(
            path,
            1,
            Some(1),
            "expected a `[Dict]` line: codesign's text form of entitlements",
        ));
    };
    let mut at = start;
    match value(path, &items, &mut at, 0)? {
        Prop::Dict(d) => Ok(d),
        _ => unreachable_dict(path, items[start].line),
    }
}

fn unreachable_dict(path: &Path, line: usize) -> Result<BTreeMap<String, Prop>, DoctorError> {
    Err(DoctorError::syntax(
        path,
        line,
        Some(1),
        "expected `[Dict]`",
    ))
}

/// The value at `items[*at]` and its children (those indented deeper); advances `at` past them.
fn value(path: &Path, items: &[Item], at: &mut usize, depth: usize) -> Result<Prop, DoctorError> {
    let it = &items[*at];
    if depth > MAX_DEPTH {
        return Err(DoctorError::syntax(
            path,
            it.line,
            Some(it.indent + 1),
            format!("nested more than {MAX_DEPTH} levels deep: not codesign's entitlements"),
        ));
    }
    *at += 1;
    let bad = |what: String| DoctorError::syntax(path, it.line, Some(it.indent + 1), what);
    Ok(match it.tag {
        "Bool" => Prop::Bool(it.value == "true"),
        "String" => Prop::Str(it.value.to_string()),
        "Integer" | "Number" => it
            .value
            .parse::<i128>()
            .map(Prop::Int)
            .map_err(|_| bad(format!("expected a whole number after `[{}]`", it.tag)))?,
        "Data" => Prop::Data(it.value.as_bytes().to_vec()),
        "Array" => {
            let mut out = Vec::new();
            while *at < items.len() && items[*at].indent > it.indent {
                out.push(value(path, items, at, depth + 1)?);
            }
            Prop::Array(out)
        }
        "Dict" => {
            let mut out = BTreeMap::new();
            while *at < items.len() && items[*at].indent > it.indent {
                let k = &items[*at];
                if k.tag != "Key" {
                    return Err(DoctorError::syntax(
                        path,
                        k.line,
                        Some(k.indent + 1),
                        format!("expected `[Key] name` in a `[Dict]`, found `[{}]`", k.tag),
                    ));
                }
                *at += 1;
                if *at < items.len() && items[*at].tag == "Value" {
                    *at += 1;
                }
                if *at >= items.len() || items[*at].indent <= it.indent {
                    return Err(DoctorError::syntax(
                        path,
                        k.line,
                        Some(k.indent + 1),
                        format!("the key `{}` has no value", k.value),
                    ));
                }
                let v = value(path, items, at, depth + 1)?;
                out.insert(k.value.to_string(), v);
            }
            Prop::Dict(out)
        }
        other => return Err(bad(format!("unknown value type `[{other}]`"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_values_are_read() {
        let text = "Executable=/x\n[Dict]\n\t[Key] a\n\t[Value]\n\t\t[Array]\n\t\t\t[String] one\n\t\t\t[String] two\n\t[Key] b\n\t[Value]\n\t\t[Bool] true\n";
        let d = parse(Path::new("e.txt"), text).unwrap();
        assert_eq!(
            d["a"],
            Prop::Array(vec![Prop::Str("one".into()), Prop::Str("two".into())])
        );
        assert_eq!(d["b"], Prop::Bool(true));
    }

    #[test]
    fn deep_nesting_is_a_located_error() {
        let mut text = String::from("[Dict]\n\t[Key] k\n");
        for i in 0..200 {
            text.push_str(&format!("{}[Array]\n", "\t".repeat(i + 2)));
        }
        let e = parse(Path::new("e.txt"), &text).unwrap_err().to_string();
        assert!(e.contains("nested more than"), "{e}");
    }
}
