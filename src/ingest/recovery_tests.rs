//! An event that fails half way through its writes. Ingest applies events
//! without a savepoint each and, on a failure, rolls the batch back and
//! applies it again event by event. These tests make a write fail inside an
//! event (a trigger on the tasks table) and compare the database with one
//! that never saw the failure.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::ingest::{Ingest, Summary};
use crate::playbook::{self, Current, Playbook};
use crate::store::Store;

/// Events per batch: small, so a run holds committed batches and an open one.
const BATCH: usize = 40;

fn playbook() -> Arc<Current> {
    let mut p = Playbook::load(Path::new(env!("CARGO_MANIFEST_DIR"))).expect("the default playbook loads");
    p.config.store.batch_size = BATCH;
    playbook::current(p)
}

fn lines(n: u64) -> Vec<String> {
    crate::synthetic::stream(7, 12, n).collect()
}

fn open(dir: &tempfile::TempDir, name: &str) -> Store {
    Store::open(&dir.path().join(name), Duration::from_secs(5)).unwrap()
}

/// A store whose SQLite connection was set up by `setup` first (to make a write fail).
fn open_with(dir: &tempfile::TempDir, name: &str, setup: impl FnOnce(&rusqlite::Connection)) -> Store {
    let sqlite = crate::store::sqlite::Sqlite::open(&dir.path().join(name), Duration::from_secs(5)).unwrap();
    setup(sqlite.connection());
    Store::over(Box::new(sqlite))
}

/// Ingest `lines` in one run: the summary, and the error that stopped the
/// run (then the summary is what `abort` kept).
fn ingest(store: &Store, lines: &[String]) -> (Summary, Option<String>) {
    let current = playbook();
    let mut ingest = Ingest::start(store, &current).unwrap();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    match ingest.input("events.jsonl", text.as_bytes()) {
        Ok(_) => (ingest.finish().unwrap(), None),
        Err(e) => (ingest.abort(), Some(e.to_string())),
    }
}

/// Ingest `lines` in one run that must end well.
fn ingest_all(store: &Store, lines: &[String]) -> Summary {
    match ingest(store, lines) {
        (summary, None) => summary,
        (_, Some(e)) => panic!("{e}"),
    }
}

/// The first column of every row `sql` returns.
fn texts(store: &Store, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let mut st = conn.prepare(sql).unwrap();
    st.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

/// Every row of every table, in row order, without wall-clock times.
fn dump(store: &Store) -> Vec<String> {
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let mut tables =
        texts(store, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
    tables.retain(|t| t != "rules_loads");
    let mut rows = Vec::new();
    for table in tables {
        let mut st = conn.prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid")).unwrap();
        let names: Vec<String> = st.column_names().iter().map(|s| s.to_string()).collect();
        let mut q = st.query([]).unwrap();
        while let Some(row) = q.next().unwrap() {
            let mut text = format!("{table}:");
            for (i, name) in names.iter().enumerate() {
                if !matches!(name.as_str(), "applied_at" | "rejected_at") {
                    let v: rusqlite::types::Value = row.get(i).unwrap();
                    text.push_str(&format!(" {name}={v:?}"));
                }
            }
            rows.push(text);
        }
    }
    rows
}

/// The line (1-based) of the `nth` event that made a task, in a run without failures.
fn nth_event_with_a_task(store: &Store, lines: &[String], nth: usize) -> (usize, String) {
    let ids = texts(store, "SELECT DISTINCT event_id FROM tasks ORDER BY id");
    let id = ids.iter().filter(|id| !id.contains('#')).nth(nth).expect("enough events make tasks").clone();
    let at = lines.iter().position(|l| l.contains(&format!("\"{id}\""))).expect("the event is in the stream");
    (at + 1, id)
}

#[test]
fn an_event_failing_half_way_leaves_nothing_of_itself_and_every_event_before_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let lines = lines(400);
    let clean = open(&dir, "clean.db");
    ingest_all(&clean, &lines);
    // An event well inside a batch, after committed batches.
    let (line, id) = nth_event_with_a_task(&clean, &lines, 30);
    assert!(line > BATCH && line % BATCH > 1, "line {line} is inside a later batch");

    let failing = open_with(&dir, "failing.db", |conn| {
        conn.execute_batch(&format!(
            "CREATE TEMP TRIGGER fail BEFORE INSERT ON main.tasks WHEN NEW.event_id = '{id}' \
             BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;"
        ))
        .unwrap();
    });
    let (kept, error) = ingest(&failing, &lines);
    let error = error.expect("the run stops at the failing event");
    assert!(error.contains("disk on fire"), "{error}");

    let before = open(&dir, "before.db");
    let expected = ingest_all(&before, &lines[..line - 1]);
    assert_eq!(kept.counts, expected.counts, "the summary counts what was kept");
    assert_eq!(dump(&failing), dump(&before), "the events before line {line} whole, nothing of it or after it");
    assert_eq!(failing.integrity_check().unwrap(), "ok");
}

#[test]
fn a_failure_that_does_not_come_back_is_applied_again_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let lines = lines(400);
    let clean = open(&dir, "clean.db");
    let expected = ingest_all(&clean, &lines);
    let (line, id) = nth_event_with_a_task(&clean, &lines, 30);
    assert!(line % BATCH > 1, "line {line} is not the first of its batch");

    let failed = Arc::new(AtomicUsize::new(0));
    let counter = failed.clone();
    let failing = open_with(&dir, "failing.db", |conn| {
        conn.create_scalar_function("fail_once", 0, rusqlite::functions::FunctionFlags::SQLITE_UTF8, move |_| {
            match counter.fetch_add(1, Ordering::SeqCst) {
                0 => Err(rusqlite::Error::UserFunctionError("a passing fault".into())),
                _ => Ok(0),
            }
        })
        .unwrap();
        conn.execute_batch(&format!(
            "CREATE TEMP TRIGGER fail BEFORE INSERT ON main.tasks WHEN NEW.event_id = '{id}' \
             BEGIN SELECT fail_once(); END;"
        ))
        .unwrap();
    });
    let got = ingest_all(&failing, &lines);
    assert!(failed.load(Ordering::SeqCst) >= 2, "the write failed once, then went through");
    assert_eq!(got.counts, expected.counts);
    assert_eq!(dump(&failing), dump(&clean));
    assert_eq!(failing.integrity_check().unwrap(), "ok");
}
