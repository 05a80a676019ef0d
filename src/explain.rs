//! `explain`: why the engine did what it did. A timeline of the events and
//! decisions about a deal, an account or a task, each decision with its rule
//! (file, function, line in the version that made it), reason, rules version
//! and event; for an account, why it is or is not key now, rule by rule and
//! condition by condition; for a task, the rule's text as it was when it fired
//! and why it went to whom ([`assignment`]).

use serde::Serialize;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::{Subject, Task};
use crate::playbook::Playbook;
use crate::rules::{Condition, Local, RuleKind, Test, function_line, function_source};
use crate::store::Store;

pub mod assignment;

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub at: String,
    /// `event` or a decision kind (`stage_move`, `task_created`, ...).
    pub kind: String,
    pub what: String,
    pub rule: Option<String>,
    pub reason: String,
    pub rules_version: String,
    pub event_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub rule: String,
    /// `key`, `not_key`, `nothing`, or `error`.
    pub says: String,
    pub reason: Option<String>,
    /// The parts of each test the rule went through, in order, each with its values.
    pub conditions: Vec<Condition>,
    /// The tests (`if`s) the rule went through, in order; the last decided when one did.
    pub tests: Vec<Test>,
    /// The rule's `let` values before its deciding test.
    pub lets: Vec<Local>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyNow {
    pub is_key: bool,
    pub would_be_key: bool,
    pub verdicts: Vec<Verdict>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleText {
    pub rule: String,
    pub rules_version: String,
    pub text: String,
    /// Whether the rule reads differently in the version in force now.
    pub changed_since: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub subject: Subject,
    pub summary: String,
    pub timeline: Vec<Entry>,
    pub key_now: Option<KeyNow>,
    pub task: Option<Task>,
    pub rule_text: Option<RuleText>,
    /// For a task: why it went to whom (its creation, then each move).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assignment: Vec<assignment::Step>,
    /// Decisions and stage changes before this time were pruned (`dealflow
    /// prune`): the timeline holds the events from before it, not what the
    /// rules decided then. Absent when nothing was ever pruned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned_before: Option<String>,
}

fn rule_with_line(store: &Store, version: &str, file: &str, function: &str) -> Result<String> {
    let line = store
        .rules_version_files(version)?
        .and_then(|files| files.into_iter().find(|(p, _)| p == file))
        .and_then(|(_, text)| function_line(&text, function));
    Ok(match line {
        Some(l) => format!("{file}:{l} {function}"),
        None => format!("{file} {function}"),
    })
}

/// A timeline entry with its place: time, then order within the time.
type Placed = (String, i64, Entry);

fn timeline(store: &Store, config: &Config, subject: &Subject, first_stage: Option<&str>) -> Result<Vec<Entry>> {
    let mut entries: Vec<Placed> = Vec::new();
    let mut data: std::collections::HashMap<String, serde_json::Value> = std::collections::HashMap::new();
    for e in store.events_about(&subject.kind, &subject.id)? {
        let what = format!("{} ({}:{})", e.kind, e.source, e.line);
        if e.kind == format!("{}.upserted", subject.kind) && e.data["id"].as_str() == Some(&subject.id) {
            data.insert(e.id.clone(), e.data);
        }
        entries.push((
            e.at.clone(),
            e.seq * 2,
            Entry {
                at: e.at,
                kind: "event".into(),
                what,
                rule: None,
                reason: String::new(),
                rules_version: e.rules_version,
                event_id: e.id,
            },
        ));
    }
    let mut details: Vec<(usize, serde_json::Value)> = Vec::new();
    for d in store.decisions(None, Some((&subject.kind, &subject.id)))? {
        let rule = match (d.rule.as_deref(), d.rule.as_deref().and_then(|r| r.split_once("::"))) {
            (_, Some((file, function))) => Some(rule_with_line(store, &d.rules_version, file, function)?),
            (r, None) => r.map(str::to_string),
        };
        // Decisions come after the event that caused them.
        let order = store_order(&d.event_id, &entries);
        details.push((entries.len(), d.detail.clone()));
        entries.push((
            d.at.clone(),
            order,
            Entry {
                at: d.at,
                what: decision_what(config, &d.kind, &d.detail),
                kind: d.kind,
                rule,
                reason: d.reason,
                rules_version: d.rules_version,
                event_id: d.event_id,
            },
        ));
    }
    let about = crate::store::TaskFilter { subject: Some(subject.clone()), ..Default::default() };
    for t in store.tasks(&about)? {
        let (Some(at), true) = (t.closed_at.clone(), t.status.is_closed()) else { continue };
        let what = format!("task {} {}: {}", t.id, t.status, t.title);
        // After whatever else happened at that time (the close of a deal cancels its tasks).
        entries.push((
            at.clone(),
            i64::MAX - 1,
            Entry {
                at,
                kind: format!("task_{}", t.status),
                what,
                rule: None,
                reason: t.outcome.clone().unwrap_or_default(),
                rules_version: String::new(),
                event_id: String::new(),
            },
        ));
    }
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| (&entries[a].0, entries[a].1).cmp(&(&entries[b].0, entries[b].1)));
    let details: std::collections::HashMap<usize, serde_json::Value> = details.into_iter().collect();
    let mut entries: Vec<(Entry, Option<serde_json::Value>)> = {
        let mut slots: Vec<Option<Placed>> = entries.into_iter().map(Some).collect();
        order
            .iter()
            .map(|&i| {
                let (_, _, e) = slots[i].take().expect("each entry once");
                let extra = if e.kind == "event" { data.remove(&e.event_id) } else { details.get(&i).cloned() };
                (e, extra)
            })
            .collect()
    };
    describe_upserts(config, &mut entries, first_stage);
    Ok(entries.into_iter().map(|(e, _)| e).collect())
}

