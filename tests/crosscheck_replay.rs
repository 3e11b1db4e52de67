//! Cross-checks of recordings through the binary: the shipped recordings pass on replay and on the sim,
//! and each planted mismatch fails with exit 1, the field named and both values shown.

mod support;
use support::dexthil;

const RECORDINGS: &str = "tests/fixtures/recordings";

fn replay(dir: &str, scenario: &str) -> (i32, String) {
    let lab = format!("replay:{RECORDINGS}/{dir}");
    dexthil(&["run", "--lab", &lab, scenario])
}

#[test]
fn every_shipped_recording_passes_its_replay_scenario() {
    for printer in ["ds620", "ds-rx1", "cx-02"] {
        let (code, out) = replay(printer, &format!("scenarios/replay/{printer}.yaml"));
        assert_eq!(code, 0, "{printer}: {out}");
        assert!(out.contains("1 passed, 0 failed"), "{printer}: {out}");
    }
}

#[test]
fn the_replay_scenarios_pass_on_the_sim_too() {
    let (code, out) = dexthil(&["run", "--lab", "sim", "scenarios/replay"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 passed, 0 failed"), "{out}");
}

#[test]
fn the_clean_recording_passes_the_cross_check_alone() {
    let (code, out) = replay("ds620", "tests/replay-scenarios/cross-check-ds620.yaml");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn each_planted_mismatch_fails_naming_the_field_and_both_values() {
    let cases = [
        (
            "location-nibble",
            "location: libusb says 0x01120000, the registry says 0x01110000",
        ),
        (
            "swapped-serial",
            "serial: libusb says \"DS6C98031738\", the registry says \"DS6C98031783\"",
        ),
        (
            "bcd-usb",
            "bcd_usb: libusb says 0x0200, the registry says 0x0110",
        ),
        (
            "interface-class",
            "interface.0.class: libusb says 0x07/0x01/0x02, the registry says 0xff/0x01/0x02",
        ),
        (
            "dext-under-interface-1",
            "dext.under_interface: the driver file and the device say a DNPPrinterDriver service under interface 0, the registry says IOService:/XHC1@01000000/USB2.0 Hub@01100000/DS620@01120000/IOUSBHostInterface@1/DNPPrinterDriver under interface 1",
        ),
        (
            "two-user-servers",
            "dext.user_server_count: the driver file and the device say 1 IOUserServer named com.example.dexthil.DNPPrinterDriver, the registry says 2 (",
        ),
        (
            "no-user-client-properties",
            "dext.user_client_properties: the driver file and the device say UserClientProperties with IOClass = IOUserUserClient, the registry has no `UserClientProperties` key",
        ),
    ];
    for (dir, finding) in cases {
        let (code, out) = replay(
            &format!("planted/{dir}"),
            "tests/replay-scenarios/cross-check-ds620.yaml",
        );
        assert_eq!(code, 1, "{dir}: {out}");
        assert!(out.contains(finding), "{dir}: wanted `{finding}` in\n{out}");
    }
}

#[test]
fn a_planted_mismatch_can_be_expected_or_skipped() {
    let dir = tempdir("expect");
    let scenario = dir.join("s.yaml");
    let driver =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/drivers/dnp-printer.yaml");
    for (list, want) in [
        ("expect_mismatch: [bcd_usb]", 0),
        ("skip: [bcd_usb]", 0),
        ("expect_mismatch: [serial]", 1),
    ] {
        std::fs::write(
            &scenario,
            format!(
                "name: s\ndriver: {}\nprinters:\n  p: {{ model: DS620 }}\nsteps:\n  - cross_check: {{ printer: p, {list} }}\n",
                driver.display()
            ),
        )
        .unwrap();
        let (code, out) = replay("planted/bcd-usb", scenario.to_str().unwrap());
        assert_eq!(code, want, "{list}: {out}");
    }
}

#[test]
fn a_mistyped_field_is_a_load_error_with_a_hint() {
    let dir = tempdir("typo");
    let scenario = dir.join("s.yaml");
    let driver =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/drivers/dnp-printer.yaml");
    std::fs::write(
        &scenario,
        format!(
            "name: s\ndriver: {}\nprinters:\n  p: {{ model: DS620 }}\nsteps:\n  - cross_check: {{ printer: p, skip: [interface.0.clas] }}\n",
            driver.display()
        ),
    )
    .unwrap();
    let (code, out) = dexthil(&["run", "--lab", "sim", scenario.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("s.yaml:6:"), "{out}");
    assert!(out.contains("interface.0.class"), "{out}");
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("dexthil-xcheck-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn every_recording_folder_loads_and_lists_its_printer() {
    let mut dirs = vec![];
    for entry in std::fs::read_dir(format!("{}/{RECORDINGS}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    {
        let p = entry.unwrap().path();
        if p.ends_with("planted") {
            for planted in std::fs::read_dir(&p).unwrap() {
                dirs.push(planted.unwrap().path());
            }
        } else {
            dirs.push(p);
        }
    }
    assert!(dirs.len() >= 10, "{dirs:?}");
    for d in dirs {
        let (code, out) = dexthil(&["list-devices", "--replay", d.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {out}", d.display());
        assert!(
            out.contains("1452:8b01") || out.contains("1343:"),
            "{}: {out}",
            d.display()
        );
    }
}

#[test]
fn a_sim_recording_replays_and_cross_checks_clean() {
    let dir = tempdir("record-sim");
    let out = dir.join("ds620");
    let (code, text) = dexthil(&[
        "record",
        "DS620",
        "-o",
        out.to_str().unwrap(),
        "--lab",
        "sim",
    ]);
    assert_eq!(code, 0, "{text}");
    for f in ["usb.json", "ioreg.txt", "provenance.json"] {
        assert!(text.contains(f) && out.join(f).is_file(), "{f}: {text}");
    }
    let lab = format!("replay:{}", out.display());
    let (code, text) = dexthil(&["run", "--lab", &lab, "scenarios/replay/ds620.yaml"]);
    assert_eq!(code, 0, "{text}");
    // The rendered dump is one `dexthil ioreg` reads as well.
    let (code, text) = dexthil(&["ioreg", out.join("ioreg.txt").to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("DNPPrinterDriver"), "{text}");
}

#[test]
fn recording_an_unknown_model_or_an_absent_printer_is_exit_2() {
    let out = tempdir("record-none").join("x");
    let (code, text) = dexthil(&[
        "record",
        "DS621",
        "-o",
        out.to_str().unwrap(),
        "--lab",
        "sim",
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("`DS621` is not a printer model"), "{text}");
    let lab = format!("replay:{RECORDINGS}/ds-rx1");
    let (code, text) = dexthil(&[
        "record",
        "DS620",
        "-o",
        out.to_str().unwrap(),
        "--lab",
        &lab,
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("no USB devices matched DS620 (1452:8b01)"),
        "{text}"
    );
}

#[cfg(not(target_os = "macos"))]
#[test]
fn recording_the_live_bus_here_finds_no_printer() {
    let out = tempdir("record-live").join("x");
    let (code, text) = dexthil(&["record", "DS620", "-o", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no USB devices matched DS620"), "{text}");
}

#[test]
fn record_takes_a_station_role_and_refuses_an_unknown_one() {
    let out = std::env::temp_dir().join(format!("dexthil-record-role-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = out.to_str().expect("utf-8 temp path");
    let (code, text) = dexthil(&[
        "record",
        "ds-rx1",
        "--station",
        "ci/labs/sim.yaml",
        "--lab",
        "sim",
        "-o",
        o,
    ]);
    assert_eq!(code, 0, "{text}");
    let usb = std::fs::read_to_string(out.join("usb.json")).expect("usb.json written");
    assert!(
        usb.contains("CY2D83040412"),
        "the role's printer, by its serial: {usb}"
    );
    assert!(!usb.contains("DS6C98031738"), "only that printer: {usb}");
    let (code, text) = dexthil(&[
        "record",
        "ds-rx9",
        "--station",
        "ci/labs/sim.yaml",
        "--lab",
        "sim",
        "-o",
        o,
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("has no role `ds-rx9`") && text.contains("ds-rx1"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
