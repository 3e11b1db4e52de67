//! Issue 17 and issue 15 item 7, through the binary: every pasted form of every attachment doctor and
//! `dexthil ioreg` read (fixtures under tests/fixtures/ioreg/pasted and tests/fixtures/attachments, each
//! README saying which public shape it imitates), and doctor's positional files and folders.

mod support;

use support::dexthil;

const PASTED: &str = "tests/fixtures/ioreg/pasted";
const ATT: &str = "tests/fixtures/attachments";

fn ioreg(name: &str, json: bool) -> (i32, String) {
    let path = format!("{PASTED}/{name}");
    if json {
        dexthil(&["ioreg", &path, "--json"])
    } else {
        dexthil(&["ioreg", &path])
    }
}

#[test]
fn a_dump_cut_at_the_terminal_width_keeps_its_devices_and_warns_per_line() {
    let (code, out) = ioreg("cut-at-terminal-width.txt", false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("DS620@01120000"), "{out}");
    assert!(out.contains("serial DS6B41029384"), "{out}");
    assert!(
        out.contains("interface 0 IOUSBHostInterface@0 class 7"),
        "{out}"
    );
    for line in [4, 7, 13, 16] {
        assert!(
            out.contains(&format!("cut-at-terminal-width.txt:{line}:")),
            "no warning for line {line}:\n{out}"
        );
    }
}

#[test]
fn an_excerpt_and_grep_output_are_read() {
    let (code, out) = ioreg("excerpt.txt", false);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("DNPPrinterDriver (id 0x100000A12) class IOUserService"),
        "{out}"
    );
    assert!(
        out.contains(
            "IOUserServer: IOUserServer(com.example.dexthil.DNPPrinterDriver-0x100000a12)"
        ),
        "{out}"
    );
    assert!(
        out.contains("UserClientProperties: IOClass = IOUserUserClient"),
        "{out}"
    );
    let (code, out) = ioreg("grep-filtered.txt", false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("vendor 0x1452  product 0x8902"), "{out}");
    assert!(
        out.contains("bundle com.example.dexthil.DNPPrinterDriver"),
        "{out}"
    );
}

#[test]
fn the_usb_plane_of_an_intel_mac_with_older_class_names_lists_both_devices() {
    let (code, out) = ioreg("usb-plane-intel-legacy.txt", false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("AppleUSBDevice DS-RX1@14100000"), "{out}");
    assert!(out.contains("IOUSBDevice CX-02@14200000"), "{out}");
    assert!(
        out.contains("locationID 0x14100000 = bus 20 port 1"),
        "{out}"
    );
}

#[test]
fn dexts_outside_usb_are_listed_in_text_and_json() {
    let (code, out) = ioreg("serial-dext-apple-silicon.txt", false);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("AppleUSBSerialDriver (id 0x1000012AB) class IOUserSerial"),
        "{out}"
    );
    assert!(
        out.contains("bundle com.example.pcie.MyPCIeDriver"),
        "{out}"
    );
    let (code, out) = ioreg("serial-dext-apple-silicon.txt", true);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let dexts = v["dexts"].as_array().expect("a dexts array");
    assert_eq!(dexts.len(), 2, "{out}");
    assert_eq!(
        dexts[1]["user_client_properties"]["dict"]["IOUserClass"]["str"], "MyPCIeUserClient",
        "{out}"
    );
    let (code, out) = ioreg("dext-root.plist", true);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        v["dexts"][0]["bundle_id"], "com.apple.DriverKit-AppleUSBSLCOM",
        "{out}"
    );
}

fn doctor(args: &[&str]) -> (i32, String) {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    dexthil(&all)
}

#[test]
fn a_sysext_listing_with_spaces_and_a_wrapped_header_is_read() {
    let (code, out) = doctor(&["--sysext", &format!("{ATT}/sysext-spaces.txt")]);
    assert!(code == 0 || code == 1, "{out}");
    assert!(
        out.contains("com.example.dexthil.DNPPrinterDriver (1.1/2) [activated enabled]"),
        "{out}"
    );
    assert!(
        out.contains("santa"),
        "the endpoint security client is seen:\n{out}"
    );
}

