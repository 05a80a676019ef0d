//! The notification queue (`notifications`, V6): enqueue once per target
//! and key; a claim is one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
//! LOCKED) RETURNING …` that moves the rows' `next_attempt_at` past the
//! send, so two senders (a leader and a process taking over from it) never
//! take the same row and never wait on each other's.

use postgres::Row;

use super::Postgres;
use crate::error::Result;
use crate::store::backend::DecisionRow;
use crate::store::outbox::{
    Attempt, Marks, NewNotification, Notification, NotificationCounts, NotificationFilter, NotificationState,
    RejectedSince,
};

const COLUMNS: &str = "id, target, kind, key, subject, person, payload, created_at, attempts, next_attempt_at, \
                       sent_at, last_error, given_up_at";

fn notification_row(r: &Row) -> std::result::Result<Notification, postgres::Error> {
    Ok(Notification {
        id: r.try_get(0)?,
        target: r.try_get(1)?,
        kind: r.try_get(2)?,
        key: r.try_get(3)?,
        subject: r.try_get(4)?,
        person: r.try_get(5)?,
        payload: r.try_get(6)?,
        created_at: r.try_get(7)?,
        attempts: r.try_get(8)?,
        next_attempt_at: r.try_get(9)?,
        sent_at: r.try_get(10)?,
        last_error: r.try_get(11)?,
        given_up_at: r.try_get(12)?,
    })
}

fn state_sql(state: Option<NotificationState>) -> &'static str {
    match state {
        None => "TRUE",
        Some(NotificationState::Sent) => "sent_at IS NOT NULL",
        Some(NotificationState::Failed) => "sent_at IS NULL AND given_up_at IS NOT NULL",
        Some(NotificationState::Pending) => "sent_at IS NULL AND given_up_at IS NULL",
    }
}

impl Postgres {
    pub fn notify_marks(&self) -> Result<Marks> {
        self.write_pending()?;
        let marks = self.one(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM tasks)::BIGINT, (SELECT COALESCE(MAX(seq), 0) FROM decisions)::BIGINT,
                    (SELECT COALESCE(MAX(seq), 0) FROM rejected_events)::BIGINT",
            &[],
            |r| Ok(Marks { task: r.try_get(0)?, decision: r.try_get(1)?, rejected: r.try_get(2)? }),
        )?;
        Ok(marks.unwrap_or_default())
    }

    pub fn decisions_after(&self, after: i64, kind: &str, limit: usize) -> Result<Vec<DecisionRow>> {
        self.write_pending()?;
        self.all(
            "SELECT seq, kind, subject_kind, subject_id, rule_file, rule_fn, reason, detail, rules_version, event_id, at
             FROM decisions WHERE seq > $1 AND kind = $2 ORDER BY seq LIMIT $3",
            &[&after, &kind, &(limit as i64)],
            super::log::decision_row,
        )
    }

    pub fn rejected_after(&self, after: i64, limit: usize) -> Result<Vec<RejectedSince>> {
        self.all(
            "SELECT seq, source, line, reason FROM rejected_events WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&after, &(limit as i64)],
            |r| {
                Ok(RejectedSince {
                    seq: r.try_get(0)?,
                    source: r.try_get(1)?,
                    line: r.try_get(2)?,
                    reason: r.try_get(3)?,
                })
            },
        )
    }

    pub fn enqueue_notification(&self, n: &NewNotification) -> Result<bool> {
        let added = self.exec(
            "INSERT INTO notifications (target, kind, key, subject, person, payload, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (target, key) DO NOTHING",
            &[&n.target, &n.kind, &n.key, &n.subject, &n.person, &n.payload, &n.created_at],
        )?;
        Ok(added == 1)
    }

    pub fn claim_notifications(&self, now: &str, until: &str, limit: usize) -> Result<Vec<Notification>> {
        let mut claimed = self.all(
            &format!(
                "UPDATE notifications SET next_attempt_at = $2
                 WHERE id IN (SELECT id FROM notifications
                              WHERE sent_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= $1
                              ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
                 RETURNING {COLUMNS}"
            ),
            &[&now, &until, &(limit as i64)],
            notification_row,
        )?;
        claimed.sort_by_key(|n| n.id);
        Ok(claimed)
    }

    pub fn finish_notification(&self, id: i64, attempt: &Attempt) -> Result<()> {
        match attempt {
            Attempt::Sent { at } => {
                self.exec("UPDATE notifications SET sent_at = $2, last_error = NULL WHERE id = $1", &[&id, at])?
            }
            Attempt::Failed { error, next } => self.exec(
                "UPDATE notifications SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1",
                &[&id, error, next],
            )?,
            Attempt::GiveUp { error, at } => self.exec(
                "UPDATE notifications SET attempts = attempts + 1, last_error = $2, given_up_at = $3 WHERE id = $1",
                &[&id, error, at],
            )?,
            Attempt::Postponed { next } => {
                self.exec("UPDATE notifications SET next_attempt_at = $2 WHERE id = $1", &[&id, next])?
            }
        };
        Ok(())
    }

    pub fn notifications(&self, filter: &NotificationFilter, limit: usize) -> Result<Vec<Notification>> {
        self.all(
            &format!(
                "SELECT {COLUMNS} FROM notifications WHERE ($1::TEXT IS NULL OR target = $1) AND {}
                 ORDER BY id DESC LIMIT $2",
                state_sql(filter.state)
            ),
            &[&filter.target, &(limit as i64)],
            notification_row,
        )
    }

    pub fn notification_counts(&self) -> Result<NotificationCounts> {
        let counts = self.one(
            "SELECT COUNT(sent_at), COUNT(*) FILTER (WHERE sent_at IS NULL AND given_up_at IS NULL),
                    COUNT(*) FILTER (WHERE sent_at IS NULL AND given_up_at IS NOT NULL)
             FROM notifications",
            &[],
            |r| Ok(NotificationCounts { sent: r.try_get(0)?, pending: r.try_get(1)?, failed: r.try_get(2)? }),
        )?;
        Ok(counts.unwrap_or_default())
    }
}
