//! One replay: the stored history ingested under one playbook into an
//! in-memory store, and what it ended with. Each replay runs on a thread of
//! its own, with the stack rules need, and reads the history through its
//! own connection, so the two replays of a simulate run side by side.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use super::history::History;
use super::trail::{Noter, Trail};
use crate::error::{Error, Result};
use crate::ingest::Ingest;
use crate::playbook::Playbook;
use crate::store::{Location, Store, TaskStatus};

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
    /// What it went through: each deal's stages and refused moves, each account's key changes.
    pub trail: Trail,
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
pub fn start(db: Location, events: usize, playbook: Arc<Playbook>) -> Result<Running> {
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

fn replay(db: &Location, events: usize, playbook: Arc<Playbook>) -> Result<Replayed> {
    let mut history = History::open(db, events)?;
    let noter = Arc::new(std::sync::Mutex::new(Noter::default()));
    let store = Store::over(Box::new(crate::store::memory::Memory::for_replay_noted_by(noter.clone())));
    let current = arc_swap::ArcSwap::new(playbook);
    let mut ingest = Ingest::start(&store, &current)?;
    ingest.input("history", &mut history)?;
    let summary = ingest.finish()?;
    // A listing holds every task (or deal) at once, whole: one replay lists at a
    // time, so that the peaks of the two listings do not add up.
    let _alone = LISTING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let tasks = tasks(&store)?;
    let stages = store.deals(None, None)?.into_iter().map(|d| (d.id, d.stage)).collect();
    let key = store.accounts(true)?.into_iter().map(|a| a.id).collect();
    drop(store);
    let trail = std::mem::take(&mut *noter.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).finish();
    let outcome = Outcome { tasks, stages, key, rule_errors: summary.counts.rule_errors, trail };
    Ok(Replayed { outcome, history: history.digest() })
}

/// Every task of `store`, most urgent first, in the order [`Store::tasks`]
/// lists them (open, claimed, then closed; by priority, due time, id), read
/// one at a time: a listing would hold every task whole at once, hundreds of
/// megabytes for a million events.
fn tasks(store: &Store) -> Result<Vec<ReplayedTask>> {
    let mut found = Vec::new();
    for id in 1..=store.max_task_id()? {
        let Some(t) = store.task(id)? else { continue };
        let class = match t.status {
            TaskStatus::Open => 0,
            TaskStatus::Claimed => 1,
            TaskStatus::Done | TaskStatus::Cancelled => 2,
        };
        let urgency = (class, Reverse(t.priority), t.due_at, t.id);
        let task =
            ReplayedTask { role: t.role, title: t.title, subject: t.subject.to_string(), created_at: t.created_at };
        found.push((urgency, task));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found.into_iter().map(|(_, task)| task).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TaskFilter;
    use std::time::Duration;

    #[test]
    fn tasks_are_read_in_the_order_the_store_lists_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("dealflow.db"), Duration::from_secs(5)).unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let current = arc_swap::ArcSwap::from_pointee(Playbook::load(root).unwrap());
        let mut ingest = Ingest::start(&store, &current).unwrap();
        ingest.input("quarter.jsonl", std::fs::File::open(root.join("examples/quarter.jsonl")).unwrap()).unwrap();
        ingest.finish().unwrap();
        // Some closed and claimed, to order them among the open ones.
        let listed = store.tasks(&TaskFilter::default()).unwrap();
        store.close_task(listed[3].id, TaskStatus::Done, None, None, "2026-12-01T00:00:00Z").unwrap();
        store.close_task(listed[9].id, TaskStatus::Cancelled, None, None, "2026-12-01T00:00:00Z").unwrap();
        store.claim(&listed[5].role, "someone", "2026-12-01T00:00:00Z", None).unwrap();
        let listed: Vec<_> = store.tasks(&TaskFilter::default()).unwrap();
        assert!(listed.len() > 20);
        let expected: Vec<_> = listed
            .into_iter()
            .map(|t| ReplayedTask {
                role: t.role,
                title: t.title,
                subject: t.subject.to_string(),
                created_at: t.created_at,
            })
            .collect();
        assert_eq!(tasks(&store).unwrap(), expected);
    }
}
