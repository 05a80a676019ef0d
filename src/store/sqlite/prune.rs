//! Pruning: old decisions, stage history, rejected lines and finished tasks
//! removed (see [`crate::store::backend::Backend::prune`]).

use super::{SqlContext, Sqlite};
use crate::error::Result;
use crate::store::backend::Pruned;

/// Finished tasks closed before `?1`, except the task with the highest id
/// (a new task's id is the highest plus one: ids are never given twice).
const OLD_TASKS: &str = "status IN ('done', 'cancelled') AND closed_at < ?1 AND id < (SELECT MAX(id) FROM tasks)";

impl Sqlite {
    /// In the open unit of work (`Store::prune` opens it).
    pub fn prune(&self, before: &str, dry_run: bool) -> Result<Pruned> {
        self.write_pending()?;
        let act = |table: &str, filter: &str| -> Result<u64> {
            if dry_run {
                let sql = format!("SELECT count(*) FROM {table} WHERE {filter}");
                Ok(self.one(&sql, [before], |r| r.get::<_, i64>(0))?.unwrap_or(0) as u64)
            } else {
                Ok(self.conn.execute(&format!("DELETE FROM {table} WHERE {filter}"), [before]).ctx(self)? as u64)
            }
        };
        let decisions = act("decisions", "at < ?1")?;
        let stage_changes = act("deal_stage_history", "at < ?1")?;
        let rejected_lines = act("rejected_events", "rejected_at < ?1")?;
        if !dry_run {
            // Their keys stay: the same task is never made again.
            self.conn
                .execute(
                    &format!(
                        "INSERT OR IGNORE INTO pruned_task_keys (id, dedup_key, closed_at)
                         SELECT id, dedup_key, closed_at FROM tasks WHERE {OLD_TASKS}"
                    ),
                    [before],
                )
                .ctx(self)?;
        }
        let tasks = act("tasks", OLD_TASKS)?;
        Ok(Pruned { decisions, stage_changes, rejected_lines, tasks })
    }
}
