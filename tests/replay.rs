//! The replay backend on the fixture dumps: both forms load to the same registry, the summary shows what a
//! triager looks for, the lab answers the traits read-only, and broken dumps fail with a file and a line.

use dexthil::backends::replay::{
    self, DumpError, DumpSummary, ReplayFactory, ReplayLab, UsbSource, load_dump, parse_dump,
    summarize,
};
use dexthil::lab::{
    LabError, Matching, OpenRequest, Prop, Readable, Registry, UsbBus, UserClients, WaitError,
    WaitFor,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BUNDLE: &str = "com.example.dexthil.DNPPrinterDriver";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ioreg")
        .join(name)
}

struct Expect {
    stem: &'static str,
    vid: u16,
    pid: u16,
    serial: &'static str,
    location: u32,
    bus: u8,
    port: &'static str,
}

const PRINTERS: &[Expect] = &[
    Expect {
        stem: "ds620",
        vid: 0x1452,
        pid: 0x8B01,
        serial: "DS6C98031738",
        location: 0x0112_0000,
        bus: 1,
        port: "1.2",
    },
    Expect {
        stem: "ds-rx1",
        vid: 0x1343,
        pid: 0x0005,
        serial: "CY2D83040412",
        location: 0x0113_0000,
        bus: 1,
        port: "1.3",
    },
    Expect {
        stem: "cx-02",
        vid: 0x1343,
        pid: 0x000A,
        serial: "CX2E40117720",
        location: 0x0214_0000,
        bus: 2,
        port: "1.4",
    },
];

#[test]
fn every_printer_fixture_summarizes_with_ids_serial_port_and_dext() {
    for p in PRINTERS {
        for ext in ["plist", "txt"] {
            let file = format!("{}.{ext}", p.stem);
            let tree = load_dump(&fixture(&file)).unwrap_or_else(|e| panic!("{e}"));
            let devices = summarize(&tree);
            let d = devices
                .iter()
                .find(|d| d.vendor_id == Some(p.vid))
                .unwrap_or_else(|| panic!("{file}: no device {:04x}", p.vid));
            assert_eq!(d.product_id, Some(p.pid), "{file}");
            assert_eq!(d.serial.as_deref(), Some(p.serial), "{file}");
            assert_eq!(d.location_id, Some(p.location), "{file}");
            assert_eq!(
                (d.bus, d.port_path.as_deref()),
                (Some(p.bus), Some(p.port)),
                "{file}"
            );
            let i = &d.interfaces[0];
            assert_eq!(
                (i.number, i.class, i.subclass, i.protocol),
                (Some(0), Some(7), Some(1), Some(2))
            );
            let s = &i.services[0];
            assert_eq!(s.user_class.as_deref(), Some("DNPPrinterDriver"), "{file}");
            assert_eq!(s.io_class.as_deref(), Some("IOUserService"), "{file}");
            assert_eq!(s.bundle_id.as_deref(), Some(BUNDLE), "{file}");
            assert!(s.registered, "{file}");
            let servers = replay::user_servers(&tree);
            assert_eq!(servers.len(), 1, "{file}");
            assert_eq!(
                servers[0].entry_name,
                format!("IOUserServer({BUNDLE}-0x{:x})", s.registry_id)
            );
        }
    }
}

#[test]
fn plist_and_text_of_one_printer_give_the_same_registry() {
    for p in PRINTERS {
        let a = load_dump(&fixture(&format!("{}.plist", p.stem)))
            .unwrap()
            .entries();
        let b = load_dump(&fixture(&format!("{}.txt", p.stem)))
            .unwrap()
            .entries();
        assert_eq!(a.len(), b.len(), "{}", p.stem);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "{}: {} differs between the forms", p.stem, x.path);
        }
    }
}

#[test]
fn a_binary_plist_loads_like_its_xml() {
    let xml = load_dump(&fixture("ds620.plist")).unwrap();
    let bin = load_dump(&fixture("ds620-binary.plist")).unwrap();
    assert_eq!(xml.entries(), bin.entries());
}

#[test]
fn inheritance_from_dash_i_gives_the_class_chain() {
    let tree = load_dump(&fixture("ds-rx1.plist")).unwrap();
    let server = tree
        .entries()
        .into_iter()
        .find(|e| e.class == "IOUserServer")
        .unwrap();
    assert_eq!(
        server.class_chain[..3],
        ["IOUserServer", "IOUserClient2022", "IOUserClient"]
    );
    assert!(server.conforms_to("IOService"));
}

