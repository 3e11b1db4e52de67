//! The sim lab as a user of it would notice: open rules, dispatch of Apple's sample, ESC P status, replug,
//! hangs, crashes, unplug, slow match. Drivers and scenarios are built in code (the YAML loader is separate).

use super::*;
use crate::driver::{
    CompletionCheck, DispatchRule, Driver, Provider, Selector, SimBehaviour, SizeCheck,
};
use crate::scenario::{Fault, FaultKind, Role, SimConfig, SimTiming};
use crate::span::Span;
use std::time::Duration;

const SAMPLE_BUNDLE: &str = "com.example.apple-samplecode.NullDriver";
const PRINTER_BUNDLE: &str = "com.example.dnp-printer";

fn sel(id: u32, name: &str, rule: Option<DispatchRule>, sim: SimBehaviour) -> Selector {
    Selector {
        id,
        name: name.into(),
        rule,
        implemented: true,
        sim,
        answers: vec![],
        span: Span::builtin("test"),
    }
}

fn rule(c: CompletionCheck, si: u32, sti: u32, so: u32, sto: u32) -> DispatchRule {
    DispatchRule {
        completion: c,
        scalars_in: SizeCheck::Exact(si),
        struct_in: SizeCheck::Exact(sti),
        scalars_out: SizeCheck::Exact(so),
        struct_out: SizeCheck::Exact(sto),
    }
}

fn ucp() -> BTreeMap<String, Prop> {
    BTreeMap::from([
        ("IOClass".to_string(), Prop::Str("IOUserUserClient".into())),
        (
            "IOUserClass".to_string(),
            Prop::Str("NullDriverUserClient".into()),
        ),
    ])
}

/// Apple's DriverKit user-client sample (reference §4).
fn apple_sample() -> Driver {
    use CompletionCheck::*;
    let mut async_request = rule(DontCare, 0, 16, 0, 0);
    async_request.scalars_in = SizeCheck::Variable;
    async_request.scalars_out = SizeCheck::Variable;
    Driver {
        source: "test".into(),
        name: "Apple DriverKit user-client sample".into(),
        bundle_id: SAMPLE_BUNDLE.into(),
        user_class: "NullDriver".into(),
        io_class: "IOUserService".into(),
        server_name: SAMPLE_BUNDLE.into(),
        provider: Provider::UserResources,
        user_client_properties: Some(ucp()),
        open_types: vec![0],
        rejected_type_answer: ReturnCode(code::kIOReturnBadArgument),
        entitlements: BTreeMap::from([(
            "com.apple.developer.driverkit".to_string(),
            Prop::Bool(true),
        )]),
        log_prefix: Some("NullDriver".into()),
        log: Default::default(),
        classes: Default::default(),
        selectors: vec![
            sel(0, "Scalar", None, SimBehaviour::AddToScalars(1)),
            sel(
                1,
                "Struct",
                None,
                SimBehaviour::AddToStructFields(vec![1, 10]),
            ),
            sel(
                2,
                "CheckedScalar",
                Some(rule(Forbidden, 16, 0, 16, 0)),
                SimBehaviour::AddToScalars(1),
            ),
            sel(
                3,
                "CheckedStruct",
                Some(rule(Forbidden, 0, 16, 0, 16)),
                SimBehaviour::AddToStructFields(vec![1, 10]),
            ),
            Selector {
                implemented: false,
                ..sel(
                    4,
                    "RegisterAsyncCallback",
                    Some(rule(Required, 0, 16, 0, 16)),
                    SimBehaviour::Succeed,
                )
            },
            sel(
                5,
                "AsyncRequest",
                Some(async_request),
                SimBehaviour::Succeed,
            ),
        ],
    }
}

/// A printer dext matching every ESC P model's interface 0.
fn printer_driver() -> Driver {
    let devices = crate::printer::catalog::MODELS
        .iter()
        .filter(|m| m.protocol == crate::printer::catalog::Protocol::EscP)
        .map(|m| (m.vendor, m.product))
        .collect();
    Driver {
        bundle_id: PRINTER_BUNDLE.into(),
        user_class: "DNPPrinter".into(),
        server_name: PRINTER_BUNDLE.into(),
        provider: Provider::UsbInterface {
            devices,
            interface: 0,
            configuration: 1,
        },
        log_prefix: None,
        log: Default::default(),
        classes: Default::default(),
        open_types: vec![],
        selectors: vec![
            sel(
                0,
                "GetStatus",
                Some(rule(CompletionCheck::Forbidden, 0, 0, 1, 0)),
                SimBehaviour::PrinterStatus,
            ),
            sel(
                1,
                "GetFirmware",
                None,
                SimBehaviour::PrinterInfo("FVER".into()),
            ),
            sel(2, "Slow", None, SimBehaviour::Succeed),
        ],
        ..apple_sample()
    }
}

