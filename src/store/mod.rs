//! The store: the working set the engine reads and writes, over a storage
//! backend ([`backend::Backend`]: SQLite by default, or in memory).
//!
//! The working set keeps what rules ask for on nearly every event in memory
//! between events, the same for every backend: account and deal rows
//! ([`row_cache`]), each account's ledger of the rows its key-account facts
//! are made of ([`ledger`]), each deal's activities added up
//! ([`deal_activity`]). The facts are defined here, by dealflow: a backend
//! only loads and saves rows. Whatever the working set does not keep, it
//! asks the backend for, through `Deref` (`store.tasks(..)` is the backend's).
//!
//! Writes happen inside a unit of work, a value: [`Store::begin`] gives a
//! [`Unit`], committed by [`Unit::commit`] and rolled back when dropped
//! uncommitted; [`Store::nested`] gives a [`Nested`] unit inside it (one
//! event's own undo). Kept rows are dropped when a unit is rolled back, and
//! when another process committed since they were read (the backend's
//! [`change_token`](backend::Backend::change_token)).

pub mod backend;
mod deal_activity;
pub mod deliveries;
pub mod lease;
mod ledger;
mod location;
pub mod memory;
pub mod outbox;
pub mod postgres;
mod row_cache;
pub mod sqlite;
#[cfg(test)]
mod suite;

pub use backend::MAX_CLAIM_BATCH;
pub use backend::{
    AppliedBefore, Backend, DecisionRow, EventRow, LeaseRow, ProcessRow, Pruned, RejectedRow, RuleHealth,
    StoredVersion, TargetRow, TaskFilter, TaskStatus, WaitingHandover,
};
pub use deliveries::{
    DeliveryCounts, DeliveryFilter, DeliveryRow, DeliveryState, NewDelivery, Recorded, WebhookSource,
};
pub use location::{Location, is_postgres_url};

use std::cell::{RefCell, RefMut};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::event::Event;
use crate::model::{Account, AccountStats, Contract, Deal, DealStats, Target, Task};
use backend::{ActivityRow, OrderRow, OrderWrite};
use ledger::{Ledger, time_key};

/// The `meta` key of the latest prune's stamp.
const PRUNED_BEFORE: &str = "pruned_before";

pub struct Store {
    backend: Box<dyn Backend>,
    rows: RefCell<row_cache::RowCache>,
}

impl std::ops::Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &Self::Target {
        &*self.backend
    }
}

/// Fields of `patch` laid over `base`: an upsert changes what it names and keeps the rest.
pub fn merge(base: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        base.insert(k.clone(), v.clone());
    }
}

impl Store {
    /// The working set over `backend`.
    pub fn over(backend: Box<dyn Backend>) -> Store {
        Store { backend, rows: Default::default() }
    }

    /// Open (creating if needed) and migrate the SQLite database at `path`.
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Store> {
        Ok(Store::over(Box::new(sqlite::Sqlite::open(path, busy_timeout)?)))
    }

    /// Open an existing SQLite database (see [`sqlite::Sqlite::open_existing`]).
    pub fn open_existing(path: &Path, busy_timeout: Duration) -> Result<Store> {
        Ok(Store::over(Box::new(sqlite::Sqlite::open_existing(path, busy_timeout)?)))
    }

    /// Open an existing SQLite database for reading only.
    pub fn open_read_only(path: &Path, busy_timeout: Duration) -> Result<Store> {
        Ok(Store::over(Box::new(sqlite::Sqlite::open_read_only(path, busy_timeout)?)))
    }

    /// Connect to the PostgreSQL database at `url` and migrate it (see
    /// [`postgres::Postgres::open`]); a unit waits up to `busy_timeout` for another process's.
    pub fn open_postgres(url: &str, busy_timeout: Duration) -> Result<Store> {
        let backend = postgres::Postgres::open(url)?;
        backend.set_busy_timeout(busy_timeout)?;
        Ok(Store::over(Box::new(backend)))
    }