/// A decision in words. A kind this version does not know shows as its
/// name with what its detail says.
fn decision_what(config: &Config, kind: &str, detail: &serde_json::Value) -> String {
    let s = |k: &str| detail[k].as_str().unwrap_or("?").to_string();
    // A person as the team knows them (a name; with the id when the name is shared).
    let person = |k: &str| detail[k].as_str().map(|p| config.person_label(p));
    match kind {
        "stage_move" => {
            let mut what = format!("moved {} → {}", s("from"), s("to"));
            match detail["cancelled_tasks"].as_u64() {
                Some(1) => what.push_str(" (1 open task cancelled)"),
                Some(n) => what.push_str(&format!(" ({n} open tasks cancelled)")),
                None => {}
            }
            what
        }
        "stage_refused" => {
            let reopen = if detail["reopening"] == true { " (a reopen)" } else { "" };
            format!("refused the move {} → {}{reopen}", s("from"), s("requested"))
        }
        "task_created" => format!(
            "task {} for {}: {}",
            detail["task_id"],
            person("assignee").unwrap_or_else(|| s("role")),
            detail["title"].as_str().unwrap_or("")
        ),
        "owner_changed" => match person("from") {
            Some(from) => format!("handed from {from} to {}", person("to").unwrap_or_else(|| s("to"))),
            None => format!("handed to {}", person("to").unwrap_or_else(|| s("to"))),
        },
        "handover_waiting" => {
            format!("waits for {}", crate::assign::a_role(detail["role"].as_str().unwrap_or("?")))
        }
        "became_key" => "became a key account".into(),
        "lost_key" => "lost key-account status".into(),
        other => {
            let mut name = other.replace(['_', '.'], " ");
            let Some(map) = detail.as_object() else { return name };
            let text = |k: &str| map.get(k).and_then(|v| v.as_str());
            let moved = match (text("from"), text("to")) {
                (Some(from), Some(to)) => {
                    name = format!("{name}: {from} → {to}");
                    true
                }
                _ => false,
            };
            let said: Vec<String> = map
                .iter()
                .filter(|(k, v)| {
                    !(moved && (*k == "from" || *k == "to")) && !v.is_object() && !v.is_array() && !v.is_null()
                })
                .map(|(k, v)| {
                    format!("{} {}", k.replace('_', " "), v.as_str().map_or_else(|| v.to_string(), str::to_string))
                })
                .collect();
            if said.is_empty() { name } else { format!("{name} ({})", said.join(", ")) }
        }
    }
}

