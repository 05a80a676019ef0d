//! The clock: on a `clock.tick`, find what became due since the last tick and
//! let the rules react to each, as a time event of its own:
//!
//! * `deal.stuck`: an open deal stayed in its stage longer than
//!   `pipeline.stage_days` allows; again each time that many days pass;
//! * `account.quiet`: a key account without contact for
//!   `clock.quiet_account_days`; again each time that many days pass;
//! * `contract.ending`: a contract ends within `clock.contract_notice_days`;
//! * `task.overdue`: an open task is `clock.overdue_after_days` past its due date;
//! * `target.behind`: an account's revenue from a product this period is
//!   below `clock.target_behind_share` of its target pro-rated to date
//!   (checked once a day).
//!
//! Each tick also reviews the key accounts whose facts time alone changed
//! since the last review (found through indexes too): a key account with an
//! order or a won deal that left the 12-month window, an account with a
//! contract that began or ended. The key-account rules run on each again,
//! so revenue that aged out or a contract that ended ends key status, and a
//! long contract that starts makes an account key, without an event about
//! the account. (A key rule that reads another fact time changes, such as
//! `days_since_contact`, is not re-run by time alone.)
//!
//! Each time event carries `since`, the day its condition began: task rules
//! fire once per such episode unless they ask for `every_days`. Only what
//! crossed a threshold since it was last swept is emitted (found through
//! indexes), so a tick costs what is due, and the same tick twice emits
//! nothing. "Since it was last swept" is per change ([`super::sweeps`]): a
//! fact recorded after the last tick is swept from its start by the next
//! tick, even when its business time is older (history imported after
//! `watch` or `run` ticked at wall-clock time); a tick older than the last
//! one sweeps only what was not swept up to its time yet.
//!
//! A tick is applied as a transaction of its own, not in a savepoint inside
//! a batch like other events ([`Engine::apply_in_transaction`]): it can make
//! tens of thousands of changes, and inside one savepoint each SQLite
//! statement that writes pays, when it ends, for all the savepoint holds so
//! far (the in-memory savepoint journal is a list of 1 KiB chunks that
//! SQLite walks from its start to cut off the statement's part): a large
//! tick cost the square of its work.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::sweeps::{Range, Sweeps};
use super::{Applied, Engine, Run, Trigger};
use crate::error::Result;
use crate::event::Event;
use crate::time::{period_range, stamp};

/// What the tick's sweeps covered, and up to when (see [`super::sweeps`]).
const SWEEPS: &str = "sweeps";
/// Likewise for the review of key accounts (absent: never, so the first
/// review, also of a store that ticked before the review existed, looks at
/// everything up to now).
const KEY_REVIEW_SWEEPS: &str = "key_review_sweeps";

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// How many whole `every`-day periods have passed from `from` to `to`.
fn periods(from: DateTime<Utc>, to: DateTime<Utc>, every: u32) -> i64 {
    if to <= from { 0 } else { (to - from).num_seconds() / (i64::from(every) * 86_400) }
}

/// How many `every`-day periods have passed since `from` at `now`, when
/// that number grew since `last` (a threshold was crossed in between).
fn crossed(from: DateTime<Utc>, now: DateTime<Utc>, last: Option<DateTime<Utc>>, every: u32) -> Option<i64> {
    let times = periods(from, now, every);
    let before = last.map(|l| periods(from, l, every)).unwrap_or(0);
    (times >= 1 && times > before).then_some(times)
}

fn event(kind: &str, at: DateTime<Utc>, fields: Value) -> Trigger {
    let data: Map<String, Value> = fields.as_object().cloned().unwrap_or_default();
    Trigger { tasks_only: true, ..Trigger::new("", kind, at, data) }
}

