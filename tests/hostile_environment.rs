//! A hostile environment: the database locked by another process, deleted
//! while dealflow runs, or not writable by the user dealflow runs as. Each
//! gives a clear error that names the database, nothing already stored is
//! lost, and `PRAGMA integrity_check` passes afterwards. (A missing or broken `config.toml` is covered by
//! tests/cli.rs and tests/hostile_config.rs.)

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::events::account;
use common::{Output, Workspace, example};
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
    let (mut child, log) = ws.watch_logged();
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

/// How the database is made read-only for the user dealflow runs as.
#[cfg(unix)]
#[derive(Debug, Clone, Copy)]
enum ReadOnly {
    /// The file, in a folder that user may write.
    File,
    /// Its folder (SQLite could not create the -wal and -shm files), the file itself writable.
    Folder,
    Both,
}

/// Runs dealflow as a user file modes apply to. Root writes whatever the
/// modes say, so as root dealflow runs as `nobody` (uid 65534) through
/// `setpriv`; as anyone else, as that user.
#[cfg(unix)]
struct Unprivileged {
    setpriv: Option<std::path::PathBuf>,
}

#[cfg(unix)]
impl Unprivileged {
    /// `None`, with a message saying why the test is skipped, when running as root without a usable setpriv.
    fn find(ws: &Workspace) -> Option<Unprivileged> {
        // SAFETY: geteuid() has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Some(Unprivileged { setpriv: None });
        }
        let Some(setpriv) =
            ["/usr/bin/setpriv", "/bin/setpriv"].map(std::path::PathBuf::from).into_iter().find(|p| p.is_file())
        else {
            eprintln!(
                "SKIPPED: running as root (which writes read-only files) and no setpriv to run dealflow as another user"
            );
            return None;
        };
        let runner = Unprivileged { setpriv: Some(setpriv) };
        let out = runner.run(ws, &["--version"]);
        if out.code != 0 {
            eprintln!(
                "SKIPPED: setpriv cannot run dealflow as uid 65534 (is the binary readable by all?): {}",
                out.stderr
            );
            return None;
        }
        Some(runner)
    }

    /// A mode that lets the user dealflow runs as write (`true`) or not.
    fn mode(&self, dir: bool, write: bool) -> u32 {
        let others = self.setpriv.is_some();
        match (dir, write) {
            (true, true) if others => 0o777,
            (true, true) => 0o755,
            (true, false) => 0o555,
            (false, true) if others => 0o666,
            (false, true) => 0o644,
            (false, false) => 0o444,
        }
    }

    fn run(&self, ws: &Workspace, args: &[&str]) -> Output {
        let direct = ws.command(args);
        let mut cmd = match &self.setpriv {
            None => direct,
            Some(setpriv) => {
                let mut c = std::process::Command::new(setpriv);
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                    .arg(direct.get_program())
                    .args(direct.get_args());
                if let Some(d) = direct.get_current_dir() {
                    c.current_dir(d);
                }
                for (k, v) in direct.get_envs() {
                    match v {
                        Some(v) => c.env(k, v),
                        None => c.env_remove(k),
                    };
                }
                c
            }
        };
        common::output(args, cmd.output().expect("run dealflow"))
    }
}

#[cfg(unix)]
fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Rows of the tables that hold what was stored (read as the owner, who
/// may write: a read-only connection would leave -wal and -shm files behind).
fn stored(db: &Path) -> Vec<(&'static str, i64)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    ["events", "accounts", "deals", "tasks", "decisions", "contracts", "orders"]
        .into_iter()
        .map(|t| (t, conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0)).unwrap()))
        .collect()
}

/// The names in the database's folder.
fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    n.sort();
    n
}

