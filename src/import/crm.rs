//! The `crm-sales-opportunities` export: a folder with `accounts.csv`,
//! `sales_teams.csv`, `products.csv` and `sales_pipeline.csv` (the layout of
//! the Maven Analytics "CRM Sales Opportunities" sample).
//!
//! What each file becomes:
//!
//! - `accounts.csv` → one `account.upserted` per row: `id` is a slug of the
//!   name, `annual_revenue` the `revenue` column (millions) in currency units,
//!   `parent_id` the slug of `subsidiary_of`, `country` the office location,
//!   `year_established` kept. Parents come before their subsidiaries. They
//!   are dated at midnight of the earliest date in the pipeline, so every
//!   account exists before its first deal.
//! - `sales_teams.csv` → the people: agents as `sales_rep`, managers as
//!   `sales_manager`, each with the agent's `regional_office` as region.
//! - `products.csv` → the product list. Products in the pipeline are matched
//!   to it without regard to case and spacing ("GTXPro" is "GTX Pro");
//!   names that match nothing are reported and kept as written.
//! - `sales_pipeline.csv` → per deal a `deal.upserted` at 09:00 on its
//!   `engage_date` opening it (amount: the product's price), and for a deal
//!   whose stage closes it (Won, Lost) a second one at 17:00 on its
//!   `close_date` requesting that stage (amount: `close_value`). A deal with
//!   no `engage_date` (a prospect) opens on the export date: the latest date
//!   in the file, when the export shows it in the pipeline. Stages are mapped
//!   by `[import.crm_sales_opportunities.stages]`; a closed deal opens in the
//!   stage mapped from `Engaging`. An open deal without an account becomes a
//!   `lead.created` instead; a closed one without an account is reported.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::roster::Person;
use super::sheet::{Csv, cell};
use super::{LeadNote, Plan, Planned, RowNote, Spelling, at_hour, content_id, slug};
use crate::config::Config;
use crate::error::{Error, Result};

pub const FORMAT: &str = "crm-sales-opportunities";

/// The files of the export, in the order they are read.
pub const FILES: [&str; 4] = ["accounts.csv", "sales_teams.csv", "products.csv", "sales_pipeline.csv"];

/// The source of the leads this import makes.
pub const LEAD_SOURCE: &str = "crm import";

/// A product of `products.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub name: String,
    pub series: String,
    pub price: Option<f64>,
}

/// Product names compare without case, spaces or punctuation.
fn product_key(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// The product `written` names: the same name, else the one that only
/// differs in case and spacing.
pub fn match_product<'p>(written: &str, products: &'p [Product]) -> Option<&'p Product> {
    let written = written.trim();
    products.iter().find(|p| p.name == written).or_else(|| {
        let key = product_key(written);
        (!key.is_empty()).then(|| products.iter().find(|p| product_key(&p.name) == key)).flatten()
    })
}

fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn parse_number(s: &str) -> Option<f64> {
    s.replace(',', "").parse::<f64>().ok().filter(|f| f.is_finite())
}

/// A number as JSON: a whole number stays whole.
fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e15 { json!(f as i64) } else { json!(f) }
}

struct Account {
    id: String,
    name: String,
    row: usize,
    data: Map<String, Value>,
    parent: Option<String>,
}

