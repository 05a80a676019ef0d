//! `dealflow import`: CRM exports turned into events, applied through the
//! same [`Ingest`] as `dealflow ingest` (same rules, same store, same counts).
//!
//! An import happens in two steps. A format ([`crm`], [`mapping`]) reads its
//! files into a [`Plan`]: the events, each with the file and row it came
//! from, and what became of every row (an event, a lead, a rejection with its
//! reason). [`apply`] then feeds the plan's events, in business-time order,
//! to [`Ingest`]; `--emit` writes the same events as JSON Lines instead.
//!
//! Event ids are made from the record's id and a hash of what the event
//! says, so importing the same export twice applies nothing the second time,
//! and a later export applies only what changed.

pub mod crm;
pub mod mapping;
pub mod roster;
pub mod sheet;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::AtomicBool;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::ingest::{Ended, Ingest, Summary};
use crate::playbook::Current;
use crate::store::Store;

/// Where an event or a problem came from: a file and a row of it. Rows are
/// numbered as a spreadsheet shows them: the header is row 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub file: String,
    pub row: usize,
}

/// An event made from a row.
#[derive(Debug, Clone)]
pub struct Planned {
    pub id: String,
    pub kind: String,
    /// Business time; `None` leaves it to ingest (the time it is read).
    pub at: Option<DateTime<Utc>>,
    pub data: Map<String, Value>,
    pub origin: Origin,
}

impl Planned {
    /// The event as one JSON line, as `dealflow ingest` reads it.
    pub fn line(&self) -> String {
        let mut envelope = Map::new();
        envelope.insert("id".into(), Value::String(self.id.clone()));
        envelope.insert("type".into(), Value::String(self.kind.clone()));
        if let Some(at) = self.at {
            envelope.insert("at".into(), Value::String(stamp(at)));
        }
        envelope.insert("data".into(), Value::Object(self.data.clone()));
        Value::Object(envelope).to_string()
    }
}

/// A row and what happened to it, or a remark about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowNote {
    pub file: String,
    pub row: usize,
    pub message: String,
}

/// A lead made from an open deal that names no account.
#[derive(Debug, Clone, Serialize)]
pub struct LeadNote {
    pub file: String,
    pub row: usize,
    pub lead_id: String,
    pub product: String,
    pub owner: String,
}

/// A product written differently from the product list, and matched to it.
#[derive(Debug, Clone, Serialize)]
pub struct Spelling {
    pub written: String,
    pub product: String,
    pub rows: usize,
}

/// How many rows a file had and what became of them; the counts add up to `rows`.
#[derive(Debug, Clone, Serialize)]
pub struct FileRows {
    pub file: String,
    pub rows: usize,
    pub outcomes: BTreeMap<String, usize>,
}

/// What a format made of its files, before anything is applied.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub format: String,
    pub files: Vec<FileRows>,
    #[serde(skip)]
    pub events: Vec<Planned>,
    /// Rows that made no event, with the reason.
    pub rejected_rows: Vec<RowNote>,
    /// Leads made from open deals without an account.
    pub leads: Vec<LeadNote>,
    /// Closed deals without an account: there is nothing to attach them to.
    pub closed_without_account: Vec<RowNote>,
    /// Products not in the product list, kept as written.
    pub unmatched_products: Vec<RowNote>,
    /// Products matched despite another spelling ("GTXPro" → "GTX Pro").
    pub product_spellings: Vec<Spelling>,
    /// Other remarks about rows that were still imported.
    pub notes: Vec<RowNote>,
    /// People the export names, with the role they get on the roster.
    pub people: Vec<roster::Person>,
    /// Events made again by later rows (the same id), applied once.
    pub repeated_events: usize,
}

impl Plan {
    pub fn new(format: &str) -> Plan {
        Plan { format: format.to_string(), ..Plan::default() }
    }

    /// Count a row of `file` under `outcome`.
    pub fn count(&mut self, file: &str, outcome: &str) {
        let f = match self.files.iter().position(|f| f.file == file) {
            Some(i) => &mut self.files[i],
            None => {
                self.files.push(FileRows { file: file.to_string(), rows: 0, outcomes: BTreeMap::new() });
                self.files.last_mut().expect("just pushed")
            }
        };
        f.rows += 1;
        *f.outcomes.entry(outcome.to_string()).or_default() += 1;
    }

