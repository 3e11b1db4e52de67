//! The text users paste (`ioreg -l`, `ioreg -lw0`) into a [`DumpTree`].
//!
//! Shape (IOKitTools `ioreg.c`, reference §5): a node line is `+-o Name@loc  <class C, id 0x.., registered,
//! matched, active, busy 0 (12 ms), retain 20>` behind two columns per depth (`| ` or `  `); with `-l` a
//! `{` … `}` block of `"key" = value` lines follows, its braces four columns right of the node's `+-o`
//! (behind the node's own `| ` or `  ` column, where its children's `+-o` will stand).
//! Lines before the first node (a pasted shell prompt) are ignored; after it every line must fit.

use super::error::DumpError;
use super::text_value::parse_property_line;
use super::tree::{DumpTree, RegNode, known_class_chain};
use std::collections::BTreeMap;
use std::path::Path;

/// Parse the text form held in `text`, read from `path`.
pub fn parse_text(path: &Path, text: &str) -> Result<DumpTree, DumpError> {
    let mut b = Builder {
        path,
        base: None,
        stack: Vec::new(),
        roots: Vec::new(),
        block: None,
    };
    for (i, raw) in text.lines().enumerate() {
        b.line(i + 1, raw.trim_end())?;
    }
    if let Some(open) = b.block {
        return Err(DumpError::syntax(
            path,
            open.line,
            Some(open.column),
            "unterminated `{`: this property block has no closing `}`",
        ));
    }
    b.close_to(0);
    if b.roots.is_empty() {
        return Err(DumpError::syntax(
            path,
            text.lines().count().max(1),
            None,
            "no registry entry found: expected `+-o Name  <class ...>` lines from `ioreg -l`",
        ));
    }
    Ok(DumpTree {
        source: path.to_path_buf(),
        roots: b.roots,
    })
}

struct OpenBlock {
    line: usize,
    column: usize,
}

struct Builder<'p> {
    path: &'p Path,
    /// Column of the first node's `+-o`: depth 0.
    base: Option<usize>,
    /// The open nodes, outermost first, with the column of their `+-o`.
    stack: Vec<(RegNode, usize)>,
    roots: Vec<RegNode>,
    block: Option<OpenBlock>,
}

impl Builder<'_> {
    fn err(&self, line: usize, column: usize, what: impl Into<String>) -> DumpError {
        DumpError::syntax(self.path, line, Some(column + 1), what)
    }

    fn line(&mut self, n: usize, line: &str) -> Result<(), DumpError> {
        let content_at = line.find(|c| c != ' ' && c != '|').unwrap_or(line.len());
        let content = &line[content_at..];
        if let Some(rest) = content.strip_prefix("+-o ") {
            if let Some(open) = &self.block {
                return Err(self.err(
                    n,
                    content_at,
                    format!(
                        "a node line inside the property block opened on line {}: expected `}}` first",
                        open.line
                    ),
                ));
            }
            return self.node_line(n, content_at, rest);
        }
        if content.is_empty() {
            return Ok(());
        }
        let Some((_, node_col)) = self.stack.last() else {
            if content == "{" || content.starts_with('"') {
                return Err(self.err(
                    n,
                    content_at,
                    "a property block without a node: expected a `+-o Name  <class ...>` line before it",
                ));
            }
            return Ok(());
        };
        let node_col = *node_col;
        match (content, &self.block) {
            ("{", None) => {
                if content_at != node_col + 4 {
                    return Err(self.err(
                        n,
                        content_at,
                        format!(
                            "a property block at column {} does not belong to the node above (its `{{` belongs at column {})",
                            content_at + 1,
                            node_col + 5
                        ),
                    ));
                }
                self.block = Some(OpenBlock {
                    line: n,
                    column: content_at + 1,
                });
                Ok(())
            }
            ("}", Some(_)) => {
                self.block = None;
                Ok(())
            }
            (_, Some(_)) if content.starts_with('"') => {
                let (key, value) = parse_property_line(content, content_at)
                    .map_err(|e| self.err(n, e.column, e.what))?;
                if let Some((node, _)) = self.stack.last_mut() {
                    node.properties.insert(key, value);
                }
                Ok(())
            }
            (_, Some(_)) => Err(self.err(
                n,
                content_at,
                "expected a `\"key\" = value` line or `}` in a property block",
            )),
            (_, None) => Err(self.err(
                n,
                content_at,
                "expected a `+-o` node line or a `{` property block",
            )),
        }
    }

    fn node_line(&mut self, n: usize, col: usize, rest: &str) -> Result<(), DumpError> {
        let base = *self.base.get_or_insert(col);
        if col < base || !(col - base).is_multiple_of(2) {
            return Err(self.err(
                n,
                col,
                format!(
                    "broken indentation: `+-o` at column {} is not on the two-column grid of the first node (column {})",
                    col + 1,
                    base + 1
                ),
            ));
        }
        let depth = (col - base) / 2;
        if depth > self.stack.len() {
            return Err(self.err(
                n,
                col,
                format!(
                    "broken indentation: this node is {} levels deeper than the node above; a child is one level (two columns) deeper",
                    depth - self.stack.len() + 1
                ),
            ));
        }
        let node = header(rest).map_err(|(at, what)| self.err(n, col + 4 + at, what))?;
        self.close_to(depth);
        self.stack.push((node, col));
        Ok(())
    }

    /// Pop open nodes until `depth` remain, attaching each to its parent.
    fn close_to(&mut self, depth: usize) {
        while self.stack.len() > depth {
            let Some((node, _)) = self.stack.pop() else {
                break;
            };
            match self.stack.last_mut() {
                Some((parent, _)) => parent.children.push(node),
                None => self.roots.push(node),
            }
        }
    }
}

