//! Valid files load into the model a runner relies on: the full example scenario, the corpus rules
//! (all errors of all files, unique names, `drivers/` skipped), and the two shipped driver files against
//! shared/reference/iokit.md §4.

use dexthil::driver::{CompletionCheck, DispatchRule, Provider, SimBehaviour, SizeCheck};
use dexthil::ioreturn::{ReturnCode, code};
use dexthil::lab::{OpenTarget, Prop, WaitFor};
use dexthil::scenario::{FaultKind, StepKind, load_corpus, load_driver, load_scenario};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/loader")
        .join(rel)
}

fn driver_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/drivers")
        .join(name)
}

#[test]
fn the_full_example_loads_with_defaults_spans_and_byte_forms() {
    let path = fixture("valid/full.yaml");
    let s = load_scenario(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name, "full", "name defaults to the file stem");
    assert_eq!(s.tags, ["smoke", "ds620"]);
    assert_eq!(s.deadline, Duration::from_secs(60));
    assert_eq!(s.step_deadline, Duration::from_secs(5));
    assert_eq!(s.driver.name, "DNP printer dext");

    assert_eq!(s.printers.len(), 2);
    assert_eq!(s.printers[0].name, "p");
    assert_eq!(
        s.printers[0].model.as_deref(),
        Some("DS620"),
        "alias / case resolved"
    );
    assert_eq!((s.printers[0].span.line, s.printers[0].span.column), (7, 3));
    assert_eq!(s.printers[1].vendor, Some(0x1343));
    assert_eq!(s.printers[1].location, Some(0x0112_0000));
    assert_eq!(s.printers[1].serial.as_deref(), Some("CX2E40117720"));

    assert_eq!(s.sim.faults.len(), 4);
    assert_eq!(
        s.sim.faults[0].kind,
        FaultKind::CallAnswers {
            selector: 0,
            code: ReturnCode(code::kIOReturnBusy)
        }
    );
    assert_eq!(s.sim.faults[0].times, Some(1));
    assert_eq!(
        (s.sim.faults[0].span.line, s.sim.faults[0].span.column),
        (11, 7)
    );
    assert_eq!(
        s.sim.faults[1].kind,
        FaultKind::OpenAnswers {
            role: None,
            code: ReturnCode(code::kIOReturnNotPermitted)
        }
    );
    assert_eq!(
        s.sim.faults[2].kind,
        FaultKind::DextCrash {
            selector: 4,
            rematch_after: Duration::from_millis(200)
        }
    );
    assert_eq!(
        s.sim.user_client_properties,
        Some(None),
        "`missing` means none"
    );
    assert_eq!(
        s.sim
            .host_entitlements
            .as_ref()
            .and_then(|h| h.get("com.apple.developer.driverkit.userclient-access")),
        Some(&Prop::Array(vec![Prop::Str(
            "com.example.dexthil.DNPPrinterDriver".into()
        )]))
    );
    assert_eq!(s.sim.timing.match_delay, Duration::from_millis(1500));

    let steps = &s.steps;
    assert_eq!(steps.len(), 12);
    assert_eq!((steps[0].span.line, steps[0].span.column), (20, 5));
    // A replug step outlasts a Mac's reset re-enumeration whatever `step_deadline` says.
    assert_eq!(
        steps[0].deadline,
        dexthil::scenario::REPLUG_STEP_MIN_DEADLINE,
        "a replug step's floor, above the scenario's 5 s step_deadline"
    );
    assert!(
        matches!(&steps[1].kind, StepKind::Await { role: Some(r), state: WaitFor::Matched } if r == "p")
    );
    assert_eq!(
        steps[1].deadline,
        Duration::from_secs(120),
        "`within` sets the deadline"
    );
    assert!(
        matches!(&steps[2].kind, StepKind::CrossCheck { skip, expect_mismatch, .. }
        if skip == &["serial"] && expect_mismatch == &["bcd_device"])
    );

    let StepKind::Call {
        args,
        expect,
        selector_name,
        ..
    } = &steps[4].kind
    else {
        panic!("step 5 is a call: {:?}", steps[4].kind)
    };
    assert_eq!(selector_name, "GetStatus");
    assert_eq!(
        (args.scalars_out_capacity, args.struct_out_capacity),
        (1, 0),
        "from the rule"
    );
    assert_eq!(
        expect.codes,
        [ReturnCode::SUCCESS, ReturnCode(code::kIOReturnBusy)]
    );
    assert_eq!(expect.scalars.as_deref(), Some(&[0u64][..]));

    let StepKind::Call { args, .. } = &steps[5].kind else {
        panic!("call")
    };
    assert_eq!(args.struct_in.len(), 4104);
    assert!(args.struct_in.iter().all(|b| *b == 0xAB));
    assert_eq!(args.scalars_in, [7]);
    assert_eq!(steps[5].deadline, Duration::from_millis(250));

    let StepKind::Call {
        args,
        expect,
        selector_name,
        ..
    } = &steps[6].kind
    else {
        panic!("call")
    };
    assert_eq!(
        (args.selector, selector_name.as_str()),
        (9, "#9"),
        "numbers past the table"
    );
    assert_eq!(
        (args.scalars_out_capacity, args.struct_out_capacity),
        (0, 0)
    );
    assert_eq!(args.struct_in, [0x00, 0x01, 0xFF]);
    assert_eq!(expect.codes, [ReturnCode(code::MIG_ARRAY_TOO_LARGE)]);
    assert_eq!(
        expect.struct_out.as_deref(),
        Some(&[1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0][..])
    );

    let StepKind::Call { args, .. } = &steps[7].kind else {
        panic!("call")
    };
    assert_eq!(args.struct_in, [0x5A; 16]);
    assert_eq!(
        args.struct_out_capacity, 8,
        "explicit capacity wins over the rule's 32"
    );

    assert!(
        matches!(&steps[9].kind, StepKind::Open { target: OpenTarget::UserServer, name, .. } if name == "wrong")
    );
    let StepKind::Repeat { times, steps: body } = &steps[10].kind else {
        panic!("repeat")
    };
    assert_eq!((*times, body.len()), (3, 2));
    assert!(matches!(steps[11].kind, StepKind::Sleep(d) if d == Duration::from_micros(100)));
}