/// Read the export in `dir` into a plan. Fails only when a file is missing
/// or lacks a column; a bad row is rejected with its reason and the rest goes on.
pub fn plan(dir: &Path, config: &Config) -> Result<Plan> {
    let mut plan = Plan::new(FORMAT);
    for name in FILES {
        if !dir.join(name).is_file() {
            return Err(Error::Usage(format!(
                "{} is not a {FORMAT} export: {name} is missing (it needs {})",
                dir.display(),
                FILES.join(", ")
            )));
        }
    }
    let read = |name: &str| Csv::read(&dir.join(name), name, b',');
    let (accounts_csv, teams_csv, products_csv, pipeline_csv) =
        (read("accounts.csv")?, read("sales_teams.csv")?, read("products.csv")?, read("sales_pipeline.csv")?);
    for name in FILES {
        plan.file(name);
    }

    let products = read_products(&products_csv, &mut plan)?;
    let offices = read_teams(&teams_csv, &mut plan)?;
    let (first_day, export_day) = pipeline_days(&pipeline_csv)?;
    let accounts = read_accounts(&accounts_csv, &mut plan)?;
    let accounts_at = first_day.map(|d| at_hour(d, 0));
    for a in &accounts {
        let mut data = a.data.clone();
        if let Some(p) = &a.parent {
            data.insert("parent_id".into(), json!(p));
        }
        push(
            &mut plan,
            &format!("crm:account:{}", a.id),
            "account.upserted",
            accounts_at,
            data,
            &accounts_csv.file,
            a.row,
        );
    }
    let by_name: HashMap<&str, &Account> = accounts.iter().map(|a| (a.name.as_str(), a)).collect();
    let by_slug: HashMap<&str, &Account> = accounts.iter().map(|a| (a.id.as_str(), a)).collect();
    let ctx = Pipeline { config, products: &products, offices: &offices, export_day, by_name, by_slug };
    ctx.read(&pipeline_csv, &mut plan)?;
    plan.sort();
    plan.drop_repeats();
    Ok(plan)
}

fn push(
    plan: &mut Plan,
    prefix: &str,
    kind: &str,
    at: Option<chrono::DateTime<chrono::Utc>>,
    data: Map<String, Value>,
    file: &str,
    row: usize,
) {
    let id = content_id(prefix, kind, &data);
    plan.events.push(Planned {
        id,
        kind: kind.to_string(),
        at,
        data,
        origin: super::Origin { file: file.to_string(), row },
    });
}

fn read_products(csv: &Csv, plan: &mut Plan) -> Result<Vec<Product>> {
    let (name, price) = (csv.column("product")?, csv.column("sales_price")?);
    let series = csv.find("series");
    plan.file(&csv.file);
    for (row, why) in &csv.unreadable {
        plan.reject(&csv.file, *row, why.clone());
    }
    let mut products: Vec<Product> = Vec::new();
    for (row, r) in &csv.rows {
        let n = cell(r, name);
        if n.is_empty() {
            plan.reject(&csv.file, *row, "no product name");
            continue;
        }
        if products.iter().any(|p| p.name == n) {
            plan.reject(&csv.file, *row, format!("product {n:?} is listed twice"));
            continue;
        }
        let p = cell(r, price);
        let price = parse_number(p);
        if price.is_none() && !p.is_empty() {
            plan.note(
                &csv.file,
                *row,
                format!("sales_price {p:?} is not a number: deals of {n} get no amount until closed"),
            );
        }
        plan.count(&csv.file, "products");
        products.push(Product {
            name: n.to_string(),
            series: series.map(|s| cell(r, s).to_string()).unwrap_or_default(),
            price,
        });
    }
    Ok(products)
}

/// The people of `sales_teams.csv` (into the plan) and each agent's office.
fn read_teams(csv: &Csv, plan: &mut Plan) -> Result<HashMap<String, String>> {
    let (agent, manager, office) = (csv.column("sales_agent")?, csv.column("manager")?, csv.column("regional_office")?);
    plan.file(&csv.file);
    for (row, why) in &csv.unreadable {
        plan.reject(&csv.file, *row, why.clone());
    }
    let mut offices = HashMap::new();
    let mut managers: Vec<Person> = Vec::new();
    for (row, r) in &csv.rows {
        let (a, m, o) = (cell(r, agent), cell(r, manager), cell(r, office));
        if a.is_empty() {
            plan.reject(&csv.file, *row, "no sales_agent");
            continue;
        }
        let region = (!o.is_empty()).then(|| o.to_string());
        if plan.people.iter().any(|p| p.name == a) {
            plan.note(&csv.file, *row, format!("{a} is listed again: the first row counts"));
        } else {
            plan.people.push(Person {
                name: a.to_string(),
                id: None,
                role: "sales_rep".into(),
                region: region.clone(),
            });
            if let Some(o) = &region {
                offices.insert(a.to_string(), o.clone());
            }
        }
        if !m.is_empty() && !managers.iter().any(|p| p.name == m) {
            managers.push(Person { name: m.to_string(), id: None, role: "sales_manager".into(), region });
        }
        plan.count(&csv.file, "people");
    }
    // A manager who is also listed as an agent keeps the agent's row.
    managers.retain(|m| !plan.people.iter().any(|p| p.name == m.name));
    plan.people.extend(managers);
    Ok(offices)
}

