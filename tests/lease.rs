//! One engine in force on PostgreSQL: the engine lease, driven through the
//! real binary. Two `watch` processes with config folders of their own (two
//! "machines") share one database: the first is the engine in force, the
//! second a standby that takes over when the first dies (SIGKILL) or stalls
//! past its lease (SIGSTOP); a stalled one that wakes up must not write.
//! `ingest` waits while a watch holds the lease. `status` shows it.
//!
//! Each test needs a PostgreSQL server (`DEALFLOW_TEST_PG`, see
//! `.ci/pg-cluster`) and says SKIPPED (and passes) without one. Tests wait
//! for what processes say or for what the database holds, never for a
//! guessed length of time.

#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::pg::PgDatabase;
use common::watching::{EXTRA_RULE, WAIT, WATCH, Watching, save_by_rename, unsafe_kill, version_of};
use common::{Workspace, array};
use serde_json::{Value, json};

/// A config folder (a "machine") whose store is the database at `url`:
/// every folder made here has the same config.toml, so the same rules
/// version. Small batches, so a kill lands between commits; no wall-clock ticks.
fn machine(url: &str, lease_seconds: Option<u64>) -> Workspace {
    let ws = Workspace::new();
    let lease = lease_seconds.map(|s| format!("lease_seconds = {s}\n")).unwrap_or_default();
    ws.edit("config.toml", "[store]\n", &format!("[store]\nurl = \"{url}\"\nbatch_size = 20\n{lease}"));
    ws.edit("config.toml", "tick_interval_minutes = 60", "tick_interval_minutes = 0");
    ws
}

/// The synthetic stream (accounts, deals, activities, orders, duplicates,
/// changed events, bad lines, task completions) with a clock tick now and then.
fn stream(events: u64) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, line) in dealflow::synthetic::stream(7, 60, events).enumerate() {
        let at = serde_json::from_str::<Value>(&line).unwrap()["at"].as_str().unwrap().to_string();
        lines.push(line);
        if i % 200 == 199 {
            lines.push(json!({"id": format!("tick-{at}"), "type": "clock.tick", "at": at}).to_string());
        }
    }
    lines
}

