//! A finding as a ready-to-run scenario: the minimal case's operations as steps, the call that broke an
//! invariant expecting what it should have answered, so `dexthil run FILE` fails the same way (exit 1).
//! The driver file is named by a path relative to where the scenario is written. A planted bug lives in
//! the driver file's `sim:` behaviours, so the sim reproduces it with no `sim:` block of its own.

use super::case::{FuzzOp, allowed, hex_of};
use super::runner::Found;
use crate::driver::Driver;
use crate::report::human_duration;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("cannot write the scenario {}: {source}; pass --out with a writable directory", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// What the scenario needs besides the case.
pub struct ScenarioSpec<'a> {
    pub driver: &'a Driver,
    /// The driver file, as the fuzzer loaded it.
    pub driver_file: &'a Path,
    pub seed: u64,
    /// The catalog model of the printer fuzzed, if any.
    pub printer_model: Option<&'a str>,
    pub within: Duration,
}

/// `to` relative to the directory `from` (both made absolute first).
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (from, to) = (abs(from), abs(to));
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c);
    }
    out
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The codes by name (hex only for a code without one), as a scenario's `expect: return:` reads them.
fn codes(list: &[crate::ioreturn::ReturnCode]) -> String {
    let names: Vec<String> = list.iter().map(|c| c.name()).collect();
    format!("[{}]", names.join(", "))
}

/// Lowercase letters and digits, every other run of characters one `-`, at most `max` characters.
fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out: String = out.trim_end_matches('-').chars().take(max).collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The scenario's file name (without directory), from the driver and the finding's signature (selector,
/// shape, answer by name): `fuzz-planted-bugs-crashon4097-valid-the-dext-crashed`. The same bug found again
/// by a later run replaces its file instead of adding another.
pub fn file_name(spec: &ScenarioSpec, found: &Found) -> String {
    let stem = spec
        .driver_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "driver".into());
    format!(
        "fuzz-{}-{}",
        slug(&stem, 40),
        slug(&found.finding.signature, 100)
    )
}

/// The scenario text, naming the driver file as `driver_path`.
pub fn scenario_text(spec: &ScenarioSpec, found: &Found, driver_path: &str) -> String {
    let f = &found.finding;
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Found by `dexthil fuzz --seed {}`: case {}, shrunk from {} to {} operations.",
        spec.seed,
        found.case,
        found.first_ops.len(),
        found.ops.len()
    );
    let _ = writeln!(y, "# expected: {}", f.expected);
    let _ = writeln!(y, "# actual:   {}", f.actual);
    let _ = writeln!(y, "name: {}", file_name(spec, found));
    let _ = writeln!(y, "about: {}", quoted(&f.message));
    let _ = writeln!(y, "tags: [fuzz]");
    let _ = writeln!(y, "driver: {}", quoted(driver_path));
    let role = spec.printer_model.map(|m| {
        let _ = writeln!(y, "printers:\n  p: {{ model: {m} }}");
        "p"
    });
    let printer = role.map(|r| format!("printer: {r}, ")).unwrap_or_default();
    let within = human_duration(spec.within);
    let _ = writeln!(y, "steps:");
    let _ = writeln!(y, "  - await: {{ {printer}state: matched }}");
    let open_type = spec.driver.open_types.first().copied().unwrap_or(0);
    for (i, op) in found.ops.iter().enumerate().take(f.step as usize + 1) {
        let failing = i == f.step as usize;
        match op {
            FuzzOp::Open => {
                let _ = writeln!(y, "  - open: {{ {printer}type: {open_type}, as: uc }}");
            }
            FuzzOp::Close if failing => {
                let _ = writeln!(y, "  - close: uc   # {}", f.message);
                let _ = writeln!(
                    y,
                    "  # a scenario cannot count open user clients: `dexthil fuzz` sees this one"
                );
            }
            FuzzOp::Close => {
                let _ = writeln!(y, "  - close: uc");
            }
            FuzzOp::Replug => {
                let r = role.unwrap_or("p");
                let _ = writeln!(
                    y,
                    "  - replug: {r}\n  - await: {{ printer: {r}, state: matched }}"
                );
            }
            FuzzOp::Await => {
                let _ = writeln!(y, "  - await: {{ {printer}state: matched }}");
            }
            FuzzOp::CallClosed(c) => {
                let _ = writeln!(
                    y,
                    "  # {} (a scenario cannot call a closed connection)",
                    op.describe(spec.driver)
                );
                let _ = c;
            }
            FuzzOp::Call(c) => {
                let want = allowed(spec.driver, &c.args());
                let _ = writeln!(y, "  - call:   # {}", c.describe(spec.driver));
                let selector = match spec.driver.selector(c.selector) {
                    Some(s) => quoted(&s.name),
                    None => c.selector.to_string(),
                };
                let _ = writeln!(y, "      on: uc\n      selector: {selector}");
                if !c.scalars.is_empty() {
                    let s: Vec<String> = c.scalars.iter().map(|v| format!("0x{v:X}")).collect();
                    let _ = writeln!(y, "      scalars: [{}]", s.join(", "));
                }
                if c.struct_len > 0 {
                    let pattern = if c.pattern.is_empty() {
                        "00".to_string()
                    } else {
                        hex_of(&c.pattern)
                    };
                    let _ = writeln!(
                        y,
                        "      struct: {{ repeat: \"{pattern}\", len: {} }}",
                        c.struct_len
                    );
                }
                let _ = writeln!(
                    y,
                    "      scalars_out: {}\n      struct_out: {}\n      completion: {}",
                    c.scalars_out, c.struct_out, c.completion
                );
                let _ = writeln!(
                    y,
                    "      within: {within}\n      expect:\n        return: {}",
                    codes(&want.codes)
                );
            }
        }
    }
    y
}

/// Write the scenario for `found` into `dir` (created if missing); returns its path.
pub fn write_scenario(
    spec: &ScenarioSpec,
    found: &Found,
    dir: &Path,
) -> Result<PathBuf, WriteError> {
    let path = dir.join(format!("{}.yaml", file_name(spec, found)));
    let err = |source| WriteError {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let driver_path = relative(dir, spec.driver_file);
    let text = scenario_text(spec, found, &driver_path.to_string_lossy());
    std::fs::write(&path, text).map_err(err)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_path_is_relative_to_the_scenario() {
        let from = Path::new("/a/b/field-bugs");
        assert_eq!(
            relative(from, Path::new("/a/drivers/x.yaml")),
            PathBuf::from("../../drivers/x.yaml")
        );
        assert_eq!(
            relative(Path::new("/a"), Path::new("/a/x.yaml")),
            PathBuf::from("x.yaml")
        );
    }
}
