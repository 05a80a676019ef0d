//! What a replay went through that its end does not show: each deal's
//! stages in order, with the moves refused on the way, and each account's
//! key changes. The replay's store keeps no decisions (memory matters on a
//! million events), so a [`Noter`] on it notes these few things as they are
//! decided, compactly: every name (deal, account, stage, rule, reason) is
//! held once and referred to by number, every time as seconds. A note is
//! undone with the unit of work that made it (see [`Recorder`]).

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{Decision, DecisionKind, StageChange};
use crate::store::memory::Recorder;

/// A replay's trail: see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trail {
    /// What the numbers below refer to.
    names: Vec<String>,
    /// Each deal's steps, in the order taken; deals by id.
    deals: Vec<(u32, Vec<Step>)>,
    /// Each account's key changes, in order; accounts by id.
    accounts: Vec<(u32, Vec<KeyStep>)>,
}

/// A stage a deal entered (at creation or by a move), or a move to it refused.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Step {
    #[serde(rename = "s")]
    stage: u32,
    /// Business time, in seconds since 1970.
    #[serde(rename = "t")]
    at: i64,
    /// `(rule, reason)` of a refused move.
    #[serde(rename = "r")]
    refused: Option<(u32, u32)>,
}

/// An account becoming key (`key`) or losing it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct KeyStep {
    #[serde(rename = "k")]
    key: bool,
    #[serde(rename = "t")]
    at: i64,
    /// The rule that decided; for a loss no rule decided (none holds any
    /// more), the rule that had made the account key.
    #[serde(rename = "r")]
    rule: Option<u32>,
    #[serde(rename = "w")]
    reason: u32,
}

/// Notes a replay's trail (see the module documentation).
#[derive(Default)]
pub struct Noter {
    names: Vec<Arc<str>>,
    index: HashMap<Arc<str>, u32>,
    deals: HashMap<u32, Vec<Step>>,
    accounts: HashMap<u32, Vec<KeyStep>>,
}

impl Noter {
    fn name(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = u32::try_from(self.names.len()).expect("fewer than 4 billion names");
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.index.insert(name, i);
        i
    }

    fn deal_step(&mut self, deal: &str, step: Step) -> Option<u64> {
        let deal = self.name(deal);
        self.deals.entry(deal).or_default().push(step);
        Some(u64::from(deal) << 1)
    }

    /// The trail noted, deals and accounts in the order of their ids.
    pub fn finish(self) -> Trail {
        drop(self.index);
        let names: Vec<String> = self.names.into_iter().map(|n| n.to_string()).collect();
        let mut deals: Vec<_> = self.deals.into_iter().filter(|(_, steps)| !steps.is_empty()).collect();
        deals.sort_by(|a, b| names[a.0 as usize].cmp(&names[b.0 as usize]));
        let mut accounts: Vec<_> = self.accounts.into_iter().filter(|(_, steps)| !steps.is_empty()).collect();
        accounts.sort_by(|a, b| names[a.0 as usize].cmp(&names[b.0 as usize]));
        Trail { names, deals, accounts }
    }
}

/// Business time as seconds (a stamp the engine wrote; anything else is the start of time).
fn seconds(at: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(at).map(|t| t.timestamp()).unwrap_or(i64::MIN)
}

fn stamp(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map(crate::time::stamp).unwrap_or_default()
}

