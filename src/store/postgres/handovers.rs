//! Hand-overs that wait for someone of a role to join the team.

use postgres::Row;

use super::Postgres;
use crate::error::Result;
use crate::model::{RuleRef, Subject};
use crate::store::backend::WaitingHandover;

fn row(r: &Row) -> std::result::Result<WaitingHandover, postgres::Error> {
    Ok(WaitingHandover {
        account_id: r.try_get(0)?,
        role: r.try_get(1)?,
        reason: r.try_get(2)?,
        rule: RuleRef { file: r.try_get(3)?, function: r.try_get(4)? },
        close_open_tasks: r.try_get(5)?,
        since: r.try_get(6)?,
        event_id: r.try_get(7)?,
    })
}

impl Postgres {
    /// Note a hand-over that waits; one asked for again keeps its first time.
    pub fn save_waiting_handover(&self, w: &WaitingHandover) -> Result<()> {
        self.exec(
            "INSERT INTO waiting_handovers (account_id, role, reason, rule_file, rule_fn, close_open_tasks, since, event_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (account_id) DO UPDATE SET role = $2, reason = $3, rule_file = $4, rule_fn = $5,
               close_open_tasks = $6,
               since = CASE WHEN waiting_handovers.role = $2 THEN waiting_handovers.since ELSE $7 END,
               event_id = CASE WHEN waiting_handovers.role = $2 THEN waiting_handovers.event_id ELSE $8 END",
            &[&w.account_id, &w.role, &w.reason, &w.rule.file, &w.rule.function, &w.close_open_tasks, &w.since, &w.event_id],
        )?;
        Ok(())
    }

    pub fn drop_waiting_handover(&self, account_id: &str) -> Result<()> {
        self.exec("DELETE FROM waiting_handovers WHERE account_id = $1", &[&account_id])?;
        Ok(())
    }

    pub fn assign_queued_tasks_about(&self, subject: &Subject, role: &str, assignee: &str) -> Result<usize> {
        let n = self.exec(
            "UPDATE tasks SET assignee = $4
             WHERE subject_kind = $1 AND subject_id = $2 AND role = $3 AND assignee IS NULL AND status = 'open'",
            &[&subject.kind, &subject.id, &role, &assignee],
        )?;
        Ok(n as usize)
    }

    pub fn waiting_handovers(&self) -> Result<Vec<WaitingHandover>> {
        self.all(
            "SELECT account_id, role, reason, rule_file, rule_fn, close_open_tasks, since, event_id FROM waiting_handovers
             ORDER BY since, length(account_id), account_id",
            &[],
            row,
        )
    }
}
