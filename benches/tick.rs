//! A tick over a large store: 100,000 accounts and 1,000,000 deals spread
//! over the last 90 days of stage entries, 10% key accounts, a contract for
//! every tenth account. The store has ticked yesterday (as a `watch` running
//! daily would have); the figure is today's tick: what became due in one day
//! is found through indexes and handed to the default rules.
//!
//! The store is written once and copied, and each copy ticked with one team:
//! the default playbook's (nine people), then a 200-person team (see
//! [`team_config`]): the same roles with caps (`max_open`), 10% away today,
//! 10% away later in the month, part-timers, weights 0.5, 1 and 2, a few
//! people in two roles. After each, a summary of who got what and why (the
//! `assignment` of each `task_created` decision, the open loads against the
//! caps) shows what the team changed. `TICK_BENCH_TEAM=default` or `=200`
//! runs one of the two.
//!
//! `TICK_BENCH_AGED_OUT=1` gives every key account an order of 160,000 that
//! leaves the 12-month window between yesterday's tick and today's, so
//! today's tick reviews all 10,000 key accounts with the key-account rules
//! (a heavy day for the review; by default it has next to nothing to review).
//! Run with `cargo bench --bench tick` (setup takes a minute or two).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use dealflow::config::Config;
use dealflow::ingest::Ingest;
use dealflow::model::{Account, Contract, Deal};
use dealflow::playbook::{self, Playbook};
use dealflow::rules::RuleSet;
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

/// Which teams to tick: `TICK_BENCH_TEAM=default`, `=200`, or both (unset).
fn wanted(team: &str) -> bool {
    std::env::var("TICK_BENCH_TEAM").map_or(true, |v| v.is_empty() || v == team)
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let today: DateTime<Utc> = "2026-11-25T07:00:00Z".parse().unwrap();

    let started = Instant::now();
    let first = dir.path().join("tick.db");
    {
        let store = Store::open(&first, Duration::from_secs(5)).unwrap();
        populate(&store, today);
    }
    println!(
        "setup: {} accounts, {} deals{} in {:.1} s",
        accounts(),
        accounts() * DEALS_PER_ACCOUNT,
        if aged_out() { ", the key accounts' revenue aging out today" } else { "" },
        started.elapsed().as_secs_f64()
    );
    // The same store for the second team: a copy of the file (closed, so its WAL is checkpointed).
    let second = dir.path().join("tick-team.db");
    std::fs::copy(&first, &second).unwrap();

    let default = Playbook::load(root).expect("the default playbook loads");
    let text = team_config(&std::fs::read_to_string(root.join("config.toml")).unwrap(), today.date_naive());
    let config = Config::parse(root, &text).expect("the 200-person config parses");
    let rules = RuleSet::load(&config).expect("the rules load with the 200-person config");
    let team = Playbook { config, rules, loaded_at: dealflow::time::now_stamp(), load_ms: 0.0 };

    for (name, path, playbook) in [("default", first, default), ("200", second, team)] {
        if !wanted(name) {
            continue;
        }
        let label = if name == "default" { "the default team (9 people)" } else { "a 200-person team" };
        println!("-- {label}");
        let current = playbook::current(playbook);
        let store = Store::open(&path, Duration::from_secs(5)).unwrap();
        tick(&store, &current, today);
        drop(store);
        report(&path, &current.load().config, today.date_naive());
    }
}

