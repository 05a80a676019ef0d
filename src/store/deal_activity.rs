//! What each deal's activities add up to (activities per kind, the last one,
//! whether a buyer, technical or executive contact of the deal's own account
//! took part), kept in memory between events. Deal rules read it on every event about a deal; from SQL
//! it took three statements and a join each time.
//!
//! An entry is loaded the first time its deal is asked about, then kept
//! current by [`Store::save_activity`](super::Store::save_activity) (a new
//! activity adds to it). A contact whose role or account may have changed
//! makes the entries of the deals it took part in be read again, a deal that
//! moved to another account has its entry read again, and so does an
//! activity sent again (rare: every entry is dropped). The entries live and
//! die with the row cache (rollbacks, other processes' commits).

use std::collections::{HashMap, HashSet};

use super::backend::DealActivityRows;
use crate::model::DealStats;

/// A deal's activity facts from its rows; `account` is the deal's account
/// (only its own decision makers count).
pub(super) fn stats_from_rows(rows: &DealActivityRows, account: Option<&str>) -> DealStats {
    let decision_maker_met = rows.contacts.iter().any(|(_, known)| {
        known
            .as_ref()
            .is_some_and(|k| DECISION_ROLES.contains(&k.role.as_str()) && Some(k.account_id.as_str()) == account)
    });
    DealStats { activities: rows.per_kind.clone(), decision_maker_met, last_activity: rows.last_activity.clone() }
}

/// Deals kept; past it the cache starts afresh.
const MAX_DEALS: usize = 8_000;

/// The roles whose presence makes `decision_maker_met`, when the contact
/// belongs to the deal's account (another account's buyer decides nothing
/// about this deal).
pub(super) const DECISION_ROLES: [&str; 3] = ["buyer", "technical", "executive"];

#[derive(Debug, Clone, Default)]
pub(super) struct DealActivity {
    pub(super) stats: DealStats,
    /// The contacts the deal's activities named (known or not yet).
    pub(super) contacts: Vec<Box<str>>,
    /// The deal's account when the entry was read (`None`: the deal is not known).
    pub(super) account: Option<Box<str>>,
    /// The start of the deal's life the entry counts (`None`: its first life).
    pub(super) since: Option<Box<str>>,
}

impl DealActivity {
    /// One more activity of `kind` at `at`, naming `contact` (whose role, if
    /// known and the contact belongs to the deal's account, is `role`).
    pub(super) fn add(&mut self, kind: &str, at: &str, contact: Option<&str>, role: Option<&str>) {
        let s = &mut self.stats;
        match s.activities.binary_search_by(|(k, _)| k.as_str().cmp(kind)) {
            Ok(i) => s.activities[i].1 += 1,
            Err(i) => s.activities.insert(i, (kind.to_string(), 1)),
        }
        if s.last_activity.as_deref().is_none_or(|last| last < at) {
            s.last_activity = Some(at.to_string());
        }
        if role.is_some_and(|r| DECISION_ROLES.contains(&r)) {
            s.decision_maker_met = true;
        }
        if let Some(c) = contact
            && !self.contacts.iter().any(|k| &**k == c)
        {
            self.contacts.push(c.into());
        }
    }
}

#[derive(Default)]
pub(super) struct DealActivities {
    by_deal: HashMap<String, DealActivity>,
    /// Contacts named by a kept deal's activities before they were known.
    unknown: HashSet<Box<str>>,
}

impl DealActivities {
    pub(super) fn clear(&mut self) {
        self.by_deal.clear();
        self.unknown.clear();
    }

    pub(super) fn has(&self, deal: &str) -> bool {
        self.by_deal.contains_key(deal)
    }

    pub(super) fn stats(&self, deal: &str) -> Option<DealStats> {
        self.by_deal.get(deal).map(|e| e.stats.clone())
    }

    /// A new activity on `deal`, if its entry is kept; `known` is the
    /// named contact's role and account, if the contact is known.
    pub(super) fn add(&mut self, deal: &str, kind: &str, at: &str, contact: Option<&str>, known: Option<(&str, &str)>) {
        if let Some(e) = self.by_deal.get_mut(deal) {
            // An activity of an earlier life (one that arrives late) is not the current life's.
            if e.since.as_deref().is_some_and(|since| at < since) {
                return;
            }
            let role = known.filter(|(_, account)| e.account.as_deref() == Some(*account)).map(|(role, _)| role);
            e.add(kind, at, contact, role);
            if let (Some(c), None) = (contact, known) {
                self.unknown.insert(c.into());
            }
        }
    }