/// The earliest and the latest date in the pipeline: accounts are dated at
/// the first, deals without an engage date open at the last (the export's date).
fn pipeline_days(csv: &Csv) -> Result<(Option<NaiveDate>, Option<NaiveDate>)> {
    let (engage, close) = (csv.column("engage_date")?, csv.column("close_date")?);
    let days = csv.rows.iter().flat_map(|(_, r)| [cell(r, engage), cell(r, close)]).filter_map(parse_day);
    Ok(days.fold((None, None), |(lo, hi): (Option<NaiveDate>, Option<NaiveDate>), d| {
        (Some(lo.map_or(d, |l| l.min(d))), Some(hi.map_or(d, |h| h.max(d))))
    }))
}

fn read_accounts(csv: &Csv, plan: &mut Plan) -> Result<Vec<Account>> {
    let name = csv.column("account")?;
    let optional = |c: &str| csv.find(c);
    let (sector, year, revenue, employees, office, parent) = (
        optional("sector"),
        optional("year_established"),
        optional("revenue"),
        optional("employees"),
        optional("office_location"),
        optional("subsidiary_of"),
    );
    plan.file(&csv.file);
    for (row, why) in &csv.unreadable {
        plan.reject(&csv.file, *row, why.clone());
    }
    let mut accounts: Vec<Account> = Vec::new();
    let mut parents: Vec<(usize, String)> = Vec::new();
    for (row, r) in &csv.rows {
        let n = cell(r, name);
        let base = slug(n);
        if base.is_empty() {
            plan.reject(&csv.file, *row, format!("account name {n:?} gives no id (it needs a letter or digit)"));
            continue;
        }
        if accounts.iter().any(|a| a.name == n) {
            plan.reject(&csv.file, *row, format!("account {n:?} is listed twice"));
            continue;
        }
        let mut id = base.clone();
        let mut k = 2;
        while accounts.iter().any(|a| a.id == id) {
            id = format!("{base}-{k}");
            k += 1;
        }
        if id != base {
            plan.note(&csv.file, *row, format!("{n:?} has the id {id:?}: {base:?} is another account's"));
        }
        let mut data = Map::new();
        data.insert("id".into(), json!(id));
        data.insert("name".into(), json!(n));
        let text = |c: Option<usize>| c.map(|c| cell(r, c)).filter(|s| !s.is_empty());
        if let Some(s) = text(sector) {
            data.insert("sector".into(), json!(s));
        }
        let mut whole = |col: &str, c: Option<usize>, field: &str, plan: &mut Plan| {
            if let Some(s) = text(c) {
                match parse_number(s).filter(|f| f.fract() == 0.0) {
                    Some(v) => {
                        data.insert(field.into(), json!(v as i64));
                    }
                    None => plan.note(&csv.file, *row, format!("{col} {s:?} is not a whole number: left out")),
                }
            }
        };
        whole("employees", employees, "employees", plan);
        whole("year_established", year, "year_established", plan);
        if let Some(s) = text(revenue) {
            match parse_number(s) {
                // The file gives millions; the contract wants currency units.
                Some(m) => {
                    data.insert("annual_revenue".into(), number((m * 1_000_000.0).round()));
                }
                None => plan.note(&csv.file, *row, format!("revenue {s:?} is not a number: left out")),
            }
        }
        if let Some(s) = text(office) {
            data.insert("country".into(), json!(s));
        }
        if let Some(p) = text(parent) {
            parents.push((accounts.len(), p.to_string()));
        }
        plan.count(&csv.file, "accounts");
        accounts.push(Account { id, name: n.to_string(), row: *row, data, parent: None });
    }
    for (i, parent) in parents {
        let found =
            accounts.iter().find(|a| a.name == parent).or_else(|| accounts.iter().find(|a| a.id == slug(&parent)));
        match found {
            Some(p) if p.id == accounts[i].id => {
                plan.note(&csv.file, accounts[i].row, "an account cannot be its own parent: subsidiary_of left out")
            }
            Some(p) => accounts[i].parent = Some(p.id.clone()),
            None => plan.note(
                &csv.file,
                accounts[i].row,
                format!("subsidiary_of {parent:?} is not an account of the file: left out"),
            ),
        }
    }
    Ok(parents_first(accounts, &csv.file, plan))
}

