//! Who is in today and why tasks wait in a role's queue: what `status`
//! (and `/api/status`, and the start page) says about the team.
//!
//! "Today" is the business day re-balancing uses ([`business_today`]): the
//! day of the event applied last when someone has time off, else the wall clock's.

use chrono::NaiveDate;
use serde::Serialize;

use crate::config::{Config, Strategy};
use crate::error::Result;
use crate::store::Store;

/// Someone away on the day asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AwayToday {
    /// Their name as the team knows them.
    pub name: String,
    /// The time off the day falls in.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Their first day back (after time off that follows on, if any).
    pub back_on: NaiveDate,
}

/// The tasks of a role nobody has, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queue {
    pub role: String,
    /// Open tasks of the role assigned to nobody.
    pub waiting: i64,
    /// Why they wait, in a sentence.
    pub why: String,
    /// Active people of the role away today.
    pub away: usize,
    /// Active people of the role at their `max_open` (and not away).
    pub at_cap: usize,
    /// Active people of the role in today with room for more.
    pub with_room: usize,
}

/// The team on one business day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Today {
    pub today: NaiveDate,
    /// Active people away today, in the roster's order.
    pub away: Vec<AwayToday>,
    /// The roles with tasks waiting in their queue, by name.
    pub queues: Vec<Queue>,
}

impl Queue {
    /// Whether the queue waits on people (everyone of the role away or at their cap), not on a claim.
    pub fn waits_on_people(&self) -> bool {
        self.with_room == 0 && self.away + self.at_cap > 0
    }

    /// "2 sales_coordinator tasks wait in the queue: everyone of sales_coordinator is away".
    pub fn sentence(&self) -> String {
        let tasks = if self.waiting == 1 { "task waits" } else { "tasks wait" };
        format!("{} {} {tasks} in the queue: {}", self.waiting, self.role, self.why)
    }
}

impl Today {
    /// "away today (2026-07-13): Lea Novak until 2026-07-24", or `None` when everyone is in.
    pub fn away_sentence(&self) -> Option<String> {
        if self.away.is_empty() {
            return None;
        }
        let who: Vec<String> =
            self.away.iter().map(|a| format!("{} until {}", a.name, a.back_on.pred_opt().unwrap_or(a.to))).collect();
        Some(format!("away today ({}): {}", self.today, who.join(", ")))
    }
}

/// The business day re-balancing runs on outside a tick: the day of the
/// event applied last (a tick's, under `watch`), so a replay of history
/// re-balances as it did then, whatever the wall clock says; the wall
/// clock's when none is, or when nobody has time off (all the day is asked for).
pub fn business_today(config: &Config, store: &Store) -> Result<NaiveDate> {
    let now = chrono::Utc::now().date_naive();
    if config.team.iter().all(|p| p.away.is_empty()) {
        return Ok(now);
    }
    let latest = store.last_applied_at()?;
    Ok(latest.and_then(|t| crate::time::parse_time(&t)).map_or(now, |t| t.date_naive()))
}

/// Who is away on `today`, and each queue with tasks in it and why.
pub fn on(config: &Config, store: &Store, today: NaiveDate) -> Result<Today> {
    let away = config
        .team
        .iter()
        .filter(|p| p.active)
        .filter_map(|p| {
            let a = p.away_on(today)?;
            Some(AwayToday { name: config.person_label(p.key()), from: a.from, to: a.to, back_on: p.back_on(today) })
        })
        .collect();
    let mut queues = Vec::new();
    for crate::store::backend::RoleCount { role, open } in store.open_tasks_by_role()? {
        // Open and claimed tasks of the role, less those someone has: the queue.
        let loads = crate::assign::loads(config, store, &role)?;
        let waiting = open - loads.values().sum::<i64>();
        if waiting <= 0 {
            continue;
        }
        let (mut away, mut at_cap, mut with_room) = (0, 0, 0);
        for p in config.team.iter().filter(|p| p.active && p.has_role(&role)) {
            let load = loads.get(p.key()).copied().unwrap_or(0);
            if p.away_on(today).is_some() {
                away += 1;
            } else if p.membership(&role).and_then(|m| m.max_open).is_some_and(|c| load >= i64::from(c)) {
                at_cap += 1;
            } else {
                with_room += 1;
            }
        }
        let strategy = config.roles.get(&role).map(|r| r.assign).unwrap_or_default();
        let why = match (away, at_cap, with_room) {
            (0, 0, 0) => format!("nobody active is {}", crate::assign::a_role(&role)),
            (_, 0, 0) => format!("everyone of {role} is away"),
            (0, _, 0) => format!("everyone of {role} is at their cap (max_open)"),
            (a, c, 0) => format!("everyone of {role} is at their cap or away ({a} away, {c} at their cap)"),
            _ if strategy == Strategy::Owner => {
                "they had no owner who could take them: anyone of the role may claim them".to_string()
            }
            _ => "nobody of the role could take them when they came: whoever has room gets them at the next \
                  command that applies events"
                .to_string(),
        };
        queues.push(Queue { role, waiting, why, away, at_cap, with_room });
    }
    Ok(Today { today, away, queues })
}
