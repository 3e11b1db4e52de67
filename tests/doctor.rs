//! `dexthil doctor` as a user meets it: the seed's four field cases from the files a bug report attaches
//! (tests/fixtures/doctor/<case>/), each with its cause named first, through the binary and the library;
//! runs with missing inputs that say what they could not check; and bad input that exits 2 with a place.

use dexthil::doctor::{self, CauseKind, Files, Inputs, Status};
use std::path::{Path, PathBuf};
use std::process::Command;

const CASES: &str = "tests/fixtures/doctor";

fn dexthil(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dexthil"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the dexthil binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn file(case: &str, name: &str) -> String {
    format!("{CASES}/{case}/{name}")
}

fn matching(case: &str) -> String {
    let json = file(case, "matching.json");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if root.join(&json).is_file() {
        json
    } else {
        file(case, "matching.plist")
    }
}

fn code(case: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(file(case, "code.txt")))
        .unwrap()
        .trim()
        .to_string()
}

/// Every file of a case, as a bug report attaches them.
fn case_args(case: &str) -> Vec<String> {
    [
        ("--ioreg", file(case, "ioreg.txt")),
        ("--matching", matching(case)),
        ("--host-entitlements", file(case, "host-entitlements.xml")),
        ("--dext-entitlements", file(case, "dext-entitlements.xml")),
        ("--sysext", file(case, "sysext.txt")),
        ("--log", file(case, "log.txt")),
        ("--code", code(case)),
    ]
    .into_iter()
    .flat_map(|(f, v)| [f.to_string(), v])
    .collect()
}