fn role(name: &str, model: &str) -> Role {
    Role {
        name: name.into(),
        span: Span::builtin("test"),
        model: Some(model.into()),
        vendor: None,
        product: None,
        serial: None,
        location: None,
    }
}

fn scenario(driver: Driver, sim: SimConfig) -> Scenario {
    Scenario {
        name: "sim-test".into(),
        about: String::new(),
        tags: vec![],
        source: "test".into(),
        span: Span::builtin("test"),
        driver: Arc::new(driver),
        printers: vec![role("p", "DS620")],
        deadline: Duration::from_secs(10),
        step_deadline: Duration::from_secs(2),
        sim,
        steps: vec![],
    }
}

fn lab(driver: Driver, sim: SimConfig) -> SimLab {
    SimLab::for_scenario(&scenario(driver, sim)).expect("lab")
}

fn fault(kind: FaultKind) -> Fault {
    Fault {
        span: Span::builtin("test"),
        kind,
        times: None,
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(2)
}

fn ds620(l: &SimLab) -> UsbView {
    l.devices()
        .unwrap()
        .into_iter()
        .find(|v| v.product_id == 0x8B01)
        .expect("DS620 on the bus")
}

fn one(l: &SimLab, class: &str) -> RegEntry {
    let mut all = l.entries_of_class(class);
    assert_eq!(all.len(), 1, "{class}: {all:?}");
    all.remove(0)
}

fn open(l: &SimLab, entry: EntryId) -> OpenOutcome {
    l.open(&OpenRequest {
        entry,
        open_type: 0,
    })
    .unwrap()
}

fn sample_service(l: &SimLab) -> EntryId {
    l.service_entry(None).expect("NullDriver matched").id
}

fn code_of(o: &OpenOutcome) -> u32 {
    o.code.0
}

// ---- open rules, one by one --------------------------------------------------------------------------

#[test]
fn opening_the_service_works_and_the_dext_logs_new_user_client() {
    let l = lab(apple_sample(), SimConfig::default());
    let o = open(&l, sample_service(&l));
    assert_eq!(code_of(&o), code::kIOReturnSuccess);
    assert!(o.connection.is_some());
    assert_eq!(
        l.log_lines(),
        vec!["NullDriver: NewUserClient(0)".to_string()]
    );
}

#[test]
fn opening_the_user_server_is_unsupported_without_new_user_client() {
    let l = lab(apple_sample(), SimConfig::default());
    let server = one(&l, "IOUserServer");
    assert!(
        server
            .name
            .starts_with("IOUserServer(com.example.apple-samplecode.NullDriver-0x")
    );
    let o = open(&l, server.id);
    assert_eq!(code_of(&o), code::kIOReturnUnsupported);
    assert!(o.connection.is_none());
    assert!(l.log_lines().is_empty(), "{:?}", l.log_lines());
}

#[test]
fn opening_the_usb_interface_or_device_reaches_apples_user_client_not_the_dext() {
    let l = lab(printer_driver(), SimConfig::default());
    let service = l.service_entry(Some(&ds620(&l))).unwrap();
    let interface = l.entry(service.parent.unwrap()).unwrap();
    assert_eq!(interface.class, "IOUSBHostInterface");
    let o = open(&l, interface.id);
    assert_eq!(code_of(&o), crate::scenario::USB_HOST_OPEN_GUESS);
    // Apple's USB user client does not know the dext's selectors (UNCONFIRMED answer).
    let args = CallArgs {
        selector: 0,
        scalars_in: vec![],
        struct_in: vec![],
        scalars_out_capacity: 1,
        struct_out_capacity: 0,
        completion: false,
    };
    let answered = l.call(o.connection.unwrap(), &args).unwrap();
    assert_eq!(answered.code.0, APPLE_USB_CALL_ANSWER);
    let device = l.entry(interface.parent.unwrap()).unwrap();
    assert_eq!(device.class, "IOUSBHostDevice");
    assert_eq!(
        code_of(&open(&l, device.id)),
        crate::scenario::USB_HOST_OPEN_GUESS
    );
    assert!(l.log_lines().is_empty(), "{:?}", l.log_lines());
    let configured = lab(
        printer_driver(),
        SimConfig {
            usb_host_open: Some(ReturnCode(code::kIOReturnExclusiveAccess)),
            ..SimConfig::default()
        },
    );
    let service = configured.service_entry(Some(&ds620(&configured))).unwrap();
    assert_eq!(
        code_of(&open(&configured, service.parent.unwrap())),
        code::kIOReturnExclusiveAccess
    );
}

fn host(access: Prop) -> Option<BTreeMap<String, Prop>> {
    Some(BTreeMap::from([(
        open_rules::USERCLIENT_ACCESS.to_string(),
        access,
    )]))
}

#[test]
fn newline_joined_userclient_access_is_not_permitted_and_logs_only_the_refusal() {
    let joined = format!("com.example.other\n{SAMPLE_BUNDLE}");
    let l = lab(
        apple_sample(),
        SimConfig {
            host_entitlements: host(Prop::Str(joined)),
            ..SimConfig::default()
        },
    );
    let id = sample_service(&l);
    assert_eq!(code_of(&open(&l, id)), code::kIOReturnNotPermitted);
    let log = l.log_lines();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0], "NullDriver: NewUserClient(0)");
    // DKS names the user client (its IOUserClass) and its own registry id, not the service's.
    assert!(
        log[1].starts_with("DK: NullDriverUserClient-0x")
            && log[1].ends_with(":UC entitlements check failed")
            && !log[1].contains(&format!("0x{id:x}:")),
        "{}",
        log[1]
    );
}

