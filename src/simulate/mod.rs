//! `simulate`: what would change if candidate rules had been in force. The
//! stored event history is replayed twice into in-memory stores, once under
//! the playbook in force and once under the candidate, side by side on two
//! threads, and the outcomes are compared: tasks added and removed, deals
//! ending in another stage, accounts gaining or losing key status; and what
//! each replay went through on the way (its [`trail`]): moves refused, each
//! deal's path through the stages, each account's key changes over time. The
//! real database is only read, a page at a time.
//!
//! A replay ends the same way whenever it is run on the same history under
//! the same playbook, so the replay under the rules in force is remembered
//! ([`ReplayCache`]) and the next simulate on an unchanged history replays
//! only the candidate.

mod cache;
mod history;
mod replay;
pub mod trail;

pub use cache::ReplayCache;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::error::Result;
use crate::playbook::Playbook;
use crate::store::Location;
use cache::Remembered;
use history::History;
use replay::{Outcome, Replayed, Running};
use trail::{KeyChange, PathStep, Refusal};

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
    /// Moves only the candidate refuses, in time order.
    pub refusals_added: Vec<Refusal>,
    /// Moves only the rules in force refuse, in time order.
    pub refusals_removed: Vec<Refusal>,
    /// Rule → (refusals added, removed).
    pub refusals_by_rule: BTreeMap<String, (usize, usize)>,
    /// Deals whose sequence of stages differs (not only the last), by deal id.
    pub paths_differ: Vec<PathDiff>,
    /// Key changes (became or lost key, when, by which rule) only the candidate makes, in time order.
    pub key_changes_added: Vec<KeyChange>,
    pub key_changes_removed: Vec<KeyChange>,
    /// Rule → (key changes added, removed); a loss no rule decided counts for the rule that had made the account key.
    pub key_changes_by_rule: BTreeMap<String, (usize, usize)>,
}

/// A deal's path under each playbook: every stage it entered, with the moves refused on the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathDiff {
    pub deal: String,
    pub in_force: Vec<PathStep>,
    pub candidate: Vec<PathStep>,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        self.tasks_added.is_empty()
            && self.tasks_removed.is_empty()
            && self.stages_differ.is_empty()
            && self.accounts_gaining_key.is_empty()
            && self.accounts_losing_key.is_empty()
            && self.refusals_added.is_empty()
            && self.refusals_removed.is_empty()
            && self.paths_differ.is_empty()
            && self.key_changes_added.is_empty()
            && self.key_changes_removed.is_empty()
    }
}

/// `steps` as a person reads them: `lead -> qualified (refused negotiation)`.
pub fn path_text(steps: &[PathStep]) -> String {
    let mut text = String::new();
    for s in steps {
        match (&s.refused_by, text.is_empty()) {
            (Some(_), true) => text.push_str(&format!("(refused {})", s.stage)),
            (Some(_), false) => text.push_str(&format!(" (refused {})", s.stage)),
            (None, true) => text.push_str(&s.stage),
            (None, false) => text.push_str(&format!(" -> {}", s.stage)),
        }
    }
    text
}

/// Compare `candidate` with the playbook of `config_dir` on the history in
/// `db`, with the replays remembered beside it.
pub fn run(config_dir: &Path, db: &Location, candidate: Playbook, since: Option<&str>) -> Result<Report> {
    let mut cache = ReplayCache::beside(db);
    compare(db, Arc::new(Playbook::load(config_dir)?), Arc::new(candidate), since, &mut cache)
}

