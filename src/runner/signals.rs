//! SIGINT and SIGTERM: the first sets a flag (no new scenario starts; running ones stop before their next
//! step, a sleep at once, close their connections, and the journal and JUnit are written); a second SIGINT
//! exits at once (status 130).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The handlers of one run, removed when it is dropped.
pub struct Signals {
    pub int: Arc<AtomicBool>,
    pub term: Arc<AtomicBool>,
    _handlers: crate::os::StopHandlers,
}

impl Signals {
    pub fn install() -> Signals {
        let int = Arc::new(AtomicBool::new(false));
        let term = Arc::new(AtomicBool::new(false));
        let handlers = crate::os::StopHandlers::install(&int, &term);
        Signals {
            int,
            term,
            _handlers: handlers,
        }
    }

    /// `SIGINT` or `SIGTERM` once one arrived.
    pub fn received(&self) -> Option<&'static str> {
        if self.int.load(Ordering::SeqCst) {
            Some("SIGINT")
        } else if self.term.load(Ordering::SeqCst) {
            Some("SIGTERM")
        } else {
            None
        }
    }
}
