//! Event input as `dealflow ingest` reads it: any bytes, split into lines
//! (byte order marks, CRLF, blank lines, lines that are not UTF-8), each
//! parsed and validated. Nothing may panic; a rejection has a short reason;
//! an accepted event, as the store keeps it for replay, parses back to itself.

#![no_main]

use chrono::{DateTime, Utc};
use dealflow::event::parse_line;
use dealflow::event_source::EventLines;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now: DateTime<Utc> = DateTime::from_timestamp(1_793_000_000, 0).expect("a valid time");
    for line in EventLines::new("fuzz.jsonl", data, now) {
        let line = line.expect("reading from memory never fails");
        match line.parsed {
            Ok(event) => {
                let stored = event.to_json();
                let again = parse_line(&stored, now)
                    .unwrap_or_else(|why| panic!("the stored event does not parse again: {why}\n{stored}"));
                assert_eq!(again.id, event.id, "{stored}");
                assert_eq!(again.kind, event.kind, "{stored}");
                assert_eq!(again.at.timestamp(), event.at.timestamp(), "{stored}");
                assert_eq!(again.data, event.data, "{stored}");
            }
            Err(rejected) => {
                let reason = &rejected.reason;
                assert!(!reason.is_empty() && reason.len() < 1000, "reason of {} bytes: {reason:.200}", reason.len());
            }
        }
    }
});
