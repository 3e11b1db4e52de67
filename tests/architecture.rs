//! No import cycles between the crate's top-level modules (issue 16).
//!
//! Reads every `.rs` file under `src/`, maps it to its top-level module (`src/engine/run.rs` → `engine`,
//! `src/span.rs` → `span`), and collects what it names of other top-level modules: `crate::x` and
//! `$crate::x` paths (in `use` items and anywhere else, `crate::{x, y}` groups included) and `super::`
//! chains that climb out of the top-level module. Comments, doc comments (their intra-doc links included)
//! and string literals name nothing. A `crate::m!` macro path counts as its defining module's.
//!
//! The layers this keeps (README "Layout", `src/lib.rs`): span, names, input, ioreturn, logs at the bottom;
//! lab (traits and views), printer, usb, driver, dispatch, crosscheck, scenario; backends; report (events);
//! ops; fuzz; engine; station, selftest, record; os; runner, doctor, inspect on top.
//!
//! `testkit` (`#[cfg(test)]` helpers) is a leaf: it may use anything, and only tests use it, so its own
//! edges are left out (the check that `lib.rs` declares it under `#[cfg(test)]` is below).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// Edges kept on purpose, each with why. Every entry must still be in the code (a stale one fails).
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "backends",
        "os",
        "os is the one place cfg(target_os) lives (DESIGN.md): it registers each platform's backends, which `backends::factory` and `LabChoice::default_here` hand out",
    ),
    (
        "record",
        "os",
        "os is the one place cfg(target_os) lives (DESIGN.md): it registers each platform's live recorder, which `record::record_live` hands out",
    ),
];

/// `testkit` is test-only scaffolding above every layer; its own references are not layering.
const TEST_LEAF: &str = "testkit";

/// Where an edge was first seen.
#[derive(Clone, Debug, PartialEq, Eq)]
struct At {
    file: String,
    line: usize,
}

type Graph = BTreeMap<String, BTreeMap<String, At>>;

#[test]
fn no_import_cycles_between_top_level_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = top_level_modules(&src);
    assert!(
        modules.len() > 10,
        "found only {modules:?} under {}: the scan is broken",
        src.display()
    );
    let files = rust_files(&src);
    let mut macros = BTreeMap::new();
    let mut texts = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let rel = path.strip_prefix(&src).unwrap().to_path_buf();
        let Some(module_path) = module_path(&rel) else {
            continue; // lib.rs and main.rs are the crate roots, not a module
        };
        let code = strip(&text);
        for name in exported_macros(&code) {
            macros.insert(name, module_path[0].clone());
        }
        texts.push((rel, module_path, code));
    }
    let mut graph = Graph::new();
    for (rel, module_path, code) in &texts {
        let from = &module_path[0];
        if from == TEST_LEAF {
            continue;
        }
        for (line, name) in references(code, module_path.len()) {
            let to = match macros.get(&name) {
                Some(m) => m.clone(),
                None if modules.contains(&name) => name,
                None => continue, // an item of the crate root, not a module
            };
            if &to != from {
                graph
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| At {
                        file: format!("src/{}", rel.display()),
                        line,
                    });
            }
        }
    }
    let edges: usize = graph.values().map(BTreeMap::len).sum();
    assert!(edges > 20, "only {edges} edges: the scan is broken");

    let mut stale = Vec::new();
    for (from, to, _why) in ALLOWED {
        if graph.get_mut(*from).and_then(|t| t.remove(*to)).is_none() {
            stale.push(format!("{from} -> {to}"));
        }
    }
    assert!(
        stale.is_empty(),
        "allowed edges no longer in src/ (drop them from ALLOWED in tests/architecture.rs): {}",
        stale.join(", ")
    );

    let cycles = cycles(&graph);
    assert!(
        cycles.is_empty(),
        "{} import cycle(s) between top-level modules of src/; move the item to the lower module (or \
         the test helper to src/testkit/) so each runs one way:\n\n{}",
        cycles.len(),
        cycles
            .iter()
            .map(|c| describe(&graph, c))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn testkit_is_test_only() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("src/lib.rs reads");
    let lines: Vec<&str> = lib.lines().map(str::trim).collect();
    let at = lines
        .iter()
        .position(|l| l.ends_with("mod testkit;"))
        .expect("src/lib.rs declares `mod testkit;`");
    assert!(
        at > 0 && lines[at - 1] == "#[cfg(test)]" && !lines[at].starts_with("pub mod"),
        "src/lib.rs:{}: testkit may use any module only because nothing but tests uses it: declare it \
         `#[cfg(test)] pub(crate) mod testkit;`",
        at + 1
    );
}

