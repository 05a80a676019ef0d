//! Each account's ledger kept in memory between events: the orders and won
//! deals of its recent past, its open deals, contacts, contracts and targets.
//! Key-account rules read an account's derived facts (twelve months of
//! revenue, open pipeline, contacts by role, ...) on nearly every event; from
//! a ledger they are added up in memory instead of by five SQL statements.
//!
//! A ledger is loaded from SQLite the first time its account is asked about,
//! then kept current by the store's writes ([`Store::save_deal`] and the
//! others update the ledgers they touch), emptied with the row cache (a
//! rollback, another process's commit), and dropped whole when too many are
//! kept. It holds orders and won deals only after its `floor`: a question
//! about an earlier twelve months loads it again.
//!
//! Sums are added in the order SQLite's indexes hold the rows, with SQLite's
//! own summation (Kahan-Babuska-Neumaier), so the facts are the same to the
//! last bit as the SQL that reads them (a test compares the two).
//!
//! [`Store::save_deal`]: super::Store::save_deal

use std::collections::HashMap;

use super::backend::LedgerRows;
use crate::model::{AccountStats, Contract, Target};

/// Ledgers kept; past it the cache starts afresh. A ledger is a few hundred
/// bytes (times are held as numbers, contacts as counts per role): 25,000
/// of them stay well inside the memory an ingest may use.
const MAX_LEDGERS: usize = 25_000;

/// A time as the store writes it (`2026-01-31T09:00:00Z`) as a number that
/// sorts the same way (20260131090000). Any other form is `None`: a ledger
/// never holds it, and questions about it go to SQL, so that comparisons stay
/// exactly SQLite's comparisons of the text.
pub(super) fn time_key(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let shape = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'Z')];
    if b.len() != 20 || shape.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let mut n = 0_u64;
    for i in [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18] {
        if !b[i].is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b[i] - b'0');
    }
    Some(n)
}

#[derive(Debug, Clone, Default)]
pub(super) struct Ledger {
    /// Orders and won deals at or before this time are not held.
    floor: u64,
    /// (at, amount), in the order of the index `orders(account_id, at, amount)`.
    orders: Vec<(u64, f64)>,
    /// (deal id, amount) of open deals, by amount.
    open: Vec<(Box<str>, f64)>,
    /// (closed_at, amount, deal id) of won deals closed after `floor`, by (closed_at, amount).
    won: Vec<(u64, f64, Box<str>)>,
    /// Won deals of every time.
    won_total: i64,
    /// Contacts per role, by role.
    contacts: Vec<(Box<str>, i64)>,
    /// By start, then id.
    contracts: Vec<Contract>,
    /// By period, then product.
    targets: Vec<Target>,
}

/// SQLite's `SUM` over REAL values: Kahan-Babuska-Neumaier steps, then the
/// running error added once at the end (unless it overflowed).
#[derive(Default)]
pub(crate) struct Sum {
    sum: f64,
    err: f64,
}

impl Sum {
    pub(crate) fn add(&mut self, r: f64) {
        let s = self.sum;
        let t = s + r;
        if s.abs() > r.abs() {
            self.err += (s - t) + r;
        } else {
            self.err += (r - t) + s;
        }
        self.sum = t;
    }

    pub(crate) fn total(&self) -> f64 {
        if self.err.is_finite() { self.sum + self.err } else { self.sum }
    }
}

fn by_time_then_amount(a: (u64, f64), b: (u64, f64)) -> std::cmp::Ordering {
    a.0.cmp(&b.0).then(a.1.total_cmp(&b.1))
}

/// Changes to a ledger return whether it still holds exactly what SQLite
/// holds: `false` (a time it cannot hold) means it must be dropped.
impl Ledger {
    /// The ledger of an account's rows (orders and won deals after `floor`);
    /// `None` when they hold a time a ledger cannot.
    pub(super) fn from_rows(rows: &LedgerRows, floor: u64) -> Option<Ledger> {
        let mut ledger = Ledger::after(floor);
        let mut exact = true;
        for (at, amount) in &rows.orders {
            exact &= ledger.order(at, *amount);
        }
        for d in &rows.deals {
            exact &= ledger.deal(&d.id, d.is_open, d.is_won, d.closed_at.as_deref(), d.amount);
        }
        for role in &rows.contact_roles {
            ledger.contact(role);
        }
        for c in &rows.contracts {
            ledger.contract(c);
        }
        for t in &rows.targets {
            ledger.target(t);
        }
        exact.then_some(ledger)
    }