#[test]
fn entitlements_in_every_form_are_read_and_a_near_miss_key_is_called_out() {
    for f in ["dext-entitlements-xml.txt", "dext-entitlements-blob.bin"] {
        let (_, out) = doctor(&["--dext-entitlements", &format!("{ATT}/{f}")]);
        assert!(!out.contains("error:"), "{f}: {out}");
        assert!(out.contains("allow-any-userclient-access"), "{f}: {out}");
    }
    let (_, out) = doctor(&[
        "--host-entitlements",
        &format!("{ATT}/host-entitlements-text.txt"),
    ]);
    assert!(!out.contains("error:"), "{out}");
    assert!(
        out.contains("com.example.dexthil.DNPPrinterDriver"),
        "{out}"
    );
    let (code, out) = doctor(&["--host-entitlements", &format!("{ATT}/Host.entitlements")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("`com.apple.developer.driverkit.user-client-access` is not a DriverKit key: did you mean `com.apple.developer.driverkit.userclient-access`?"),
        "{out}"
    );
}

#[test]
fn logs_in_every_style_find_the_open_and_an_activation_log_does_not_conclude() {
    for (f, what) in [
        ("log-default.txt", "the kernel refused the open"),
        ("log-syslog.txt", "the kernel refused the open"),
        (
            "log-compact.txt",
            "the open reached the dext's NewUserClient",
        ),
        (
            "log-console.txt",
            "the open reached the dext's NewUserClient",
        ),
        (
            "../logs/dnp-open-refused.ndjson",
            "the kernel refused the open",
        ),
    ] {
        let (_, out) = doctor(&["--log", &format!("{ATT}/{f}")]);
        assert!(out.contains(what), "{f}: {out}");
    }
    let (_, out) = doctor(&["--log", &format!("{ATT}/log-activation-only.txt")]);
    assert!(out.contains("does not cover an open"), "{out}");
    assert!(out.contains("activation 2, matching 1"), "{out}");
    assert!(!out.contains("never reached the dext"), "{out}");
}

#[test]
fn crash_reports_in_both_forms_name_the_process_exception_and_frames() {
    let (code, out) = doctor(&[
        "--crash",
        &format!("{ATT}/DNPPrinterDriver-2021-03-14-092702.crash"),
        "--bundle-id",
        "com.example.dexthil.DNPPrinterDriver",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "the dext com.example.dexthil.DNPPrinterDriver crashed: EXC_BAD_ACCESS (SIGSEGV)"
        ),
        "{out}"
    );
    assert!(
        out.contains("DNPPrinterDriver::GetStatus(OSAction*) + 44"),
        "{out}"
    );
    // The dext named by another input (the listing), not by --bundle-id.
    let (code, out) = doctor(&[
        &format!("{ATT}/sysext-spaces.txt"),
        &format!("{ATT}/DNPPrinterDriver-2021-03-14-092702.crash"),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("the dext com.example.dexthil.DNPPrinterDriver crashed"),
        "{out}"
    );
    let (code, out) = doctor(&[
        "tests/fixtures/logs/DNPPrinterDriver-2025-03-14-092702.ips",
        "--bundle-id",
        "com.example.other",
    ]);
    assert_eq!(
        code, 0,
        "a crash of another process is a warning, not a failure:\n{out}"
    );
    assert!(out.contains("not of the dext com.example.other"), "{out}");
}

#[test]
fn a_folder_of_attachments_is_sorted_by_content() {
    let (code, out) = doctor(&[ATT]);
    assert_eq!(code, 1, "{out}");
    for (file, kind) in [
        ("sysext-spaces.txt", "systemextensionsctl list"),
        ("dext-entitlements-blob.bin", "dext entitlements"),
        ("Host.entitlements", "host entitlements"),
        ("DNPPrinterDriver-2021-03-14-092702.crash", "crash report"),
        ("log-activation-only.txt", "log"),
    ] {
        assert!(
            out.contains(&format!("{file}: read as the {kind}")),
            "{file}:\n{out}"
        );
    }
    for second in ["log-syslog.txt", "dext-entitlements-xml.txt"] {
        assert!(
            out.contains(&format!("{second}: read as a"))
                && out.contains("is already that input: skipped"),
            "{second}:\n{out}"
        );
    }
    assert!(
        out.contains("README.md: skipped: not an attachment doctor recognises"),
        "{out}"
    );
}

#[test]
fn a_positional_file_doctor_cannot_recognise_is_exit_2_with_its_name() {
    let (code, out) = doctor(&["Cargo.toml"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Cargo.toml:1:1: not an attachment doctor recognises"),
        "{out}"
    );
}