#[test]
fn the_rendered_text_has_the_lines_a_triager_looks_for() {
    let tree = load_dump(&fixture("ds620.txt")).unwrap();
    let text = DumpSummary::of(&tree).render();
    let lines: Vec<&str> = text.lines().collect();
    for want in [
        "IOUSBHostDevice DS620@01120000 (id 0x100000A10)",
        "  vendor 0x1452  product 0x8b01  serial DS6C98031738  product name DS620",
        "  locationID 0x01120000 = bus 1 port 1.2",
        "  interface 0 IOUSBHostInterface@0 class 7/1/2",
        "    dext service DNPPrinterDriver (id 0x100000A12): IOUserClass DNPPrinterDriver, IOClass IOUserService, CFBundleIdentifier com.example.dexthil.DNPPrinterDriver, registered",
        "IOUserServer objects:",
        "  IOUserServer(com.example.dexthil.DNPPrinterDriver-0x100000a12) (id 0x100000A13) IOUserServerName com.example.dexthil.DNPPrinterDriver",
        "  locationID 0x01100000 = bus 1 port 1",
        "  no interfaces in this dump",
    ] {
        assert!(lines.contains(&want), "missing line {want:?} in:\n{text}");
    }
    let json: serde_json::Value = serde_json::from_str(&DumpSummary::of(&tree).to_json()).unwrap();
    assert_eq!(json["devices"][1]["serial"], "DS6C98031738");
    assert_eq!(json["devices"][1]["port_path"], "1.2");
}

fn lab(name: &str) -> ReplayLab {
    ReplayLab::new(&load_dump(&fixture(name)).unwrap(), None)
}

