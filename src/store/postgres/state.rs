//! The state the events build: accounts, contacts, leads, deals, activities,
//! orders, contracts, targets, and the rows the facts are made of.

use postgres::Row;
use serde_json::{Map, Value};

use super::pending::StageLog;
use super::{PgContext, Postgres, json_map, to_json};
use crate::error::Result;
use crate::model::{Account, Contract, Deal, Lead, StageChange, Target};
use crate::store::backend::{
    ActivityRow, ContactRole, Counts, DealActivityRows, DealBefore, LedgerDeal, LedgerRows, OrderRow, OrderWrite,
};
use crate::store::memory::index_sum;

type PgResult<T> = std::result::Result<T, postgres::Error>;

/// The sweep generation a fact is set in (see `engine::sweeps`).
macro_rules! epoch {
    () => {
        "COALESCE((SELECT value::BIGINT FROM meta WHERE key = 'sweep_epoch'), 0)"
    };
}

const ACCOUNT_COLUMNS: &str = "id, data, owner, parent_id, is_key, key_since, key_reason, last_contact, created_at";
const DEAL_COLUMNS: &str =
    "id, account_id, data, stage, stage_entered_at, owner, amount, closed_at, created_at, life, life_started_at";

fn account_row(r: &Row) -> PgResult<Account> {
    Ok(Account {
        id: r.try_get(0)?,
        data: json_map(r.try_get(1)?),
        owner: r.try_get(2)?,
        parent_id: r.try_get(3)?,
        is_key: r.try_get(4)?,
        key_since: r.try_get(5)?,
        key_reason: r.try_get(6)?,
        last_contact: r.try_get(7)?,
        created_at: r.try_get(8)?,
    })
}

fn deal_row(r: &Row) -> PgResult<Deal> {
    Ok(Deal {
        id: r.try_get(0)?,
        account_id: r.try_get(1)?,
        data: json_map(r.try_get(2)?),
        stage: r.try_get(3)?,
        stage_entered_at: r.try_get(4)?,
        owner: r.try_get(5)?,
        amount: r.try_get(6)?,
        closed_at: r.try_get(7)?,
        created_at: r.try_get(8)?,
        life: r.try_get(9)?,
        life_started_at: r.try_get(10)?,
    })
}

