//! Re-balancing: the open tasks nobody has claimed move when the team says
//! they may, and only those. A claimed task is never moved.
//!
//! At the start of every command that applies events (each inbox file and
//! tick under `watch`, which also runs it as soon as a new config is in
//! force), and at each clock tick on its business day:
//!
//! - the tasks of someone no longer on the team, inactive, or without the
//!   task's role go to someone else by the role's strategy (or its queue);
//! - the tasks of someone away on some day from today to the task's due
//!   date go to a colleague, or with `while_away = "wait"` stay theirs, due
//!   on their first working day back;
//! - someone over their `max_open` (a cap lowered) gives their newest tasks
//!   to colleagues with room, while there are such;
//! - tasks waiting in a `round_robin` or `least_loaded` role's queue go to
//!   whoever has room now (someone back, a new hire, a cap raised).
//!
//! Each move is a `task_rerouted` decision with its reason and the choice's
//! [`crate::assign::Why`].

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::Engine;
use crate::assign::{Assigned, Due, Need};
use crate::config::{Person, Strategy, WhileAway};
use crate::error::Result;
use crate::model::{Decision, DecisionKind, Subject, Task};

/// The most queued tasks of a role one pass gives out: the next pass (the
/// next file or tick) goes on where it stopped.
const QUEUED_PER_PASS: usize = 1000;

