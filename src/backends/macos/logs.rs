//! The real lab with log capture: one `/usr/bin/log stream` per distinct driver `log:` setting, started
//! the first time a scenario of that driver runs and kept for the rest of the process (a lab Mac runs one
//! scenario at a time, so the engine's cursor tells their lines apart), and the dext's crash reports from
//! the DiagnosticReports directories. The reader and parsers are `crate::logs`, tested everywhere.

use super::MacosLab;
use crate::driver::Driver;
use crate::lab::{
    CallArgs, CallOutcome, ConnectionId, EntryId, Lab, LabError, Matching, OpenOutcome,
    OpenRequest, RegEntry, Registry, UsbBus, UsbView, UserClients, WaitError, WaitFor,
};
use crate::logs::stream::CrashSource;
use crate::logs::{LogCapture, LogStream, crash, ndjson};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The log streams of a run, by their `log stream` arguments.
#[derive(Default)]
pub struct LogStreams {
    streams: Mutex<HashMap<Vec<String>, Arc<LogStream>>>,
}

impl LogStreams {
    pub fn for_driver(&self, driver: &Driver) -> Arc<LogStream> {
        let args = ndjson::stream_args(&driver.log, driver.log_prefix());
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let stream = streams.entry(args.clone()).or_insert_with(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            // The dext's process is named after its executable, which Xcode names after the bundle id;
            // the other names cover dexts built otherwise. UNCONFIRMED against a lab Mac's reports.
            let mut names = vec![driver.bundle_id.clone(), driver.user_class.clone()];
            if let Some(last) = driver.bundle_id.rsplit('.').next() {
                names.push(last.to_string());
            }
            Arc::new(LogStream::spawn(
                Path::new(ndjson::LOG_TOOL),
                &args,
                driver.log_prefix(),
                CrashSource {
                    dirs: crash::report_dirs(home.as_deref()),
                    process_names: names,
                },
            ))
        });
        Arc::clone(stream)
    }
}

/// The one real lab seen by one scenario: everything from [`MacosLab`], the log from its driver's stream.
pub struct LoggedLab {
    pub lab: Arc<MacosLab>,
    pub log: Arc<LogStream>,
}

impl UsbBus for LoggedLab {
    fn devices(&self) -> Result<Vec<UsbView>, LabError> {
        self.lab.devices()
    }
    fn replug(&self, device: &UsbView) -> Result<(), LabError> {
        self.lab.replug(device)
    }
    fn wait_usb(
        &self,
        pred: &(dyn Fn(&UsbView) -> bool + Sync),
        present: bool,
        deadline: Instant,
    ) -> Result<Option<UsbView>, WaitError> {
        self.lab.wait_usb(pred, present, deadline)
    }
}

impl Registry for LoggedLab {
    fn find(&self, matching: &Matching) -> Result<Vec<RegEntry>, LabError> {
        self.lab.find(matching)
    }
    fn entry(&self, id: EntryId) -> Result<RegEntry, LabError> {
        self.lab.entry(id)
    }
    fn children(&self, id: EntryId) -> Result<Vec<RegEntry>, LabError> {
        self.lab.children(id)
    }
    fn wait(
        &self,
        matching: &Matching,
        what: WaitFor,
        deadline: Instant,
    ) -> Result<Option<RegEntry>, WaitError> {
        self.lab.wait(matching, what, deadline)
    }
}

impl UserClients for LoggedLab {
    fn open(&self, request: &OpenRequest) -> Result<OpenOutcome, LabError> {
        self.lab.open(request)
    }
    fn call(&self, connection: ConnectionId, args: &CallArgs) -> Result<CallOutcome, LabError> {
        self.lab.call(connection, args)
    }
    fn close(&self, connection: ConnectionId) -> Result<crate::ioreturn::ReturnCode, LabError> {
        self.lab.close(connection)
    }
    fn open_count(&self) -> usize {
        self.lab.open_count()
    }
}

impl Lab for LoggedLab {
    fn name(&self) -> &'static str {
        "macos"
    }
    fn logs(&self) -> Option<&dyn LogCapture> {
        Some(&*self.log)
    }
}