#[test]
fn a_missing_userclient_access_logs_the_needed_bundle_id() {
    let l = lab(
        apple_sample(),
        SimConfig {
            host_entitlements: Some(BTreeMap::new()),
            ..SimConfig::default()
        },
    );
    assert_eq!(
        code_of(&open(&l, sample_service(&l))),
        code::kIOReturnNotPermitted
    );
    let log = l.log_lines();
    assert!(
        log[1].starts_with("DK: NullDriverUserClient-0x")
            && log[1].ends_with(&format!(
                ":UC failed userclient-access check, needed bundle ID {SAMPLE_BUNDLE}"
            )),
        "{log:?}"
    );
    assert!(log[2].ends_with(":UC entitlements check failed"), "{log:?}");
}

#[test]
fn one_userclient_access_string_equal_to_the_bundle_id_passes() {
    let l = lab(
        apple_sample(),
        SimConfig {
            host_entitlements: host(Prop::Str(SAMPLE_BUNDLE.into())),
            ..SimConfig::default()
        },
    );
    assert_eq!(
        code_of(&open(&l, sample_service(&l))),
        code::kIOReturnSuccess
    );
}

#[test]
fn allow_any_counts_on_the_dext_only() {
    let allow_any = BTreeMap::from([(
        open_rules::ALLOW_ANY_USERCLIENT_ACCESS.to_string(),
        Prop::Bool(true),
    )]);
    let on_dext = lab(
        apple_sample(),
        SimConfig {
            host_entitlements: Some(BTreeMap::new()),
            dext_entitlements: Some(allow_any.clone()),
            ..SimConfig::default()
        },
    );
    assert_eq!(code_of(&open(&on_dext, sample_service(&on_dext))), 0);
    let on_host = lab(
        apple_sample(),
        SimConfig {
            host_entitlements: Some(allow_any),
            ..SimConfig::default()
        },
    );
    assert_eq!(
        code_of(&open(&on_host, sample_service(&on_host))),
        code::kIOReturnNotPermitted
    );
}

#[test]
fn missing_user_client_properties_is_bad_argument() {
    let l = lab(
        apple_sample(),
        SimConfig {
            user_client_properties: Some(None),
            ..SimConfig::default()
        },
    );
    let service = l.service_entry(None).unwrap();
    assert!(service.prop("UserClientProperties").is_none());
    assert_eq!(code_of(&open(&l, service.id)), code::kIOReturnBadArgument);
    assert_eq!(
        l.log_lines(),
        vec!["NullDriver: NewUserClient(0)".to_string()]
    );
}