/// `a -> b -> a` and one `file:line` per edge.
fn describe(graph: &Graph, cycle: &[String]) -> String {
    let mut out = format!("{} -> {}\n", cycle.join(" -> "), cycle[0]);
    for (i, from) in cycle.iter().enumerate() {
        let to = &cycle[(i + 1) % cycle.len()];
        let at = &graph[from][to];
        out.push_str(&format!("    {from} -> {to}: {}:{}\n", at.file, at.line));
    }
    out
}

/// The cycles of `graph`: for every edge that closes one, the shortest such cycle, each once (rotated to
/// start at its smallest module).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let mut found = BTreeSet::new();
    for (from, targets) in graph {
        for to in targets.keys() {
            if let Some(mut path) = shortest_path(graph, to, from) {
                // path runs to .. from; the edge from -> to closes it.
                let start = (0..path.len()).min_by_key(|&i| &path[i]).unwrap();
                path.rotate_left(start);
                found.insert(path);
            }
        }
    }
    found.into_iter().collect()
}

/// The modules on a shortest path `from` .. `to` (both included), if there is one.
fn shortest_path(graph: &Graph, from: &str, to: &str) -> Option<Vec<String>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([from]);
    let mut seen = BTreeSet::from([from]);
    while let Some(at) = queue.pop_front() {
        if at == to {
            let mut path = vec![to.to_string()];
            let mut cur = to;
            while cur != from {
                cur = came_from[cur];
                path.push(cur.to_string());
            }
            path.reverse();
            return Some(path);
        }
        for next in graph.get(at).into_iter().flat_map(BTreeMap::keys) {
            if seen.insert(next.as_str()) {
                came_from.insert(next.as_str(), at);
                queue.push_back(next.as_str());
            }
        }
    }
    None
}

