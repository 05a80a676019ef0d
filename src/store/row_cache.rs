//! Account and deal rows kept in memory between reads: rules ask for the
//! same account and deal many times per event and across the events of a
//! batch, and each read would otherwise parse the row's JSON again. The
//! accounts' ledgers ([`super::ledger`]) and the deals' activities
//! ([`super::deal_activity`]) live and die with them.
//!
//! The cache never serves a row SQLite would not: every write of these rows
//! goes through [`Store::save_account`](super::Store::save_account),
//! [`Store::touch_last_contact`](super::Store::touch_last_contact) and
//! [`Store::save_deal`](super::Store::save_deal), which update it; a rollback
//! empties it; and a commit by another connection (another dealflow process)
//! is seen through `PRAGMA data_version` before the cache is trusted again.

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::{Account, Deal};

/// Rows kept per kind; past it the cache starts afresh (cheap, and the
/// working set of a batch refills it).
const MAX_ROWS: usize = 4_000;

#[derive(Default)]
pub(super) struct RowCache {
    accounts: HashMap<String, Arc<Account>>,
    deals: HashMap<String, Arc<Deal>>,
    /// `PRAGMA data_version` when the rows were read: another connection's commit changes it.
    data_version: Option<Option<i64>>,
    /// Accounts' ledgers, trusted and emptied with the rows.
    pub(super) ledgers: super::ledger::Ledgers,
    /// Deals' activities added up, likewise.
    pub(super) deal_activity: super::deal_activity::DealActivities,
}

impl RowCache {
    pub(super) fn clear(&mut self) {
        self.accounts.clear();
        self.deals.clear();
        self.ledgers.clear();
        self.deal_activity.clear();
    }

    /// Trust the rows only if nobody else committed since they were read.
    pub(super) fn check_version(&mut self, now: Option<i64>) {
        if self.data_version != Some(now) {
            self.clear();
            self.data_version = Some(now);
        }
    }

    /// The row, shared: readers that change it clone it first.
    pub(super) fn account(&self, id: &str) -> Option<Arc<Account>> {
        self.accounts.get(id).cloned()
    }

    pub(super) fn deal(&self, id: &str) -> Option<Arc<Deal>> {
        self.deals.get(id).cloned()
    }

    /// A row just read from SQLite.
    pub(super) fn keep_account(&mut self, a: &Arc<Account>) {
        if self.accounts.len() >= MAX_ROWS {
            self.accounts.clear();
        }
        self.accounts.insert(a.id.clone(), a.clone());
    }

    pub(super) fn keep_deal(&mut self, d: &Arc<Deal>) {
        if self.deals.len() >= MAX_ROWS {
            self.deals.clear();
        }
        self.deals.insert(d.id.clone(), d.clone());
    }

    /// A row just written. An upsert keeps the stored `created_at`, so only
    /// a row already known (whose `created_at` is known) is kept; others are
    /// read again next time.
    pub(super) fn saved_account(&mut self, a: &Account) {
        if let Some(known) = self.accounts.get_mut(&a.id) {
            let mut row = a.clone();
            row.created_at = known.created_at.clone();
            *known = Arc::new(row);
        }
    }

    /// An account's `last_contact` just written.
    pub(super) fn contacted(&mut self, id: &str, at: &str) {
        if let Some(known) = self.accounts.get_mut(id) {
            Arc::make_mut(known).last_contact = Some(at.to_string());
        }
    }

    pub(super) fn saved_deal(&mut self, d: &Deal) {
        if let Some(known) = self.deals.get_mut(&d.id) {
            let mut row = d.clone();
            row.created_at = known.created_at.clone();
            *known = Arc::new(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str, owner: &str, created: &str) -> Account {
        Account { id: id.into(), owner: Some(owner.into()), created_at: created.into(), ..Account::default() }
    }

    #[test]
    fn a_write_updates_a_known_row_and_keeps_its_creation_time() {
        let mut c = RowCache::default();
        c.check_version(Some(1));
        c.keep_account(&Arc::new(account("A", "Ana", "day 1")));
        c.saved_account(&account("A", "Ben", "day 9"));
        let a = c.account("A").unwrap();
        assert_eq!((a.owner.as_deref(), a.created_at.as_str()), (Some("Ben"), "day 1"));
        // An unknown row is not guessed.
        c.saved_account(&account("B", "Ben", "day 9"));
        assert!(c.account("B").is_none());
    }

    #[test]
    fn another_writer_or_a_rollback_empties_it() {
        let mut c = RowCache::default();
        c.check_version(Some(1));
        c.keep_deal(&Arc::new(Deal { id: "D".into(), ..Deal::default() }));
        c.check_version(Some(1));
        assert!(c.deal("D").is_some());
        c.check_version(Some(2));
        assert!(c.deal("D").is_none());
        c.keep_deal(&Arc::new(Deal { id: "D".into(), ..Deal::default() }));
        c.clear();
        assert!(c.deal("D").is_none());
    }
}
