//! A hostile environment: the database locked by another process, or
//! deleted while dealflow runs. Each gives a clear error that names the
//! database, nothing already stored is lost, and `PRAGMA integrity_check`
//! passes afterwards. (A missing or broken `config.toml` is covered by
//! tests/cli.rs and tests/hostile_config.rs.)

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::events::account;
use common::{Workspace, example};
use serde_json::json;

fn integrity(db: &Path) -> String {
    rusqlite::Connection::open(db).unwrap().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_locked_database_is_a_clear_error_and_nothing_stored_is_lost() {
    let ws = Workspace::new();
    ws.edit("config.toml", "path = \"dealflow.db\"", "path = \"dealflow.db\"\nbusy_timeout_ms = 300");
    ws.ingest_file(&example("quarter.jsonl"));
    let before = ws.status();
    let later = ws.event_file(&[account("2026-10-01T08:00:00Z", "A-99", "Late Corp", json!({"region": "West"}))]);

    // Another process holds the database.
    let other = rusqlite::Connection::open(ws.path("dealflow.db")).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for args in [
        vec!["ingest", later.to_str().unwrap()],
        vec!["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz"],
        vec!["tick", "--now", "2026-10-02T07:00:00Z"],
    ] {
        let out = ws.run(&args).code(1);
        assert!(
            out.stderr.contains("locked by another process") && out.stderr.contains("dealflow.db"),
            "dealflow {args:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    other.execute_batch("COMMIT").unwrap();
    drop(other);

    // Free again: what was stored is all there, and the refused work goes through now.
    assert_eq!(ws.status()["open_tasks"], before["open_tasks"]);
    let s = ws.ingest_file(&later);
    assert_eq!(s["applied"], 1);
    assert_eq!(ws.status()["accounts"], before["accounts"].as_u64().unwrap() + 1);
    assert_eq!(integrity(&ws.path("dealflow.db")), "ok");
}

#[test]
#[cfg(unix)]
fn a_database_deleted_while_watch_runs_stops_it_and_the_waiting_file_is_kept() {
    let ws = Workspace::new();
    let log = ws.root().join("watch.err");
    let mut child = ws
        .command(&["watch", "--debounce-ms", "50", "--settle-ms", "50"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start watch");
    std::fs::copy(example("quarter.jsonl"), ws.path("inbox/q3.jsonl")).unwrap();
    wait_for("the first file to be done", || ws.path("inbox/done/q3.jsonl").is_file());

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(ws.path(&format!("dealflow.db{suffix}")));
    }
    let line = account("2026-10-01T08:00:00Z", "A-99", "Late Corp", json!({"region": "West"}));
    std::fs::write(ws.path("inbox/.late.tmp"), format!("{line}\n")).unwrap();
    std::fs::rename(ws.path("inbox/.late.tmp"), ws.path("inbox/late.jsonl")).unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("watch went on writing to a deleted database:\n{}", std::fs::read_to_string(&log).unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("deleted or replaced") && stderr.contains("dealflow.db"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The file it could not store waits in the inbox, untouched.
    assert!(ws.path("inbox/late.jsonl").is_file(), "{stderr}");

    // Started again, dealflow makes a new database and takes the file.
    ws.run(&["run"]).success();
    assert!(ws.path("inbox/done/late.jsonl").is_file());
    assert_eq!(ws.status()["accounts"], 1);
    assert_eq!(integrity(&ws.path("dealflow.db")), "ok");
}
