//! The task queues: one per role, ordered by urgency. Creation is
//! deduplicated by key; a claim is one `UPDATE … WHERE id IN (SELECT …
//! FOR UPDATE SKIP LOCKED) RETURNING …`, so workers on any machine never
//! get the same task and never wait on each other's rows. A claim can run
//! out (a lease): its task goes back to where it was before the claim.

use postgres::Row;
use postgres::fallible_iterator::FallibleIterator;

use super::{PgContext, Postgres};
use crate::error::{Error, Result};
use crate::model::{NewTask, Priority, Subject, Task};
use crate::store::backend::{CloseAs, MAX_CLAIM_BATCH, RoleCount, TaskFilter, TaskStatus};

const TASK_COLUMNS: &str = "id, role, assignee, title, status, priority, due_at, subject_kind, subject_id, rule, reason, \
     rules_version, created_at, event_id, dedup_key, claimed_by, claimed_at, closed_at, outcome, \
     released_from, released_at";

/// The most urgent first: priority, then the earliest due, then the oldest.
const URGENCY: &str = "priority DESC, due_at ASC, id ASC";

/// One claim: the $4 most urgent open tasks of role $1 assigned to $2 or to
/// nobody become $2's. Rows another worker is claiming are skipped, not waited for.
static CLAIM: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "UPDATE tasks SET status = 'claimed', assignee_before_claim = assignee, assignee = $2, claimed_by = $2, claimed_at = $3
         WHERE id IN (SELECT id FROM tasks WHERE role = $1 AND status = 'open' AND (assignee IS NULL OR assignee = $2)
                      ORDER BY {URGENCY} LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING {TASK_COLUMNS}"
    )
});

fn task_row(r: &Row) -> std::result::Result<Task, postgres::Error> {
    let status: String = r.try_get(4)?;
    Ok(Task {
        id: r.try_get(0)?,
        role: r.try_get(1)?,
        assignee: r.try_get(2)?,
        title: r.try_get(3)?,
        // The table's CHECK allows only the four names.
        status: TaskStatus::parse(&status).unwrap_or(TaskStatus::Open),
        priority: Priority::from_rank(r.try_get(5)?),
        due_at: r.try_get(6)?,
        subject: Subject { kind: r.try_get(7)?, id: r.try_get(8)? },
        rule: r.try_get(9)?,
        reason: r.try_get(10)?,
        rules_version: r.try_get(11)?,
        created_at: r.try_get(12)?,
        event_id: r.try_get(13)?,
        dedup_key: r.try_get(14)?,
        claimed_by: r.try_get(15)?,
        claimed_at: r.try_get(16)?,
        closed_at: r.try_get(17)?,
        outcome: r.try_get(18)?,
        released_from: r.try_get(19)?,
        released_at: r.try_get(20)?,
    })
}

