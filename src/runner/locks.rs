//! Per-printer serialization: scenarios on different printers run in parallel, scenarios sharing a
//! printer one after another. Each scenario takes a mutex per printer key it uses, always in sorted order,
//! so two scenarios never hold one lock each while waiting for the other's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct PrinterLocks {
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl PrinterLocks {
    /// The mutexes of `keys`, sorted and without duplicates: lock them in this order.
    pub fn for_keys(&self, keys: &[String]) -> Vec<Arc<Mutex<()>>> {
        let mut keys: Vec<&String> = keys.iter().collect();
        keys.sort();
        keys.dedup();
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        keys.into_iter()
            .map(|k| map.entry(k.clone()).or_default().clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_printer_is_the_same_lock_in_any_order() {
        let locks = PrinterLocks::default();
        let a = locks.for_keys(&["ds620".into(), "cx02".into()]);
        let b = locks.for_keys(&["cx02".into(), "ds620".into(), "cx02".into()]);
        assert_eq!(a.len(), 2);
        assert_eq!(b.len(), 2);
        assert!(Arc::ptr_eq(&a[0], &b[0]) && Arc::ptr_eq(&a[1], &b[1]));
        let _held = a[0].lock().unwrap();
        assert!(
            b[0].try_lock().is_err(),
            "a printer in use is not lent twice"
        );
        assert!(b[1].try_lock().is_ok());
    }
}
