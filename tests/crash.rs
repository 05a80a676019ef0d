//! Crash safety: `dealflow ingest` and `dealflow watch` killed with SIGKILL
//! at random points of a few thousand events, restarted until they finish,
//! end with exactly the state of one uninterrupted ingest: the same accounts,
//! deals, tasks, decisions and status, every table row for row (wall-clock
//! columns aside), and a sound database file after every kill.
//!
//! The kill delays come from a seed (printed; set `DEALFLOW_CRASH_SEED` to
//! replay one), scaled by how long the uninterrupted run took on this machine.

#![cfg(unix)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Workspace;
use rusqlite::Connection;
use serde_json::{Value, json};

/// Events of the synthetic stream (plus ticks and bad lines).
const EVENTS: u64 = 2_500;
const ACCOUNTS: u64 = 150;
/// A clock tick after every this many events, at the business time of the last one.
const TICK_EVERY: usize = 250;

/// The kill delays come from the synthetic stream's generator, reproducible from the seed.
use dealflow::synthetic::Rng;

fn seed(default: u64) -> u64 {
    let seed = std::env::var("DEALFLOW_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    eprintln!("kill delays from seed {seed} (DEALFLOW_CRASH_SEED={seed} replays them)");
    seed
}

/// The same playbook in every folder (the rules version is a hash of it):
/// small batches, so kills land between and inside transactions; no
/// wall-clock ticks in `watch`.
fn workspace() -> Workspace {
    let ws = Workspace::new();
    ws.edit("config.toml", "path = \"dealflow.db\"", "path = \"dealflow.db\"\nbatch_size = 40");
    ws.edit("config.toml", "tick_interval_minutes = 60", "tick_interval_minutes = 0");
    ws
}

/// The synthetic stream with a clock tick every [`TICK_EVERY`] events and two bad lines.
fn stream() -> Vec<String> {
    let mut lines = Vec::new();
    for (i, line) in dealflow::synthetic::stream(7, ACCOUNTS, EVENTS).enumerate() {
        let at = serde_json::from_str::<Value>(&line).unwrap()["at"].as_str().unwrap().to_string();
        lines.push(line);
        if i % TICK_EVERY == TICK_EVERY - 1 {
            lines.push(json!({"id": format!("tick-{at}"), "type": "clock.tick", "at": at}).to_string());
        }
        if i == 1_000 {
            lines.push(r#"{"id": "bad-1", "type": "deal.exploded", "at": "2026-05-01T00:00:00Z", "data": {}}"#.into());
            lines.push("{not json".into());
        }
    }
    lines
}

fn db(ws: &Workspace) -> PathBuf {
    ws.path("dealflow.db")
}

/// Opens the database like a fresh process would (recovering the WAL of a killed one).
fn open(db: &Path) -> Connection {
    Connection::open(db).unwrap_or_else(|e| panic!("open {}: {e}", db.display()))
}

fn integrity(db: &Path) -> String {
    open(db).query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

/// Applied events so far (0 before the schema exists).
fn applied(db: &Path) -> i64 {
    if !db.exists() {
        return 0;
    }
    open(db).query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).unwrap_or(0)
}

/// Columns that hold the wall-clock time of the run, not what happened.
const WALL_CLOCK: &[&str] =
    &["events.applied_at", "rejected_events.rejected_at", "tasks.claimed_at", "tasks.closed_at"];

/// Every table, each row as text, sorted; `skip` names `table.column`s to leave out.
fn tables(db: &Path, skip: &[&str]) -> BTreeMap<String, Vec<String>> {
    let c = open(db);
    let names: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = BTreeMap::new();
    // One row per run that started: how many runs there were is no part of the state.
    for table in names.into_iter().filter(|t| t != "rules_loads") {
        let columns: Vec<String> = c
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .filter(|col| !skip.iter().chain(WALL_CLOCK).any(|s| *s == format!("{table}.{col}")))
            .collect();
        let list = columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        let mut st = c.prepare(&format!("SELECT {list} FROM \"{table}\"")).unwrap();
        let mut rows: Vec<String> = st
            .query_map([], |r| {
                let values: Vec<String> = (0..columns.len())
                    .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                    .collect();
                Ok(values.join(" | "))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        out.insert(format!("{table} ({})", columns.join(", ")), rows);
    }
    out
}

/// The store's counters kept by triggers agree with the tasks themselves.
fn assert_task_load_consistent(db: &Path) {
    let c = open(db);
    let pairs = |sql: &str| -> BTreeSet<(String, String, i64)> {
        c.prepare(sql)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let kept = pairs("SELECT role, assignee, open FROM task_load WHERE open != 0");
    let counted = pairs(
        "SELECT role, assignee, COUNT(*) FROM tasks WHERE assignee IS NOT NULL AND status IN ('open', 'claimed') GROUP BY role, assignee",
    );
    assert_eq!(kept, counted, "task_load disagrees with the tasks");
}

/// Decisions per kind.
fn decision_counts(db: &Path) -> BTreeMap<String, i64> {
    let c = open(db);
    let mut st = c.prepare("SELECT kind, COUNT(*) FROM decisions GROUP BY kind").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// What a user sees: the listings and the status, without what names the run or the folder.
fn seen(ws: &Workspace) -> BTreeMap<&'static str, Value> {
    let mut status = ws.status();
    for key in ["rules_loaded_at", "database"] {
        status.as_object_mut().unwrap().remove(key);
    }
    let mut tasks = Value::Array(ws.tasks());
    for t in tasks.as_array_mut().unwrap() {
        for key in ["claimed_at", "closed_at"] {
            t.as_object_mut().unwrap().remove(key);
        }
    }
    BTreeMap::from([
        ("accounts", Value::Array(ws.accounts())),
        ("deals", Value::Array(ws.deals())),
        ("tasks", tasks),
        ("status", status),
        ("decisions", json!(decision_counts(&db(ws)))),
    ])
}

/// Asserts two folders hold the same state; on a difference, says where.
fn assert_same_state(expected: &Workspace, got: &Workspace, skip: &[&str]) {
    let (e, g) = (seen(expected), seen(got));
    for (part, want) in &e {
        let have = &g[part];
        if want != have {
            let (w, h) = (serde_json::to_string_pretty(want).unwrap(), serde_json::to_string_pretty(have).unwrap());
            let at = w.lines().zip(h.lines()).position(|(a, b)| a != b).unwrap_or(0);
            let near = |s: &str| s.lines().skip(at.saturating_sub(5)).take(12).collect::<Vec<_>>().join("\n");
            panic!(
                "`{part}` differs from the uninterrupted run near line {at}:\n--- expected\n{}\n--- got\n{}",
                near(&w),
                near(&h)
            );
        }
    }
    let (e, g) = (tables(&db(expected), skip), tables(&db(got), skip));
    assert_eq!(e.keys().collect::<Vec<_>>(), g.keys().collect::<Vec<_>>(), "the schemas differ");
    for (table, want) in &e {
        let have = &g[table];
        if want != have {
            let (w, h): (BTreeSet<_>, BTreeSet<_>) = (want.iter().collect(), have.iter().collect());
            let lost: Vec<_> = w.difference(&h).take(5).collect();
            let extra: Vec<_> = h.difference(&w).take(5).collect();
            panic!(
                "table {table}: {} rows expected, {} found\nmissing (first 5): {lost:#?}\nextra or doubled (first 5): {extra:#?}",
                want.len(),
                have.len()
            );
        }
    }
    assert_task_load_consistent(&db(got));
}

/// Start `dealflow ARGS` in `ws` without waiting; its output is not read.
fn spawn(ws: &Workspace, args: &[&str]) -> Child {
    ws.command(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start dealflow")
}

/// Start `dealflow watch ...` and return once it says it is watching, with
/// the thread that keeps reading its standard error (it returns every line).
fn spawn_watching(ws: &Workspace, args: &[&str]) -> (Child, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader};
    let mut child = ws
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dealflow");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("watching: ") {
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        panic!("watch did not say it was watching:\n{}", reader.join().unwrap().join("\n"));
    }
    (child, reader)
}

/// How a run ended.
#[derive(Debug)]
enum End {
    Killed { applied: i64 },
    Finished(i32),
}

/// Start, wait `delay`, SIGKILL (unless it finished first), check the file is sound.
fn run_and_kill(ws: &Workspace, args: &[&str], delay: Duration) -> End {
    let mut child = spawn(ws, args);
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return End::Finished(status.code().unwrap_or(-1));
        }
        std::thread::sleep(Duration::from_millis(2).min(deadline.saturating_duration_since(Instant::now())));
    }
    // Child::kill is SIGKILL on unix: no handler runs, nothing is flushed or committed.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    if status.code().is_some() {
        // It exited on its own between the last look and the signal.
        return End::Finished(status.code().unwrap());
    }
    let db = db(ws);
    if db.exists() {
        assert_eq!(integrity(&db), "ok", "the database is damaged after a kill at {delay:?}");
    }
    End::Killed { applied: applied(&db) }
}

/// Kill delays: a few within the start-up, the rest spread so that the kills
/// together cover about the whole run.
fn delays(rng: &mut Rng, kills: usize, full_run: Duration) -> Vec<Duration> {
    (0..kills)
        .map(|i| match i {
            0 => Duration::from_millis(5 + rng.next_u64() % 40),
            1 => Duration::from_millis(50 + rng.next_u64() % 150),
            _ => full_run.mul_f64(0.03 + rng.unit() * 2.0 / kills as f64),
        })
        .collect()
}

#[test]
fn ingest_killed_at_random_points_ends_as_one_uninterrupted_run() {
    let mut rng = Rng(seed(20_261_126));
    let reference = workspace();
    let file = reference.root().join("stream.jsonl");
    let lines = stream();
    std::fs::write(&file, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let file = file.to_str().unwrap();

    let started = Instant::now();
    let out = reference.run(&["ingest", "--json", file]);
    let full_run = started.elapsed();
    assert_eq!(out.code, 2, "two bad lines are rejected, the rest applied:\n{}", out.stderr);
    let summary = out.json();
    let total = applied(&db(&reference));
    assert_eq!(summary["applied"], total);
    assert_eq!(summary["rejected"], 2);
    assert!(summary["tasks_created"].as_i64().unwrap() > 500, "{summary}");
    eprintln!("uninterrupted: {total} events in {full_run:?}");

    let crashed = workspace();
    let mut ends = Vec::new();
    for delay in delays(&mut rng, 12, full_run) {
        let end = run_and_kill(&crashed, &["ingest", "--json", file], delay);
        eprintln!("ingest after {delay:?}: {end:?}");
        if let End::Finished(code) = end {
            assert_eq!(code, 2, "a run that was not killed ends like the uninterrupted one");
        }
        let done = matches!(end, End::Finished(_));
        ends.push(end);
        if done {
            break;
        }
    }
    let progress: Vec<i64> =
        ends.iter().filter_map(|e| if let End::Killed { applied } = e { Some(*applied) } else { None }).collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "a kill lost committed events: {progress:?}");
    let mid_stream = progress.iter().filter(|&&n| n > 0 && n < total).count();
    assert!(mid_stream >= 4, "too few kills landed mid-stream to mean anything: {ends:?}");

    // Until it finishes: the last run applies what is left.
    let out = crashed.run(&["ingest", "--json", file]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let last = out.json();
    assert_eq!(last["applied"].as_i64().unwrap() + last["duplicates"].as_i64().unwrap(), total);
    assert_eq!(integrity(&db(&crashed)), "ok");
    assert_eq!(applied(&db(&crashed)), total);
    assert_same_state(&reference, &crashed, &[]);
    // Rejected lines are recorded again by every run that reads them (a re-sent file is reported again).
    let rejected: i64 =
        open(&db(&crashed)).query_row("SELECT COUNT(DISTINCT line) FROM rejected_events", [], |r| r.get(0)).unwrap();
    assert_eq!(rejected, 2);
}

#[test]
fn watch_killed_while_processing_the_inbox_ends_as_one_uninterrupted_ingest() {
    let mut rng = Rng(seed(1_042));
    let lines = stream();
    let reference = workspace();
    let file = reference.root().join("stream.jsonl");
    std::fs::write(&file, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let started = Instant::now();
    let out = reference.run(&["ingest", "--json", file.to_str().unwrap()]);
    let full_run = started.elapsed();
    assert_eq!(out.code, 2, "{}", out.stderr);
    let total = applied(&db(&reference));

    // The same events as eight inbox files, in name order.
    let crashed = workspace();
    let per_file = lines.len().div_ceil(8);
    for (i, chunk) in lines.chunks(per_file).enumerate() {
        let text: String = chunk.iter().map(|l| format!("{l}\n")).collect();
        let tmp = crashed.path(&format!("inbox/.part-{i}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, crashed.path(&format!("inbox/part-{i}.jsonl"))).unwrap();
    }
    let pending = || {
        crashed
            .path("inbox")
            .read_dir()
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
            .count()
    };

    let watch = ["watch", "--debounce-ms", "20", "--settle-ms", "20"];
    let mut kills = Vec::new();
    // Watch never finishes by itself: kill it until the inbox is empty, then stop it cleanly.
    for delay in delays(&mut rng, 12, full_run) {
        if pending() == 0 {
            break;
        }
        let end = run_and_kill(&crashed, &watch, delay);
        eprintln!("watch after {delay:?}: {end:?}, {} files left", pending());
        assert!(matches!(end, End::Killed { .. }), "watch exited by itself: {end:?}");
        kills.push(end);
    }
    let progress: Vec<i64> =
        kills.iter().filter_map(|e| if let End::Killed { applied } = e { Some(*applied) } else { None }).collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "a kill lost committed events: {progress:?}");
    assert!(progress.iter().filter(|&&n| n > 0 && n < total).count() >= 4, "too few kills mid-inbox: {progress:?}");

    // Signalled only once it says it is watching (the kills may have emptied the inbox already).
    let (mut child, said) = spawn_watching(&crashed, &watch);
    let deadline = Instant::now() + Duration::from_secs(120);
    while pending() > 0 {
        assert!(Instant::now() < deadline, "the inbox was not emptied");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Stop cleanly (SIGTERM), and wait.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(0), "watch printed:\n{}", said.join().unwrap().join("\n"));

    let mut done: Vec<String> = crashed
        .path("inbox/done")
        .read_dir()
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    done.sort();
    let part = lines.iter().position(|l| l.starts_with("{not json")).unwrap() / per_file;
    let expected: Vec<String> = (0..8).filter(|i| *i != part).map(|i| format!("part-{i}.jsonl")).collect();
    assert_eq!(done, expected, "each good file moved to done/ once");
    let errors = std::fs::read_to_string(crashed.path(&format!("inbox/failed/part-{part}.errors"))).unwrap();
    assert_eq!(errors.lines().count(), 2, "the bad lines, each listed once:\n{errors}");

    assert_eq!(integrity(&db(&crashed)), "ok");
    assert_eq!(applied(&db(&crashed)), total);
    // Where each event came from differs (inbox files, not one file); what it did may not.
    assert_same_state(
        &reference,
        &crashed,
        &["events.source", "events.line", "rejected_events.source", "rejected_events.line", "rejected_events.seq"],
    );
}
