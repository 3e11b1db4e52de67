//! The text users paste (`ioreg -l`, `ioreg -lw0`, `-p IOUSB`, `-c`, `-n`, `-r`, `-t`, excerpts and
//! `grep`-filtered output) into a [`DumpTree`].
//!
//! Shape (IOKitTools `ioreg.c`, reference §5): a node line is `+-o Name@loc  <class C, id 0x.., registered,
//! matched, active, busy 0 (12 ms), retain 20>` behind two columns per depth (`| ` or `  `); with `-l` a
//! `{` … `}` block of `"key" = value` lines follows.
//!
//! A paste is read for everything it still holds (issue 17): nesting is taken from the column of each
//! `+-o` (a node is the child of the nearest open node to its left), so an excerpt whose first node is
//! deeper than a later one, or a `-r`/`-c` dump with several tops, reads as a forest; a node line cut at
//! the terminal width keeps what it has (an id is made up when the cut took it); a property whose value
//! never closes is kept as the text that was pasted; property lines without `{ }` (grep) belong to the node
//! above them. Each line skipped, cut or guessed is a warning with its line number in
//! [`DumpTree::warnings`]. Only a paste with no node line and no property at all is refused.

use super::error::DumpError;
use super::text_node::header;
use super::text_value::parse_property_line;
use super::tree::{DumpTree, RegNode, known_class_chain};
use crate::lab::Prop;
use std::collections::BTreeMap;
use std::path::Path;

/// A registry is a few dozen levels deep; the tree is walked and dropped recursively, so a paste nested
/// deeper than this is refused with the line where it passes the limit.
pub const MAX_TREE_DEPTH: usize = 512;

/// Ids given to nodes whose line was cut before `id 0x...`: far above any real registry id.
const MADE_UP_ID_BASE: u64 = 0xFFFF_0000_0000_0000;

/// Parse the text form held in `text`, read from `path`.
pub fn parse_text(path: &Path, text: &str) -> Result<DumpTree, DumpError> {
    let mut b = Builder {
        path,
        stack: Vec::new(),
        roots: Vec::new(),
        block: None,
        warnings: Vec::new(),
        orphans: BTreeMap::new(),
        orphan_lines: Vec::new(),
        made_up: 0,
        seen_node: false,
    };
    for (i, raw) in text.lines().enumerate() {
        b.line(i + 1, raw.trim_end());
        if b.stack.len() > MAX_TREE_DEPTH {
            return Err(DumpError::syntax(
                path,
                i + 1,
                None,
                format!("nested more than {MAX_TREE_DEPTH} levels deep: not an `ioreg -l` dump"),
            ));
        }
    }
    if let Some(open) = b.block {
        b.warn(
            open,
            "the property block opened here has no closing `}` (the paste ends inside it): kept what it has",
        );
    }
    b.close_to(0);
    if b.roots.is_empty() && !b.orphans.is_empty() {
        // grep output of property lines only: one entry holds them, so they can still be looked at.
        let class = b
            .orphans
            .get("IOObjectClass")
            .and_then(Prop::as_str)
            .unwrap_or("IORegistryEntry")
            .to_string();
        b.warnings.push(format!(
            "{}: no `+-o` node line: the {} property line(s) are kept under one made-up entry",
            path.display(),
            b.orphans.len()
        ));
        b.roots.push(RegNode {
            id: MADE_UP_ID_BASE,
            name: "(pasted properties)".into(),
            location: None,
            class_chain: known_class_chain(&class),
            class,
            registered: false,
            properties: std::mem::take(&mut b.orphans),
            children: Vec::new(),
        });
    } else {
        for line in std::mem::take(&mut b.orphan_lines) {
            b.warn(line, "skipped: a property line before the first node line");
        }
    }
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
        warnings: b.warnings,
    })
}

struct Builder<'p> {
    path: &'p Path,
    /// The open nodes, outermost first, with the column of their `+-o`.
    stack: Vec<(RegNode, usize)>,
    roots: Vec<RegNode>,
    /// Line of the open `{`.
    block: Option<usize>,
    warnings: Vec<String>,
    /// Property lines met before any node line.
    orphans: BTreeMap<String, Prop>,
    orphan_lines: Vec<usize>,
    made_up: u64,
    seen_node: bool,
}

