//! The state the events build: accounts, contacts, leads, deals, activities,
//! orders, contracts, targets, and the facts derived from them.

use std::sync::Arc;

use rusqlite::params;
use serde_json::{Map, Value};

use super::deal_activity::DECISION_ROLES;
use super::ledger::{Ledger, time_key};
use super::{SqlContext, Store, json_map};
use crate::error::Result;
use crate::event::Event;
use crate::model::{Account, AccountStats, Contract, Deal, DealStats, Lead, StageChange, Target};

/// The sweep generation a fact is set in (see `engine::sweeps`): the
/// clock measures time from it only after it sweeps that generation.
macro_rules! epoch {
    () => {
        "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'sweep_epoch'), 0)"
    };
}

const ACCOUNT_COLUMNS: &str = "id, data, owner, parent_id, is_key, key_since, key_reason, last_contact, created_at";
const DEAL_COLUMNS: &str = "id, account_id, data, stage, stage_entered_at, owner, amount, closed_at, created_at";
const ACCOUNT_BY_ID: &str = "SELECT id, data, owner, parent_id, is_key, key_since, key_reason, last_contact, created_at FROM accounts WHERE id = ?1";
const DEAL_BY_ID: &str = "SELECT id, account_id, data, stage, stage_entered_at, owner, amount, closed_at, created_at FROM deals WHERE id = ?1";

fn account_row(r: &rusqlite::Row) -> rusqlite::Result<Account> {
    Ok(Account {
        id: r.get(0)?,
        data: json_map(&r.get::<_, String>(1)?),
        owner: r.get(2)?,
        parent_id: r.get(3)?,
        is_key: r.get(4)?,
        key_since: r.get(5)?,
        key_reason: r.get(6)?,
        last_contact: r.get(7)?,
        created_at: r.get(8)?,
    })
}

fn deal_row(r: &rusqlite::Row) -> rusqlite::Result<Deal> {
    Ok(Deal {
        id: r.get(0)?,
        account_id: r.get(1)?,
        data: json_map(&r.get::<_, String>(2)?),
        stage: r.get(3)?,
        stage_entered_at: r.get(4)?,
        owner: r.get(5)?,
        amount: r.get(6)?,
        closed_at: r.get(7)?,
        created_at: r.get(8)?,
    })
}

fn to_json(m: &Map<String, Value>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

/// Fields of `patch` laid over `base`: an upsert changes what it names and keeps the rest.
pub fn merge(base: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        base.insert(k.clone(), v.clone());
    }
}

impl Store {
    pub fn account(&self, id: &str) -> Result<Option<Account>> {
        Ok(self.shared_account(id)?.map(Arc::unwrap_or_clone))
    }

    /// The account's row as the row cache shares it, for readers that do not change it.
    pub fn shared_account(&self, id: &str) -> Result<Option<Arc<Account>>> {
        if let Some(a) = self.cached_rows()?.account(id) {
            return Ok(Some(a));
        }
        let found = self.one(ACCOUNT_BY_ID, [id], account_row)?.map(Arc::new);
        if let Some(a) = &found {
            self.cached_rows()?.keep_account(a);
        }
        Ok(found)
    }

    /// Insert or update an account; `data` is the already-merged JSON.
    pub fn save_account(&self, a: &Account, now: &str) -> Result<()> {
        self.conn
            .prepare_cached(concat!(
                "INSERT INTO accounts (id, data, owner, parent_id, is_key, key_since, key_reason, last_contact, created_at, updated_at, quiet_epoch)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ",
                epoch!(),
                ")
                 ON CONFLICT(id) DO UPDATE SET data = ?2, owner = ?3, parent_id = ?4, is_key = ?5, key_since = ?6,
                   key_reason = ?7, last_contact = ?8, updated_at = ?10,
                   quiet_epoch = CASE WHEN last_contact IS ?8 AND key_since IS ?6 THEN quiet_epoch ELSE ",
                epoch!(),
                " END"
            ))
            .ctx(self)?
            .execute(params![
                a.id,
                to_json(&a.data),
                a.owner,
                a.parent_id,
                a.is_key,
                a.key_since,
                a.key_reason,
                a.last_contact,
                a.created_at,
                now
            ])
            .ctx(self)?;
        self.cached_rows()?.saved_account(a);
        Ok(())
    }

