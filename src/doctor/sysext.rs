//! `systemextensionsctl list` output: which system extensions are installed, in which category, in which
//! state. Doctor reads it for two checks: the dext is `[activated enabled]`, and which other extensions
//! (EndpointSecurity clients above all) are present that can refuse an open.
//!
//! The shape, as macOS prints it (tab-separated rows, shown here with `→` for each tab, under a `--- <category>` line and a column header):
//!
//! ```text
//! 2 extension(s)
//! --- com.apple.system_extension.driver_extension
//! enabled→active→teamID→bundleID (version)→name→[state]
//! *→*→ABCDE12345→com.example.dexthil.DNPPrinterDriver (1.0/1)→DNPPrinterDriver→[activated enabled]
//! ```

use super::error::DoctorError;
use serde::Serialize;
use std::path::Path;

/// The category a dext is listed under.
pub const DRIVER_EXTENSION: &str = "com.apple.system_extension.driver_extension";
/// EndpointSecurity clients: security products that hook MACF, whose denial of an open is
/// kIOReturnNotPermitted (reference §2: `mac_iokit_check_open_service`, `mac_iokit_check_open`).
pub const ENDPOINT_SECURITY: &str = "com.apple.system_extension.endpoint_security";
/// The state of a dext that runs and may match.
pub const ACTIVATED_ENABLED: &str = "activated enabled";

/// One row of the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SysextRow {
    pub category: String,
    pub enabled: bool,
    pub active: bool,
    pub team_id: String,
    pub bundle_id: String,
    /// `1.0/1`: CFBundleShortVersionString / CFBundleVersion.
    pub version: String,
    pub name: String,
    /// Between the brackets: `activated enabled`, `activated waiting for user`, ...
    pub state: String,
    /// 1-based line in the source.
    pub line: usize,
}