    /// A store in memory, empty: nothing is written to disk (simulate, rule tests, bench).
    pub fn memory() -> Store {
        Store::over(Box::new(memory::Memory::new()))
    }

    /// A store in memory for replaying history: it keeps no event text and no
    /// decisions (see [`memory::Memory::for_replay`]).
    pub fn replay() -> Store {
        Store::over(Box::new(memory::Memory::for_replay()))
    }

    pub fn path(&self) -> &Path {
        self.backend.location()
    }

    pub fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    /// Begin a unit of work. A busy database is reported here, not half-way through it.
    pub fn begin(&self) -> Result<Unit<'_>> {
        self.backend.begin_unit()?;
        // The unit holds other writers off: rows kept before are good if nobody committed since.
        let token = self.backend.change_token()?;
        self.rows.borrow_mut().check_version(token);
        Ok(Unit { store: self, open: true })
    }

    /// Prune what is older than `before` (a UTC stamp; see [`Backend::prune`])
    /// in a unit of its own, and remember the latest such stamp
    /// ([`Store::pruned_before`]), so `explain` says history before it was
    /// pruned. With `dry_run`, only count: nothing is changed.
    pub fn prune(&self, before: &str, dry_run: bool) -> Result<backend::Pruned> {
        let unit = self.begin()?;
        let pruned = self.backend.prune(before, dry_run)?;
        if dry_run {
            return Ok(pruned);
        }
        let earlier = self.backend.meta(PRUNED_BEFORE)?;
        if earlier.as_deref().is_none_or(|e| e < before) {
            self.backend.set_meta(PRUNED_BEFORE, before)?;
        }
        unit.commit()?;
        Ok(pruned)
    }

    /// Before when history was pruned (the latest `dealflow prune`), if ever.
    pub fn pruned_before(&self) -> Result<Option<String>> {
        self.backend.meta(PRUNED_BEFORE)
    }

    /// A unit nested in the open one, undone alone.
    pub fn nested(&self) -> Result<Nested<'_>> {
        self.backend.begin_nested()?;
        Ok(Nested { store: self, open: true })
    }

    /// The kept rows, checked against other writers when no unit holds them off.
    fn cached_rows(&self) -> Result<RefMut<'_, row_cache::RowCache>> {
        if !self.backend.in_unit() {
            let token = self.backend.change_token()?;
            self.rows.borrow_mut().check_version(token);
        }
        Ok(self.rows.borrow_mut())
    }

    fn forget_rows(&self) {
        self.rows.borrow_mut().clear();
    }

    pub fn account(&self, id: &str) -> Result<Option<Account>> {
        Ok(self.shared_account(id)?.map(Arc::unwrap_or_clone))
    }

    /// The account's row as the working set shares it, for readers that do not change it.
    pub fn shared_account(&self, id: &str) -> Result<Option<Arc<Account>>> {
        if let Some(a) = self.cached_rows()?.account(id) {
            return Ok(Some(a));
        }
        let found = self.backend.load_account(id)?.map(Arc::new);
        if let Some(a) = &found {
            self.cached_rows()?.keep_account(a);
        }
        Ok(found)
    }

    /// Insert or update an account; `data` is the already-merged JSON.
    pub fn save_account(&self, a: &Account, now: &str) -> Result<()> {
        self.backend.write_account(a, now)?;
        self.cached_rows()?.saved_account(a);
        Ok(())
    }

    /// Note contact with the account at `at`, unless a later contact is known.
    pub fn touch_last_contact(&self, id: &str, at: &str) -> Result<()> {
        if self.backend.write_last_contact(id, at)? {
            self.cached_rows()?.contacted(id, at);
        }
        Ok(())
    }

    pub fn save_contact(
        &self,
        id: &str,
        account_id: &str,
        role: &str,
        data: &Map<String, Value>,
        now: &str,
    ) -> Result<()> {
        let before = self.backend.write_contact(id, account_id, role, data, now)?;
        let mut rows = self.cached_rows()?;
        match &before {
            None => rows.deal_activity.contact_saved(id, true),
            Some(b) if b.role != role || b.account_id != account_id => rows.deal_activity.contact_saved(id, false),
            Some(_) => {}
        }
        if let Some(b) = &before {
            rows.ledgers.change(&b.account_id, |l| {
                l.drop_contact(&b.role);
                true
            });
        }
        rows.ledgers.change(account_id, |l| {
            l.contact(role);
            true
        });
        Ok(())
    }

    pub fn deal(&self, id: &str) -> Result<Option<Deal>> {
        Ok(self.shared_deal(id)?.map(Arc::unwrap_or_clone))
    }

    /// The deal's row as the working set shares it, for readers that do not change it.
    pub fn shared_deal(&self, id: &str) -> Result<Option<Arc<Deal>>> {
        if let Some(d) = self.cached_rows()?.deal(id) {
            return Ok(Some(d));
        }
        let found = self.backend.load_deal(id)?.map(Arc::new);
        if let Some(d) = &found {
            self.cached_rows()?.keep_deal(d);
        }
        Ok(found)
    }

    /// Insert or update a deal; `is_open`/`is_won` follow from its stage in the pipeline.
    pub fn save_deal(&self, d: &Deal, is_open: bool, is_won: bool, now: &str) -> Result<()> {
        // What it replaced matters only to a kept ledger.
        let want_before = !self.cached_rows()?.ledgers.is_empty();
        let before = self.backend.write_deal(d, is_open, is_won, now, want_before)?;
        let mut rows = self.cached_rows()?;
        rows.saved_deal(d);
        rows.deal_activity.deal_saved(&d.id, &d.account_id, d.life_started_at.as_deref());
        if let Some(b) = before {
            rows.ledgers.change(&b.account_id, |l| {
                l.drop_deal(&d.id, b.was_won);
                true
            });
        }
        rows.ledgers.change(&d.account_id, |l| l.deal(&d.id, is_open, is_won, d.closed_at.as_deref(), d.amount));
        Ok(())
    }

    /// Store an `activity.logged` event's activity.
    pub fn save_activity(&self, e: &Event) -> Result<()> {
        let (deal, contact, kind) = (e.str("deal_id"), e.str("contact_id"), e.str("kind"));
        let row = ActivityRow {
            id: e.str("id"),
            account_id: e.str("account_id"),
            deal_id: deal,
            contact_id: contact,
            kind,
            at: crate::time::stamp(e.at),
            data: &e.data,
        };
        if !self.backend.write_activity(&row)? {
            // Sent again, and it may now be about another deal: rare, so every deal's sum is read again.
            self.cached_rows()?.deal_activity.clear();
            return Ok(());
        }
        let Some(deal) = deal else { return Ok(()) };
        if !self.cached_rows()?.deal_activity.has(deal) {
            return Ok(());
        }
        let known = match contact {
            Some(c) => self.backend.contact_role(c)?,
            None => None,
        };
        let known = known.as_ref().map(|k| (k.role.as_str(), k.account_id.as_str()));
        self.cached_rows()?.deal_activity.add(deal, kind.unwrap_or_default(), &row.at, contact, known);
        Ok(())
    }

    pub fn save_order(
        &self,
        id: &str,
        account_id: &str,
        amount: f64,
        product: Option<&str>,
        at: &str,
        data: &Map<String, Value>,
    ) -> Result<()> {
        match self.backend.write_order(&OrderRow { id, account_id, amount, product, at, data })? {
            OrderWrite::Inserted => self.cached_rows()?.ledgers.change(account_id, |l| l.order(at, amount)),
            OrderWrite::Updated { was_account } => {
                // An order sent again keeps its time and may change account.
                // Rare: the ledgers it touches are read again next time.
                let mut rows = self.cached_rows()?;
                for account in was_account.iter().map(String::as_str).chain([account_id]) {
                    rows.ledgers.forget(account);
                }
            }
        }
        Ok(())
    }

    /// Insert or update a contract; `recorded_at` is the business time it was recorded.
    pub fn save_contract(
        &self,
        account_id: &str,
        c: &Contract,
        data: &Map<String, Value>,
        recorded_at: &str,
    ) -> Result<()> {
        let want_before = !self.cached_rows()?.ledgers.is_empty();
        let before = self.backend.write_contract(account_id, c, data, recorded_at, want_before)?;
        let mut rows = self.cached_rows()?;
        if let Some(account) = before {
            rows.ledgers.change(&account, |l| {
                l.drop_contract(&c.id);
                true
            });
        }
        rows.ledgers.change(account_id, |l| {
            l.contract(c);
            true
        });
        Ok(())
    }

    pub fn save_target(&self, account_id: &str, product: &str, period: &str, amount: f64, at: &str) -> Result<()> {
        self.backend.write_target(account_id, product, period, amount, at)?;
        self.cached_rows()?.ledgers.change(account_id, |l| {
            l.target(&Target { product: product.into(), period: period.into(), amount });
            true
        });
        Ok(())
    }

    /// Derived facts of an account at business time `at`; `since` is `at` minus twelve months.
    /// Read from the account's ledger in memory, loaded the first time.
    pub fn account_stats(&self, account: &Account, since: &str, at: &str) -> Result<AccountStats> {
        let parent_is_key = match &account.parent_id {
            Some(p) => self.shared_account(p)?.is_some_and(|p| p.is_key),
            None => false,
        };
        let id = account.id.as_str();
        let (Some(since_key), Some(at_key)) = (time_key(since), time_key(at)) else {
            return Ok(ledger::stats_from_rows(&self.backend.ledger_rows(id, "")?, since, at, parent_is_key));
        };
        if let Some(stats) = self.cached_rows()?.ledgers.get(id).and_then(|l| l.stats(since_key, at_key, parent_is_key))
        {
            return Ok(stats);
        }
        let rows = self.backend.ledger_rows(id, since)?;
        match Ledger::from_rows(&rows, since_key) {
            Some(ledger) => {
                let mut kept = self.cached_rows()?;
                let stats = kept.ledgers.keep(id, ledger).stats(since_key, at_key, parent_is_key);
                Ok(stats.unwrap_or_default())
            }
            None => Ok(ledger::stats_from_rows(&rows, since, at, parent_is_key)),
        }
    }

    /// Derived facts of a deal: its activities per kind, whether a decision
    /// maker of the deal's own account took part, the last one. Kept in
    /// memory once read.
    pub fn deal_stats(&self, deal_id: &str) -> Result<DealStats> {
        if let Some(stats) = self.cached_rows()?.deal_activity.stats(deal_id) {
            return Ok(stats);
        }
        let deal = self.shared_deal(deal_id)?;
        let account = deal.as_ref().map(|d| d.account_id.clone());
        // A reopened deal's facts are those of its current life.
        let since = deal.as_ref().and_then(|d| d.life_started_at.clone());
        let rows = self.backend.deal_activity_rows(deal_id, since.as_deref())?;
        let stats = deal_activity::stats_from_rows(&rows, account.as_deref());
        let contacts = rows.contacts.into_iter().map(|(c, known)| (c, known.map(|k| k.role))).collect();
        self.cached_rows()?.deal_activity.keep(deal_id, account.as_deref(), since.as_deref(), stats.clone(), contacts);
        Ok(stats)
    }

    /// Claim the most urgent open task of `role` for `who` (see [`Backend::claim_up_to`]).
    pub fn claim(&self, role: &str, who: &str, now: &str, lapsed_before: Option<&str>) -> Result<Option<Task>> {
        Ok(self.backend.claim_up_to(role, who, now, lapsed_before, 1)?.pop())
    }

    /// Every applied event as its JSON line, in the order it was applied.
    pub fn event_history(&self) -> Result<Vec<String>> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = self.backend.event_history_page(after, 10_000)?;
            let Some(&(last, _)) = page.last() else { return Ok(all) };
            after = last;
            all.extend(page.into_iter().map(|(_, body)| body));
        }
    }
}

