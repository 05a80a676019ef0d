//! The notification queue (`notifications`, V14): enqueue once per target
//! and key, claim what is due, record how each attempt ended.

use rusqlite::params;

use super::{SqlContext, Sqlite};
use crate::error::Result;
use crate::store::outbox::{
    Attempt, Marks, NewNotification, Notification, NotificationCounts, NotificationFilter, NotificationState,
};

const COLUMNS: &str = "id, target, kind, key, subject, person, payload, created_at, attempts, next_attempt_at, \
                       sent_at, last_error, given_up_at";

fn notification_row(r: &rusqlite::Row) -> rusqlite::Result<Notification> {
    Ok(Notification {
        id: r.get(0)?,
        target: r.get(1)?,
        kind: r.get(2)?,
        key: r.get(3)?,
        subject: r.get(4)?,
        person: r.get(5)?,
        payload: r.get(6)?,
        created_at: r.get(7)?,
        attempts: r.get(8)?,
        next_attempt_at: r.get(9)?,
        sent_at: r.get(10)?,
        last_error: r.get(11)?,
        given_up_at: r.get(12)?,
    })
}

/// The SQL condition of a state.
fn state_sql(state: Option<NotificationState>) -> &'static str {
    match state {
        None => "1",
        Some(NotificationState::Sent) => "sent_at IS NOT NULL",
        Some(NotificationState::Failed) => "sent_at IS NULL AND given_up_at IS NOT NULL",
        Some(NotificationState::Pending) => "sent_at IS NULL AND given_up_at IS NULL",
    }
}

impl Sqlite {
    pub fn notify_marks(&self) -> Result<Marks> {
        self.write_pending()?;
        let marks = self.one(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM tasks), (SELECT COALESCE(MAX(seq), 0) FROM decisions),
                    (SELECT COALESCE(MAX(seq), 0) FROM rejected_events)",
            [],
            |r| Ok(Marks { task: r.get(0)?, decision: r.get(1)?, rejected: r.get(2)? }),
        )?;
        Ok(marks.unwrap_or_default())
    }

    pub fn enqueue_notification(&self, n: &NewNotification) -> Result<bool> {
        let added = self
            .conn
            .prepare_cached(
                "INSERT INTO notifications (target, kind, key, subject, person, payload, created_at, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (target, key) DO NOTHING",
            )
            .ctx(self)?
            .execute(params![n.target, n.kind, n.key, n.subject, n.person, n.payload, n.created_at])
            .ctx(self)?;
        Ok(added == 1)
    }

    /// One statement, so one transaction of its own outside a unit: two
    /// senders never take the same row (SQLite runs one writer at a time).
    pub fn claim_notifications(&self, now: &str, until: &str, limit: usize) -> Result<Vec<Notification>> {
        let mut claimed = self.all(
            &format!(
                "UPDATE notifications SET next_attempt_at = ?2
                 WHERE id IN (SELECT id FROM notifications INDEXED BY notifications_due
                              WHERE sent_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= ?1
                              ORDER BY next_attempt_at, id LIMIT ?3)
                 RETURNING {COLUMNS}"
            ),
            params![now, until, limit as i64],
            notification_row,
        )?;
        // RETURNING gives no order.
        claimed.sort_by_key(|n| n.id);
        Ok(claimed)
    }

    pub fn finish_notification(&self, id: i64, attempt: &Attempt) -> Result<()> {
        let (sql, p): (&str, Vec<&dyn rusqlite::ToSql>) = match attempt {
            Attempt::Sent { at } => {
                ("UPDATE notifications SET sent_at = ?2, last_error = NULL WHERE id = ?1", vec![&id, at])
            }
            Attempt::Failed { error, next } => (
                "UPDATE notifications SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
                vec![&id, error, next],
            ),
            Attempt::GiveUp { error, at } => (
                "UPDATE notifications SET attempts = attempts + 1, last_error = ?2, given_up_at = ?3 WHERE id = ?1",
                vec![&id, error, at],
            ),
            Attempt::Postponed { next } => {
                ("UPDATE notifications SET next_attempt_at = ?2 WHERE id = ?1", vec![&id, next])
            }
        };
        self.conn.prepare_cached(sql).ctx(self)?.execute(p.as_slice()).ctx(self)?;
        Ok(())
    }

    pub fn notifications(&self, filter: &NotificationFilter, limit: usize) -> Result<Vec<Notification>> {
        self.all(
            &format!(
                "SELECT {COLUMNS} FROM notifications WHERE (?1 IS NULL OR target = ?1) AND {}
                 ORDER BY id DESC LIMIT ?2",
                state_sql(filter.state)
            ),
            params![filter.target, limit as i64],
            notification_row,
        )
    }

    pub fn notification_counts(&self) -> Result<NotificationCounts> {
        let counts = self.one(
            "SELECT COUNT(sent_at), COUNT(*) FILTER (WHERE sent_at IS NULL AND given_up_at IS NULL),
                    COUNT(*) FILTER (WHERE sent_at IS NULL AND given_up_at IS NOT NULL)
             FROM notifications",
            [],
            |r| Ok(NotificationCounts { sent: r.get(0)?, pending: r.get(1)?, failed: r.get(2)? }),
        )?;
        Ok(counts.unwrap_or_default())
    }
}
