//! The in-memory backend against the SQLite store: the same writes, in
//! units rolled back and kept at random, must leave both answering every
//! question alike (rows, orders, generations, task ids, loads, sums).

use std::fmt::Debug;

use serde_json::{Map, Value, json};

use super::Memory;
use crate::model::{Account, Contract, Deal, NewTask, Priority, RuleRef, Subject, Task};
use crate::store::backend::*;
use crate::store::{Store, TargetRow};

/// A small deterministic generator (xorshift), so a failure can be replayed from its seed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.roll(from.len())]
    }
}

const ACCOUNTS: &[&str] = &["A", "B", "C10", "D"];
const PEOPLE: &[&str] = &["Ana", "Ben", "Cy"];
const ROLES: &[&str] = &["sales_rep", "account_manager"];
const STAGES: &[&str] = &["new", "proposal", "won", "lost"];
const PRODUCTS: &[&str] = &["p", "q"];

fn day(d: &mut Dice) -> String {
    format!("2026-01-{:02}T09:00:00Z", 1 + d.roll(9))
}

fn date(d: &mut Dice) -> String {
    format!("2026-01-{:02}", 1 + d.roll(9))
}

/// The questions both stores answer, in the backend's terms (the SQLite
/// store's own answers are tuples: they are put in the same types).
trait Ask {
    fn tasks(&self) -> Vec<Task>;
    fn accounts(&self) -> Vec<Account>;
    fn deals(&self) -> Vec<Deal>;
    fn counts(&self) -> Counts;
    fn max_task_id(&self) -> i64;
    fn holders(&self) -> Vec<Holder>;
    fn by_role(&self) -> Vec<RoleCount>;
    fn targets(&self) -> Vec<TargetRow>;
    fn ending(&self, until: &str, today: &str) -> Vec<ContractEnding>;
    fn epoch(&self) -> i64;
    fn quiet(&self, by: &str) -> Vec<QuietAccount>;
    fn due(&self, from: Option<&str>, before: &str, ids: (i64, i64)) -> Vec<i64>;
    fn turn(&self, role: &str, region: &str, n: usize) -> usize;
    fn loads(&self, role: &str) -> Vec<Load>;
    fn open_of(&self, role: &str, who: &str) -> Vec<i64>;
    fn in_stage(&self, stage: &str, by: &str) -> Vec<DealInStage>;
    fn review(&self, after: Option<&str>, by: &str, last_day: Option<&str>, today: &str, e: (i64, i64)) -> Vec<String>;
    fn children(&self, id: &str) -> Vec<String>;
    fn open_deals(&self, account: &str) -> Vec<String>;
    fn owned(&self, owner: &str) -> i64;
    fn revenue(&self, account: &str, product: &str, from: &str, to: &str) -> f64;
}

