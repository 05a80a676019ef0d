//! What the clock asks the store: which deals, accounts, contracts, tasks and
//! targets became due, found through indexes, each with the sweep generation
//! it was last set in (see `engine::sweeps`); and the clock's own state.

use rusqlite::params;

use super::{SqlContext, Sqlite};
use crate::error::Result;
use crate::store::backend::{ContractEnding, DealInStage, Holder, Load, QuietAccount, TargetRow};

impl Sqlite {
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.one("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2")
            .ctx(self)?
            .execute(params![key, value])
            .ctx(self)?;
        Ok(())
    }

    /// The sweep generation facts set now are in.
    pub fn sweep_epoch(&self) -> Result<i64> {
        Ok(self
            .one("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'sweep_epoch'", [], |r| r.get(0))?
            .unwrap_or(0))
    }

    pub fn set_sweep_epoch(&self, epoch: i64) -> Result<()> {
        self.set_meta("sweep_epoch", &epoch.to_string())
    }

    /// The highest task id so far (0: none).
    pub fn max_task_id(&self) -> Result<i64> {
        Ok(self.one("SELECT COALESCE(MAX(id), 0) FROM tasks", [], |r| r.get(0))?.unwrap_or(0))
    }

    /// Open deals in `stage` that entered it at or before `entered_by`:
    /// `(id, account_id, stage_entered_at, stage_epoch)`.
    pub fn deals_in_stage_since(&self, stage: &str, entered_by: &str) -> Result<Vec<DealInStage>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, account_id, stage_entered_at, stage_epoch FROM deals WHERE is_open = 1 AND stage = ?1 AND stage_entered_at <= ?2",
            )
            .ctx(self)?;
        let rows = st
            .query_map(params![stage, entered_by], |r| {
                Ok(DealInStage { deal_id: r.get(0)?, account_id: r.get(1)?, entered_at: r.get(2)?, epoch: r.get(3)? })
            })
            .ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    /// Accounts whose key-account facts time alone changed since the facts
    /// set in generations `(epochs.0, epochs.1]` were last reviewed, for the
    /// review: key accounts with such an order or won deal dated in
    /// `(left_after, left_by]` (it left the 12-month window; `None`: any time
    /// up to `left_by`), and accounts with such a contract that began on a day
    /// in `(last_day, today]` or ended on a day in `[last_day, today)`
    /// (`None`: any day before). Key accounts come through the `is_key` index,
    /// each checked by a range search of its orders and won deals; contracts
    /// that ended through the `end` index, those that began by a scan of the
    /// contracts (there is no index on `start`; a contract is one row per
    /// signed contract). `''` stands for "from the beginning", so the bounds
    /// stay index ranges.
    pub fn accounts_to_review(
        &self,
        left_after: Option<&str>,
        left_by: &str,
        last_day: Option<&str>,
        today: &str,
        epochs: (i64, i64),
    ) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare_cached(
                r#"SELECT id FROM accounts WHERE is_key = 1 AND (
                     EXISTS (SELECT 1 FROM orders WHERE account_id = accounts.id AND at > COALESCE(?1, '') AND at <= ?2
                               AND epoch > ?5 AND epoch <= ?6)
                     OR EXISTS (SELECT 1 FROM deals WHERE account_id = accounts.id AND is_won = 1
                                  AND closed_at > COALESCE(?1, '') AND closed_at <= ?2
                                  AND stage_epoch > ?5 AND stage_epoch <= ?6))
                   UNION
                   SELECT account_id FROM contracts WHERE start > COALESCE(?3, '') AND start <= ?4 AND epoch > ?5 AND epoch <= ?6
                   UNION
                   SELECT account_id FROM contracts WHERE "end" >= COALESCE(?3, '') AND "end" < ?4 AND epoch > ?5 AND epoch <= ?6
                   ORDER BY 1"#,
            )
            .ctx(self)?;
        let rows =
            st.query_map(params![left_after, left_by, last_day, today, epochs.0, epochs.1], |r| r.get(0)).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    /// Key accounts whose last contact (else the day they became key) is at or
    /// before `by`: `(id, quiet since, key since, quiet_epoch)`.
    pub fn quiet_key_accounts(&self, by: &str) -> Result<Vec<QuietAccount>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, COALESCE(last_contact, key_since) AS quiet, COALESCE(key_since, ''), quiet_epoch FROM accounts
                 WHERE is_key = 1 AND quiet <= ?1",
            )
            .ctx(self)?;
        let rows = st
            .query_map([by], |r| {
                Ok(QuietAccount {
                    account_id: r.get(0)?,
                    quiet_since: r.get(1)?,
                    key_since: r.get(2)?,
                    epoch: r.get(3)?,
                })
            })
            .ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    /// Contracts not ended by `today` and ending on or before `until` (inside
    /// their notice window): `(id, account_id, end, epoch)`.
    pub fn contracts_ending(&self, until: &str, today: &str) -> Result<Vec<ContractEnding>> {
        let mut st = self
            .conn
            .prepare_cached(
                r#"SELECT id, account_id, "end", epoch FROM contracts WHERE "end" <= ?1 AND "end" >= ?2 ORDER BY "end", id"#,
            )
            .ctx(self)?;
        let rows = st
            .query_map(params![until, today], |r| {
                Ok(ContractEnding { contract_id: r.get(0)?, account_id: r.get(1)?, end: r.get(2)?, epoch: r.get(3)? })
            })
            .ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    /// Open or claimed tasks with ids in `(ids.0, ids.1]`, due on or after
    /// `from` (if given) and before `before`: their ids.
    pub fn tasks_due_between(&self, from: Option<&str>, before: &str, ids: (i64, i64)) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id FROM tasks WHERE status IN ('open', 'claimed') AND (?1 IS NULL OR due_at >= ?1) AND due_at < ?2
                 AND id > ?3 AND id <= ?4 ORDER BY id",
            )
            .ctx(self)?;
        let rows = st.query_map(params![from, before, ids.0, ids.1], |r| r.get(0)).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    /// Every target.
    pub fn all_targets(&self) -> Result<Vec<TargetRow>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT account_id, product, period, amount, epoch FROM targets ORDER BY account_id, product",
            )
            .ctx(self)?;
        let rows = st
            .query_map([], |r| {
                Ok(TargetRow {
                    account_id: r.get(0)?,
                    product: r.get(1)?,
                    period: r.get(2)?,
                    amount: r.get(3)?,
                    epoch: r.get(4)?,
                })
            })
            .ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    /// Revenue from one product of an account between two times (orders and won deals).
    pub fn product_revenue(&self, account: &str, product: &str, from: &str, to: &str) -> Result<f64> {
        let orders: f64 = self
            .one(
                "SELECT COALESCE(SUM(amount), 0) FROM orders WHERE account_id = ?1 AND product = ?2 AND at >= ?3 AND at <= ?4",
                params![account, product, from, to],
                |r| r.get(0),
            )?
            .unwrap_or(0.0);
        let deals: f64 = self
            .one(
                "SELECT COALESCE(SUM(amount), 0) FROM deals WHERE account_id = ?1 AND is_won = 1 AND json_extract(data, '$.product') = ?2
                 AND closed_at >= ?3 AND closed_at <= ?4",
                params![account, product, from, to],
                |r| r.get(0),
            )?
            .unwrap_or(0.0);
        Ok(orders + deals)
    }

    /// Open tasks of a role per assignee (kept up to date by `create_task` and by triggers on `tasks`).
    pub fn open_tasks_per_assignee(&self, role: &str) -> Result<Vec<Load>> {
        let mut st = self.conn.prepare_cached("SELECT assignee, open FROM task_load WHERE role = ?1").ctx(self)?;
        let rows = st.query_map([role], |r| Ok(Load { who: r.get(0)?, open: r.get(1)? })).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    /// Take the next round-robin turn of `role` in `region` among `n` people: returns the index.
    pub fn take_turn(&self, role: &str, region: &str, n: usize) -> Result<usize> {
        let next: i64 = self
            .one("SELECT next FROM assign_turns WHERE role = ?1 AND region = ?2", params![role, region], |r| r.get(0))?
            .unwrap_or(0);
        let index = (next.max(0) as usize) % n.max(1);
        self.conn
            .prepare_cached(
                "INSERT INTO assign_turns (role, region, next) VALUES (?1, ?2, ?3) ON CONFLICT(role, region) DO UPDATE SET next = ?3",
            )
            .ctx(self)?
            .execute(params![role, region, (index + 1) as i64])
            .ctx(self)?;
        Ok(index)
    }

    /// Who has open tasks of which role: `(role, assignee)`.
    pub fn open_task_holders(&self) -> Result<Vec<Holder>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT DISTINCT role, assignee FROM tasks WHERE status = 'open' AND assignee IS NOT NULL")
            .ctx(self)?;
        let rows = st.query_map([], |r| Ok(Holder { role: r.get(0)?, assignee: r.get(1)? })).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    /// Open tasks of `role` assigned to `assignee`.
    pub fn open_tasks_of(&self, role: &str, assignee: &str) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id FROM tasks WHERE status = 'open' AND role = ?1 AND assignee = ?2 ORDER BY id")
            .ctx(self)?;
        let rows = st.query_map(params![role, assignee], |r| r.get(0)).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    pub fn queued_tasks(&self, role: &str, limit: usize) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id FROM tasks INDEXED BY tasks_queued WHERE status = 'open' AND assignee IS NULL AND role = ?1 \
                 ORDER BY priority DESC, due_at, id LIMIT ?2",
            )
            .ctx(self)?;
        let rows = st.query_map(params![role, limit as i64], |r| r.get(0)).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    pub fn set_task_due(&self, id: i64, due_at: &str) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE tasks SET due_at = ?2 WHERE id = ?1")
            .ctx(self)?
            .execute(params![id, due_at])
            .ctx(self)?;
        Ok(())
    }

    pub fn reassign_task(&self, id: i64, assignee: Option<&str>) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE tasks SET assignee = ?2 WHERE id = ?1")
            .ctx(self)?
            .execute(params![id, assignee])
            .ctx(self)?;
        Ok(())
    }
}