#[test]
fn a_user_client_class_that_is_not_io_user_user_client_is_unsupported() {
    let mut props = ucp();
    props.insert("IOClass".into(), Prop::Str("IOUserClient".into()));
    let l = lab(
        apple_sample(),
        SimConfig {
            user_client_properties: Some(Some(props)),
            ..SimConfig::default()
        },
    );
    assert_eq!(
        code_of(&open(&l, sample_service(&l))),
        code::kIOReturnUnsupported
    );
}

#[test]
fn skip_entitlement_check_opens_without_any_entitlement() {
    let l = lab(
        apple_sample(),
        SimConfig {
            host_entitlements: Some(BTreeMap::new()),
            skip_entitlement_check: true,
            ..SimConfig::default()
        },
    );
    assert_eq!(
        code_of(&open(&l, sample_service(&l))),
        code::kIOReturnSuccess
    );
}

#[test]
fn user_client_entitlements_the_host_lacks_are_not_privileged() {
    let mut props = ucp();
    props.insert(
        "IOUserClientEntitlements".into(),
        Prop::Str("com.example.needed".into()),
    );
    let l = lab(
        apple_sample(),
        SimConfig {
            user_client_properties: Some(Some(props)),
            ..SimConfig::default()
        },
    );
    assert_eq!(
        code_of(&open(&l, sample_service(&l))),
        code::kIOReturnNotPrivileged
    );
    let line = format!(
        "IOUC IOUserUserClient missing entitlement in process pid {}, dexthil",
        std::process::id()
    );
    assert!(l.log_lines().contains(&line), "{:?}", l.log_lines());
}

#[test]
fn an_open_type_the_dext_refuses_gets_its_answer() {
    let l = lab(apple_sample(), SimConfig::default());
    let o = l
        .open(&OpenRequest {
            entry: sample_service(&l),
            open_type: 7,
        })
        .unwrap();
    assert_eq!(o.code.0, code::kIOReturnBadArgument);
    assert_eq!(
        l.log_lines(),
        vec!["NullDriver: NewUserClient(7)".to_string()]
    );
}

#[test]
fn a_crashed_dext_is_offline_for_a_host_that_kept_the_old_service() {
    let l = lab(
        apple_sample(),
        SimConfig {
            faults: vec![fault(FaultKind::DextCrash {
                selector: 0,
                rematch_after: Duration::from_secs(60),
            })],
            ..SimConfig::default()
        },
    );
    let old = sample_service(&l);
    let c = open(&l, old).connection.unwrap();
    let crashed = l.call(c, &scalars(0, 16, 16)).unwrap();
    assert_eq!(crashed.code.0, code::MACH_SEND_INVALID_DEST);
    assert_eq!(code_of(&open(&l, old)), code::kIOReturnOffline);
    assert!(l.service_entry(None).is_none(), "no service while crashed");
}

#[test]
fn calls_that_reach_the_dext_leave_its_breadcrumb_and_a_crash_leaves_a_report() {
    use crate::lab::Lab;
    let l = lab(
        apple_sample(),
        SimConfig {
            faults: vec![fault(FaultKind::DextCrash {
                selector: 3,
                rematch_after: Duration::from_secs(60),
            })],
            ..SimConfig::default()
        },
    );
    let before = std::time::SystemTime::now();
    let c = open(&l, sample_service(&l)).connection.unwrap();
    // 17 scalars never leave the process: the dext hears nothing of them.
    assert_eq!(
        l.call(c, &scalars(0, 17, 16)).unwrap().code.0,
        code::MIG_ARRAY_TOO_LARGE
    );
    l.call(c, &scalars(2, 16, 16)).unwrap();
    let capture = l.logs().expect("the sim captures logs");
    assert_eq!(capture.crash_report(before, Duration::ZERO), None);
    l.call(c, &structure(3, 1, 2, 16, 16)).unwrap();
    // A dead dext logs nothing more.
    l.call(c, &scalars(2, 16, 16)).unwrap();
    assert_eq!(
        l.log_lines(),
        [
            "NullDriver: NewUserClient(0)",
            "NullDriver: ExternalMethod(2)",
            "NullDriver: ExternalMethod(3)"
        ]
    );
    let report = capture
        .crash_report(before, Duration::ZERO)
        .expect("a report");
    assert_eq!(report.process.as_deref(), Some(SAMPLE_BUNDLE));
    assert!(report.summary_lines()[3].contains("NullDriver::ExternalMethod (selector 3)"));
}

