//! The notification queue's rows, as they cross the storage interface
//! ([`super::Backend`]): what the notifier enqueues, claims and marks.
//!
//! One row per message to one target. `(target, key)` is unique: the same
//! thing said twice to a target is one row, whoever enqueued it. Times are
//! the wall clock's, written with milliseconds and a `Z`
//! ([`crate::notify::clock_stamp`]): fixed width, so they compare as text.

use serde::Serialize;

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// The `[notify.NAME]` target it goes to.
    pub target: String,
    /// `task`, `escalation`, `rule_quarantined` or `file_failed`.
    pub kind: String,
    /// What it is about, once per target (`task:42`, `rule:V:NAME:SEQ`, `file:SOURCE:SEQ`).
    pub key: String,
    /// What it is about, for the page: a task id, a rule name, a file.
    pub subject: String,
    /// The person it names, if any (a task's assignee).
    pub person: Option<String>,
    /// The JSON body to send, as text.
    pub payload: String,
    pub created_at: String,
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub id: i64,
    pub target: String,
    pub kind: String,
    pub key: String,
    pub subject: String,
    pub person: Option<String>,
    /// The JSON body sent (or to send), as text.
    pub payload: String,
    pub created_at: String,
    /// Failed attempts so far.
    pub attempts: i64,
    /// When it is (next) due to be sent; while a sender holds it, when its claim runs out.
    pub next_attempt_at: String,
    pub sent_at: Option<String>,
    pub last_error: Option<String>,
    /// When the notifier stopped trying (too many attempts, too old, its target gone).
    pub given_up_at: Option<String>,
}

impl Notification {
    /// `sent`, `failed` (given up) or `pending`.
    pub fn state(&self) -> NotificationState {
        if self.sent_at.is_some() {
            NotificationState::Sent
        } else if self.given_up_at.is_some() {
            NotificationState::Failed
        } else {
            NotificationState::Pending
        }
    }
}

/// Where a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationState {
    Pending,
    Sent,
    Failed,
}

/// Which notifications to list ([`super::Backend::notifications`]).
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    pub target: Option<String>,
    pub state: Option<NotificationState>,
}

/// How many notifications are in each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct NotificationCounts {
    pub sent: i64,
    pub pending: i64,
    pub failed: i64,
}

/// How an attempt ended ([`super::Backend::finish_notification`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The target answered 2xx at `at`.
    Sent { at: String },
    /// It failed: one attempt more, tried again at `next`.
    Failed { error: String, next: String },
    /// It failed and is not tried again.
    GiveUp { error: String, at: String },
    /// Not tried (its target failed just before): due again at `next`, no attempt counted.
    Postponed { next: String },
}

/// How far the notifier has looked: the highest task id, decision and
/// rejected line it has seen ([`super::Backend::notify_marks`] gives the store's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct Marks {
    pub task: i64,
    pub decision: i64,
    pub rejected: i64,
}

/// A rejected line, with its place in the log of rejected lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedSince {
    pub seq: i64,
    pub source: String,
    pub line: i64,
    pub reason: String,
}
