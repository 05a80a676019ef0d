//! Claims from many processes on one PostgreSQL database: four `tasks claim
//! --count N --json` processes (in loops, as workers run them) and one
//! process ingesting the leads that make the tasks, all at once. No task is
//! claimed twice, none is lost (every task made is claimed by the end), and
//! every claim is reported once: what the claimers printed, gathered, is
//! exactly the claimed rows of the database, each by the worker it says.
//! SKIPPED without DEALFLOW_TEST_PG.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use common::events::lead;
use common::{Workspace, array};
use serde_json::{Value, json};

/// Leads in each ingested file, and how many files the ingester feeds in turn.
const PER_FILE: usize = 40;
const FILES: usize = 8;

fn lead_files(ws: &Workspace) -> Vec<std::path::PathBuf> {
    (0..FILES)
        .map(|f| {
            let events: Vec<String> = (0..PER_FILE)
                .map(|i| {
                    let n = f * PER_FILE + i;
                    let at = format!("2026-11-02T{:02}:{:02}:{:02}Z", 8 + n / 3600, n / 60 % 60, n % 60);
                    lead(&at, &format!("L-{n}"), json!({"company": format!("Prospect {n}")}))
                })
                .collect();
            ws.event_file(&events)
        })
        .collect()
}

#[test]
fn four_claiming_processes_and_an_ingesting_one_share_the_queue_exactly() {
    let Some(ws) = Workspace::on_postgres("four_claiming_processes_and_an_ingesting_one_share_the_queue_exactly")
    else {
        return;
    };
    let files = lead_files(&ws);
    // The schema first, so the five processes do not all start on an empty database.
    ws.run(&["status"]).success();

    // Three of the team and a temp from outside; batches of different sizes.
    let workers = [("Ana Ruiz", "3"), ("Ben Okafor", "7"), ("Chloe Martin", "1"), ("Temp Rep", "5")];
    let ingested = AtomicBool::new(false);
    let (claimed, rounds): (Vec<(String, Value)>, Vec<usize>) = std::thread::scope(|scope| {
        let ingester = scope.spawn(|| {
            for f in &files {
                let summary = ws.ingest_file(f);
                assert_eq!(summary["applied"], PER_FILE as u64, "{summary}");
            }
            ingested.store(true, Ordering::SeqCst);
        });
        let claimers: Vec<_> = workers
            .iter()
            .map(|&(who, count)| {
                let (ws, ingested) = (&ws, &ingested);
                scope.spawn(move || {
                    let mut args =
                        vec!["tasks", "claim", "--role", "sales_rep", "--as", who, "--count", count, "--json"];
                    args.extend((who == "Temp Rep").then_some("--outside"));
                    let (mut got, mut rounds) = (Vec::new(), 0);
                    loop {
                        // Read before claiming: an empty claim that began after the
                        // last lead was applied means the queue is empty for good.
                        let done = ingested.load(Ordering::SeqCst);
                        let batch = array(ws.run(&args).success().json());
                        rounds += 1;
                        if batch.is_empty() && done {
                            return (got, rounds);
                        }
                        got.extend(batch.into_iter().map(|t| (who.to_string(), t)));
                    }
                })
            })
            .collect();
        ingester.join().unwrap();
        let results: Vec<_> = claimers.into_iter().map(|h| h.join().unwrap()).collect();
        let rounds = results.iter().map(|(_, r)| *r).collect();
        (results.into_iter().flat_map(|(got, _)| got).collect(), rounds)
    });

    // No task claimed twice (as the claimers tell it).
    let reported: Vec<i64> = claimed.iter().map(|(_, t)| t["id"].as_i64().unwrap()).collect();
    let unique: BTreeSet<i64> = reported.iter().copied().collect();
    assert_eq!(unique.len(), reported.len(), "a task was reported claimed twice");
    let per_worker = claimed.iter().fold(BTreeMap::<&str, usize>::new(), |mut m, (w, _)| {
        *m.entry(w.as_str()).or_default() += 1;
        m
    });
    eprintln!("claims per worker: {per_worker:?}; claim processes per worker: {rounds:?}");

    // The database: every lead made one task, every task is claimed, by the
    // worker who was told so, and the reports are exactly these rows.
    let mut db = ws.pg.as_ref().unwrap().client();
    let rows = db.query("SELECT id, status, claimed_by, role FROM tasks ORDER BY id", &[]).unwrap();
    assert_eq!(rows.len(), FILES * PER_FILE, "one task per lead");
    let told: BTreeMap<i64, &str> = claimed.iter().map(|(w, t)| (t["id"].as_i64().unwrap(), w.as_str())).collect();
    let mut in_db = BTreeMap::new();
    for r in &rows {
        let (id, status, by, role): (i64, String, Option<String>, String) = (r.get(0), r.get(1), r.get(2), r.get(3));
        assert_eq!((status.as_str(), role.as_str()), ("claimed", "sales_rep"), "task {id} was lost");
        in_db.insert(id, by.unwrap_or_default());
    }
    let in_db: BTreeMap<i64, &str> = in_db.iter().map(|(id, by)| (*id, by.as_str())).collect();
    assert_eq!(told, in_db, "the claims reported are the claimed rows, each by its worker");
    // Each claim counted once in the loads the engine assigns by.
    let load: i64 = db.query_one("SELECT COALESCE(SUM(open), 0)::BIGINT FROM task_load", &[]).unwrap().get(0);
    assert_eq!(load as usize, told.len(), "task_load counts each claimed task once");
}
