//! `simulate`: what would change if candidate rules had been in force. The
//! stored event history is replayed twice into scratch stores, once under
//! the playbook in force and once under the candidate, and the outcomes are
//! compared: tasks added and removed, deals ending in another stage,
//! accounts gaining or losing key status. The real database is only read.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::ingest::Ingest;
use std::sync::Arc;

use crate::playbook::Playbook;
use crate::store::{Store, TaskFilter};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub events: usize,
    pub version_in_force: String,
    pub candidate_version: String,
    pub since: Option<String>,
    /// `(role, title, subject)` of tasks only the candidate creates.
    pub tasks_added: Vec<(String, String, String)>,
    pub tasks_removed: Vec<(String, String, String)>,
    /// Role → (added, removed).
    pub tasks_by_role: BTreeMap<String, (usize, usize)>,
    /// `(deal, stage in force, stage under the candidate)`.
    pub stages_differ: Vec<(String, String, String)>,
    pub accounts_gaining_key: Vec<String>,
    pub accounts_losing_key: Vec<String>,
    pub rule_errors: u64,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        self.tasks_added.is_empty()
            && self.tasks_removed.is_empty()
            && self.stages_differ.is_empty()
            && self.accounts_gaining_key.is_empty()
            && self.accounts_losing_key.is_empty()
    }
}

struct Outcome {
    tasks: Vec<(String, String, String)>,
    stages: BTreeMap<String, String>,
    key: Vec<String>,
    rule_errors: u64,
}

fn replay(history: &[String], p: Arc<Playbook>, since: Option<&str>) -> Result<Outcome> {
    let scratch = tempfile::tempdir().map_err(|source| Error::Write { path: std::env::temp_dir(), source })?;
    let store = Store::open(&scratch.path().join("replay.db"), Duration::from_secs(5))?;
    let current = arc_swap::ArcSwap::new(p);
    let mut ingest = Ingest::start(&store, &current)?;
    let text = history.join("\n") + "\n";
    ingest.input("history", text.as_bytes())?;
    let summary = ingest.finish()?;
    let tasks = store
        .tasks(&TaskFilter::default())?
        .into_iter()
        .filter(|t| since.is_none_or(|s| t.created_at.as_str() >= s))
        .map(|t| (t.role, t.title, t.subject.to_string()))
        .collect();
    let stages = store.deals(None, None)?.into_iter().map(|d| (d.id, d.stage)).collect();
    let key = store.accounts(true)?.into_iter().map(|a| a.id).collect();
    Ok(Outcome { tasks, stages, key, rule_errors: summary.counts.rule_errors })
}

/// Compare `candidate` with the playbook of `config_dir` on the history in `db`.
pub fn run(config_dir: &Path, db: &Path, candidate: Playbook, since: Option<&str>) -> Result<Report> {
    compare(db, Arc::new(Playbook::load(config_dir)?), Arc::new(candidate), since)
}

/// Compare two playbooks on the history stored in `db` (only read).
pub fn compare(db: &Path, in_force: Arc<Playbook>, candidate: Arc<Playbook>, since: Option<&str>) -> Result<Report> {
    let history = {
        let store = Store::open_read_only(db, Duration::from_secs(5))?;
        store.event_history()?
    };
    let mut report = Report {
        events: history.len(),
        version_in_force: in_force.version().to_string(),
        candidate_version: candidate.version().to_string(),
        since: since.map(str::to_string),
        ..Report::default()
    };
    let base = replay(&history, in_force, since)?;
    let cand = replay(&history, candidate, since)?;
    report.rule_errors = cand.rule_errors;
    let mut remaining = base.tasks.clone();
    for t in &cand.tasks {
        match remaining.iter().position(|b| b == t) {
            Some(i) => {
                remaining.remove(i);
            }
            None => report.tasks_added.push(t.clone()),
        }
    }
    report.tasks_removed = remaining;
    for (role, _, _) in &report.tasks_added {
        report.tasks_by_role.entry(role.clone()).or_default().0 += 1;
    }
    for (role, _, _) in &report.tasks_removed {
        report.tasks_by_role.entry(role.clone()).or_default().1 += 1;
    }
    for (deal, stage) in &base.stages {
        let other = cand.stages.get(deal).cloned().unwrap_or_default();
        if &other != stage {
            report.stages_differ.push((deal.clone(), stage.clone(), other));
        }
    }
    report.accounts_gaining_key = cand.key.iter().filter(|a| !base.key.contains(a)).cloned().collect();
    report.accounts_losing_key = base.key.iter().filter(|a| !cand.key.contains(a)).cloned().collect();
    Ok(report)
}

/// One line a person reads: what a candidate would change.
pub fn summary(r: &Report) -> String {
    if r.is_empty() {
        return format!("no difference on the {} stored events", r.events);
    }
    let mut parts = vec![format!("tasks +{} -{}", r.tasks_added.len(), r.tasks_removed.len())];
    if !r.stages_differ.is_empty() {
        parts.push(format!("{} deals end in another stage", r.stages_differ.len()));
    }
    if !r.accounts_gaining_key.is_empty() {
        parts.push(format!("key: +{}", r.accounts_gaining_key.join(", +")));
    }
    if !r.accounts_losing_key.is_empty() {
        parts.push(format!("key: -{}", r.accounts_losing_key.join(", -")));
    }
    format!("on the {} stored events: {}", r.events, parts.join("; "))
}

/// A candidate playbook: a config folder (`config.toml` and `rules/`), or a
/// folder of rule files used with the config in force.
pub fn candidate(dir: &Path, config_dir: &Path) -> Result<Playbook> {
    if dir.join(crate::config::CONFIG_FILE).exists() {
        return Playbook::load(dir);
    }
    let config = crate::config::Config::load(config_dir)?;
    let files = crate::rules::read_rule_files(dir)?;
    let rules = crate::rules::RuleSet::from_sources(&config, files)?;
    Ok(Playbook { config, rules, loaded_at: crate::time::now_stamp(), load_ms: 0.0 })
}