/// `engine` for `src/engine/`, `span` for `src/span.rs`.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(src).expect("src/ lists") {
        let path = entry.expect("src/ entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            out.insert(name);
        } else if let Some(stem) = name.strip_suffix(".rs")
            && stem != "lib"
            && stem != "main"
        {
            out.insert(stem.to_string());
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The module path of a file under `src/`: `engine/run.rs` → `[engine, run]`, `engine/mod.rs` →
/// `[engine]`; `None` for the crate roots.
fn module_path(rel: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if parts.is_empty() && (stem == "lib" || stem == "main") {
        return None;
    }
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    Some(parts)
}

/// `code` with comments (doc comments too), string and char literals blanked out; newlines kept, so lines
/// still count.
fn strip(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, s: &[char]| {
        out.extend(s.iter().map(|&ch| if ch == '\n' { '\n' } else { ' ' }))
    };
    let mut i = 0;
    while i < c.len() {
        let rest = &c[i..];
        if rest.starts_with(&['/', '/']) {
            let end = rest.iter().position(|&ch| ch == '\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(&['/', '*']) {
            let (mut depth, mut j) = (0, 0);
            while j < rest.len() {
                if rest[j..].starts_with(&['/', '*']) {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(&['*', '/']) {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j.min(rest.len())]);
            i += j.min(rest.len());
        } else if let Some(len) = raw_string_len(&c, i, ident) {
            blank(&mut out, &c[i..i + len]);
            i += len;
        } else if c[i] == '"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != '"' {
                j += if rest[j] == '\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if c[i] == '\'' && rest.get(1) == Some(&'\\') {
            let end = rest[2..]
                .iter()
                .position(|&ch| ch == '\'')
                .map_or(rest.len(), |p| p + 3);
            blank(&mut out, &rest[..end]);
            i += end;
        } else if c[i] == '\'' && rest.get(2) == Some(&'\'') {
            blank(&mut out, &rest[..3]);
            i += 3;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// The length of the raw string literal (`r"…"`, `r#"…"#`, `br"…"`) starting at `i`, if one does.
fn raw_string_len(c: &[char], i: usize, ident: impl Fn(char) -> bool) -> Option<usize> {
    let start_ok = |at: usize| at == 0 || !ident(c[at - 1]);
    let r = if c[i] == 'r' && start_ok(i) {
        i
    } else if c[i] == 'b' && c.get(i + 1) == Some(&'r') && start_ok(i) {
        i + 1
    } else {
        return None;
    };
    let hashes = c[r + 1..].iter().take_while(|&&ch| ch == '#').count();
    if c.get(r + 1 + hashes) != Some(&'"') {
        return None;
    }
    let body = r + 2 + hashes;
    let mut j = body;
    while j < c.len() {
        if c[j] == '"'
            && c[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&ch| ch == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes - i);
        }
        j += 1;
    }
    Some(c.len() - i)
}

/// Names of `#[macro_export]` macros defined in `code` (they live at the crate root as `crate::name!`).
fn exported_macros(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[macro_export]") {
        rest = &rest[at + "#[macro_export]".len()..];
        if let Some(m) = rest.find("macro_rules!") {
            let name: String = rest[m + "macro_rules!".len()..]
                .trim_start()
                .chars()
                .take_while(|&ch| ch.is_alphanumeric() || ch == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

/// The top-level names `code` refers to, with their lines: `crate::x`, `$crate::x`, `crate::{x, y::z}`, and
/// `super::…::x` where the supers climb out of the top-level module. `depth` is the file's module depth
/// (1 for `src/span.rs` or `src/engine/mod.rs`); inline `mod m { … }` blocks add to it.
fn references(code: &str, depth: usize) -> Vec<(usize, String)> {
    let tokens = tokenize(code);
    let mut out = Vec::new();
    // The brace depth at which each inline module opened.
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let (line, tok) = (tokens[i].0, tokens[i].1.as_str());
        let next = |k: usize| tokens.get(i + k).map(|t| t.1.as_str());
        match tok {
            "{" => braces += 1,
            "}" => {
                braces = braces.saturating_sub(1);
                if inline_mods.last() == Some(&braces) {
                    inline_mods.pop();
                }
            }
            "mod" if next(2) == Some("{") => inline_mods.push(braces),
            "crate" if next(1) == Some("::") => {
                if next(2) == Some("{") {
                    out.extend(group_heads(&tokens[i + 3..]));
                } else if let Some(name) = next(2) {
                    out.push((line, name.to_string()));
                }
            }
            "super" if i == 0 || tokens[i - 1].1 != "::" => {
                let mut supers = 0;
                let mut j = i;
                while tokens.get(j).map(|t| t.1.as_str()) == Some("super")
                    && tokens.get(j + 1).map(|t| t.1.as_str()) == Some("::")
                {
                    supers += 1;
                    j += 2;
                }
                if supers == depth + inline_mods.len() {
                    match tokens.get(j).map(|t| t.1.as_str()) {
                        Some("{") => out.extend(group_heads(&tokens[j + 1..])),
                        Some(name) => out.push((line, name.to_string())),
                        None => {}
                    }
                }
                i = j.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The first name of each path in a `{ a, b::c, d::{e} }` group (`tokens` starts after the `{`).
fn group_heads(tokens: &[(usize, String)]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    for (line, tok) in tokens {
        match tok.as_str() {
            "{" => depth += 1,
            "}" if depth == 0 => break,
            "}" => depth -= 1,
            "," if depth == 0 => expect_head = true,
            t if expect_head
                && depth == 0
                && t.chars().all(|ch| ch.is_alphanumeric() || ch == '_') =>
            {
                if t != "self" {
                    out.push((*line, t.to_string()));
                }
                expect_head = false;
            }
            _ => {}
        }
    }
    out
}

/// Identifiers, `::`, and single punctuation, each with its line; `$` is dropped (so `$crate` is `crate`).
fn tokenize(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = code.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '\n' {
            line += 1;
        } else if ch.is_alphanumeric() || ch == '_' {
            let mut word = ch.to_string();
            while let Some(&n) = chars.peek() {
                if !(n.is_alphanumeric() || n == '_') {
                    break;
                }
                word.push(n);
                chars.next();
            }
            out.push((line, word));
        } else if ch == ':' && chars.peek() == Some(&':') {
            chars.next();
            out.push((line, "::".into()));
        } else if !ch.is_whitespace() && ch != '$' {
            out.push((line, ch.to_string()));
        }
    }
    out
}

mod checker {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> Graph {
        let mut g = Graph::new();
        for (i, (from, to)) in edges.iter().enumerate() {
            g.entry(from.to_string()).or_default().insert(
                to.to_string(),
                At {
                    file: format!("src/{from}.rs"),
                    line: i + 1,
                },
            );
        }
        g
    }

    #[test]
    fn the_cycle_finder_finds_a_cycle_in_a_made_up_graph() {
        let g = graph(&[
            ("scenario", "lab"),
            ("engine", "fuzz"),
            ("fuzz", "runner"),
            ("runner", "engine"),
            ("runner", "scenario"),
        ]);
        let found = cycles(&g);
        assert_eq!(found, vec![vec!["engine", "fuzz", "runner"]]);
        assert_eq!(
            describe(&g, &found[0]),
            "engine -> fuzz -> runner -> engine\n    engine -> fuzz: src/engine.rs:2\n    fuzz -> \
             runner: src/fuzz.rs:3\n    runner -> engine: src/runner.rs:4\n"
        );
    }

    #[test]
    fn two_modules_naming_each_other_are_a_cycle_and_a_layered_graph_is_not() {
        let g = graph(&[("ops", "engine"), ("engine", "ops"), ("engine", "lab")]);
        assert_eq!(cycles(&g), vec![vec!["engine", "ops"]]);
        let g = graph(&[("engine", "ops"), ("ops", "lab"), ("engine", "lab")]);
        assert!(cycles(&g).is_empty());
    }

    #[test]
    fn references_skip_comments_doc_links_and_strings() {
        let code = strip(
            "//! Uses [`crate::engine`].\n\
             /// See [`crate::fuzz::cli`]. /* crate::report */\n\
             use crate::lab::Lab;\n\
             let s = \"crate::runner\"; let r = r#\"crate::os\"#; let c = '\"'; let l: &'a str;\n\
             use crate::{scenario::Step, self, usb};\n\
             $crate::printer::x();\n",
        );
        let names: Vec<(usize, String)> = references(&code, 2);
        let names: Vec<(usize, &str)> = names.iter().map(|(l, n)| (*l, n.as_str())).collect();
        assert_eq!(
            names,
            vec![(3, "lab"), (5, "scenario"), (5, "usb"), (6, "printer")]
        );
    }

    #[test]
    fn supers_count_only_when_they_climb_out_of_the_top_level_module() {
        // src/engine/run.rs is depth 2: `super::x` is engine::x, `super::super::x` is crate::x.
        let code = strip(
            "use super::steps;\nuse super::super::report;\nmod tests {\n    use super::super::expect;\n    \
             use super::super::super::{ops, lab::Lab};\n}\nuse super::super::fuzz;\n",
        );
        let names: Vec<(usize, String)> = references(&code, 2);
        let names: Vec<(usize, &str)> = names.iter().map(|(l, n)| (*l, n.as_str())).collect();
        assert_eq!(
            names,
            vec![(2, "report"), (5, "ops"), (5, "lab"), (7, "fuzz")]
        );
    }

    #[test]
    fn files_map_to_their_top_level_module() {
        assert_eq!(
            module_path(Path::new("engine/run.rs")),
            Some(vec!["engine".into(), "run".into()])
        );
        assert_eq!(
            module_path(Path::new("engine/mod.rs")),
            Some(vec!["engine".into()])
        );
        assert_eq!(module_path(Path::new("span.rs")), Some(vec!["span".into()]));
        assert_eq!(module_path(Path::new("lib.rs")), None);
    }
}
