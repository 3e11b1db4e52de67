//! `dexthil selftest`: the first thing to run on a lab Mac. The darwin double runs the macOS backend here on
//! Apple's documented semantics, but IOUSBHostFamily and libdriverkit are closed source; this checks, on the
//! machine it runs on, each assumption the double makes that they could break, prints assumption →
//! observed → verdict, and writes a folder to attach to a bug report.
//!
//! Owns the assumptions, the verdicts and the folder; the observing is a [`SelftestProbe`]'s (the macOS
//! backend's on a Mac, [`ScriptedProbe`] in tests). Knows no IOKit.

pub mod lab_probe;
#[cfg(any(target_os = "macos", feature = "darwin-double"))]
pub mod macos;
mod probe;
mod scripted;
mod verdict;

pub use probe::{
    AsyncRoundTrip, FolderCheck, LogStreamCheck, PrinterSighting, RegisteredPrinter, SelftestProbe,
    check_folders,
};
pub use scripted::{ScriptedFault, ScriptedProbe};
pub use verdict::{CALL_ROUND_TRIP_LIMIT, Finding, Verdict, exit_code, judge, render};

use serde::Serialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
#[error("cannot write the self-test folder {}: {source}; give another with --out", path.display())]
pub struct FolderError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A finished self-test: what it printed, where its folder is, and its exit code (1: an assumption broke).
pub struct SelftestRun {
    pub table: String,
    pub folder: PathBuf,
    pub exit: u8,
}

/// What `selftest` says off a Mac.
pub const NOT_A_MAC: &str = "`dexthil selftest` checks the Mac it runs on: run it on the lab Mac (or in a \
                             build with the darwin double); it has nothing to check here";

/// `target/dexthil/selftest-20261129T202330Z/` for a self-test starting now.
pub fn default_folder() -> PathBuf {
    let stamp = crate::report::utc::compact(std::time::SystemTime::now());
    PathBuf::from("target/dexthil").join(format!("selftest-{stamp}"))
}

#[derive(Serialize)]
struct FolderSummary<'a> {
    machine: &'a str,
    dexthil: &'a str,
    libusb: String,
    findings: &'a [Finding],
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), FolderError> {
    std::fs::write(dir.join(name), text).map_err(|source| FolderError {
        path: dir.join(name),
        source,
    })
}

