//! Hand-overs that wait: a rule handed an account to a role nobody active
//! has (`handover("account_manager", ...)` with every account manager away).
//! The account keeps its owner and waits; the hand-over is done as soon as
//! someone of the role is on the team (see `Engine::complete_waiting_handovers`).

use rusqlite::params;

use super::{SqlContext, Sqlite};
use crate::error::Result;
use crate::model::RuleRef;
use crate::store::backend::WaitingHandover;

const COLUMNS: &str = "account_id, role, reason, rule_file, rule_fn, close_open_tasks, since, event_id";

fn row(r: &rusqlite::Row) -> rusqlite::Result<WaitingHandover> {
    Ok(WaitingHandover {
        account_id: r.get(0)?,
        role: r.get(1)?,
        reason: r.get(2)?,
        rule: RuleRef { file: r.get(3)?, function: r.get(4)? },
        close_open_tasks: r.get(5)?,
        since: r.get(6)?,
        event_id: r.get(7)?,
    })
}

impl Sqlite {
    /// Note a hand-over that waits; one asked for again keeps its first time.
    pub fn save_waiting_handover(&self, w: &WaitingHandover) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO waiting_handovers (account_id, role, reason, rule_file, rule_fn, close_open_tasks, since, event_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(account_id) DO UPDATE SET role = ?2, reason = ?3, rule_file = ?4, rule_fn = ?5,
                   close_open_tasks = ?6, since = CASE WHEN role = ?2 THEN since ELSE ?7 END,
                   event_id = CASE WHEN role = ?2 THEN event_id ELSE ?8 END",
            )
            .ctx(self)?
            .execute(params![
                w.account_id,
                w.role,
                w.reason,
                w.rule.file,
                w.rule.function,
                w.close_open_tasks,
                w.since,
                w.event_id
            ])
            .ctx(self)?;
        Ok(())
    }

    /// The account's waiting hand-over is done or withdrawn.
    pub fn drop_waiting_handover(&self, account_id: &str) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM waiting_handovers WHERE account_id = ?1")
            .ctx(self)?
            .execute([account_id])
            .ctx(self)?;
        Ok(())
    }

    /// The open tasks of `role` about `subject` that wait in the role's
    /// queue (nobody assigned) go to `assignee`.
    pub fn assign_queued_tasks_about(
        &self,
        subject: &crate::model::Subject,
        role: &str,
        assignee: &str,
    ) -> Result<usize> {
        self.conn
            .prepare_cached(
                "UPDATE tasks SET assignee = ?4
                 WHERE subject_kind = ?1 AND subject_id = ?2 AND role = ?3 AND assignee IS NULL AND +status = 'open'",
            )
            .ctx(self)?
            .execute(params![subject.kind, subject.id, role, assignee])
            .ctx(self)
    }

    /// Every waiting hand-over, oldest first.
    pub fn waiting_handovers(&self) -> Result<Vec<WaitingHandover>> {
        self.all(
            &format!("SELECT {COLUMNS} FROM waiting_handovers ORDER BY since, length(account_id), account_id"),
            [],
            row,
        )
    }
}