/// Put an event file into a folder's inbox whole (written aside, then renamed in).
fn drop_in_inbox(ws: &Workspace, name: &str, lines: &[String]) {
    let inbox = ws.path("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let tmp = ws.root().join(format!(".{name}.tmp"));
    std::fs::write(&tmp, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    std::fs::rename(&tmp, inbox.join(name)).unwrap();
}

fn count(db: &PgDatabase, sql: &str) -> i64 {
    db.client().query_one(sql, &[]).map(|r| r.get(0)).unwrap_or(0)
}

/// Wait until `sql` (a count) reaches `at_least`; its value then.
fn wait_for_count(db: &PgDatabase, sql: &str, at_least: i64) -> i64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let n = count(db, sql);
        if n >= at_least {
            return n;
        }
        assert!(Instant::now() < deadline, "{sql} stayed at {n}, below {at_least}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Columns that hold when a row was processed, not what happened, and the
/// logs' sequence numbers (a run killed mid-unit leaves gaps in them).
const PROCESSING: &[&str] = &["seq", "row_order", "applied_at", "rejected_at", "claimed_at", "closed_at"];

/// Each table's rows as JSON text, sorted, without the processing columns.
fn tables(db: &PgDatabase) -> BTreeMap<&'static str, Vec<String>> {
    let mut c = db.client();
    let skip: Vec<String> = PROCESSING.iter().map(|s| s.to_string()).collect();
    [
        "tasks",
        "accounts",
        "deals",
        "decisions",
        "events",
        "rejected_events",
        "deal_stage_history",
        "activities",
        "orders",
        "contracts",
        "targets",
        "task_load",
        "assign_turns",
        "waiting_handovers",
    ]
    .into_iter()
    .map(|table| {
        let sql = format!("SELECT (to_jsonb(t) - $1::TEXT[])::TEXT FROM {table} t");
        let mut rows: Vec<String> =
            c.query(&sql, &[&skip]).unwrap_or_else(|e| panic!("{table}: {e}")).iter().map(|r| r.get(0)).collect();
        rows.sort();
        (table, rows)
    })
    .collect()
}

fn assert_same_tables(expected: &PgDatabase, got: &PgDatabase) {
    let (e, g) = (tables(expected), tables(got));
    for (table, want) in &e {
        let have = &g[table];
        if want != have {
            let lost: Vec<_> = want.iter().filter(|r| !have.contains(r)).take(3).collect();
            let extra: Vec<_> = have.iter().filter(|r| !want.contains(r)).take(3).collect();
            panic!(
                "table {table}: {} rows expected, {} found\nmissing: {lost:#?}\nextra or different: {extra:#?}",
                want.len(),
                have.len()
            );
        }
    }
}

/// Every event applied once: no id twice in the log.
fn assert_each_event_once(db: &PgDatabase) {
    let doubled = count(db, "SELECT count(*) FROM (SELECT id FROM events GROUP BY id HAVING count(*) > 1) d");
    assert_eq!(doubled, 0, "an event was applied twice");
}

fn start_watch(ws: &Workspace) -> Watching {
    Watching::spawn(ws.command(&WATCH))
}

/// The leader is killed with SIGKILL in the middle of an inbox file; the
/// standby takes over and applies the same file: the tables equal one
/// uninterrupted run's, each event applied once. Without the lease the
/// second watch would not say it is a standby, nor take over (the test
/// waits for both); without exactly-once application the tables differ.
#[test]
fn a_standby_takes_over_from_a_killed_leader_and_the_tables_equal_one_uninterrupted_run() {
    let Some(db) = PgDatabase::create("a_standby_takes_over_from_a_killed_leader") else { return };
    let Some(reference) = PgDatabase::create("a_standby_takes_over_from_a_killed_leader") else { return };
    let (a, b) = (machine(&db.url, None), machine(&db.url, None));
    let lines = stream(800);

    let mut leader = start_watch(&a);
    assert_eq!(leader.expect("engine in force: "), "engine in force: this watch holds the engine lease (epoch 1)");
    leader.expect("watching: ");
    let mut standby = start_watch(&b);
    let said = standby.expect("standby: ");
    let pid = leader.child.id();
    assert!(
        said.starts_with("standby: the engine in force is watch on ")
            && said.contains(&format!(" pid {pid} (epoch 1); taking over if it stops")),
        "{said}"
    );

    drop_in_inbox(&a, "events.jsonl", &lines);
    let applied_at_kill = wait_for_count(&db, "SELECT count(*) FROM events", 40);
    unsafe_kill(pid, "KILL");
    let _ = leader.child.wait();
    let applied = count(&db, "SELECT count(*) FROM events");
    assert!(applied >= applied_at_kill && applied < 700, "killed mid-file: {applied} events applied");

    assert_eq!(standby.expect("engine in force: "), "engine in force: this watch holds the engine lease (epoch 2)");
    standby.expect("watching: ");
    drop_in_inbox(&b, "events.jsonl", &lines);
    let done = standby.expect("inbox/events.jsonl: applied ");
    assert!(done.contains("; moved to "), "{done}");
    assert_eq!(standby.stop(), 0);

    // One uninterrupted run of the same file, named as the inbox names it, with the same
    // config.toml, on another database.
    let r = machine(&db.url, None);
    drop_in_inbox(&r, "events.jsonl", &lines);
    let out = r
        .command(&["ingest", "--json", "inbox/events.jsonl"])
        .current_dir(r.config_dir())
        .env("DEALFLOW_DB", &reference.url)
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 2)), "{}", String::from_utf8_lossy(&out.stderr));

    assert_each_event_once(&db);
    assert!(count(&reference, "SELECT count(*) FROM tasks") > 0, "the stream makes tasks");
    assert_same_tables(&reference, &db);
}