/// Run every check of `probe`, write the folder `out`, and say what to print and how to exit.
pub fn run(probe: &dyn SelftestProbe, out: &Path) -> Result<SelftestRun, FolderError> {
    let machine = probe.machine();
    let findings = judge(probe);
    let table = render(&machine, &findings);
    std::fs::create_dir_all(out).map_err(|source| FolderError {
        path: out.to_path_buf(),
        source,
    })?;
    write(out, "verdicts.txt", &table)?;
    let v = rusb::version();
    let summary = FolderSummary {
        machine: &machine,
        dexthil: env!("CARGO_PKG_VERSION"),
        libusb: format!("{}.{}.{}", v.major(), v.minor(), v.micro()),
        findings: &findings,
    };
    let json = serde_json::to_string_pretty(&summary)
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    write(out, "verdicts.json", &json)?;
    for (name, text) in probe.attachments() {
        // Only a plain file name: a probe never writes outside the folder.
        let name = Path::new(&name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment.txt".into());
        write(out, &name, &text)?;
    }
    Ok(SelftestRun {
        table,
        folder: out.to_path_buf(),
        exit: exit_code(&findings),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("dexthil-selftest-{name}-{}", std::process::id()))
    }

    #[test]
    fn the_double_s_own_assumptions_all_hold() {
        let findings = judge(&ScriptedProbe { faults: vec![] });
        let broken: Vec<_> = findings
            .iter()
            .filter(|f| f.verdict != Verdict::Holds)
            .map(|f| (f.id, &f.observed))
            .collect();
        assert!(broken.is_empty(), "{broken:?}");
        assert_eq!(exit_code(&findings), 0);
        assert_eq!(findings.len(), 8);
    }

    #[test]
    fn each_fault_breaks_exactly_its_assumption() {
        for (fault, id) in [
            (ScriptedFault::ClassNames, "class-names"),
            (ScriptedFault::PortNumbers, "port-numbers"),
            (ScriptedFault::StringsRefused, "strings-with-dext"),
            (ScriptedFault::NoCompletion, "async-completion"),
            (ScriptedFault::LogStreamRefused, "log-stream"),
            (ScriptedFault::SlowCall, "call-time"),
            (ScriptedFault::CrashFoldersUnreadable, "crash-folders"),
        ] {
            let findings = judge(&ScriptedProbe {
                faults: vec![fault],
            });
            let broken: Vec<_> = findings
                .iter()
                .filter(|f| f.verdict == Verdict::Broken)
                .map(|f| f.id)
                .collect();
            assert_eq!(broken, vec![id], "{fault:?}");
            assert_eq!(exit_code(&findings), 1);
        }
    }

    #[test]
    fn without_the_sample_its_checks_are_not_checked_and_nothing_fails() {
        let findings = judge(&ScriptedProbe {
            faults: vec![ScriptedFault::NoSample],
        });
        let not_checked: Vec<_> = findings
            .iter()
            .filter(|f| matches!(&f.verdict, Verdict::NotChecked(why) if why.contains("sample")))
            .map(|f| f.id)
            .collect();
        assert_eq!(not_checked, vec!["async-completion", "call-time"]);
        assert_eq!(exit_code(&findings), 0);
        let table = render("m", &findings);
        assert!(
            table.contains("→ not checked: Apple's sample is not installed"),
            "{table}"
        );
        assert!(table.contains("6 hold, 0 broken, 2 not checked"), "{table}");
    }

    #[test]
    fn where_the_double_runs_the_mac_only_checks_are_not_checked() {
        // Where the double runs there is no /usr/bin/log and no DiagnosticReports: that is not this machine
        // refusing them.
        let missing = lab_probe::log_stream(
            Path::new("/nonexistent/log"),
            &[],
            std::time::Duration::from_millis(50),
        );
        struct NoLogTool(LogStreamCheck);
        impl SelftestProbe for NoLogTool {
            fn machine(&self) -> String {
                "no log tool".into()
            }
            fn printers(&self) -> Result<Vec<PrinterSighting>, String> {
                Ok(vec![])
            }
            fn registered_printers(&self) -> Result<Vec<RegisteredPrinter>, String> {
                Ok(vec![])
            }
            fn async_round_trip(&self) -> Option<Result<AsyncRoundTrip, String>> {
                None
            }
            fn call_round_trip(&self) -> Option<Result<std::time::Duration, String>> {
                None
            }
            fn log_stream(&self) -> LogStreamCheck {
                self.0.clone()
            }
            fn crash_folders(&self) -> Vec<FolderCheck> {
                check_folders(&[PathBuf::from("/nonexistent/Library/Logs/DiagnosticReports")])
            }
        }
        let findings = judge(&NoLogTool(missing));
        let log = findings.iter().find(|f| f.id == "log-stream").unwrap();
        assert!(matches!(&log.verdict, Verdict::NotChecked(why) if why.contains("no `log` tool")));
        let crash = findings.iter().find(|f| f.id == "crash-folders").unwrap();
        assert!(
            matches!(&crash.verdict, Verdict::NotChecked(why) if why.contains("DiagnosticReports"))
        );
        assert_eq!(exit_code(&findings), 0, "nothing to check is not a failure");
    }

    #[test]
    fn a_refused_read_shows_its_code_in_the_table() {
        let table = render(
            "m",
            &judge(&ScriptedProbe {
                faults: vec![ScriptedFault::StringsRefused],
            }),
        );
        assert!(table.contains("LIBUSB_ERROR_ACCESS -3"), "{table}");
        assert!(table.contains("→ BROKEN"), "{table}");
        assert!(table.contains("7 hold, 1 broken, 0 not checked"), "{table}");
    }

    #[test]
    fn the_folder_holds_the_table_the_json_and_the_attachments() {
        let dir = temp("folder");
        let run = run(&ScriptedProbe { faults: vec![] }, &dir).unwrap();
        assert_eq!(run.exit, 0);
        let table = std::fs::read_to_string(dir.join("verdicts.txt")).unwrap();
        assert_eq!(table, run.table);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("verdicts.json")).unwrap())
                .unwrap();
        assert_eq!(json["findings"].as_array().map(Vec::len), Some(8));
        assert_eq!(json["findings"][0]["verdict"]["verdict"], "holds");
        assert!(dir.join("printers.json").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_default_folder_is_under_target_and_named_for_its_time() {
        let dir = default_folder();
        assert!(dir.starts_with("target/dexthil"), "{}", dir.display());
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        // selftest-20261129T202330Z
        assert!(
            name.starts_with("selftest-20") && name.ends_with('Z') && name.len() == 25,
            "{name}"
        );
    }

    #[test]
    fn an_unwritable_folder_is_a_clear_error() {
        let file = temp("file");
        std::fs::write(&file, "").unwrap();
        let Err(e) = run(&ScriptedProbe { faults: vec![] }, &file.join("sub")) else {
            panic!("a folder under a file cannot be created");
        };
        assert!(e.to_string().contains("give another with --out"), "{e}");
        std::fs::remove_file(&file).unwrap();
    }
}