impl SysextRow {
    /// `com.example.dexthil.DNPPrinterDriver (1.0/1) [activated enabled]`, for evidence.
    pub fn label(&self) -> String {
        format!("{} ({}) [{}]", self.bundle_id, self.version, self.state)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SysextList {
    /// Where it was read from (a file name, or the command doctor ran).
    pub source: String,
    pub rows: Vec<SysextRow>,
    /// Lines that were not rows, each `file:line: skipped: ...`.
    pub warnings: Vec<String>,
}

impl SysextList {
    pub fn load(path: &Path) -> Result<SysextList, DoctorError> {
        let text = super::error::read_text(path, crate::input::SMALL_TEXT)?;
        parse(path, &text)
    }

    pub fn drivers(&self) -> impl Iterator<Item = &SysextRow> {
        self.rows.iter().filter(|r| r.category == DRIVER_EXTENSION)
    }
}

/// True when `text` reads as `systemextensionsctl list` output (its count line or a category line).
pub fn looks_like(text: &str) -> bool {
    text.lines().take(50).any(|l| {
        let t = l.trim();
        (t.ends_with("extension(s)")
            && t.split_whitespace()
                .next()
                .is_some_and(|n| n.parse::<u32>().is_ok()))
            || t.starts_with("--- com.apple.system_extension.")
    })
}

/// Words of the column header, which may wrap over two lines when pasted from a narrow terminal.
const HEADER_WORDS: &[&str] = &[
    "enabled",
    "active",
    "teamID",
    "bundleID",
    "(version)",
    "name",
    "[state]",
];

fn is_header(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    !words.is_empty() && words.iter().all(|w| HEADER_WORDS.contains(w))
}

/// Parse the whole output; `path` names it in errors. Columns are found by what they hold (a `*`, a team
/// id, `bundle.id (version)`, a name, `[state]`), not by tabs, so pasted text with spaces reads too. A line
/// that is none of these is a warning with its line number; only output with no row and no count line is
/// refused.
pub fn parse(path: &Path, text: &str) -> Result<SysextList, DoctorError> {
    let mut rows = Vec::new();
    let mut warnings = Vec::new();
    let mut category: Option<String> = None;
    let mut saw_count = false;
    // Column (in chars) where the header's `active` starts, to place a lone `*` in space-separated text.
    let mut active_col: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end_matches('\r');
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(c) = t.strip_prefix("--- ") {
            category = Some(c.trim().to_string());
            continue;
        }
        if t.ends_with("extension(s)") {
            saw_count = true;
            continue;
        }
        if is_header(t) {
            if let Some(at) = line.find("active") {
                active_col = Some(line[..at].chars().count());
            }
            continue;
        }
        match row(line, active_col) {
            Some(mut r) => {
                r.line = line_no;
                r.category = category.clone().unwrap_or_else(|| {
                    // Rows without a category line: a dext listing is what doctor is given.
                    DRIVER_EXTENSION.to_string()
                });
                rows.push(r);
            }
            None => warnings.push(format!(
                "{}:{line_no}: skipped: not a row of `systemextensionsctl list` (expected `* * TEAMID bundle.id (version) Name [state]`): `{t}`",
                path.display()
            )),
        }
    }
    if !saw_count && rows.is_empty() {
        return Err(DoctorError::syntax(
            path,
            1,
            None,
            "not `systemextensionsctl list` output: no `N extension(s)` line and no rows",
        ));
    }
    Ok(SysextList {
        source: path.display().to_string(),
        rows,
        warnings,
    })
}

/// One row, by content: the state is the last `[...]`; `bundle.id (version)` is the token before a
/// parenthesised one; the team id is the token before the bundle id unless that is a `*`; stars before it
/// are the enabled and active columns; what follows the version up to the state is the name.
fn row(line: &str, active_col: Option<usize>) -> Option<SysextRow> {
    let open = line.rfind('[')?;
    let close = line.rfind(']').filter(|&c| c > open)?;
    let state = line[open + 1..close].trim().to_string();
    let before = &line[..open];
    let tokens: Vec<(usize, &str)> = tokens_with_columns(before);
    let v = tokens
        .iter()
        .position(|(_, t)| t.starts_with('(') && t.ends_with(')') && t.len() > 2)?;
    if v == 0 {
        return None;
    }
    let bundle_id = tokens[v - 1].1.to_string();
    if !bundle_id.contains('.') {
        return None;
    }
    let version = tokens[v].1[1..tokens[v].1.len() - 1].to_string();
    let (team_id, star_end) = match v.checked_sub(2).map(|i| tokens[i]) {
        Some((_, t)) if t != "*" => (t.to_string(), v - 2),
        _ => (String::new(), v - 1),
    };
    let stars: Vec<usize> = tokens[..star_end]
        .iter()
        .filter(|(_, t)| *t == "*")
        .map(|(c, _)| *c)
        .collect();
    if stars.len() != star_end {
        return None;
    }
    // Tab-separated: the columns are the fields. Spaces: two stars are both; one star is placed by the
    // header's `active` column when the paste kept the header, else it is the first (enabled) column.
    let (enabled, active) = if line.contains('\t') {
        let f: Vec<&str> = line.split('\t').collect();
        (
            f.first().is_some_and(|x| x.trim() == "*"),
            f.get(1).is_some_and(|x| x.trim() == "*"),
        )
    } else {
        match stars.as_slice() {
            [] => (false, false),
            [one] => match active_col {
                Some(a) if *one + 1 >= a => (false, true),
                _ => (true, false),
            },
            _ => (true, true),
        }
    };
    let name = tokens[v + 1..]
        .iter()
        .map(|(_, t)| *t)
        .collect::<Vec<_>>()
        .join(" ");
    Some(SysextRow {
        category: String::new(),
        enabled,
        active,
        team_id,
        bundle_id,
        version,
        name,
        state,
        line: 0,
    })
}

/// Whitespace-separated tokens with the column (in chars, tabs counted as one) where each starts.
fn tokens_with_columns(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    for (col, (i, c)) in s.char_indices().enumerate() {
        match (c.is_whitespace(), start) {
            (true, Some((sc, si))) => {
                out.push((sc, &s[si..i]));
                start = None;
            }
            (false, None) => start = Some((col, i)),
            _ => {}
        }
    }
    if let Some((sc, si)) = start {
        out.push((sc, &s[si..]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "3 extension(s)\n\
        --- com.apple.system_extension.driver_extension\n\
        enabled\tactive\tteamID\tbundleID (version)\tname\t[state]\n\
        *\t*\tABCDE12345\tcom.example.dexthil.DNPPrinterDriver (1.1/2)\tDNPPrinterDriver\t[activated enabled]\n\
        \t\tABCDE12345\tcom.example.dexthil.DNPPrinterDriver (1.0/1)\tDNPPrinterDriver\t[terminated waiting to uninstall on reboot]\n\
        --- com.apple.system_extension.endpoint_security\n\
        enabled\tactive\tteamID\tbundleID (version)\tname\t[state]\n\
        *\t*\tEQHXZ8M8AV\tcom.google.santa.daemon (2024.1/2024.1.123)\tsantad\t[activated enabled]\n";

    #[test]
    fn rows_keep_category_columns_and_state() {
        let l = parse(Path::new("s.txt"), LIST).unwrap();
        assert_eq!(l.rows.len(), 3);
        let old = &l.rows[1];
        assert!(!old.enabled && !old.active);
        assert_eq!(old.state, "terminated waiting to uninstall on reboot");
        assert_eq!(old.version, "1.0/1");
        assert_eq!(l.rows[2].category, ENDPOINT_SECURITY);
        assert_eq!(l.drivers().count(), 2);
    }

    #[test]
    fn spaces_a_wrapped_header_and_a_lone_star_read_by_content() {
        let text = [
            "2 extension(s)",
            "--- com.apple.system_extension.driver_extension",
            "enabled     active      teamID      bundleID (version)          name",
            "[state]",
            "*           *           ABCDE12345  com.example.dexthil.DNPPrinterDriver (1.1/2)  DNPPrinterDriver  [activated enabled]",
            "            *           ABCDE12345  com.example.dexthil.DNPPrinterDriver (1.0/1)  DNPPrinterDriver  [terminated waiting to uninstall on reboot]",
            "this line was pasted by mistake",
        ]
        .join("\n");
        let text = text.as_str();
        let l = parse(Path::new("s.txt"), text).unwrap();
        assert_eq!(l.rows.len(), 2, "{:?}", l.warnings);
        assert!(l.rows[0].enabled && l.rows[0].active);
        assert_eq!(l.rows[0].team_id, "ABCDE12345");
        assert_eq!(l.rows[0].name, "DNPPrinterDriver");
        assert!(!l.rows[1].enabled && l.rows[1].active);
        assert_eq!(l.warnings.len(), 1);
        assert!(
            l.warnings[0].starts_with("s.txt:7: skipped"),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn text_with_no_row_is_refused() {
        let e = parse(Path::new("s.txt"), "hello\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("s.txt:1: not `systemextensionsctl list`"),
            "{e}"
        );
    }
}