#[test]
#[cfg(unix)]
fn a_database_this_user_may_not_write_is_a_clear_error_reads_still_work_and_nothing_is_lost() {
    for case in [ReadOnly::File, ReadOnly::Folder, ReadOnly::Both] {
        let ws = Workspace::new();
        let Some(user) = Unprivileged::find(&ws) else { return };
        ws.ingest_file(&example("quarter.jsonl"));
        let db = ws.path("dealflow.db");
        let before = (ws.status(), stored(&db));
        let later = ws.event_file(&[account("2026-10-01T08:00:00Z", "A-99", "Late Corp", json!({"region": "West"}))]);

        // Everything readable by that user; the database, its folder or both not writable.
        chmod(ws.root(), 0o755);
        chmod(&later, 0o644);
        let (file_w, folder_w) = match case {
            ReadOnly::File => (false, true),
            ReadOnly::Folder => (true, false),
            ReadOnly::Both => (false, false),
        };
        chmod(&db, user.mode(false, file_w));
        chmod(&ws.config_dir(), user.mode(true, folder_w));
        let files = names(&ws.config_dir());

        for args in [
            vec!["ingest", later.to_str().unwrap()],
            vec!["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz"],
            vec!["tick", "--now", "2026-10-02T07:00:00Z"],
            vec!["tasks", "done", "1"],
        ] {
            let out = user.run(&ws, &args);
            let err = &out.stderr;
            // 1: a failure that stopped the command (2 would mean lines were rejected and the rest applied).
            assert_eq!(out.code, 1, "{case:?}: dealflow {args:?}: {err}");
            assert!(err.contains(&format!("database {}", db.display())), "{case:?}: dealflow {args:?}: {err}");
            assert!(err.contains("read-only for this user"), "{case:?}: dealflow {args:?}: {err}");
            if !file_w {
                assert!(err.contains("the file is not writable (mode 0444"), "{case:?}: dealflow {args:?}: {err}");
            }
            if !folder_w {
                assert!(err.contains("its folder") && err.contains("(mode 0555"), "{case:?}: dealflow {args:?}: {err}");
            }
            assert!(err.contains("give the user that runs dealflow write access"), "{case:?}: {err}");
            assert!(!err.contains("panicked") && !err.contains("attempt to write"), "{case:?}: {err}");
        }

        // Reading needs no write: status and the listings still work for that user.
        let status = user.run(&ws, &["status", "--json"]);
        assert_eq!(status.code, 0, "{case:?}: status: {}", status.stderr);
        let status = status.json();
        assert_eq!((&status["accounts"], &status["open_tasks"]), (&before.0["accounts"], &before.0["open_tasks"]));
        let tasks = user.run(&ws, &["tasks", "--json"]);
        assert_eq!(tasks.code, 0, "{case:?}: tasks: {}", tasks.stderr);

        // Nothing left beside the database; nothing lost, nothing half-written.
        assert_eq!(names(&ws.config_dir()), files, "{case:?}: files beside the database");
        chmod(&ws.config_dir(), 0o755);
        chmod(&db, 0o644);
        assert_eq!(stored(&db), before.1, "{case:?}");
        assert_eq!(integrity(&db), "ok", "{case:?}");

        // Writable again: the refused work goes through.
        assert_eq!(ws.ingest_file(&later)["applied"], 1, "{case:?}");
        assert_eq!(integrity(&db), "ok", "{case:?}");
    }
}

#[test]
fn many_processes_creating_the_same_new_database_at_once_all_succeed() {
    let ws = Workspace::new();
    for round in 0..5 {
        let db = ws.root().join(format!("fresh-{round}.db"));
        let db_arg = db.to_str().unwrap();
        // Each process creates and migrates the schema if it finds none, then claims (an empty queue).
        let children: Vec<_> = (0..16)
            .map(|_| {
                ws.command(&["--db", db_arg, "tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start dealflow")
            })
            .collect();
        for child in children {
            let out = common::output(&["tasks", "claim"], child.wait_with_output().unwrap()).success();
            assert!(out.stderr.contains("no open sales_rep tasks"), "round {round}: {}", out.stderr);
        }
        assert_eq!(integrity(&db), "ok", "round {round}");
        let conn = rusqlite::Connection::open(&db).unwrap();
        let tables: i64 = conn
            .query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'accounts'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(tables, 1, "round {round}");
    }
}