/// Say what each upsert of the subject asked for and changed: the fields
/// whose values changed (its owner, its amount), the stage it asked for and
/// what came of it (moved, already there, refused), and the reasons it gives
/// (a `lost_reason`). `entries` are in time order, each event with its data
/// and each decision with its detail.
fn describe_upserts(config: &Config, entries: &mut [(Entry, Option<serde_json::Value>)], first_stage: Option<&str>) {
    // An owner as the team knows them (events store a person's key: their id when they have one).
    let shown = |k: &str, v: &serde_json::Value| match (k, v.as_str()) {
        ("owner", Some(p)) => format!("{:?}", config.person_label(p)),
        _ => shown(v),
    };
    let mut known: Option<serde_json::Map<String, serde_json::Value>> = None;
    let mut stage = first_stage.map(str::to_string);
    for i in 0..entries.len() {
        if entries[i].0.kind != "event" {
            // A decision that moved the deal says where it is now.
            let (e, detail) = &entries[i];
            if let Some(to) = detail.as_ref().and_then(|d| d["to"].as_str())
                && e.kind != "owner_changed"
                && (e.kind.contains("stage") || e.kind.contains("reopen"))
            {
                stage = Some(to.to_string());
            }
            continue;
        }
        let Some(serde_json::Value::Object(data)) = entries[i].1.clone() else { continue };
        let mut said = Vec::new();
        match &known {
            None => {
                said.push("new".to_string());
                if let Some(owner) = data.get("owner").filter(|o| !o.is_null()) {
                    said.push(format!("owner {}", shown("owner", owner)));
                }
            }
            Some(before) => {
                for (k, v) in &data {
                    if k == "id" || k == "stage" || k.ends_with("reason") || before.get(k) == Some(v) {
                        continue;
                    }
                    match before.get(k) {
                        Some(old) => said.push(format!("{} {} → {}", k.replace('_', " "), shown(k, old), shown(k, v))),
                        None => said.push(format!("{} {}", k.replace('_', " "), shown(k, v))),
                    }
                }
            }
        }
        if let Some(asked) = data.get("stage").and_then(|s| s.as_str()) {
            let event = &entries[i].0.event_id;
            let after = |kind: &str| {
                entries[i + 1..].iter().take_while(|(e, _)| e.kind != "event").any(|(e, d)| {
                    e.event_id == *event
                        && e.kind == kind
                        && d.as_ref().is_some_and(|d| d["to"] == asked || d["requested"] == asked)
                })
            };
            said.push(if known.is_none() && stage.as_deref() == Some(asked) {
                format!("stage {asked}")
            } else if stage.as_deref() == Some(asked) {
                format!("asked for {asked}: it was there already, nothing changed")
            } else if after("stage_refused") {
                format!("asked for {asked}: refused")
            } else if after("stage_move") {
                format!("asked for {asked}")
            } else {
                format!("asked for {asked}: not moved")
            });
        }
        for (k, v) in data.iter().filter(|(k, v)| k.ends_with("reason") && !v.is_null()) {
            said.push(format!("{} {}", k.replace('_', " "), shown(k, v)));
        }
        if said.is_empty() {
            said.push("nothing changed".into());
        }
        let what = &mut entries[i].0.what;
        *what = format!("{what}: {}", said.join("; "));
        match &mut known {
            Some(k) => crate::store::merge(k, &data),
            None => known = Some(data),
        }
    }
}

