//! The `dexthil` binary as a user meets it: exit codes, what a failure prints, filters, decode.

mod support;
use support::dexthil;

#[test]
fn the_shipped_corpus_passes_on_the_sim_lab() {
    let (code, out) = dexthil(&["run", "--lab", "sim"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 failed"), "{out}");
}

#[test]
fn an_uncovered_fault_fails_with_exit_1_the_yaml_location_and_the_decoded_code() {
    let (code, out) = dexthil(&["run", "--lab", "sim", "tests/failing/uncovered-busy.yaml"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("tests/failing/uncovered-busy.yaml:15:5"),
        "{out}"
    );
    assert!(out.contains("kIOReturnBusy (0xE00002D5)"), "{out}");
}

#[test]
fn a_hung_call_fails_its_step_and_the_run_goes_on() {
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "tests/failing/hung-call.yaml",
        "tests/failing/uncovered-busy.yaml",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no answer within 300ms"), "{out}");
    assert!(out.contains("hung-call.yaml:14:5"), "{out}");
    // The second scenario still ran after the hang.
    assert!(out.contains("uncovered-busy.yaml:15:5"), "{out}");
}

#[test]
fn a_missing_printer_is_the_labs_fault_exit_2() {
    let (code, out) = dexthil(&["run", "--lab", "sim", "tests/failing/missing-printer.yaml"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no printer matches role `p`"), "{out}");
    assert!(out.contains("the lab broke, not the driver"), "{out}");
}

#[test]
fn a_misspelled_key_exits_2_naming_file_line_column_and_the_right_key() {
    let (code, out) = dexthil(&["run", "--lab", "sim", "tests/failing/misspelled-key.yaml"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("tests/failing/misspelled-key.yaml:8:7"),
        "{out}"
    );
    assert!(out.contains("did you mean `selector`?"), "{out}");
    assert!(out.contains("nothing was run"), "{out}");
}

#[test]
fn a_name_filter_and_skip_choose_scenarios() {
    let busy = "tests/failing/uncovered-busy.yaml";
    let (code, out) = dexthil(&["run", "--lab", "sim", busy, "uncovered", "--exact"]);
    assert_eq!(
        code, 2,
        "`uncovered` is not the whole name: nothing ran, and that fails closed: {out}"
    );
    assert!(
        out.contains("no scenario to run: of the 1 scenario found, the name filter `uncovered` (--exact) left none"),
        "{out}"
    );
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        busy,
        "uncovered",
        "--exact",
        "--allow-empty",
    ]);
    assert_eq!(code, 0, "--allow-empty accepts a run of nothing: {out}");
    let (code, out) = dexthil(&["run", "--lab", "sim", busy, "uncovered-busy", "--exact"]);
    assert_eq!(code, 1, "{out}");
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "--path",
        "scenarios",
        "--skip",
        "sample",
        "ds620",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("smoke-ds620") && !out.contains("sample-scalar"),
        "{out}"
    );
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "tests/failing/uncovered-busy.yaml",
        "tests/failing/hung-call.yaml",
        "--skip",
        "busy",
    ]);
    assert_eq!(
        code, 1,
        "the skipped failure does not count, the other does: {out}"
    );
    assert!(!out.contains("uncovered-busy.yaml:15:5"), "{out}");
}

#[test]
fn a_typo_in_a_tag_or_a_path_of_no_scenarios_fails_closed_with_exit_2() {
    let (code, out) = dexthil(&["run", "--lab", "sim", "--tag", "nightlly"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--tag nightlly left none"), "{out}");
    assert!(!out.contains("test result"), "nothing ran: {out}");
    let (code, out) = dexthil(&["run", "--lab", "sim", "docs"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("the given paths hold no scenario file"),
        "{out}"
    );
}

#[test]
fn jobs_and_retries_out_of_bounds_are_refused_with_the_bound() {
    for (flag, value, bound) in [
        ("--jobs", "0", "1..=256"),
        ("--jobs", "1000000", "1..=256"),
        ("--test-threads", "0", "1..=256"),
        ("--retries", "4294967295", "0..=10"),
    ] {
        let (code, out) = dexthil(&["run", "--lab", "sim", "scenarios/smoke", flag, value]);
        assert_eq!(code, 2, "{flag} {value}: {out}");
        assert!(out.contains(bound), "{flag} {value}: {out}");
    }
}

#[test]
fn list_shows_every_scenario_with_its_driver() {
    let (code, out) = dexthil(&["list"]);
    assert_eq!(code, 0, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("smoke-ds-rx1\t"))
        .unwrap_or_else(|| panic!("no smoke-ds-rx1 line in {out}"));
    assert!(
        line.contains("p=model DS-RX1") && line.contains("scenarios/drivers/dnp-printer.yaml"),
        "{line}"
    );
}

#[test]
fn the_macos_lab_off_a_mac_is_a_clear_exit_2() {
    // Built with the darwin double, `--lab macos` runs here (tests/darwin_double.rs covers it).
    if cfg!(any(target_os = "macos", feature = "darwin-double")) {
        return;
    }
    let (code, out) = dexthil(&["run", "--lab", "macos"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("not a Mac"), "{out}");
}

#[test]
fn decode_names_every_form_and_refuses_nonsense() {
    let (code, out) = dexthil(&["decode", "0xE00002BC", "-307", "kIOReturnNotPermitted"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("kIOReturnError (0xE00002BC)"), "{out}");
    assert!(out.contains("MIG_ARRAY_TOO_LARGE"), "{out}");
    assert!(out.contains("userclient-access"), "{out}");
    let (code, out) = dexthil(&["decode", "kIOReturnNotPermited"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("did you mean `kIOReturnNotPermitted`?"),
        "{out}"
    );
}

#[test]
fn ioreg_summarizes_a_pasted_text_dump_and_a_plist() {
    for dump in [
        "tests/fixtures/ioreg/ds620.txt",
        "tests/fixtures/ioreg/ds620.plist",
    ] {
        let (code, out) = dexthil(&["ioreg", dump]);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("vendor 0x1452  product 0x8b01  serial DS6C98031738"),
            "{dump}: {out}"
        );
        assert!(
            out.contains("locationID 0x01120000 = bus 1 port 1.2"),
            "{dump}: {out}"
        );
        assert!(
            out.contains("dext service DNPPrinterDriver"),
            "{dump}: {out}"
        );
    }
    let (code, out) = dexthil(&["ioreg", "--json", "tests/fixtures/ioreg/cx-02.txt"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.trim_start().starts_with('{') && out.contains("CX2E40117720"),
        "{out}"
    );
}

#[test]
fn ioreg_on_a_broken_dump_names_the_file_and_line() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ioreg/malformed");
    let broken = std::fs::read_dir(&dir)
        .expect("malformed fixtures")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().contains("indent"))
        .expect("a broken-indentation fixture");
    // Issue 17: a pasted dump with one bad line is still read; the line is a warning with its place.
    let (code, out) = dexthil(&["ioreg", broken.to_str().expect("utf-8 path")]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("warning: {}:58:", broken.display())),
        "{out}"
    );
    let garbage = dir.join("garbage.bin");
    let (code, out) = dexthil(&["ioreg", garbage.to_str().expect("utf-8 path")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&format!("{}:", garbage.display())), "{out}");
}

#[test]
fn list_devices_here_is_clean_and_a_recording_lists_both_views() {
    let (code, out) = dexthil(&["list-devices"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = dexthil(&[
        "list-devices",
        "--replay",
        "tests/fixtures/recordings/ds620",
    ]);
    assert_eq!(code, 0, "{out}");
    let row = out
        .lines()
        .find(|l| l.contains("1452:8b01"))
        .unwrap_or_else(|| panic!("no DS620 row: {out}"));
    // The libusb side (serial, 1284 model) and the registry side (its entry) on one line.
    assert!(
        row.contains("DS6C98031738") && row.contains("DP-DS620") && row.contains("0x100000A10"),
        "{row}"
    );
    let (code, out) = dexthil(&["list-devices", "--replay", "tests/no-such-recording"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("ioreg.plist") && out.contains("ioreg.txt"),
        "{out}"
    );
}

#[test]
fn control_characters_in_names_are_refused_with_their_place_not_a_panic() {
    let (code, out) = dexthil(&["run", "--lab", "sim", "tests/hostile/control-chars.yaml"]);
    assert_eq!(code, 2, "{out}");
    assert!(!out.contains("panicked"), "{out}");
    assert!(
        out.contains("tests/hostile/control-chars.yaml:1:7: `name` `bad\\0name` holds the control character U+0000"),
        "{out}"
    );
    assert!(
        out.contains("control-chars.yaml:6:29: the connection name"),
        "{out}"
    );
    assert!(
        !out.contains('\u{1b}'),
        "no escape sequence reaches the terminal: {out:?}"
    );
}

#[test]
fn a_deadline_below_the_clocks_resolution_is_refused_exactly_like_zero() {
    // A zero deadline raced the watchdog: the same scenario passed or failed by chance.
    let (zero_code, zero) = dexthil(&["run", "--lab", "sim", "tests/hostile/within-zero.yaml"]);
    let (tiny_code, tiny) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "tests/hostile/within-below-resolution.yaml",
    ]);
    assert_eq!(zero_code, 2, "{zero}");
    assert_eq!(tiny_code, 2, "{tiny}");
    for (out, file) in [(&zero, "within-zero"), (&tiny, "within-below-resolution")] {
        assert!(
            out.contains(&format!(
                "tests/hostile/{file}.yaml:8:50: `within`: a deadline of zero can never be met"
            )),
            "{out}"
        );
    }
}

#[test]
fn a_replay_of_the_whole_corpus_skips_what_a_recording_cannot_serve_instead_of_failing_the_lab() {
    let (code, out) = dexthil(&["run", "--lab", "replay:tests/fixtures/recordings/ds620"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 failed (0 of them lab errors)"), "{out}");
    assert!(
        out.contains(
            "SKIP smoke-ds620: not applicable to a recording: step 3 `open` needs a live lab"
        ),
        "{out}"
    );
    assert!(
        out.contains("SKIP smoke-cx-02: not applicable to this recording: it holds no printer for role `p` (model CX-02)"),
        "{out}"
    );
    assert!(
        out.contains("replay-ds620"),
        "the recording's own scenario ran: {out}"
    );
    // Everything but the recording's own scenario is skipped, and said so, one line each.
    let skipped = out.lines().filter(|l| l.starts_with("SKIP ")).count();
    assert!(skipped > 20, "{out}");
    assert!(
        out.contains(&format!(
            "1 passed, 0 failed (0 of them lab errors), {skipped} skipped"
        )),
        "{out}"
    );
}

#[test]
fn the_console_gives_a_line_per_passing_scenario_a_failure_in_full_once_and_one_summary() {
    let (code, out) = dexthil(&[
        "run",
        "--lab",
        "sim",
        "scenarios/smoke/ds620.yaml",
        "tests/failing/uncovered-busy.yaml",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("PASS smoke-ds620 ("), "{out}");
    assert!(
        !out.contains("✓ 2 cross_check"),
        "no passing step by default: {out}"
    );
    assert_eq!(
        out.matches("expected: kIOReturnSuccess").count(),
        1,
        "the failure once: {out}"
    );
    assert!(
        out.contains("code:     kIOReturnBusy (0xE00002D5)"),
        "{out}"
    );
    assert!(
        out.contains("DNPPrinterDriver: ExternalMethod(0)"),
        "its log lines: {out}"
    );
    assert_eq!(
        out.matches(" passed, ").count(),
        1,
        "one summary line: {out}"
    );
    assert!(!out.contains("test result"), "{out}");
    assert_eq!(
        out.matches("journal: ").count(),
        1,
        "the journal path once: {out}"
    );

    let (_, verbose) = dexthil(&["run", "--lab", "sim", "-v", "scenarios/smoke/ds620.yaml"]);
    assert!(verbose.contains("✓ 2 cross_check p"), "{verbose}");
    let (_, quiet) = dexthil(&["run", "--lab", "sim", "-q", "scenarios/smoke/ds620.yaml"]);
    assert!(!quiet.contains("smoke-ds620"), "{quiet}");
    assert!(quiet.contains("1 passed, 0 failed"), "{quiet}");
}

#[test]
fn format_json_is_one_object_per_event_with_fields_not_text() {
    let out = support::bin()
        .args([
            "run",
            "--lab",
            "sim",
            "--format",
            "json",
            "tests/failing/uncovered-busy.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let failed = events
        .iter()
        .find(|e| e["event"] == "step_finished" && e["result"] == "failed")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(failed["scenario"], "uncovered-busy");
    assert_eq!(failed["step"], "2");
    assert_eq!(failed["span"]["file"], "tests/failing/uncovered-busy.yaml");
    assert_eq!(failed["span"]["line"], 15);
    assert_eq!(failed["class"], "driver");
    assert_eq!(failed["code"], "0xE00002D5");
    assert_eq!(failed["code_name"], "kIOReturnBusy");
    assert_eq!(failed["expected"], "kIOReturnSuccess (0x00000000)");
    assert_eq!(events.last().unwrap()["event"], "run_finished");

    let out = support::bin()
        .args(["run", "--list", "--format", "json", "scenarios/smoke"])
        .output()
        .unwrap();
    let listed: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 7, "{listed:?}");
    assert!(
        listed
            .iter()
            .any(|l| l["scenario"] == "smoke-ds620" && l["printers"][0]["needs"] == "model DS620")
    );
}

#[test]
fn doctor_takes_a_folder_of_attachments_by_content_and_wants_some_input() {
    let d = "tests/fixtures/doctor/a-opened-user-server";
    let (code, by_content) = dexthil(&["doctor", d]);
    assert_eq!(code, 1, "a check fails for this report: {by_content}");
    assert!(
        by_content.contains("code.txt: read as the failing code"),
        "{by_content}"
    );
    let f = |n: &str| format!("{d}/{n}");
    let (flag_code, by_flags) = dexthil(&[
        "doctor",
        "--ioreg",
        &f("ioreg.txt"),
        "--matching",
        &f("matching.json"),
        "--host-entitlements",
        &f("host-entitlements.xml"),
        "--dext-entitlements",
        &f("dext-entitlements.xml"),
        "--sysext",
        &f("sysext.txt"),
        "--log",
        &f("log.txt"),
        "--code",
        "0xE00002C7",
    ]);
    // The same report either way; the folder's run also notes what it took each file as.
    let report = |out: &str| {
        out.lines()
            .filter(|l| !l.starts_with("note: "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        (code, report(&by_content)),
        (flag_code, report(&by_flags)),
        "the same report either way"
    );
    // Positional files too, in any order.
    let (code, out) = dexthil(&["doctor", &f("sysext.txt"), &f("ioreg.txt"), &f("code.txt")]);
    assert_ne!(code, 2, "{out}");
    assert!(
        !out.contains("no systemextensionsctl output"),
        "sysext.txt was taken: {out}"
    );
    assert!(
        !out.contains("no registry dump"),
        "ioreg.txt was taken: {out}"
    );
    assert!(!out.contains("no code given"), "code.txt was taken: {out}");

    let (code, out) = dexthil(&["doctor"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("doctor needs something to read"), "{out}");
    let (code, out) = dexthil(&["doctor", "README.md"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("README.md:1:1: not an attachment doctor recognises"),
        "{out}"
    );
    // Two dumps named: the first is used and the second is said to be skipped, never silently.
    let (_, out) = dexthil(&[
        "doctor",
        &f("ioreg.txt"),
        "tests/fixtures/doctor/b-userclient-access-string/ioreg.txt",
    ]);
    assert!(
        out.contains("b-userclient-access-string/ioreg.txt: read as a registry dump but"),
        "{out}"
    );
}

#[test]
fn run_takes_the_journals_durability_and_refuses_an_unknown_one() {
    let journal =
        std::env::temp_dir().join(format!("dexthil-durability-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&journal);
    let (code, out) = dexthil(&[
        "run",
        "scenarios/smoke/ds620.yaml",
        "--durability",
        "case",
        "--journal",
        journal.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(&journal).expect("the journal is written");
    assert!(
        text.lines().next().unwrap_or("").contains("run_started"),
        "{text}"
    );
    assert!(
        text.lines().last().unwrap_or("").contains("run_finished"),
        "{text}"
    );
    let _ = std::fs::remove_file(&journal);

    let (code, out) = dexthil(&["run", "scenarios/smoke/ds620.yaml", "--durability", "often"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("`often` is not a durability: use `case` or `batch`"),
        "{out}"
    );
}

#[test]
#[cfg(unix)]
fn a_listing_whose_reader_goes_away_ends_quietly_instead_of_panicking() {
    use std::io::Read;
    for args in [
        &["list"][..],
        &["decode", "0xE00002BC", "0xE00002C7", "0", "5"][..],
    ] {
        let mut child = support::bin()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("dexthil starts");
        // The reader leaves before the first line: every write after that meets a closed pipe.
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_ne!(status.code(), Some(101), "{args:?}: {err}");
    }
}
