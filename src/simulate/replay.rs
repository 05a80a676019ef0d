//! One replay: the stored history ingested under one playbook into a
//! scratch store, and what it ended with. Each replay runs on a thread of
//! its own, with the stack rules need, and reads the history through its
//! own connection, so the two replays of a simulate run side by side.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::history::History;
use crate::error::{Error, Result};
use crate::ingest::Ingest;
use crate::playbook::Playbook;
use crate::store::{Store, TaskFilter};

/// What a replay ended with: all a report compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Every task, most urgent first.
    pub tasks: Vec<ReplayedTask>,
    /// Deal → the stage it ends in.
    pub stages: BTreeMap<String, String>,
    /// The key accounts, by id.
    pub key: Vec<String>,
    pub rule_errors: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayedTask {
    pub role: String,
    pub title: String,
    pub subject: String,
    pub created_at: String,
}

/// A finished replay, and the digest of the history it read (see [`History::digest`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replayed {
    pub outcome: Outcome,
    pub history: String,
}

/// Held by the replay listing what it ended with (see [`replay`]).
static LISTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A replay running: [`Running::wait`] for its end.
pub struct Running(JoinHandle<Result<Replayed>>);

/// Start replaying the first `events` events of the store at `db` under `playbook`.
pub fn start(db: PathBuf, events: usize, playbook: Arc<Playbook>) -> Result<Running> {
    crate::rules::stack::spawn("replay", move || replay(&db, events, playbook))
        .map(Running)
        .map_err(|e| Error::Usage(format!("cannot start a thread to replay the history: {e}")))
}

impl Running {
    pub fn wait(self) -> Result<Replayed> {
        match self.0.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

fn replay(db: &std::path::Path, events: usize, playbook: Arc<Playbook>) -> Result<Replayed> {
    let mut history = History::open(db, events)?;
    let scratch = tempfile::tempdir().map_err(|source| Error::Write { path: std::env::temp_dir(), source })?;
    let store = Store::open(&scratch.path().join("replay.db"), Duration::from_secs(5))?;
    let current = arc_swap::ArcSwap::new(playbook);
    let mut ingest = Ingest::start(&store, &current)?;
    ingest.input("history", &mut history)?;
    let summary = ingest.finish()?;
    // A listing holds every task (or deal) at once, whole: one replay lists at a
    // time, so that the peaks of the two listings do not add up.
    let _alone = LISTING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let tasks = store
        .tasks(&TaskFilter::default())?
        .into_iter()
        .map(|t| ReplayedTask {
            role: t.role,
            title: t.title,
            subject: t.subject.to_string(),
            created_at: t.created_at,
        })
        .collect();
    let stages = store.deals(None, None)?.into_iter().map(|d| (d.id, d.stage)).collect();
    let key = store.accounts(true)?.into_iter().map(|a| a.id).collect();
    let outcome = Outcome { tasks, stages, key, rule_errors: summary.counts.rule_errors };
    Ok(Replayed { outcome, history: history.digest() })
}