impl Ask for Memory {
    fn tasks(&self) -> Vec<Task> {
        Backend::tasks(self, &TaskFilter::default()).unwrap()
    }
    fn accounts(&self) -> Vec<Account> {
        Backend::accounts(self, false).unwrap()
    }
    fn deals(&self) -> Vec<Deal> {
        Backend::deals(self, None, None).unwrap()
    }
    fn counts(&self) -> Counts {
        Backend::counts(self).unwrap()
    }
    fn max_task_id(&self) -> i64 {
        Backend::max_task_id(self).unwrap()
    }
    fn holders(&self) -> Vec<Holder> {
        self.open_task_holders().unwrap()
    }
    fn by_role(&self) -> Vec<RoleCount> {
        self.open_tasks_by_role().unwrap()
    }
    fn targets(&self) -> Vec<TargetRow> {
        self.all_targets().unwrap()
    }
    fn ending(&self, until: &str, today: &str) -> Vec<ContractEnding> {
        self.contracts_ending(until, today).unwrap()
    }
    fn epoch(&self) -> i64 {
        self.sweep_epoch().unwrap()
    }
    fn quiet(&self, by: &str) -> Vec<QuietAccount> {
        self.quiet_key_accounts(by).unwrap()
    }
    fn due(&self, from: Option<&str>, before: &str, ids: (i64, i64)) -> Vec<i64> {
        self.tasks_due_between(from, before, ids).unwrap()
    }
    fn turn(&self, role: &str, region: &str, n: usize) -> usize {
        self.take_turn(role, region, n).unwrap()
    }
    fn loads(&self, role: &str) -> Vec<Load> {
        self.open_tasks_per_assignee(role).unwrap()
    }
    fn open_of(&self, role: &str, who: &str) -> Vec<i64> {
        self.open_tasks_of(role, who).unwrap()
    }
    fn in_stage(&self, stage: &str, by: &str) -> Vec<DealInStage> {
        self.deals_in_stage_since(stage, by).unwrap()
    }
    fn review(&self, after: Option<&str>, by: &str, last_day: Option<&str>, today: &str, e: (i64, i64)) -> Vec<String> {
        self.accounts_to_review(after, by, last_day, today, e).unwrap()
    }
    fn children(&self, id: &str) -> Vec<String> {
        self.child_accounts(id).unwrap()
    }
    fn open_deals(&self, account: &str) -> Vec<String> {
        self.open_deal_ids(account).unwrap()
    }
    fn owned(&self, owner: &str) -> i64 {
        self.accounts_owned(owner).unwrap()
    }
    fn revenue(&self, account: &str, product: &str, from: &str, to: &str) -> f64 {
        self.product_revenue(account, product, from, to).unwrap()
    }
}

impl Ask for Store {
    fn tasks(&self) -> Vec<Task> {
        Store::tasks(self, &crate::store::TaskFilter::default()).unwrap()
    }
    fn accounts(&self) -> Vec<Account> {
        Store::accounts(self, false).unwrap()
    }
    fn deals(&self) -> Vec<Deal> {
        Store::deals(self, None, None).unwrap()
    }
    fn counts(&self) -> Counts {
        let (accounts, deals, key_accounts) = Store::counts(self).unwrap();
        Counts { accounts, deals, key_accounts }
    }
    fn max_task_id(&self) -> i64 {
        Store::max_task_id(self).unwrap()
    }
    fn holders(&self) -> Vec<Holder> {
        let holders = self.open_task_holders().unwrap();
        holders.into_iter().map(|(role, assignee)| Holder { role, assignee }).collect()
    }
    fn by_role(&self) -> Vec<RoleCount> {
        self.open_tasks_by_role().unwrap().into_iter().map(|(role, open)| RoleCount { role, open }).collect()
    }
    fn targets(&self) -> Vec<TargetRow> {
        self.all_targets().unwrap()
    }
    fn ending(&self, until: &str, today: &str) -> Vec<ContractEnding> {
        let ending = self.contracts_ending(until, today).unwrap();
        ending
            .into_iter()
            .map(|(contract_id, account_id, end, epoch)| ContractEnding { contract_id, account_id, end, epoch })
            .collect()
    }
    fn epoch(&self) -> i64 {
        self.sweep_epoch().unwrap()
    }
    fn quiet(&self, by: &str) -> Vec<QuietAccount> {
        let quiet = self.quiet_key_accounts(by).unwrap();
        quiet
            .into_iter()
            .map(|(account_id, quiet_since, key_since, epoch)| QuietAccount {
                account_id,
                quiet_since,
                key_since,
                epoch,
            })
            .collect()
    }
    fn due(&self, from: Option<&str>, before: &str, ids: (i64, i64)) -> Vec<i64> {
        self.tasks_due_between(from, before, ids).unwrap()
    }
    fn turn(&self, role: &str, region: &str, n: usize) -> usize {
        self.take_turn(role, region, n).unwrap()
    }
    fn loads(&self, role: &str) -> Vec<Load> {
        self.open_tasks_per_assignee(role).unwrap().into_iter().map(|(who, open)| Load { who, open }).collect()
    }
    fn open_of(&self, role: &str, who: &str) -> Vec<i64> {
        self.open_tasks_of(role, who).unwrap()
    }
    fn in_stage(&self, stage: &str, by: &str) -> Vec<DealInStage> {
        let deals = self.deals_in_stage_since(stage, by).unwrap();
        deals
            .into_iter()
            .map(|(deal_id, account_id, entered_at, epoch)| DealInStage { deal_id, account_id, entered_at, epoch })
            .collect()
    }
    fn review(&self, after: Option<&str>, by: &str, last_day: Option<&str>, today: &str, e: (i64, i64)) -> Vec<String> {
        self.accounts_to_review(after, by, last_day, today, e).unwrap()
    }
    fn children(&self, id: &str) -> Vec<String> {
        self.child_accounts(id).unwrap()
    }
    fn open_deals(&self, account: &str) -> Vec<String> {
        self.open_deal_ids(account).unwrap()
    }
    fn owned(&self, owner: &str) -> i64 {
        self.accounts_owned(owner).unwrap()
    }
    fn revenue(&self, account: &str, product: &str, from: &str, to: &str) -> f64 {
        self.product_revenue(account, product, from, to).unwrap()
    }
}

