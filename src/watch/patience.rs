//! Waiting for other processes, never failing because of them: the inbox
//! lock another watch holds, a database another process keeps locked for
//! longer than the busy timeout, and a PostgreSQL server that went away (a
//! restart, a lost network: the backend connects again once it is back).
//! Each wait is said once, not at every try, and a stop signal ends it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Note;
use crate::error::{Error, Result};
use crate::inbox::Inbox;

/// How long to wait before trying a locked database again.
pub(super) const BUSY_RETRY: Duration = Duration::from_millis(250);

/// Take the inbox lock, waiting while another process holds it (said once);
/// `None` when a stop came first.
pub(super) fn lock_inbox(
    inbox: &Inbox,
    stop: &AtomicBool,
    notes: &(dyn Fn(Note) + Send + Sync),
) -> Result<Option<crate::inbox::lock::InboxLock>> {
    let mut said = false;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        match inbox.try_lock()? {
            Ok(lock) => return Ok(Some(lock)),
            Err(holder) if !said => {
                said = true;
                notes(Note::WaitingForInbox { holder: holder.to_string() });
            }
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waiting out a database locked by another process: said once when the
/// wait starts, once when it ends.
pub(super) struct Patience<'a> {
    pub(super) notes: &'a (dyn Fn(Note) + Send + Sync),
    pub(super) waiting: bool,
}

impl Patience<'_> {
    /// `Ok(None)` when the database was locked (the caller tries again later).
    /// (A unit of work left half-done by the lock was rolled back when dropped.)
    pub(super) fn outcome<T>(&mut self, result: Result<T>) -> Result<Option<T>> {
        match result {
            Ok(v) => Ok(Some(self.went_on(v))),
            Err(Error::Busy { path, .. }) => {
                self.locked(&path);
                Ok(None)
            }
            Err(e) if e.is_unreachable() => {
                self.lost(&e);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Run `op` until the database is not locked; `None` when a stop came first.
    pub(super) fn wait_for<T>(&mut self, stop: &AtomicBool, mut op: impl FnMut() -> Result<T>) -> Result<Option<T>> {
        loop {
            match op() {
                Ok(v) => return Ok(Some(self.went_on(v))),
                Err(Error::Busy { path, .. }) => self.locked(&path),
                Err(e) if e.is_unreachable() => self.lost(&e),
                Err(e) => return Err(e),
            }
            let until = Instant::now() + BUSY_RETRY;
            while Instant::now() < until {
                if stop.load(Ordering::SeqCst) {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
    }

    fn went_on<T>(&mut self, v: T) -> T {
        if std::mem::take(&mut self.waiting) {
            (self.notes)(Note::DatabaseFree);
        }
        v
    }

    /// The server went away: said once, as a lock is.
    fn lost(&mut self, e: &Error) {
        if !std::mem::replace(&mut self.waiting, true) {
            (self.notes)(Note::ServerLost { error: e.to_string() });
        }
    }

    fn locked(&mut self, path: &std::path::Path) {
        if !std::mem::replace(&mut self.waiting, true) {
            (self.notes)(Note::DatabaseBusy { path: path.to_path_buf() });
        }
    }
}