/// A leader that stalls (SIGSTOP) in the middle of an inbox file keeps its
/// connections, and its unit open, but stops renewing: the standby takes
/// over once the lease (2 s here) has expired. Woken up (SIGCONT), the old
/// leader must not write: not one more event of its file, nor of a file put
/// in its inbox while it was stopped; it says it lost the lease and waits as
/// a standby. Without the fence, the ending of its connections and the
/// server's idle-transaction timeout, it would go on with its file.
#[test]
fn a_stalled_leader_is_taken_over_and_writes_nothing_once_it_wakes() {
    let Some(db) = PgDatabase::create("a_stalled_leader_is_taken_over") else { return };
    let (a, b) = (machine(&db.url, Some(2)), machine(&db.url, Some(2)));
    let mut leader = start_watch(&a);
    leader.expect("watching: ");
    let mut standby = start_watch(&b);
    standby.expect("standby: ");
    drop_in_inbox(&a, "events.jsonl", &stream(800));
    wait_for_count(&db, "SELECT count(*) FROM events", 40);

    let pid = leader.child.id();
    unsafe_kill(pid, "STOP");
    assert_eq!(standby.expect("engine in force: "), "engine in force: this watch holds the engine lease (epoch 2)");
    let at_takeover = count(&db, "SELECT count(*) FROM events");
    assert!(at_takeover < 700, "stalled mid-file: {at_takeover} events applied");
    // Events the stalled leader finds when it wakes: ids no other file has.
    let late: Vec<String> = (0..30)
        .map(|i| {
            json!({"id": format!("late-{i}"), "type": "account.upserted", "at": "2026-06-01T00:00:00Z",
                   "data": {"id": format!("LATE-{i}"), "name": format!("Late {i}")}})
            .to_string()
        })
        .collect();
    drop_in_inbox(&a, "late.jsonl", &late);
    unsafe_kill(pid, "CONT");
    let lost = leader.expect("lost the engine lease: ");
    assert!(
        lost.contains("another process (watch on ") && lost.contains("took over as the engine (epoch 2)"),
        "{lost}"
    );
    leader.expect("standby: the engine in force is watch on ");
    assert_eq!(count(&db, "SELECT count(*) FROM events"), at_takeover, "the old leader wrote after the takeover");
    assert_eq!(count(&db, "SELECT count(*) FROM accounts WHERE id LIKE 'LATE-%'"), 0, "the old leader wrote");
    assert!(a.path("inbox/events.jsonl").exists(), "its file stays in its inbox, unfinished");
    // Waiting as a standby, it still stops cleanly on a signal; so does the new leader.
    assert_eq!(leader.stop(), 0);
    assert_eq!(standby.stop(), 0);
    assert_each_event_once(&db);
}

