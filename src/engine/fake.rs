//! A small scripted lab for the engine's, runner's and reporters' tests: one printer (vendor 0x1452,
//! product 0x9201, serial FAKE0001 at bus 1 port 1.2), its registry entries, a dext service, and user
//! clients whose answers, hangs and panics a test plants. Not the sim: no catalog, no dispatch model.

use crate::driver::{Driver, Provider, SimBehaviour};
use crate::ioreturn::ReturnCode;
use crate::lab::*;
use crate::scenario::{Expect, Role, Scenario, SimConfig, Step, StepKind};
use crate::span::Span;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const OFF_FOR: Duration = Duration::from_millis(20);

#[derive(Default)]
struct State {
    away_until: Option<Instant>,
    address: u8,
    service: bool,
    open: BTreeSet<ConnectionId>,
    opened: u64,
    open_answer: Option<ReturnCode>,
    answers: HashMap<u32, CallOutcome>,
    hangs: BTreeSet<u32>,
    panics: BTreeSet<u32>,
    calls: Vec<u32>,
}

pub struct FakeLab {
    state: Mutex<State>,
    closed: Condvar,
}

impl FakeLab {
    pub fn new() -> Arc<Self> {
        Arc::new(FakeLab {
            state: Mutex::new(State {
                address: 5,
                service: true,
                ..State::default()
            }),
            closed: Condvar::new(),
        })
    }

    pub fn printer_view(&self) -> UsbView {
        let address = self.state.lock().unwrap().address;
        UsbView {
            vendor_id: 0x1452,
            product_id: 0x9201,
            bcd_device: 0x0120,
            bcd_usb: 0x0200,
            class: 0,
            subclass: 0,
            protocol: 0,
            max_packet_size0: 64,
            num_configurations: 1,
            manufacturer_index: 1,
            product_index: 2,
            serial_index: 3,
            bus: 1,
            address,
            port_path: vec![1, 2],
            speed: Speed::High,
            manufacturer: Readable::Value("Fake".into()),
            product: Readable::Value("Fake printer".into()),
            serial: Readable::Value("FAKE0001".into()),
            active_configuration: Some(1),
            configurations: vec![ConfigView {
                value: 1,
                interfaces: vec![InterfaceView {
                    number: 0,
                    alternate_setting: 0,
                    class: 7,
                    subclass: 1,
                    protocol: 2,
                    string_index: 0,
                    endpoints: vec![],
                }],
            }],
            device_id_1284: Readable::Absent,
        }
    }

    pub fn without_service(&self) {
        self.state.lock().unwrap().service = false;
    }
    pub fn answer(&self, selector: u32, code: u32, scalars: Vec<u64>, struct_out: Vec<u8>) {
        self.state.lock().unwrap().answers.insert(
            selector,
            CallOutcome {
                code: ReturnCode(code),
                scalars_out: scalars,
                struct_out,
                took: Duration::from_micros(12),
            },
        );
    }
    pub fn hang_on(&self, selector: u32) {
        self.state.lock().unwrap().hangs.insert(selector);
    }
    pub fn panic_on(&self, selector: u32) {
        self.state.lock().unwrap().panics.insert(selector);
    }
    pub fn open_answers(&self, code: u32) {
        self.state.lock().unwrap().open_answer = Some(ReturnCode(code));
    }
    /// Selectors called, in order.
    pub fn calls(&self) -> Vec<u32> {
        self.state.lock().unwrap().calls.clone()
    }
    /// Connections ever opened.
    pub fn opened(&self) -> u64 {
        self.state.lock().unwrap().opened
    }

    fn present(&self) -> bool {
        self.state
            .lock()
            .unwrap()
            .away_until
            .is_none_or(|t| Instant::now() >= t)
    }

    /// Sleep until the fake may look different: a change another thread announces, or its one timed
    /// change (a replugged printer coming back), at most until `deadline`. Nothing polls.
    fn sleep_until_change(&self, deadline: Instant) {
        let s = self.state.lock().unwrap();
        let now = Instant::now();
        let wake = s
            .away_until
            .filter(|t| *t > now)
            .map_or(deadline, |t| t.min(deadline));
        let _ = self
            .closed
            .wait_timeout(s, wake.saturating_duration_since(now));
    }

