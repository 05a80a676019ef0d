//! The task queues: one per role, ordered by urgency. Creation is
//! deduplicated by key; claiming is one atomic `UPDATE … RETURNING` inside
//! `BEGIN IMMEDIATE`, so two workers never get the same task. A claim can
//! run out (a lease): its task goes back to where it was before the claim,
//! with who had it noted, so a worker that vanished loses no follow-up.

use rusqlite::params;

use super::{SqlContext, Sqlite};
use crate::error::{Error, Result};
use crate::model::{NewTask, Priority, Subject, Task};
use crate::store::backend::{CloseAs, MAX_CLAIM_BATCH, RoleCount, TaskFilter, TaskStatus};

const TASK_COLUMNS: &str = "id, role, assignee, title, status, priority, due_at, subject_kind, subject_id, rule, reason, \
     rules_version, created_at, event_id, dedup_key, claimed_by, claimed_at, closed_at, outcome, \
     released_from, released_at";

/// The most urgent first: priority, then the earliest due, then the oldest.
const URGENCY: &str = "priority DESC, due_at ASC, id ASC";

/// One claim: the ?4 most urgent open tasks of role ?1 assigned to ?2 or to nobody become ?2's.
static CLAIM: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "UPDATE tasks SET status = 'claimed', assignee_before_claim = assignee, assignee = ?2, claimed_by = ?2, claimed_at = ?3
         WHERE id IN (SELECT id FROM tasks WHERE role = ?1 AND status = 'open' AND (assignee IS NULL OR assignee = ?2)
                      ORDER BY {URGENCY} LIMIT ?4)
         RETURNING {TASK_COLUMNS}"
    )
});

fn task_row(r: &rusqlite::Row) -> rusqlite::Result<Task> {
    Ok(Task {
        id: r.get(0)?,
        role: r.get(1)?,
        assignee: r.get(2)?,
        title: r.get(3)?,
        status: {
            let status: String = r.get(4)?;
            TaskStatus::parse(&status).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, status.into())
            })?
        },
        priority: Priority::from_rank(r.get(5)?),
        due_at: r.get(6)?,
        subject: Subject { kind: r.get(7)?, id: r.get(8)? },
        rule: r.get(9)?,
        reason: r.get(10)?,
        rules_version: r.get(11)?,
        created_at: r.get(12)?,
        event_id: r.get(13)?,
        dedup_key: r.get(14)?,
        claimed_by: r.get(15)?,
        claimed_at: r.get(16)?,
        closed_at: r.get(17)?,
        outcome: r.get(18)?,
        released_from: r.get(19)?,
        released_at: r.get(20)?,
    })
}

impl Sqlite {
    /// Store a task unless one with the same dedup key exists. Returns its id when created.
    pub fn create_task(
        &self,
        t: &NewTask,
        rules_version: &str,
        event_id: &str,
        created_at: &str,
    ) -> Result<Option<i64>> {
        // No `RETURNING` (SQLite runs it as a trigger, and a statement with a
        // trigger keeps a journal of every page it touches): the new row's id
        // is the last one inserted.
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO tasks (role, assignee, title, priority, due_at, subject_kind, subject_id, rule, reason, rules_version, dedup_key, event_id, created_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13
                 WHERE NOT EXISTS (SELECT 1 FROM pruned_task_keys WHERE dedup_key = ?11)
                 ON CONFLICT(dedup_key) DO NOTHING",
            )
            .ctx(self)?
            .execute(params![
                t.role,
                t.assignee,
                t.title,
                t.priority as i64,
                t.due_at,
                t.subject.kind,
                t.subject.id,
                t.rule.to_string(),
                t.reason,
                rules_version,
                t.dedup_key,
                event_id,
                created_at
            ])
            .ctx(self)?;
        let id = (inserted == 1).then(|| self.conn.last_insert_rowid());
        if let (Some(_), Some(assignee)) = (id, &t.assignee) {
            self.conn
                .prepare_cached(
                    "INSERT INTO task_load (role, assignee, open) VALUES (?1, ?2, 1)
                     ON CONFLICT(role, assignee) DO UPDATE SET open = open + 1",
                )
                .ctx(self)?
                .execute(params![t.role, assignee])
                .ctx(self)?;
        }
        Ok(id)
    }