/// `ingest` while a watch is the engine in force waits, saying for whom,
/// and goes on once the watch stops (its clean stop lets the lease go).
/// Another `ingest` told to stop while it waits gives up, having done
/// nothing. Without the lease the ingest would not wait (no line to expect).
#[test]
fn ingest_waits_for_the_watch_in_force_and_goes_on_when_it_stops() {
    let Some(db) = PgDatabase::create("ingest_waits_for_the_watch_in_force") else { return };
    let a = machine(&db.url, None);
    let mut watch = start_watch(&a);
    watch.expect("watching: ");
    let file = a.event_file(&stream(40));
    let file = file.to_str().unwrap();

    let mut giving_up = Watching::spawn(a.command(&["ingest", file]));
    giving_up.expect("waiting for the engine in force: ");
    unsafe_kill(giving_up.child.id(), "INT");
    assert_ne!(giving_up.exit_code(), 0);
    assert!(
        giving_up.seen.iter().any(|l| l.contains("stopped while waiting for the engine in force: nothing was done"))
    );
    assert_eq!(count(&db, "SELECT count(*) FROM events"), 0);

    let mut ingest = Watching::spawn(a.command(&["ingest", file]));
    let said = ingest.expect("waiting for the engine in force: ");
    assert_eq!(
        said,
        format!(
            "waiting for the engine in force: watch on {} pid {} (epoch 1); its inbox takes files too; Ctrl-C to give up",
            hostname(),
            watch.child.id()
        )
    );
    assert_eq!(count(&db, "SELECT count(*) FROM events"), 0, "nothing is applied while it waits");
    assert_eq!(watch.stop(), 0);
    assert!(matches!(ingest.exit_code(), 0 | 2), "{}", ingest.seen.join("\n"));
    assert!(count(&db, "SELECT count(*) FROM events") > 0);
    // It took the lease after the watch (epoch 2) and let it go at its end.
    let status = a.status();
    assert_eq!(status["lease"]["epoch"], 2);
    assert_eq!(status["lease"]["held"], false);
    assert_eq!(status["lease"]["holder"], format!("ingest on {} pid {}", hostname(), ingest.child.id()));
}

fn hostname() -> String {
    dealflow::store::lease::hostname()
}