    fn entries(&self) -> Vec<RegEntry> {
        let entry =
            |id, name: &str, class: &str, parent, path: &str, props: Vec<(&str, Prop)>| RegEntry {
                id,
                name: name.into(),
                location: None,
                class: class.into(),
                class_chain: vec![class.into(), "IOService".into()],
                parent,
                path: path.into(),
                registered: true,
                properties: props
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<BTreeMap<_, _>>(),
            };
        let mut all = vec![entry(
            100,
            "com.example.printer",
            "IOUserServer",
            None,
            "IOService:/IOResources/IOUserServer(com.example.printer)",
            vec![("IOUserServerName", Prop::Str("com.example.printer".into()))],
        )];
        if !self.present() {
            return all;
        }
        let dev = "IOService:/AppleT8103PMGR/Fake printer@01120000";
        all.push(entry(
            1,
            "Fake printer",
            "IOUSBHostDevice",
            None,
            dev,
            vec![
                ("idVendor", Prop::Int(0x1452)),
                ("idProduct", Prop::Int(0x9201)),
                ("bcdDevice", Prop::Int(0x0120)),
                ("locationID", Prop::Int(0x0112_0000)),
                ("USB Serial Number", Prop::Str("FAKE0001".into())),
                // The rest of what a cross-check reads (reference §5), agreeing with `printer_view`.
                ("bcdUSB", Prop::Int(0x0200)),
                ("bDeviceClass", Prop::Int(0)),
                ("bDeviceSubClass", Prop::Int(0)),
                ("bDeviceProtocol", Prop::Int(0)),
                ("bMaxPacketSize0", Prop::Int(64)),
                ("bNumConfigurations", Prop::Int(1)),
                ("iManufacturer", Prop::Int(1)),
                ("iProduct", Prop::Int(2)),
                ("iSerialNumber", Prop::Int(3)),
                ("USB Vendor Name", Prop::Str("Fake".into())),
                ("USB Product Name", Prop::Str("Fake printer".into())),
                (
                    "USB Address",
                    Prop::Int(self.state.lock().unwrap().address.into()),
                ),
                ("Device Speed", Prop::Int(2)),
                ("kUSBCurrentConfiguration", Prop::Int(1)),
            ],
        ));
        let intf = format!("{dev}/IOUSBHostInterface@0");
        all.push(entry(
            2,
            "IOUSBHostInterface",
            "IOUSBHostInterface",
            Some(1),
            &intf,
            vec![
                ("bInterfaceNumber", Prop::Int(0)),
                ("bAlternateSetting", Prop::Int(0)),
                ("bInterfaceClass", Prop::Int(7)),
                ("bInterfaceSubClass", Prop::Int(1)),
                ("bInterfaceProtocol", Prop::Int(2)),
                ("bNumEndpoints", Prop::Int(0)),
                ("bConfigurationValue", Prop::Int(1)),
            ],
        ));
        if self.state.lock().unwrap().service {
            all.push(entry(
                3,
                "PrinterDriver",
                "IOUserService",
                Some(2),
                &format!("{intf}/PrinterDriver"),
                vec![
                    ("IOUserClass", Prop::Str("PrinterDriver".into())),
                    (
                        "CFBundleIdentifier",
                        Prop::Str("com.example.printer".into()),
                    ),
                    ("IOUserServerName", Prop::Str("com.example.printer".into())),
                    (
                        "IOMatchedPersonality",
                        Prop::Dict(BTreeMap::from([
                            ("idVendor".to_string(), Prop::Int(0x1452)),
                            ("idProduct".to_string(), Prop::Int(0x9201)),
                        ])),
                    ),
                    (
                        "UserClientProperties",
                        Prop::Dict(BTreeMap::from([(
                            "IOClass".to_string(),
                            Prop::Str("IOUserUserClient".into()),
                        )])),
                    ),
                ],
            ));
        }
        all
    }
}

impl UsbBus for FakeLab {
    fn devices(&self) -> Result<Vec<UsbView>, LabError> {
        Ok(if self.present() {
            vec![self.printer_view()]
        } else {
            vec![]
        })
    }
    fn replug(&self, _device: &UsbView) -> Result<(), LabError> {
        let mut s = self.state.lock().unwrap();
        s.away_until = Some(Instant::now() + OFF_FOR);
        s.address += 1;
        Ok(())
    }
    fn wait_usb(
        &self,
        pred: &(dyn Fn(&UsbView) -> bool + Sync),
        present: bool,
        deadline: Instant,
    ) -> Result<Option<UsbView>, WaitError> {
        loop {
            let found = self.devices()?.into_iter().find(|v| pred(v));
            if found.is_some() == present {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                return Err(WaitError::TimedOut(Duration::ZERO));
            }
            self.sleep_until_change(deadline);
        }
    }
}

impl Registry for FakeLab {
    fn find(&self, m: &Matching) -> Result<Vec<RegEntry>, LabError> {
        Ok(self
            .entries()
            .into_iter()
            .filter(|e| m.matches(e))
            .collect())
    }
    fn entry(&self, id: EntryId) -> Result<RegEntry, LabError> {
        self.entries()
            .into_iter()
            .find(|e| e.id == id)
            .ok_or(LabError::NoEntry(id))
    }
    fn children(&self, id: EntryId) -> Result<Vec<RegEntry>, LabError> {
        Ok(self
            .entries()
            .into_iter()
            .filter(|e| e.parent == Some(id))
            .collect())
    }
    fn wait(
        &self,
        m: &Matching,
        what: WaitFor,
        deadline: Instant,
    ) -> Result<Option<RegEntry>, WaitError> {
        loop {
            let first = self.find(m)?.into_iter().next();
            match (what, first) {
                (WaitFor::Matched, Some(e)) => return Ok(Some(e)),
                (WaitFor::Gone, None) => return Ok(None),
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(WaitError::TimedOut(Duration::ZERO));
            }
            self.sleep_until_change(deadline);
        }
    }
}