impl Postgres {
    /// Run `f` in the open unit, or in a transaction of its own outside one.
    fn in_transaction<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if self.depth.get() > 0 {
            return f();
        }
        self.begin()?;
        match f() {
            Ok(v) => self.commit().map(|_| v),
            Err(e) => {
                let _ = self.rollback();
                Err(e)
            }
        }
    }

    /// Store a task unless one with the same dedup key exists; its id when
    /// created. The id is the highest plus one, as SQLite gives a rowid: it
    /// is taken in a unit of work, which holds every other process's units
    /// off to its end, so two writers never take the same one (see
    /// [`super::schema`]). Outside a unit, it is a unit of its own.
    pub fn create_task(
        &self,
        t: &NewTask,
        rules_version: &str,
        event_id: &str,
        created_at: &str,
    ) -> Result<Option<i64>> {
        self.in_unit_or_own(|| {
            // A unit holds the lock from its start; a transaction of this
            // connection's own takes it now, in a statement before the
            // insert, whose snapshot must see every id committed before it.
            if !self.unit_locked.get() {
                self.lock_units()?;
            }
            let rule = t.rule.to_string();
            // One statement: the task, and its count in `task_load` when it has an assignee.
            let id: Option<i64> = self.one(
                "WITH t AS (
                     INSERT INTO tasks (id, role, assignee, title, priority, due_at, subject_kind, subject_id, rule, reason, rules_version, dedup_key, event_id, created_at)
                     SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM tasks
                     HAVING NOT EXISTS (SELECT 1 FROM pruned_task_keys WHERE dedup_key = $11)
                     ON CONFLICT (dedup_key) DO NOTHING
                     RETURNING id, role, assignee
                 ), load AS (
                     INSERT INTO task_load (role, assignee, open) SELECT role, assignee, 1 FROM t WHERE assignee IS NOT NULL
                     ON CONFLICT (role, assignee) DO UPDATE SET open = task_load.open + 1
                 )
                 SELECT id FROM t",
                &[
                    &t.role,
                    &t.assignee,
                    &t.title,
                    &(t.priority as i64),
                    &t.due_at,
                    &t.subject.kind,
                    &t.subject.id,
                    &rule,
                    &t.reason,
                    &rules_version,
                    &t.dedup_key,
                    &event_id,
                    &created_at,
                ],
                |r| r.try_get(0),
            )?;
            if id.is_some() {
                self.changes.set(self.changes.get() + 1);
                self.tasks_made.set(true);
            }
            // Made now or already there: the key exists for the rest of the unit.
            if self.in_locked_unit() {
                self.known_keys.borrow_mut().insert(t.dedup_key.clone());
            }
            Ok(id)
        })
    }

    /// LISTEN once, then wait for a NOTIFY of new or freed tasks (see
    /// [`Postgres::commit`]). The first call only starts listening and says
    /// to look again: a task made before it would not be announced.
    pub fn wait_for_tasks(&self, timeout: std::time::Duration) -> Result<bool> {
        if !self.listening.get() {
            self.batch("LISTEN dealflow_tasks")?;
            self.listening.set(true);
            return Ok(true);
        }
        let mut client = self.client.borrow_mut();
        let mut notifications = client.notifications();
        let heard = notifications.timeout_iter(timeout).next().ctx(self)?.is_some();
        // Several commits while this one waited: one look serves them all.
        while notifications.iter().next().ctx(self)?.is_some() {}
        Ok(heard)
    }

    pub fn task_key_exists(&self, dedup_key: &str) -> Result<bool> {
        let in_unit = self.in_locked_unit();
        if in_unit && self.known_keys.borrow().contains(dedup_key) {
            return Ok(true);
        }
        // A pruned task's key still counts (`dealflow prune`).
        let sql = "SELECT 1 FROM tasks WHERE dedup_key = $1 UNION ALL SELECT 1 FROM pruned_task_keys WHERE dedup_key = $1 LIMIT 1";
        let exists = self.one(sql, &[&dedup_key], |_| Ok(()))?.is_some();
        if exists && in_unit {
            self.known_keys.borrow_mut().insert(dedup_key.to_string());
        }
        Ok(exists)
    }

    pub fn task(&self, id: i64) -> Result<Option<Task>> {
        self.one(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"), &[&id], task_row)
    }

    /// Tasks with ids above `after`, by id (the notifier's cursor).
    pub fn tasks_after(&self, after: i64, limit: usize) -> Result<Vec<Task>> {
        self.all(
            &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id > $1 ORDER BY id LIMIT $2"),
            &[&after, &(limit as i64)],
            task_row,
        )
    }

    pub fn tasks(&self, f: &TaskFilter) -> Result<Vec<Task>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks
             WHERE ($1::TEXT IS NULL OR role = $1) AND ($2::TEXT IS NULL OR assignee = $2) AND ($3::TEXT IS NULL OR status = $3)
               AND ($4::TEXT IS NULL OR (subject_kind = $4 AND subject_id = $5))
             ORDER BY CASE status WHEN 'open' THEN 0 WHEN 'claimed' THEN 1 ELSE 2 END, {URGENCY}"
        );
        let (kind, id) = f.subject.as_ref().map(|s| (Some(&s.kind), Some(&s.id))).unwrap_or_default();
        self.all(&sql, &[&f.role, &f.assignee, &f.status.map(TaskStatus::name), &kind, &id], task_row)
    }

    /// Claim up to `n` (at most [`MAX_CLAIM_BATCH`]) of the most urgent open
    /// tasks in one transaction, after releasing the claims that ran out.
    pub fn claim_up_to(
        &self,
        role: &str,
        who: &str,
        now: &str,
        lapsed_before: Option<&str>,
        n: usize,
    ) -> Result<Vec<Task>> {
        let n = n.clamp(1, MAX_CLAIM_BATCH) as i64;
        let claim = || {
            let tasks = self.all(&CLAIM, &[&role, &who, &now, &n], task_row)?;
            self.changes.set(self.changes.get() + tasks.len() as u64);
            Ok(tasks)
        };
        // Alone, the claim is one statement, so a transaction of its own: one round trip.
        let mut tasks = match lapsed_before {
            None => claim()?,
            Some(before) => self.in_transaction(|| {
                self.release_lapsed_claims(before, now)?;
                claim()
            })?,
        };
        // RETURNING gives no order: the most urgent first, as the queue has them.
        tasks.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| (&a.due_at, a.id).cmp(&(&b.due_at, b.id))));
        Ok(tasks)
    }

    pub fn release_lapsed_claims(&self, lapsed_before: &str, now: &str) -> Result<usize> {
        let n = self.exec(
            "UPDATE tasks
             SET status = 'open', assignee = assignee_before_claim, assignee_before_claim = NULL,
                 released_from = claimed_by, released_at = $2, claimed_by = NULL, claimed_at = NULL
             WHERE status = 'claimed' AND claimed_at < $1",
            &[&lapsed_before, &now],
        )?;
        if n > 0 {
            self.tasks_made.set(true);
        }
        Ok(n as usize)
    }

    pub fn close_task(
        &self,
        id: i64,
        status: TaskStatus,
        by: Option<&str>,
        outcome: Option<&str>,
        now: &str,
    ) -> Result<Task> {
        let changed = self.exec(
            "UPDATE tasks SET status = $2, closed_at = $3, outcome = $4, claimed_by = COALESCE($5, claimed_by)
             WHERE id = $1 AND status IN ('open', 'claimed')",
            &[&id, &status.name(), &now, &outcome, &by],
        )?;
        let task = self.task(id)?.ok_or_else(|| Error::NotFound(format!("no task {id}")))?;
        if changed == 0 {
            return Err(Error::Usage(format!("task {id} is already {}", task.status)));
        }
        Ok(task)
    }

    pub fn close_task_as(
        &self,
        id: i64,
        status: TaskStatus,
        who: Option<&str>,
        outcome: Option<&str>,
        now: &str,
    ) -> Result<CloseAs> {
        let changed = self.exec(
            "UPDATE tasks SET status = $2, closed_at = $3, outcome = $4,
                    claimed_by = COALESCE($5, claimed_by), assignee = COALESCE(assignee, $5)
             WHERE id = $1 AND (status = 'open' OR (status = 'claimed' AND ($5::TEXT IS NULL OR claimed_by = $5)))",
            &[&id, &status.name(), &now, &outcome, &who],
        )?;
        let task = self.task(id)?.ok_or_else(|| Error::NotFound(format!("no task {id}")))?;
        match (changed, task.status) {
            (0, TaskStatus::Claimed) => Ok(Err(task)),
            (0, _) => Err(Error::Usage(format!("task {id} is already {}", task.status))),
            _ => Ok(Ok(task)),
        }
    }

    pub fn cancel_open_tasks_about(
        &self,
        subject: &Subject,
        assignee: Option<&str>,
        outcome: &str,
        now: &str,
    ) -> Result<usize> {
        let n = self.exec(
            "UPDATE tasks SET status = 'cancelled', closed_at = $4, outcome = $5
             WHERE subject_kind = $1 AND subject_id = $2 AND ($3::TEXT IS NULL OR assignee = $3) AND status = 'open'",
            &[&subject.kind, &subject.id, &assignee, &now, &outcome],
        )?;
        Ok(n as usize)
    }

    pub fn open_tasks_by_role(&self) -> Result<Vec<RoleCount>> {
        self.all(
            "SELECT role, COUNT(*) FROM tasks WHERE status IN ('open', 'claimed') GROUP BY role ORDER BY role",
            &[],
            |r| Ok(RoleCount { role: r.try_get(0)?, open: r.try_get(1)? }),
        )
    }
}
