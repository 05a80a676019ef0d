//! Claims per second from several worker processes at once on one queue.
//!
//! A config folder from `dealflow init`, a queue of open, unassigned
//! `sales_rep` tasks, then W processes started together, each
//! `dealflow tasks claim --role sales_rep --as worker-N --outside --count K --json`
//! (K large enough that each keeps claiming until the queue is empty). Each
//! worker claims in steps of up to 100 tasks, each step one `BEGIN IMMEDIATE`
//! transaction with one `UPDATE … RETURNING`. The figure is all claims over
//! the wall time from starting the first process to the exit of the last
//! (start-up included). The claimed ids are checked: each task exactly once.
//!
//! For comparison it also times one claim per transaction (W threads, each
//! with its own connection, calling `Store::claim` in a loop), and one process
//! per claim (the plain `tasks claim`, W at a time), which start-up alone
//! keeps far below.
//!
//! `cargo bench --bench claims` (release build). Knobs: `CLAIMS_BENCH_TASKS`
//! (default 100,000), `CLAIMS_BENCH_WORKERS` (the worker counts of the batched
//! runs, default `1,4,8`), `CLAIMS_BENCH_SINGLE` (the single-claim processes,
//! 400; 0 skips the two single-claim comparisons).
//!
//! With `CLAIMS_BENCH_PG=postgres://USER@HOST:PORT/DB` the batched runs are
//! made on PostgreSQL too, in the same run, and a table puts the two side by
//! side. The queue is built once in a scratch database on that server and
//! each run claims from a copy of it (`CREATE DATABASE … TEMPLATE`); every
//! scratch database is dropped at the end. The workers reach it with `--db URL`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dealflow::benchmark::scratch::ScratchDatabase;
use dealflow::store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_dealflow");

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A config folder with `n` open, unassigned sales_rep tasks of mixed urgency.
fn queue(dir: &Path, n: usize) {
    init(dir);
    fill(&Store::open(&dir.join("dealflow.db"), Duration::from_secs(5)).unwrap(), n);
}

fn init(dir: &Path) {
    let ok = Command::new(BIN).arg("init").arg(dir).stdout(Stdio::null()).status().unwrap().success();
    assert!(ok, "dealflow init");
}

/// `n` open, unassigned sales_rep tasks of mixed urgency, in one unit.
fn fill(store: &Store, n: usize) {
    dealflow::benchmark::fill_queue(store, n, |_| None).unwrap();
}

fn claim_command(dir: &Path, who: &str) -> Command {
    claim_command_on(dir, None, who)
}

/// The claim command, on the database `db` names (else the config folder's).
fn claim_command_on(dir: &Path, db: Option<&str>, who: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(db.map(|url| ["--db", url]).into_iter().flatten());
    // The bench's workers are not on the team of its config: --outside.
    cmd.arg("--dir").arg(dir).args(["tasks", "claim", "--role", "sales_rep", "--as", who, "--outside", "--json"]);
    cmd.env("RUST_LOG", "warn").stdin(Stdio::null());
    cmd
}

/// W workers with `--count`, on SQLite (`db` None) or on the PostgreSQL
/// database `db` names: total claims/s, and each worker's share.
fn batched(workers: usize, tasks: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    queue(dir.path(), tasks);
    batched_on(dir.path(), None, workers, tasks)
}