/// Accounts ordered so that a parent always comes before its subsidiaries
/// (otherwise in file order); a cycle of parents is broken and reported.
fn parents_first(accounts: Vec<Account>, file: &str, plan: &mut Plan) -> Vec<Account> {
    let index: HashMap<String, usize> = accounts.iter().enumerate().map(|(i, a)| (a.id.clone(), i)).collect();
    let mut state = vec![0u8; accounts.len()]; // 0 new, 1 in progress, 2 placed
    let mut order = Vec::with_capacity(accounts.len());
    let mut cut = Vec::new();
    for start in 0..accounts.len() {
        // Walk up to the first ancestor not placed yet, then place down the chain.
        let mut chain = vec![start];
        while let Some(&i) = chain.last() {
            if state[i] == 2 {
                chain.pop();
                break;
            }
            state[i] = 1;
            match accounts[i].parent.as_ref().and_then(|p| index.get(p)).copied() {
                Some(p) if state[p] == 1 => {
                    cut.push(i);
                    break;
                }
                Some(p) => chain.push(p),
                None => break,
            }
        }
        for &i in chain.iter().rev() {
            if state[i] != 2 {
                state[i] = 2;
                order.push(i);
            }
        }
    }
    let mut slots: Vec<Option<Account>> = accounts.into_iter().map(Some).collect();
    for i in cut {
        if let Some(a) = slots[i].as_mut() {
            plan.note(
                file,
                a.row,
                format!("{:?} is its own ancestor through subsidiary_of: its parent is left out", a.name),
            );
            a.parent = None;
        }
    }
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

struct Pipeline<'a> {
    config: &'a Config,
    products: &'a [Product],
    offices: &'a HashMap<String, String>,
    export_day: Option<NaiveDate>,
    by_name: HashMap<&'a str, &'a Account>,
    by_slug: HashMap<&'a str, &'a Account>,
}

