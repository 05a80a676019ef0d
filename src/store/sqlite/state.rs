//! The state the events build: accounts, contacts, leads, deals, activities,
//! orders, contracts, targets, and the facts derived from them.

use rusqlite::params;
use serde_json::{Map, Value};

use super::pending::StageLog;
use super::{SqlContext, Sqlite, json_map};
use crate::error::Result;
use crate::model::{Account, Contract, Deal, Lead, StageChange, Target};
use crate::store::backend::{
    ActivityRow, ContactRole, Counts, DealActivityRows, DealBefore, LedgerDeal, LedgerRows, OrderRow, OrderWrite,
};

/// The sweep generation a fact is set in (see `engine::sweeps`): the
/// clock measures time from it only after it sweeps that generation.
macro_rules! epoch {
    () => {
        "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'sweep_epoch'), 0)"
    };
}

const ACCOUNT_COLUMNS: &str = "id, data, owner, parent_id, is_key, key_since, key_reason, last_contact, created_at";
const DEAL_COLUMNS: &str =
    "id, account_id, data, stage, stage_entered_at, owner, amount, closed_at, created_at, life, life_started_at";
const ACCOUNT_BY_ID: &str = "SELECT id, data, owner, parent_id, is_key, key_since, key_reason, last_contact, created_at FROM accounts WHERE id = ?1";
const DEAL_BY_ID: &str = "SELECT id, account_id, data, stage, stage_entered_at, owner, amount, closed_at, created_at, life, life_started_at FROM deals WHERE id = ?1";

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
        life: r.get(9)?,
        life_started_at: r.get(10)?,
    })
}

