//! Rows O1-O16 (open path) and the open helpers the log rows share.

use super::*;

pub(super) const BUNDLE: &str = "com.example.d";

pub(super) fn ucp() -> Prop {
    Prop::Dict(BTreeMap::from([
        ("IOClass".into(), Prop::Str("IOUserUserClient".into())),
        ("IOUserClass".into(), Prop::Str("DUserClient".into())),
    ]))
}

pub(super) fn access(p: Prop) -> BTreeMap<String, Prop> {
    BTreeMap::from([(open_rules::USERCLIENT_ACCESS.to_string(), p)])
}

pub(super) fn granted() -> BTreeMap<String, Prop> {
    access(Prop::Array(vec![Prop::Str(BUNDLE.into())]))
}

/// The open of a running dext's service whose class overrides NewUserClient, by a correctly signed host,
/// with `change` applied to the parts a row varies.
pub(super) fn open_with(
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

pub(super) const RUNNING: OpenTargetKind = OpenTargetKind::DextBacked {
    running: true,
    overrides_new_user_client: true,
};

pub(super) fn plain(host: BTreeMap<String, Prop>) -> open_rules::OpenDecision {
    open_with(RUNNING, Some(ucp()), host, BTreeMap::new(), |_| {})
}

pub(super) fn code_is(what: &str, d: &open_rules::OpenDecision, want: u32) -> Result<(), String> {
    expect(what, d.code.0, want)
}

pub(super) fn no_dext_line(d: &open_rules::OpenDecision) -> Result<(), String> {
    holds(
        &format!("no NewUserClient line expected: {:?}", d.log),
        !d.log.iter().any(|l| l.contains("NewUserClient")),
    )
}

pub(super) fn with_ucp_key(key: &str, value: Prop) -> Prop {
    let mut d = ucp().as_dict().cloned().unwrap_or_default();
    d.insert(key.into(), value);
    Prop::Dict(d)
}

pub(super) fn open_rows() -> Vec<(&'static str, Check)> {
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
