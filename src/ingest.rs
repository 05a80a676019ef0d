//! Ingesting event files: stream lines, apply each event in its own
//! savepoint, commit every `store.batch_size` events, and add up what
//! happened. Rejected lines are stored with their file, line and reason; the
//! rest of the file is still applied.
//!
//! Each event is decided by the playbook in force when it starts, so a
//! reload during a long file takes effect from the next event on.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::engine::{Applied, Counts, Engine, RuleFailure};
use crate::error::Result;
use crate::event::{Event, EventType};
use crate::event_source::EventLines;
use crate::playbook::Current;
use crate::store::Store;
use crate::time::now_stamp;

/// A rejected line, for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    pub source: String,
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub counts: Counts,
    /// The first rejections (all of them are in the store).
    pub rejections: Vec<Rejection>,
    /// Rule errors grouped by where they happened, most frequent first.
    pub rule_failures: Vec<FailureSite>,
    /// The rules of the version in force that are quarantined (they no longer run).
    pub quarantined_rules: Vec<crate::store::RuleHealth>,
}

/// One place in the rules that failed, how often, and the first event it failed on.
#[derive(Debug, Clone, Serialize)]
pub struct FailureSite {
    pub location: String,
    pub message: String,
    pub count: u64,
    pub first_event: String,
}

impl Summary {
    fn note_failure(&mut self, f: RuleFailure) {
        let location = format!("{}:{}:{}", f.at.file, f.at.line, f.at.col);
        match self.rule_failures.iter_mut().find(|s| s.location == location && s.message == f.at.message) {
            Some(site) => site.count += 1,
            None => self.rule_failures.push(FailureSite {
                location,
                message: f.at.message,
                count: 1,
                first_event: f.event_id,
            }),
        }
    }

    pub fn add(&mut self, other: &Summary) {
        self.counts.add(&other.counts);
        let room = LISTED_REJECTIONS.saturating_sub(self.rejections.len());
        self.rejections.extend(other.rejections.iter().take(room).cloned());
        for site in &other.rule_failures {
            match self.rule_failures.iter_mut().find(|s| s.location == site.location && s.message == site.message) {
                Some(s) => s.count += site.count,
                None => self.rule_failures.push(site.clone()),
            }
        }
    }
}

/// The longest reason kept for a rejected line, in characters.
pub const MAX_REASON_CHARS: usize = 400;

/// A reason as it is stored and printed: a reason quotes the value it refuses,
/// and that value comes from the line, so control and bidi characters are
/// escaped (they never reach a terminal raw) and a reason that quotes a huge
/// value is cut. The line itself is kept whole, beside the reason.
pub fn printable_reason(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len().min(MAX_REASON_CHARS + 3));
    for (i, c) in reason.chars().enumerate() {
        if i == MAX_REASON_CHARS {
            out.push_str("...");
            break;
        }
        match c {
            '"' | '\\' | '\'' => out.push(c),
            c if c.escape_debug().len() > 1 => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// How many rejections a summary lists; the store keeps them all.
pub const LISTED_REJECTIONS: usize = 100;

/// How an input ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every line was read.
    Complete,
    /// A stop was asked for; what was applied is committed, the rest is untouched.
    Stopped,
}

pub struct Ingest<'a> {
    store: &'a Store,
    playbook: &'a Current,
    stop: Option<&'a AtomicBool>,
    in_batch: usize,
    /// The rules version last recorded as in force.
    recorded: String,
    /// Keep every rejection in the summary, not just the first ones.
    pub keep_all_rejections: bool,
    /// Events before this business time make no tasks (importing history).
    pub tasks_since: Option<chrono::DateTime<chrono::Utc>>,
    pub summary: Summary,
}