impl Recorder for Noter {
    fn decision(&mut self, d: &Decision) -> Option<u64> {
        match d.kind {
            DecisionKind::StageRefused => {
                let requested = d.detail.get("requested").and_then(|v| v.as_str()).unwrap_or_default();
                let stage = self.name(requested);
                let rule = self.name(&d.rule.as_ref().map(ToString::to_string).unwrap_or_default());
                let reason = self.name(&d.reason);
                self.deal_step(&d.subject.id, Step { stage, at: seconds(&d.at), refused: Some((rule, reason)) })
            }
            DecisionKind::BecameKey | DecisionKind::LostKey => {
                let key = d.kind == DecisionKind::BecameKey;
                let account = self.name(&d.subject.id);
                let rule = match &d.rule {
                    Some(rule) => Some(self.name(&rule.to_string())),
                    None => self
                        .accounts
                        .get(&account)
                        .and_then(|steps| steps.iter().rev().find(|s| s.key))
                        .and_then(|s| s.rule),
                };
                let reason = self.name(&d.reason);
                self.accounts.entry(account).or_default().push(KeyStep { key, at: seconds(&d.at), rule, reason });
                Some(u64::from(account) << 1 | 1)
            }
            _ => None,
        }
    }

    fn stage_change(&mut self, c: &StageChange) -> Option<u64> {
        let stage = self.name(c.to);
        self.deal_step(c.deal_id, Step { stage, at: seconds(c.at), refused: None })
    }

    fn undo(&mut self, token: u64) {
        let id = u32::try_from(token >> 1).unwrap_or(u32::MAX);
        if token & 1 == 0 {
            self.deals.get_mut(&id).and_then(Vec::pop);
        } else {
            self.accounts.get_mut(&id).and_then(Vec::pop);
        }
    }
}

/// A move refused: of a deal, to the stage asked for, by a rule, why, when.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Refusal {
    pub deal: String,
    pub requested: String,
    pub rule: String,
    pub reason: String,
    pub at: String,
}

/// A step of a deal's path: a stage entered, or a move to it refused (`refused_by` the rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathStep {
    pub stage: String,
    pub at: String,
    pub refused_by: Option<String>,
}

/// An account becoming key or losing it: when, by which rule (for a loss no
/// rule decided, the rule that had made it key), why.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct KeyChange {
    pub account: String,
    /// `became_key` or `lost_key`.
    pub change: &'static str,
    pub rule: Option<String>,
    pub reason: String,
    pub at: String,
}

impl Trail {
    fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map(String::as_str).unwrap_or_default()
    }

    /// Each deal's steps from `since` on (seconds), by deal id.
    pub fn paths(&self, since: i64) -> impl Iterator<Item = (&str, Vec<PathStep>)> {
        self.deals.iter().map(move |(deal, steps)| {
            let steps = steps
                .iter()
                .filter(|s| s.at >= since)
                .map(|s| PathStep {
                    stage: self.name(s.stage).to_string(),
                    at: stamp(s.at),
                    refused_by: s.refused.map(|(rule, _)| self.name(rule).to_string()),
                })
                .collect();
            (self.name(*deal), steps)
        })
    }

    /// Every move refused from `since` on, deal by deal, each deal's in order.
    pub fn refusals(&self, since: i64) -> Vec<Refusal> {
        let mut found = Vec::new();
        for (deal, steps) in &self.deals {
            for s in steps.iter().filter(|s| s.at >= since) {
                if let Some((rule, reason)) = s.refused {
                    found.push(Refusal {
                        deal: self.name(*deal).to_string(),
                        requested: self.name(s.stage).to_string(),
                        rule: self.name(rule).to_string(),
                        reason: self.name(reason).to_string(),
                        at: stamp(s.at),
                    });
                }
            }
        }
        found
    }

    /// Every key change from `since` on, account by account, each account's in order.
    pub fn key_changes(&self, since: i64) -> Vec<KeyChange> {
        let mut found = Vec::new();
        for (account, steps) in &self.accounts {
            for s in steps.iter().filter(|s| s.at >= since) {
                found.push(KeyChange {
                    account: self.name(*account).to_string(),
                    change: if s.key { "became_key" } else { "lost_key" },
                    rule: s.rule.map(|r| self.name(r).to_string()),
                    reason: self.name(s.reason).to_string(),
                    at: stamp(s.at),
                });
            }
        }
        found
    }
}