/// `status` names the store, the lease holder, its epoch, since when and
/// until when, and the processes with the rules version each has in force;
/// `--json` has the same as fields. On SQLite, the lease is not used (`--json`
/// says so; the text stays as the README quotes it).
#[test]
fn status_shows_the_store_the_lease_holder_and_the_processes() {
    let sqlite = Workspace::new();
    sqlite.run(&["tick", "--now", "2026-11-02"]).success();
    let out = sqlite.run(&["status"]).success();
    assert!(!out.stdout.contains("lease"), "SQLite's status text is as it was: {}", out.stdout);
    assert_eq!(sqlite.status()["lease"], json!({"used": false, "why": "SQLite: one machine; its writers take turns"}));
    assert_eq!(sqlite.status()["backend"], "sqlite");

    let Some(db) = PgDatabase::create("status_shows_the_lease") else { return };
    let (a, b) = (machine(&db.url, None), machine(&db.url, None));
    let mut leader = start_watch(&a);
    leader.expect("watching: ");
    let mut standby = start_watch(&b);
    standby.expect("standby: ");
    let version = a.status()["rules_version"].as_str().unwrap().to_string();
    let holder = format!("watch on {} pid {}", hostname(), leader.child.id());

    let out = b.run(&["status"]).success().stdout;
    let store = db.url.clone();
    assert!(out.contains(&format!("\nstore: {store}\n")), "{out}");
    let lease = out.lines().find(|l| l.starts_with("lease: ")).unwrap_or_else(|| panic!("{out}"));
    assert!(lease.starts_with(&format!("lease: held by {holder} (epoch 1) since 20")), "{lease}");
    assert!(lease.contains("; expires at 20") && lease.ends_with("unless renewed"), "{lease}");
    for (pid, role) in [(leader.child.id(), "leader"), (standby.child.id(), "standby")] {
        let row = out
            .lines()
            .find(|l| l.trim_start().starts_with("watch on ") && l.contains(&format!(" pid {pid} ")))
            .unwrap_or_else(|| panic!("{out}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&cells[5..7], [role, version.as_str()], "{row}");
    }

    let json = b.status();
    assert_eq!(json["backend"], "postgres");
    assert_eq!(json["database"], store.as_str(), "the store, its password never shown");
    let l = &json["lease"];
    assert_eq!(
        (&l["used"], &l["held"], &l["epoch"], &l["holder"]),
        (&json!(true), &json!(true), &json!(1), &json!(holder))
    );
    assert_eq!(l["lease_seconds"], 10);
    assert_eq!(l["expired"], false);
    for key in ["taken_at", "renewed_at", "expires_at"] {
        assert!(chrono::DateTime::parse_from_rfc3339(l[key].as_str().unwrap()).is_ok(), "{key}: {l}");
    }
    let processes = array(json["processes"].clone());
    let roles: BTreeMap<i64, (String, String)> = processes
        .iter()
        .map(|p| {
            (
                p["pid"].as_i64().unwrap(),
                (p["role"].as_str().unwrap().into(), p["rules_version"].as_str().unwrap().into()),
            )
        })
        .collect();
    assert_eq!(
        roles,
        BTreeMap::from([
            (leader.child.id() as i64, ("leader".to_string(), version.clone())),
            (standby.child.id() as i64, ("standby".to_string(), version.clone())),
        ])
    );
    // The existing keys stay.
    for key in ["rules_version", "accounts", "deals", "open_tasks", "database"] {
        assert!(json.get(key).is_some(), "{key}");
    }
    // A hot reload of the leader's rules is the version it has in force from then on.
    save_by_rename(&a.path("rules/extra.rhai"), EXTRA_RULE);
    let reloaded = version_of(&leader.expect("rules reloaded: "));
    assert_ne!(reloaded, version);
    let sql = format!(
        "SELECT count(*) FROM engine_processes WHERE pid = {} AND rules_version = '{reloaded}'",
        leader.child.id()
    );
    wait_for_count(&db, &sql, 1);
    let json = b.status();
    let row = array(json["processes"].clone()).into_iter().find(|p| p["role"] == "leader").unwrap();
    assert_eq!(row["rules_version"], reloaded.as_str());

    assert_eq!(leader.stop(), 0);
    assert_eq!(standby.expect("engine in force: "), "engine in force: this watch holds the engine lease (epoch 2)");
    assert_eq!(standby.stop(), 0);
}

/// The benchmark of takeover times (not a test: it asserts nothing and
/// takes a minute). Two watches on one database with the default lease
/// (10 s): the leader is killed with SIGKILL 20 times (each time the killed
/// folder starts again as the next standby), and stalled with SIGSTOP 3
/// times. The time is from the signal to the standby's "engine in force"
/// line. Run it with:
///
/// ```sh
/// DEALFLOW_TEST_PG=$(.ci/pg-cluster start /tmp/pg-bench 55499) \
///   cargo test --release --test lease -- --ignored --nocapture takeover_times
/// ```
#[test]
#[ignore = "a benchmark: run with --ignored --nocapture"]
fn takeover_times() {
    let Some(db) = PgDatabase::create("takeover_times") else { return };
    let folders = [machine(&db.url, None), machine(&db.url, None)];
    let mut leader = start_watch(&folders[0]);
    leader.expect("watching: ");
    let mut standby = start_watch(&folders[1]);
    standby.expect("standby: ");
    let mut at = 0;
    let mut measure = |signal: &str, times: usize| -> Vec<Duration> {
        let mut taken = Vec::new();
        for _ in 0..times {
            let t0 = Instant::now();
            unsafe_kill(leader.child.id(), signal);
            standby.expect("engine in force: ");
            taken.push(t0.elapsed());
            standby.expect("watching: ");
            if signal != "KILL" {
                unsafe_kill(leader.child.id(), "KILL");
            }
            let _ = leader.child.wait();
            // The killed folder starts again, as the next standby.
            let mut next = start_watch(&folders[at]);
            next.expect("standby: ");
            at = 1 - at;
            std::mem::swap(&mut leader, &mut standby);
            standby = next;
        }
        taken.sort();
        taken
    };
    let kills = measure("KILL", 20);
    let stalls = measure("STOP", 3);
    let ms = |d: &Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!(
        "takeover after SIGKILL (20): p50 {}, max {}, min {}",
        ms(&kills[kills.len() / 2 - 1]),
        ms(kills.last().unwrap()),
        ms(&kills[0])
    );
    println!(
        "takeover after SIGSTOP ({}): {} (lease_seconds = 10)",
        stalls.len(),
        stalls.iter().map(ms).collect::<Vec<_>>().join(", ")
    );
}
