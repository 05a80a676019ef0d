//! What makes an event sent again the same event: its content, hashed.
//!
//! An event id names one event. The same id sent again with the same content
//! (a re-sent file) is skipped; with other content it is a mistake the
//! sender must hear about, as a rejected line. "The same content" is
//! decided on the event as parsed, not on the line's bytes, so that what
//! does not change meaning does not count: key order, spaces, an id or a
//! number written as `7` or `"7"` where ids are expected, `1` or `1.0`, and a
//! time written in another offset (`10:30:00+01:00` is `09:30:00Z`). An
//! event that gave no `at` is read at the time it arrives: its `at` is not
//! part of its content, so sending the file again is still a duplicate.
//!
//! The store keeps the 128-bit hash of that canonical content beside each
//! event ([`Event::content_hash`]). Events stored before the hash existed
//! have none; they are compared with their stored body instead
//! ([`Event::same_content_as_stored`]).

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::event::{Event, EventType, parse_line};

/// The bytes of an event's content hash.
pub const HASH_BYTES: usize = 16;

impl Event {
    /// The hash of this event's content: its type, its `at` when the line
    /// gave one, and its data (ids normalised), in a canonical form.
    pub fn content_hash(&self) -> [u8; HASH_BYTES] {
        hash(self.kind, self.at_given.then_some(self.at), &self.data)
    }

    /// Whether this event has the content of `body`, an event the store kept
    /// before it kept hashes. The stored body always has an `at` (the time it
    /// was read, when the line gave none), to the second: it counts only
    /// when this event gives one, to the second.
    pub fn same_content_as_stored(&self, body: &str) -> bool {
        let Ok(stored) = parse_line(body, self.at) else { return false };
        let at = |e: &Event| e.at_given.then(|| e.at.timestamp());
        stored.kind == self.kind
            && (!self.at_given || at(&stored) == at(self))
            && hash(stored.kind, None, &stored.data) == hash(self.kind, None, &self.data)
    }
}

fn hash(kind: EventType, at: Option<DateTime<Utc>>, data: &Map<String, Value>) -> [u8; HASH_BYTES] {
    let mut out = Hasher(Sha256::new());
    out.put(b"type\0");
    out.put(kind.name().as_bytes());
    out.put(b"\0at\0");
    match at {
        Some(at) => out.put(at.to_rfc3339_opts(SecondsFormat::AutoSi, true).as_bytes()),
        None => out.put(b"-"),
    }
    out.put(b"\0data\0");
    object(&mut out, data);
    let digest = out.0.finalize();
    let mut first = [0; HASH_BYTES];
    first.copy_from_slice(&digest[..HASH_BYTES]);
    first
}

struct Hasher(Sha256);

impl Hasher {
    fn put(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Write `v` with object keys sorted and numbers by value.
fn canonical(out: &mut Hasher, v: &Value) {
    match v {
        Value::Null => out.put(b"null"),
        Value::Bool(b) => out.put(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.put(number_text(n).as_bytes()),
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.put(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                canonical(out, item);
            }
            out.put(b"]");
        }
        Value::Object(map) => object(out, map),
    }
}

fn object(out: &mut Hasher, map: &Map<String, Value>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by_key(|(k, _)| *k);
    out.put(b"{");
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.put(b",");
        }
        string(out, key);
        out.put(b":");
        canonical(out, value);
    }
    out.put(b"}");
}

fn string(out: &mut Hasher, s: &str) {
    // Writing a string into a hasher cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A number by its value: `1`, `1.0` and `1e0` are one number.
fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => (f as i64).to_string(),
        Some(f) => format!("{f:?}"),
        None => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::event::parse_line;

    fn now() -> chrono::DateTime<chrono::Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn hash_of(line: &str) -> [u8; super::HASH_BYTES] {
        parse_line(line, now()).unwrap().content_hash()
    }

    #[test]
    fn what_does_not_change_meaning_does_not_change_the_hash() {
        let a = hash_of(
            r#"{"id": "e", "type": "deal.upserted", "at": "2026-11-02T09:30:00Z", "data": {"id": "D", "account_id": 3, "amount": 1}}"#,
        );
        for same in [
            r#"{"data": {"amount": 1.0, "account_id": "3", "id": "D"}, "at": "2026-11-02T10:30:00+01:00", "type": "deal.upserted", "id": "e"}"#,
            r#"{"id":"e","type":"deal.upserted","at":"2026-11-02T09:30:00Z","data":{"id":"D","account_id":"3","amount":1e0}}"#,
        ] {
            assert_eq!(hash_of(same), a, "{same}");
        }
        for other in [
            r#"{"id": "e", "type": "deal.upserted", "at": "2026-11-02T09:30:01Z", "data": {"id": "D", "account_id": 3, "amount": 1}}"#,
            r#"{"id": "e", "type": "deal.upserted", "at": "2026-11-02T09:30:00Z", "data": {"id": "D", "account_id": 3, "amount": 2}}"#,
            r#"{"id": "e", "type": "deal.upserted", "at": "2026-11-02T09:30:00Z", "data": {"id": "D", "account_id": 3, "amount": 1, "x": null}}"#,
            r#"{"id": "e", "type": "deal.upserted", "data": {"id": "D", "account_id": 3, "amount": 1}}"#,
        ] {
            assert_ne!(hash_of(other), a, "{other}");
        }
    }

    #[test]
    fn an_event_without_a_time_is_the_same_whenever_it_is_read() {
        let line = r#"{"id": "e", "type": "lead.created", "data": {"id": "L"}}"#;
        let later = parse_line(line, "2026-05-05T00:00:00Z".parse().unwrap()).unwrap();
        assert_eq!(later.content_hash(), hash_of(line));
    }

    #[test]
    fn an_event_stored_before_hashes_is_compared_with_its_body() {
        let given = parse_line(
            r#"{"id": "e", "type": "order.placed", "at": "2026-11-02T09:30:00Z", "data": {"id": "O", "account_id": "A", "amount": 5}}"#,
            now(),
        )
        .unwrap();
        let body = given.to_json();
        assert!(given.same_content_as_stored(&body));
        let mut changed = given.clone();
        changed.data.insert("amount".into(), 6.into());
        assert!(!changed.same_content_as_stored(&body));
        // Read without a time, it was stored with the time it was read.
        let untimed = parse_line(
            r#"{"id": "e", "type": "order.placed", "data": {"id": "O", "account_id": "A", "amount": 5}}"#,
            now(),
        )
        .unwrap();
        let stored = untimed.to_json();
        let again = parse_line(
            r#"{"id": "e", "type": "order.placed", "data": {"account_id": "A", "id": "O", "amount": 5}}"#,
            now() + chrono::Duration::days(3),
        )
        .unwrap();
        assert!(again.same_content_as_stored(&stored));
    }
}