/// `Name@loc  <class C, id 0x.., registered, matched, active, busy 0 (12 ms), retain 20>`.
/// Errors carry the byte offset into `rest`.
fn header(rest: &str) -> Result<RegNode, (usize, String)> {
    let Some(lt) = rest.find("  <class ") else {
        return Err((
            0,
            "expected `Name  <class ...>` after `+-o` (two spaces, then the class)".into(),
        ));
    };
    let full_name = &rest[..lt];
    let attrs_at = lt + 3;
    let Some(inner) = rest[attrs_at..].strip_suffix('>') else {
        return Err((
            rest.len(),
            "unterminated `<class ...`: expected `>` at the end of the node line (record with `ioreg -lw0` so lines are not cut)".into(),
        ));
    };
    let (name, location) = match full_name.rsplit_once('@') {
        Some((n, l)) if !n.is_empty() => (n.to_string(), Some(l.to_string())),
        _ => (full_name.to_string(), None),
    };
    let mut class = None;
    let mut id = None;
    let (mut registered, mut active, mut service) = (false, true, false);
    for field in inner.split(", ") {
        if let Some(c) = field.strip_prefix("class ") {
            class = Some(c);
        } else if let Some(hex) = field.strip_prefix("id 0x") {
            id = u64::from_str_radix(hex, 16).ok();
        } else {
            match field {
                "registered" => (registered, service) = (true, true),
                "!registered" => service = true,
                "inactive" => active = false,
                _ => {}
            }
        }
    }
    let Some(class) = class.filter(|c| !c.is_empty()) else {
        return Err((
            attrs_at,
            "expected `class <name>` first inside `<...>`".into(),
        ));
    };
    let Some(id) = id else {
        return Err((attrs_at, "expected `id 0x<hex>` inside `<...>`".into()));
    };
    // With `-i` the class is printed as its inheritance, base first: `IORegistryEntry:IOService:IOUserService`.
    let (class, class_chain) = match class.rsplit_once(':') {
        Some((_, most_derived)) => (
            most_derived.to_string(),
            class.split(':').rev().map(String::from).collect(),
        ),
        None => (class.to_string(), known_class_chain(class)),
    };
    Ok(RegNode {
        id,
        name,
        location,
        class,
        class_chain,
        registered: service && registered && active,
        properties: BTreeMap::new(),
        children: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Prop;

    const SMALL: &str = "\
+-o Root  <class IORegistryEntry, id 0x100000100, retain 29>
  | {
  |   \"IOKitBuildVersion\" = \"Darwin\"
  | }
  | 
  +-o DS620@01120000  <class IOUSBHostDevice, id 0x100000abc, registered, matched, active, busy 0 (12 ms), retain 20>
  | | {
  | |   \"idVendor\" = 5202
  | | }
  | | 
  | +-o IOUSBHostInterface@0  <class IOUSBHostInterface, id 0x100000abd, registered, matched, active, busy 0 (1 ms), retain 9>
  |     {
  |       \"bInterfaceClass\" = 7
  |     }
  |     
  +-o Other  <class IORegistryEntry:IOService:AppleFoo, id 0x100000200, !registered, !matched, inactive, busy 0, retain 5>
";

    #[test]
    fn builds_the_tree_from_indentation() {
        let t = parse_text(Path::new("s.txt"), SMALL).unwrap();
        assert_eq!(t.roots.len(), 1);
        let root = &t.roots[0];
        assert_eq!(root.children.len(), 2);
        let dev = &root.children[0];
        assert_eq!(
            (dev.name.as_str(), dev.location.as_deref()),
            ("DS620", Some("01120000"))
        );
        assert_eq!(dev.id, 0x100000abc);
        assert!(dev.registered);
        assert_eq!(dev.properties["idVendor"], Prop::Int(5202));
        assert_eq!(dev.children[0].properties["bInterfaceClass"], Prop::Int(7));
        let other = &root.children[1];
        assert_eq!(other.class, "AppleFoo");
        assert_eq!(
            other.class_chain,
            ["AppleFoo", "IOService", "IORegistryEntry"]
        );
        assert!(!other.registered);
    }

    fn error_of(text: &str) -> String {
        parse_text(Path::new("bad.txt"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_child_two_levels_deeper_is_refused_with_its_line() {
        let text = "+-o Root  <class IORegistryEntry, id 0x1, retain 1>\n    +-o X  <class IOService, id 0x2, retain 1>\n";
        let e = error_of(text);
        assert!(e.starts_with("bad.txt:2:5: broken indentation"), "{e}");
    }

    #[test]
    fn a_block_without_a_node_or_never_closed() {
        let e = error_of("{\n  \"a\" = 1\n}\n");
        assert!(
            e.starts_with("bad.txt:1:1: a property block without a node"),
            "{e}"
        );
        let e =
            error_of("+-o R  <class IORegistryEntry, id 0x1, retain 1>\n    {\n      \"a\" = 1\n");
        assert!(e.starts_with("bad.txt:2:5: unterminated `{`"), "{e}");
    }

    #[test]
    fn a_cut_header_line_says_to_use_w0() {
        let e = error_of("+-o DS620@01120000  <class IOUSBHostDevice, id 0x100000abc, regis\n");
        assert!(e.starts_with("bad.txt:1:"), "{e}");
        assert!(e.contains("-lw0"), "{e}");
    }

    #[test]
    fn empty_or_nodeless_text_is_an_error() {
        assert!(error_of("\n\n").contains("no registry entry found"));
    }
}