fn run_case(case: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["doctor".to_string()];
    args.extend(case_args(case));
    args.extend(extra.iter().map(|s| s.to_string()));
    dexthil(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The first cause under "most likely cause first:".
fn first_cause(out: &str) -> &str {
    let rest = &out[out.find("most likely cause first:").expect("a ranking")..];
    rest.lines().nth(1).unwrap_or("")
}

fn library_report(case: &str) -> doctor::Report {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let p = |s: String| Some(root.join(s));
    let files = Files {
        ioreg: p(file(case, "ioreg.txt")),
        matching: p(matching(case)),
        host_entitlements: p(file(case, "host-entitlements.xml")),
        dext_entitlements: p(file(case, "dext-entitlements.xml")),
        sysext: p(file(case, "sysext.txt")),
        log: p(file(case, "log.txt")),
        code: Some(code(case)),
        bundle_id: None,
    };
    doctor::diagnose(&Inputs::load(&files).expect("the case's files load"))
}

#[test]
fn a_host_that_opened_the_user_server_is_told_so_first() {
    let (exit, out, err) = run_case("a-opened-user-server", &[]);
    assert_eq!(exit, 1, "{out}{err}");
    let first = first_cause(&out);
    assert!(
        first.contains("not the dext's service") && first.contains("confirmed"),
        "{out}"
    );
    assert!(
        out.contains(
            "[FAIL] the object the host's matching selects: the first match is IOUserServer("
        ),
        "{out}"
    );
    assert!(
        out.contains("failing code: kIOReturnError (0xE00002BC)"),
        "{out}"
    );
    // The entitlements are right: that cause must not be offered here.
    assert!(out.contains("[pass] the host may open the dext"), "{out}");
    let r = library_report("a-opened-user-server");
    assert_eq!(r.causes[0].kind, CauseKind::WrongObject);
    assert_eq!(r.check("host-matching").unwrap().status, Status::Fail);
}

#[test]
fn a_newline_joined_userclient_access_is_called_out_by_name() {
    let (exit, out, _) = run_case("b-userclient-access-string", &[]);
    assert_eq!(exit, 1, "{out}");
    assert!(
        first_cause(&out).contains("one newline-joined string"),
        "{out}"
    );
    assert_eq!(
        library_report("b-userclient-access-string").causes[0].kind,
        CauseKind::UserClientAccessString
    );
}

#[test]
fn allow_any_on_the_host_only_is_called_useless_first() {
    let (exit, out, _) = run_case("c-allow-any-on-host", &[]);
    assert_eq!(exit, 1, "{out}");
    assert!(
        first_cause(&out)
            .contains("allow-any-userclient-access is on the host, where it has no effect"),
        "{out}"
    );
    assert!(out.contains("[WARN] the host's sandbox"), "{out}");
    assert_eq!(
        library_report("c-allow-any-on-host").causes[0].kind,
        CauseKind::AllowAnyOnHostOnly
    );
}

#[test]
fn missing_user_client_properties_is_named_first() {
    let (exit, out, _) = run_case("d-no-user-client-properties", &[]);
    assert_eq!(exit, 1, "{out}");
    assert!(
        first_cause(&out).contains("UserClientProperties is missing"),
        "{out}"
    );
    assert_eq!(
        library_report("d-no-user-client-properties").causes[0].kind,
        CauseKind::UserClientProperties
    );
}

#[test]
fn json_carries_the_same_ranking_and_statuses() {
    let (exit, out, _) = run_case("a-opened-user-server", &["--json"]);
    assert_eq!(exit, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["causes"][0]["kind"], "wrong_object");
    assert_eq!(v["code"]["name"], "kIOReturnError");
    let matching = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "host-matching")
        .unwrap();
    assert_eq!(matching["status"], "fail");
}

#[test]
fn no_inputs_at_all_skips_every_check_and_names_the_flags() {
    // With nothing at all doctor exits 2 saying what to pass (tests/cli.rs); a bundle id alone is enough
    // to get the report of skipped checks.
    let (exit, out, err) = dexthil(&[
        "doctor",
        "--bundle-id",
        "com.example.dexthil.DNPPrinterDriver",
    ]);
    assert_eq!(exit, 0, "{out}{err}");
    assert!(!out.contains("[FAIL]") && !out.contains("[pass]"), "{out}");
    for flag in [
        "--sysext",
        "--ioreg",
        "--matching",
        "--host-entitlements",
        "--dext-entitlements",
        "--log",
        "--code",
    ] {
        assert!(out.contains(flag), "{flag} not named: {out}");
    }
    assert!(
        out.contains("/usr/bin/log stream --predicate 'process == \"kernel\""),
        "{out}"
    );
}

#[test]
fn only_a_code_decodes_it_and_lists_its_causes_as_unchecked() {
    let (exit, out, _) = dexthil(&["doctor", "--code", "0xE00002BC"]);
    assert_eq!(exit, 0, "{out}");
    assert!(
        out.contains("failing code: kIOReturnError (0xE00002BC)"),
        "{out}"
    );
    assert!(
        first_cause(&out).contains("not the dext's service")
            && first_cause(&out).contains("not checked"),
        "{out}"
    );
    assert!(
        out.contains("[skip] the dext's service in the registry: no registry dump"),
        "{out}"
    );
}

#[test]
fn a_fixed_setup_passes_with_exit_0() {
    // Case (a)'s files with the matching the fix gives: the service by name.
    let (exit, out, _) = dexthil(&[
        "doctor",
        "--ioreg",
        &file("a-opened-user-server", "ioreg.txt"),
        "--matching",
        &file("b-userclient-access-string", "matching.plist"),
        "--host-entitlements",
        &file("a-opened-user-server", "host-entitlements.xml"),
        "--dext-entitlements",
        &file("a-opened-user-server", "dext-entitlements.xml"),
        "--sysext",
        &file("a-opened-user-server", "sysext.txt"),
    ]);
    assert_eq!(exit, 0, "{out}");
    assert!(out.contains("0 failed"), "{out}");
}

#[test]
fn bad_input_exits_2_naming_file_line_and_column() {
    let dir = std::env::temp_dir().join(format!("dexthil-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sysext = dir.join("sysext.txt");
    std::fs::write(&sysext, "1 extension(s)\n--- com.apple.system_extension.driver_extension\n*  *  T  x (1/1)  X  [activated enabled]\n").unwrap();
    let (exit, _, err) = dexthil(&["doctor", "--sysext", sysext.to_str().unwrap()]);
    assert_eq!(exit, 2, "{err}");
    assert!(
        err.contains("sysext.txt:3:1: expected 6 tab-separated columns"),
        "{err}"
    );

    let m = dir.join("matching.json");
    std::fs::write(&m, "{\n  \"IOProviderClas\": \"IOUserService\"\n}\n").unwrap();
    let (exit, _, err) = dexthil(&["doctor", "--matching", m.to_str().unwrap()]);
    assert_eq!(exit, 2, "{err}");
    assert!(
        err.contains("matching.json:2:3: `IOProviderClas`")
            && err.contains("did you mean `IOProviderClass`"),
        "{err}"
    );

    let (exit, _, err) = dexthil(&["doctor", "--code", "kIOReturnNotPermited"]);
    assert_eq!(exit, 2, "{err}");
    assert!(
        err.contains("did you mean `kIOReturnNotPermitted`"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(not(target_os = "macos"))]
#[test]
fn live_off_a_mac_is_a_clear_error() {
    let (exit, _, err) = dexthil(&["doctor", "--live"]);
    assert_eq!(exit, 2, "{err}");
    assert!(
        err.contains("--live") && err.contains("only a Mac has"),
        "{err}"
    );
}
