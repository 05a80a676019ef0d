//! `simulate`: what would change if candidate rules had been in force. The
//! stored event history is replayed twice into in-memory stores, once under
//! the playbook in force and once under the candidate, side by side on two
//! threads, and the outcomes are compared: tasks added and removed, deals
//! ending in another stage, accounts gaining or losing key status. The real
//! database is only read, a page at a time.
//!
//! A replay ends the same way whenever it is run on the same history under
//! the same playbook, so the replay under the rules in force is remembered
//! ([`ReplayCache`]) and the next simulate on an unchanged history replays
//! only the candidate.

mod cache;
mod history;
mod replay;

pub use cache::ReplayCache;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::error::Result;
use crate::playbook::Playbook;
use crate::store::Store;
use cache::Remembered;
use history::History;
use replay::{Outcome, Replayed, Running};

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

/// Compare `candidate` with the playbook of `config_dir` on the history in
/// `db`, with the replays remembered beside it.
pub fn run(config_dir: &Path, db: &Path, candidate: Playbook, since: Option<&str>) -> Result<Report> {
    let mut cache = ReplayCache::beside(db);
    compare(db, Arc::new(Playbook::load(config_dir)?), Arc::new(candidate), since, &mut cache)
}

/// Compare two playbooks on the history stored in `db` (only read), with a
/// replay remembered in `cache` (which keeps one of these two replays afterwards).
pub fn compare(
    db: &Path,
    in_force: Arc<Playbook>,
    candidate: Arc<Playbook>,
    since: Option<&str>,
    cache: &mut ReplayCache,
) -> Result<Report> {
    // The history is its first `events` events: later ones, applied while it
    // is replayed, come after them, so both replays read the same.
    let events = Store::open_read_only(db, Duration::from_secs(5))?.event_count()?;
    let events = usize::try_from(events).unwrap_or_default();
    // The same version decides the same way: one replay serves as both.
    let same = candidate.version() == in_force.version();
    let in_force_replay = match cache.take(in_force.version(), events) {
        Some(remembered) => InForce::Remembered(remembered.replayed),
        None => InForce::Running(replay::start(db.to_path_buf(), events, in_force.clone())?),
    };
    let candidate_run = (!same).then(|| replay::start(db.to_path_buf(), events, candidate.clone())).transpose();
    // Both replays end before anything is returned: none goes on alone.
    let in_force_replay = match in_force_replay {
        InForce::Running(running) => InForce::Replayed(running.wait()),
        remembered => remembered,
    };
    let candidate_replay = candidate_run?.map(Running::wait).transpose()?;
    let in_force_replay = match in_force_replay {
        InForce::Replayed(replayed) => replayed?,
        InForce::Running(_) => unreachable!("waited for above"),
        InForce::Remembered(remembered) => {
            let read = match &candidate_replay {
                Some(c) => c.history.clone(),
                None => History::digest_of(db, events)?,
            };
            if remembered.history == read {
                remembered
            } else {
                // Another history of the same length (the database was replaced): replay it after all.
                replay::start(db.to_path_buf(), events, in_force.clone())?.wait()?
            }
        }
    };
    let report = report(
        events,
        (&in_force, &in_force_replay.outcome),
        (&candidate, &candidate_replay.as_ref().unwrap_or(&in_force_replay).outcome),
        since,
    );
    let remember = |version: &str, replayed| Remembered { version: version.to_string(), events, replayed };
    cache.keep(
        remember(in_force.version(), in_force_replay),
        candidate_replay.map(|replayed| remember(candidate.version(), replayed)),
    );
    Ok(report)
}

/// The replay under the rules in force: remembered, running, or ended.
enum InForce {
    Remembered(Replayed),
    Running(Running),
    Replayed(Result<Replayed>),
}

/// What the candidate's outcome changes from the outcome in force, on tasks created from `since` on.
fn report(
    events: usize,
    (in_force, base): (&Playbook, &Outcome),
    (candidate, cand): (&Playbook, &Outcome),
    since: Option<&str>,
) -> Report {
    let mut report = Report {
        events,
        version_in_force: in_force.version().to_string(),
        candidate_version: candidate.version().to_string(),
        since: since.map(str::to_string),
        rule_errors: cand.rule_errors,
        ..Report::default()
    };
    let tasks = |o: &Outcome| -> Vec<(String, String, String)> {
        o.tasks
            .iter()
            .filter(|t| since.is_none_or(|s| t.created_at.as_str() >= s))
            .map(|t| (t.role.clone(), t.title.clone(), t.subject.clone()))
            .collect()
    };
    let (base_tasks, cand_tasks) = (tasks(base), tasks(cand));
    report.tasks_added = unmatched(&cand_tasks, &base_tasks);
    report.tasks_removed = unmatched(&base_tasks, &cand_tasks);
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
    report.accounts_gaining_key = unmatched(&cand.key, &base.key);
    report.accounts_losing_key = unmatched(&base.key, &cand.key);
    report
}