    pub fn task_key_exists(&self, dedup_key: &str) -> Result<bool> {
        // A pruned task's key still counts (`dealflow prune`).
        let sql =
            "SELECT 1 FROM tasks WHERE dedup_key = ?1 UNION ALL SELECT 1 FROM pruned_task_keys WHERE dedup_key = ?1";
        Ok(self.one(sql, [dedup_key], |_| Ok(()))?.is_some())
    }

    pub fn task(&self, id: i64) -> Result<Option<Task>> {
        self.one(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"), [id], task_row)
    }

    /// Tasks with ids above `after`, by id (the notifier's cursor).
    pub fn tasks_after(&self, after: i64, limit: usize) -> Result<Vec<Task>> {
        self.all(
            &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id > ?1 ORDER BY id LIMIT ?2"),
            params![after, limit as i64],
            task_row,
        )
    }

    pub fn tasks(&self, f: &TaskFilter) -> Result<Vec<Task>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks
             WHERE (?1 IS NULL OR role = ?1) AND (?2 IS NULL OR assignee = ?2) AND (?3 IS NULL OR status = ?3)
               AND (?4 IS NULL OR (subject_kind = ?4 AND subject_id = ?5))
             ORDER BY CASE status WHEN 'open' THEN 0 WHEN 'claimed' THEN 1 ELSE 2 END, {URGENCY}"
        );
        let mut st = self.conn.prepare_cached(&sql).ctx(self)?;
        let (kind, id) = f.subject.as_ref().map(|s| (Some(&s.kind), Some(&s.id))).unwrap_or_default();
        let rows =
            st.query_map(params![f.role, f.assignee, f.status.map(TaskStatus::name), kind, id], task_row).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    /// Atomically take the most urgent open task of `role` that is assigned to `who` or to nobody.
    /// With `lapsed_before` (a time), claims taken before it run out first (see
    /// [`Sqlite::release_lapsed_claims`]), in the same transaction.
    pub fn claim(&self, role: &str, who: &str, now: &str, lapsed_before: Option<&str>) -> Result<Option<Task>> {
        Ok(self.claim_up_to(role, who, now, lapsed_before, 1)?.pop())
    }

    /// [`Sqlite::claim`] up to `n` tasks (at most [`MAX_CLAIM_BATCH`]) in one
    /// transaction: all of them or none. The most urgent first.
    pub fn claim_up_to(
        &self,
        role: &str,
        who: &str,
        now: &str,
        lapsed_before: Option<&str>,
        n: usize,
    ) -> Result<Vec<Task>> {
        let n = n.clamp(1, MAX_CLAIM_BATCH) as i64;
        self.begin()?;
        let claimed = lapsed_before
            .map_or(Ok(0), |before| self.release_lapsed_claims(before, now))
            .and_then(|_| self.conn.prepare_cached(&CLAIM).ctx(self))
            .and_then(|mut st| {
                let rows = st.query_map(params![role, who, now, n], task_row).ctx(self)?;
                rows.collect::<rusqlite::Result<Vec<Task>>>().ctx(self)
            });
        match claimed {
            Ok(mut tasks) => {
                self.commit()?;
                // RETURNING gives no order: the most urgent first, as the queue has them.
                tasks.sort_by(|a, b| {
                    b.priority.cmp(&a.priority).then_with(|| (&a.due_at, a.id).cmp(&(&b.due_at, b.id)))
                });
                Ok(tasks)
            }
            Err(e) => {
                let _ = self.rollback();
                Err(e)
            }
        }
    }