    /// A file with no rows still shows in the summary.
    pub fn file(&mut self, file: &str) {
        if !self.files.iter().any(|f| f.file == file) {
            self.files.push(FileRows { file: file.to_string(), rows: 0, outcomes: BTreeMap::new() });
        }
    }

    pub fn reject(&mut self, file: &str, row: usize, message: impl Into<String>) {
        self.count(file, "rejected");
        self.rejected_rows.push(RowNote { file: file.to_string(), row, message: message.into() });
    }

    pub fn note(&mut self, file: &str, row: usize, message: impl Into<String>) {
        self.notes.push(RowNote { file: file.to_string(), row, message: message.into() });
    }

    /// Put the events in business-time order. The sort is stable, so events
    /// at the same time keep the order they were made in (a parent account
    /// before its subsidiaries, a deal's opening before its close); events
    /// without a time come last.
    pub fn sort(&mut self) {
        self.events.sort_by_key(|e| e.at.unwrap_or(DateTime::<Utc>::MAX_UTC));
    }

    /// Keep the first of events with the same id (the same account on many
    /// rows of an opportunity export), counting the others.
    pub fn drop_repeats(&mut self) {
        let mut seen = std::collections::HashSet::new();
        let before = self.events.len();
        self.events.retain(|e| seen.insert(e.id.clone()));
        self.repeated_events += before - self.events.len();
    }

    pub fn events_by_type(&self) -> BTreeMap<String, usize> {
        let mut by = BTreeMap::new();
        for e in &self.events {
            *by.entry(e.kind.clone()).or_default() += 1;
        }
        by
    }

    /// The events as JSON Lines (what `--emit` writes).
    pub fn write_jsonl(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        for e in &self.events {
            writeln!(out, "{}", e.line())?;
        }
        out.flush()
    }
}

/// An event ingest rejected, traced back to its row.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedEvent {
    pub file: String,
    pub row: usize,
    pub event_id: String,
    pub reason: String,
}

/// What applying a plan did.
#[derive(Debug)]
pub struct Applied {
    /// Ingest's counts and rule failures.
    pub summary: Summary,
    /// Events ingest rejected, by file and row.
    pub rejected: Vec<RejectedEvent>,
    /// How it ended: a failure, or a stop asked for by a signal.
    pub ended: Result<Ended>,
}

/// Apply the plan's events, in order, through [`Ingest`]. `source` names the
/// stream in the store's list of rejected lines (line N is the plan's Nth
/// event, as `--emit` writes it); `progress` is called with the number of
/// events handed over so far.
pub fn apply(
    plan: &Plan,
    source: &str,
    store: &Store,
    current: &Current,
    stop: Option<&AtomicBool>,
    tasks_since: Option<chrono::DateTime<chrono::Utc>>,
    progress: &mut dyn FnMut(usize),
) -> Result<Applied> {
    let mut ingest = Ingest::start(store, current)?;
    ingest.keep_all_rejections = true;
    ingest.tasks_since = tasks_since;
    if let Some(flag) = stop {
        ingest = ingest.stop_when(flag);
    }
    let reader = EventReader { events: plan.events.iter(), line: Vec::new(), pos: 0, served: 0, progress };
    let ended = ingest.input(source, reader);
    let summary = match &ended {
        Ok(_) => ingest.finish()?,
        Err(_) => ingest.abort(),
    };
    let rejected = summary
        .rejections
        .iter()
        .map(|r| match r.line.checked_sub(1).and_then(|i| plan.events.get(i)) {
            Some(e) => RejectedEvent {
                file: e.origin.file.clone(),
                row: e.origin.row,
                event_id: e.id.clone(),
                reason: r.reason.clone(),
            },
            None => {
                RejectedEvent { file: r.source.clone(), row: r.line, event_id: String::new(), reason: r.reason.clone() }
            }
        })
        .collect();
    Ok(Applied { summary, rejected, ended })
}