/// A value of an event's data in a timeline: text as it is, amounts with separators.
fn shown(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("{s:?}"),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() >= 1000.0 => crate::rules::money(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Sort key of a decision: just after its root event when that is in the timeline.
fn store_order(event_id: &str, entries: &[Placed]) -> i64 {
    let root = event_id.split('#').next().unwrap_or(event_id);
    entries.iter().find(|(_, _, e)| e.kind == "event" && e.event_id == root).map(|(_, o, _)| o + 1).unwrap_or(i64::MAX)
}

pub fn deal(store: &Store, playbook: &Playbook, id: &str) -> Result<Explanation> {
    let config = &playbook.config;
    let d = store.deal(id)?.ok_or_else(|| Error::NotFound(format!("no such deal: {id}")))?;
    let name = d.data.get("name").and_then(|v| v.as_str()).unwrap_or(id);
    let summary = format!(
        "deal {id} \"{name}\" of account {}: {} since {}, amount {}, owner {}",
        d.account_id,
        d.stage,
        d.stage_entered_at.get(..10).unwrap_or(&d.stage_entered_at),
        crate::rules::money(d.amount),
        d.owner.as_deref().map_or("nobody".to_string(), |o| config.person_label(o))
    );
    let subject = Subject::new("deal", id);
    Ok(Explanation {
        timeline: timeline(store, config, &subject, Some(config.pipeline.first()))?,
        subject,
        summary,
        key_now: None,
        task: None,
        rule_text: None,
        assignment: Vec::new(),
        pruned_before: store.pruned_before()?,
    })
}

pub fn account(store: &Store, playbook: &Playbook, id: &str) -> Result<Explanation> {
    let a = store.account(id)?.ok_or_else(|| Error::NotFound(format!("no such account: {id}")))?;
    let name = a.data.get("name").and_then(|v| v.as_str()).unwrap_or(id).to_string();
    let engine = Engine::new(&playbook.config, &playbook.rules, store);
    let at = store
        .latest_event_at()?
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.to_utc())
        .unwrap_or_else(chrono::Utc::now);
    let facts = engine.account_facts(id, at)?.ok_or_else(|| Error::NotFound(format!("no such account: {id}")))?;
    let mut verdicts = Vec::new();
    let (mut yes, mut veto) = (false, false);
    for rule in playbook.rules.rules(RuleKind::Key) {
        let (says, reason) = match playbook.rules.call(rule, &facts) {
            None => ("nothing".to_string(), None),
            Some(Err(e)) => ("error".to_string(), Some(e.at.to_string())),
            Some(Ok(v)) => match crate::engine::key_outcome(&v) {
                Ok(Some((true, r))) => ("key".to_string(), Some(r)),
                Ok(Some((false, r))) => ("not_key".to_string(), Some(r)),
                Ok(None) => ("nothing".to_string(), None),
                Err(e) => ("error".to_string(), Some(e)),
            },
        };
        yes |= says == "key";
        veto |= says == "not_key";
        let reading = playbook.rules.read(rule, &facts);
        verdicts.push(Verdict {
            rule: format!("{}:{} {}", rule.file, rule.line, rule.name),
            says,
            reason,
            conditions: reading.conditions,
            tests: reading.tests,
            lets: reading.lets,
        });
    }
    let summary = format!(
        "account {id} \"{name}\": {}, owner {}",
        if a.is_key { format!("key since {}", a.key_since.as_deref().unwrap_or("?")) } else { "not key".to_string() },
        a.owner.as_deref().map_or("nobody".to_string(), |o| playbook.config.person_label(o))
    );
    let subject = Subject::new("account", id);
    Ok(Explanation {
        timeline: timeline(store, &playbook.config, &subject, None)?,
        subject,
        summary,
        key_now: Some(KeyNow { is_key: a.is_key, would_be_key: yes && !veto, verdicts }),
        task: None,
        rule_text: None,
        assignment: Vec::new(),
        pruned_before: store.pruned_before()?,
    })
}

pub fn task(store: &Store, playbook: &Playbook, id: i64) -> Result<Explanation> {
    let pruned_before = store.pruned_before()?;
    let t = store.task(id)?.ok_or_else(|| match &pruned_before {
        Some(at) => Error::NotFound(format!("no such task: {id} (finished tasks closed before {at} were pruned)")),
        None => Error::NotFound(format!("no such task: {id}")),
    })?;
    let (file, function) = t.rule.split_once("::").unwrap_or((&t.rule, ""));
    let then = store
        .rules_version_files(&t.rules_version)?
        .and_then(|files| files.into_iter().find(|(p, _)| p == file))
        .and_then(|(_, text)| function_source(&text, function));
    let now =
        playbook.rules.files.iter().find(|(p, _)| p == file).and_then(|(_, text)| function_source(text, function));
    let rule_text = then.map(|text| RuleText {
        rule: t.rule.clone(),
        rules_version: t.rules_version.clone(),
        changed_since: now.as_deref() != Some(text.as_str()),
        text,
    });
    let summary = format!(
        "task {id} ({}, {}) for {}: {} — about {}, due {}",
        t.status,
        t.priority,
        t.assignee.as_deref().map_or(t.role.clone(), |a| playbook.config.person_label(a)),
        t.title,
        t.subject,
        t.due_at
    );
    let subject = Subject::new("task", &id.to_string());
    let first = (t.subject.kind == "deal").then(|| playbook.config.pipeline.first());
    let mut timeline = timeline(store, &playbook.config, &t.subject, first)?;
    let other_task = |e: &Entry| {
        matches!(e.kind.as_str(), "task_created" | "task_cancelled" | "task_done")
            && !e.what.starts_with(&format!("task {id} "))
    };
    timeline.retain(|e| !other_task(e));
    let assignment = assignment::steps(store, &playbook.config, &t)?;
    Ok(Explanation { subject, summary, timeline, key_now: None, task: Some(t), rule_text, assignment, pruned_before })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::decision_what;
    use crate::config::Config;

    fn config() -> Config {
        Config::parse(std::path::Path::new("."), include_str!("../config.toml")).unwrap()
    }

    #[test]
    fn a_decision_of_a_kind_this_version_does_not_know_shows_what_its_detail_says() {
        let reopened = decision_what(&config(), "deal_reopened", &json!({"from": "lost", "to": "lead", "life": 2}));
        assert_eq!(reopened, "deal reopened: lost → lead (life 2)");
        assert_eq!(
            decision_what(&config(), "account.merged", &json!({"into": "A-2", "n": 3})),
            "account merged (into A-2, n 3)"
        );
        assert_eq!(decision_what(&config(), "something_else", &json!(null)), "something else");
        assert_eq!(
            decision_what(&config(), "stage_refused", &json!({"from": "lost", "requested": "lead", "reopening": true})),
            "refused the move lost → lead (a reopen)"
        );
    }
}
