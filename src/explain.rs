//! `explain`: why the engine did what it did. A timeline of the events and
//! decisions about a deal, an account or a task, each decision with its rule
//! (file, function, line in the version that made it), reason, rules version
//! and event; for an account, why it is or is not key now, rule by rule and
//! condition by condition; for a task, the rule's text as it was when it fired.

use serde::Serialize;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::{Subject, Task};
use crate::playbook::Playbook;
use crate::rules::{Condition, RuleKind, function_line, function_source};
use crate::store::Store;

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
    pub conditions: Vec<Condition>,
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

fn timeline(store: &Store, config: &Config, subject: &Subject) -> Result<Vec<Entry>> {
    let person = |v: &serde_json::Value| v.as_str().map(|p| config.person_label(p));
    let mut entries: Vec<(String, i64, Entry)> = Vec::new();
    for e in store.events_about(&subject.kind, &subject.id)? {
        let what = format!("{} ({}:{})", e.kind, e.source, e.line);
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
    for d in store.decisions(None, Some((&subject.kind, &subject.id)))? {
        let rule = match (d.rule.as_deref(), d.rule.as_deref().and_then(|r| r.split_once("::"))) {
            (_, Some((file, function))) => Some(rule_with_line(store, &d.rules_version, file, function)?),
            (r, None) => r.map(str::to_string),
        };
        let what = match d.kind.as_str() {
            "stage_move" => format!(
                "moved {} → {}",
                d.detail["from"].as_str().unwrap_or("?"),
                d.detail["to"].as_str().unwrap_or("?")
            ),
            "stage_refused" => format!("refused the move to {}", d.detail["requested"].as_str().unwrap_or("?")),
            "deal_reopened" => format!(
                "reopened from {}: life {} starts in {}",
                d.detail["from"].as_str().unwrap_or("?"),
                d.detail["life"],
                d.detail["to"].as_str().unwrap_or("?")
            ),
            "task_created" => format!(
                "task {} for {}: {}",
                d.detail["task_id"],
                person(&d.detail["assignee"]).as_deref().unwrap_or(d.detail["role"].as_str().unwrap_or("?")),
                d.detail["title"].as_str().unwrap_or("")
            ),
            "owner_changed" => format!("handed to {}", person(&d.detail["to"]).as_deref().unwrap_or("?")),
            "handover_waiting" => {
                format!("waits for {}", crate::assign::a_role(d.detail["role"].as_str().unwrap_or("?")))
            }
            "became_key" => "became a key account".into(),
            "lost_key" => "lost key-account status".into(),
            other => other.replace('_', " "),
        };
        // Decisions come after the event that caused them.
        let order = store_order(&d.event_id, &entries);
        entries.push((
            d.at.clone(),
            order,
            Entry {
                at: d.at,
                kind: d.kind,
                what,
                rule,
                reason: d.reason,
                rules_version: d.rules_version,
                event_id: d.event_id,
            },
        ));
    }
    entries.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    Ok(entries.into_iter().map(|(_, _, e)| e).collect())
}

/// Sort key of a decision: just after its root event when that is in the timeline.
fn store_order(event_id: &str, entries: &[(String, i64, Entry)]) -> i64 {
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
        timeline: timeline(store, config, &subject)?,
        subject,
        summary,
        key_now: None,
        task: None,
        rule_text: None,
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
        verdicts.push(Verdict {
            rule: format!("{}:{} {}", rule.file, rule.line, rule.name),
            says,
            reason,
            conditions: playbook.rules.conditions(rule, &facts),
        });
    }
    let summary = format!(
        "account {id} \"{name}\": {}, owner {}",
        if a.is_key { format!("key since {}", a.key_since.as_deref().unwrap_or("?")) } else { "not key".to_string() },
        a.owner.as_deref().map_or("nobody".to_string(), |o| playbook.config.person_label(o))
    );
    let subject = Subject::new("account", id);
    Ok(Explanation {
        timeline: timeline(store, &playbook.config, &subject)?,
        subject,
        summary,
        key_now: Some(KeyNow { is_key: a.is_key, would_be_key: yes && !veto, verdicts }),
        task: None,
        rule_text: None,
    })
}

pub fn task(store: &Store, playbook: &Playbook, id: i64) -> Result<Explanation> {
    let t = store.task(id)?.ok_or_else(|| Error::NotFound(format!("no such task: {id}")))?;
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
    let mut timeline = timeline(store, &playbook.config, &t.subject)?;
    timeline.retain(|e| e.kind != "task_created" || e.what.starts_with(&format!("task {id} ")));
    Ok(Explanation { subject, summary, timeline, key_now: None, task: Some(t), rule_text })
}