    /// An empty ledger holding what happens after `floor`.
    pub(super) fn after(floor: u64) -> Ledger {
        Ledger { floor, ..Ledger::default() }
    }

    #[must_use]
    pub(super) fn order(&mut self, at: &str, amount: f64) -> bool {
        let Some(at) = time_key(at) else { return false };
        if at > self.floor {
            let i = self.orders.partition_point(|&o| by_time_then_amount(o, (at, amount)).is_le());
            self.orders.insert(i, (at, amount));
        }
        true
    }

    /// A deal now in this account, in this state.
    #[must_use]
    pub(super) fn deal(&mut self, id: &str, is_open: bool, is_won: bool, closed_at: Option<&str>, amount: f64) -> bool {
        if is_open {
            let i = self.open.partition_point(|(_, a)| a.total_cmp(&amount).is_le());
            self.open.insert(i, (id.into(), amount));
        }
        if is_won {
            self.won_total += 1;
            match closed_at.map(time_key) {
                None => {}
                Some(None) => return false,
                Some(Some(at)) if at > self.floor => {
                    let i = self.won.partition_point(|&(t, a, _)| by_time_then_amount((t, a), (at, amount)).is_le());
                    self.won.insert(i, (at, amount, id.into()));
                }
                Some(Some(_)) => {}
            }
        }
        true
    }

    /// A deal that was in this account (won or not) before a write.
    pub(super) fn drop_deal(&mut self, id: &str, was_won: bool) {
        self.open.retain(|(d, _)| &**d != id);
        self.won.retain(|(_, _, d)| &**d != id);
        if was_won {
            self.won_total -= 1;
        }
    }

    /// One more contact in `role`.
    pub(super) fn contact(&mut self, role: &str) {
        match self.contacts.binary_search_by(|(r, _)| (**r).cmp(role)) {
            Ok(i) => self.contacts[i].1 += 1,
            Err(i) => self.contacts.insert(i, (role.into(), 1)),
        }
    }

    /// A contact in `role` left this account or changed role.
    pub(super) fn drop_contact(&mut self, role: &str) {
        if let Ok(i) = self.contacts.binary_search_by(|(r, _)| (**r).cmp(role)) {
            self.contacts[i].1 -= 1;
            if self.contacts[i].1 == 0 {
                self.contacts.remove(i);
            }
        }
    }

    pub(super) fn contract(&mut self, c: &Contract) {
        let i = self.contracts.partition_point(|k| (&k.start, &k.id) <= (&c.start, &c.id));
        self.contracts.insert(i, c.clone());
    }

    pub(super) fn drop_contract(&mut self, id: &str) {
        self.contracts.retain(|c| c.id != id);
    }

    /// A target set (a new one, or a new amount for a product and period).
    pub(super) fn target(&mut self, t: &Target) {
        match self.targets.iter_mut().find(|k| k.product == t.product && k.period == t.period) {
            Some(known) => known.amount = t.amount,
            None => {
                let i = self.targets.partition_point(|k| (&k.period, &k.product) <= (&t.period, &t.product));
                self.targets.insert(i, t.clone());
            }
        }
    }