impl Engine<'_> {
    /// The business day to re-balance on outside a tick (see [`crate::availability::business_today`]).
    pub fn business_today(&self) -> Result<NaiveDate> {
        crate::availability::business_today(self.config, self.store)
    }

    /// Move what the team says may move on `today` (see the module): how many tasks moved.
    pub fn rebalance(&self, today: NaiveDate) -> Result<u64> {
        let mut moved = 0;
        let mut holders = self.store.open_task_holders()?;
        holders.sort_by(|a, b| (&a.role, &a.assignee).cmp(&(&b.role, &b.assignee)));
        // Open tasks per role and person, read once per role for the caps (the
        // moves below change them a little: each move re-reads its own).
        let mut loads: std::collections::HashMap<String, std::collections::HashMap<String, i64>> =
            std::collections::HashMap::new();
        for crate::store::backend::Holder { role, assignee } in holders {
            let person = self.config.find_person(&assignee).filter(|p| p.active && p.has_role(&role));
            let Some(p) = person else {
                let reason = format!("{} is not an active {role} any more", self.config.person_label(&assignee));
                for id in self.store.open_tasks_of(&role, &assignee)? {
                    if let Some(task) = self.store.task(id)? {
                        moved += self.move_task(&task, None, &reason, today, true)?;
                    }
                }
                continue;
            };
            let cap = p.membership(&role).and_then(|m| m.max_open);
            let time_off_ahead = p.away.iter().any(|a| a.to >= today);
            let mut over = match cap {
                Some(c) => {
                    if !loads.contains_key(&role) {
                        loads.insert(role.clone(), crate::assign::loads(self.config, self.store, &role)?);
                    }
                    loads[&role].get(p.key()).copied().unwrap_or(0) - i64::from(c)
                }
                None => 0,
            };
            if !time_off_ahead && over <= 0 {
                continue;
            }
            // The newest first: what was given last gives way first.
            for id in self.store.open_tasks_of(&role, &assignee)?.into_iter().rev() {
                let Some(task) = self.store.task(id)? else { continue };
                let Some(due) = crate::event::parse_date(&task.due_at) else { continue };
                if let Some(a) = p.away_between(today, due.max(today)) {
                    let wait = self.config.roles.get(&role).is_some_and(|r| r.while_away == WhileAway::Wait);
                    let when = if a.from <= today {
                        format!("away until {}", a.to)
                    } else {
                        format!("away {} to {}", a.from, a.to)
                    };
                    let label = self.config.person_label(p.key());
                    if wait && over > 0 {
                        // Over their cap as well: a colleague with room takes it, else it waits for them.
                        let c = cap.unwrap_or_default();
                        let reason =
                            format!("{label} is {when}, with more open {role} tasks than their max_open = {c}");
                        let before = moved;
                        moved += self.move_task(&task, Some(p), &reason, today, false)?;
                        if moved > before {
                            over -= 1;
                            continue;
                        }
                    }
                    if wait {
                        moved += self.keep_for(&task, p, due, today, &format!("{label} is {when}"))?;
                    } else {
                        moved += self.move_task(&task, Some(p), &format!("{label} is {when}"), today, true)?;
                        over -= 1;
                    }
                } else if over > 0 {
                    let c = cap.unwrap_or_default();
                    let reason = format!(
                        "{} has more open {role} tasks than their max_open = {c}",
                        self.config.person_label(p.key())
                    );
                    let before = moved;
                    moved += self.move_task(&task, Some(p), &reason, today, false)?;
                    if moved == before {
                        // Nobody could take this one. The rest stay if nobody has room at all; someone
                        // with room who is away on this one's due date may take the next.
                        if !self.anyone_with_room(&role, Some(p.key()), today)? {
                            over = 0;
                        }
                    } else {
                        over -= 1;
                    }
                }
            }
        }
        moved += self.assign_queued(today)?;
        if moved > 0 {
            tracing::info!("re-balanced: {moved} open tasks nobody had claimed moved (task_rerouted decisions)");
        }
        Ok(moved)
    }

    /// Tasks waiting in the queue of a `round_robin` or `least_loaded` role
    /// go to whoever of it has room now, most urgent first.
    fn assign_queued(&self, today: NaiveDate) -> Result<u64> {
        let mut moved = 0;
        for (role, settings) in &self.config.roles {
            if settings.assign == Strategy::Owner {
                continue;
            }
            // Nobody of the role can take anything today: leave the queue alone.
            if !self.anyone_with_room(role, None, today)? {
                continue;
            }
            for id in self.store.queued_tasks(role, QUEUED_PER_PASS)? {
                let Some(task) = self.store.task(id)? else { continue };
                let before = moved;
                moved += self.move_task(&task, None, "was waiting in the role's queue", today, false)?;
                // A task nobody could take (due while the ones with room are away) does not hold
                // back the next, unless nobody has room any more.
                if moved == before && !self.anyone_with_room(role, None, today)? {
                    break;
                }
            }
        }
        Ok(moved)
    }

    /// Whether someone of `role` (other than `except`) is active, in on
    /// `today` and below their cap: when nobody is, nothing of the role can move.
    fn anyone_with_room(&self, role: &str, except: Option<&str>, today: NaiveDate) -> Result<bool> {
        let loads = crate::assign::loads(self.config, self.store, role)?;
        Ok(self.config.team.iter().any(|p: &Person| {
            p.active
                && Some(p.key()) != except
                && p.away_on(today).is_none()
                && p.membership(role)
                    .is_some_and(|m| m.max_open.is_none_or(|c| loads.get(p.key()).copied().unwrap_or(0) < i64::from(c)))
        }))
    }

    /// Give `task` to someone else of its role by the role's strategy (`from`
    /// passed over: its owner-strategy colleague covers); when nobody can take
    /// it, to the role's queue if `or_queue` (its holder cannot do it), else it
    /// stays. Recorded; 1 when it moved.
    fn move_task(
        &self,
        task: &Task,
        from: Option<&Person>,
        reason: &str,
        today: NaiveDate,
        or_queue: bool,
    ) -> Result<u64> {
        let due = crate::event::parse_date(&task.due_at).unwrap_or(today);
        let region = self.subject_region(&task.subject)?;
        let owner = from.map(Person::key);
        let owners = [owner];
        let by_owner = self.config.roles.get(&task.role).is_some_and(|r| r.assign == Strategy::Owner);
        let need = Need {
            role: &task.role,
            named: None,
            owners: if by_owner { &owners } else { &[] },
            region: region.as_deref(),
            today,
            due: Due::On(due),
        };
        let Ok(Assigned { who, why, .. }) = crate::assign::assignee(self.config, self.store, &need)? else {
            return Ok(0);
        };
        if who == task.assignee || (who.is_none() && !or_queue) {
            // Nobody else can take it: it stays where it is.
            return Ok(0);
        }
        self.store.reassign_task(task.id, who.as_deref())?;
        let detail = json!({"from": task.assignee, "to": who, "assignment": why});
        self.record_move(task, reason, detail, today)?;
        Ok(1)
    }

    /// Keep `task` for `p`, who is away: due on their first working day back.
    fn keep_for(&self, task: &Task, p: &Person, due: NaiveDate, today: NaiveDate, reason: &str) -> Result<u64> {
        let back = crate::assign::back_due(self.config, p, today, due);
        if back == due {
            return Ok(0);
        }
        self.store.set_task_due(task.id, &back.to_string())?;
        let reason = format!("{reason}: kept for them (while_away = \"wait\"), due {back} instead of {due}");
        let detail = json!({"from": task.assignee, "to": task.assignee, "due_from": due.to_string(), "due_to": back.to_string()});
        self.record_move(task, &reason, detail, today)?;
        Ok(1)
    }

    /// Record a move made on `today`, stamped in business time like every
    /// other decision: the day's start, or the task's creation when that is
    /// later, so a task's story reads in order beside the events that made it.
    fn record_move(&self, task: &Task, reason: &str, detail: Value, today: NaiveDate) -> Result<()> {
        let start = crate::time::start_of_day(today);
        let at = crate::time::parse_time(&task.created_at).filter(|c| *c > start).unwrap_or(start);
        let d = Decision {
            kind: DecisionKind::TaskRerouted,
            subject: Subject::new("task", &task.id.to_string()),
            rule: None,
            reason: reason.to_string(),
            detail,
            event_id: String::new(),
            at: crate::time::stamp(at),
        };
        self.store.record_decision(&d, &self.rules.version)
    }

    /// The region of a task's subject: its account's, else the lead's.
    fn subject_region(&self, s: &Subject) -> Result<Option<String>> {
        let region =
            |data: &serde_json::Map<String, Value>| data.get("region").and_then(Value::as_str).map(str::to_string);
        Ok(match s.kind.as_str() {
            "account" => self.store.shared_account(&s.id)?.and_then(|a| region(&a.data)),
            "deal" => match self.store.shared_deal(&s.id)? {
                Some(d) => self.store.shared_account(&d.account_id)?.and_then(|a| region(&a.data)),
                None => None,
            },
            "lead" => self.store.lead(&s.id)?.and_then(|l| region(&l.data)),
            _ => None,
        })
    }
}