/// A unit of work: what is written while it is open is kept only if it is
/// committed. Dropped uncommitted (an error, a panic), it is rolled back.
#[must_use = "a unit of work is rolled back when dropped: commit it"]
pub struct Unit<'s> {
    store: &'s Store,
    open: bool,
}

impl<'s> Unit<'s> {
    /// Keep what was written. A unit that cannot commit is rolled back.
    pub fn commit(mut self) -> Result<()> {
        self.open = false;
        let committed = self.store.backend.commit_unit();
        if committed.is_err() {
            self.store.forget_rows();
            let _ = self.store.backend.rollback_unit();
        }
        committed
    }

    /// Undo what was written, saying whether that worked (dropping undoes it too, silently).
    pub fn rollback(mut self) -> Result<()> {
        self.open = false;
        self.store.forget_rows();
        self.store.backend.rollback_unit()
    }

    pub fn store(&self) -> &'s Store {
        self.store
    }
}

impl Drop for Unit<'_> {
    fn drop(&mut self) {
        if self.open {
            self.store.forget_rows();
            let _ = self.store.backend.rollback_unit();
        }
    }
}

/// A unit nested in an open one: released into it, or undone alone (also when dropped).
#[must_use = "a nested unit is undone when dropped: release it"]
pub struct Nested<'s> {
    store: &'s Store,
    open: bool,
}

