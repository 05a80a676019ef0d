//! Ingesting event files: stream lines, apply each event, commit every
//! `store.batch_size` events, and add up what happened. Rejected lines are
//! stored with their file, line and reason; the rest of the file is still
//! applied.
//!
//! Each event is decided by the playbook in force when it starts, so a
//! reload during a long file takes effect from the next event on.
//!
//! An event is all applied or not at all. Events are applied straight into
//! the batch's transaction, without a savepoint each: a savepoint makes
//! SQLite copy every page the event touches into its journal, a tenth of
//! the cost of an event. The lines of the batch are kept until it commits;
//! when an event fails half way, the batch is rolled back and applied again
//! line by line, each event in a savepoint, which leaves every event before
//! the failing one whole and nothing of the failing one.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

#[cfg(test)]
mod recovery_tests;
mod uncommitted;

use uncommitted::Uncommitted;

use crate::engine::{Applied, Counts, Engine, RuleFailure};
use crate::error::Result;
use crate::event::EventType;
use crate::event_json::LineLimits;
use crate::event_source::{EventLines, Line};
use crate::playbook::{Current, Playbook};
use crate::store::{Store, Unit};
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

/// A batch commits early once the text of its lines reaches this many bytes:
/// the lines are kept until the commit, and a thousand long lines must not
/// add up to gigabytes.
pub const MAX_UNCOMMITTED_TEXT: usize = 64 * 1024 * 1024;

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
    /// The lines applied since the last commit, to apply again if one fails half way.
    uncommitted: Uncommitted,
    /// What the summary and `recorded` were at the last commit.
    committed: Committed,
    /// The open unit of work the lines go into. `None` once a rollback
    /// failed: the database may hold part of an event then, and nothing more
    /// is committed.
    unit: Option<Unit<'a>>,
    /// The rules version last recorded as in force.
    recorded: String,
    /// Keep every rejection in the summary, not just the first ones.
    pub keep_all_rejections: bool,
    /// Events before this business time make no tasks (importing history).
    pub tasks_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Lines read ahead of the one applied (0: none), so the store learns
    /// which events come next (see `Backend::expect_events`). Only for
    /// inputs that are whole already (files): a pipe would wait for the
    /// lines ahead before applying the ones it has.
    pub read_ahead: usize,
    pub summary: Summary,
}