#[test]
fn a_corpus_reports_every_bad_file_and_skips_driver_directories() {
    let errors = load_corpus(&[fixture("two-bad")]).expect_err("two bad files");
    let shown = errors.to_string();
    assert_eq!(errors.0.len(), 2, "{shown}");
    assert!(
        shown.contains("two-bad/a.yaml:4:21: unknown key `selectr`"),
        "{shown}"
    );
    assert!(shown.contains("two-bad/b.yaml:4:31: driver `Apple DriverKit user-client sample` has no selector `CheckedScalr`"), "{shown}");
    assert!(!shown.contains("not-a-scenario"), "{shown}");
}

#[test]
fn a_corpus_refuses_two_scenarios_with_one_name() {
    let errors = load_corpus(&[fixture("dup-names")]).expect_err("duplicate names");
    assert_eq!(errors.0.len(), 1, "{errors}");
    let e = &errors.0[0];
    assert!(
        e.message
            .starts_with("scenario name `same` is already used by "),
        "{e}"
    );
    assert!(e.message.contains("dup-names/sub/y.yaml:1:1"), "{e}");
    assert!(e.span.file.ends_with("dup-names/x.yaml"), "{e}");
}

#[test]
fn a_corpus_loads_each_driver_once_and_shares_it() {
    let scenarios = load_corpus(&[fixture("valid")]).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["full", "printer-status"]);
    assert!(std::sync::Arc::ptr_eq(
        &scenarios[0].driver,
        &scenarios[1].driver
    ));
}

#[test]
fn the_same_file_given_twice_is_a_duplicate_name() {
    let errors = load_corpus(&[fixture("dup-names/x.yaml"), fixture("dup-names/x.yaml")])
        .expect_err("same file twice");
    assert!(
        errors
            .to_string()
            .contains("scenario name `same` is already used"),
        "{errors}"
    );
}

fn rule(completion: CompletionCheck, counts: [u32; 4]) -> Option<DispatchRule> {
    let [si, sti, so, sto] = counts.map(SizeCheck::Exact);
    Some(DispatchRule {
        completion,
        scalars_in: si,
        struct_in: sti,
        scalars_out: so,
        struct_out: sto,
    })
}

