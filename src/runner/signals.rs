//! SIGINT and SIGTERM: the first sets a flag (no new scenario starts; running ones stop before their next
//! step, a sleep at once, close their connections, and the journal and JUnit are written); a second SIGINT
//! exits at once (status 130).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The handlers of one run, removed when it is dropped.
pub struct Signals {
    pub int: Arc<AtomicBool>,
    pub term: Arc<AtomicBool>,
    #[cfg(unix)]
    ids: Vec<signal_hook::SigId>,
}

impl Signals {
    pub fn install() -> Signals {
        let int = Arc::new(AtomicBool::new(false));
        let term = Arc::new(AtomicBool::new(false));
        #[cfg(unix)]
        let ids = {
            use signal_hook::consts::{SIGINT, SIGTERM};
            use signal_hook::flag;
            // Order matters: the conditional shutdown sees the flag the first signal set, so only a second
            // SIGINT exits.
            [
                flag::register_conditional_shutdown(SIGINT, 130, int.clone()),
                flag::register(SIGINT, int.clone()),
                flag::register(SIGTERM, term.clone()),
            ]
            .into_iter()
            .filter_map(|r| {
                r.map_err(|e| tracing::warn!(error = %e, "cannot install a signal handler"))
                    .ok()
            })
            .collect()
        };
        Signals {
            int,
            term,
            #[cfg(unix)]
            ids,
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

impl Drop for Signals {
    fn drop(&mut self) {
        #[cfg(unix)]
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