impl Pipeline<'_> {
    /// The pipeline stage a CRM stage is mapped to.
    fn stage(&self, crm: &str) -> Option<&str> {
        let stages = &self.config.crm_import.stages;
        stages
            .get(crm)
            .or_else(|| stages.iter().find(|(k, _)| k.eq_ignore_ascii_case(crm)).map(|(_, v)| v))
            .map(String::as_str)
    }

    /// The stage a closed deal was in while open: the one mapped from `Engaging`, when open; else the first.
    fn engaged_stage(&self) -> &str {
        let pipeline = &self.config.pipeline;
        self.stage("Engaging").filter(|s| !pipeline.is_closed(s)).unwrap_or(pipeline.first())
    }

    fn read(&self, csv: &Csv, plan: &mut Plan) -> Result<()> {
        let col = |n: &str| csv.column(n);
        let (id_col, agent, product, account, stage, engage, close, value) = (
            col("opportunity_id")?,
            col("sales_agent")?,
            col("product")?,
            col("account")?,
            col("deal_stage")?,
            col("engage_date")?,
            col("close_date")?,
            col("close_value")?,
        );
        let file = csv.file.as_str();
        plan.file(file);
        for (row, why) in &csv.unreadable {
            plan.reject(file, *row, why.clone());
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut spellings: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut stub_accounts: Vec<String> = Vec::new();
        let pipeline = &self.config.pipeline;
        for (row, r) in &csv.rows {
            let row = *row;
            let id = cell(r, id_col);
            if id.is_empty() {
                plan.reject(file, row, "no opportunity_id");
                continue;
            }
            if let Some(first) = seen.get(id) {
                plan.reject(file, row, format!("opportunity_id {id} is on row {first} already"));
                continue;
            }
            seen.insert(id.to_string(), row);
            let crm_stage = cell(r, stage);
            let Some(mapped) = self.stage(crm_stage) else {
                let known: Vec<&str> = self.config.crm_import.stages.keys().map(String::as_str).collect();
                let h = crate::error::hint(crm_stage, known.iter().copied());
                plan.reject(
                    file,
                    row,
                    format!(
                        "deal_stage {crm_stage:?} has no pipeline stage{h}: add it to \
                         [import.crm_sales_opportunities.stages] in config.toml (it has {})",
                        known.join(", ")
                    ),
                );
                continue;
            };
            let closed = pipeline.is_closed(mapped);
            let (e, c) = (cell(r, engage), cell(r, close));
            let engaged = match (e.is_empty(), parse_day(e)) {
                (true, _) => None,
                (false, Some(d)) => Some(d),
                (false, None) => {
                    plan.reject(file, row, format!("engage_date {e:?} is not a date like 2017-03-01"));
                    continue;
                }
            };
            let closed_on = match (closed, c.is_empty(), parse_day(c)) {
                (false, _, _) => None,
                (true, true, _) => None,
                (true, false, Some(d)) => Some(d),
                (true, false, None) => {
                    plan.reject(file, row, format!("close_date {c:?} is not a date like 2017-03-01"));
                    continue;
                }
            };
            let v = cell(r, value);
            let close_value = match (closed, v.is_empty(), parse_number(v)) {
                (true, false, None) => {
                    plan.reject(file, row, format!("close_value {v:?} is not a number"));
                    continue;
                }
                (true, false, Some(n)) => Some(n),
                _ => None,
            };
            let written = cell(r, product);
            let matched = match_product(written, self.products);
            let product_name = match matched {
                Some(p) => {
                    if p.name != written {
                        *spellings.entry((written.to_string(), p.name.clone())).or_default() += 1;
                    }
                    p.name.clone()
                }
                None => {
                    if !written.is_empty() {
                        plan.unmatched_products.push(RowNote {
                            file: file.into(),
                            row,
                            message: format!("{written:?} is not in products.csv: kept as written"),
                        });
                    }
                    written.to_string()
                }
            };
            let price = matched.and_then(|p| p.price);
            let owner = cell(r, agent);
            if !owner.is_empty() && !plan.people.iter().any(|p| p.name == owner) {
                plan.note(
                    file,
                    row,
                    format!("sales_agent {owner:?} is not in sales_teams.csv: a sales_rep with no region"),
                );
                plan.people.push(Person { name: owner.to_string(), id: None, role: "sales_rep".into(), region: None });
            }
            let account_name = cell(r, account);
            let opened = engaged.or(if closed { closed_on } else { None }).or(self.export_day);
            if account_name.is_empty() {
                if closed {
                    plan.count(file, "closed deals without an account");
                    plan.closed_without_account.push(RowNote {
                        file: file.into(),
                        row,
                        message: format!("{crm_stage} deal {id} names no account: not imported"),
                    });
                    continue;
                }
                let mut data = Map::new();
                data.insert("id".into(), json!(id));
                data.insert("name".into(), json!(format!("opportunity {id} ({product_name})")));
                data.insert("source".into(), json!(LEAD_SOURCE));
                if !product_name.is_empty() {
                    data.insert("product".into(), json!(product_name));
                }
                if !owner.is_empty() {
                    data.insert("owner".into(), json!(owner));
                }
                if let Some(region) = self.offices.get(owner) {
                    data.insert("region".into(), json!(region));
                }
                push(plan, &format!("crm:lead:{id}"), "lead.created", opened.map(|d| at_hour(d, 9)), data, file, row);
                plan.count(file, "leads");
                plan.leads.push(LeadNote {
                    file: file.into(),
                    row,
                    lead_id: id.to_string(),
                    product: product_name,
                    owner: owner.to_string(),
                });
                continue;
            }
            let account_id =
                match self.by_name.get(account_name).or_else(|| self.by_slug.get(slug(account_name).as_str())) {
                    Some(a) => a.id.clone(),
                    None => {
                        let aid = slug(account_name);
                        if aid.is_empty() {
                            plan.reject(file, row, format!("account {account_name:?} gives no id"));
                            continue;
                        }
                        if !stub_accounts.contains(&aid) {
                            stub_accounts.push(aid.clone());
                            plan.note(
                                file,
                                row,
                                format!("account {account_name:?} is not in accounts.csv: created with its name only"),
                            );
                            let data =
                                serde_json::from_value(json!({"id": aid, "name": account_name})).unwrap_or_default();
                            let at = opened.map(|d| at_hour(d, 0));
                            push(plan, &format!("crm:account:{aid}"), "account.upserted", at, data, file, row);
                        }
                        aid
                    }
                };
            let display = self.by_name.get(account_name).map_or(account_name, |a| a.name.as_str());
            let mut data = Map::new();
            data.insert("id".into(), json!(id));
            data.insert("account_id".into(), json!(account_id));
            let deal_name = if product_name.is_empty() {
                format!("{display} ({id})")
            } else {
                format!("{display}: {product_name} ({id})")
            };
            data.insert("name".into(), json!(deal_name));
            if !product_name.is_empty() {
                data.insert("product".into(), json!(product_name));
            }
            if let Some(p) = price {
                data.insert("amount".into(), number(p));
            }
            if !owner.is_empty() {
                data.insert("owner".into(), json!(owner));
            }
            let open_stage = if closed { self.engaged_stage() } else { mapped };
            data.insert("stage".into(), json!(open_stage));
            push(plan, &format!("crm:deal:{id}:open"), "deal.upserted", opened.map(|d| at_hour(d, 9)), data, file, row);
            if closed {
                let mut day = closed_on;
                if day.is_none() {
                    plan.note(file, row, format!("{crm_stage} without a close_date: closed on the export date"));
                    day = self.export_day;
                }
                if let (Some(d), Some(o)) = (day, opened)
                    && d < o
                {
                    plan.note(
                        file,
                        row,
                        format!("close_date {d} is before engage_date {o}: closed on the engage date"),
                    );
                    day = Some(o);
                }
                let mut data = Map::new();
                data.insert("id".into(), json!(id));
                data.insert("account_id".into(), json!(account_id));
                data.insert("stage".into(), json!(mapped));
                match close_value.or(price) {
                    Some(amount) => {
                        if close_value.is_none() {
                            plan.note(
                                file,
                                row,
                                format!("{crm_stage} without a close_value: the product's price is its amount"),
                            );
                        }
                        data.insert("amount".into(), number(amount));
                    }
                    None => plan.note(file, row, format!("{crm_stage} without a close_value: no amount")),
                }
                push(
                    plan,
                    &format!("crm:deal:{id}:close"),
                    "deal.upserted",
                    day.map(|d| at_hour(d, 17)),
                    data,
                    file,
                    row,
                );
            }
            plan.count(file, "deals");
        }
        plan.product_spellings =
            spellings.into_iter().map(|((written, product), rows)| Spelling { written, product, rows }).collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn products() -> Vec<Product> {
        ["GTX Basic", "GTX Pro", "GTX Plus Pro", "MG Special"]
            .iter()
            .map(|n| Product { name: n.to_string(), series: String::new(), price: Some(1.0) })
            .collect()
    }

    #[test]
    fn products_match_without_case_or_spacing() {
        let p = products();
        let name = |w: &str| match_product(w, &p).map(|p| p.name.as_str());
        assert_eq!(name("GTX Pro"), Some("GTX Pro"));
        assert_eq!(name("GTXPro"), Some("GTX Pro"));
        assert_eq!(name(" gtx  pro "), Some("GTX Pro"));
        assert_eq!(name("GTX-Plus-Pro"), Some("GTX Plus Pro"));
        assert_eq!(name("mgspecial"), Some("MG Special"));
        assert_eq!(name("GTX Plus"), None, "a prefix is not a match");
        assert_eq!(name("GTK 500"), None);
        assert_eq!(name(""), None);
    }

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    const ACCOUNTS: &str = "account,sector,year_established,revenue,employees,office_location,subsidiary_of\n\
        Kid Co,retail,2001,1.5,12,Italy,Mid Co\n\
        Mid Co,retail,1999,0.25,40,United States,Top & Co\n\
        Top & Co,medical,1980,2000.04,5000,United States,\n";
    const TEAMS: &str =
        "sales_agent,manager,regional_office\nMoses Frase,Dustin Brinkmann,Central\nZane Levy,Summer Sewald,West\n";
    const PRODUCTS: &str = "product,series,sales_price\nGTX Pro,GTX,4821\nMG Special,MG,55\n";
    const PIPELINE: &str = "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\n\
        D1,Moses Frase,GTXPro,Kid Co,Won,2017-01-10,2017-02-01,4500\n\
        D2,Zane Levy,MG Special,,Engaging,2017-01-11,,\n\
        D3,Zane Levy,Widget,Top & Co,Prospecting,,,\n\
        D4,Zane Levy,MG Special,,Lost,2017-01-02,2017-01-20,0\n\
        D5,Zane Levy,MG Special,Top & Co,Negotiating,2017-01-02,,\n\
        D6,Zane Levy,MG Special,Top & Co,Engaging,someday,,\n";

    fn config() -> Config {
        Config::parse(Path::new("."), include_str!("../../config.toml")).unwrap()
    }

    #[test]
    fn a_small_export_becomes_ordered_events_and_every_row_is_accounted_for() {
        let dir = folder(&[
            ("accounts.csv", ACCOUNTS),
            ("sales_teams.csv", TEAMS),
            ("products.csv", PRODUCTS),
            ("sales_pipeline.csv", PIPELINE),
        ]);
        let plan = plan(dir.path(), &config()).unwrap();
        let kinds: Vec<(&str, &str, String)> = plan
            .events
            .iter()
            .map(|e| (e.kind.as_str(), e.data["id"].as_str().unwrap(), super::super::stamp(e.at.unwrap())))
            .collect();
        assert_eq!(
            kinds,
            [
                ("account.upserted", "top-co", "2017-01-02T00:00:00Z".to_string()),
                ("account.upserted", "mid-co", "2017-01-02T00:00:00Z".into()),
                ("account.upserted", "kid-co", "2017-01-02T00:00:00Z".into()),
                ("deal.upserted", "D1", "2017-01-10T09:00:00Z".into()),
                ("lead.created", "D2", "2017-01-11T09:00:00Z".into()),
                // A prospect with no engage date opens on the export's last date.
                ("deal.upserted", "D3", "2017-02-01T09:00:00Z".into()),
                ("deal.upserted", "D1", "2017-02-01T17:00:00Z".into()),
            ]
        );
        let kid = &plan.events[2].data;
        assert_eq!(kid["annual_revenue"], 1_500_000);
        assert_eq!(kid["parent_id"], "mid-co");
        assert_eq!(kid["country"], "Italy");
        assert_eq!(kid["year_established"], 2001);
        assert_eq!(plan.events[0].data["annual_revenue"], 2_000_040_000i64, "millions, rounded to units");

        let open = &plan.events[3].data;
        assert_eq!(open["product"], "GTX Pro", "matched to the product list");
        assert_eq!(open["amount"], 4821, "an open deal is worth the product's price");
        assert_eq!(open["stage"], "qualified", "a won deal opens as Engaging maps");
        assert_eq!(open["owner"], "Moses Frase");
        assert_eq!(open["name"], "Kid Co: GTX Pro (D1)");
        let close = &plan.events[6].data;
        assert_eq!((close["stage"].as_str(), close["amount"].as_i64()), (Some("won"), Some(4500)));
        assert_eq!(plan.events[5].data["stage"], "lead");
        assert_eq!(plan.events[5].data["product"], "Widget", "unmatched: kept as written");
        assert!(plan.events[5].data.get("amount").is_none());

        let lead = &plan.events[4].data;
        assert_eq!(lead["source"], LEAD_SOURCE);
        assert_eq!(lead["region"], "West", "the agent's office");
        assert_eq!(plan.leads.len(), 1);
        assert_eq!(plan.closed_without_account.len(), 1);
        assert_eq!(plan.closed_without_account[0].row, 5);
        assert_eq!(plan.unmatched_products.len(), 1);
        assert_eq!(plan.unmatched_products[0].row, 4);
        assert_eq!(plan.product_spellings.len(), 1);
        assert_eq!(plan.product_spellings[0].written, "GTXPro");
        let rejected: Vec<(usize, bool)> = plan
            .rejected_rows
            .iter()
            .map(|r| (r.row, r.message.contains("Negotiating") || r.message.contains("someday")))
            .collect();
        assert_eq!(rejected, [(6, true), (7, true)]);

        let files: Vec<&str> = plan.files.iter().map(|f| f.file.as_str()).collect();
        assert_eq!(files, FILES, "row numbers name the file within the export");
        let pipeline = &plan.files[3];
        assert_eq!(pipeline.rows, 6);
        assert_eq!(pipeline.outcomes.values().sum::<usize>(), 6, "{:?}", pipeline.outcomes);
        let people: Vec<(&str, &str)> = plan.people.iter().map(|p| (p.name.as_str(), p.role.as_str())).collect();
        assert_eq!(
            people,
            [
                ("Moses Frase", "sales_rep"),
                ("Zane Levy", "sales_rep"),
                ("Dustin Brinkmann", "sales_manager"),
                ("Summer Sewald", "sales_manager")
            ]
        );
        assert_eq!(plan.people[3].region.as_deref(), Some("West"));

        let again = super::plan(dir.path(), &config()).unwrap();
        let ids = |p: &Plan| p.events.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&plan), ids(&again), "the same export gives the same event ids");
    }

    #[test]
    fn stage_mapping_comes_from_the_config() {
        let text = include_str!("../../config.toml").replace("Engaging = \"qualified\"", "Engaging = \"proposal\"");
        let config = Config::parse(Path::new("."), &text).unwrap();
        let dir = folder(&[
            ("accounts.csv", ACCOUNTS),
            ("sales_teams.csv", TEAMS),
            ("products.csv", PRODUCTS),
            ("sales_pipeline.csv", PIPELINE),
        ]);
        let plan = plan(dir.path(), &config).unwrap();
        let d1 = plan.events.iter().find(|e| e.data["id"] == "D1").unwrap();
        assert_eq!(d1.data["stage"], "proposal");
    }

    #[test]
    fn agents_missing_from_the_teams_file_join_the_roster_without_a_region() {
        let dir = folder(&[
            ("accounts.csv", ACCOUNTS),
            ("sales_teams.csv", TEAMS),
            ("products.csv", PRODUCTS),
            ("sales_pipeline.csv", &PIPELINE.replace("D3,Zane Levy", "D3,Nobody New")),
        ]);
        let plan = plan(dir.path(), &config()).unwrap();
        let p = plan.people.iter().find(|p| p.name == "Nobody New").expect("added");
        assert_eq!((p.role.as_str(), p.region.as_deref()), ("sales_rep", None));
        assert!(
            plan.notes.iter().any(|n| n.row == 4 && n.message.contains("not in sales_teams.csv")),
            "{:?}",
            plan.notes
        );
    }

    #[test]
    fn parent_cycles_are_broken_and_reported() {
        let accounts = "account,subsidiary_of\nA,B\nB,A\nC,\n";
        let dir = folder(&[("accounts.csv", accounts)]);
        let csv = Csv::read(&dir.path().join("accounts.csv"), "accounts.csv", b',').unwrap();
        let mut plan = Plan::new("t");
        let got = read_accounts(&csv, &mut plan).unwrap();
        let ids: Vec<(&str, Option<&str>)> = got.iter().map(|a| (a.id.as_str(), a.parent.as_deref())).collect();
        assert_eq!(ids.len(), 3);
        assert_eq!(plan.notes.len(), 1, "{:?}", plan.notes);
        // Every parent that is kept comes first.
        for (i, (_, parent)) in ids.iter().enumerate() {
            if let Some(p) = parent {
                assert!(ids[..i].iter().any(|(id, _)| id == p), "{ids:?}");
            }
        }
    }

    #[test]
    fn a_missing_file_or_column_stops_before_anything() {
        let dir = folder(&[("accounts.csv", ACCOUNTS), ("sales_teams.csv", TEAMS), ("products.csv", PRODUCTS)]);
        let err = plan(dir.path(), &config()).unwrap_err().to_string();
        assert!(err.contains("sales_pipeline.csv is missing"), "{err}");
        let dir = folder(&[
            ("accounts.csv", ACCOUNTS),
            ("sales_teams.csv", TEAMS),
            ("products.csv", PRODUCTS),
            ("sales_pipeline.csv", &PIPELINE.replace("deal_stage", "dealstage")),
        ]);
        let err = plan(dir.path(), &config()).unwrap_err().to_string();
        assert!(err.contains("no column \"deal_stage\" (did you mean \"dealstage\"?)"), "{err}");
    }
}