impl Builder<'_> {
    fn warn(&mut self, line: usize, what: impl AsRef<str>) {
        self.warnings
            .push(format!("{}:{line}: {}", self.path.display(), what.as_ref()));
    }

    fn line(&mut self, n: usize, line: &str) {
        let content_at = line.find(|c| c != ' ' && c != '|').unwrap_or(line.len());
        let content = &line[content_at..];
        if let Some(rest) = content.strip_prefix("+-o ") {
            if let Some(open) = self.block.take() {
                self.warn(
                    open,
                    format!("the property block opened here has no closing `}}` before the node on line {n}"),
                );
            }
            return self.node_line(n, content_at, rest);
        }
        if content.is_empty() {
            return;
        }
        match content {
            "{" => {
                if self.stack.is_empty() {
                    self.warn(
                        n,
                        "a property block before any node line: its properties are skipped",
                    );
                }
                self.block = Some(n);
                return;
            }
            "}" => {
                self.block = None;
                return;
            }
            _ => {}
        }
        if content.starts_with('"') {
            return self.property_line(n, content_at, content);
        }
        if self.seen_node || self.block.is_some() {
            self.warn(
                n,
                format!(
                    "skipped: expected a `+-o` node line, `{{`, `}}` or a `\"key\" = value` line, found `{}`",
                    clip(content)
                ),
            );
        }
        // Before the first node: a shell prompt or the command line that was pasted with the output.
    }

    fn property_line(&mut self, n: usize, at: usize, content: &str) {
        let (key, value) = match parse_property_line(content, at) {
            Ok(kv) => kv,
            Err(e) => match cut_property(content) {
                Some((key, raw)) => {
                    self.warn(
                        n,
                        format!(
                            "the value of \"{key}\" is cut or malformed (column {}: {}): kept as the text pasted",
                            e.column + 1,
                            e.what
                        ),
                    );
                    (key, Prop::Str(raw))
                }
                None => {
                    self.warn(n, format!("skipped: {} (column {})", e.what, e.column + 1));
                    return;
                }
            },
        };
        match self.stack.last_mut() {
            Some((node, _)) => {
                node.properties.insert(key, value);
            }
            None => {
                self.orphans.insert(key, value);
                self.orphan_lines.push(n);
            }
        }
    }

    fn node_line(&mut self, n: usize, col: usize, rest: &str) {
        self.seen_node = true;
        let (node, cut) = match header(rest) {
            Ok(node) => (node, None),
            Err((_, what)) => match self.salvage(rest) {
                Some(node) => (node, Some(what)),
                None => {
                    self.warn(n, format!("skipped: {what}"));
                    return;
                }
            },
        };
        if let Some(what) = cut {
            self.warn(
                n,
                format!(
                    "the node line is cut ({what}): kept `{}` with what it shows",
                    node.display_name()
                ),
            );
        }
        // The parent is the nearest open node to the left; anything at or right of this column is closed.
        let depth = self.stack.iter().take_while(|(_, c)| *c < col).count();
        if let Some((_, parent_col)) = depth.checked_sub(1).map(|d| &self.stack[d])
            && col > parent_col + 2
        {
            let levels = (col - parent_col) / 2;
            self.warn(
                n,
                format!("this node is {levels} levels below the node above it: the levels between are not in the paste"),
            );
        }
        self.close_to(depth);
        self.stack.push((node, col));
    }

    /// A node line cut before its `>`: keep the name, the class if it shows, and an id (made up if cut).
    fn salvage(&mut self, rest: &str) -> Option<RegNode> {
        let lt = rest.find("  <class ").or_else(|| rest.find("  <"))?;
        let mut fixed = rest.to_string();
        if !fixed.ends_with('>') {
            fixed.push('>');
        }
        if let Ok(node) = header(&fixed) {
            return Some(node);
        }
        let inner = &rest[lt + 3..];
        let class = inner
            .strip_prefix("class ")
            .map(|c| c.split([',', '>']).next().unwrap_or("").trim())
            .filter(|c| !c.is_empty())?;
        self.made_up += 1;
        let id_field = fixed.replace('>', "");
        let with_id = format!("{id_field}, id 0x{:x}>", MADE_UP_ID_BASE + self.made_up);
        header(&with_id).ok().or_else(|| {
            let full_name = &rest[..lt];
            Some(RegNode {
                id: MADE_UP_ID_BASE + self.made_up,
                name: full_name.to_string(),
                location: None,
                class: class.to_string(),
                class_chain: known_class_chain(class),
                registered: false,
                properties: BTreeMap::new(),
                children: Vec::new(),
            })
        })
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

/// `"key" = <whatever is left>` of a line whose value did not parse.
fn cut_property(content: &str) -> Option<(String, String)> {
    let rest = content.strip_prefix('"')?;
    let (key, after) = rest.split_once('"')?;
    let value = after.trim_start().strip_prefix('=')?.trim();
    Some((key.to_string(), value.to_string()))
}

/// The first 60 characters of a line, for a warning.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
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

    fn read(text: &str) -> DumpTree {
        parse_text(Path::new("p.txt"), text).unwrap()
    }

    #[test]
    fn a_child_two_levels_deeper_is_kept_with_a_warning() {
        let t = read(
            "+-o Root  <class IORegistryEntry, id 0x1, retain 1>\n    +-o X  <class IOService, id 0x2, retain 1>\n",
        );
        assert_eq!(t.roots[0].children[0].name, "X");
        assert!(
            t.warnings[0].starts_with("p.txt:2: this node is 2 levels below"),
            "{:?}",
            t.warnings
        );
    }

    #[test]
    fn an_excerpt_whose_first_node_is_deeper_reads_as_a_forest() {
        let t = read(
            "    +-o A  <class IOService, id 0x2, retain 1>\n      +-o B  <class IOService, id 0x3, retain 1>\n  +-o C  <class IOService, id 0x4, retain 1>\n",
        );
        assert_eq!(t.roots.len(), 2);
        assert_eq!(t.roots[0].children[0].name, "B");
        assert_eq!(t.roots[1].name, "C");
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    }

    #[test]
    fn a_cut_value_is_kept_as_text_and_reading_goes_on() {
        let t = read(
            "+-o D  <class IOUSBHostDevice, id 0x2, retain 1>\n  {\n    \"USB Product Name\" = \"DS62\n    \"idVendor\" = 5202\n  }\n",
        );
        let d = &t.roots[0];
        assert_eq!(d.properties["USB Product Name"], Prop::Str("\"DS62".into()));
        assert_eq!(d.properties["idVendor"], Prop::Int(5202));
        assert!(
            t.warnings[0].starts_with("p.txt:3: the value of \"USB Product Name\" is cut"),
            "{:?}",
            t.warnings
        );
    }

    #[test]
    fn grep_filtered_lines_belong_to_the_node_above() {
        let t = read(
            "+-o DS620@01120000  <class IOUSBHostDevice, id 0xabc, registered, matched, active, busy 0 (1 ms), retain 9>\n    \"idVendor\" = 5202\n    \"idProduct\" = 35074\n",
        );
        assert_eq!(t.roots[0].properties["idProduct"], Prop::Int(35074));
        let only_props =
            read("    \"idVendor\" = 5202\n    \"IOObjectClass\" = \"IOUSBHostDevice\"\n");
        assert_eq!(only_props.roots[0].class, "IOUSBHostDevice");
        assert_eq!(only_props.warnings.len(), 1);
        let late =
            read("  \"idVendor\" = 5202\n+-o R  <class IORegistryEntry, id 0x1, retain 1>\n");
        assert_eq!(
            late.warnings,
            ["p.txt:1: skipped: a property line before the first node line"]
        );
    }

    #[test]
    fn a_cut_header_line_keeps_the_node_and_says_to_use_w0_nowhere_else() {
        let t = read("+-o DS620@01120000  <class IOUSBHostDevice, id 0x100000abc, regis\n");
        assert_eq!(t.roots[0].class, "IOUSBHostDevice");
        assert_eq!(t.roots[0].id, 0x100000abc);
        let t = read("+-o DS620@01120000  <class IOUSBHostDev\n");
        assert_eq!(t.roots[0].class, "IOUSBHostDev");
        assert!(t.roots[0].id >= MADE_UP_ID_BASE);
        assert!(
            t.warnings[0].contains("p.txt:1: the node line is cut"),
            "{:?}",
            t.warnings
        );
    }

    #[test]
    fn a_block_never_closed_is_a_warning_and_a_stray_line_is_skipped() {
        let t = read(
            "+-o R  <class IORegistryEntry, id 0x1, retain 1>\n    {\n      \"a\" = 1\n    garbage\n",
        );
        assert_eq!(t.roots[0].properties["a"], Prop::Int(1));
        assert_eq!(t.warnings.len(), 2, "{:?}", t.warnings);
        assert!(
            t.warnings[0].starts_with("p.txt:4: skipped"),
            "{:?}",
            t.warnings
        );
        assert!(
            t.warnings[1].starts_with("p.txt:2: the property block"),
            "{:?}",
            t.warnings
        );
    }

    #[test]
    fn empty_or_nodeless_text_is_an_error() {
        let e = parse_text(Path::new("bad.txt"), "\n\nhello\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no registry entry found"), "{e}");
    }
}
