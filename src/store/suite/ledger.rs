//! The ledgers and deal activity sums against their definition: random
//! writes (deals changing state and account, orders and activities sent
//! again, contacts changing role and account, contracts moving, targets,
//! rollbacks, another process writing where the backend has other writers,
//! a commit elsewhere), and after each, every account's
//! facts read from its ledger, and every deal's from its kept sums, must
//! equal the facts defined from the stored rows ([`ledger::stats_from_rows`],
//! [`crate::store::deal_activity::stats_from_rows`]), to the last bit. On
//! every backend: a fresh store per case.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Map;

use super::Opener;
use crate::model::{Account, Contract, Deal};
use crate::store::{Store, deal_activity, ledger};

const ACCOUNTS: [&str; 3] = ["A", "B", "C"];
const DEALS: u8 = 6;
/// Amounts whose sums round differently in different orders.
const AMOUNTS: [f64; 6] = [0.1, 1e16, 3.3, 1234.56, -1e16, 7.0];

#[derive(Debug, Clone)]
enum Op {
    /// An order whose time is a date alone: a ledger cannot hold it.
    OrderDatedOnly {
        id: u8,
        account: usize,
        amount: usize,
        day: u16,
    },
    Activity {
        id: u8,
        deal: u8,
        contact: Option<u8>,
        kind: u8,
        day: u16,
    },
    Deal {
        id: u8,
        account: usize,
        state: u8,
        amount: usize,
        day: u16,
    },
    Order {
        id: u8,
        account: usize,
        amount: usize,
        day: u16,
    },
    Contact {
        id: u8,
        account: usize,
        role: u8,
    },
    Contract {
        id: u8,
        account: usize,
        start: u16,
        months: u16,
        value: usize,
    },
    Target {
        account: usize,
        product: u8,
        period: u8,
        amount: usize,
    },
    /// Ask for an account's facts at `day` (as a rule would).
    Ask {
        account: usize,
        day: u16,
    },
    /// The next write happens in a savepoint that is rolled back.
    RolledBack(Box<Op>),
    /// Another connection orders for `account` and commits (where the
    /// backend has none, this store does, in a unit of its own).
    OtherWriter {
        id: u8,
        account: usize,
        amount: usize,
        day: u16,
    },
    Commit,
}

fn write() -> impl Strategy<Value = Op> {
    let a = 0..ACCOUNTS.len();
    let amt = 0..AMOUNTS.len();
    prop_oneof![
        (0..DEALS, a.clone(), 0..4u8, amt.clone(), 0..700u16).prop_map(|(id, account, state, amount, day)| Op::Deal {
            id,
            account,
            state,
            amount,
            day
        }),
        (0..8u8, a.clone(), amt.clone(), 0..700u16).prop_map(|(id, account, amount, day)| Op::Order {
            id,
            account,
            amount,
            day
        }),
        (0..8u8, a.clone(), amt.clone(), 0..700u16).prop_map(|(id, account, amount, day)| Op::OrderDatedOnly {
            id,
            account,
            amount,
            day
        }),
        (0..5u8, a.clone(), 0..4u8).prop_map(|(id, account, role)| Op::Contact { id, account, role }),
        (0..3u8, a.clone(), 0..700u16, 0..30u16, amt.clone())
            .prop_map(|(id, account, start, months, value)| Op::Contract { id, account, start, months, value }),
        (a, 0..2u8, 0..2u8, amt).prop_map(|(account, product, period, amount)| Op::Target {
            account,
            product,
            period,
            amount
        }),
        (0..12u8, 0..DEALS, proptest::option::of(0..6u8), 0..3u8, 0..700u16)
            .prop_map(|(id, deal, contact, kind, day)| Op::Activity { id, deal, contact, kind, day }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => write(),
        4 => (0..ACCOUNTS.len(), 0..900u16).prop_map(|(account, day)| Op::Ask { account, day }),
        1 => write().prop_map(|w| Op::RolledBack(Box::new(w))),
        1 => (100..104u8, 0..ACCOUNTS.len(), 0..AMOUNTS.len(), 0..700u16)
            .prop_map(|(id, account, amount, day)| Op::OtherWriter { id, account, amount, day }),
        1 => Just(Op::Commit),
    ]
}

fn day(n: u16) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    (start + chrono::Days::new(n.into())).format("%Y-%m-%dT09:00:00Z").to_string()
}

