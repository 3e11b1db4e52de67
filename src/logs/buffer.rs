//! The lines a capture has collected, in arrival order, and a way to wait for one. Readers keep a cursor
//! (the number of lines pushed before the one they want next) so one buffer serves a lab shared by
//! scenarios run one after another. Only the last [`KEEP_LINES`] lines are kept: a fuzz run of millions of
//! calls logs millions of lines, and memory must not grow with them. A reader whose cursor fell behind
//! what is kept gets what is left.

use super::LogLine;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// How many lines a buffer keeps (a scenario step reads its own lines long before this many come).
pub const KEEP_LINES: usize = 4096;

#[derive(Default)]
struct Inner {
    lines: VecDeque<LogLine>,
    /// How many lines were dropped from the front: the cursor of `lines[0]`.
    dropped: usize,
    trouble: Option<String>,
}

impl Inner {
    fn end(&self) -> usize {
        self.dropped + self.lines.len()
    }

    /// The index into `lines` of `cursor` (0 when it was dropped).
    fn index(&self, cursor: usize) -> usize {
        cursor.saturating_sub(self.dropped).min(self.lines.len())
    }

    fn push(&mut self, line: LogLine) {
        if self.lines.len() == KEEP_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
    }
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
        self.lock().push(line);
        self.changed.notify_all();
    }

    pub fn extend(&self, lines: impl IntoIterator<Item = LogLine>) {
        let mut inner = self.lock();
        for line in lines {
            inner.push(line);
        }
        drop(inner);
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
        self.lock().end()
    }

    /// Lines after `cursor` (those still kept), and the cursor after them.
    pub fn since(&self, cursor: usize) -> (Vec<LogLine>, usize) {
        let inner = self.lock();
        let from = inner.index(cursor);
        (inner.lines.range(from..).cloned().collect(), inner.end())
    }

    /// Every line still kept.
    pub fn all(&self) -> Vec<LogLine> {
        self.lock().lines.iter().cloned().collect()
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
            let from = inner.index(seen);
            if let Some(l) = inner.lines.range(from..).find(|l| pred(l)) {
                return Some(l.clone());
            }
            seen = inner.end().max(cursor);
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

    #[test]
    fn a_buffer_keeps_its_last_lines_and_cursors_still_count_every_line() {
        let b = LogBuffer::new();
        let total = KEEP_LINES * 3 + 5;
        for i in 0..total {
            b.push(LogLine::now(LineSource::Dext, format!("line {i}")));
        }
        assert_eq!(b.cursor(), total, "a cursor counts every line pushed");
        assert_eq!(
            b.all().len(),
            KEEP_LINES,
            "memory holds the last lines only"
        );
        let (tail, end) = b.since(total - 2);
        assert_eq!(end, total);
        let texts: Vec<String> = tail.into_iter().map(|l| l.text.to_string()).collect();
        assert_eq!(
            texts,
            [format!("line {}", total - 2), format!("line {}", total - 1)]
        );
        let (behind, _) = b.since(0);
        assert_eq!(
            behind.len(),
            KEEP_LINES,
            "a reader that fell behind gets what is left"
        );
    }
}