// ---- dispatch through the sim: Apple's sample --------------------------------------------------------

fn scalars(selector: u32, n: usize, out: u32) -> CallArgs {
    CallArgs {
        selector,
        scalars_in: (0..n as u64).map(|i| i * 100).collect(),
        scalars_out_capacity: out,
        ..CallArgs::default()
    }
}

fn structure(selector: u32, foo: u64, bar: u64, len: usize, out: u32) -> CallArgs {
    let mut s = vec![0xAB; len];
    s[..8].copy_from_slice(&foo.to_le_bytes());
    s[8..16].copy_from_slice(&bar.to_le_bytes());
    CallArgs {
        selector,
        struct_in: s,
        struct_out_capacity: out,
        ..CallArgs::default()
    }
}

fn opened_sample() -> (SimLab, ConnectionId) {
    let l = lab(apple_sample(), SimConfig::default());
    let c = open(&l, sample_service(&l)).connection.unwrap();
    (l, c)
}

#[test]
fn sample_scalar_and_struct_compute_their_outputs() {
    let (l, c) = opened_sample();
    let out = l.call(c, &scalars(0, 16, 16)).unwrap();
    assert_eq!(out.code.0, 0);
    assert_eq!(
        out.scalars_out,
        (0..16u64).map(|i| i * 100 + 1).collect::<Vec<_>>()
    );
    let out = l.call(c, &scalars(2, 16, 16)).unwrap();
    assert_eq!(out.scalars_out[15], 1501);
    let out = l.call(c, &structure(1, 5, 7, 16, 16)).unwrap();
    assert_eq!(out.code.0, 0);
    assert_eq!(&out.struct_out[..8], &6u64.to_le_bytes());
    assert_eq!(&out.struct_out[8..16], &17u64.to_le_bytes());
    let out = l.call(c, &structure(3, u64::MAX, 0, 16, 16)).unwrap();
    assert_eq!(
        &out.struct_out[..8],
        &0u64.to_le_bytes(),
        "wraps like the C sample"
    );
}

#[test]
fn sample_struct_takes_the_4104_byte_out_of_line_variant() {
    let (l, c) = opened_sample();
    let out = l.call(c, &structure(1, 1, 2, 4104, 16)).unwrap();
    assert_eq!(out.code.0, 0);
    assert_eq!(
        out.struct_out.len(),
        16,
        "the sample answers its 16-byte {{foo, bar}}"
    );
    assert_eq!(&out.struct_out[..8], &2u64.to_le_bytes());
    assert_eq!(&out.struct_out[8..16], &12u64.to_le_bytes());
    // The dext's 16-byte output does not fit an 8-byte buffer: kIOReturnBadArgument (reference §3).
    let out = l.call(c, &structure(1, 1, 2, 4104, 8)).unwrap();
    assert_eq!(out.code.0, code::kIOReturnBadArgument);
}

#[test]
fn sample_dispatch_refusals() {
    let (l, c) = opened_sample();
    let call = |a: CallArgs| l.call(c, &a).unwrap().code.0;
    assert_eq!(call(scalars(2, 15, 16)), code::kIOReturnBadArgument);
    assert_eq!(call(scalars(2, 16, 15)), code::kIOReturnBadArgument);
    assert_eq!(call(structure(3, 0, 0, 17, 16)), code::kIOReturnBadArgument);
    assert_eq!(call(scalars(0, 17, 16)), code::MIG_ARRAY_TOO_LARGE);
    assert_eq!(call(scalars(6, 0, 0)), code::kIOReturnBadArgument);
    // RegisterAsyncCallback requires a completion; given one, its NULL function answers NoCompletion.
    assert_eq!(call(structure(4, 0, 0, 16, 16)), code::kIOReturnBadArgument);
    let mut with = structure(4, 0, 0, 16, 16);
    with.completion = true;
    assert_eq!(call(with), code::kIOReturnNoCompletion);
    let mut forbidden = scalars(2, 16, 16);
    forbidden.completion = true;
    assert_eq!(call(forbidden), code::kIOReturnBadArgument);
    let mut dont_care = structure(5, 0, 0, 16, 0);
    dont_care.completion = true;
    assert_eq!(call(dont_care), code::kIOReturnSuccess);
}