/// The plan's events as JSON Lines, one line per `read` at most, so the
/// progress count follows what ingest has taken.
struct EventReader<'p, 'f> {
    events: std::slice::Iter<'p, Planned>,
    line: Vec<u8>,
    pos: usize,
    served: usize,
    progress: &'f mut dyn FnMut(usize),
}

impl Read for EventReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.line.len() {
            let Some(e) = self.events.next() else {
                return Ok(0);
            };
            self.line = e.line().into_bytes();
            self.line.push(b'\n');
            self.pos = 0;
            self.served += 1;
            (self.progress)(self.served);
        }
        let n = buf.len().min(self.line.len() - self.pos);
        buf[..n].copy_from_slice(&self.line[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// An event id that is the same whenever the same record says the same
/// thing: `PREFIX@HASH`, the hash taken over the event's type and data (not
/// its time, which an export may only estimate).
pub fn content_id(prefix: &str, kind: &str, data: &Map<String, Value>) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(Value::Object(data.clone()).to_string().as_bytes());
    let digest = h.finalize();
    let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}@{hash}")
}

/// A stable id made from a name: lowercase letters and digits, other runs of
/// characters become one `-` ("Gekko & Co" → "gekko-co").
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// RFC 3339 with seconds, in UTC (`2017-03-01T09:00:00Z`).
pub fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A day at a given hour, UTC.
pub fn at_hour(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    day.and_hms_opt(hour, 0, 0).expect("a valid hour").and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        assert_eq!(slug("Acme Corporation"), "acme-corporation");
        assert_eq!(slug("Gekko & Co"), "gekko-co");
        assert_eq!(slug("  Xx-holding "), "xx-holding");
        assert_eq!(slug("The New York Inquirer"), "the-new-york-inquirer");
        assert_eq!(slug("Société Générale!"), "société-générale");
        assert_eq!(slug("&&"), "");
    }

    #[test]
    fn content_ids_follow_the_data_not_the_time() {
        let data = |amount: i64| json!({"id": "D-1", "amount": amount}).as_object().unwrap().clone();
        let a = content_id("crm/deal/D-1/open", "deal.upserted", &data(5));
        assert_eq!(a, content_id("crm/deal/D-1/open", "deal.upserted", &data(5)), "deterministic");
        assert!(a.starts_with("crm/deal/D-1/open@") && a.len() == "crm/deal/D-1/open@".len() + 10, "{a}");
        assert_ne!(a, content_id("crm/deal/D-1/open", "deal.upserted", &data(6)), "a change is a new event");
    }

    fn planned(id: &str, at: Option<&str>) -> Planned {
        Planned {
            id: id.into(),
            kind: "clock.tick".into(),
            at: at.map(|s| s.parse().unwrap()),
            data: Map::new(),
            origin: Origin { file: "f.csv".into(), row: 2 },
        }
    }

    #[test]
    fn sorting_is_by_time_and_stable_with_timeless_events_last() {
        let mut plan = Plan::new("t");
        plan.events = vec![
            planned("none", None),
            planned("late", Some("2017-02-01T09:00:00Z")),
            planned("parent", Some("2017-01-01T00:00:00Z")),
            planned("child", Some("2017-01-01T00:00:00Z")),
        ];
        plan.sort();
        let ids: Vec<&str> = plan.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["parent", "child", "late", "none"]);
        assert_eq!(
            plan.events[0].line(),
            r#"{"id":"parent","type":"clock.tick","at":"2017-01-01T00:00:00Z","data":{}}"#
        );
        assert!(!plan.events[3].line().contains("\"at\""));
    }

    #[test]
    fn row_outcomes_add_up_per_file() {
        let mut plan = Plan::new("t");
        plan.count("a.csv", "deal");
        plan.count("a.csv", "deal");
        plan.reject("a.csv", 4, "bad");
        plan.file("b.csv");
        assert_eq!(plan.files[0].rows, 3);
        assert_eq!(plan.files[0].outcomes["deal"], 2);
        assert_eq!(plan.files[0].outcomes["rejected"], 1);
        assert_eq!(plan.files[1].rows, 0);
        assert_eq!(plan.rejected_rows[0].row, 4);
    }
}
