//! Timed events of the simulated lab (a printer coming back, a dext matching, an unplug) and the one
//! timer thread that applies them when due. The thread sleeps on the lab's condvar until the next due
//! time or a change, so nothing polls; it exits when the lab shuts down.

use std::time::Instant;

/// Something the lab does on its own at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A replugged printer re-enumerates, if it is still the same absence (`epoch`).
    Arrive { printer: usize, epoch: u64 },
    /// The dext matches on a provider: dext slot `slot`, if nothing changed since (`epoch`).
    Match { slot: usize, epoch: u64 },
    /// A printer leaves for good (`Unplug` fault).
    Unplug { printer: usize },
    /// A printer re-enumerates on another hub port (`Reenumerate` fault).
    Reenumerate { printer: usize },
}

/// Pending events; a handful at most, so a plain list is enough.
#[derive(Clone, Debug, Default)]
pub struct Schedule {
    pending: Vec<(Instant, u64, Event)>,
    seq: u64,
}

impl Schedule {
    pub fn at(&mut self, due: Instant, event: Event) {
        self.seq += 1;
        self.pending.push((due, self.seq, event));
    }

    /// The events due by `now`, in due order (ties in scheduling order).
    pub fn take_due(&mut self, now: Instant) -> Vec<Event> {
        let mut due: Vec<(Instant, u64, Event)> = Vec::new();
        self.pending.retain(|e| {
            if e.0 <= now {
                due.push(*e);
                false
            } else {
                true
            }
        });
        due.sort_by_key(|e| (e.0, e.1));
        due.into_iter().map(|e| e.2).collect()
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.pending.iter().map(|e| e.0).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_events_come_out_in_time_order_and_only_once() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        s.at(t0 + Duration::from_millis(20), Event::Unplug { printer: 2 });
        s.at(t0 + Duration::from_millis(10), Event::Unplug { printer: 1 });
        s.at(t0 + Duration::from_secs(60), Event::Unplug { printer: 3 });
        assert_eq!(s.next_due(), Some(t0 + Duration::from_millis(10)));
        let due = s.take_due(t0 + Duration::from_millis(30));
        assert_eq!(
            due,
            vec![Event::Unplug { printer: 1 }, Event::Unplug { printer: 2 }]
        );
        assert!(s.take_due(t0 + Duration::from_millis(30)).is_empty());
        assert_eq!(s.next_due(), Some(t0 + Duration::from_secs(60)));
    }
}