impl Nested<'_> {
    /// Keep what was written, as part of the enclosing unit. A nested unit
    /// that cannot be released (a backend may write its gathered rows then)
    /// is undone, so the enclosing unit holds all of it or nothing.
    pub fn release(mut self) -> Result<()> {
        self.open = false;
        let released = self.store.backend.release_nested();
        if released.is_err() {
            self.store.forget_rows();
            let _ = self.store.backend.rollback_nested();
        }
        released
    }

    /// Undo what was written since it began, saying whether that worked.
    pub fn rollback(mut self) -> Result<()> {
        self.open = false;
        self.store.forget_rows();
        self.store.backend.rollback_nested()
    }
}

impl Drop for Nested<'_> {
    fn drop(&mut self) {
        if self.open {
            self.store.forget_rows();
            let _ = self.store.backend.rollback_nested();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Account;

    fn owner(store: &Store, id: &str) -> Option<String> {
        store.account(id).unwrap().unwrap().owner
    }

    /// Another process's commit empties the kept rows: seen outside a unit and at the next begin.
    #[test]
    fn kept_rows_follow_another_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let (one, other) =
            (Store::open(&path, Duration::from_secs(1)).unwrap(), Store::open(&path, Duration::from_secs(1)).unwrap());
        let mut a = Account { id: "A".into(), created_at: "t0".into(), ..Account::default() };
        let mut hand = |store: &Store, who: &str| {
            a.owner = Some(who.into());
            let unit = store.begin().unwrap();
            store.save_account(&a, "t").unwrap();
            unit.commit().unwrap();
        };
        hand(&one, "Ana");
        assert_eq!(owner(&one, "A").as_deref(), Some("Ana"));
        hand(&other, "Dee");
        assert_eq!(owner(&one, "A").as_deref(), Some("Dee"));
        hand(&other, "Eve");
        let unit = one.begin().unwrap();
        assert_eq!(owner(&one, "A").as_deref(), Some("Eve"));
        assert_eq!(one.account("A").unwrap().unwrap().created_at, "t0");
        unit.commit().unwrap();
    }
}
