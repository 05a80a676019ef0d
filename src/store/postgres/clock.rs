//! What the clock asks the store, each fact with the sweep generation it
//! was last set in (see `engine::sweeps`); the clock's own state; assignment.

use super::Postgres;
use crate::error::Result;
use crate::store::backend::{ContractEnding, DealInStage, Holder, Load, QuietAccount, TargetRow};

impl Postgres {
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.one("SELECT value FROM meta WHERE key = $1", &[&key], |r| r.try_get(0))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.exec(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
            &[&key, &value],
        )?;
        Ok(())
    }

    pub fn sweep_epoch(&self) -> Result<i64> {
        Ok(self.one("SELECT value::BIGINT FROM meta WHERE key = 'sweep_epoch'", &[], |r| r.try_get(0))?.unwrap_or(0))
    }

    pub fn set_sweep_epoch(&self, epoch: i64) -> Result<()> {
        self.set_meta("sweep_epoch", &epoch.to_string())
    }

    pub fn max_task_id(&self) -> Result<i64> {
        Ok(self.one("SELECT COALESCE(MAX(id), 0) FROM tasks", &[], |r| r.try_get(0))?.unwrap_or(0))
    }

    /// Open deals in `stage` that entered it at or before `entered_by`, in
    /// the order of SQLite's covering index (time entered, then id).
    pub fn deals_in_stage_since(&self, stage: &str, entered_by: &str) -> Result<Vec<DealInStage>> {
        self.all(
            "SELECT id, account_id, stage_entered_at, stage_epoch FROM deals
             WHERE is_open AND stage = $1 AND stage_entered_at <= $2 ORDER BY stage_entered_at, id",
            &[&stage, &entered_by],
            |r| {
                Ok(DealInStage {
                    deal_id: r.try_get(0)?,
                    account_id: r.try_get(1)?,
                    entered_at: r.try_get(2)?,
                    epoch: r.try_get(3)?,
                })
            },
        )
    }

    /// See `Sqlite::accounts_to_review`: the same question, the same answer.
    pub fn accounts_to_review(
        &self,
        left_after: Option<&str>,
        left_by: &str,
        last_day: Option<&str>,
        today: &str,
        epochs: (i64, i64),
    ) -> Result<Vec<String>> {
        self.all(
            r#"SELECT id FROM accounts WHERE is_key AND (
                 EXISTS (SELECT 1 FROM orders WHERE account_id = accounts.id AND at > COALESCE($1::TEXT, '') AND at <= $2
                           AND epoch > $5 AND epoch <= $6)
                 OR EXISTS (SELECT 1 FROM deals WHERE account_id = accounts.id AND is_won
                              AND closed_at > COALESCE($1::TEXT, '') AND closed_at <= $2
                              AND stage_epoch > $5 AND stage_epoch <= $6))
               UNION
               SELECT account_id FROM contracts WHERE start > COALESCE($3::TEXT, '') AND start <= $4 AND epoch > $5 AND epoch <= $6
               UNION
               SELECT account_id FROM contracts WHERE "end" >= COALESCE($3::TEXT, '') AND "end" < $4 AND epoch > $5 AND epoch <= $6
               ORDER BY 1"#,
            &[&left_after, &left_by, &last_day, &today, &epochs.0, &epochs.1],
            |r| r.try_get(0),
        )
    }

    /// In the order the accounts were first written (SQLite reads them by
    /// its `is_key` index, which holds them by rowid).
    pub fn quiet_key_accounts(&self, by: &str) -> Result<Vec<QuietAccount>> {
        self.all(
            "SELECT id, COALESCE(last_contact, key_since), COALESCE(key_since, ''), quiet_epoch FROM accounts
             WHERE is_key AND COALESCE(last_contact, key_since) <= $1 ORDER BY row_order",
            &[&by],
            |r| {
                Ok(QuietAccount {
                    account_id: r.try_get(0)?,
                    quiet_since: r.try_get(1)?,
                    key_since: r.try_get(2)?,
                    epoch: r.try_get(3)?,
                })
            },
        )
    }

    pub fn contracts_ending(&self, until: &str, today: &str) -> Result<Vec<ContractEnding>> {
        self.all(
            r#"SELECT id, account_id, "end", epoch FROM contracts WHERE "end" <= $1 AND "end" >= $2 ORDER BY "end", id"#,
            &[&until, &today],
            |r| {
                Ok(ContractEnding {
                    contract_id: r.try_get(0)?,
                    account_id: r.try_get(1)?,
                    end: r.try_get(2)?,
                    epoch: r.try_get(3)?,
                })
            },
        )
    }

    pub fn tasks_due_between(&self, from: Option<&str>, before: &str, ids: (i64, i64)) -> Result<Vec<i64>> {
        self.all(
            "SELECT id FROM tasks WHERE status IN ('open', 'claimed') AND ($1::TEXT IS NULL OR due_at >= $1) AND due_at < $2
             AND id > $3 AND id <= $4 ORDER BY id",
            &[&from, &before, &ids.0, &ids.1],
            |r| r.try_get(0),
        )
    }

    pub fn all_targets(&self) -> Result<Vec<TargetRow>> {
        self.all(
            "SELECT account_id, product, period, amount, epoch FROM targets ORDER BY account_id, product",
            &[],
            |r| {
                Ok(TargetRow {
                    account_id: r.try_get(0)?,
                    product: r.try_get(1)?,
                    period: r.try_get(2)?,
                    amount: r.try_get(3)?,
                    epoch: r.try_get(4)?,
                })
            },
        )
    }

    pub fn open_tasks_per_assignee(&self, role: &str) -> Result<Vec<Load>> {
        // By assignee: SQLite's key order.
        self.all("SELECT assignee, open FROM task_load WHERE role = $1 ORDER BY assignee", &[&role], |r| {
            Ok(Load { who: r.try_get(0)?, open: r.try_get(1)? })
        })
    }

    pub fn take_turn(&self, role: &str, region: &str, n: usize) -> Result<usize> {
        let next: i64 = self
            .one("SELECT next FROM assign_turns WHERE role = $1 AND region = $2", &[&role, &region], |r| r.try_get(0))?
            .unwrap_or(0);
        let index = (next.max(0) as usize) % n.max(1);
        self.exec(
            "INSERT INTO assign_turns (role, region, next) VALUES ($1, $2, $3) ON CONFLICT (role, region) DO UPDATE SET next = $3",
            &[&role, &region, &((index + 1) as i64)],
        )?;
        Ok(index)
    }

    pub fn open_task_holders(&self) -> Result<Vec<Holder>> {
        // In the order SQLite finds them, reading open tasks by its
        // `(status, due_at)` index: by each pair's first task due, then id.
        self.all(
            "SELECT role, assignee FROM (
                 SELECT DISTINCT ON (role, assignee) role, assignee, due_at, id FROM tasks
                 WHERE status = 'open' AND assignee IS NOT NULL ORDER BY role, assignee, due_at, id
             ) first ORDER BY due_at, id",
            &[],
            |r| Ok(Holder { role: r.try_get(0)?, assignee: r.try_get(1)? }),
        )
    }

    pub fn open_tasks_of(&self, role: &str, assignee: &str) -> Result<Vec<i64>> {
        self.all(
            "SELECT id FROM tasks WHERE status = 'open' AND role = $1 AND assignee = $2 ORDER BY id",
            &[&role, &assignee],
            |r| r.try_get(0),
        )
    }

    pub fn queued_tasks(&self, role: &str, limit: usize) -> Result<Vec<i64>> {
        self.all(
            "SELECT id FROM tasks WHERE status = 'open' AND assignee IS NULL AND role = $1 \
             ORDER BY priority DESC, due_at, id LIMIT $2",
            &[&role, &(limit as i64)],
            |r| r.try_get(0),
        )
    }

    pub fn set_task_due(&self, id: i64, due_at: &str) -> Result<()> {
        self.exec("UPDATE tasks SET due_at = $2 WHERE id = $1", &[&id, &due_at])?;
        Ok(())
    }

    pub fn reassign_task(&self, id: i64, assignee: Option<&str>) -> Result<()> {
        self.exec("UPDATE tasks SET assignee = $2 WHERE id = $1", &[&id, &assignee])?;
        Ok(())
    }
}
