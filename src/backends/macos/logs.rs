//! The real lab with log capture: one `/usr/bin/log stream` per distinct driver `log:` setting, started
//! the first time a scenario of that driver runs and kept for the rest of the process (a lab Mac runs one
//! scenario at a time, so the engine's cursor tells their lines apart), and the dext's crash reports from
//! the DiagnosticReports directories. The reader and parsers are `crate::logs`, tested everywhere.

use super::MacosLab;
use crate::driver::Driver;
use crate::lab::Lab;
use crate::logs::stream::CrashSource;
use crate::logs::{LogCapture, LogStream, crash, ndjson};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

crate::forward_usb_bus!(LoggedLab, lab);
crate::forward_registry!(LoggedLab, lab);
crate::forward_user_clients!(LoggedLab, lab);

impl Lab for LoggedLab {
    fn name(&self) -> &'static str {
        "macos"
    }
    fn logs(&self) -> Option<&dyn LogCapture> {
        Some(&*self.log)
    }
}