#[test]
fn calls_measure_their_time_and_open_count_returns_to_zero() {
    let (l, c) = opened_sample();
    assert_eq!(l.open_count(), 1);
    let c2 = open(&l, sample_service(&l)).connection.unwrap();
    assert_eq!(l.open_count(), 2);
    let out = l.call(c, &scalars(0, 1, 1)).unwrap();
    assert!(out.took < Duration::from_secs(1));
    assert_eq!(l.close(c).unwrap(), ReturnCode::SUCCESS);
    assert_eq!(l.close(c2).unwrap(), ReturnCode::SUCCESS);
    assert_eq!(l.open_count(), 0);
    assert_eq!(l.call(c, &scalars(0, 1, 1)), Err(LabError::NotOpen(c)));
    assert_eq!(l.close(c), Err(LabError::NotOpen(c)));
}

// ---- printers ----------------------------------------------------------------------------------------

#[test]
fn printer_status_and_firmware_go_through_esc_p() {
    let l = lab(printer_driver(), SimConfig::default());
    let p = ds620(&l);
    let c = open(&l, l.service_entry(Some(&p)).unwrap().id)
        .connection
        .unwrap();
    l.set_printer_status(&p, 1300).unwrap();
    let status = l.call(c, &scalars(0, 0, 1)).unwrap();
    assert_eq!((status.code.0, status.scalars_out.clone()), (0, vec![1300]));
    let fw = l
        .call(
            c,
            &CallArgs {
                selector: 1,
                struct_out_capacity: 16,
                ..CallArgs::default()
            },
        )
        .unwrap();
    assert_eq!(
        fw.struct_out, b"DS620 01.20",
        "the output size is the answer's, not the buffer's"
    );
}

#[test]
fn the_station_has_every_model_with_real_registry_keys() {
    let l = lab(printer_driver(), SimConfig::default());
    let devices = l.devices().unwrap();
    assert_eq!(devices.len(), crate::printer::catalog::MODELS.len());
    let p = ds620(&l);
    let loc = crate::usb::location::encode(p.bus, &p.port_path).unwrap();
    let dev = l
        .find(&Matching {
            class: Some("IOUSBHostDevice".into()),
            properties: BTreeMap::from([("locationID".to_string(), Prop::Int(loc.into()))]),
            ..Matching::default()
        })
        .unwrap();
    assert_eq!(dev.len(), 1);
    let dev = &dev[0];
    assert_eq!(dev.name, "DS620");
    assert_eq!(dev.int("USB Address"), Some(p.address.into()));
    assert_eq!(dev.string("USB Serial Number"), Some("DS6C98031738"));
    assert_eq!(dev.string("kUSBSerialNumberString"), Some("DS6C98031738"));
    // Rule R4: under a controller and a hub, not the plane's root.
    assert!(
        dev.path
            .starts_with("IOService:/XHC1@01000000/USB2.0 Hub@01100000/DS620@"),
        "{}",
        dev.path
    );
    let service = l.service_entry(Some(&p)).unwrap();
    assert_eq!(service.name, "DNPPrinter");
    assert_eq!(
        service.string("IOProviderClass"),
        Some("IOUSBHostInterface")
    );
    assert_eq!(service.int("idProduct"), Some(0x8B01));
    assert!(service.conforms_to("IOService"));
    // DS480 speaks another protocol: the printer dext does not match it.
    let ds480 = devices.iter().find(|v| v.product_id == 0x8F01).unwrap();
    assert!(l.service_entry(Some(ds480)).is_none());
}

// ---- time: replug, hang, crash, unplug, slow match ---------------------------------------------------

fn service_matching(l: &SimLab) -> Matching {
    let _ = l;
    Matching {
        class: Some("IOUserService".into()),
        name: Some("DNPPrinter".into()),
        ..Matching::default()
    }
}

