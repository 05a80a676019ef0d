//! The stored event history as the JSON lines a replay ingests, read from
//! the store a page at a time: a history of any length is never held whole
//! in memory. Each replay reads it through its own connection.

use std::io::Read;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::{Location, Store};

/// Events read from the store at a time: about half a megabyte of text.
const PAGE_EVENTS: usize = 1000;

/// The first `events` applied events of a store, in order, one JSON line
/// each. Events applied while it is read come after them (positions only
/// grow), so two readers of the same length read the same history.
pub struct History {
    store: Store,
    /// The position of the last event read.
    after: i64,
    /// Events still to read.
    left: usize,
    page: Vec<u8>,
    /// Bytes of `page` already read.
    read: usize,
    /// Of every byte read: what says whether a remembered replay was of this history.
    digest: Sha256,
}

impl History {
    /// The first `events` events of the store at `db`, which is only read.
    pub fn open(db: &Location, events: usize) -> Result<History> {
        let store = db.open_read_only(Duration::from_secs(5))?;
        Ok(History { store, after: 0, left: events, page: Vec::new(), read: 0, digest: Sha256::new() })
    }

    /// The digest of the first `events` events of the store at `db`, read for nothing else.
    pub fn digest_of(db: &Location, events: usize) -> Result<String> {
        let mut history = History::open(db, events)?;
        std::io::copy(&mut history, &mut std::io::sink())
            .map_err(|source| Error::Read { path: db.to_string().into(), source })?;
        Ok(history.digest())
    }

    /// A digest of what was read, in hex: equal for equal histories read whole.
    pub fn digest(&self) -> String {
        self.digest.clone().finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn next_page(&mut self) -> Result<()> {
        self.page.clear();
        self.read = 0;
        if self.left == 0 {
            return Ok(());
        }
        let rows = self.store.event_history_page(self.after, PAGE_EVENTS.min(self.left))?;
        self.left = if rows.is_empty() { 0 } else { self.left - rows.len() };
        for (seq, json) in rows {
            self.after = seq;
            self.page.extend_from_slice(json.as_bytes());
            self.page.push(b'\n');
        }
        self.digest.update(&self.page);
        Ok(())
    }
}

impl Read for History {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read == self.page.len() {
            self.next_page().map_err(std::io::Error::other)?;
        }
        let n = buf.len().min(self.page.len() - self.read);
        buf[..n].copy_from_slice(&self.page[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store with `n` events applied, in a temporary folder.
    fn store_with(n: usize) -> (tempfile::TempDir, Location) {
        let dir = tempfile::tempdir().unwrap();
        let db = Location::File(dir.path().join("dealflow.db"));
        let store = db.open(Duration::from_secs(5)).unwrap();
        for i in 0..n {
            let line = format!(
                r#"{{"id":"e{i}","type":"account.upserted","at":"2026-01-01T00:00:00Z","data":{{"id":"A-{i}","name":"A"}}}}"#
            );
            let e = crate::event::parse_line(&line, chrono::Utc::now()).unwrap();
            store.record_applied(&e, "t.jsonl", i + 1, "v", "2026-01-01T00:00:00Z").unwrap();
        }
        (dir, db)
    }

    #[test]
    fn reads_every_event_as_a_line_across_pages() {
        let (_dir, db) = store_with(PAGE_EVENTS * 2 + 3);
        let whole = db.open_read_only(Duration::from_secs(5)).unwrap().event_history().unwrap();
        let mut text = String::new();
        History::open(&db, whole.len()).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, whole.join("\n") + "\n");
    }

    #[test]
    fn reads_only_the_events_it_was_opened_for_and_digests_what_it_read() {
        let (_dir, db) = store_with(5);
        let read = |n| {
            let mut h = History::open(&db, n).unwrap();
            let mut text = String::new();
            h.read_to_string(&mut text).unwrap();
            (text.lines().count(), h.digest())
        };
        assert_eq!(read(3).0, 3);
        assert_eq!(read(3), read(3));
        assert_ne!(read(3).1, read(4).1);
        assert_eq!(read(0).0, 0);
    }
}