    /// The account's facts over the twelve months `(since, at]` (times as
    /// [`time_key`]s), or `None` when that reaches before what the ledger
    /// holds. What is older than `since` is let go: later questions look later still.
    pub(super) fn stats(&mut self, since: u64, at: u64, parent_is_key: bool) -> Option<AccountStats> {
        if since < self.floor {
            return None;
        }
        if since > self.floor {
            self.orders.retain(|&(t, _)| t > since);
            self.won.retain(|&(t, _, _)| t > since);
            self.floor = since;
        }
        let in_window = |t: u64| t > since && t <= at;
        let (mut orders_12m, mut order_revenue, mut won_revenue, mut open_pipeline) =
            (0, Sum::default(), Sum::default(), Sum::default());
        for &(_, amount) in self.orders.iter().filter(|&&(t, _)| in_window(t)) {
            orders_12m += 1;
            order_revenue.add(amount);
        }
        for &(_, amount, _) in self.won.iter().filter(|&&(t, _, _)| in_window(t)) {
            won_revenue.add(amount);
        }
        for &(_, amount) in &self.open {
            open_pipeline.add(amount);
        }
        Some(AccountStats {
            revenue_12m: order_revenue.total() + won_revenue.total(),
            orders_12m,
            open_deals: self.open.len() as i64,
            open_pipeline: open_pipeline.total(),
            won_deals: self.won_total,
            contacts: self.contacts.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
            contracts: self.contracts.clone(),
            targets: self.targets.clone(),
            parent_is_key,
        })
    }
}

/// The facts of an account over `(since, at]` straight from its rows: what a
/// ledger's answers are defined by (the property test compares the two), and
/// the answer for times a ledger cannot hold, compared as text. Rows are
/// added in the ledger's order (by time, then amount), with the same sum.
pub(super) fn stats_from_rows(rows: &LedgerRows, since: &str, at: &str, parent_is_key: bool) -> AccountStats {
    let in_window = |t: &str| t > since && t <= at;
    let by_time_then_amount = |a: &(&str, f64), b: &(&str, f64)| a.0.cmp(b.0).then(a.1.total_cmp(&b.1));
    let mut orders: Vec<(&str, f64)> =
        rows.orders.iter().filter(|(t, _)| in_window(t)).map(|(t, a)| (t.as_str(), *a)).collect();
    orders.sort_by(by_time_then_amount);
    let mut won: Vec<(&str, f64)> = rows
        .deals
        .iter()
        .filter(|d| d.is_won)
        .filter_map(|d| d.closed_at.as_deref().filter(|t| in_window(t)).map(|t| (t, d.amount)))
        .collect();
    won.sort_by(by_time_then_amount);
    let mut open: Vec<f64> = rows.deals.iter().filter(|d| d.is_open).map(|d| d.amount).collect();
    open.sort_by(f64::total_cmp);
    let (mut order_revenue, mut won_revenue, mut open_pipeline) = (Sum::default(), Sum::default(), Sum::default());
    orders.iter().for_each(|o| order_revenue.add(o.1));
    won.iter().for_each(|w| won_revenue.add(w.1));
    open.iter().for_each(|&a| open_pipeline.add(a));
    let mut contacts: Vec<(String, i64)> = Vec::new();
    let mut roles: Vec<&str> = rows.contact_roles.iter().map(String::as_str).collect();
    roles.sort_unstable();
    for role in roles {
        match contacts.last_mut() {
            Some((r, n)) if r == role => *n += 1,
            _ => contacts.push((role.to_string(), 1)),
        }
    }
    let mut contracts = rows.contracts.clone();
    contracts.sort_by(|a, b| (&a.start, &a.id).cmp(&(&b.start, &b.id)));
    let mut targets = rows.targets.clone();
    targets.sort_by(|a, b| (&a.period, &a.product).cmp(&(&b.period, &b.product)));
    AccountStats {
        revenue_12m: order_revenue.total() + won_revenue.total(),
        orders_12m: orders.len() as i64,
        open_deals: open.len() as i64,
        open_pipeline: open_pipeline.total(),
        won_deals: rows.deals.iter().filter(|d| d.is_won).count() as i64,
        contacts,
        contracts,
        targets,
        parent_is_key,
    }
}

/// The ledgers kept, by account id.
#[derive(Default)]
pub(super) struct Ledgers {
    /// Boxed: the table keeps a pointer per slot, not a whole ledger per (mostly empty) slot.
    by_account: HashMap<String, Box<Ledger>>,
}

impl Ledgers {
    pub(super) fn clear(&mut self) {
        self.by_account.clear();
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_account.is_empty()
    }