#[test]
fn replug_departs_then_arrives_at_a_new_address_then_matches() {
    let l = lab(printer_driver(), SimConfig::default());
    let before = ds620(&l);
    let old_service = l.service_entry(Some(&before)).unwrap();
    let c = open(&l, old_service.id).connection.unwrap();
    let same_port = {
        let b = before.clone();
        move |v: &UsbView| v.bus == b.bus && v.port_path == b.port_path
    };
    l.replug(&before).unwrap();
    assert_eq!(l.wait_usb(&same_port, false, soon()).unwrap(), None);
    assert_eq!(
        l.entry(old_service.id),
        Err(LabError::NoEntry(old_service.id))
    );
    assert_eq!(
        l.call(c, &scalars(0, 0, 1)).unwrap().code.0,
        code::kIOReturnNotAttached
    );
    let after = l.wait_usb(&same_port, true, soon()).unwrap().unwrap();
    assert_ne!(
        after.address, before.address,
        "re-enumeration gives a new address"
    );
    let mut m = service_matching(&l);
    m.properties.insert("idProduct".into(), Prop::Int(0x8B01));
    let new_service = l.wait(&m, WaitFor::Matched, soon()).unwrap().unwrap();
    assert!(new_service.id > old_service.id);
    assert_eq!(code_of(&open(&l, new_service.id)), 0);
}

#[test]
fn a_hung_call_blocks_until_its_connection_is_closed() {
    let l = Arc::new(lab(
        printer_driver(),
        SimConfig {
            faults: vec![fault(FaultKind::CallHangs { selector: 2 })],
            ..SimConfig::default()
        },
    ));
    let c = open(&l, l.service_entry(Some(&ds620(&l))).unwrap().id)
        .connection
        .unwrap();
    let caller = {
        let l = Arc::clone(&l);
        std::thread::spawn(move || {
            l.call(
                c,
                &CallArgs {
                    selector: 2,
                    ..CallArgs::default()
                },
            )
        })
    };
    assert!(l.wait_hung_calls(1, soon()), "the call reached its hang");
    std::thread::sleep(Duration::from_millis(100));
    assert!(!caller.is_finished(), "the call must really block");
    assert_eq!(l.hung_calls(), 1);
    l.close(c).unwrap();
    let out = caller.join().unwrap().unwrap();
    assert_eq!(out.code.0, HUNG_CALL_RELEASED);
    assert!(out.took >= Duration::from_millis(100));
    assert_eq!(l.hung_calls(), 0);
    assert_eq!(l.open_count(), 0);
}

#[test]
fn a_crash_kills_connections_and_the_dext_rematches_with_new_ids() {
    let l = lab(
        apple_sample(),
        SimConfig {
            faults: vec![Fault {
                times: Some(1),
                ..fault(FaultKind::DextCrash {
                    selector: 0,
                    rematch_after: Duration::from_millis(50),
                })
            }],
            ..SimConfig::default()
        },
    );
    let old_service = sample_service(&l);
    let old_server = one(&l, "IOUserServer").id;
    let c = open(&l, old_service).connection.unwrap();
    assert_eq!(
        l.call(c, &scalars(0, 1, 1)).unwrap().code.0,
        code::MACH_SEND_INVALID_DEST
    );
    assert_eq!(
        l.call(c, &scalars(2, 16, 16)).unwrap().code.0,
        code::MACH_SEND_INVALID_DEST
    );
    assert!(l.entries_of_class("IOUserServer").is_empty());
    let m = Matching {
        name: Some("NullDriver".into()),
        ..Matching::default()
    };
    let back = l.wait(&m, WaitFor::Matched, soon()).unwrap().unwrap();
    assert!(back.id != old_service && back.id > old_server);
    assert_ne!(one(&l, "IOUserServer").id, old_server);
    let c2 = open(&l, back.id).connection.unwrap();
    assert_eq!(l.call(c2, &scalars(0, 1, 1)).unwrap().scalars_out, vec![1]);
    assert_eq!(
        l.call(c, &scalars(0, 1, 1)).unwrap().code.0,
        code::MACH_SEND_INVALID_DEST
    );
}

#[test]
fn unplug_fault_removes_the_printer_after_its_delay_for_good() {
    let created = Instant::now();
    let l = lab(
        printer_driver(),
        SimConfig {
            faults: vec![fault(FaultKind::Unplug {
                role: "p".into(),
                after: Duration::from_millis(80),
            })],
            ..SimConfig::default()
        },
    );
    let p = ds620(&l);
    let c = open(&l, l.service_entry(Some(&p)).unwrap().id)
        .connection
        .unwrap();
    let is_p = move |v: &UsbView| v.product_id == 0x8B01;
    assert_eq!(l.wait_usb(&is_p, false, soon()).unwrap(), None);
    assert!(
        created.elapsed() >= Duration::from_millis(80),
        "not before its delay"
    );
    assert!(l.service_entry(Some(&p)).is_none());
    assert_eq!(
        l.call(c, &scalars(0, 0, 1)).unwrap().code.0,
        code::kIOReturnNotAttached
    );
    let stays_away = l.wait_usb(&is_p, true, Instant::now() + Duration::from_millis(150));
    assert!(matches!(stays_away, Err(WaitError::TimedOut(_))));
}