/// What both stores must answer alike, as text.
fn answers(b: &dyn Ask) -> Vec<String> {
    fn show(name: &str, v: impl Debug) -> String {
        format!("{name}: {v:?}")
    }
    let mut out = vec![
        show("tasks", b.tasks()),
        show("accounts", b.accounts()),
        show("deals", b.deals()),
        show("counts", b.counts()),
        show("max task", b.max_task_id()),
        show("holders", b.holders()),
        show("by role", b.by_role()),
        show("targets", b.targets()),
        show("ending", b.ending("2026-01-08", "2026-01-03")),
        show("epoch", b.epoch()),
        show("quiet", b.quiet("2026-01-06T09:00:00Z")),
        show("due", b.due(Some("2026-01-02"), "2026-01-07", (0, 1000))),
        show("turn", b.turn("sales_rep", "", 3)),
    ];
    for role in ROLES {
        out.push(show(role, b.loads(role)));
        for who in PEOPLE {
            out.push(show(who, b.open_of(role, who)));
        }
    }
    for stage in STAGES {
        out.push(show(stage, b.in_stage(stage, "2026-01-05T09:00:00Z")));
    }
    for epochs in [(0, 1), (1, 3), (0, 9)] {
        out.push(show(
            "review",
            b.review(Some("2026-01-02T09:00:00Z"), "2026-01-07T09:00:00Z", None, "2026-01-05", epochs),
        ));
        out.push(show("review", b.review(None, "2026-01-07T09:00:00Z", Some("2026-01-03"), "2026-01-06", epochs)));
    }
    for a in ACCOUNTS {
        out.push(show("children", b.children(a)));
        out.push(show("open deals", b.open_deals(a)));
        for p in PRODUCTS {
            out.push(show("revenue", b.revenue(a, p, "2026-01-02T00:00:00Z", "2026-01-08T00:00:00Z").to_bits()));
        }
    }
    for who in PEOPLE {
        out.push(show("owned", b.owned(who)));
    }
    out
}