fn batched_on(dir: &Path, db: Option<&str>, workers: usize, tasks: usize) -> f64 {
    let started = Instant::now();
    let children: Vec<_> = (0..workers)
        .map(|w| {
            let mut cmd = claim_command_on(dir, db, &format!("worker-{w}"));
            cmd.args(["--count", &tasks.to_string()]).stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let outputs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let elapsed = started.elapsed();
    let mut ids = BTreeSet::new();
    let mut shares = Vec::new();
    for out in &outputs {
        assert!(out.status.success(), "a worker failed: {}", String::from_utf8_lossy(&out.stderr));
        let claimed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        shares.push(claimed.len());
        for t in &claimed {
            assert!(ids.insert(t["id"].as_i64().unwrap()), "task {} was claimed twice", t["id"]);
        }
    }
    assert_eq!(ids.len(), tasks, "every task claimed exactly once");
    let rate = tasks as f64 / elapsed.as_secs_f64();
    println!(
        "{} {workers} processes with --count: {tasks} claims in {:.2} s = {rate:.0} claims/s in total (per process: {shares:?})",
        if db.is_some() { "PostgreSQL" } else { "SQLite" },
        elapsed.as_secs_f64(),
    );
    rate
}

/// The batched runs for each worker count, on SQLite and (with a server) on
/// PostgreSQL, alternating, then a table of both side by side.
fn side_by_side(worker_counts: &[usize], tasks: usize, server: Option<&str>) {
    // PostgreSQL: the queue once, in a database each run copies.
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let template = server.map(|server| {
        let db = ScratchDatabase::create(server, "claims_queue", None).unwrap();
        let store = Store::open_postgres(&db.url, Duration::from_secs(5)).unwrap();
        fill(&store, tasks);
        drop(store);
        db
    });
    let mut rows = Vec::new();
    for &w in worker_counts {
        let sqlite = batched(w, tasks);
        let postgres = template.as_ref().map(|t| {
            let run = ScratchDatabase::create(server.unwrap(), "claims", Some(&t.name)).unwrap();
            batched_on(dir.path(), Some(&run.url), w, tasks)
        });
        rows.push((w, sqlite, postgres));
    }
    println!(
        "\nclaims/s, {tasks} tasks, each worker `tasks claim --count {tasks}` (transactions of up to 100 claims):"
    );
    println!("| claiming processes | SQLite | PostgreSQL |\n|---:|---:|---:|");
    for (w, sqlite, postgres) in rows {
        let pg = postgres.map_or("-".to_string(), |r| format!("{r:.0}"));
        println!("| {w} | {sqlite:.0} | {pg} |");
    }
}

/// W connections (threads of this process), one claim per transaction.
fn one_claim_per_transaction(workers: usize, tasks: usize) {
    let dir = tempfile::tempdir().unwrap();
    queue(dir.path(), tasks);
    let db = dir.path().join("dealflow.db");
    let started = Instant::now();
    let claimed: Vec<Vec<i64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let db = &db;
                scope.spawn(move || {
                    let store = Store::open(db, Duration::from_secs(5)).unwrap();
                    let who = format!("worker-{w}");
                    let mut ids = Vec::new();
                    loop {
                        let now = chrono::Utc::now();
                        let lapsed = dealflow::time::stamp(now - chrono::Duration::minutes(240));
                        match store.claim("sales_rep", &who, &dealflow::time::stamp(now), Some(&lapsed)).unwrap() {
                            Some(t) => ids.push(t.id),
                            None => return ids,
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    let all: BTreeSet<i64> = claimed.iter().flatten().copied().collect();
    assert_eq!((all.len(), claimed.iter().map(Vec::len).sum::<usize>()), (tasks, tasks), "each task once");
    println!(
        "{workers} connections, one claim per transaction: {tasks} claims in {:.2} s = {:.0} claims/s in total (per connection: {:?})",
        elapsed.as_secs_f64(),
        tasks as f64 / elapsed.as_secs_f64(),
        claimed.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

/// One process per claim, W at a time.
fn one_process_per_claim(workers: usize, claims: usize) {
    let dir = tempfile::tempdir().unwrap();
    queue(dir.path(), claims);
    let started = Instant::now();
    let per_worker = claims / workers;
    std::thread::scope(|scope| {
        for w in 0..workers {
            let dir = dir.path();
            scope.spawn(move || {
                for _ in 0..per_worker {
                    let out = claim_command(dir, &format!("worker-{w}")).output().unwrap();
                    assert!(out.status.success() && !out.stdout.is_empty());
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let done = per_worker * workers;
    println!(
        "{workers} workers, one process per claim: {done} claims in {:.2} s = {:.0} claims/s in total",
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let tasks = knob("CLAIMS_BENCH_TASKS", 100_000);
    let worker_counts: Vec<usize> = std::env::var("CLAIMS_BENCH_WORKERS")
        .unwrap_or_else(|_| "1,4,8".into())
        .split(',')
        .filter_map(|w| w.trim().parse().ok())
        .collect();
    let server = std::env::var("CLAIMS_BENCH_PG").ok().filter(|s| !s.trim().is_empty());
    side_by_side(&worker_counts, tasks, server.as_deref());
    let single = knob("CLAIMS_BENCH_SINGLE", 400);
    if single > 0 {
        let workers = worker_counts.iter().copied().find(|&w| w > 1).unwrap_or(4);
        one_claim_per_transaction(workers, tasks);
        one_process_per_claim(workers, single);
    }
}