impl<'a> Ingest<'a> {
    /// Start ingesting: records the rules version and opens the first batch.
    pub fn start(store: &'a Store, playbook: &'a Current) -> Result<Ingest<'a>> {
        store.begin()?;
        let first = playbook.load();
        first.record(store)?;
        // Claims whose lease ran out go back first, so rerouting sees them as open.
        if let Some(before) = first.config.tasks.lapsed_before(chrono::Utc::now()) {
            store.release_lapsed_claims(&before, &now_stamp())?;
        }
        crate::engine::Engine::new(&first.config, &first.rules, store).reroute_unavailable()?;
        let recorded = first.version().to_string();
        Ok(Ingest {
            store,
            playbook,
            stop: None,
            in_batch: 0,
            recorded,
            keep_all_rejections: false,
            tasks_since: None,
            summary: Summary::default(),
        })
    }

    /// Stop between two events when `flag` is set.
    pub fn stop_when(mut self, flag: &'a AtomicBool) -> Self {
        self.stop = Some(flag);
        self
    }

    /// Apply every line of one input, in order.
    pub fn input<R: Read>(&mut self, source: &str, reader: R) -> Result<Ended> {
        let now = chrono::Utc::now();
        let mut lines = EventLines::new(source, reader, now);
        while let Some(line) = lines.next() {
            if self.stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                return Ok(Ended::Stopped);
            }
            let line = line.map_err(|e| crate::error::Error::Read { path: source.into(), source: e })?;
            let playbook = self.playbook.load();
            if playbook.version() != self.recorded {
                // A reload happened: the new version is in force from this event on.
                playbook.record(self.store)?;
                self.recorded = playbook.version().to_string();
            }
            match line.parsed {
                Err(rejected) => self.reject(&line.source, line.number, &rejected.reason, &rejected.raw)?,
                Ok(event) => {
                    let engine =
                        Engine::new(&playbook.config, &playbook.rules, self.store).tasks_since(self.tasks_since);
                    let applied = if event.kind == EventType::ClockTick {
                        self.apply_alone(&engine, &event, &line.source, line.number)?
                    } else {
                        engine.apply(&event, &line.source, line.number)?
                    };
                    match applied {
                        Applied::Done(c, failures) => {
                            self.summary.counts.add(&c);
                            for f in failures {
                                self.summary.note_failure(f);
                            }
                        }
                        Applied::Duplicate => self.summary.counts.duplicates += 1,
                        Applied::Rejected(reason) => {
                            self.reject(&line.source, line.number, &reason, &lines.current_text())?
                        }
                    }
                }
            }
            self.in_batch += 1;
            if self.in_batch >= playbook.config.store.batch_size {
                self.store.commit()?;
                self.store.begin()?;
                self.in_batch = 0;
            }
        }
        Ok(Ended::Complete)
    }

    /// Apply an event as a transaction of its own: what came before it is
    /// committed first, and it is committed at once (or rolled back whole).
    /// Ticks go this way: a large tick inside a savepoint costs far more than
    /// the same work in a plain transaction (see [`Engine::apply_as_transaction`]).
    fn apply_alone(&mut self, engine: &Engine, event: &Event, source: &str, line: usize) -> Result<Applied> {
        self.store.commit()?;
        self.store.begin()?;
        self.in_batch = 0;
        match engine.apply_as_transaction(event, source, line) {
            Ok(Applied::Rejected(why)) => {
                self.store.rollback()?;
                self.store.begin()?;
                Ok(Applied::Rejected(why))
            }
            Ok(applied) => {
                self.store.commit()?;
                self.store.begin()?;
                Ok(applied)
            }
            Err(e) => {
                // Leave what the savepoint path leaves: the event undone, a transaction open.
                if self.store.rollback().is_ok() {
                    let _ = self.store.begin();
                }
                Err(e)
            }
        }
    }

    fn reject(&mut self, source: &str, line: usize, reason: &str, raw: &str) -> Result<()> {
        let reason = &printable_reason(reason);
        tracing::debug!("{source}:{line}: rejected: {reason}");
        self.store.record_rejected(source, line, reason, raw, &now_stamp())?;
        self.summary.counts.rejected += 1;
        if self.keep_all_rejections || self.summary.rejections.len() < LISTED_REJECTIONS {
            self.summary.rejections.push(Rejection { source: source.to_string(), line, reason: reason.to_string() });
        }
        Ok(())
    }

    /// Commit what is left and return the summary.
    pub fn finish(mut self) -> Result<Summary> {
        self.store.commit()?;
        self.summary.rule_failures.sort_by_key(|s| std::cmp::Reverse(s.count));
        let health = self.store.rule_health(self.playbook.load().version())?;
        self.summary.quarantined_rules = health.into_iter().filter(|h| h.quarantined_at.is_some()).collect();
        Ok(self.summary)
    }

    /// Stop after a failure: keep every event applied before it (each was
    /// whole), drop nothing else.
    pub fn abort(self) -> Summary {
        if self.store.commit().is_err() {
            let _ = self.store.rollback();
        }
        self.summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_printable_and_bounded() {
        assert_eq!(printable_reason(r#"unknown event type "x""#), r#"unknown event type "x""#);
        assert_eq!(printable_reason("account A\u{1b}[2J\u{202e}x"), "account A\\u{1b}[2J\\u{202e}x");
        let long = printable_reason(&format!("stage {} is not in the pipeline", "x".repeat(1 << 20)));
        assert_eq!(long.chars().count(), MAX_REASON_CHARS + 3);
        assert!(long.ends_with("..."));
    }
}