/// One random write, to both stores. Claims only outside a unit: the SQLite store claims in a unit of its own.
fn write(d: &mut Dice, sql: &Store, mem: &Memory, in_unit: bool, task_keys: &mut usize) {
    let data = Map::new();
    let now = day(d);
    match d.roll(14) {
        0 | 1 => {
            let id = d.pick(ACCOUNTS);
            let mut a = sql.account(id).unwrap().unwrap_or_else(|| Account {
                id: id.into(),
                created_at: now.clone(),
                ..Account::default()
            });
            a.owner = Some(d.pick(PEOPLE).into());
            a.parent_id = (d.roll(3) == 0).then(|| d.pick(ACCOUNTS).into());
            if d.roll(2) == 0 {
                a.is_key = !a.is_key;
                a.key_since = a.is_key.then(|| now.clone());
            }
            a.data.insert("n".into(), json!(d.roll(100)));
            sql.save_account(&a, &now).unwrap();
            mem.write_account(&a, &now).unwrap();
        }
        2 => {
            let id = d.pick(ACCOUNTS);
            sql.touch_last_contact(id, &now).unwrap();
            mem.write_last_contact(id, &now).unwrap();
        }
        3 | 4 => {
            let id = format!("D{}", d.roll(6));
            let stage = d.pick(STAGES);
            let closed = matches!(stage, "won" | "lost");
            let mut data = Map::new();
            data.insert("product".into(), Value::from(d.pick(PRODUCTS)));
            let deal = Deal {
                id: id.clone(),
                account_id: d.pick(ACCOUNTS).into(),
                data,
                stage: stage.into(),
                stage_entered_at: day(d),
                owner: Some(d.pick(PEOPLE).into()),
                amount: [1.5, 2.25, 1e16, -3.0][d.roll(4)],
                closed_at: closed.then(|| day(d)),
                created_at: sql.deal(&id).unwrap().map_or(now.clone(), |d| d.created_at),
            };
            sql.save_deal(&deal, !closed, stage == "won", &now).unwrap();
            mem.write_deal(&deal, !closed, stage == "won", &now, false).unwrap();
        }
        5 => {
            let (id, account, product) = (format!("O{}", d.roll(8)), d.pick(ACCOUNTS), d.pick(PRODUCTS));
            let amount = [0.1, 0.2, 0.3, 1e17, 7.0][d.roll(5)];
            sql.save_order(&id, account, amount, Some(product), &now, &data).unwrap();
            let row = OrderRow { id: &id, account_id: account, amount, product: Some(product), at: &now, data: &data };
            mem.write_order(&row).unwrap();
        }
        6 => {
            let c = Contract { id: format!("K{}", d.roll(4)), start: date(d), end: date(d), annual_value: 10.0 };
            let account = d.pick(ACCOUNTS);
            sql.save_contract(account, &c, &data, &now).unwrap();
            mem.write_contract(account, &c, &data, &now, false).unwrap();
        }
        7 => {
            let (account, product, amount) = (d.pick(ACCOUNTS), d.pick(PRODUCTS), d.roll(50) as f64);
            sql.save_target(account, product, "2026", amount, &now).unwrap();
            mem.write_target(account, product, "2026", amount, &now).unwrap();
        }
        8 | 9 => {
            *task_keys += 1;
            let key = if d.roll(4) == 0 { "same".to_string() } else { format!("k{task_keys}") };
            let t = NewTask {
                role: d.pick(ROLES).into(),
                assignee: (d.roll(2) == 0).then(|| d.pick(PEOPLE).into()),
                title: key.clone(),
                priority: Priority::from_rank(1 + d.roll(4) as i64),
                due_at: date(d),
                subject: Subject::new("account", d.pick(ACCOUNTS)),
                rule: RuleRef { file: "rules/t.rhai".into(), function: "f".into() },
                reason: "r".into(),
                dedup_key: key,
            };
            assert_eq!(sql.create_task(&t, "v", "e", &now).unwrap(), mem.create_task(&t, "v", "e", &now).unwrap());
        }
        10 if !in_unit => {
            let (role, who, n) = (d.pick(ROLES), d.pick(PEOPLE), d.roll(4));
            let lapsed = (d.roll(2) == 0).then(|| day(d));
            let a = sql.claim_up_to(role, who, &now, lapsed.as_deref(), n).unwrap();
            let b = mem.claim_up_to(role, who, &now, lapsed.as_deref(), n).unwrap();
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
        }
        10 => {
            let subject = Subject::new("account", d.pick(ACCOUNTS));
            let (role, who) = (d.pick(ROLES), d.pick(PEOPLE));
            let a = sql.assign_queued_tasks_about(&subject, role, who).unwrap();
            assert_eq!(a, mem.assign_queued_tasks_about(&subject, role, who).unwrap());
        }
        11 => {
            let id = 1 + d.roll(*task_keys + 1) as i64;
            let (status, who) = ([TaskStatus::Done, TaskStatus::Cancelled][d.roll(2)], d.pick(PEOPLE));
            let outcome = (d.roll(2) == 0).then_some("called");
            if d.roll(2) == 0 {
                let a = sql.close_task(id, status.name(), Some(who), outcome, &now).map_err(|e| e.to_string());
                let b = mem.close_task(id, status, Some(who), outcome, &now).map_err(|e| e.to_string());
                assert_eq!(format!("{a:?}"), format!("{b:?}"));
            } else {
                let who = (d.roll(3) > 0).then_some(who);
                let a = sql.close_task_as(id, status.name(), who, outcome, &now).map_err(|e| e.to_string());
                let b = mem.close_task_as(id, status, who, outcome, &now).map_err(|e| e.to_string());
                assert_eq!(format!("{a:?}"), format!("{b:?}"));
            }
        }
        12 => {
            let id = 1 + d.roll(*task_keys + 1) as i64;
            let to = (d.roll(3) > 0).then(|| d.pick(PEOPLE));
            sql.reassign_task(id, to).unwrap();
            mem.reassign_task(id, to).unwrap();
            let subject = Subject::new("account", d.pick(ACCOUNTS));
            let who = (d.roll(2) == 0).then(|| d.pick(PEOPLE));
            let a = sql.cancel_open_tasks_about(&subject, who, "gone", &now).unwrap();
            assert_eq!(a, mem.cancel_open_tasks_about(&subject, who, "gone", &now).unwrap());
        }
        _ => {
            let epoch = d.roll(5) as i64;
            sql.set_sweep_epoch(epoch).unwrap();
            mem.set_sweep_epoch(epoch).unwrap();
        }
    }
}