fn apply(store: &Store, op: &Op) {
    match op {
        Op::Deal { id, account, state, amount, day: d } => {
            // Open, won, lost, or open again: reopened at `d`, its activity facts count from then.
            let (is_open, is_won) = [(true, false), (false, true), (false, false), (true, false)][*state as usize];
            let reopened = *state == 3;
            let deal = Deal {
                id: format!("D{id}"),
                account_id: ACCOUNTS[*account].into(),
                stage: "s".into(),
                amount: AMOUNTS[*amount],
                closed_at: (!is_open).then(|| day(*d)),
                created_at: day(0),
                life: if reopened { 2 } else { 1 },
                life_started_at: reopened.then(|| day(*d)),
                ..Deal::default()
            };
            store.save_deal(&deal, is_open, is_won, &day(*d)).unwrap();
        }
        Op::Order { id, account, amount, day: d } => {
            let product = Some("P");
            store.save_order(&format!("O{id}"), ACCOUNTS[*account], AMOUNTS[*amount], product, &day(*d), &Map::new())
        }
        .unwrap(),
        Op::Contact { id, account, role } => {
            let role = ["buyer", "technical", "executive", "other"][*role as usize];
            store.save_contact(&format!("P{id}"), ACCOUNTS[*account], role, &Map::new(), &day(0)).unwrap();
        }
        Op::Contract { id, account, start, months, value } => {
            let start_day = &day(*start)[..10];
            let end_day = &day(*start + *months * 30)[..10];
            let c = Contract {
                id: format!("K{id}"),
                start: start_day.into(),
                end: end_day.into(),
                annual_value: AMOUNTS[*value],
            };
            store.save_contract(ACCOUNTS[*account], &c, &Map::new(), &day(0)).unwrap();
        }
        Op::Target { account, product, period, amount } => {
            let (product, period) = (["GTX", "MG"][*product as usize], ["2025", "2026"][*period as usize]);
            store.save_target(ACCOUNTS[*account], product, period, AMOUNTS[*amount], &day(0)).unwrap();
        }
        Op::OrderDatedOnly { id, account, amount, day: d } => {
            let date = &day(*d)[..10];
            store.save_order(&format!("O{id}"), ACCOUNTS[*account], AMOUNTS[*amount], None, date, &Map::new()).unwrap();
        }
        Op::Activity { id, deal, contact, kind, day: d } => {
            let kind = ["call", "meeting", "demo"][*kind as usize];
            let mut data = serde_json::json!({
                "id": format!("V{id}"),
                "account_id": "A",
                "deal_id": format!("D{deal}"),
                "kind": kind,
            });
            if let Some(c) = contact {
                data["contact_id"] = format!("P{c}").into();
            }
            let line =
                serde_json::json!({"id": format!("E{id}"), "type": "activity.logged", "at": day(*d), "data": data});
            let event = crate::event::parse_line(&line.to_string(), chrono::Utc::now()).unwrap();
            store.save_activity(&event).unwrap();
        }
        Op::RolledBack(w) => {
            let nested = store.nested().unwrap();
            apply(store, w);
            nested.rollback().unwrap();
        }
        Op::Ask { .. } | Op::OtherWriter { .. } | Op::Commit => {}
    }
}

fn same_facts(store: &Store, account: &str, at_day: u16) -> Result<(), TestCaseError> {
    let Some(a) = store.account(account).unwrap() else { return Ok(()) };
    let at: chrono::DateTime<chrono::Utc> = day(at_day).parse().unwrap();
    let (since, at) = (crate::time::year_before(at), crate::time::stamp(at));
    let from_ledger = store.account_stats(&a, &since, &at).unwrap();
    let parent_is_key = a.parent_id.as_deref().is_some_and(|p| store.account(p).unwrap().is_some_and(|p| p.is_key));
    let rows = store.ledger_rows(account, "").unwrap();
    let defined = ledger::stats_from_rows(&rows, &since, &at, parent_is_key);
    prop_assert_eq!(format!("{from_ledger:?}"), format!("{defined:?}"), "account {} at {}", account, at);
    Ok(())
}