impl<'a> Ingest<'a> {
    /// Start ingesting: records the rules version and opens the first batch.
    pub fn start(store: &'a Store, playbook: &'a Current) -> Result<Ingest<'a>> {
        let unit = store.begin()?;
        let first = playbook.load();
        first.record(store)?;
        // Claims whose lease ran out go back first, so rerouting sees them as open.
        if let Some(before) = first.config.tasks.lapsed_before(chrono::Utc::now()) {
            store.release_lapsed_claims(&before, &now_stamp())?;
        }
        let engine = crate::engine::Engine::new(&first.config, &first.rules, store);
        let today = engine.business_today()?;
        let moved = engine.rebalance(today)?;
        // Accounts that waited for a role the team now has someone of are handed over.
        engine.complete_waiting_handovers(today)?;
        // The batches hold events alone, so one can be rolled back and applied again.
        unit.commit()?;
        let unit = Some(store.begin()?);
        let recorded = first.version().to_string();
        Ok(Ingest {
            store,
            playbook,
            stop: None,
            uncommitted: Uncommitted::default(),
            committed: Committed { recorded: recorded.clone(), ..Committed::default() },
            unit,
            recorded,
            keep_all_rejections: false,
            tasks_since: None,
            read_ahead: 0,
            summary: Summary {
                counts: crate::engine::Counts { tasks_moved: moved, ..Default::default() },
                ..Summary::default()
            },
        })
    }

    /// Read `n` lines ahead of the one applied, for a store whose reads are
    /// round trips (see `Backend::expect_events`); only for whole inputs
    /// (files), never a pipe that may be waiting for more.
    pub fn read_ahead(mut self, n: usize) -> Self {
        self.read_ahead = n;
        self
    }

    /// Stop between two events when `flag` is set.
    pub fn stop_when(mut self, flag: &'a AtomicBool) -> Self {
        self.stop = Some(flag);
        self
    }

    /// Apply every line of one input, in order.
    pub fn input<R: Read>(&mut self, source: &str, reader: R) -> Result<Ended> {
        self.input_after(source, reader, 0)
    }

    /// [`Ingest::input`] of the rest of a file whose first `lines_before` lines were read already.
    pub fn input_after<R: Read>(&mut self, source: &str, reader: R, lines_before: usize) -> Result<Ended> {
        let now = chrono::Utc::now();
        let name: Arc<str> = source.into();
        let limits = LineLimits::of(&self.playbook.load().config.limits);
        let mut lines = EventLines::new(source, reader, now).within(limits).after_line(lines_before);
        let mut ahead: std::collections::VecDeque<(std::io::Result<Line>, String)> = Default::default();
        loop {
            if self.stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                return Ok(Ended::Stopped);
            }
            let (line, text) = match self.read_ahead {
                0 => match lines.next() {
                    None => break,
                    Some(line) => {
                        let text = lines.current_str().into_owned();
                        (line, text)
                    }
                },
                n => {
                    if ahead.is_empty() {
                        self.look_ahead(&mut lines, &mut ahead, n)?;
                    }
                    match ahead.pop_front() {
                        None => break,
                        Some(next) => next,
                    }
                }
            };
            let line = line.map_err(|e| crate::error::Error::Read { path: source.into(), source: e })?;
            let playbook = self.playbook.load_full();
            if matches!(&line.parsed, Ok(e) if e.kind == EventType::ClockTick) {
                self.apply_alone(&line, &text, &playbook)?;
                continue;
            }
            let applied = self.apply(&line, &text, &playbook, false);
            let batch_size = playbook.config.store.batch_size;
            self.uncommitted.push(&name, now, limits, &line, &text, playbook);
            if let Err(e) = applied {
                self.apply_again(e)?;
            }
            if self.uncommitted.len() >= batch_size || self.uncommitted.text_len() >= MAX_UNCOMMITTED_TEXT {
                self.commit()?;
            }
        }
        Ok(Ended::Complete)
    }

    /// Read up to `n` lines ahead (to the first read error, which is kept in
    /// its place) and tell the store which events are coming, so a backend
    /// with round trips asks for all their ids at once.
    fn look_ahead<R: Read>(
        &mut self,
        lines: &mut EventLines<R>,
        ahead: &mut std::collections::VecDeque<(std::io::Result<Line>, String)>,
        n: usize,
    ) -> Result<()> {
        while ahead.len() < n {
            let Some(line) = lines.next() else { break };
            let failed = line.is_err();
            let text = lines.current_str().into_owned();
            ahead.push_back((line, text));
            if failed {
                break;
            }
        }
        let ids: Vec<&str> =
            ahead.iter().filter_map(|(l, _)| l.as_ref().ok()?.parsed.as_ref().ok().map(|e| e.id.as_str())).collect();
        if !ids.is_empty() {
            self.store.expect_events(&ids)?;
        }
        Ok(())
    }

    /// Apply one line (its text is `text`) in the open transaction, in a
    /// savepoint of its own if `savepoint` (otherwise a failure may leave
    /// part of it written).
    fn apply(&mut self, line: &Line, text: &str, playbook: &Playbook, savepoint: bool) -> Result<()> {
        if playbook.version() != self.recorded {
            // A reload happened: the new version is in force from this event on,
            // and its roster too (accounts waiting for a role it now has are handed over).
            playbook.record(self.store)?;
            self.recorded = playbook.version().to_string();
            let engine = Engine::new(&playbook.config, &playbook.rules, self.store);
            let today = engine.business_today()?;
            self.summary.counts.tasks_moved += engine.rebalance(today)?;
            engine.complete_waiting_handovers(today)?;
        }
        let event = match &line.parsed {
            Err(rejected) => return self.reject(&line.source, line.number, &rejected.reason, &rejected.raw),
            Ok(event) => event,
        };
        let engine = Engine::new(&playbook.config, &playbook.rules, self.store).tasks_since(self.tasks_since);
        let applied = if savepoint {
            engine.apply(event, &line.source, line.number)?
        } else {
            engine.apply_in_transaction(event, &line.source, line.number)?
        };
        self.count(applied, line, text)
    }

    fn count(&mut self, applied: Applied, line: &Line, text: &str) -> Result<()> {
        match applied {
            Applied::Done(c, failures) => {
                self.summary.counts.add(&c);
                for f in failures {
                    self.summary.note_failure(f);
                }
            }
            Applied::Duplicate => self.summary.counts.duplicates += 1,
            Applied::Rejected(reason) => self.reject(&line.source, line.number, &reason, text)?,
        }
        Ok(())
    }

    /// The last line failed and may have left part of itself written: roll
    /// the batch back and apply its lines again, each event in a savepoint.
    /// An error that comes back is returned, with the events before it
    /// applied whole; an error that does not (a refusal found after a write,
    /// a passing fault) is only logged.
    fn apply_again(&mut self, first: crate::error::Error) -> Result<()> {
        tracing::debug!("an event failed half way ({first}); applying the batch again, event by event");
        self.rollback()?;
        self.unit = Some(self.store.begin()?);
        self.forget_uncommitted();
        // Rule health is kept in memory too: back to what the store holds.
        for p in self.uncommitted.playbooks() {
            p.rules.restore_health(&self.store.rule_health(p.version())?);
        }
        let mut kept = std::mem::take(&mut self.uncommitted);
        let failed = kept
            .lines()
            .enumerate()
            .find_map(|(i, (line, text, playbook))| self.apply(&line, text, playbook, true).err().map(|e| (i, e)));
        if let Some((i, _)) = failed {
            kept.truncate(i);
        }
        self.uncommitted = kept;
        failed.map_or(Ok(()), |(_, e)| Err(e))
    }

    /// Count only what was committed: the transaction is being rolled back.
    fn forget_uncommitted(&mut self) {
        self.summary.counts = self.committed.counts.clone();
        self.summary.rejections.truncate(self.committed.rejections);
        self.summary.rule_failures.clone_from(&self.committed.rule_failures);
        self.recorded.clone_from(&self.committed.recorded);
    }

    /// The open unit of work, or the error that ended it for good.
    fn take_unit(&mut self) -> Result<Unit<'a>> {
        self.unit.take().ok_or_else(|| {
            self.store.fault("a failed event could not be rolled back; the last batch was not kept".into())
        })
    }

    /// Undo the open unit of work; when that fails, nothing more is committed.
    fn rollback(&mut self) -> Result<()> {
        self.take_unit()?.rollback()
    }

    /// Commit the batch and open the next.
    fn commit(&mut self) -> Result<()> {
        self.commit_batch()?;
        self.uncommitted.clear();
        self.committed = Committed {
            counts: self.summary.counts.clone(),
            rejections: self.summary.rejections.len(),
            rule_failures: self.summary.rule_failures.clone(),
            recorded: self.recorded.clone(),
        };
        self.unit = Some(self.store.begin()?);
        Ok(())
    }

    /// Commit the open batch. A store may write some rows only when the
    /// batch commits (SQLite gathers the logs of a batch), so a write can fail
    /// there; the failed commit rolled the batch back, and it is applied
    /// again event by event, each event's rows written as it ends: that keeps
    /// every event before the failing one and nothing of it, and the error
    /// is returned once those are committed.
    fn commit_batch(&mut self) -> Result<()> {
        let Err(first) = self.take_unit()?.commit() else { return Ok(()) };
        self.unit = Some(self.store.begin()?);
        let failed = self.apply_again(first);
        if self.unit.is_some() {
            self.take_unit()?.commit()?;
        }
        failed
    }

    /// Apply an event as a transaction of its own: what came before it is
    /// committed first, and it is committed at once (or rolled back whole).
    /// Ticks go this way, as they can be large: a failing tick leaves no
    /// batch to apply again.
    fn apply_alone(&mut self, line: &Line, text: &str, playbook: &Playbook) -> Result<()> {
        self.commit()?;
        match self.apply(line, text, playbook, false) {
            Ok(()) => self.commit(),
            Err(e) => {
                // Leave what a failed event in a batch leaves: the event undone, a transaction open.
                self.forget_uncommitted();
                if self.rollback().is_ok() {
                    self.unit = self.store.begin().ok();
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
        self.commit_batch()?;
        self.summary.rule_failures.sort_by_key(|s| std::cmp::Reverse(s.count));
        let health = self.store.rule_health(self.playbook.load().version())?;
        self.summary.quarantined_rules = health.into_iter().filter(|h| h.quarantined_at.is_some()).collect();
        Ok(self.summary)
    }

    /// Stop after a failure: keep every event applied before it (each was
    /// whole), drop nothing else.
    pub fn abort(mut self) -> Summary {
        // A unit that cannot commit is rolled back; one that is gone holds nothing to keep.
        if let Some(unit) = self.unit.take() {
            let _ = unit.commit();
        }
        self.summary
    }
}

/// What [`Ingest`] had counted and recorded at the last commit.
#[derive(Default)]
struct Committed {
    counts: Counts,
    rejections: usize,
    rule_failures: Vec<FailureSite>,
    recorded: String,
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