/// Today's tick, a tick an hour later and the same tick again, each timed.
fn tick(store: &Store, current: &std::sync::Arc<playbook::Current>, today: DateTime<Utc>) {
    for (what, at) in [
        ("daily tick (one day since the last)", today),
        ("a tick an hour later", today + chrono::Duration::hours(1)),
        ("the same tick again (a duplicate)", today + chrono::Duration::hours(1)),
    ] {
        let started = Instant::now();
        let cpu = cpu_time();
        let at = stamp(at);
        let line = format!(r#"{{"id": "tick-{at}", "type": "clock.tick", "at": "{at}"}}"#);
        let mut ingest = Ingest::start(store, current).unwrap();
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

/// The regions the accounts are in.
const REGIONS: [&str; 3] = ["West", "East", "Central"];

/// The default `config.toml` with a 200-person team in place of its nine:
/// the same five roles (and strategies), each with a `max_open`; 120 sales
/// reps and 36 account managers over the three regions (the five owners of
/// the bench's accounts among them), 12 sales managers, 20 coordinators,
/// 12 in marketing. Every tenth person from the fourth is away today, every
/// tenth from the eighth away later this month (so away before most tasks
/// given today are due), every tenth from the sixth works Monday to
/// Wednesday; weights go 0.5, 1, 2; a quarter have their own cap (half the
/// role's), a quarter a cap half again the role's; ten reps are also
/// coordinators at half weight with a cap of 10.
fn team_config(default: &str, today: NaiveDate) -> String {
    let start = default.find("[roles.sales_rep]").expect("the default config has [roles.sales_rep]");
    let end = default.find("# Numbers the rules read").expect("the default config has [settings]");
    let mut t = String::new();
    let caps = [
        ("sales_rep", 60),
        ("account_manager", 30),
        ("sales_manager", 600),
        ("sales_coordinator", 40),
        ("marketing", 30),
    ];
    for (role, cap) in caps {
        let assign = match role {
            "sales_rep" | "account_manager" => "owner",
            "sales_coordinator" => "round_robin",
            _ => "least_loaded",
        };
        writeln!(t, "[roles.{role}]\nassign = \"{assign}\"\nmax_open = {cap}\n").unwrap();
    }
    let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    let away_today = format!(
        r#"[{{ from = "{}", to = "{}" }}]"#,
        day(today - chrono::Days::new(9)),
        day(today + chrono::Days::new(2))
    );
    let later = {
        let from = today + chrono::Days::new(2);
        let to = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap() + chrono::Months::new(1)
            - chrono::Days::new(1);
        format!(r#"[{{ from = "{}", to = "{}" }}]"#, day(from), day(to.max(from)))
    };
    for i in 0..200_usize {
        let (role, short, cap) = match i {
            0..120 => ("sales_rep", "Rep", 60),
            120..156 => ("account_manager", "AM", 30),
            156..168 => ("sales_manager", "Manager", 600),
            168..188 => ("sales_coordinator", "Coordinator", 40),
            _ => ("marketing", "Marketing", 30),
        };
        let name = match i {
            0 => "Ana Ruiz".to_string(),
            1 => "Ben Okafor".to_string(),
            2 => "Chloe Martin".to_string(),
            120 => "Dana Whitfield".to_string(),
            121 => "Eli Novak".to_string(),
            _ => format!("{short} {i:03}"),
        };
        let weight = [0.5, 1.0, 2.0][(i / 3) % 3];
        writeln!(t, "[[team]]\nname = \"{name}\"\nregion = \"{}\"", REGIONS[i % 3]).unwrap();
        let own_cap = match i % 4 {
            1 => format!(", max_open = {}", cap / 2),
            2 => format!(", max_open = {}", cap * 3 / 2),
            _ => String::new(),
        };
        if (100..110).contains(&i) {
            writeln!(
                t,
                "roles = [{{ role = \"{role}\", weight = {weight:?}{own_cap} }}, {{ role = \"sales_coordinator\", weight = 0.5, max_open = 10 }}]"
            )
            .unwrap();
        } else {
            writeln!(t, "role = \"{role}\"\nweight = {weight:?}").unwrap();
            if !own_cap.is_empty() {
                writeln!(t, "max_open = {}", own_cap.trim_start_matches(", max_open = ")).unwrap();
            }
        }
        // Ben Okafor, an owner of a third of the deals, is away today; Chloe Martin works part-time.
        if i % 10 == 3 || i == 1 {
            writeln!(t, "away = {away_today}").unwrap();
        } else if i % 10 == 7 {
            writeln!(t, "away = {later}").unwrap();
        }
        if i % 10 == 5 || i == 2 {
            writeln!(t, r#"days = ["mon", "tue", "wed"]"#).unwrap();
        }
        t.push('\n');
    }
    format!("{}{t}{}", &default[..start], &default[end..])
}

/// Who got what after the ticks, from the store at `path`: the open tasks
/// of each role, assigned and queued; the strategy of each `task_created`
/// decision's assignment and who it passed over, and why; the open loads
/// against the caps; and anything given to someone away or due on a day
/// they do not work (which should be none).
fn report(path: &std::path::Path, config: &Config, today: NaiveDate) {
    let db = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let rows = |sql: &str| -> Vec<Vec<Value>> {
        let mut st = db.prepare(sql).unwrap();
        let n = st.column_count();
        st.query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => Value::Null,
                        rusqlite::types::ValueRef::Integer(x) => json!(x),
                        rusqlite::types::ValueRef::Real(x) => json!(x),
                        v => json!(v.as_str().unwrap_or_default()),
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    };
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let mut line = String::from("open tasks by role (assigned/queued):");
    for r in rows(
        "SELECT role, COUNT(assignee), COUNT(*) - COUNT(assignee) FROM tasks WHERE status IN ('open', 'claimed') GROUP BY role ORDER BY role",
    ) {
        write!(line, " {} {}/{};", text(&r[0]), r[1], r[2]).unwrap();
    }
    println!("{}", line.trim_end_matches(';'));
    let mut line = String::from("task_created by strategy (assigned/queued):");
    for r in rows(
        "SELECT json_extract(detail, '$.assignment.strategy'), COUNT(json_extract(detail, '$.assignee')),
                COUNT(*) - COUNT(json_extract(detail, '$.assignee'))
         FROM decisions WHERE kind = 'task_created' GROUP BY 1 ORDER BY 2 DESC",
    ) {
        write!(line, " {} {}/{};", text(&r[0]), r[1], r[2]).unwrap();
    }
    println!("{}", line.trim_end_matches(';'));
    let mut line = String::from("passed over (times, people):");
    for r in rows(
        "SELECT CASE WHEN json_extract(j.value, '$.why') LIKE 'away until%' THEN 'away today'
                     WHEN json_extract(j.value, '$.why') LIKE 'away %' THEN 'away before the due date'
                     WHEN json_extract(j.value, '$.why') LIKE 'at their cap%' THEN 'at their cap'
                     ELSE json_extract(j.value, '$.why') END,
                COUNT(*), COUNT(DISTINCT json_extract(j.value, '$.who'))
         FROM decisions d, json_each(d.detail, '$.assignment.skipped') j
         WHERE d.kind = 'task_created' GROUP BY 1 ORDER BY 2 DESC",
    ) {
        write!(line, " {} {}, {};", text(&r[0]), r[1], r[2]).unwrap();
    }
    // Beyond the ten a decision lists (`more_skipped`, since dd53304).
    let more = rows(
        "SELECT COALESCE(SUM(json_extract(detail, '$.assignment.more_skipped')), 0) FROM decisions WHERE kind = 'task_created'",
    );
    let rerouted = rows("SELECT COUNT(*) FROM decisions WHERE kind = 'task_rerouted'");
    println!(
        "{}; and {} more not listed; task_rerouted decisions: {}",
        line.trim_end_matches(';'),
        more[0][0],
        rerouted[0][0]
    );

    // Loads against caps, and what should never happen.
    let (mut with_work, mut at_cap, mut over_cap) = (0, 0, 0);
    let mut by_weight: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for r in rows("SELECT role, assignee, open FROM task_load WHERE open > 0") {
        let (role, who, open) = (text(&r[0]), text(&r[1]), r[2].as_i64().unwrap_or(0));
        with_work += 1;
        let Some(p) = config.find_person(&who) else { continue };
        let m = p.membership(&role);
        if let Some(c) = m.and_then(|m| m.max_open) {
            if open >= i64::from(c) {
                at_cap += 1;
            }
            if open > i64::from(c) {
                over_cap += 1;
            }
        }
        if m.and_then(|m| m.max_open).is_none_or(|c| open < i64::from(c)) && p.away.is_empty() && p.days.is_full_week()
        {
            let w = by_weight.entry((role.clone(), format!("{}", m.map_or(1.0, |m| m.weight)))).or_default();
            w.0 += open;
            w.1 += 1;
        }
    }
    let (mut to_away, mut off_day) = (0, 0);
    for r in rows("SELECT assignee, due_at FROM tasks WHERE assignee IS NOT NULL AND status IN ('open', 'claimed')") {
        let Some(p) = config.find_person(&text(&r[0])) else { continue };
        let Some(due) = NaiveDate::parse_from_str(&text(&r[1]), "%Y-%m-%d").ok() else { continue };
        if p.away_between(today, due.max(today)).is_some() {
            to_away += 1;
        }
        if !p.works_on(&config.calendar, due) {
            off_day += 1;
        }
    }
    println!(
        "people with open tasks: {with_work} (of {} on the team); at their cap: {at_cap}, over it: {over_cap}; \
         open tasks of someone away before they are due: {to_away}; due on a day the assignee does not work: {off_day}",
        config.team.len()
    );
    let mut line =
        String::from("mean open tasks of those in all month, full-week, under their cap, by role and weight:");
    for ((role, w), (open, n)) in &by_weight {
        write!(line, " {role} {w}: {:.1} ({n});", *open as f64 / *n as f64).unwrap();
    }
    println!("{}", line.trim_end_matches(';'));
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
