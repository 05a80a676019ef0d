//! The domain types that flow between the engine and the store.

use serde::Serialize;
use serde_json::{Map, Value};

/// What a task or decision is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Subject {
    pub kind: String,
    pub id: String,
}

impl Subject {
    pub fn new(kind: &str, id: &str) -> Self {
        Subject { kind: kind.to_string(), id: id.to_string() }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.id)
    }
}

/// Task priority; higher is more urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low = 1,
    Normal = 2,
    High = 3,
    Urgent = 4,
}

impl Priority {
    pub const NAMES: [&'static str; 4] = ["low", "normal", "high", "urgent"];

    pub fn parse(s: &str) -> Option<Priority> {
        match s {
            "low" => Some(Priority::Low),
            "normal" => Some(Priority::Normal),
            "high" => Some(Priority::High),
            "urgent" => Some(Priority::Urgent),
            _ => None,
        }
    }
    pub fn from_rank(n: i64) -> Priority {
        match n {
            ..=1 => Priority::Low,
            2 => Priority::Normal,
            3 => Priority::High,
            _ => Priority::Urgent,
        }
    }
    pub fn name(self) -> &'static str {
        Priority::NAMES[self as usize - 1]
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub const TASK_STATUSES: [&str; 4] = ["open", "claimed", "done", "cancelled"];

/// Which rule made a decision: its file and function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    pub file: String,
    pub function: String,
}

impl std::fmt::Display for RuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}::{}", self.file, self.function)
    }
}

/// A task a rule asks for, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub role: String,
    pub assignee: Option<String>,
    pub title: String,
    pub priority: Priority,
    pub due_at: String,
    pub subject: Subject,
    pub rule: RuleRef,
    pub reason: String,
    /// Unique per follow-up: the same key never creates a second task.
    pub dedup_key: String,
}

/// A stored task, as `tasks --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: i64,
    pub role: String,
    pub assignee: Option<String>,
    pub title: String,
    pub status: crate::store::TaskStatus,
    pub priority: Priority,
    pub due_at: String,
    pub subject: Subject,
    pub rule: String,
    pub reason: String,
    pub rules_version: String,
    pub created_at: String,
    pub event_id: String,
    pub dedup_key: String,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<String>,
    pub closed_at: Option<String>,
    pub outcome: Option<String>,
    /// Who last held the task when their claim ran out (`[tasks] lease_minutes`), and when it went back.
    pub released_from: Option<String>,
    pub released_at: Option<String>,
}

/// The kinds of decision the log keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    StageMove,
    StageRefused,
    /// A closed deal taken back to an open stage: it starts a new life.
    DealReopened,
    BecameKey,
    LostKey,
    OwnerChanged,
    TaskCreated,
    RuleError,
    ChainLimit,
    TaskRerouted,
    RuleQuarantined,
    /// A hand-over to a role nobody active has: the account waits for one.
    HandoverWaiting,
}

impl DecisionKind {
    pub fn name(self) -> &'static str {
        match self {
            DecisionKind::StageMove => "stage_move",
            DecisionKind::StageRefused => "stage_refused",
            DecisionKind::DealReopened => "deal_reopened",
            DecisionKind::BecameKey => "became_key",
            DecisionKind::LostKey => "lost_key",
            DecisionKind::OwnerChanged => "owner_changed",
            DecisionKind::TaskCreated => "task_created",
            DecisionKind::RuleError => "rule_error",
            DecisionKind::ChainLimit => "chain_limit",
            DecisionKind::TaskRerouted => "task_rerouted",
            DecisionKind::RuleQuarantined => "rule_quarantined",
            DecisionKind::HandoverWaiting => "handover_waiting",
        }
    }
}

/// One entry of the decisions log.
#[derive(Debug, Clone)]
pub struct Decision {
    pub kind: DecisionKind,
    pub subject: Subject,
    pub rule: Option<RuleRef>,
    pub reason: String,
    /// Kind-specific details (from/to stage, task id, error location).
    pub detail: Value,
    pub event_id: String,
    pub at: String,
}

/// A row of a deal's stage history.
#[derive(Debug, Clone)]
pub struct StageChange<'a> {
    pub deal_id: &'a str,
    pub from: Option<&'a str>,
    pub to: &'a str,
    pub at: &'a str,
    pub event_id: &'a str,
    pub rule: Option<&'a str>,
    pub reason: &'a str,
}

/// An entity row: its id, the merged JSON of everything events said about
/// it (unknown fields included), and the columns the engine keeps itself.
#[derive(Debug, Clone, Default)]
pub struct Account {
    pub id: String,
    pub data: Map<String, Value>,
    pub owner: Option<String>,
    pub parent_id: Option<String>,
    pub is_key: bool,
    pub key_since: Option<String>,
    pub key_reason: Option<String>,
    pub last_contact: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct Deal {
    pub id: String,
    pub account_id: String,
    pub data: Map<String, Value>,
    pub stage: String,
    pub stage_entered_at: String,
    pub owner: Option<String>,
    pub amount: f64,
    pub closed_at: Option<String>,
    pub created_at: String,
    /// Which life of the deal this is: 1 from its creation, one more each
    /// time it is reopened (taken from a closed stage back to an open one).
    pub life: i64,
    /// When the deal's current life began (the business time of its reopen);
    /// `None` in its first life. Its activity facts count from then.
    pub life_started_at: Option<String>,
}

impl Default for Deal {
    fn default() -> Self {
        Deal {
            id: String::new(),
            account_id: String::new(),
            data: Map::new(),
            stage: String::new(),
            stage_entered_at: String::new(),
            owner: None,
            amount: 0.0,
            closed_at: None,
            created_at: String::new(),
            life: 1,
            life_started_at: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Lead {
    pub id: String,
    pub data: Map<String, Value>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    pub id: String,
    pub start: String,
    pub end: String,
    pub annual_value: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Target {
    pub product: String,
    pub period: String,
    pub amount: f64,
}

/// What the store knows about an account beyond its row, for rules to read.
#[derive(Debug, Clone, Default)]
pub struct AccountStats {
    pub revenue_12m: f64,
    pub orders_12m: i64,
    pub open_deals: i64,
    pub open_pipeline: f64,
    pub won_deals: i64,
    /// Contacts per decision role.
    pub contacts: Vec<(String, i64)>,
    pub contracts: Vec<Contract>,
    pub targets: Vec<Target>,
    pub parent_is_key: bool,
}

/// What the store knows about a deal beyond its row.
#[derive(Debug, Clone, Default)]
pub struct DealStats {
    /// Activities on this deal per kind.
    pub activities: Vec<(String, i64)>,
    /// Whether an activity on this deal involved a buyer, technical or executive contact.
    pub decision_maker_met: bool,
    pub last_activity: Option<String>,
}