/// Compare two playbooks on the history stored in `db` (only read), with a
/// replay remembered in `cache` (which keeps one of these two replays afterwards).
pub fn compare(
    db: &Location,
    in_force: Arc<Playbook>,
    candidate: Arc<Playbook>,
    since: Option<&str>,
    cache: &mut ReplayCache,
) -> Result<Report> {
    // The history is its first `events` events: later ones, applied while it
    // is replayed, come after them, so both replays read the same.
    let events = db.open_read_only(Duration::from_secs(5))?.event_count()?;
    let events = usize::try_from(events).unwrap_or_default();
    // The same version decides the same way: one replay serves as both.
    let same = candidate.version() == in_force.version();
    let in_force_replay = match cache.take(in_force.version(), events) {
        Some(remembered) => InForce::Remembered(remembered.replayed),
        None => InForce::Running(replay::start(db.clone(), events, in_force.clone())?),
    };
    let candidate_run = (!same).then(|| replay::start(db.clone(), events, candidate.clone())).transpose();
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
                replay::start(db.clone(), events, in_force.clone())?.wait()?
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
    let from = trail::since_seconds(since);

    // Refusals and key changes are the same one when they are of the same
    // thing, at the same time, by the same rule: the reason (which may quote
    // a setting the candidate changed) is only told.
    let (base_refusals, cand_refusals) = (base.trail.refusals(from), cand.trail.refusals(from));
    let refusal = |r: &Refusal| (r.deal.clone(), r.requested.clone(), r.rule.clone(), r.at.clone());
    report.refusals_added = in_time_order(unmatched_by(&cand_refusals, &base_refusals, refusal), |r| &r.at);
    report.refusals_removed = in_time_order(unmatched_by(&base_refusals, &cand_refusals, refusal), |r| &r.at);
    for r in &report.refusals_added {
        report.refusals_by_rule.entry(r.rule.clone()).or_default().0 += 1;
    }
    for r in &report.refusals_removed {
        report.refusals_by_rule.entry(r.rule.clone()).or_default().1 += 1;
    }

    let (base_keys, cand_keys) = (base.trail.key_changes(from), cand.trail.key_changes(from));
    let change = |k: &KeyChange| (k.account.clone(), k.change, k.rule.clone(), k.at.clone());
    report.key_changes_added = in_time_order(unmatched_by(&cand_keys, &base_keys, change), |k| &k.at);
    report.key_changes_removed = in_time_order(unmatched_by(&base_keys, &cand_keys, change), |k| &k.at);
    let rule = |k: &KeyChange| k.rule.clone().unwrap_or_else(|| "(no rule)".to_string());
    for k in &report.key_changes_added {
        report.key_changes_by_rule.entry(rule(k)).or_default().0 += 1;
    }
    for k in &report.key_changes_removed {
        report.key_changes_by_rule.entry(rule(k)).or_default().1 += 1;
    }

    // A path is the stages entered, in order: refusals only annotate it.
    let entered = |steps: &[PathStep]| -> Vec<String> {
        steps.iter().filter(|s| s.refused_by.is_none()).map(|s| s.stage.clone()).collect()
    };
    let mut cand_paths: BTreeMap<&str, Vec<PathStep>> = cand.trail.paths(from).collect();
    for (deal, in_force) in base.trail.paths(from) {
        let candidate = cand_paths.remove(deal).unwrap_or_default();
        if entered(&in_force) != entered(&candidate) {
            report.paths_differ.push(PathDiff { deal: deal.to_string(), in_force, candidate });
        }
    }
    for (deal, candidate) in cand_paths {
        if !entered(&candidate).is_empty() {
            report.paths_differ.push(PathDiff { deal: deal.to_string(), in_force: Vec::new(), candidate });
        }
    }
    report.paths_differ.sort_by(|a, b| a.deal.cmp(&b.deal));
    report
}

/// `items` sorted by time (a stable sort: items of the same time keep their order).
fn in_time_order<T>(mut items: Vec<T>, at: impl Fn(&T) -> &String) -> Vec<T> {
    items.sort_by(|a, b| at(a).cmp(at(b)));
    items
}

/// The items of `these` that `those` does not match, in order: of `n` equal
/// items matched by `m` in `those`, the first `m` are matched (an item is
/// matched once).
fn unmatched<T: Eq + std::hash::Hash + Clone>(these: &[T], those: &[T]) -> Vec<T> {
    unmatched_by(these, those, T::clone)
}

/// [`unmatched`], items being equal when their `key`s are.
fn unmatched_by<T: Clone, K: Eq + std::hash::Hash>(these: &[T], those: &[T], key: impl Fn(&T) -> K) -> Vec<T> {
    let mut matches: HashMap<K, usize> = HashMap::new();
    for t in those {
        *matches.entry(key(t)).or_default() += 1;
    }
    these
        .iter()
        .filter(|t| match matches.get_mut(&key(t)) {
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
    if !r.refusals_added.is_empty() || !r.refusals_removed.is_empty() {
        parts.push(format!("refusals +{} -{}", r.refusals_added.len(), r.refusals_removed.len()));
    }
    if !r.paths_differ.is_empty() {
        let n = r.paths_differ.len();
        parts.push(format!("{n} deal{} another path", if n == 1 { " takes" } else { "s take" }));
    }
    // Key changes over time, when the key accounts at the end do not already tell them.
    let key_changes = !r.key_changes_added.is_empty() || !r.key_changes_removed.is_empty();
    if key_changes && r.accounts_gaining_key.is_empty() && r.accounts_losing_key.is_empty() {
        parts.push(format!("key changes +{} -{}", r.key_changes_added.len(), r.key_changes_removed.len()));
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
    fn quarter() -> (tempfile::TempDir, Location) {
        let dir = tempfile::tempdir().unwrap();
        let db = Location::File(dir.path().join("dealflow.db"));
        let store = db.open(Duration::from_secs(5)).unwrap();
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
        let mut cache = ReplayCache::beside(&Location::File(dir.path().join("dealflow.db")));
        let side_by_side = compare(&db, in_force.clone(), candidate.clone(), None, &mut cache).unwrap();
        assert_eq!(json(&side_by_side), json(&one_after_the_other));
        let remembered = compare(&db, in_force.clone(), candidate.clone(), None, &mut cache).unwrap();
        assert_eq!(json(&remembered), json(&one_after_the_other));
        let from_the_file = compare(
            &db,
            in_force.clone(),
            candidate.clone(),
            None,
            &mut ReplayCache::beside(&Location::File(dir.path().join("dealflow.db"))),
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