    /// An entry just loaded for a deal of `account` (`None`: the deal is not
    /// known): `contacts` are the contacts its activities named, with their
    /// roles where known.
    pub(super) fn keep(
        &mut self,
        deal: &str,
        account: Option<&str>,
        since: Option<&str>,
        stats: DealStats,
        contacts: Vec<(String, Option<String>)>,
    ) {
        if self.by_deal.len() >= MAX_DEALS {
            self.clear();
        }
        let mut entry = DealActivity {
            stats,
            contacts: Vec::with_capacity(contacts.len()),
            account: account.map(Into::into),
            since: since.map(Into::into),
        };
        for (c, role) in contacts {
            if role.is_none() {
                self.unknown.insert(c.as_str().into());
            }
            entry.contacts.push(c.into());
        }
        self.by_deal.insert(deal.to_string(), entry);
    }

    /// A contact was saved: `new` when it was not known before. Its role or
    /// account may have changed, so the deals it took part in are read again
    /// (a new one only matters to deals that named it before it was known).
    pub(super) fn contact_saved(&mut self, contact: &str, new: bool) {
        if new && !self.unknown.remove(contact) {
            return;
        }
        self.by_deal.retain(|_, e| !e.contacts.iter().any(|c| &**c == contact));
    }

    /// A deal was saved under `account`: an entry read for another account
    /// (or before the deal was known) is read again.
    pub(super) fn deal_saved(&mut self, deal: &str, account: &str, since: Option<&str>) {
        if self.by_deal.get(deal).is_some_and(|e| e.account.as_deref() != Some(account) || e.since.as_deref() != since)
        {
            self.by_deal.remove(deal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_activity_adds_its_kind_time_and_decision_maker() {
        let mut e = DealActivity::default();
        e.add("call", "2026-02-01", Some("P1"), Some("other"));
        e.add("meeting", "2026-01-01", Some("P2"), None);
        e.add("call", "2026-03-01", Some("P1"), Some("other"));
        assert_eq!(e.stats.activities, vec![("call".to_string(), 2), ("meeting".to_string(), 1)]);
        assert_eq!(e.stats.last_activity.as_deref(), Some("2026-03-01"));
        assert!(!e.stats.decision_maker_met);
        e.add("demo", "2026-03-02", None, None);
        e.add("demo", "2026-03-03", Some("P3"), Some("executive"));
        assert!(e.stats.decision_maker_met);
        assert_eq!(e.contacts.len(), 3);

        let mut all = DealActivities::default();
        all.keep("D", Some("A"), None, e.stats.clone(), vec![("P1".into(), Some("other".into()))]);
        all.add("D", "demo", "2026-04-01", Some("P2"), None);
        all.contact_saved("P9", true);
        all.contact_saved("P1", true);
        assert!(all.stats("D").is_some());
        all.contact_saved("P2", true);
        assert!(all.stats("D").is_none());
        all.keep("D", Some("A"), None, e.stats, vec![("P1".into(), Some("other".into()))]);
        all.contact_saved("P1", false);
        assert!(all.stats("D").is_none());
    }

    #[test]
    fn only_a_decision_maker_of_the_deals_account_counts() {
        let mut all = DealActivities::default();
        all.keep("D", Some("A"), None, DealStats::default(), vec![]);
        all.add("D", "call", "2026-01-01", Some("P1"), Some(("buyer", "B")));
        assert!(!all.stats("D").unwrap().decision_maker_met);
        all.add("D", "call", "2026-01-02", Some("P2"), Some(("executive", "A")));
        assert!(all.stats("D").unwrap().decision_maker_met);
        // The deal moves to another account: its entry is read again.
        all.deal_saved("D", "A", None);
        assert!(all.stats("D").is_some());
        all.deal_saved("D", "B", None);
        assert!(all.stats("D").is_none());
    }
}