impl Postgres {
    pub fn load_account(&self, id: &str) -> Result<Option<Account>> {
        self.one(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"), &[&id], account_row)
    }

    pub fn write_account(&self, a: &Account, now: &str) -> Result<()> {
        self.exec_kept(
            concat!(
                "INSERT INTO accounts (id, data, owner, parent_id, is_key, key_since, key_reason, last_contact, created_at, updated_at, quiet_epoch)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, ",
                epoch!(),
                ")
                 ON CONFLICT (id) DO UPDATE SET data = $2, owner = $3, parent_id = $4, is_key = $5, key_since = $6,
                   key_reason = $7, last_contact = $8, updated_at = $10,
                   quiet_epoch = CASE WHEN accounts.last_contact IS NOT DISTINCT FROM $8
                                       AND accounts.key_since IS NOT DISTINCT FROM $6
                                      THEN accounts.quiet_epoch ELSE ",
                epoch!(),
                " END"
            ),
            &[
                &a.id,
                &to_json(&a.data),
                &a.owner,
                &a.parent_id,
                &a.is_key,
                &a.key_since,
                &a.key_reason,
                &a.last_contact,
                &a.created_at,
                &now,
            ],
        )?;
        Ok(())
    }

    pub fn write_last_contact(&self, id: &str, at: &str) -> Result<bool> {
        let changed = self.exec_kept(
            concat!(
                "UPDATE accounts SET last_contact = $2, updated_at = $2, quiet_epoch = ",
                epoch!(),
                " WHERE id = $1 AND (last_contact IS NULL OR last_contact < $2)"
            ),
            &[&id, &at],
        )?;
        Ok(changed > 0)
    }

    pub fn accounts_owned(&self, owner: &str) -> Result<i64> {
        Ok(self.one("SELECT COUNT(*) FROM accounts WHERE owner = $1", &[&owner], |r| r.try_get(0))?.unwrap_or(0))
    }

    pub fn child_accounts(&self, id: &str) -> Result<Vec<String>> {
        self.all("SELECT id FROM accounts WHERE parent_id = $1 ORDER BY id", &[&id], |r| r.try_get(0))
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
        self.exec_kept(
            "INSERT INTO contacts (id, account_id, role, data, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET account_id = $2, role = $3, data = $4, updated_at = $5",
            &[&id, &account_id, &role, &to_json(data), &now],
        )?;
        Ok(before)
    }

    pub fn contact_role(&self, id: &str) -> Result<Option<ContactRole>> {
        self.one("SELECT role, account_id FROM contacts WHERE id = $1", &[&id], |r| {
            Ok(ContactRole { role: r.try_get(0)?, account_id: r.try_get(1)? })
        })
    }

    pub fn contact(&self, id: &str) -> Result<Option<Map<String, Value>>> {
        self.one("SELECT data FROM contacts WHERE id = $1", &[&id], |r| Ok(json_map(r.try_get(0)?)))
    }

    pub fn lead(&self, id: &str) -> Result<Option<Lead>> {
        self.one("SELECT id, data, created_at FROM leads WHERE id = $1", &[&id], |r| {
            Ok(Lead { id: r.try_get(0)?, data: json_map(r.try_get(1)?), created_at: r.try_get(2)? })
        })
    }

    pub fn save_lead(&self, lead: &Lead) -> Result<()> {
        self.exec(
            "INSERT INTO leads (id, account_id, data, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET account_id = $2, data = $3",
            &[&lead.id, &lead.data.get("account_id").and_then(Value::as_str), &to_json(&lead.data), &lead.created_at],
        )?;
        Ok(())
    }

    pub fn load_deal(&self, id: &str) -> Result<Option<Deal>> {
        self.one(&format!("SELECT {DEAL_COLUMNS} FROM deals WHERE id = $1"), &[&id], deal_row)
    }

    pub fn write_deal(
        &self,
        d: &Deal,
        is_open: bool,
        is_won: bool,
        now: &str,
        want_before: bool,
    ) -> Result<Option<DealBefore>> {
        // The row before the write, when asked for, comes back from the same
        // statement: a CTE's read sees the table as it was before the upsert,
        // and a data-modifying CTE always runs to its end.
        const UPSERT: &str = concat!(
            "INSERT INTO deals (id, account_id, stage, stage_entered_at, owner, amount, is_open, is_won, closed_at, data, created_at, updated_at, life, life_started_at, stage_epoch)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, ",
            epoch!(),
            ")
             ON CONFLICT (id) DO UPDATE SET account_id = $2, stage = $3, stage_entered_at = $4, owner = $5, amount = $6,
               is_open = $7, is_won = $8, closed_at = $9, data = $10, updated_at = $12, life = $13, life_started_at = $14,
               stage_epoch = CASE WHEN deals.stage = $3 AND deals.stage_entered_at = $4 AND deals.is_open = $7
                                   AND deals.closed_at IS NOT DISTINCT FROM $9 AND deals.account_id = $2
                                  THEN deals.stage_epoch ELSE ",
            epoch!(),
            " END"
        );
        static WITH_BEFORE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "WITH before AS (SELECT account_id, is_won FROM deals WHERE id = $1), up AS ({UPSERT})
                 SELECT account_id, is_won FROM before"
            )
        });
        let data = to_json(&d.data);
        let params: super::Params = &[
            &d.id,
            &d.account_id,
            &d.stage,
            &d.stage_entered_at,
            &d.owner,
            &d.amount,
            &is_open,
            &is_won,
            &d.closed_at,
            &data,
            &d.created_at,
            &now,
            &d.life,
            &d.life_started_at,
        ];
        if !want_before {
            self.exec_kept(UPSERT, params)?;
            return Ok(None);
        }
        self.in_unit_or_own(|| {
            self.dirty.set(true);
            let before = self
                .one(&WITH_BEFORE, params, |r| Ok(DealBefore { account_id: r.try_get(0)?, was_won: r.try_get(1)? }))?;
            // The upsert writes its one row (counted as `exec` would count it).
            self.changes.set(self.changes.get() + 1);
            Ok(before)
        })
    }

    pub fn open_deal_ids(&self, account_id: &str) -> Result<Vec<String>> {
        self.all(
            "SELECT id FROM deals WHERE account_id = $1 AND is_open ORDER BY created_at, id",
            &[&account_id],
            |r| r.try_get(0),
        )
    }

    /// Record a stage change: gathered for the unit's commit, or written now outside one.
    pub fn record_stage_change(&self, c: &StageChange) -> Result<()> {
        self.gather(|p| {
            p.stages.push(StageLog {
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

    pub fn write_activity(&self, a: &ActivityRow) -> Result<bool> {
        let data = to_json(a.data);
        let row: super::Params = &[&a.id, &a.account_id, &a.deal_id, &a.contact_id, &a.kind, &a.at, &data];
        let inserted = self.exec_kept(
            "INSERT INTO activities (id, account_id, deal_id, contact_id, kind, at, data) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO NOTHING",
            row,
        )?;
        if inserted == 0 {
            self.exec_kept(
                "UPDATE activities SET account_id = $2, deal_id = $3, contact_id = $4, kind = $5, at = $6, data = $7 WHERE id = $1",
                row,
            )?;
        }
        Ok(inserted == 1)
    }

    pub fn write_order(&self, o: &OrderRow) -> Result<OrderWrite> {
        let OrderRow { id, account_id, amount, product, at, data } = *o;
        let data = to_json(data);
        let inserted = self.exec_kept(
            concat!(
                "INSERT INTO orders (id, account_id, amount, product, at, data, epoch) VALUES ($1, $2, $3, $4, $5, $6, ",
                epoch!(),
                ") ON CONFLICT (id) DO NOTHING"
            ),
            &[&id, &account_id, &amount, &product, &at, &data],
        )?;
        if inserted == 1 {
            return Ok(OrderWrite::Inserted);
        }
        let was_account: Option<String> =
            self.one("SELECT account_id FROM orders WHERE id = $1", &[&id], |r| r.try_get(0))?;
        self.exec_kept(
            concat!(
                "UPDATE orders SET account_id = $2, amount = $3, product = $4, data = $5,
                   epoch = CASE WHEN account_id = $2 THEN epoch ELSE ",
                epoch!(),
                " END WHERE id = $1"
            ),
            &[&id, &account_id, &amount, &product, &data],
        )?;
        Ok(OrderWrite::Updated { was_account })
    }

    pub fn write_contract(
        &self,
        account_id: &str,
        c: &Contract,
        data: &Map<String, Value>,
        recorded_at: &str,
        want_before: bool,
    ) -> Result<Option<String>> {
        let before: Option<String> = if want_before {
            self.one("SELECT account_id FROM contracts WHERE id = $1", &[&c.id], |r| r.try_get(0))?
        } else {
            None
        };
        self.exec_kept(
            concat!(
                r#"INSERT INTO contracts (id, account_id, start, "end", annual_value, data, recorded_at, epoch) VALUES ($1, $2, $3, $4, $5, $6, $7, "#,
                epoch!(),
                r#") ON CONFLICT (id) DO UPDATE SET account_id = $2, start = $3, "end" = $4, annual_value = $5, data = $6, recorded_at = $7,
                   epoch = CASE WHEN contracts.account_id = $2 AND contracts.start = $3 AND contracts."end" = $4
                                THEN contracts.epoch ELSE "#,
                epoch!(),
                " END"
            ),
            &[&c.id, &account_id, &c.start, &c.end, &c.annual_value, &to_json(data), &recorded_at],
        )?;
        Ok(before)
    }

    pub fn write_target(&self, account_id: &str, product: &str, period: &str, amount: f64, at: &str) -> Result<()> {
        self.exec_kept(
            concat!(
                "INSERT INTO targets (account_id, product, period, amount, set_at, epoch) VALUES ($1, $2, $3, $4, $5, ",
                epoch!(),
                ") ON CONFLICT (account_id, product, period) DO UPDATE SET amount = $4, set_at = $5"
            ),
            &[&account_id, &product, &period, &amount, &at],
        )?;
        Ok(())
    }

    pub fn ledger_rows(&self, id: &str, floor: &str) -> Result<LedgerRows> {
        let orders =
            self.all("SELECT at, amount FROM orders WHERE account_id = $1 AND at > $2", &[&id, &floor], |r| {
                Ok((r.try_get(0)?, r.try_get(1)?))
            })?;
        let deals = self.all(
            "SELECT id, is_open, is_won, closed_at, amount FROM deals WHERE account_id = $1 AND (is_open OR is_won)",
            &[&id],
            |r| {
                Ok(LedgerDeal {
                    id: r.try_get(0)?,
                    is_open: r.try_get(1)?,
                    is_won: r.try_get(2)?,
                    closed_at: r.try_get(3)?,
                    amount: r.try_get(4)?,
                })
            },
        )?;
        let contact_roles = self.all("SELECT role FROM contacts WHERE account_id = $1", &[&id], |r| r.try_get(0))?;
        let contracts =
            self.all(r#"SELECT id, start, "end", annual_value FROM contracts WHERE account_id = $1"#, &[&id], |r| {
                Ok(Contract {
                    id: r.try_get(0)?,
                    start: r.try_get(1)?,
                    end: r.try_get(2)?,
                    annual_value: r.try_get(3)?,
                })
            })?;
        let targets = self.all("SELECT product, period, amount FROM targets WHERE account_id = $1", &[&id], |r| {
            Ok(Target { product: r.try_get(0)?, period: r.try_get(1)?, amount: r.try_get(2)? })
        })?;
        Ok(LedgerRows { orders, deals, contact_roles, contracts, targets })
    }

    pub fn deal_activity_rows(&self, deal_id: &str, since: Option<&str>) -> Result<DealActivityRows> {
        // `at >= $2`, with `''` for "all": every stored time is after it.
        let since = since.unwrap_or("");
        // One round trip for the three reads: part 0 the count per kind, part 1
        // the distinct contacts with their roles, part 2 the latest activity
        // (`a` sorts as bytes: the three columns it comes from are all COLLATE "C").
        let rows = self.rows(
            r#"SELECT 0 AS part, kind AS a, NULL::TEXT AS b, NULL::TEXT AS c, COUNT(*) AS n
                 FROM activities WHERE deal_id = $1 AND at >= $2 GROUP BY kind
               UNION ALL
               SELECT DISTINCT 1, a.contact_id, c.role, c.account_id, NULL::BIGINT
                 FROM activities a LEFT JOIN contacts c ON c.id = a.contact_id
                 WHERE a.deal_id = $1 AND a.at >= $2 AND a.contact_id IS NOT NULL
               UNION ALL
               SELECT 2, MAX(at), NULL, NULL, NULL FROM activities WHERE deal_id = $1 AND at >= $2
               ORDER BY part, a"#,
            &[&deal_id, &since],
        )?;
        let (mut per_kind, mut contacts, mut last_activity) = (Vec::new(), Vec::new(), None);
        for r in &rows {
            let part: i32 = r.try_get(0).ctx(self)?;
            match part {
                0 => per_kind.push((r.try_get(1).ctx(self)?, r.try_get(4).ctx(self)?)),
                1 => {
                    let (role, account_id): (Option<String>, Option<String>) =
                        (r.try_get(2).ctx(self)?, r.try_get(3).ctx(self)?);
                    let role = role.zip(account_id).map(|(role, account_id)| ContactRole { role, account_id });
                    contacts.push((r.try_get(1).ctx(self)?, role));
                }
                _ => last_activity = r.try_get(1).ctx(self)?,
            }
        }
        Ok(DealActivityRows { per_kind, contacts, last_activity })
    }

    pub fn counts(&self) -> Result<Counts> {
        Ok(self
            .one(
                "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM deals), (SELECT COUNT(*) FROM accounts WHERE is_key)",
                &[],
                |r| Ok(Counts { accounts: r.try_get(0)?, deals: r.try_get(1)?, key_accounts: r.try_get(2)? }),
            )?
            .unwrap_or_default())
    }

    pub fn accounts(&self, only_key: bool) -> Result<Vec<Account>> {
        self.all(
            &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE (NOT $1 OR is_key) ORDER BY length(id), id"),
            &[&only_key],
            account_row,
        )
    }

    pub fn deals(&self, stage: Option<&str>, account: Option<&str>) -> Result<Vec<Deal>> {
        self.all(
            &format!(
                "SELECT {DEAL_COLUMNS} FROM deals WHERE ($1::TEXT IS NULL OR stage = $1) AND ($2::TEXT IS NULL OR account_id = $2)
                 ORDER BY length(id), id"
            ),
            &[&stage, &account],
            deal_row,
        )
    }

    /// Added up as SQLite adds them, through its indexes (by time, then
    /// amount) and with its summation, so the totals are the same to the last bit.
    pub fn product_revenue(&self, account: &str, product: &str, from: &str, to: &str) -> Result<f64> {
        let pairs = |r: &postgres::Row| Ok((r.try_get::<_, String>(0)?, r.try_get::<_, f64>(1)?));
        let orders = self.all(
            "SELECT at, amount FROM orders WHERE account_id = $1 AND product = $2 AND at >= $3 AND at <= $4",
            &[&account, &product, &from, &to],
            pairs,
        )?;
        // `data->'product'` equal to the product as a JSON string: a number
        // or another kind of value never is, as with SQLite's `json_extract`.
        let deals = self.all(
            "SELECT closed_at, amount FROM deals WHERE account_id = $1 AND is_won
             AND (data::JSONB -> 'product') = to_jsonb($2::TEXT) AND closed_at >= $3 AND closed_at <= $4",
            &[&account, &product, &from, &to],
            pairs,
        )?;
        let sum = |rows: &[(String, f64)]| index_sum(rows.iter().map(|(at, amount)| (at.as_str(), *amount)).collect());
        Ok(sum(&orders) + sum(&deals))
    }
}