#[test]
fn slow_match_delays_the_service_not_the_device() {
    let started = Instant::now();
    let l = lab(
        printer_driver(),
        SimConfig {
            faults: vec![fault(FaultKind::SlowMatch {
                role: "p".into(),
                delay: Duration::from_millis(120),
            })],
            timing: SimTiming::default(),
            ..SimConfig::default()
        },
    );
    let p = ds620(&l);
    assert!(l.service_entry(Some(&p)).is_none(), "not matched yet");
    let mut m = service_matching(&l);
    m.properties.insert("idProduct".into(), Prop::Int(0x8B01));
    let early = l.wait(&m, WaitFor::Matched, started + Duration::from_millis(50));
    assert!(matches!(early, Err(WaitError::TimedOut(_))));
    assert!(l.wait(&m, WaitFor::Matched, soon()).unwrap().is_some());
    assert!(started.elapsed() >= Duration::from_millis(120));
}

#[test]
fn an_unknown_fault_role_is_no_printer() {
    let s = scenario(
        printer_driver(),
        SimConfig {
            faults: vec![fault(FaultKind::Unplug {
                role: "nobody".into(),
                after: Duration::ZERO,
            })],
            ..SimConfig::default()
        },
    );
    assert!(matches!(
        SimLab::for_scenario(&s),
        Err(LabError::NoPrinter { .. })
    ));
    let mut s = scenario(printer_driver(), SimConfig::default());
    s.printers = vec![Role {
        serial: Some("NOSUCHSERIAL".into()),
        ..role("q", "DS620")
    }];
    assert!(matches!(
        SimFactory.lab_for(&crate::backends::LabSpec::of(&s)),
        Err(LabError::NoPrinter { .. })
    ));
}

#[test]
fn open_fault_answers_on_its_role_only() {
    let l = lab(
        printer_driver(),
        SimConfig {
            faults: vec![fault(FaultKind::OpenAnswers {
                role: Some("p".into()),
                code: ReturnCode(code::kIOReturnBusy),
            })],
            ..SimConfig::default()
        },
    );
    let p = ds620(&l);
    assert_eq!(
        code_of(&open(&l, l.service_entry(Some(&p)).unwrap().id)),
        code::kIOReturnBusy
    );
    let other = l
        .devices()
        .unwrap()
        .into_iter()
        .find(|v| v.product_id == 0x0003)
        .unwrap();
    assert_eq!(
        code_of(&open(&l, l.service_entry(Some(&other)).unwrap().id)),
        0
    );
}

#[test]
fn the_sim_lab_is_send_and_sync_and_its_timer_stops_on_drop() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SimLab>();
    let l = lab(apple_sample(), SimConfig::default());
    let shared = Arc::downgrade(&l.shared);
    drop(l);
    assert!(
        shared.upgrade().is_none(),
        "the timer thread let go of the state"
    );
}

#[test]
fn a_mirrored_address_reaches_the_registry_and_survives_a_replug() {
    let l = lab(printer_driver(), SimConfig::default());
    let mut real = ds620(&l);
    real.address = 42;
    l.mirror_address(&real);
    let device_address = |l: &SimLab| {
        l.find(&Matching {
            class: Some("IOUSBHostDevice".into()),
            properties: [("idProduct".to_string(), Prop::Int(0x8B01))].into(),
            ..Matching::default()
        })
        .unwrap()
        .first()
        .and_then(|e| e.int("USB Address"))
    };
    assert_eq!(device_address(&l), Some(42));
    assert_eq!(ds620(&l).address, 42, "the sim's own USB view follows too");
    l.replug(&ds620(&l)).unwrap();
    let back = l
        .wait_usb(
            &|v: &UsbView| v.product_id == 0x8B01,
            true,
            Instant::now() + Duration::from_secs(5),
        )
        .unwrap()
        .expect("back");
    assert_eq!(
        back.address, 42,
        "re-enumeration keeps the mirrored address"
    );
    assert_eq!(device_address(&l), Some(42));
}
