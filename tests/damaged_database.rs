//! A damaged database file: cut off, its header or a page in the middle
//! overwritten, or an older copy moved over it while `watch` runs. dealflow
//! stops with an error that names the file and says what to do (restore it
//! from a backup), and writes nothing more to it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::events::account;
use common::{Workspace, example};
use serde_json::json;

const PAGE: usize = 4096;

/// One way to damage the file.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Truncated to half its pages.
    CutInHalf,
    /// The last 100 bytes gone (the file ends inside a page).
    CutInAPage,
    /// The first 100 bytes (SQLite's header) overwritten with noise.
    Header,
    /// A page in the middle of this table's (or index's) b-tree overwritten with noise.
    Noise(&'static str),
    /// A page in the middle of this table's b-tree overwritten with zeros.
    Zeros(&'static str),
    /// The root page of this table's (or index's) b-tree overwritten with noise.
    Root(&'static str),
}

/// Bytes that look like nothing (xorshift: the same every run).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// The pages of a table or index of the database at `db`, in order (only its root with `root`).
fn pages_of(db: &Path, name: &str, root: bool) -> Vec<usize> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let sql = "SELECT pageno FROM dbstat WHERE name = ?1 AND (NOT ?2 OR path = '/') ORDER BY pageno";
    let mut st = conn.prepare(sql).unwrap();
    let pages: Vec<usize> =
        st.query_map((name, root), |r| r.get::<_, i64>(0)).unwrap().map(|p| p.unwrap() as usize).collect();
    assert!(!pages.is_empty(), "no pages of {name}");
    pages
}

fn damage(db: &Path, how: Damage) {
    let mut bytes = std::fs::read(db).unwrap();
    let mut overwrite = |page: usize, with: Vec<u8>| bytes[(page - 1) * PAGE..page * PAGE].copy_from_slice(&with);
    match how {
        Damage::CutInHalf => bytes.truncate(bytes.len() / PAGE / 2 * PAGE),
        Damage::CutInAPage => bytes.truncate(bytes.len() - 100),
        Damage::Header => bytes[..100].copy_from_slice(&noise(100, 7)),
        Damage::Noise(name) => {
            let pages = pages_of(db, name, false);
            overwrite(pages[pages.len() / 2], noise(PAGE, 11));
        }
        Damage::Zeros(name) => {
            let pages = pages_of(db, name, false);
            overwrite(pages[pages.len() / 2], vec![0; PAGE]);
        }
        Damage::Root(name) => overwrite(pages_of(db, name, true)[0], noise(PAGE, 13)),
    }
    std::fs::write(db, bytes).unwrap();
}

/// The database's -wal file holds no frame (at most its 32-byte header): nothing was committed to it.
fn no_frames(db: &Path) -> bool {
    let wal = db.with_file_name(format!("{}-wal", db.file_name().unwrap().to_string_lossy()));
    std::fs::metadata(wal).map_or(true, |m| m.len() <= 32)
}

#[test]
fn a_damaged_database_is_a_clear_error_and_nothing_is_written_to_it() {
    let ws = Workspace::new();
    ws.ingest_file(&example("quarter.jsonl"));
    let db = ws.path("dealflow.db");
    let sound = std::fs::read(&db).unwrap();
    let late = ws.event_file(&[account("2026-10-01T08:00:00Z", "A-99", "Late Corp", json!({"region": "West"}))]);
    let claim = vec!["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz"];
    let done = vec!["tasks", "done", "1"];
    let ingest = vec!["ingest", late.to_str().unwrap()];
    let tick = vec!["tick", "--now", "2026-12-20T09:00:00Z"];
    // Whatever is damaged, every command that writes stops.
    let everyone = vec![claim.clone(), done.clone(), ingest.clone(), tick.clone()];
    // A page in the middle is found by the commands that apply events (they check the whole file
    // first); the task commands find damage in the pages they read (the task queue's).
    let appliers = vec![ingest.clone(), tick.clone()];
    let cases = [
        (Damage::CutInHalf, everyone.clone()),
        (Damage::CutInAPage, everyone.clone()),
        (Damage::Header, everyone.clone()),
        (Damage::Noise("sqlite_schema"), everyone.clone()),
        (Damage::Root("tasks_queue"), vec![claim.clone(), ingest.clone(), tick.clone()]),
        (Damage::Root("tasks"), everyone.clone()),
        (Damage::Noise("events"), appliers.clone()),
        (Damage::Noise("accounts"), appliers.clone()),
        (Damage::Noise("tasks"), appliers.clone()),
        (Damage::Zeros("decisions"), appliers.clone()),
    ];
    for (how, commands) in cases {
        for args in commands {
            std::fs::write(&db, &sound).unwrap();
            damage(&db, how);
            let damaged = std::fs::read(&db).unwrap();
            let out = ws.run(&args);
            let err = &out.stderr;
            assert_eq!(out.code, 1, "{how:?}: dealflow {args:?} exited {}: {err}", out.code);
            assert!(err.contains(&format!("database {}", db.display())), "{how:?}: dealflow {args:?}: {err}");
            assert!(
                err.contains("the database file is damaged") || err.contains("not a dealflow (SQLite) database"),
                "{how:?}: dealflow {args:?}: {err}"
            );
            assert!(err.contains("restore it from a backup"), "{how:?}: dealflow {args:?}: {err}");
            assert!(!err.contains("panicked"), "{how:?}: dealflow {args:?}: {err}");
            assert!(std::fs::read(&db).unwrap() == damaged, "{how:?}: dealflow {args:?} wrote to the damaged file");
            assert!(no_frames(&db), "{how:?}: dealflow {args:?} committed to the damaged file's -wal");
        }
    }
}

#[test]
#[cfg(unix)]
fn an_older_copy_moved_over_the_database_stops_watch_at_once_and_is_left_as_it_was() {
    let ws = Workspace::new();
    ws.ingest(&[account("2026-09-01T08:00:00Z", "A-1", "Early Corp", json!({"region": "West"}))]);
    let db = ws.path("dealflow.db");
    let older = ws.root().join("older.db");
    std::fs::copy(&db, &older).unwrap();
    let older_bytes = std::fs::read(&older).unwrap();

    let (mut child, log) = ws.watch_logged();
    std::fs::copy(example("quarter.jsonl"), ws.path("inbox/q3.jsonl")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ws.path("inbox/done/q3.jsonl").is_file() {
        assert!(Instant::now() < deadline, "the file was not done:\n{}", std::fs::read_to_string(&log).unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }

    // The older copy is moved over the live file; nothing else happens (no file, no tick due).
    std::fs::rename(&older, &db).unwrap();
    let moved = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if moved.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("watch did not notice the file moved in:\n{}", std::fs::read_to_string(&log).unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("database {}", db.display())) && stderr.contains("replaced"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(std::fs::read(&db).unwrap() == older_bytes, "watch wrote to the copy moved in");

    // What watch held is kept beside it; the copy moved in opens as it is, not mixed with the -wal
    // file of the one it replaced.
    let kept = stderr.split("is kept in ").nth(1).and_then(|r| r.split(';').next()).expect(&stderr);
    assert!(kept.starts_with(&format!("{}.replaced-", db.display())), "{stderr}");
    let count = |p: &Path| -> i64 {
        let conn = rusqlite::Connection::open(p).unwrap();
        assert_eq!(conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)).unwrap(), "ok");
        conn.query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0)).unwrap()
    };
    assert!(no_frames(&db), "the -wal file of the file replaced is still there to be applied");
    assert_eq!(ws.status()["accounts"], 1, "the copy moved in, as it was");
    assert_eq!(count(Path::new(kept)), count(&db) + 13, "what watch held: the quarter's 13 accounts too");
}
