//! The floor the engine is measured against: read each line, parse it into
//! an event exactly as ingest does, skip it if its id was seen, and insert it
//! into the same `events` table of the same kind of store, committing every
//! `batch_size` events, with no state, no rules and no decisions.

use std::io::Read;

use crate::error::Result;
use crate::event_source::EventLines;
use crate::store::Store;
use crate::time::now_stamp;

/// What the baseline did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    pub inserted: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

/// Store every event of `reader` with no rules.
pub fn store_only<R: Read>(store: &Store, source: &str, reader: R, batch_size: usize) -> Result<Stored> {
    let now = chrono::Utc::now();
    let stamp = now_stamp();
    let mut done = Stored::default();
    let mut in_batch = 0;
    let mut unit = store.begin()?;
    for line in EventLines::new(source, reader, now) {
        let line = line.map_err(|e| crate::error::Error::Read { path: source.into(), source: e })?;
        match line.parsed {
            Err(_) => done.rejected += 1,
            Ok(event) if store.is_applied(&event.id)? => done.duplicates += 1,
            Ok(event) => {
                store.record_applied(&event, &line.source, line.number, "baseline", &stamp)?;
                done.inserted += 1;
            }
        }
        in_batch += 1;
        if in_batch >= batch_size.max(1) {
            unit.commit()?;
            unit = store.begin()?;
            in_batch = 0;
        }
    }
    unit.commit()?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stores_each_event_once_and_counts_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("b.db"), Duration::from_secs(1)).unwrap();
        let lines: Vec<String> = crate::synthetic::stream(7, 5, 50).collect();
        let mut text = lines.join("\n");
        text.push_str("\nnot json\n");
        text.push_str(&lines[3]);
        let done = store_only(&store, "t", text.as_bytes(), 7).unwrap();
        assert_eq!(done, Stored { inserted: 50, duplicates: 1, rejected: 1 });
        let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert!(store.is_applied(first["id"].as_str().unwrap()).unwrap());
    }
}