#[test]
fn the_apple_sample_driver_matches_reference_section_4() {
    let d = load_driver(&driver_file("apple-sample.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.bundle_id, "com.example.apple-samplecode.NullDriver");
    assert_eq!(d.server_name, d.bundle_id);
    assert_eq!(
        (d.user_class.as_str(), d.io_class.as_str()),
        ("NullDriver", "IOUserService")
    );
    assert_eq!(d.provider, Provider::UserResources);
    assert_eq!(d.open_types, [0]);
    let ucp = d
        .user_client_properties
        .as_ref()
        .expect("UserClientProperties");
    assert_eq!(
        ucp.get("IOClass"),
        Some(&Prop::Str("IOUserUserClient".into()))
    );
    assert_eq!(
        ucp.get("IOUserClass"),
        Some(&Prop::Str("NullDriverUserClient".into()))
    );
    assert_eq!(
        d.entitlements.get("com.apple.developer.driverkit"),
        Some(&Prop::Bool(true))
    );

    let table: Vec<_> = d
        .selectors
        .iter()
        .map(|s| (s.id, s.name.as_str(), s.rule, s.sim.clone()))
        .collect();
    use CompletionCheck::*;
    assert_eq!(
        table,
        [
            (0, "Scalar", None, SimBehaviour::AddToScalars(1)),
            (
                1,
                "Struct",
                None,
                SimBehaviour::AddToStructFields(vec![1, 10])
            ),
            (
                2,
                "CheckedScalar",
                rule(Forbidden, [16, 0, 16, 0]),
                SimBehaviour::AddToScalars(1)
            ),
            (
                3,
                "CheckedStruct",
                rule(Forbidden, [0, 16, 0, 16]),
                SimBehaviour::AddToStructFields(vec![1, 10])
            ),
            (
                4,
                "RegisterAsyncCallback",
                rule(Required, [0, 16, 0, 16]),
                SimBehaviour::Succeed
            ),
            (
                5,
                "AsyncRequest",
                rule(DontCare, [0, 16, 0, 0]),
                SimBehaviour::Succeed
            ),
        ]
    );
    assert!(d.selectors.iter().all(|s| s.implemented));
}

#[test]
fn the_printer_driver_covers_every_esc_p_model_and_its_selectors() {
    let d = load_driver(&driver_file("dnp-printer.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.bundle_id, "com.example.dexthil.DNPPrinterDriver");
    assert_eq!(d.user_class, "DNPPrinterDriver");
    let Provider::UsbInterface {
        devices,
        interface,
        configuration,
    } = &d.provider
    else {
        panic!("usb provider: {:?}", d.provider)
    };
    assert_eq!((*interface, *configuration), (0, 1));
    for name in [
        "DS40", "DS80", "DS-RX1", "DS80DX", "DS620", "CX-02", "DS820", "CX-02W", "QW410", "CZ-01",
        "CW-01", "CW-02",
    ] {
        let m = dexthil::printer::catalog::find(name).expect(name);
        assert!(devices.contains(&(m.vendor, m.product)), "{name} missing");
    }
    for name in ["DS480", "DS680"] {
        let m = dexthil::printer::catalog::find(name).expect(name);
        assert!(
            !devices.contains(&(m.vendor, m.product)),
            "{name} speaks another protocol"
        );
    }
    assert_eq!(devices.len(), 12);
    assert_eq!(
        d.entitlements
            .get("com.apple.developer.driverkit.transport.usb"),
        Some(&Prop::Array(vec![
            Prop::Dict([("idVendor".to_string(), Prop::Int(0x1343))].into()),
            Prop::Dict([("idVendor".to_string(), Prop::Int(0x1452))].into()),
        ]))
    );
    use CompletionCheck::*;
    let table: Vec<_> = d
        .selectors
        .iter()
        .map(|s| (s.id, s.name.as_str(), s.rule, s.sim.clone()))
        .collect();
    assert_eq!(
        table,
        [
            (
                0,
                "GetStatus",
                rule(Forbidden, [0, 0, 1, 0]),
                SimBehaviour::PrinterStatus
            ),
            (
                1,
                "GetFirmwareVersion",
                rule(Forbidden, [0, 0, 0, 32]),
                SimBehaviour::PrinterInfo("FVER".into())
            ),
            (
                2,
                "GetSerialNumber",
                rule(Forbidden, [0, 0, 0, 32]),
                SimBehaviour::PrinterInfo("SERIAL_NUMBER".into())
            ),
            (
                3,
                "GetMedia",
                rule(Forbidden, [0, 0, 0, 32]),
                SimBehaviour::PrinterInfo("MEDIA".into())
            ),
            (
                4,
                "SubmitJob",
                Some(DispatchRule {
                    completion: Forbidden,
                    scalars_in: SizeCheck::Exact(1),
                    struct_in: SizeCheck::Variable,
                    scalars_out: SizeCheck::Exact(0),
                    struct_out: SizeCheck::Exact(0),
                }),
                SimBehaviour::Succeed
            ),
            (
                5,
                "WatchStatus",
                rule(Required, [0, 0, 0, 0]),
                SimBehaviour::Succeed
            ),
        ]
    );
    assert_eq!(
        d.rejected_type_answer,
        ReturnCode(code::kIOReturnBadArgument)
    );
}

#[test]
fn driver_file_mistakes_are_located() {
    let dir = std::env::temp_dir().join(format!("dexthil-loader-drv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("bad-driver.yaml");
    std::fs::write(
        &path,
        "name: x\nbundle_id: b\nuser_class: U\nprovider: user_resources\nselectors:\n  - id: 0\n    name: A\n    completion: forbiden\n  - id: 0\n    name: B\n    checked: false\n",
    )
    .expect("write");
    let errors = load_driver(&path).expect_err("bad driver");
    let shown = errors.to_string();
    assert!(
        shown.contains("bad-driver.yaml:8:17: unknown name `forbiden`"),
        "{shown}"
    );
    assert!(shown.contains("hint: did you mean `forbidden`?"), "{shown}");

    std::fs::write(
        &path,
        "name: x\nbundle_id: b\nuser_class: U\nprovider: user_resources\nselectors:\n  - id: 0\n    name: A\n    checked: false\n  - id: 0\n    name: B\n    completion: any\n  - { id: 1, name: C, completion: any, struct_in: lots }\n",
    )
    .expect("write");
    let shown = load_driver(&path).expect_err("bad driver").to_string();
    assert!(
        shown.contains("bad-driver.yaml:9:9: selector id 0 is already used by `A`"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "bad-driver.yaml:12:51: `struct_in` is `lots`: expected a count or `variable`"
        ),
        "{shown}"
    );
}