    /// Note contact with the account at `at`, unless a later contact is known.
    pub fn touch_last_contact(&self, id: &str, at: &str) -> Result<()> {
        let changed = self
            .conn
            .prepare_cached(concat!(
                "UPDATE accounts SET last_contact = ?2, updated_at = ?2, quiet_epoch = ",
                epoch!(),
                " WHERE id = ?1 AND (last_contact IS NULL OR last_contact < ?2)"
            ))
            .ctx(self)?
            .execute(params![id, at])
            .ctx(self)?;
        if changed > 0 {
            self.cached_rows()?.contacted(id, at);
        }
        Ok(())
    }

    /// How many accounts `owner` owns.
    pub fn accounts_owned(&self, owner: &str) -> Result<i64> {
        Ok(self.one("SELECT COUNT(*) FROM accounts WHERE owner = ?1", [owner], |r| r.get(0))?.unwrap_or(0))
    }

    /// Accounts whose parent is `id`.
    pub fn child_accounts(&self, id: &str) -> Result<Vec<String>> {
        let mut st = self.conn.prepare_cached("SELECT id FROM accounts WHERE parent_id = ?1 ORDER BY id").ctx(self)?;
        let rows = st.query_map([id], |r| r.get(0)).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    pub fn save_contact(
        &self,
        id: &str,
        account_id: &str,
        role: &str,
        data: &Map<String, Value>,
        now: &str,
    ) -> Result<()> {
        let before: Option<(String, String)> =
            self.one("SELECT account_id, role FROM contacts WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        self.conn
            .prepare_cached(
                "INSERT INTO contacts (id, account_id, role, data, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(id) DO UPDATE SET account_id = ?2, role = ?3, data = ?4, updated_at = ?5",
            )
            .ctx(self)?
            .execute(params![id, account_id, role, to_json(data), now])
            .ctx(self)?;
        let mut rows = self.cached_rows()?;
        match &before {
            None => rows.deal_activity.contact_saved(id, true),
            Some((was_at, was)) if was != role || was_at != account_id => rows.deal_activity.contact_saved(id, false),
            Some(_) => {}
        }
        if let Some((account, was)) = &before {
            rows.ledgers.change(account, |l| {
                l.drop_contact(was);
                true
            });
        }
        rows.ledgers.change(account_id, |l| {
            l.contact(role);
            true
        });
        Ok(())
    }

    /// A contact's decision role and account, if the contact is known.
    pub fn contact_role(&self, id: &str) -> Result<Option<(String, String)>> {
        self.one("SELECT role, account_id FROM contacts WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
    }

    pub fn contact(&self, id: &str) -> Result<Option<Map<String, Value>>> {
        self.one("SELECT data FROM contacts WHERE id = ?1", [id], |r| Ok(json_map(&r.get::<_, String>(0)?)))
    }

    pub fn lead(&self, id: &str) -> Result<Option<Lead>> {
        self.one("SELECT id, data, created_at FROM leads WHERE id = ?1", [id], |r| {
            Ok(Lead { id: r.get(0)?, data: json_map(&r.get::<_, String>(1)?), created_at: r.get(2)? })
        })
    }

    pub fn save_lead(&self, lead: &Lead) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO leads (id, account_id, data, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET account_id = ?2, data = ?3",
            )
            .ctx(self)?
            .execute(params![
                lead.id,
                lead.data.get("account_id").and_then(Value::as_str),
                to_json(&lead.data),
                lead.created_at
            ])
            .ctx(self)?;
        Ok(())
    }

    pub fn deal(&self, id: &str) -> Result<Option<Deal>> {
        Ok(self.shared_deal(id)?.map(Arc::unwrap_or_clone))
    }

    /// The deal's row as the row cache shares it, for readers that do not change it.
    pub fn shared_deal(&self, id: &str) -> Result<Option<Arc<Deal>>> {
        if let Some(d) = self.cached_rows()?.deal(id) {
            return Ok(Some(d));
        }
        let found = self.one(DEAL_BY_ID, [id], deal_row)?.map(Arc::new);
        if let Some(d) = &found {
            self.cached_rows()?.keep_deal(d);
        }
        Ok(found)
    }

    /// Insert or update a deal; `is_open`/`is_won` follow from its stage in the pipeline.
    pub fn save_deal(&self, d: &Deal, is_open: bool, is_won: bool, now: &str) -> Result<()> {
        let before: Option<(String, bool)> = if self.cached_rows()?.ledgers.is_empty() {
            None
        } else {
            self.one("SELECT account_id, is_won FROM deals WHERE id = ?1", [&d.id], |r| Ok((r.get(0)?, r.get(1)?)))?
        };
        self.conn
            .prepare_cached(concat!(
                "INSERT INTO deals (id, account_id, stage, stage_entered_at, owner, amount, is_open, is_won, closed_at, data, created_at, updated_at, stage_epoch)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ",
                epoch!(),
                ")
                 ON CONFLICT(id) DO UPDATE SET account_id = ?2, stage = ?3, stage_entered_at = ?4, owner = ?5, amount = ?6,
                   is_open = ?7, is_won = ?8, closed_at = ?9, data = ?10, updated_at = ?12,
                   stage_epoch = CASE WHEN stage IS ?3 AND stage_entered_at IS ?4 AND is_open IS ?7 AND closed_at IS ?9
                                      AND account_id IS ?2 THEN stage_epoch ELSE ",
                epoch!(),
                " END"
            ))
            .ctx(self)?
            .execute(params![
                d.id,
                d.account_id,
                d.stage,
                d.stage_entered_at,
                d.owner,
                d.amount,
                is_open,
                is_won,
                d.closed_at,
                to_json(&d.data),
                d.created_at,
                now
            ])
            .ctx(self)?;
        let mut rows = self.cached_rows()?;
        rows.saved_deal(d);
        rows.deal_activity.deal_saved(&d.id, &d.account_id);
        if let Some((account, was_won)) = before {
            rows.ledgers.change(&account, |l| {
                l.drop_deal(&d.id, was_won);
                true
            });
        }
        rows.ledgers.change(&d.account_id, |l| l.deal(&d.id, is_open, is_won, d.closed_at.as_deref(), d.amount));
        Ok(())
    }

    /// Open deals of an account, oldest first.
    pub fn open_deal_ids(&self, account_id: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id FROM deals WHERE account_id = ?1 AND is_open = 1 ORDER BY created_at, id")
            .ctx(self)?;
        let rows = st.query_map([account_id], |r| r.get(0)).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    pub fn record_stage_change(&self, c: &StageChange) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO deal_stage_history (deal_id, from_stage, to_stage, at, event_id, rule, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .ctx(self)?
            .execute(params![c.deal_id, c.from, c.to, c.at, c.event_id, c.rule, c.reason])
            .ctx(self)?;
        Ok(())
    }

    /// Store an `activity.logged` event's activity.
    pub fn save_activity(&self, e: &Event) -> Result<()> {
        let (deal, contact, kind, at) =
            (e.str("deal_id"), e.str("contact_id"), e.str("kind"), crate::time::stamp(e.at));
        let row = params![e.str("id"), e.str("account_id"), deal, contact, kind, at, to_json(&e.data)];
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO activities (id, account_id, deal_id, contact_id, kind, at, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO NOTHING",
            )
            .ctx(self)?
            .execute(row)
            .ctx(self)?;
        if inserted == 0 {
            // Sent again, and it may now be about another deal: rare, so every deal's sum is read again.
            self.conn
                .prepare_cached(
                    "UPDATE activities SET account_id = ?2, deal_id = ?3, contact_id = ?4, kind = ?5, at = ?6, data = ?7 WHERE id = ?1",
                )
                .ctx(self)?
                .execute(row)
                .ctx(self)?;
            self.cached_rows()?.deal_activity.clear();
            return Ok(());
        }
        let Some(deal) = deal else { return Ok(()) };
        if !self.cached_rows()?.deal_activity.has(deal) {
            return Ok(());
        }
        let known = match contact {
            Some(c) => self.contact_role(c)?,
            None => None,
        };
        let known = known.as_ref().map(|(role, account)| (role.as_str(), account.as_str()));
        self.cached_rows()?.deal_activity.add(deal, kind.unwrap_or_default(), &at, contact, known);
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
        let inserted = self
            .conn
            .prepare_cached(concat!(
                "INSERT INTO orders (id, account_id, amount, product, at, data, epoch) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ",
                epoch!(),
                ") ON CONFLICT(id) DO NOTHING"
            ))
            .ctx(self)?
            .execute(params![id, account_id, amount, product, at, to_json(data)])
            .ctx(self)?;
        if inserted == 1 {
            self.cached_rows()?.ledgers.change(account_id, |l| l.order(at, amount));
            return Ok(());
        }
        // An order sent again: it keeps its time, and may change account.
        // Rare: the ledgers it touches are read again next time.
        let before: Option<String> = self.one("SELECT account_id FROM orders WHERE id = ?1", [id], |r| r.get(0))?;
        self.conn
            .prepare_cached(concat!(
                "UPDATE orders SET account_id = ?2, amount = ?3, product = ?4, data = ?5,
                   epoch = CASE WHEN account_id IS ?2 THEN epoch ELSE ",
                epoch!(),
                " END WHERE id = ?1"
            ))
            .ctx(self)?
            .execute(params![id, account_id, amount, product, to_json(data)])
            .ctx(self)?;
        let mut rows = self.cached_rows()?;
        for account in before.iter().map(String::as_str).chain([account_id]) {
            rows.ledgers.forget(account);
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
        let before: Option<String> = if self.cached_rows()?.ledgers.is_empty() {
            None
        } else {
            self.one("SELECT account_id FROM contracts WHERE id = ?1", [&c.id], |r| r.get(0))?
        };
        self.conn
            .prepare_cached(concat!(
                r#"INSERT INTO contracts (id, account_id, start, "end", annual_value, data, recorded_at, epoch) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "#,
                epoch!(),
                r#") ON CONFLICT(id) DO UPDATE SET account_id = ?2, start = ?3, "end" = ?4, annual_value = ?5, data = ?6, recorded_at = ?7,
                   epoch = CASE WHEN account_id IS ?2 AND start IS ?3 AND "end" IS ?4 THEN epoch ELSE "#,
                epoch!(),
                " END"
            ))
            .ctx(self)?
            .execute(params![c.id, account_id, c.start, c.end, c.annual_value, to_json(data), recorded_at])
            .ctx(self)?;
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
        self.conn
            .prepare_cached(concat!(
                "INSERT INTO targets (account_id, product, period, amount, set_at, epoch) VALUES (?1, ?2, ?3, ?4, ?5, ",
                epoch!(),
                ") ON CONFLICT(account_id, product, period) DO UPDATE SET amount = ?4, set_at = ?5"
            ))
            .ctx(self)?
            .execute(params![account_id, product, period, amount, at])
            .ctx(self)?;
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
            return self.account_stats_by_sql(account, since, at);
        };
        if let Some(stats) = self.cached_rows()?.ledgers.get(id).and_then(|l| l.stats(since_key, at_key, parent_is_key))
        {
            return Ok(stats);
        }
        match self.load_ledger(id, since, since_key)? {
            Some(ledger) => {
                let mut rows = self.cached_rows()?;
                let stats = rows.ledgers.keep(id, ledger).stats(since_key, at_key, parent_is_key);
                Ok(stats.unwrap_or_default())
            }
            None => self.account_stats_by_sql(account, since, at),
        }
    }

    /// An account's ledger from SQLite, holding orders and won deals after
    /// `floor` (`floor_key` as a [`time_key`]); `None` when it holds a time a
    /// ledger cannot.
    fn load_ledger(&self, id: &str, floor: &str, floor_key: u64) -> Result<Option<Ledger>> {
        let mut ledger = Ledger::after(floor_key);
        let mut exact = true;
        let orders = "SELECT at, amount FROM orders WHERE account_id = ?1 AND at > ?2";
        for (at, amount) in self.all(orders, params![id, floor], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))? {
            exact &= ledger.order(&at, amount);
        }
        let deals = "SELECT id, is_open, is_won, closed_at, amount FROM deals WHERE account_id = ?1 AND (is_open = 1 OR is_won = 1)";
        let deals = self.all(deals, [id], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get::<_, Option<String>>(3)?, r.get(4)?))
        })?;
        for (deal, is_open, is_won, closed_at, amount) in deals {
            exact &= ledger.deal(&deal, is_open, is_won, closed_at.as_deref(), amount);
        }
        for role in self.all("SELECT role FROM contacts WHERE account_id = ?1", [id], |r| r.get::<_, String>(0))? {
            ledger.contact(&role);
        }
        let contracts = r#"SELECT id, start, "end", annual_value FROM contracts WHERE account_id = ?1"#;
        for c in self.all(contracts, [id], |r| {
            Ok(Contract { id: r.get(0)?, start: r.get(1)?, end: r.get(2)?, annual_value: r.get(3)? })
        })? {
            ledger.contract(&c);
        }
        let targets = "SELECT product, period, amount FROM targets WHERE account_id = ?1";
        for t in self.all(targets, [id], |r| Ok(Target { product: r.get(0)?, period: r.get(1)?, amount: r.get(2)? }))? {
            ledger.target(&t);
        }
        Ok(exact.then_some(ledger))
    }

    /// Derived facts of a deal: its activities per kind, whether a decision
    /// maker of the deal's own account took part, the last one. Kept in
    /// memory once read.
    pub fn deal_stats(&self, deal_id: &str) -> Result<DealStats> {
        if let Some(stats) = self.cached_rows()?.deal_activity.stats(deal_id) {
            return Ok(stats);
        }
        let activities =
            self.all("SELECT kind, COUNT(*) FROM activities WHERE deal_id = ?1 GROUP BY kind", [deal_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let contacts: Vec<(String, Option<String>, Option<String>)> = self.all(
            "SELECT DISTINCT a.contact_id, c.role, c.account_id FROM activities a LEFT JOIN contacts c ON c.id = a.contact_id
                     WHERE a.deal_id = ?1 AND a.contact_id IS NOT NULL",
            [deal_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let account = self.shared_deal(deal_id)?.map(|d| d.account_id.clone());
        let decision_maker_met = contacts.iter().any(|(_, role, at)| {
            role.as_deref().is_some_and(|r| DECISION_ROLES.contains(&r)) && at.is_some() && *at == account
        });
        let last_activity =
            self.one("SELECT MAX(at) FROM activities WHERE deal_id = ?1", [deal_id], |r| r.get(0))?.flatten();
        let stats = DealStats { activities, decision_maker_met, last_activity };
        let contacts = contacts.into_iter().map(|(c, role, _)| (c, role)).collect();
        self.cached_rows()?.deal_activity.keep(deal_id, account.as_deref(), stats.clone(), contacts);
        Ok(stats)
    }

    /// Counts for `status`: accounts, deals, key accounts.
    pub fn counts(&self) -> Result<(i64, i64, i64)> {
        Ok(self
            .one(
                "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM deals), (SELECT COUNT(*) FROM accounts WHERE is_key = 1)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?
            .unwrap_or_default())
    }

    /// All accounts, for listings (optionally only key accounts).
    pub fn accounts(&self, only_key: bool) -> Result<Vec<Account>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE (?1 = 0 OR is_key = 1) ORDER BY length(id), id"
            ))
            .ctx(self)?;
        let rows = st.query_map([only_key], account_row).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    /// All deals, for listings (optionally in one stage or of one account).
    pub fn deals(&self, stage: Option<&str>, account: Option<&str>) -> Result<Vec<Deal>> {
        let mut st = self
            .conn
            .prepare_cached(
                &format!(
                    "SELECT {DEAL_COLUMNS} FROM deals WHERE (?1 IS NULL OR stage = ?1) AND (?2 IS NULL OR account_id = ?2) ORDER BY length(id), id"
                ),
            )
            .ctx(self)?;
        let rows = st.query_map(params![stage, account], deal_row).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    /// The same facts as [`Store::account_stats`], added up by SQL: for times
    /// a ledger cannot hold, and what the ledgers are tested against.
    pub(crate) fn account_stats_by_sql(&self, account: &Account, since: &str, at: &str) -> Result<AccountStats> {
        let id = account.id.as_str();
        // One statement, each part answered from a covering index.
        let (orders_12m, order_revenue, won_revenue, open_deals, open_pipeline, won_deals): (
            i64,
            f64,
            f64,
            i64,
            f64,
            i64,
        ) = self
            .one(
                "SELECT
                   (SELECT COUNT(*) FROM orders WHERE account_id = ?1 AND at > ?2 AND at <= ?3),
                   (SELECT COALESCE(SUM(amount), 0) FROM orders WHERE account_id = ?1 AND at > ?2 AND at <= ?3),
                   (SELECT COALESCE(SUM(amount), 0) FROM deals
                      WHERE account_id = ?1 AND is_won = 1 AND closed_at > ?2 AND closed_at <= ?3),
                   (SELECT COUNT(*) FROM deals WHERE account_id = ?1 AND is_open = 1),
                   (SELECT COALESCE(SUM(amount), 0) FROM deals WHERE account_id = ?1 AND is_open = 1),
                   (SELECT COUNT(*) FROM deals WHERE account_id = ?1 AND is_won = 1)",
                params![id, since, at],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )?
            .unwrap_or_default();
        let contacts =
            self.all("SELECT role, COUNT(*) FROM contacts WHERE account_id = ?1 GROUP BY role", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let contracts = self.all(
            r#"SELECT id, start, "end", annual_value FROM contracts WHERE account_id = ?1 ORDER BY start, id"#,
            [id],
            |r| Ok(Contract { id: r.get(0)?, start: r.get(1)?, end: r.get(2)?, annual_value: r.get(3)? }),
        )?;
        let targets = self.all(
            "SELECT product, period, amount FROM targets WHERE account_id = ?1 ORDER BY period, product",
            [id],
            |r| Ok(Target { product: r.get(0)?, period: r.get(1)?, amount: r.get(2)? }),
        )?;
        let parent_is_key = match &account.parent_id {
            Some(p) => self.one("SELECT is_key FROM accounts WHERE id = ?1", [p], |r| r.get(0))?.unwrap_or(false),
            None => false,
        };
        Ok(AccountStats {
            revenue_12m: order_revenue + won_revenue,
            orders_12m,
            open_deals,
            open_pipeline,
            won_deals,
            contacts,
            contracts,
            targets,
            parent_is_key,
        })
    }

    /// The same facts as [`Store::deal_stats`], read by SQL: what the kept ones are tested against.
    #[cfg(test)]
    pub(crate) fn deal_stats_by_sql(&self, deal_id: &str) -> Result<DealStats> {
        let activities =
            self.all("SELECT kind, COUNT(*) FROM activities WHERE deal_id = ?1 GROUP BY kind", [deal_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let decision_maker_met = self
            .one(
                "SELECT EXISTS (SELECT 1 FROM activities a JOIN contacts c ON c.id = a.contact_id
                 JOIN deals d ON d.id = a.deal_id
                 WHERE a.deal_id = ?1 AND c.role IN ('buyer', 'technical', 'executive') AND c.account_id = d.account_id)",
                [deal_id],
                |r| r.get(0),
            )?
            .unwrap_or(false);
        let last_activity =
            self.one("SELECT MAX(at) FROM activities WHERE deal_id = ?1", [deal_id], |r| r.get(0))?.flatten();
        Ok(DealStats { activities, decision_maker_met, last_activity })
    }
}
