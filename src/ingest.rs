//! Ingesting event files: stream lines, apply each event in its own
//! savepoint, commit every `store.batch_size` events, and add up what
//! happened. Rejected lines are stored with their file, line and reason; the
//! rest of the file is still applied.

use std::io::Read;

use serde::Serialize;

use crate::engine::{Applied, Counts, Engine, RuleFailure};
use crate::error::Result;
use crate::event_source::EventLines;
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
}

/// How many rejections a summary lists; the store keeps them all.
pub const LISTED_REJECTIONS: usize = 100;

pub struct Ingest<'a> {
    engine: &'a Engine<'a>,
    batch_size: usize,
    in_batch: usize,
    pub summary: Summary,
}

impl<'a> Ingest<'a> {
    /// Start ingesting: records the rules version and opens the first batch.
    pub fn start(engine: &'a Engine<'a>) -> Result<Ingest<'a>> {
        let store = engine.store;
        let files = serde_json::to_string(&engine.rules.files).unwrap_or_default();
        store.begin()?;
        store.record_rules_version(&engine.rules.version, &files, &now_stamp())?;
        Ok(Ingest { engine, batch_size: engine.config.store.batch_size, in_batch: 0, summary: Summary::default() })
    }

    /// Apply every line of one input. `progress` is called after each line with the bytes read so far... (lines).
    pub fn input<R: Read>(&mut self, source: &str, reader: R, mut progress: impl FnMut(usize)) -> Result<()> {
        let now = chrono::Utc::now();
        for line in EventLines::new(source, reader, now) {
            let line = line.map_err(|e| crate::error::Error::Read { path: source.into(), source: e })?;
            match line.parsed {
                Err(rejected) => self.reject(&line.source, line.number, &rejected.reason, &rejected.raw)?,
                Ok(event) => match self.engine.apply(&event, &line.source, line.number)? {
                    Applied::Done(c, failures) => {
                        self.summary.counts.add(&c);
                        for f in failures {
                            self.summary.note_failure(f);
                        }
                    }
                    Applied::Duplicate => self.summary.counts.duplicates += 1,
                    Applied::Rejected(reason) => self.reject(&line.source, line.number, &reason, &event.to_json())?,
                },
            }
            progress(line.number);
            self.in_batch += 1;
            if self.in_batch >= self.batch_size {
                self.engine.store.commit()?;
                self.engine.store.begin()?;
                self.in_batch = 0;
            }
        }
        Ok(())
    }

    fn reject(&mut self, source: &str, line: usize, reason: &str, raw: &str) -> Result<()> {
        tracing::debug!("{source}:{line}: rejected: {reason}");
        self.engine.store.record_rejected(source, line, reason, raw, &now_stamp())?;
        self.summary.counts.rejected += 1;
        if self.summary.rejections.len() < LISTED_REJECTIONS {
            self.summary.rejections.push(Rejection { source: source.to_string(), line, reason: reason.to_string() });
        }
        Ok(())
    }

    /// Commit what is left and return the summary.
    pub fn finish(mut self) -> Result<Summary> {
        self.engine.store.commit()?;
        self.summary.rule_failures.sort_by_key(|s| std::cmp::Reverse(s.count));
        Ok(self.summary)
    }

    /// Stop after a failure: keep every event applied before it (each was
    /// whole), drop nothing else.
    pub fn abort(self) -> Summary {
        if self.engine.store.commit().is_err() {
            let _ = self.engine.store.rollback();
        }
        self.summary
    }
}
