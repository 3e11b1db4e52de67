//! The lines a capture has collected, in arrival order, and a way to wait for one. Readers keep a cursor
//! (an index into the lines) so one buffer serves a lab shared by scenarios run one after another.

use super::LogLine;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

#[derive(Default)]
struct Inner {
    lines: Vec<LogLine>,
    trouble: Option<String>,
}

#[derive(Default)]
pub struct LogBuffer {
    inner: Mutex<Inner>,
    changed: Condvar,
}

impl LogBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, line: LogLine) {
        self.lock().lines.push(line);
        self.changed.notify_all();
    }

    pub fn extend(&self, lines: impl IntoIterator<Item = LogLine>) {
        self.lock().lines.extend(lines);
        self.changed.notify_all();
    }

    /// Say why capture does not work. The first reason is kept: it is the cause, later ones follow from it.
    pub fn set_trouble(&self, why: impl Into<String>) {
        let mut inner = self.lock();
        if inner.trouble.is_none() {
            inner.trouble = Some(why.into());
        }
        drop(inner);
        self.changed.notify_all();
    }

    pub fn trouble(&self) -> Option<String> {
        self.lock().trouble.clone()
    }

    /// The cursor after the last line so far.
    pub fn cursor(&self) -> usize {
        self.lock().lines.len()
    }

    /// Lines after `cursor`, and the cursor after them.
    pub fn since(&self, cursor: usize) -> (Vec<LogLine>, usize) {
        let inner = self.lock();
        let from = cursor.min(inner.lines.len());
        (inner.lines[from..].to_vec(), inner.lines.len())
    }

    /// Every line so far.
    pub fn all(&self) -> Vec<LogLine> {
        self.lock().lines.clone()
    }

    /// The first line after `cursor` that `pred` accepts, waiting for it until `deadline`. Event-driven: a
    /// push wakes the wait.
    pub fn wait_for(
        &self,
        cursor: usize,
        pred: &dyn Fn(&LogLine) -> bool,
        deadline: Instant,
    ) -> Option<LogLine> {
        let mut inner = self.lock();
        let mut seen = cursor;
        loop {
            if let Some(l) = inner.lines.iter().skip(seen).find(|l| pred(l)) {
                return Some(l.clone());
            }
            seen = inner.lines.len().max(cursor);
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || inner.trouble.is_some() {
                return None;
            }
            inner = self
                .changed
                .wait_timeout(inner, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LineSource;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_wait_wakes_when_the_line_arrives_and_not_for_earlier_ones() {
        let b = Arc::new(LogBuffer::new());
        b.push(LogLine::now(LineSource::Dext, "D: NewUserClient(0)"));
        let cursor = b.cursor();
        let pusher = Arc::clone(&b);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            pusher.push(LogLine::now(LineSource::Dext, "D: NewUserClient(1)"));
        });
        let contains = |l: &LogLine| l.text.contains("NewUserClient");
        let got = b.wait_for(cursor, &contains, Instant::now() + Duration::from_secs(5));
        t.join().unwrap();
        assert_eq!(got.map(|l| l.text).as_deref(), Some("D: NewUserClient(1)"));
        let none = b.wait_for(b.cursor(), &contains, Instant::now());
        assert_eq!(none, None);
    }
}