impl Engine<'_> {
    /// Apply one event directly in the caller's transaction, without a
    /// savepoint of its own (SQLite copies every page an event touches into
    /// a savepoint's journal, a tenth of an ordinary event's cost and far more
    /// for a large tick). If this returns an error, part of the event may be
    /// written: the caller rolls the whole transaction back. `Rejected` means
    /// nothing was written (an event that is refused after writing is an
    /// error here, so the caller undoes it).
    pub fn apply_in_transaction(&self, event: &Event, source: &str, line: usize) -> Result<Applied> {
        if let Some(seen) = self.seen_before(event)? {
            return Ok(seen);
        }
        let before = self.store.total_changes();
        let applied = self.apply_inner(event, source, line)?;
        if matches!(applied, Applied::Rejected(_)) && self.store.total_changes() != before {
            return Err(self.store.fault(format!("event {} was refused after part of it was written", event.id)));
        }
        Ok(applied)
    }

    fn sweeps(&self, key: &str) -> Result<Sweeps> {
        Sweeps::parse(self.store.meta(key)?.as_deref()).map_err(|e| self.store.fault(e))
    }

    pub(super) fn clock(&self, t: &Trigger, run: &mut Run) -> Result<()> {
        let now = t.at;
        // Time off starts and ends without a config change: the tick's day says who is in.
        run.counts.tasks_moved += self.rebalance(now.date_naive())?;
        // What changed since the last tick, and what this tick changes, is in this generation.
        let epoch = self.store.sweep_epoch()?;
        let last_task = self.store.max_task_id()?;
        // First, so what is due below sees key status as it is now.
        self.review_key_accounts(now, epoch, last_task, run)?;
        let swept = self.sweeps(SWEEPS)?;
        let mut due = Vec::new();
        self.stuck_deals(now, &swept, &mut due)?;
        self.quiet_accounts(now, &swept, &mut due)?;
        self.ending_contracts(now, &swept, &mut due)?;
        self.overdue_tasks(now, &swept, &mut due)?;
        self.targets_behind(now, &swept, &mut due)?;
        self.store.set_meta(SWEEPS, &swept.advanced(now, epoch, last_task).to_text())?;
        // Each time event is a reaction chain of its own.
        for trigger in due {
            run.chain.reset();
            run.push(trigger);
            self.react_to_pending(run)?;
        }
        // What is set from here on is in the next generation, swept by the next tick.
        self.store.set_sweep_epoch(epoch + 1)
    }

    /// Run the key-account rules again on each account whose facts time
    /// alone changed since they were last reviewed; each is a reaction chain
    /// of its own.
    fn review_key_accounts(&self, now: DateTime<Utc>, epoch: i64, last_task: i64, run: &mut Run) -> Result<()> {
        let swept = self.sweeps(KEY_REVIEW_SWEEPS)?;
        let mut accounts = std::collections::BTreeSet::new();
        for Range { epochs, swept: last, .. } in swept.ranges() {
            if last.is_some_and(|l| l >= now) {
                continue;
            }
            let left_after = last.map(crate::time::year_before);
            let last_day = last.map(|l| l.date_naive().to_string());
            accounts.extend(self.store.accounts_to_review(
                left_after.as_deref(),
                &crate::time::year_before(now),
                last_day.as_deref(),
                &now.date_naive().to_string(),
                epochs,
            )?);
        }
        self.store.set_meta(KEY_REVIEW_SWEEPS, &swept.advanced(now, epoch, last_task).to_text())?;
        for id in accounts {
            run.chain.reset();
            run.derived += 1;
            let mut t = Trigger::new(&format!("{}#{}", run.root, run.derived), "account.key_review", now, Map::new());
            t.data.insert("account_id".into(), json!(id));
            t.account = Some(id.clone());
            self.decide_key(&t, &id, run)?;
            self.react_to_pending(run)?;
        }
        Ok(())
    }

    fn stuck_deals(&self, now: DateTime<Utc>, swept: &Sweeps, due: &mut Vec<Trigger>) -> Result<()> {
        for (stage, &limit) in &self.config.pipeline.stage_days {
            if self.config.pipeline.is_closed(stage) {
                continue;
            }
            let by = stamp(now - Duration::days(i64::from(limit)));
            for crate::store::backend::DealInStage { deal_id: id, account_id: account, entered_at: entered, epoch } in
                self.store.deals_in_stage_since(stage, &by)?
            {
                let Some(entered_at) = parse_time(&entered) else { continue };
                let Some(times) = crossed(entered_at, now, swept.of_epoch(epoch), limit) else { continue };
                let since = (entered_at + Duration::days(i64::from(limit))).date_naive();
                let mut e = event(
                    "deal.stuck",
                    now,
                    json!({"deal_id": id, "account_id": account, "stage": stage, "days_in_stage": (now - entered_at).num_days(),
                           "limit_days": limit, "times": times, "since": since.to_string()}),
                );
                e.deal = Some(id);
                e.account = Some(account);
                due.push(e);
            }
        }
        Ok(())
    }

    fn quiet_accounts(&self, now: DateTime<Utc>, swept: &Sweeps, due: &mut Vec<Trigger>) -> Result<()> {
        let days = self.config.clock.quiet_account_days;
        if days == 0 {
            return Ok(());
        }
        for crate::store::backend::QuietAccount { account_id: id, quiet_since: quiet, key_since, epoch } in
            self.store.quiet_key_accounts(&stamp(now - Duration::days(i64::from(days))))?
        {
            let Some(from) = parse_time(&quiet) else { continue };
            // Not key when it was last swept: nothing was emitted for it then.
            let was_key = |l: &DateTime<Utc>| parse_time(&key_since).is_some_and(|k| k <= *l);
            let Some(times) = crossed(from, now, swept.of_epoch(epoch).filter(was_key), days) else { continue };
            let since = (from + Duration::days(i64::from(days))).date_naive();
            let mut e = event(
                "account.quiet",
                now,
                json!({"account_id": id, "last_contact": quiet, "days_since_contact": (now - from).num_days(),
                       "limit_days": days, "times": times, "since": since.to_string()}),
            );
            e.account = Some(id);
            due.push(e);
        }
        Ok(())
    }

    fn ending_contracts(&self, now: DateTime<Utc>, swept: &Sweeps, due: &mut Vec<Trigger>) -> Result<()> {
        let days = self.config.clock.contract_notice_days;
        if days == 0 {
            return Ok(());
        }
        let notice = Duration::days(i64::from(days));
        let today = now.date_naive();
        let until = (today + notice).to_string();
        for crate::store::backend::ContractEnding { contract_id: id, account_id: account, end, epoch } in
            self.store.contracts_ending(&until, &today.to_string())?
        {
            let Some(end_date) = crate::event::parse_date(&end) else { continue };
            // Its notice began after it was last swept (or it was never swept: signed since).
            if swept.of_epoch(epoch).is_some_and(|l| end_date <= l.date_naive() + notice) {
                continue;
            }
            let mut e = event(
                "contract.ending",
                now,
                json!({"contract_id": id, "account_id": account, "end": end, "days_left": (end_date - today).num_days(),
                       "notice_days": days, "since": (end_date - notice).to_string()}),
            );
            e.account = Some(account);
            due.push(e);
        }
        Ok(())
    }

    fn overdue_tasks(&self, now: DateTime<Utc>, swept: &Sweeps, due: &mut Vec<Trigger>) -> Result<()> {
        // A task due on day D is overdue from D + 1 + grace: emit those whose
        // day fell after they were last swept, up to now.
        let grace = Duration::days(i64::from(self.config.clock.overdue_after_days) + 1);
        let today = now.date_naive();
        let before = (today - grace + Duration::days(1)).to_string();
        let mut ids = Vec::new();
        for Range { tasks, swept: last, .. } in swept.ranges() {
            if last.is_some_and(|l| l >= now) {
                continue;
            }
            let from = last.map(|l| (l.date_naive() - grace + Duration::days(1)).to_string());
            ids.extend(self.store.tasks_due_between(from.as_deref(), &before, tasks)?);
        }
        for id in ids {
            let Some(task) = self.store.task(id)? else { continue };
            let Some(due_date) = crate::event::parse_date(&task.due_at) else { continue };
            let mut e = event(
                "task.overdue",
                now,
                json!({"task_id": id, "task": task, "days_overdue": (today - due_date).num_days(),
                       "since": (due_date + grace).to_string()}),
            );
            self.about_task_subject(&mut e, &task.subject)?;
            due.push(e);
        }
        Ok(())
    }

    /// Targets behind plan, each checked once a day.
    fn targets_behind(&self, now: DateTime<Utc>, swept: &Sweeps, due: &mut Vec<Trigger>) -> Result<()> {
        let today = now.date_naive();
        let share = self.config.clock.target_behind_share;
        for crate::store::TargetRow { account_id: account, product, period, amount, epoch } in
            self.store.all_targets()?
        {
            if swept.of_epoch(epoch).is_some_and(|l| l.date_naive() >= today) {
                continue;
            }
            let Some((start, end)) = period_range(&period) else { continue };
            if today < start || today > end {
                continue;
            }
            let elapsed = (today - start).num_days() as f64 + 1.0;
            let length = (end - start).num_days() as f64 + 1.0;
            let expected = amount * elapsed / length;
            let from = stamp(start.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
            let achieved = self.store.product_revenue(&account, &product, &from, &stamp(now))?;
            if achieved >= expected * share {
                continue;
            }
            let mut e = event(
                "target.behind",
                now,
                json!({"account_id": account, "product": product, "period": period, "target": amount,
                       "expected_to_date": expected.round(), "achieved": achieved, "since": start.to_string()}),
            );
            e.account = Some(account);
            due.push(e);
        }
        Ok(())
    }
}