/// `since` (a stamp) in seconds; no `since`: the start of time.
pub fn since_seconds(since: Option<&str>) -> i64 {
    since.and_then(crate::time::parse_time).map(|t| t.timestamp()).unwrap_or(i64::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RuleRef, Subject};

    fn decision(kind: DecisionKind, id: &str, rule: Option<&str>, at: &str) -> Decision {
        Decision {
            kind,
            subject: Subject::new(if kind == DecisionKind::StageRefused { "deal" } else { "account" }, id),
            rule: rule.map(|f| RuleRef { file: "r.rhai".into(), function: f.into() }),
            reason: "why".into(),
            detail: serde_json::json!({"from": "lead", "requested": "negotiation"}),
            event_id: "e".into(),
            at: at.into(),
        }
    }

    fn change<'a>(deal: &'a str, to: &'a str, at: &'a str) -> StageChange<'a> {
        StageChange { deal_id: deal, from: None, to, at, event_id: "e", rule: None, reason: "r" }
    }

    #[test]
    fn notes_paths_refusals_and_key_changes_and_undoes_the_last_note_of_what_a_token_names() {
        let mut n = Noter::default();
        n.stage_change(&change("D-2", "lead", "2026-01-01T00:00:00Z")).unwrap();
        let d1 = n.stage_change(&change("D-1", "lead", "2026-01-01T00:00:00Z")).unwrap();
        n.decision(&decision(DecisionKind::StageRefused, "D-1", Some("gate"), "2026-01-02T00:00:00Z")).unwrap();
        n.decision(&decision(DecisionKind::BecameKey, "A-1", Some("by_revenue"), "2026-01-03T00:00:00Z")).unwrap();
        n.decision(&decision(DecisionKind::LostKey, "A-1", None, "2026-01-04T00:00:00Z")).unwrap();
        assert!(n.decision(&decision(DecisionKind::TaskCreated, "A-1", None, "2026-01-04T00:00:00Z")).is_none());
        let moved = n.stage_change(&change("D-1", "qualified", "2026-01-05T00:00:00Z")).unwrap();
        assert_eq!(moved, d1, "a token names the deal");
        n.undo(moved);
        let t = n.finish();
        let paths: Vec<(String, Vec<String>)> = t
            .paths(i64::MIN)
            .map(|(d, s)| {
                (
                    d.to_string(),
                    s.iter().map(|s| format!("{}{}", s.stage, if s.refused_by.is_some() { "!" } else { "" })).collect(),
                )
            })
            .collect();
        assert_eq!(
            paths,
            [("D-1".into(), vec!["lead".into(), "negotiation!".into()]), ("D-2".into(), vec!["lead".into()])]
        );
        let refusals = t.refusals(since_seconds(Some("2026-01-02T00:00:00Z")));
        assert_eq!(
            refusals,
            [Refusal {
                deal: "D-1".into(),
                requested: "negotiation".into(),
                rule: "r.rhai::gate".into(),
                reason: "why".into(),
                at: "2026-01-02T00:00:00Z".into()
            }]
        );
        assert!(t.refusals(since_seconds(Some("2026-01-03"))).is_empty());
        let keys = t.key_changes(i64::MIN);
        assert_eq!(keys.len(), 2);
        assert_eq!((keys[1].change, keys[1].rule.as_deref()), ("lost_key", Some("r.rhai::by_revenue")));
        // A loss undone: the account's became-key stays.
        let mut n = Noter::default();
        n.decision(&decision(DecisionKind::BecameKey, "A-1", Some("by_revenue"), "2026-01-03T00:00:00Z")).unwrap();
        let lost = n.decision(&decision(DecisionKind::LostKey, "A-1", None, "2026-01-04T00:00:00Z")).unwrap();
        n.undo(lost);
        let keys = n.finish().key_changes(i64::MIN);
        assert_eq!(keys.iter().map(|k| k.change).collect::<Vec<_>>(), ["became_key"]);
    }
}