fn to_json(m: &Map<String, Value>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

impl Sqlite {
    pub fn load_account(&self, id: &str) -> Result<Option<Account>> {
        self.one(ACCOUNT_BY_ID, [id], account_row)
    }

    /// Insert or update an account; `data` is the already-merged JSON.
    pub fn write_account(&self, a: &Account, now: &str) -> Result<()> {
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
        Ok(())
    }

    /// Note contact with the account at `at`, unless a later contact is known.
    pub fn write_last_contact(&self, id: &str, at: &str) -> Result<bool> {
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
        Ok(changed > 0)
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

    pub fn write_contact(
        &self,
        id: &str,
        account_id: &str,
        role: &str,
        data: &Map<String, Value>,
        now: &str,
    ) -> Result<Option<ContactRole>> {
        let before = self.contact_role(id)?;
        self.conn
            .prepare_cached(
                "INSERT INTO contacts (id, account_id, role, data, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(id) DO UPDATE SET account_id = ?2, role = ?3, data = ?4, updated_at = ?5",
            )
            .ctx(self)?
            .execute(params![id, account_id, role, to_json(data), now])
            .ctx(self)?;
        Ok(before)
    }

    /// A contact's decision role and account, if the contact is known.
    pub fn contact_role(&self, id: &str) -> Result<Option<ContactRole>> {
        self.one("SELECT role, account_id FROM contacts WHERE id = ?1", [id], |r| {
            Ok(ContactRole { role: r.get(0)?, account_id: r.get(1)? })
        })
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

    pub fn load_deal(&self, id: &str) -> Result<Option<Deal>> {
        self.one(DEAL_BY_ID, [id], deal_row)
    }

    /// Insert or update a deal; `is_open`/`is_won` follow from its stage in the pipeline.
    pub fn write_deal(
        &self,
        d: &Deal,
        is_open: bool,
        is_won: bool,
        now: &str,
        want_before: bool,
    ) -> Result<Option<DealBefore>> {
        let before = if want_before {
            self.one("SELECT account_id, is_won FROM deals WHERE id = ?1", [&d.id], |r| {
                Ok(DealBefore { account_id: r.get(0)?, was_won: r.get(1)? })
            })?
        } else {
            None
        };
        self.conn
            .prepare_cached(concat!(
                "INSERT INTO deals (id, account_id, stage, stage_entered_at, owner, amount, is_open, is_won, closed_at, data, created_at, updated_at, life, life_started_at, stage_epoch)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ",
                epoch!(),
                ")
                 ON CONFLICT(id) DO UPDATE SET account_id = ?2, stage = ?3, stage_entered_at = ?4, owner = ?5, amount = ?6,
                   is_open = ?7, is_won = ?8, closed_at = ?9, data = ?10, updated_at = ?12, life = ?13, life_started_at = ?14,
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
                now,
                d.life,
                d.life_started_at
            ])
            .ctx(self)?;
        Ok(before)
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

    /// Record a stage change: gathered for the unit's commit, or written now outside one.
    pub fn record_stage_change(&self, c: &StageChange) -> Result<()> {
        self.gather(|p| {
            p.stage_change(StageLog {
                deal_id: c.deal_id.to_string(),
                from: c.from.map(str::to_string),
                to: c.to.to_string(),
                at: c.at.to_string(),
                event_id: c.event_id.to_string(),
                rule: c.rule.map(str::to_string),
                reason: c.reason.to_string(),
            })
        })
    }

    /// Store an activity; `true` when it is new (one sent again replaces the one stored).
    pub fn write_activity(&self, a: &ActivityRow) -> Result<bool> {
        let row = params![a.id, a.account_id, a.deal_id, a.contact_id, a.kind, a.at, to_json(a.data)];
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
            self.conn
                .prepare_cached(
                    "UPDATE activities SET account_id = ?2, deal_id = ?3, contact_id = ?4, kind = ?5, at = ?6, data = ?7 WHERE id = ?1",
                )
                .ctx(self)?
                .execute(row)
                .ctx(self)?;
        }
        Ok(inserted == 1)
    }

    pub fn write_order(&self, o: &OrderRow) -> Result<OrderWrite> {
        let OrderRow { id, account_id, amount, product, at, data } = *o;
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
            return Ok(OrderWrite::Inserted);
        }
        // An order sent again: it keeps its time, and may change account.
        // Rare: the ledgers it touches are read again next time.
        let was_account: Option<String> =
            self.one("SELECT account_id FROM orders WHERE id = ?1", [id], |r| r.get(0))?;
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
        Ok(OrderWrite::Updated { was_account })
    }

    /// Insert or update a contract; `recorded_at` is the business time it was recorded.
    pub fn write_contract(
        &self,
        account_id: &str,
        c: &Contract,
        data: &Map<String, Value>,
        recorded_at: &str,
        want_before: bool,
    ) -> Result<Option<String>> {
        let before: Option<String> = if want_before {
            self.one("SELECT account_id FROM contracts WHERE id = ?1", [&c.id], |r| r.get(0))?
        } else {
            None
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
        Ok(before)
    }

    pub fn write_target(&self, account_id: &str, product: &str, period: &str, amount: f64, at: &str) -> Result<()> {
        self.conn
            .prepare_cached(concat!(
                "INSERT INTO targets (account_id, product, period, amount, set_at, epoch) VALUES (?1, ?2, ?3, ?4, ?5, ",
                epoch!(),
                ") ON CONFLICT(account_id, product, period) DO UPDATE SET amount = ?4, set_at = ?5"
            ))
            .ctx(self)?
            .execute(params![account_id, product, period, amount, at])
            .ctx(self)?;
        Ok(())
    }

    /// What an account's ledger is made of (see [`LedgerRows`]).
    pub fn ledger_rows(&self, id: &str, floor: &str) -> Result<LedgerRows> {
        let orders = "SELECT at, amount FROM orders WHERE account_id = ?1 AND at > ?2";
        let orders = self.all(orders, params![id, floor], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let deals = "SELECT id, is_open, is_won, closed_at, amount FROM deals WHERE account_id = ?1 AND (is_open = 1 OR is_won = 1)";
        let deals = self.all(deals, [id], |r| {
            Ok(LedgerDeal {
                id: r.get(0)?,
                is_open: r.get(1)?,
                is_won: r.get(2)?,
                closed_at: r.get(3)?,
                amount: r.get(4)?,
            })
        })?;
        let contact_roles = self.all("SELECT role FROM contacts WHERE account_id = ?1", [id], |r| r.get(0))?;
        let contracts = r#"SELECT id, start, "end", annual_value FROM contracts WHERE account_id = ?1"#;
        let contracts = self.all(contracts, [id], |r| {
            Ok(Contract { id: r.get(0)?, start: r.get(1)?, end: r.get(2)?, annual_value: r.get(3)? })
        })?;
        let targets = "SELECT product, period, amount FROM targets WHERE account_id = ?1";
        let targets =
            self.all(targets, [id], |r| Ok(Target { product: r.get(0)?, period: r.get(1)?, amount: r.get(2)? }))?;
        Ok(LedgerRows { orders, deals, contact_roles, contracts, targets })
    }

    /// What a deal's activity facts are made of (see [`DealActivityRows`]).
    pub fn deal_activity_rows(&self, deal_id: &str, since: Option<&str>) -> Result<DealActivityRows> {
        // `at >= ?2`, with `''` for "all": every stored time is after it.
        let since = since.unwrap_or("");
        let per_kind = self.all(
            "SELECT kind, COUNT(*) FROM activities WHERE deal_id = ?1 AND at >= ?2 GROUP BY kind ORDER BY kind",
            [deal_id, since],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let contacts = self.all(
            "SELECT DISTINCT a.contact_id, c.role, c.account_id FROM activities a LEFT JOIN contacts c ON c.id = a.contact_id
                     WHERE a.deal_id = ?1 AND a.at >= ?2 AND a.contact_id IS NOT NULL ORDER BY a.contact_id",
            [deal_id, since],
            |r| {
                let (role, account_id): (Option<String>, Option<String>) = (r.get(1)?, r.get(2)?);
                Ok((r.get(0)?, role.zip(account_id).map(|(role, account_id)| ContactRole { role, account_id })))
            },
        )?;
        let last_activity = self
            .one("SELECT MAX(at) FROM activities WHERE deal_id = ?1 AND at >= ?2", [deal_id, since], |r| r.get(0))?
            .flatten();
        Ok(DealActivityRows { per_kind, contacts, last_activity })
    }

    /// Counts for `status`: accounts, deals, key accounts.
    pub fn counts(&self) -> Result<Counts> {
        Ok(self
            .one(
                "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM deals), (SELECT COUNT(*) FROM accounts WHERE is_key = 1)",
                [],
                |r| Ok(Counts { accounts: r.get(0)?, deals: r.get(1)?, key_accounts: r.get(2)? }),
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
}