pub fn ledger_facts_equal_the_facts_defined_from_the_rows(open: &Opener) {
    // The seeds of cases that failed once are kept beside the other tests' (proptest-regressions/) and run first.
    let config = Config { cases: 150, source_file: Some(file!()), ..Config::default() };
    let mut runner = TestRunner::new(config);
    // On PostgreSQL a fresh database per case costs about a second (CREATE
    // DATABASE, the schema, DROP DATABASE: 150 s of the test's 190 s); one
    // database, emptied before each case and opened anew, is the same to the
    // test (every row gone, sequences back at 1) and takes milliseconds.
    let (_guard, first) = (open.fresh)();
    let reuse = first.kind() == "postgres";
    let result = runner.run(&proptest::collection::vec(op(), 1..80), |ops| {
        if reuse {
            empty_postgres(&first);
            let store = (open.other)(&first).expect("another connection to the test database");
            facts_follow(open, &store, &ops)
        } else {
            let (_guard, store) = (open.fresh)();
            facts_follow(open, &store, &ops)
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Every row of the PostgreSQL test database `store` is on deleted (the
/// schema's version kept), its sequences back at 1 and its change clock at 0:
/// as the schema leaves a new database.
fn empty_postgres(store: &Store) {
    let config = super::pg::TestDatabase::config_for(store).expect("the test server");
    let mut client = config.connect(postgres::NoTls).expect("connect to the test database");
    client
        .batch_execute(
            "DO $$ DECLARE t TEXT; BEGIN
                 FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_version' LOOP
                     EXECUTE format('DELETE FROM %I', t);
                 END LOOP;
                 PERFORM setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE c.relkind = 'S' AND n.nspname = 'public';
             END $$;
             INSERT INTO change_clock (n) VALUES (0);",
        )
        .expect("empty the test database");
}

fn facts_follow(open: &Opener, store: &Store, ops: &[Op]) -> Result<(), TestCaseError> {
    let other = (open.other)(store);
    let unit = store.begin().unwrap();
    for (i, id) in ACCOUNTS.iter().enumerate() {
        let parent = (i > 0).then(|| ACCOUNTS[0].to_string());
        let a =
            Account { id: (*id).into(), parent_id: parent, is_key: i == 0, created_at: day(0), ..Account::default() };
        store.save_account(&a, &day(0)).unwrap();
    }
    unit.commit().unwrap();
    let mut unit = store.begin().unwrap();
    for op in ops {
        match op {
            Op::Ask { account, day } => same_facts(store, ACCOUNTS[*account], *day)?,
            Op::Commit => {
                unit.commit().unwrap();
                unit = store.begin().unwrap();
            }
            Op::OtherWriter { id, account, amount, day: d } => {
                unit.commit().unwrap();
                let writer = other.as_ref().unwrap_or(store);
                let theirs = writer.begin().unwrap();
                writer
                    .save_order(&format!("O{id}"), ACCOUNTS[*account], AMOUNTS[*amount], None, &day(*d), &Map::new())
                    .unwrap();
                theirs.commit().unwrap();
                unit = store.begin().unwrap();
            }
            write => apply(store, write),
        }
        // After every step, every account, at a time the last write may have reached, and every deal.
        for account in ACCOUNTS {
            same_facts(store, account, 400)?;
        }
        for deal in 0..DEALS {
            let id = format!("D{deal}");
            let deal = store.deal(&id).unwrap();
            let account = deal.as_ref().map(|d| d.account_id.clone());
            let since = deal.and_then(|d| d.life_started_at);
            let rows = store.deal_activity_rows(&id, since.as_deref()).unwrap();
            let (kept, defined) =
                (store.deal_stats(&id).unwrap(), deal_activity::stats_from_rows(&rows, account.as_deref()));
            prop_assert_eq!(format!("{kept:?}"), format!("{defined:?}"), "deal {}", id);
        }
    }
    unit.commit().unwrap();
    Ok(())
}
