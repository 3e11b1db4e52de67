//! One row per rule of docs/kernel-rules.md, named by its id: change a rule in the sim and its row fails;
//! a rule documented without a row, or a row without a documented rule, fails
//! `every_documented_rule_has_a_row`. Rows use the pure rules where they exist (`open_rules`,
//! `crate::dispatch`) and a sim lab built from the shipped driver and scenario files where the rule is
//! about the registry or what a call answers over time.

use super::dext;
use super::open_rules::{self, OpenInput, OpenTargetKind};
use super::*;
use crate::ioreturn::code;
use std::path::Path;

type Check = Box<dyn Fn() -> Result<(), String>>;

fn root(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn expect<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

fn holds(what: &str, ok: bool) -> Result<(), String> {
    ok.then_some(()).ok_or_else(|| what.to_string())
}

const BUNDLE: &str = "com.example.d";

fn ucp() -> Prop {
    Prop::Dict(BTreeMap::from([
        ("IOClass".into(), Prop::Str("IOUserUserClient".into())),
        ("IOUserClass".into(), Prop::Str("DUserClient".into())),
    ]))
}

fn access(p: Prop) -> BTreeMap<String, Prop> {
    BTreeMap::from([(open_rules::USERCLIENT_ACCESS.to_string(), p)])
}

fn granted() -> BTreeMap<String, Prop> {
    access(Prop::Array(vec![Prop::Str(BUNDLE.into())]))
}

/// The open of a running dext's service whose class overrides NewUserClient, by a correctly signed host,
/// with `change` applied to the parts a row varies.
fn open_with(
    target: OpenTargetKind,
    ucp: Option<Prop>,
    host: BTreeMap<String, Prop>,
    dext: BTreeMap<String, Prop>,
    tweak: impl FnOnce(&mut OpenInput),
) -> open_rules::OpenDecision {
    let mut input = OpenInput {
        target,
        open_type: 0,
        user_client_properties: ucp.as_ref(),
        open_types: &[],
        rejected_type_answer: ReturnCode(code::kIOReturnBadArgument),
        dext_entitlements: &dext,
        host_entitlements: &host,
        skip_entitlement_check: false,
        bundle_id: Some(BUNDLE),
        user_client_id: 0x1234,
        host_pid: 77,
        log_prefix: "D",
        usb_host_answer: ReturnCode(code::kIOReturnSuccess),
        rpc_failure: None,
    };
    tweak(&mut input);
    open_rules::open_rules(&input)
}

const RUNNING: OpenTargetKind = OpenTargetKind::DextBacked {
    running: true,
    overrides_new_user_client: true,
};

fn plain(host: BTreeMap<String, Prop>) -> open_rules::OpenDecision {
    open_with(RUNNING, Some(ucp()), host, BTreeMap::new(), |_| {})
}

fn code_is(what: &str, d: &open_rules::OpenDecision, want: u32) -> Result<(), String> {
    expect(what, d.code.0, want)
}

fn no_dext_line(d: &open_rules::OpenDecision) -> Result<(), String> {
    holds(
        &format!("no NewUserClient line expected: {:?}", d.log),
        !d.log.iter().any(|l| l.contains("NewUserClient")),
    )
}

fn with_ucp_key(key: &str, value: Prop) -> Prop {
    let mut d = ucp().as_dict().cloned().unwrap_or_default();
    d.insert(key.into(), value);
    Prop::Dict(d)
}

fn open_rows() -> Vec<(&'static str, Check)> {
    vec![
        (
            "O1",
            Box::new(|| {
                let d = open_with(
                    OpenTargetKind::NotAService,
                    Some(ucp()),
                    granted(),
                    BTreeMap::new(),
                    |_| {},
                );
                code_is("not an IOService", &d, code::kIOReturnBadArgument)
            }),
        ),
        (
            "O2",
            Box::new(|| {
                let d = open_with(
                    OpenTargetKind::Generic,
                    Some(ucp()),
                    granted(),
                    BTreeMap::new(),
                    |_| {},
                );
                code_is("the IOUserServer", &d, code::kIOReturnUnsupported)?;
                no_dext_line(&d)
            }),
        ),
        (
            "O3",
            Box::new(|| {
                let d = open_with(
                    OpenTargetKind::UsbHost,
                    Some(ucp()),
                    granted(),
                    BTreeMap::new(),
                    |i| i.usb_host_answer = ReturnCode(code::kIOReturnExclusiveAccess),
                );
                code_is(
                    "configured USB host answer",
                    &d,
                    code::kIOReturnExclusiveAccess,
                )?;
                no_dext_line(&d)?;
                expect(
                    "default guess",
                    crate::scenario::USB_HOST_OPEN_GUESS,
                    code::kIOReturnSuccess,
                )?;
                expect(
                    "calls on Apple's client",
                    APPLE_USB_CALL_ANSWER,
                    code::kIOReturnUnsupported,
                )
            }),
        ),
        (
            "O4",
            Box::new(|| {
                let gone = OpenTargetKind::DextBacked {
                    running: false,
                    overrides_new_user_client: true,
                };
                let d = open_with(gone, Some(ucp()), granted(), BTreeMap::new(), |_| {});
                code_is("server gone", &d, code::kIOReturnOffline)
            }),
        ),
        (
            "O5",
            Box::new(|| {
                for c in [
                    code::kIOReturnOffline,
                    code::kIOReturnNotReady,
                    code::MIG_SERVER_DIED,
                ] {
                    let d = open_with(RUNNING, Some(ucp()), granted(), BTreeMap::new(), |i| {
                        i.rpc_failure = Some(ReturnCode(c))
                    });
                    code_is("rpc failure", &d, c)?;
                    no_dext_line(&d)?;
                }
                Ok(())
            }),
        ),
        (
            "O6",
            Box::new(|| {
                let no_override = OpenTargetKind::DextBacked {
                    running: true,
                    overrides_new_user_client: false,
                };
                let d = open_with(no_override, Some(ucp()), granted(), BTreeMap::new(), |_| {});
                code_is("class without the override", &d, code::kIOReturnError)?;
                no_dext_line(&d)
            }),
        ),
        (
            "O7",
            Box::new(|| {
                for (what, props) in [
                    ("missing", None),
                    ("not a dictionary", Some(Prop::Str("x".into()))),
                    (
                        "IOClass not a string",
                        Some(with_ucp_key("IOClass", Prop::Int(1))),
                    ),
                ] {
                    let d = open_with(RUNNING, props, granted(), BTreeMap::new(), |_| {});
                    code_is(what, &d, code::kIOReturnBadArgument)?;
                }
                Ok(())
            }),
        ),
        (
            "O8",
            Box::new(|| {
                let d = open_with(
                    RUNNING,
                    Some(with_ucp_key("IOClass", Prop::Str("IOUserClient".into()))),
                    granted(),
                    BTreeMap::new(),
                    |_| {},
                );
                code_is("not IOUserUserClient", &d, code::kIOReturnUnsupported)
            }),
        ),
        (
            "O9",
            Box::new(|| {
                let allow = BTreeMap::from([(
                    open_rules::ALLOW_ANY_USERCLIENT_ACCESS.to_string(),
                    Prop::Bool(false),
                )]);
                let on_dext =
                    open_with(RUNNING, Some(ucp()), BTreeMap::new(), allow.clone(), |_| {});
                code_is(
                    "allow-any on the dext (presence counts)",
                    &on_dext,
                    code::kIOReturnSuccess,
                )?;
                code_is(
                    "allow-any on the host",
                    &plain(allow),
                    code::kIOReturnNotPermitted,
                )
            }),
        ),
        (
            "O10",
            Box::new(|| {
                code_is(
                    "array holding the id",
                    &plain(granted()),
                    code::kIOReturnSuccess,
                )?;
                code_is(
                    "one equal string",
                    &plain(access(Prop::Str(BUNDLE.into()))),
                    code::kIOReturnSuccess,
                )?;
                let joined = Prop::Str(format!("com.example.other\n{BUNDLE}"));
                code_is(
                    "newline-joined string",
                    &plain(access(joined)),
                    code::kIOReturnNotPermitted,
                )?;
                code_is(
                    "array without the id",
                    &plain(access(Prop::Array(vec![Prop::Str("x".into())]))),
                    code::kIOReturnNotPermitted,
                )
            }),
        ),
        (
            "O11",
            Box::new(|| {
                let list = Prop::Array(vec![
                    Prop::Array(vec![Prop::Str("a".into()), Prop::Str("b".into())]),
                    Prop::Array(vec![Prop::Str("c".into())]),
                ]);
                let needs = |host: &[&str]| {
                    let mut h = granted();
                    for k in host {
                        h.insert(k.to_string(), Prop::Bool(false));
                    }
                    open_with(
                        RUNNING,
                        Some(with_ucp_key(
                            open_rules::DEXT_ENTITLEMENTS_KEY,
                            list.clone(),
                        )),
                        h,
                        BTreeMap::new(),
                        |_| {},
                    )
                };
                code_is(
                    "first inner array fully held",
                    &needs(&["a", "b"]),
                    code::kIOReturnSuccess,
                )?;
                code_is(
                    "second inner array held",
                    &needs(&["c"]),
                    code::kIOReturnSuccess,
                )?;
                code_is(
                    "half an inner array",
                    &needs(&["a"]),
                    code::kIOReturnNotPermitted,
                )
            }),
        ),
        (
            "O12",
            Box::new(|| {
                code_is(
                    "refused",
                    &plain(BTreeMap::new()),
                    code::kIOReturnNotPermitted,
                )
            }),
        ),
        (
            "O13",
            Box::new(|| {
                let with = |v: Prop, host: BTreeMap<String, Prop>| {
                    open_with(
                        RUNNING,
                        Some(with_ucp_key(open_rules::USER_CLIENT_ENTITLEMENTS_KEY, v)),
                        host,
                        BTreeMap::new(),
                        |_| {},
                    )
                };
                let needed = Prop::Str("com.example.needed".into());
                code_is(
                    "string the host lacks",
                    &with(needed.clone(), granted()),
                    code::kIOReturnNotPrivileged,
                )?;
                let mut held = granted();
                held.insert("com.example.needed".into(), Prop::Bool(true));
                code_is(
                    "string the host holds",
                    &with(needed, held),
                    code::kIOReturnSuccess,
                )?;
                code_is(
                    "false allows",
                    &with(Prop::Bool(false), granted()),
                    code::kIOReturnSuccess,
                )?;
                let dict = Prop::Dict(BTreeMap::from([(
                    "com.example.needed".into(),
                    Prop::Bool(true),
                )]));
                code_is(
                    "a dictionary is ignored",
                    &with(dict, granted()),
                    code::kIOReturnSuccess,
                )
            }),
        ),
        (
            "O14",
            Box::new(|| {
                let d = open_with(
                    RUNNING,
                    Some(ucp()),
                    BTreeMap::new(),
                    BTreeMap::new(),
                    |i| i.skip_entitlement_check = true,
                );
                code_is("dk 0x8000", &d, code::kIOReturnSuccess)
            }),
        ),
        (
            "O15",
            Box::new(|| {
                let mut host = BTreeMap::new();
                host.insert(
                    open_rules::DRIVER_ACCESS.to_string(),
                    Prop::Array(vec![Prop::Str("com.example.dext-has".into())]),
                );
                let dext = BTreeMap::from([("com.example.dext-has".to_string(), Prop::Bool(true))]);
                let d = open_with(RUNNING, Some(ucp()), host.clone(), dext, |_| {});
                code_is("driver-access the dext holds", &d, code::kIOReturnSuccess)?;
                let d = open_with(RUNNING, Some(ucp()), host, BTreeMap::new(), |_| {});
                code_is(
                    "driver-access the dext lacks, no other access",
                    &d,
                    code::kIOReturnNotPermitted,
                )
            }),
        ),
        (
            "O16",
            Box::new(|| {
                let d = plain(BTreeMap::new());
                expect(
                    "first line",
                    d.log.first().map(String::as_str),
                    Some("D: NewUserClient(0)"),
                )
            }),
        ),
    ]
}

fn sample() -> crate::driver::Driver {
    crate::scenario::load_driver(&root("scenarios/drivers/apple-sample.yaml"))
        .expect("the sample loads")
}

fn args(
    selector: u32,
    scalars: usize,
    struct_in: usize,
    scalars_out: u32,
    struct_out: u32,
    completion: bool,
) -> CallArgs {
    CallArgs {
        selector,
        scalars_in: vec![1; scalars],
        struct_in: vec![0; struct_in],
        scalars_out_capacity: scalars_out,
        struct_out_capacity: struct_out,
        completion,
    }
}

fn refused(a: &CallArgs) -> Option<u32> {
    crate::dispatch::dispatch(&sample(), a)
        .err()
        .map(|r| r.code.0)
}

fn dispatch_rows() -> Vec<(&'static str, Check)> {
    vec![
        (
            "D1",
            Box::new(|| {
                expect(
                    "17 scalars in",
                    refused(&args(0, 17, 0, 0, 0, false)),
                    Some(code::MIG_ARRAY_TOO_LARGE),
                )
            }),
        ),
        (
            "D2",
            Box::new(|| {
                // CheckedScalar checks 16 out: room for 17 is clamped to 16 and passes, 16 come back.
                expect(
                    "room for 17 out",
                    refused(&args(2, 16, 0, 17, 0, false)),
                    None,
                )?;
                let out = dext::run_behaviour(
                    &crate::driver::SimBehaviour::AddToScalars(1),
                    &args(0, 16, 0, 40, 0, false),
                    None,
                );
                expect("scalars back", out.scalars_out.len(), 16)
            }),
        ),
        (
            "D3",
            Box::new(|| {
                let r =
                    crate::dispatch::dispatch(&sample(), &args(2, 15, 0, 16, 0, true)).unwrap_err();
                holds(
                    &format!("scalar count named before the completion: {}", r.reason),
                    r.reason.contains("scalar input count"),
                )
            }),
        ),
        (
            "D4",
            Box::new(|| {
                expect(
                    "past the table",
                    refused(&args(6, 0, 0, 0, 0, false)),
                    Some(code::kIOReturnBadArgument),
                )?;
                expect(
                    "completion where forbidden",
                    refused(&args(2, 16, 0, 16, 0, true)),
                    Some(code::kIOReturnBadArgument),
                )?;
                expect(
                    "completion missing where required",
                    refused(&args(4, 0, 16, 0, 16, false)),
                    Some(code::kIOReturnBadArgument),
                )
            }),
        ),
        (
            "D5",
            Box::new(|| {
                let add = crate::driver::SimBehaviour::AddToStructFields(vec![1, 10]);
                let out = dext::run_behaviour(&add, &args(1, 0, 16, 0, 64, false), None);
                expect("struct length back", out.struct_out.len(), 16)?;
                let out = dext::run_behaviour(&add, &args(1, 0, 16, 0, 8, false), None);
                expect(
                    "longer than the buffer",
                    out.code.0,
                    code::kIOReturnBadArgument,
                )
            }),
        ),
        (
            "D6",
            Box::new(|| {
                let mut d = sample();
                d.selectors
                    .iter_mut()
                    .filter(|s| s.id == 5)
                    .for_each(|s| s.implemented = false);
                let r = crate::dispatch::dispatch(&d, &args(5, 0, 16, 0, 0, false))
                    .err()
                    .map(|r| r.code.0);
                expect("NULL function", r, Some(code::kIOReturnNoCompletion))
            }),
        ),
        (
            "D7",
            Box::new(|| {
                let d = sample();
                let at = |n| {
                    crate::dispatch::dispatch(&d, &args(1, 0, n, 0, 0, false))
                        .map(|x| x.struct_in_out_of_line)
                };
                expect(
                    "4096 inline, 4097 out of line",
                    (at(4096), at(4097)),
                    (Ok(false), Ok(true)),
                )
            }),
        ),
    ]
}

fn lab_of(scenario: &str) -> SimLab {
    let s = crate::scenario::load_scenario(&root(scenario)).expect("the scenario loads");
    SimLab::for_scenario(&s).expect("the sim lab starts")
}

fn of_class(l: &SimLab, class: &str) -> Vec<RegEntry> {
    l.entries_of_class(class)
}

fn parent_class(l: &SimLab, e: &RegEntry) -> String {
    e.parent
        .and_then(|p| l.entry(p).ok())
        .map(|p| p.class)
        .unwrap_or_default()
}

fn registry_rows() -> Vec<(&'static str, Check)> {
    vec![
        (
            "R1",
            Box::new(|| {
                let l = lab_of("scenarios/smoke/ds620.yaml");
                let pe = of_class(&l, "IOPlatformExpertDevice");
                expect("one platform expert", pe.len(), 1)?;
                expect("its path", pe[0].path.as_str(), "IOService:/")?;
                expect(
                    "its parent",
                    parent_class(&l, &pe[0]).as_str(),
                    "IORegistryEntry",
                )
            }),
        ),
        (
            "R2",
            Box::new(|| {
                let l = lab_of("scenarios/smoke/ds620.yaml");
                let r = of_class(&l, "IOUserResources");
                expect(
                    "IOUserResources' parent",
                    parent_class(&l, &r[0]).as_str(),
                    "IOPlatformExpertDevice",
                )
            }),
        ),
        (
            "R3",
            Box::new(|| {
                let l = lab_of("scenarios/smoke/ds620.yaml");
                let servers = of_class(&l, "IOUserServer");
                let s = servers.first().ok_or("no IOUserServer")?;
                expect(
                    "server's parent",
                    parent_class(&l, s).as_str(),
                    "IOPlatformExpertDevice",
                )?;
                let tag = s.int("IOUserServerTag").ok_or("no IOUserServerTag")?;
                expect(
                    "name",
                    s.name.clone(),
                    format!("IOUserServer(com.example.dexthil.DNPPrinterDriver-0x{tag:x})"),
                )?;
                for key in [
                    "IOUserServerName",
                    "IOAssociatedServices",
                    "IOUserClientCreator",
                    "IOUserClientDefaultLocking",
                    "IOPowerManagement",
                ] {
                    holds(&format!("server key {key}"), s.prop(key).is_some())?;
                }
                holds(
                    "creator is `pid <n>, <name>`",
                    s.string("IOUserClientCreator")
                        .is_some_and(|c| c.starts_with("pid ")),
                )
            }),
        ),
        (
            "R4",
            Box::new(|| {
                let l = lab_of("scenarios/smoke/ds620.yaml");
                let s = l
                    .service_entry(Some(
                        &l.devices()
                            .map_err(|e| e.to_string())?
                            .into_iter()
                            .find(|v| v.product_id == 0x8B01)
                            .ok_or("no DS620")?,
                    ))
                    .ok_or("no service")?;
                holds(&format!("path {}", s.path), s.path.starts_with("IOService:/XHC1@01000000/USB2.0 Hub@01100000/DS620@01150000/IOUSBHostInterface@0/"))
            }),
        ),
        (
            "R5",
            Box::new(|| {
                let l = lab_of("scenarios/smoke/ds620.yaml");
                let v = l
                    .devices()
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .find(|v| v.product_id == 0x8B01)
                    .ok_or("no DS620")?;
                let s = l.service_entry(Some(&v)).ok_or("no service")?;
                expect(
                    "named after IOUserClass",
                    s.name.as_str(),
                    "DNPPrinterDriver",
                )?;
                for key in [
                    "IOUserServerCDHash",
                    "IOServiceDEXTEntitlements",
                    "CFBundleIdentifierKernel",
                    "IOMatchCategory",
                    "IOProbeScore",
                    "IOUserClasses",
                    "IOPersonalityPublisher",
                    "IOMatchedPersonality",
                    "UserClientProperties",
                ] {
                    holds(&format!("service key {key}"), s.prop(key).is_some())?;
                }
                expect(
                    "cdhash length",
                    s.string("IOUserServerCDHash").map(str::len),
                    Some(40),
                )
            }),
        ),
        (
            "R6",
            Box::new(|| {
                let l = lab_of("scenarios/smoke/ds620.yaml");
                let dev = of_class(&l, "IOUSBHostDevice")
                    .into_iter()
                    .find(|d| d.int("idProduct") == Some(0x8B01))
                    .ok_or("no DS620 device")?;
                for key in [
                    "USBSpeed",
                    "UsbLinkSpeed",
                    "USBPortType",
                    "IOServiceDEXTEntitlements",
                ] {
                    holds(&format!("device key {key}"), dev.prop(key).is_some())?;
                }
                expect(
                    "device override",
                    dev.string("IOClassNameOverride"),
                    Some("IOUSBDevice"),
                )?;
                let i = of_class(&l, "IOUSBHostInterface")
                    .into_iter()
                    .find(|i| i.parent == Some(dev.id))
                    .ok_or("no interface")?;
                expect(
                    "interface override",
                    i.string("IOClassNameOverride"),
                    Some("IOUSBInterface"),
                )
            }),
        ),
        (
            "R7",
            Box::new(|| {
                let l = lab_of("scenarios/field-bugs/open-nub-kioreturnerror.yaml");
                let nub = l
                    .find(&Matching {
                        name: Some("DNPStatusNub".into()),
                        ..Matching::default()
                    })
                    .map_err(|e| e.to_string())?;
                let nub = nub.first().ok_or("no nub")?;
                expect(
                    "nub's parent",
                    l.entry(nub.parent.ok_or("no parent")?).map(|p| p.name).ok(),
                    Some("DNPPrinterDriver".to_string()),
                )
            }),
        ),
        (
            "R8",
            Box::new(|| {
                let l = lab_of("scenarios/sample/scalar.yaml");
                let svc = l.service_entry(None).ok_or("no service")?;
                let c = l
                    .open(&OpenRequest {
                        entry: svc.id,
                        open_type: 0,
                    })
                    .map_err(|e| e.to_string())?
                    .connection
                    .ok_or("no connection")?;
                let ucs = of_class(&l, "IOUserUserClient");
                let uc = ucs.first().ok_or("no user client while open")?;
                expect("its parent", uc.parent, Some(svc.id))?;
                expect("its name", uc.name.as_str(), "NullDriverUserClient")?;
                holds(
                    "creator",
                    uc.string("IOUserClientCreator")
                        .is_some_and(|c| c.ends_with(", dexthil")),
                )?;
                l.close(c).map_err(|e| e.to_string())?;
                expect("after close", of_class(&l, "IOUserUserClient").len(), 0)
            }),
        ),
    ]
}

fn log_rows() -> Vec<(&'static str, Check)> {
    vec![
        (
            "L1",
            Box::new(|| {
                let d = plain(BTreeMap::new());
                holds(
                    &format!("{:?}", d.log),
                    d.log
                        .iter()
                        .skip(1)
                        .all(|l| l.starts_with("DK: DUserClient-0x1234:UC ")),
                )
            }),
        ),
        (
            "L2",
            Box::new(|| {
                let absent = plain(BTreeMap::new());
                expect(
                    "absent",
                    absent.log.get(1).map(String::as_str),
                    Some(
                        "DK: DUserClient-0x1234:UC failed userclient-access check, needed bundle ID com.example.d",
                    ),
                )?;
                let unmatched = plain(access(Prop::Str("com.example.other".into())));
                holds(
                    &format!("present but unmatched: {:?}", unmatched.log),
                    !unmatched.log.iter().any(|l| l.contains("needed bundle ID")),
                )
            }),
        ),
        (
            "L3",
            Box::new(|| {
                for d in [plain(BTreeMap::new()), plain(access(Prop::Str("x".into())))] {
                    expect(
                        "last line",
                        d.log.last().map(String::as_str),
                        Some("DK: DUserClient-0x1234:UC entitlements check failed"),
                    )?;
                }
                Ok(())
            }),
        ),
        (
            "L4",
            Box::new(|| {
                let d = open_with(
                    RUNNING,
                    Some(with_ucp_key(
                        open_rules::USER_CLIENT_ENTITLEMENTS_KEY,
                        Prop::Str("e".into()),
                    )),
                    granted(),
                    BTreeMap::new(),
                    |_| {},
                );
                expect(
                    "IOUC line",
                    d.log.last().map(String::as_str),
                    Some("IOUC IOUserUserClient missing entitlement in process pid 77, dexthil"),
                )
            }),
        ),
        (
            "L5",
            Box::new(|| {
                let host = BTreeMap::from([(
                    open_rules::DRIVER_ACCESS.to_string(),
                    Prop::Str("nope".into()),
                )]);
                let d = plain(host);
                expect(
                    "required line",
                    d.log.get(1).map(String::as_str),
                    Some("DK: DUserClient-0x1234:UC failed required entitlement check"),
                )
            }),
        ),
    ]
}

fn call_once(l: &SimLab, selector: u32) -> Result<u32, String> {
    let v = l.devices().map_err(|e| e.to_string())?;
    let svc = v
        .iter()
        .find_map(|v| l.service_entry(Some(v)))
        .ok_or("no service")?;
    let c = l
        .open(&OpenRequest {
            entry: svc.id,
            open_type: 0,
        })
        .map_err(|e| e.to_string())?
        .connection
        .ok_or("no connection")?;
    let a = args(selector, 0, 0, 1, 0, false);
    l.call(c, &a).map(|o| o.code.0).map_err(|e| e.to_string())
}

fn other_rows() -> Vec<(&'static str, Check)> {
    vec![
        (
            "C1",
            Box::new(|| {
                let l = lab_of("scenarios/field-bugs/dext-crash-mid-call.yaml");
                expect(
                    "after a crash",
                    call_once(&l, 0)?,
                    code::MACH_SEND_INVALID_DEST,
                )
            }),
        ),
        (
            "C2",
            Box::new(|| {
                let l = lab_of("scenarios/field-bugs/unplug-mid-call.yaml");
                expect(
                    "provider gone mid-call",
                    call_once(&l, 0)?,
                    code::kIOReturnNotAttached,
                )
            }),
        ),
        (
            "C3",
            Box::new(|| {
                expect(
                    "hung call released",
                    HUNG_CALL_RELEASED,
                    code::kIOReturnAborted,
                )
            }),
        ),
        (
            "P1",
            Box::new(|| {
                use crate::printer::catalog::{IdSource, find};
                expect(
                    "DS480",
                    find("DS480").map(|m| m.device_id_1284),
                    Some("MFG:DNP;CMD:DNP;MDL:DPDS480;CLS:PRINTER;DES:DNP_DPDS480"),
                )?;
                expect(
                    "CZ-01 marked",
                    find("CZ-01").map(|m| m.device_id_source),
                    Some(IdSource::Unconfirmed),
                )
            }),
        ),
    ]
}

fn all_rows() -> Vec<(&'static str, Check)> {
    let mut rows = open_rows();
    rows.extend(dispatch_rows());
    rows.extend(registry_rows());
    rows.extend(log_rows());
    rows.extend(other_rows());
    rows
}

#[test]
fn every_rule_row_holds() {
    let failures: Vec<String> = all_rows()
        .into_iter()
        .filter_map(|(id, check)| check().err().map(|e| format!("{id}: {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "rules that no longer hold (docs/kernel-rules.md):\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_documented_rule_has_a_row() {
    let doc = std::fs::read_to_string(root("docs/kernel-rules.md")).expect("docs/kernel-rules.md");
    let documented: std::collections::BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(' ').next())
        .filter(|id| {
            id.len() >= 2
                && id.starts_with(['O', 'D', 'R', 'L', 'C', 'P'])
                && id[1..].chars().all(|c| c.is_ascii_digit())
        })
        .map(str::to_string)
        .collect();
    let rows: std::collections::BTreeSet<String> = all_rows()
        .into_iter()
        .map(|(id, _)| id.to_string())
        .collect();
    assert_eq!(
        documented, rows,
        "docs/kernel-rules.md ids against rules_table rows"
    );
}
