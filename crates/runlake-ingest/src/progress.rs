//! Progress of a long ingest, for a status line: rows read so far and the current phase.
//! Cheap to update from the parsers (one relaxed atomic add per row) and safe to read
//! from another thread.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A shared progress counter. Clones observe the same progress.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    rows: AtomicU64,
    phase: Mutex<String>,
}

impl Progress {
    /// Rows read since the last [`Progress::start`].
    pub fn rows(&self) -> u64 {
        self.0.rows.load(Ordering::Relaxed)
    }

    /// What the ingest is doing now ("reading", "writing requests", ...).
    pub fn phase(&self) -> String {
        self.0.phase.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Starts a new source: no rows, phase "reading".
    pub fn start(&self) {
        self.0.rows.store(0, Ordering::Relaxed);
        self.set_phase("reading");
    }

    pub fn set_phase(&self, phase: impl Into<String>) {
        if let Ok(mut p) = self.0.phase.lock() {
            *p = phase.into();
        }
    }

    pub fn add_rows(&self, n: u64) {
        self.0.rows.fetch_add(n, Ordering::Relaxed);
    }

    fn remove_rows(&self, n: u64) {
        let _ = self
            .0
            .rows
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                Some(r.saturating_sub(n))
            });
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Progress>> = const { RefCell::new(None) };
}

/// Runs `f` with `progress` receiving the rows the parsers push on this thread.
pub(crate) fn reporting<T>(progress: Option<&Progress>, f: impl FnOnce() -> T) -> T {
    let previous = CURRENT.with(|c| c.replace(progress.cloned()));
    let out = f();
    CURRENT.with(|c| *c.borrow_mut() = previous);
    out
}

/// The progress this thread reports to, for threads it starts.
pub(crate) fn current() -> Option<Progress> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Takes back `n` rows counted on this thread, for rows about to be read again.
pub(crate) fn rows_reread(n: u64) {
    CURRENT.with(|c| {
        if let Some(p) = c.borrow().as_ref() {
            p.remove_rows(n);
        }
    });
}

/// Counts `n` rows read on this thread.
pub(crate) fn rows_read(n: u64) {
    CURRENT.with(|c| {
        if let Some(p) = c.borrow().as_ref() {
            p.add_rows(n);
        }
    });
}