    /// Claims taken before `lapsed_before` run out: each task goes back to
    /// whom it was assigned before the claim (or to the role's queue), open,
    /// with `released_from` (who had it) and `released_at` set. Returns how many.
    pub fn release_lapsed_claims(&self, lapsed_before: &str, now: &str) -> Result<usize> {
        self.conn
            .prepare_cached(
                // By the claims' own index: by status alone SQLite would read every claimed task, on every claim.
                "UPDATE tasks INDEXED BY tasks_claimed_at
                 SET status = 'open', assignee = assignee_before_claim, assignee_before_claim = NULL,
                     released_from = claimed_by, released_at = ?2, claimed_by = NULL, claimed_at = NULL
                 WHERE status = 'claimed' AND claimed_at < ?1",
            )
            .ctx(self)?
            .execute(params![lapsed_before, now])
            .ctx(self)
    }

    /// Close a task as done or cancelled. Closing a closed task is an error that says its state.
    pub fn close_task(
        &self,
        id: i64,
        status: TaskStatus,
        by: Option<&str>,
        outcome: Option<&str>,
        now: &str,
    ) -> Result<Task> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE tasks SET status = ?2, closed_at = ?3, outcome = ?4, claimed_by = COALESCE(?5, claimed_by)
                 WHERE id = ?1 AND status IN ('open', 'claimed')",
            )
            .ctx(self)?
            .execute(params![id, status.name(), now, outcome, by])
            .ctx(self)?;
        let task = self.task(id)?.ok_or_else(|| Error::NotFound(format!("no task {id}")))?;
        if changed == 0 {
            return Err(Error::Usage(format!("task {id} is already {}", task.status)));
        }
        Ok(task)
    }

    /// Close a task as done or cancelled on behalf of `who`, when given: a
    /// task someone else holds a claim on is left as it is and returned as
    /// `Err` (a claim of `who`'s that ran out, with nobody claiming it since,
    /// still lets `who` close it). Closing a closed task is an error that says its state.
    pub fn close_task_as(
        &self,
        id: i64,
        status: TaskStatus,
        who: Option<&str>,
        outcome: Option<&str>,
        now: &str,
    ) -> Result<CloseAs> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE tasks SET status = ?2, closed_at = ?3, outcome = ?4,
                        claimed_by = COALESCE(?5, claimed_by), assignee = COALESCE(assignee, ?5)
                 WHERE id = ?1 AND (status = 'open' OR (status = 'claimed' AND (?5 IS NULL OR claimed_by = ?5)))",
            )
            .ctx(self)?
            .execute(params![id, status.name(), now, outcome, who])
            .ctx(self)?;
        let task = self.task(id)?.ok_or_else(|| Error::NotFound(format!("no task {id}")))?;
        match (changed, task.status) {
            (0, TaskStatus::Claimed) => Ok(Err(task)),
            (0, _) => Err(Error::Usage(format!("task {id} is already {}", task.status))),
            _ => Ok(Ok(task)),
        }
    }

    /// Cancel the open (not claimed) tasks about `subject`, only `assignee`'s
    /// when given; returns how many. (`+status` keeps SQLite on the subject
    /// index: by status it would walk every open task.)
    pub fn cancel_open_tasks_about(
        &self,
        subject: &Subject,
        assignee: Option<&str>,
        outcome: &str,
        now: &str,
    ) -> Result<usize> {
        self.conn
            .prepare_cached(
                "UPDATE tasks SET status = 'cancelled', closed_at = ?4, outcome = ?5
                 WHERE subject_kind = ?1 AND subject_id = ?2 AND (?3 IS NULL OR assignee = ?3) AND +status = 'open'",
            )
            .ctx(self)?
            .execute(params![subject.kind, subject.id, assignee, now, outcome])
            .ctx(self)
    }

    /// Open tasks per role (claimed ones count as open work too).
    pub fn open_tasks_by_role(&self) -> Result<Vec<RoleCount>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT role, COUNT(*) FROM tasks WHERE status IN ('open', 'claimed') GROUP BY role ORDER BY role",
            )
            .ctx(self)?;
        let rows = st.query_map([], |r| Ok(RoleCount { role: r.get(0)?, open: r.get(1)? })).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }
}