/// The items of `these` that `those` does not match, in order: of `n` equal
/// items matched by `m` in `those`, the first `m` are matched (an item is
/// matched once).
fn unmatched<T: Eq + std::hash::Hash + Clone>(these: &[T], those: &[T]) -> Vec<T> {
    let mut matches: HashMap<&T, usize> = HashMap::new();
    for t in those {
        *matches.entry(t).or_default() += 1;
    }
    these
        .iter()
        .filter(|t| match matches.get_mut(t) {
            Some(left @ 1..) => {
                *left -= 1;
                false
            }
            _ => true,
        })
        .cloned()
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_dir() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// The sample playbook, with the key-account threshold at `threshold` instead of 150,000.
    fn playbook(threshold: u32) -> Arc<Playbook> {
        let text = std::fs::read_to_string(sample_dir().join(crate::config::CONFIG_FILE)).unwrap();
        let text = text.replace("key_revenue_12m = 150000", &format!("key_revenue_12m = {threshold}"));
        let config = crate::config::Config::parse(sample_dir(), &text).unwrap();
        let rules = crate::rules::RuleSet::load(&config).unwrap();
        Arc::new(Playbook { config, rules, loaded_at: crate::time::now_stamp(), load_ms: 0.0 })
    }

    /// A database holding the sample quarter, ingested under the sample playbook.
    fn quarter() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("dealflow.db");
        let store = Store::open(&db, Duration::from_secs(5)).unwrap();
        let current = arc_swap::ArcSwap::new(playbook(150_000));
        let mut ingest = crate::ingest::Ingest::start(&store, &current).unwrap();
        let events = std::fs::File::open(sample_dir().join("examples/quarter.jsonl")).unwrap();
        ingest.input("quarter.jsonl", events).unwrap();
        ingest.finish().unwrap();
        (dir, db)
    }

    fn json(r: &Report) -> serde_json::Value {
        serde_json::to_value(r).unwrap()
    }

    #[test]
    fn side_by_side_or_remembered_the_report_is_that_of_two_replays_one_after_the_other() {
        let (_dir, db) = quarter();
        let (in_force, candidate) = (playbook(150_000), playbook(90_000));
        let one_after_the_other = {
            let base = replay::start(db.clone(), 315, in_force.clone()).unwrap().wait().unwrap();
            let cand = replay::start(db.clone(), 315, candidate.clone()).unwrap().wait().unwrap();
            report(315, (&in_force, &base.outcome), (&candidate, &cand.outcome), None)
        };
        assert_eq!(json(&one_after_the_other)["accounts_gaining_key"], serde_json::json!(["A-5", "A-8"]));
        let dir = tempfile::tempdir().unwrap();
        let mut cache = ReplayCache::beside(&dir.path().join("dealflow.db"));
        let side_by_side = compare(&db, in_force.clone(), candidate.clone(), None, &mut cache).unwrap();
        assert_eq!(json(&side_by_side), json(&one_after_the_other));
        let remembered = compare(&db, in_force.clone(), candidate.clone(), None, &mut cache).unwrap();
        assert_eq!(json(&remembered), json(&one_after_the_other));
        let from_the_file = compare(
            &db,
            in_force.clone(),
            candidate.clone(),
            None,
            &mut ReplayCache::beside(&dir.path().join("dealflow.db")),
        )
        .unwrap();
        assert_eq!(json(&from_the_file), json(&one_after_the_other));
        // Watch's: the candidate put in force, and the old rules as the next candidate.
        let mut cache = ReplayCache::for_reloads();
        let forth = compare(&db, in_force.clone(), candidate.clone(), None, &mut cache).unwrap();
        assert_eq!(json(&forth), json(&one_after_the_other));
        let back = compare(&db, candidate, in_force, None, &mut cache).unwrap();
        assert_eq!(back.accounts_losing_key, ["A-5", "A-8"]);
        assert_eq!(back.tasks_added, one_after_the_other.tasks_removed);
        assert_eq!(back.tasks_removed, one_after_the_other.tasks_added);
    }

    #[test]
    fn a_remembered_replay_serves_only_for_the_history_it_was_of() {
        let (_dir, db) = quarter();
        let (old, new) = (playbook(150_000), playbook(90_000));
        let honest = compare(&db, new.clone(), old.clone(), None, &mut ReplayCache::for_reloads()).unwrap();
        assert!(honest.accounts_gaining_key.is_empty());
        let mut cache = ReplayCache::for_reloads();
        compare(&db, old.clone(), new.clone(), None, &mut cache).unwrap();
        // Make the new rules' remembered replay say no account is key: used, it shows.
        let mut remembered = cache.take(new.version(), 315).unwrap();
        remembered.replayed.outcome.key.clear();
        cache.keep(remembered.clone(), None);
        let used = compare(&db, new.clone(), old.clone(), None, &mut cache).unwrap();
        assert!(!used.accounts_gaining_key.is_empty());
        // The same, said to be of another history of the same length: replayed again.
        remembered.replayed.history = "another".into();
        cache.keep(remembered, None);
        let again = compare(&db, new, old, None, &mut cache).unwrap();
        assert_eq!(json(&again), json(&honest));
    }

    #[test]
    fn unmatched_items_are_the_ones_beyond_the_matches_in_order() {
        let these = ["a", "b", "a", "c", "a"];
        assert_eq!(unmatched(&these, &["a", "c", "d"]), ["b", "a", "a"]);
        assert_eq!(unmatched(&["d", "c", "a"], &these), ["d"]);
        assert_eq!(unmatched(&these, &[]), these);
    }
}
