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
}

impl SysextList {
    pub fn load(path: &Path) -> Result<SysextList, DoctorError> {
        let text = super::error::read_text(path)?;
        parse(path, &text)
    }

    pub fn drivers(&self) -> impl Iterator<Item = &SysextRow> {
        self.rows.iter().filter(|r| r.category == DRIVER_EXTENSION)
    }
}

/// Parse the whole output; `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<SysextList, DoctorError> {
    let mut rows = Vec::new();
    let mut category: Option<String> = None;
    let mut saw_count = false;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix("--- ") {
            category = Some(c.trim().to_string());
            continue;
        }
        if line.trim_end().ends_with("extension(s)") {
            saw_count = true;
            continue;
        }
        if line.starts_with("enabled") && line.contains("bundleID") {
            continue;
        }
        let Some(cat) = &category else {
            return Err(DoctorError::syntax(
                path,
                line_no,
                Some(1),
                format!(
                    "expected `N extension(s)` or a `--- <category>` line before any row, found `{}`; \
                     attach the whole output of `systemextensionsctl list`",
                    line.trim()
                ),
            ));
        };
        rows.push(row(path, line_no, line, cat)?);
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
    })
}

/// `*\t*\tTEAM\tbundle (version)\tname\t[state]`; the enabled and active columns are `*` or empty.
fn row(path: &Path, line_no: usize, line: &str, category: &str) -> Result<SysextRow, DoctorError> {
    let fields: Vec<&str> = line.split('\t').collect();
    let column_of = |n: usize| {
        Some(
            fields[..n.min(fields.len())]
                .iter()
                .map(|f| f.chars().count() + 1)
                .sum::<usize>()
                + 1,
        )
    };
    if fields.len() < 6 {
        return Err(DoctorError::syntax(
            path,
            line_no,
            Some(1),
            format!(
                "expected 6 tab-separated columns (enabled, active, teamID, bundleID (version), name, [state]), found {}; \
                 copy the output without converting tabs to spaces",
                fields.len()
            ),
        ));
    }
    let star = |f: &str| f.trim() == "*";
    let (bundle_id, version) = match fields[3].trim().split_once(" (") {
        Some((b, v)) if v.ends_with(')') => (b.to_string(), v.trim_end_matches(')').to_string()),
        _ => {
            return Err(DoctorError::syntax(
                path,
                line_no,
                column_of(3),
                format!(
                    "expected `bundleID (version)`, found `{}`",
                    fields[3].trim()
                ),
            ));
        }
    };
    let last = fields[5..].join("\t");
    let state = match (last.find('['), last.rfind(']')) {
        (Some(a), Some(b)) if a < b => last[a + 1..b].trim().to_string(),
        _ => {
            return Err(DoctorError::syntax(
                path,
                line_no,
                column_of(5),
                format!(
                    "expected the state in brackets, like `[activated enabled]`, found `{last}`"
                ),
            ));
        }
    };
    Ok(SysextRow {
        category: category.to_string(),
        enabled: star(fields[0]),
        active: star(fields[1]),
        team_id: fields[2].trim().to_string(),
        bundle_id,
        version,
        name: fields[4].trim().to_string(),
        state,
        line: line_no,
    })
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
    fn a_row_with_spaces_for_tabs_is_placed() {
        let text = "1 extension(s)\n--- com.apple.system_extension.driver_extension\n*  *  ABCDE12345  x (1/1)  X  [activated enabled]\n";
        let e = parse(Path::new("s.txt"), text).unwrap_err().to_string();
        assert!(
            e.starts_with("s.txt:3:1: expected 6 tab-separated columns"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_bundle_column_names_its_column() {
        let text = "--- c\n*\t*\tT\tno-version\tX\t[activated enabled]\n";
        let e = parse(Path::new("s.txt"), text).unwrap_err().to_string();
        assert!(
            e.starts_with("s.txt:2:7: expected `bundleID (version)`"),
            "{e}"
        );
    }
}
