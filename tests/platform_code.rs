//! Platform code lives behind one name, `crate::os` (issue 16): no source file under `src/` outside
//! `src/os/` and the two Apple-only backends (`src/backends/macos/`, `src/backends/darwin_double/`) switches
//! on the platform (`cfg(unix)`, `cfg!(windows)`, `target_os`, ...) or calls `libc` or `std::os` directly.
//! Comments and `#[cfg(test)]` code count too: a line that names one is moved, or reworded.

use std::path::{Path, PathBuf};

/// Where platform code may live, relative to the crate root, with `/` separators.
const ALLOWED: &[&str] = &[
    "src/os/",
    "src/backends/macos/",
    "src/backends/darwin_double/",
];

/// Named wherever they appear on a line.
const NEEDLES: &[(&str, &str)] = &[
    ("libc::", "calls libc"),
    ("target_os", "switches on the OS"),
    ("target_family", "switches on the OS family"),
    ("std::os::", "uses a platform's own std API"),
];

/// The words that make a `cfg(...)`, `cfg!(...)` or `cfg_attr(...)` a platform switch.
const PLATFORM_WORDS: &[&str] = &["unix", "windows"];

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `word` as a whole identifier in `text`.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// The text of the parenthesised group that opens at `text[0]` (`(`), up to its close or the line's end.
fn group(text: &str) -> &str {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..=i];
                }
            }
            _ => {}
        }
    }
    text
}

/// Each platform switch on `line`: its 1-based column and what it does.
fn offences(line: &str) -> Vec<(usize, String)> {
    let column = |byte: usize| line[..byte].chars().count() + 1;
    let mut found = Vec::new();
    for (needle, what) in NEEDLES {
        for (i, _) in line.match_indices(needle) {
            found.push((column(i), format!("`{needle}`: {what}")));
        }
    }
    for (i, _) in line.match_indices("cfg") {
        if line[..i].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = &line[i + 3..];
        let Some(open) = ["(", "!(", "_attr("]
            .iter()
            .find_map(|form| rest.starts_with(form).then(|| form.len() - 1))
        else {
            continue;
        };
        let args = group(&rest[open..]);
        if PLATFORM_WORDS.iter().any(|w| has_word(args, w)) {
            let form = &line[i..i + 3 + open];
            found.push((
                column(i),
                format!("`{form}{args}`: switches on the platform"),
            ));
        }
    }
    found.sort();
    found
}

/// Every `.rs` file under `dir`, sorted; an unreadable folder fails the test rather than be skipped.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The files under `root/src` that were checked (relative, `/` separators), and each offence as
/// `path:line:column: what`.
fn scan(root: &Path) -> (Vec<String>, Vec<String>) {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut checked = Vec::new();
    let mut report = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if ALLOWED.iter().any(|dir| rel.starts_with(dir)) {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        for (n, line) in text.lines().enumerate() {
            for (col, what) in offences(line) {
                report.push(format!("{rel}:{}:{col}: {what}", n + 1));
            }
        }
        checked.push(rel);
    }
    (checked, report)
}

#[test]
fn platform_code_lives_in_os() {
    let (checked, report) = scan(Path::new(env!("CARGO_MANIFEST_DIR")));
    // A walk that found nothing, or missed the files that once held platform code, proves nothing.
    for must in [
        "src/lib.rs",
        "src/input.rs",
        "src/runner/isolate.rs",
        "src/backends/mod.rs",
    ] {
        assert!(
            checked.iter().any(|c| c == must),
            "{must} was not checked: the walk of src/ is broken ({} files checked)",
            checked.len()
        );
    }
    assert!(
        report.is_empty(),
        "platform code outside src/os/ and the Apple-only backends; move it behind `crate::os` (a function \
         with the same signature on every platform):\n{}",
        report.join("\n")
    );
}

#[test]
fn every_form_of_a_platform_switch_is_seen() {
    let seen = |line: &str| {
        offences(line)
            .into_iter()
            .map(|(col, _)| col)
            .collect::<Vec<_>>()
    };
    assert_eq!(seen("    #[cfg(unix)]"), [7]);
    assert_eq!(seen("#[cfg(not(unix))]"), [3]);
    assert_eq!(seen("#[cfg(windows)] fn f() {}"), [3]);
    assert_eq!(seen("let n = if cfg!(windows) { 1 } else { 2 };"), [12]);
    assert_eq!(seen("#[cfg_attr(not(unix), ignore)]"), [3]);
    assert_eq!(seen("#[cfg(any(unix, feature = \"x\"))]"), [3]);
    // One cfg naming target_os: the needle and nothing twice from the cfg (no `unix` word in it).
    assert_eq!(seen("#[cfg(target_os = \"macos\")]"), [7]);
    assert_eq!(seen("if cfg!(target_os = \"linux\") {"), [9]);
    assert_eq!(
        seen("    unsafe { libc::kill(pid, libc::SIGTERM) };"),
        [14, 30]
    );
    assert_eq!(seen("use std::os::unix::fs::FileTypeExt;"), [5]);
    // Not platform switches: a slice's windows, feature and test gates, words that merely contain `unix`.
    assert!(seen("bytes.windows(4).any(|w| w == b\"IOKi\")").is_empty());
    assert!(seen("#[cfg(feature = \"darwin-double\")]").is_empty());
    assert!(seen("#[cfg(all(test, not(miri)))]").is_empty());
    assert!(seen("pub recorded_at_unix: u64, // cfg(unixish)").is_empty());
    assert!(seen("fn mycfg(windows: u8) {}").is_empty());
}

#[test]
fn an_offence_is_named_by_file_line_and_column_and_the_allowed_folders_are_not_checked() {
    let root = std::env::temp_dir().join(format!("dexthil-platform-code-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["src/runner", "src/os", "src/backends/macos"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let platform = "#[cfg(unix)]\nfn f() { unsafe { libc::getpid() }; }\n";
    std::fs::write(root.join("src/lib.rs"), "pub mod runner;\n").unwrap();
    std::fs::write(
        root.join("src/runner/isolate.rs"),
        format!("// ok\n{platform}"),
    )
    .unwrap();
    std::fs::write(root.join("src/os/unix.rs"), platform).unwrap();
    std::fs::write(root.join("src/backends/macos/sys.rs"), platform).unwrap();
    let (checked, report) = scan(&root);
    let _ = std::fs::remove_dir_all(&root);
    assert_eq!(checked, ["src/lib.rs", "src/runner/isolate.rs"]);
    assert_eq!(
        report,
        [
            "src/runner/isolate.rs:2:3: `cfg(unix)`: switches on the platform",
            "src/runner/isolate.rs:3:19: `libc::`: calls libc",
        ]
    );
}