impl UserClients for FakeLab {
    fn open(&self, request: &OpenRequest) -> Result<OpenOutcome, LabError> {
        self.entry(request.entry)?;
        let mut s = self.state.lock().unwrap();
        if let Some(code) = s.open_answer {
            return Ok(OpenOutcome {
                code,
                connection: None,
                took: Duration::from_micros(30),
            });
        }
        s.opened += 1;
        let id = 1000 + s.opened;
        s.open.insert(id);
        Ok(OpenOutcome {
            code: ReturnCode::SUCCESS,
            connection: Some(id),
            took: Duration::from_micros(30),
        })
    }
    fn call(&self, connection: ConnectionId, args: &CallArgs) -> Result<CallOutcome, LabError> {
        let mut s = self.state.lock().unwrap();
        if !s.open.contains(&connection) {
            return Err(LabError::NotOpen(connection));
        }
        s.calls.push(args.selector);
        if s.panics.contains(&args.selector) {
            drop(s);
            panic!("fake lab: selector {} panics", args.selector);
        }
        if s.hangs.contains(&args.selector) {
            // Like a dext that never answers: the call returns only when its connection is torn down.
            while s.open.contains(&connection) {
                s = self.closed.wait(s).unwrap();
            }
            return Err(LabError::NotOpen(connection));
        }
        Ok(s.answers
            .get(&args.selector)
            .cloned()
            .unwrap_or(CallOutcome {
                code: ReturnCode::SUCCESS,
                scalars_out: vec![],
                struct_out: vec![],
                took: Duration::from_micros(12),
            }))
    }
    fn close(&self, connection: ConnectionId) -> Result<ReturnCode, LabError> {
        let mut s = self.state.lock().unwrap();
        if !s.open.remove(&connection) {
            return Err(LabError::NotOpen(connection));
        }
        self.closed.notify_all();
        Ok(ReturnCode::SUCCESS)
    }
    fn open_count(&self) -> usize {
        self.state.lock().unwrap().open.len()
    }
}

impl Lab for FakeLab {
    fn name(&self) -> &'static str {
        "fake"
    }
}

pub fn driver() -> Driver {
    let selector = |id, name: &str| crate::driver::Selector {
        id,
        name: name.into(),
        rule: None,
        implemented: true,
        sim: SimBehaviour::Succeed,
        answers: vec![],
        span: Span::builtin("test"),
    };
    Driver {
        source: PathBuf::from("scenarios/drivers/fake.yaml"),
        name: "fake printer dext".into(),
        bundle_id: "com.example.printer".into(),
        user_class: "PrinterDriver".into(),
        io_class: "IOUserService".into(),
        server_name: "com.example.printer".into(),
        provider: Provider::UsbInterface {
            devices: vec![(0x1452, 0x9201)],
            interface: 0,
            configuration: 1,
        },
        user_client_properties: None,
        open_types: vec![],
        rejected_type_answer: ReturnCode(crate::ioreturn::code::kIOReturnBadArgument),
        entitlements: BTreeMap::new(),
        log_prefix: None,
        log: Default::default(),
        classes: Default::default(),
        selectors: vec![selector(0, "GetStatus"), selector(1, "Hang")],
    }
}

pub fn span(line: u32) -> Span {
    Span::new(Arc::new(PathBuf::from("scenarios/x.yaml")), line, 5)
}

/// A step at `scenarios/x.yaml:<line>:5` with a 1s deadline.
pub fn step(line: u32, kind: StepKind) -> Step {
    Step {
        span: span(line),
        deadline: Duration::from_secs(1),
        kind,
        logs: Vec::new(),
    }
}

pub fn open(line: u32, name: &str) -> Step {
    step(
        line,
        StepKind::Open {
            role: Some("p".into()),
            target: OpenTarget::Service,
            open_type: 0,
            name: name.into(),
            expect: Expect::default(),
        },
    )
}

pub fn call(line: u32, selector: u32, expect: Expect) -> Step {
    step(
        line,
        StepKind::Call {
            connection: "uc".into(),
            selector_name: ["GetStatus", "Hang"]
                .get(selector as usize)
                .unwrap_or(&"?")
                .to_string(),
            args: CallArgs {
                selector,
                ..CallArgs::default()
            },
            expect,
        },
    )
}

pub fn close(line: u32) -> Step {
    step(
        line,
        StepKind::Close {
            connection: "uc".into(),
            expect: Expect::default(),
        },
    )
}

pub fn scenario(name: &str, steps: Vec<Step>) -> Scenario {
    Scenario {
        name: name.into(),
        about: String::new(),
        tags: vec!["smoke".into()],
        source: PathBuf::from("scenarios/x.yaml"),
        span: span(1),
        driver: Arc::new(driver()),
        printers: vec![Role {
            name: "p".into(),
            span: span(4),
            model: None,
            vendor: Some(0x1452),
            product: Some(0x9201),
            serial: None,
            location: None,
        }],
        deadline: Duration::from_secs(20),
        step_deadline: Duration::from_secs(1),
        sim: SimConfig::default(),
        steps,
    }
}