    pub(super) fn get(&mut self, account: &str) -> Option<&mut Ledger> {
        self.by_account.get_mut(account).map(|l| &mut **l)
    }

    /// Change the account's ledger, if kept; one that can no longer hold what
    /// SQLite holds (`change` returns `false`) is dropped.
    pub(super) fn change(&mut self, account: &str, change: impl FnOnce(&mut Ledger) -> bool) {
        if let Some(ledger) = self.by_account.get_mut(account)
            && !change(ledger)
        {
            self.by_account.remove(account);
        }
    }

    /// A ledger just loaded from SQLite.
    pub(super) fn keep(&mut self, account: &str, ledger: Ledger) -> &mut Ledger {
        if self.by_account.len() >= MAX_LEDGERS {
            self.by_account.clear();
        }
        self.by_account.entry(account.to_string()).insert_entry(Box::new(ledger)).into_mut()
    }

    /// Forget one account's ledger (a write it is easier to read back than to follow).
    pub(super) fn forget(&mut self, account: &str) {
        self.by_account.remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sum_is_sqlites_not_the_naive_one() {
        let mut s = Sum::default();
        for x in [1e16, 1.0, -1e16] {
            s.add(x);
        }
        assert_eq!(s.total(), 1.0);
        assert_eq!(1e16 + 1.0 - 1e16, 0.0);
    }

    fn t(day: &str) -> u64 {
        time_key(&format!("{day}T09:00:00Z")).unwrap()
    }

    #[test]
    fn time_keys_sort_as_the_text_does_and_other_forms_have_none() {
        let stamps = ["1999-12-31T23:59:59Z", "2026-01-31T09:00:00Z", "2026-02-01T00:00:00Z", "2026-02-01T00:00:01Z"];
        let keys: Vec<u64> = stamps.iter().map(|s| time_key(s).unwrap()).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        for odd in ["2026-02-01", "2026-02-01T00:00:00+01:00", "2026-02-01T00:00:00.5Z", "2026-0a-01T00:00:00Z", ""] {
            assert_eq!(time_key(odd), None, "{odd}");
        }
    }

    #[test]
    fn a_window_before_the_floor_is_not_answered_and_old_rows_are_let_go() {
        let mut l = Ledger::after(t("2026-01-01"));
        assert!(l.order("2026-02-01T09:00:00Z", 10.0));
        assert!(l.order("2026-03-01T09:00:00Z", 5.0));
        assert!(l.order("2025-12-01T09:00:00Z", 99.0));
        assert!(!l.order("March", 1.0));
        assert!(l.stats(t("2025-06-01"), t("2026-06-01"), false).is_none());
        let s = l.stats(t("2026-02-15"), t("2026-06-01"), false).unwrap();
        assert_eq!((s.orders_12m, s.revenue_12m), (1, 5.0));
        assert!(l.stats(t("2026-01-15"), t("2026-06-01"), false).is_none());
    }

    #[test]
    fn deals_move_between_open_and_won_and_contacts_between_roles() {
        let mut l = Ledger::after(t("2026-01-01"));
        assert!(l.deal("D1", true, false, None, 100.0));
        assert!(l.deal("D2", true, false, None, 50.0));
        let s = l.stats(t("2026-01-01"), t("2026-12-31"), false).unwrap();
        assert_eq!((s.open_deals, s.open_pipeline, s.won_deals), (2, 150.0, 0));
        l.drop_deal("D1", false);
        assert!(l.deal("D1", false, true, Some("2026-05-01T09:00:00Z"), 100.0));
        let s = l.stats(t("2026-01-01"), t("2026-12-31"), false).unwrap();
        assert_eq!((s.open_deals, s.open_pipeline, s.won_deals, s.revenue_12m), (1, 50.0, 1, 100.0));
        l.contact("buyer");
        l.contact("other");
        l.contact("buyer");
        l.drop_contact("other");
        let s = l.stats(t("2026-01-01"), t("2026-12-31"), false).unwrap();
        assert_eq!(s.contacts, vec![("buyer".to_string(), 2)]);
    }
}