#[test]
fn find_by_class_name_property_and_parent() {
    let lab = lab("ds620.plist");
    let by_class = lab
        .find(&Matching {
            class: Some("IOUserService".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_class.len(), 1);
    let service = &by_class[0];
    assert_eq!(service.name, "DNPPrinterDriver");
    assert_eq!(
        service.path,
        "IOService:/XHC1@01000000/USB2.0 Hub@01100000/DS620@01120000/IOUSBHostInterface@0/DNPPrinterDriver"
    );
    assert_eq!(
        service
            .prop("UserClientProperties")
            .and_then(Prop::as_dict)
            .unwrap()["IOClass"],
        Prop::Str("IOUserUserClient".into())
    );

    let by_name = lab
        .find(&Matching {
            name: Some("DNPPrinterDriver".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_name, by_class);

    // Superclass from the well-known chain: the interface conforms to IOService without `-i`.
    let services = lab
        .find(&Matching {
            class: Some("IOService".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(services.iter().any(|e| e.class == "IOUSBHostInterface"));

    let mut by_vendor = Matching::default();
    by_vendor
        .properties
        .insert("idVendor".into(), Prop::Int(0x1452));
    let classes: Vec<_> = lab
        .find(&by_vendor)
        .unwrap()
        .into_iter()
        .map(|e| e.class)
        .collect();
    assert_eq!(
        classes,
        ["IOUSBHostDevice", "IOUSBHostInterface", "IOUserService"]
    );

    let iface = lab.entry(service.parent.unwrap()).unwrap();
    assert_eq!(iface.location.as_deref(), Some("0"));
    let under = lab
        .find(&Matching {
            parent: Some(iface.id),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(under, lab.children(iface.id).unwrap());
    assert_eq!(under.len(), 1);

    assert_eq!(lab.entry(0xdead), Err(LabError::NoEntry(0xdead)));
    assert_eq!(lab.children(0xdead), Err(LabError::NoEntry(0xdead)));
}

#[test]
fn a_matched_wait_on_a_missing_entry_fails_at_once_and_says_why() {
    let lab = lab("cx-02.txt");
    let missing = Matching {
        name: Some("NullDriver".into()),
        ..Default::default()
    };
    let start = Instant::now();
    let err = lab
        .wait(
            &missing,
            WaitFor::Matched,
            Instant::now() + Duration::from_secs(60),
        )
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "a replay must not sit out the deadline"
    );
    let text = err.to_string();
    assert!(matches!(err, WaitError::Lab(LabError::Unsupported { .. })));
    assert!(
        text.contains("the recording has no registered entry matching name NullDriver"),
        "{text}"
    );

    let present = Matching {
        name: Some("DNPPrinterDriver".into()),
        ..Default::default()
    };
    let found = lab
        .wait(&present, WaitFor::Matched, Instant::now())
        .unwrap();
    assert_eq!(found.unwrap().class, "IOUserService");
    assert_eq!(lab.wait(&missing, WaitFor::Gone, Instant::now()), Ok(None));
    let still = lab
        .wait(&present, WaitFor::Gone, Instant::now())
        .unwrap_err()
        .to_string();
    assert!(still.contains("the recording still has"), "{still}");
}

#[test]
fn user_clients_and_replug_are_refused() {
    let lab = lab("ds620.txt");
    let err = lab
        .open(&OpenRequest {
            entry: 0x100000A12,
            open_type: 0,
        })
        .unwrap_err();
    assert!(matches!(
        err,
        LabError::Unsupported {
            backend: "replay",
            ..
        }
    ));
    assert!(
        err.to_string()
            .contains("not available in replay: recordings hold no live dext"),
        "{err}"
    );
    assert!(lab.close(1).is_err());
    assert_eq!(lab.open_count(), 0);
    let dev = lab.devices().unwrap().remove(0);
    assert!(
        lab.replug(&dev)
            .unwrap_err()
            .to_string()
            .contains("replay is read-only")
    );
}

#[test]
fn without_usb_json_the_usb_view_comes_from_the_registry() {
    let lab = lab("ds-rx1.txt");
    assert_eq!(lab.usb_source(), UsbSource::FromRegistry);
    let devices = lab.devices().unwrap();
    let rx1 = devices.iter().find(|d| d.product_id == 0x0005).unwrap();
    assert_eq!((rx1.vendor_id, rx1.bus, rx1.address), (0x1343, 1, 6));
    assert_eq!(rx1.port_path, [1, 3]);
    assert_eq!(rx1.serial, Readable::Value("CY2D83040412".into()));
    assert_eq!(rx1.configurations[0].interfaces[0].class, 7);
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dexthil-replay-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_recording_folder_loads_once_with_its_usb_json() {
    let dir = scratch("folder");
    std::fs::copy(fixture("cx-02.txt"), dir.join("ioreg.txt")).unwrap();
    let mut views = lab("cx-02.txt").devices().unwrap();
    views[1].device_id_1284 = Readable::Value("MANUFACTURER:CITIZEN SYSTEMS ;MODEL:CX-02;".into());
    std::fs::write(
        dir.join("usb.json"),
        serde_json::to_string_pretty(&views).unwrap(),
    )
    .unwrap();

    let factory = ReplayFactory::load(&dir).unwrap();
    assert!(std::sync::Arc::ptr_eq(&factory.lab(), &factory.lab()));
    let lab = factory.lab();
    assert_eq!(lab.usb_source(), UsbSource::Recorded);
    assert_eq!(lab.devices().unwrap(), views);
    assert!(replay::factory(&dir).is_ok());

    std::fs::write(dir.join("usb.json"), "[\n  {\"vendor_id\": 1,\n  oops\n]").unwrap();
    let e = ReplayFactory::load(&dir).err().unwrap().to_string();
    assert!(e.contains("usb.json:3:"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
fn mkfifo(path: &std::path::Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs")
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

#[cfg(unix)]
#[test]
fn a_usb_json_that_is_not_a_regular_file_is_reported_not_taken_as_absent() {
    let dir = scratch("fifo-usb");
    std::fs::copy(fixture("cx-02.txt"), dir.join("ioreg.txt")).unwrap();
    // Absent stays absent: the USB view is derived from the registry.
    let lab = ReplayFactory::load(&dir).unwrap().lab();
    assert_eq!(lab.usb_source(), UsbSource::FromRegistry);

    let usb_json = dir.join("usb.json");
    mkfifo(&usb_json);
    let e = replay::factory(&dir)
        .err()
        .expect("a FIFO usb.json is an error")
        .to_string();
    assert!(
        e.contains(&usb_json.display().to_string()) && e.contains("not a regular file"),
        "{e}"
    );
    std::fs::remove_file(&usb_json).unwrap();

    std::fs::create_dir(&usb_json).unwrap();
    let e = replay::factory(&dir)
        .err()
        .expect("a directory usb.json is an error")
        .to_string();
    assert!(
        e.contains(&usb_json.display().to_string()) && e.contains("is a directory"),
        "{e}"
    );
    std::fs::remove_dir(&usb_json).unwrap();

    // A dump that is a FIFO is not skipped for the next name either.
    mkfifo(&dir.join("ioreg.plist"));
    let e = replay::factory(&dir)
        .err()
        .expect("a FIFO ioreg.plist is an error")
        .to_string();
    assert!(
        e.contains("ioreg.plist") && e.contains("not a regular file"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_folder_without_a_dump_names_both_files() {
    let dir = scratch("none");
    let e = replay::factory(&dir).err().unwrap().to_string();
    assert!(e.contains("ioreg.plist") && e.contains("ioreg.txt"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_malformed_dump_fails_with_its_file_and_line() {
    let cases = [
        ("truncated.plist", "not a complete XML plist"),
        ("garbage.bin", "is not text"),
        ("empty.txt", "the file is empty"),
    ];
    for (name, what) in cases {
        let path = fixture(&format!("malformed/{name}"));
        let e = load_dump(&path).unwrap_err();
        let text = e.to_string();
        let prefix = format!("{}:", path.display());
        let rest = text
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{name}: no file in {text}"));
        let line: String = rest.chars().take_while(char::is_ascii_digit).collect();
        assert!(
            line.parse::<usize>().is_ok_and(|l| l >= 1),
            "{name}: no line in {text}"
        );
        assert!(text.contains(what), "{name}: {text}");
    }
}

/// Issue 17: a pasted text dump with a bad line is read for everything else it holds; the bad line is a
/// warning with its line number, never the end of the read.
#[test]
fn malformed_text_loads_with_a_warning_at_the_fault() {
    let cases = [
        // A node shifted two columns right: it still reads, as a child of the node to its left.
        ("bad-indent.txt", 58, "levels below"),
        ("unterminated-data.txt", 51, "is cut or malformed"),
        ("unclosed-block.txt", 0, "has no closing `}`"),
    ];
    for (name, line, what) in cases {
        let path = fixture(&format!("malformed/{name}"));
        let t = load_dump(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let w = t
            .warnings
            .iter()
            .find(|w| w.contains(what))
            .unwrap_or_else(|| panic!("{name}: no `{what}` warning in {:?}", t.warnings));
        if line > 0 {
            assert!(
                w.starts_with(&format!("{}:{line}:", path.display())),
                "{name}: {w}"
            );
        }
        assert!(
            t.entries().iter().any(|e| e.class == "IOUSBHostDevice"),
            "{name}: the devices around the fault are kept"
        );
    }
}

#[test]
fn a_damaged_binary_plist_says_so_with_its_byte_offset_or_reason() {
    let path = fixture("malformed/damaged-binary.plist");
    let e = load_dump(&path).unwrap_err();
    assert!(matches!(e, DumpError::Binary { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("{}: damaged binary plist", path.display())),
        "{text}"
    );
}

#[test]
fn the_match_array_of_dash_r_and_the_child_dictionary_of_dash_t_load() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0">
<array>
  <dict>
    <key>IORegistryEntryName</key><string>DS620</string>
    <key>IORegistryEntryLocation</key><string>01120000</string>
    <key>IORegistryEntryID</key><integer>4294969872</integer>
    <key>IOObjectClass</key><string>IOUSBHostDevice</string>
    <key>IOServiceState</key><integer>30</integer>
    <key>idVendor</key><integer>5202</integer>
    <key>IORegistryEntryChildren</key>
    <dict>
      <key>IOUSBHostInterface@0</key>
      <dict>
        <key>IORegistryEntryName</key><string>IOUSBHostInterface</string>
        <key>IORegistryEntryLocation</key><string>0</string>
        <key>IORegistryEntryID</key><integer>4294969873</integer>
        <key>IOObjectClass</key><string>IOUSBHostInterface</string>
      </dict>
    </dict>
  </dict>
</array>
</plist>
"#;
    let tree = parse_dump(Path::new("r.plist"), xml.as_bytes()).unwrap();
    let paths: Vec<_> = tree.entries().into_iter().map(|e| e.path).collect();
    assert_eq!(
        paths,
        [
            "IOService:/DS620@01120000",
            "IOService:/DS620@01120000/IOUSBHostInterface@0"
        ]
    );
}

#[test]
fn no_input_panics() {
    // Every prefix of a real dump in both forms, and a few hostile lines: errors, never panics.
    for name in ["ds620.txt", "ds620.plist", "ds620-binary.plist"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        for cut in (0..bytes.len()).step_by(97) {
            let _ = parse_dump(Path::new(name), &bytes[..cut]);
        }
    }
    // Nothing usable: an error.
    for text in ["+-o", "+-o   <class >", "  {\n"] {
        assert!(
            parse_dump(Path::new("h.txt"), text.as_bytes()).is_err(),
            "{text:?}"
        );
    }
    // A node with one bad part: kept, and the bad part is a warning on line 1 or 3.
    for (text, line) in [
        ("+-o X  <class A, id 0xzz>", 1),
        ("+-o X  <class A, id 0x1>\n  {\n  \"k\" = ((((((\n", 3),
    ] {
        let t = parse_dump(Path::new("h.txt"), text.as_bytes()).unwrap();
        assert_eq!(t.roots[0].name, "X");
        assert!(
            t.warnings
                .iter()
                .any(|w| w.starts_with(&format!("h.txt:{line}:"))),
            "{text:?}: {:?}",
            t.warnings
        );
    }
}
