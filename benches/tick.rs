//! A tick over a large store: 100,000 accounts and 1,000,000 deals spread
//! over the last 90 days of stage entries, 10% key accounts, a contract for
//! every tenth account. The store has ticked yesterday (as a `watch` running
//! daily would have); the figure is today's tick: what became due in one day
//! is found through indexes and handed to the default rules.
//!
//! `TICK_BENCH_AGED_OUT=1` gives every key account an order of 160,000 that
//! leaves the 12-month window between yesterday's tick and today's, so
//! today's tick reviews all 10,000 key accounts with the key-account rules
//! (a heavy day for the review; by default it has next to nothing to review).
//! Run with `cargo bench --bench tick` (setup takes a minute or two).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dealflow::ingest::Ingest;
use dealflow::model::{Account, Contract, Deal};
use dealflow::playbook::{self, Playbook};
use dealflow::store::Store;
use dealflow::time::stamp;
use serde_json::{Map, Value, json};

const DEALS_PER_ACCOUNT: u64 = 10;

/// 100,000 accounts, or `TICK_BENCH_ACCOUNTS` for a quicker look.
fn accounts() -> u64 {
    std::env::var("TICK_BENCH_ACCOUNTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

/// `TICK_BENCH_AGED_OUT=1`: every key account's revenue ages out today.
fn aged_out() -> bool {
    std::env::var("TICK_BENCH_AGED_OUT").is_ok_and(|v| v == "1")
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let current = playbook::current(Playbook::load(root).expect("the default playbook loads"));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("tick.db"), Duration::from_secs(5)).unwrap();
    let today: DateTime<Utc> = "2026-11-25T07:00:00Z".parse().unwrap();

    let started = Instant::now();
    populate(&store, today);
    println!(
        "setup: {} accounts, {} deals{} in {:.1} s",
        accounts(),
        accounts() * DEALS_PER_ACCOUNT,
        if aged_out() { ", the key accounts' revenue aging out today" } else { "" },
        started.elapsed().as_secs_f64()
    );

    for (what, at) in [
        ("daily tick (one day since the last)", today),
        ("a tick an hour later", today + chrono::Duration::hours(1)),
        ("the same tick again (a duplicate)", today + chrono::Duration::hours(1)),
    ] {
        let started = Instant::now();
        let cpu = cpu_time();
        let at = stamp(at);
        let line = format!(r#"{{"id": "tick-{at}", "type": "clock.tick", "at": "{at}"}}"#);
        let mut ingest = Ingest::start(&store, &current).unwrap();
        ingest.input("bench", line.as_bytes()).unwrap();
        let s = ingest.finish().unwrap();
        let cpu = match (cpu, cpu_time()) {
            (Some(a), Some(b)) => format!(" ({:.2} s on the CPU)", (b - a).as_secs_f64()),
            _ => String::new(),
        };
        println!(
            "{what}: {:.2} s{cpu}, {} tasks created, {} key-account changes, {} rule errors",
            started.elapsed().as_secs_f64(),
            s.counts.tasks_created,
            s.counts.key_account_changes,
            s.counts.rule_errors
        );
    }
}

/// The time this thread has run on a CPU (Linux), which waiting for a shared
/// machine's other work does not count.
fn cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(text.split_whitespace().next()?.parse().ok()?))
}

/// splitmix64
fn rng(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn populate(store: &Store, today: DateTime<Utc>) {
    let stages = ["lead", "qualified", "proposal", "negotiation"];
    let reps = ["Ana Ruiz", "Ben Okafor", "Chloe Martin"];
    let ams = ["Dana Whitfield", "Eli Novak"];
    let regions = ["West", "East", "Central"];
    let mut seed = 7_u64;
    let ago = |secs: u64| stamp(today - chrono::Duration::seconds(secs as i64));
    let unit = store.begin().unwrap();
    for a in 0..accounts() {
        let key = a % 10 == 0;
        let id = format!("A-{a}");
        let mut data = Map::new();
        data.insert("name".into(), json!(format!("Account {a}")));
        data.insert("region".into(), json!(regions[(a % 3) as usize]));
        data.insert("employees".into(), json!(50 + rng(&mut seed) % 5000));
        let account = Account {
            id: id.clone(),
            data,
            owner: Some(if key { ams[(a % 2) as usize] } else { reps[(a % 3) as usize] }.to_string()),
            is_key: key,
            key_since: key.then(|| ago(200 * 86_400)),
            last_contact: Some(ago(rng(&mut seed) % (60 * 86_400))),
            created_at: ago(400 * 86_400),
            ..Account::default()
        };
        store.save_account(&account, &account.created_at).unwrap();
        if key && aged_out() {
            // In the 12 months at yesterday's tick, out of them today.
            let at = ago(365 * 86_400 + 3_600);
            store.save_order(&format!("O-{a}"), &id, 160_000.0, None, &at, &Map::new()).unwrap();
        }
        if a % 10 == 5 {
            let end = (today + chrono::Duration::days((rng(&mut seed) % 730) as i64)).date_naive();
            let start = end - chrono::Duration::days(730);
            let contract = Contract {
                id: format!("K-{a}"),
                start: start.to_string(),
                end: end.to_string(),
                annual_value: 50_000.0,
            };
            store.save_contract(&id, &contract, &Map::new(), &ago(400 * 86_400)).unwrap();
        }
        for n in 0..DEALS_PER_ACCOUNT {
            let entered = ago(rng(&mut seed) % (90 * 86_400));
            let mut data = Map::new();
            data.insert("name".into(), Value::from(format!("Deal {a}-{n}")));
            let deal = Deal {
                id: format!("D-{a}-{n}"),
                account_id: id.clone(),
                data,
                stage: stages[(rng(&mut seed) % 4) as usize].to_string(),
                stage_entered_at: entered.clone(),
                owner: Some(reps[(a % 3) as usize].to_string()),
                amount: (rng(&mut seed) % 100_000) as f64,
                closed_at: None,
                created_at: entered,
                ..Deal::default()
            };
            store.save_deal(&deal, true, false, &deal.created_at).unwrap();
        }
    }
    // Ticked, and so reviewed its key accounts, yesterday: everything written
    // above (sweep generation 0, before any task) was swept up to yesterday,
    // and what is written from now on is in generation 1 (see `engine::sweeps`).
    let yesterday = stamp(today - chrono::Duration::days(1));
    let swept = json!([{"epoch": 0, "task": 0, "at": yesterday}]).to_string();
    store.set_meta("sweeps", &swept).unwrap();
    store.set_meta("key_review_sweeps", &swept).unwrap();
    store.set_sweep_epoch(1).unwrap();
    unit.commit().unwrap();
}