#[test]
fn the_same_writes_give_the_same_answers_as_the_sqlite_store() {
    for seed in 1..=12_u64 {
        let dir = tempfile::tempdir().unwrap();
        let sql = Store::open(&dir.path().join("t.db"), std::time::Duration::from_secs(1)).unwrap();
        let mem = Memory::new();
        let mut d = Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut task_keys = 0;
        for step in 0..60 {
            let in_unit = d.roll(3) > 0;
            if in_unit {
                sql.begin().unwrap();
                mem.begin().unwrap();
            }
            for _ in 0..d.roll(8) {
                let nested = in_unit && d.roll(3) == 0;
                if nested {
                    sql.savepoint().unwrap();
                    mem.savepoint().unwrap();
                }
                write(&mut d, &sql, &mem, in_unit, &mut task_keys);
                if nested && d.roll(2) == 0 {
                    sql.rollback_savepoint().unwrap();
                    mem.rollback_savepoint().unwrap();
                } else if nested {
                    sql.release().unwrap();
                    mem.release().unwrap();
                }
            }
            if in_unit && d.roll(3) == 0 {
                sql.rollback().unwrap();
                mem.rollback().unwrap();
            } else if in_unit {
                sql.commit().unwrap();
                mem.commit().unwrap();
            }
            if step % 10 == 9 {
                sql.begin().unwrap();
                mem.begin().unwrap();
                let (a, b) = (answers(&sql), answers(&mem));
                for (a, b) in a.iter().zip(&b) {
                    assert_eq!(a, b, "seed {seed}, step {step}");
                }
                // The questions took a turn each: undo it on both.
                sql.rollback().unwrap();
                mem.rollback().unwrap();
            }
        }
    }
}

/// An event of `kind` about the ids in `data`, at one of nine days.
fn event(d: &mut Dice, n: usize, kind: &str, data: Value) -> crate::event::Event {
    let line = json!({"id": format!("e{n}"), "type": kind, "at": day(d), "data": data}).to_string();
    crate::event::parse_line(&line, chrono::Utc::now()).unwrap()
}

/// The logs, contacts and activities: the same writes, the same answers.
#[test]
fn the_logs_and_a_deal_s_activities_answer_as_the_sqlite_store_does() {
    use crate::model::{Decision, DecisionKind};
    let dir = tempfile::tempdir().unwrap();
    let sql = Store::open(&dir.path().join("t.db"), std::time::Duration::from_secs(1)).unwrap();
    let mem = Memory::new();
    let mut d = Dice(17);
    let deals = ["D1", "D2"];
    for n in 0..400 {
        let unit = n % 5 == 0;
        if unit {
            sql.begin().unwrap();
            mem.begin().unwrap();
        }
        let (account, deal, contact) = (d.pick(ACCOUNTS), d.pick(&deals), ["C1", "C2", "C3"][d.roll(3)]);
        match d.roll(8) {
            0 => {
                let role = ["buyer", "user", "executive"][d.roll(3)];
                let data = Map::new();
                sql.save_contact(contact, account, role, &data, "t").unwrap();
                mem.write_contact(contact, account, role, &data, "t").unwrap();
                let deal = Deal { id: deal.into(), account_id: d.pick(ACCOUNTS).into(), ..Deal::default() };
                sql.save_deal(&deal, true, false, "t").unwrap();
                mem.write_deal(&deal, true, false, "t", false).unwrap();
            }
            1 | 2 => {
                let activity_id = format!("X{}", d.roll(30));
                let kind = ["call", "email"][d.roll(2)];
                let mut data = json!({"id": activity_id, "account_id": account, "kind": kind});
                if d.roll(4) > 0 {
                    data["deal_id"] = json!(deal);
                }
                if d.roll(3) > 0 {
                    data["contact_id"] = json!(contact);
                }
                let e = event(&mut d, n, "activity.logged", data);
                sql.save_activity(&e).unwrap();
                let at = crate::time::stamp(e.at);
                let row = ActivityRow {
                    id: e.str("id"),
                    account_id: e.str("account_id"),
                    deal_id: e.str("deal_id"),
                    contact_id: e.str("contact_id"),
                    kind: e.str("kind"),
                    at,
                    data: &e.data,
                };
                mem.write_activity(&row).unwrap();
            }
            3 => {
                let (kind, data) = match d.roll(3) {
                    0 => ("deal.upserted", json!({"id": deal, "account_id": account})),
                    1 => ("account.upserted", json!({"id": account, "name": "A"})),
                    _ => ("lead.created", json!({"id": format!("L{}", d.roll(3)), "account_id": account})),
                };
                let e = event(&mut d, n, kind, data);
                let (line, version) = (d.roll(5), ["v1", "v2"][d.roll(2)]);
                sql.record_applied(&e, "f.jsonl", line, version, "t").unwrap();
                mem.record_applied(&e, "f.jsonl", line, version, "t").unwrap();
            }
            4 => {
                let (line, reason) = (d.roll(4), ["bad", "worse"][d.roll(2)]);
                sql.record_rejected("f.jsonl", line, reason, "{", "t").unwrap();
                mem.record_rejected("f.jsonl", line, reason, "{", "t").unwrap();
            }
            5 => {
                let decision = Decision {
                    kind: [DecisionKind::BecameKey, DecisionKind::TaskCreated][d.roll(2)],
                    subject: Subject::new("account", account),
                    rule: (d.roll(2) == 0).then(|| RuleRef { file: "rules/k.rhai".into(), function: "key".into() }),
                    reason: "r".into(),
                    detail: json!({"n": d.roll(9), "x": 0.1}),
                    event_id: format!("e{n}"),
                    at: day(&mut d),
                };
                sql.record_decision(&decision, "v1").unwrap();
                mem.record_decision(&decision, "v1").unwrap();
            }
            6 => {
                let w = WaitingHandover {
                    account_id: account.into(),
                    role: d.pick(ROLES).into(),
                    reason: format!("r{n}"),
                    rule: RuleRef { file: "rules/h.rhai".into(), function: "h".into() },
                    close_open_tasks: d.roll(2) == 0,
                    since: day(&mut d),
                    event_id: format!("e{n}"),
                };
                if d.roll(4) == 0 {
                    sql.drop_waiting_handover(account).unwrap();
                    mem.drop_waiting_handover(account).unwrap();
                } else {
                    sql.save_waiting_handover(&w).unwrap();
                    mem.save_waiting_handover(&w).unwrap();
                }
            }
            _ => {
                let h = RuleHealth {
                    rules_version: "v1".into(),
                    rule: ["a", "b", "c"][d.roll(3)].into(),
                    file: ["rules/x.rhai", "rules/y.rhai"][d.roll(2)].into(),
                    line: d.roll(2) as i64,
                    failures: d.roll(5) as i64,
                    last_error: "boom".into(),
                    last_event: format!("e{n}"),
                    quarantined_at: (d.roll(2) == 0).then(|| day(&mut d)),
                };
                if d.roll(8) == 0 {
                    sql.clear_rule_health("v1", &h.rule).unwrap();
                    mem.clear_rule_health("v1", &h.rule).unwrap();
                } else {
                    sql.record_rule_health(&h).unwrap();
                    mem.record_rule_health(&h).unwrap();
                }
                let loaded = day(&mut d);
                sql.record_rules_version(version_of(n), "[[\"a\", \"b\"]]", &loaded).unwrap();
                mem.record_rules_version(version_of(n), "[[\"a\", \"b\"]]", &loaded).unwrap();
            }
        }
        if unit && d.roll(2) == 0 {
            sql.rollback().unwrap();
            mem.rollback().unwrap();
        } else if unit {
            sql.commit().unwrap();
            mem.commit().unwrap();
        }
    }
    // The writes made some rows of each kind.
    assert!(mem.event_count().unwrap() > 20);
    assert!(mem.rejected().unwrap().len() > 3);
    assert!(mem.decisions(None, None).unwrap().len() > 20);
    assert!(!mem.waiting_handovers().unwrap().is_empty());
    assert!(!mem.rule_health("v1").unwrap().is_empty());
    assert!(deals.iter().all(|d| !mem.deal_activity_rows(d).unwrap().contacts.is_empty()));
    let same = |what: &str, a: String, b: String| assert_eq!(a, b, "{what}");
    for kind in ["account", "deal", "lead"] {
        for id in ACCOUNTS.iter().chain(&deals).chain(&["L0", "L1"]) {
            same(
                "about",
                format!("{:?}", sql.events_about(kind, id).unwrap()),
                format!("{:?}", mem.events_about(kind, id).unwrap()),
            );
        }
    }
    let pages: Vec<String> = mem.event_history_page(0, 1000).unwrap().into_iter().map(|(_, body)| body).collect();
    assert_eq!(sql.event_history().unwrap(), pages);
    assert_eq!(sql.latest_event_at().unwrap(), mem.latest_event_at().unwrap());
    same("rejected", format!("{:?}", sql.rejected().unwrap()), format!("{:?}", mem.rejected().unwrap()));
    for kind in [None, Some("became_key")] {
        for subject in [None, Some(("account", "A"))] {
            let (a, b) = (sql.decisions(kind, subject).unwrap(), mem.decisions(kind, subject).unwrap());
            same("decisions", format!("{a:?}"), format!("{b:?}"));
        }
    }
    same(
        "handovers",
        format!("{:?}", sql.waiting_handovers().unwrap()),
        format!("{:?}", mem.waiting_handovers().unwrap()),
    );
    assert_eq!(sql.rule_health("v1").unwrap(), mem.rule_health("v1").unwrap());
    same(
        "version",
        format!("{:?}", sql.current_rules_version().unwrap()),
        format!("{:?}", mem.current_rules_version().unwrap()),
    );
    assert_eq!(sql.rules_version_files("v1").unwrap(), mem.rules_version_files("v1").unwrap());
    for deal in deals {
        let stats = sql.deal_stats_by_sql(deal).unwrap();
        let rows = mem.deal_activity_rows(deal).unwrap();
        let account = mem.load_deal(deal).unwrap().map(|d| d.account_id);
        let met = rows.contacts.iter().any(|(_, c)| {
            c.as_ref().is_some_and(|c| {
                ["buyer", "technical", "executive"].contains(&c.role.as_str())
                    && Some(&c.account_id) == account.as_ref()
            })
        });
        assert_eq!(
            (stats.activities, stats.decision_maker_met, stats.last_activity),
            (rows.per_kind, met, rows.last_activity)
        );
    }
    for contact in ["C1", "C2", "C3"] {
        let role = mem.contact_role(contact).unwrap().map(|c| (c.role, c.account_id));
        assert_eq!(sql.contact_role(contact).unwrap(), role);
    }
}

fn version_of(n: usize) -> &'static str {
    ["v1", "v1", "v2"][n % 3]
}
