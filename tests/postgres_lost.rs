//! A PostgreSQL server that goes away in the middle of an ingest, and comes
//! back: the ingest stops with a clear error naming the server and a
//! meaningful exit code, nothing is half-applied (each event is in the store
//! with all its tasks and decisions, or not at all), and the same ingest run
//! again completes it: the tables then equal one uninterrupted run's.
//!
//! It stops and starts a server, so it starts one of its own (`.ci/pg-cluster`
//! in a temporary folder, on a free port): it runs where `DEALFLOW_TEST_PG`
//! is set (PostgreSQL is installed) and this process may start a server
//! (root, with `runuser`); elsewhere it says SKIPPED and why.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::events::lead;
use common::{Workspace, array};
use serde_json::{Value, json};

/// A throwaway PostgreSQL cluster of this test's own.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/pg-cluster")
}

fn skipped(test: &str, why: &str) -> Option<Cluster> {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
    None
}

impl Cluster {
    /// A new cluster, started; `None` (said, with why) where none can be started.
    fn start(test: &str) -> Option<Cluster> {
        common::pg::server(test)?;
        let root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
        let runuser = Command::new("runuser").arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status();
        if !root || !runuser.is_ok_and(|s| s.success()) {
            return skipped(test, "starting a PostgreSQL server of its own needs root and runuser");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Cluster { dir: tempfile::tempdir().unwrap(), port };
        cluster.run("start");
        Some(cluster)
    }

    fn run(&self, what: &str) {
        let mut cmd = Command::new(script());
        cmd.arg(what).arg(self.dir.path());
        if what == "start" {
            cmd.arg(self.port.to_string());
        }
        let out = cmd.output().expect("run .ci/pg-cluster");
        assert!(out.status.success(), ".ci/pg-cluster {what}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn client(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(db), postgres::NoTls).expect("connect to the test cluster")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(self.dir.path()).output();
    }
}

/// What a store holds, to compare two: every table the engine writes, in a stable order.
fn tables(client: &mut postgres::Client) -> Vec<(String, Vec<String>)> {
    let queries = [
        ("events", "SELECT id || ' ' || type || ' ' || at || ' ' || body FROM events ORDER BY seq"),
        (
            "decisions",
            "SELECT event_id || ' ' || kind || ' ' || subject_kind || ' ' || subject_id || ' ' || reason || ' ' || detail FROM decisions ORDER BY seq",
        ),
        ("rejected", "SELECT source || ':' || line || ' ' || reason FROM rejected_events ORDER BY seq"),
        (
            "tasks",
            "SELECT id || ' ' || role || ' ' || COALESCE(assignee, '-') || ' ' || status || ' ' || title || ' ' || dedup_key || ' ' || event_id FROM tasks ORDER BY id",
        ),
        ("accounts", "SELECT id || ' ' || data || ' ' || is_key FROM accounts ORDER BY id"),
        ("deals", "SELECT id || ' ' || stage || ' ' || data FROM deals ORDER BY id"),
        ("stage history", "SELECT deal_id || ' ' || to_stage || ' ' || at FROM deal_stage_history ORDER BY seq"),
        (
            "task_load",
            "SELECT role || ' ' || assignee || ' ' || open FROM task_load WHERE open <> 0 ORDER BY role, assignee",
        ),
    ];
    queries
        .iter()
        .map(|(name, sql)| {
            let rows = client.query(*sql, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name.to_string(), rows.iter().map(|r| r.get::<_, String>(0)).collect())
        })
        .collect()
}

fn count(client: &mut postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn a_server_lost_mid_ingest_keeps_nothing_half_applied_and_the_rerun_completes_it() {
    let test = "a_server_lost_mid_ingest_keeps_nothing_half_applied_and_the_rerun_completes_it";
    let Some(cluster) = Cluster::start(test) else { return };
    let mut admin = cluster.client("postgres");
    admin.batch_execute("CREATE DATABASE lost").unwrap();
    admin.batch_execute("CREATE DATABASE whole").unwrap();
    let ws = Workspace::new();
    // Small batches: several commits before the server goes.
    ws.edit("config.toml", "[store]\n", "[store]\nbatch_size = 20\n");
    let stream: Vec<String> = dealflow::synthetic::stream(7, 30, 1_200).collect();
    let file = ws.event_file(&stream);
    let file = file.to_str().unwrap();
    let (lost, whole) = (cluster.url("lost"), cluster.url("whole"));

    // One uninterrupted run, to compare with.
    let uninterrupted = ws.run(&["--db", &whole, "ingest", "--json", file]);
    assert!(uninterrupted.code == 0 || uninterrupted.code == 2, "{uninterrupted:?}");
    let expected = tables(&mut cluster.client("whole"));

    // The same ingest, and the server stopped once some batches are in.
    let mut ingest = ws.command(&["--db", &lost, "ingest", "--json", file]);
    let mut child = ingest.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut watcher = cluster.client("lost");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // Until the ingest's schema is there, the table is not.
        let applied = watcher.query_one("SELECT count(*) FROM events", &[]).map(|r| r.get::<_, i64>(0)).unwrap_or(0);
        if applied > 0 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the ingest ended before any batch was seen");
        assert!(Instant::now() < deadline, "no event was applied within 2 minutes");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(watcher);
    cluster.run("stop");
    let out = common::output(&["ingest"], child.wait_with_output().unwrap());
    assert_eq!(out.code, 75, "a temporary failure (EX_TEMPFAIL): run again\n{out:?}");
    assert!(out.stderr.contains(&lost), "the error names the server and database: {}", out.stderr);
    assert!(out.stderr.contains("nothing of the unit in progress was kept"), "{}", out.stderr);

    cluster.run("start");
    let mut client = cluster.client("lost");
    let applied = count(&mut client, "SELECT count(*) FROM events");
    let total = count(&mut cluster.client("whole"), "SELECT count(*) FROM events");
    assert!(applied > 0 && applied < total, "stopped part-way: {applied} of {total}");
    // Nothing half-applied: what is there is exactly the uninterrupted run's
    // first `applied` events, each with all its tasks and decisions.
    let partial = tables(&mut client);
    let ids: Vec<String> = client
        .query("SELECT id FROM events ORDER BY seq", &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    let of_applied = |rows: &[String]| -> Vec<String> {
        rows.iter()
            .filter(|r| {
                let event = r.split(' ').next().unwrap();
                ids.iter().any(|id| event == id || event.starts_with(&format!("{id}#")))
            })
            .cloned()
            .collect()
    };
    let table = |t: &[(String, Vec<String>)], name: &str| t.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(table(&partial, "events"), table(&expected, "events")[..applied as usize]);
    assert_eq!(table(&partial, "decisions"), of_applied(&table(&expected, "decisions")), "decisions");
    let orphans: Vec<String> =
        table(&partial, "decisions").iter().filter(|d| of_applied(&[d.to_string()]).is_empty()).cloned().collect();
    assert!(orphans.is_empty(), "decisions of events not applied: {orphans:?}");
    let task_event = |t: &String| t.rsplit(' ').next().unwrap().to_string();
    for t in table(&partial, "tasks") {
        assert!(
            ids.contains(&task_event(&t).split('#').next().unwrap().to_string()),
            "a task of an event not applied: {t}"
        );
    }

    // The same ingest again completes it: each event applied exactly once.
    let rerun = ws.run(&["--db", &lost, "ingest", "--json", file]);
    assert_eq!(rerun.code, uninterrupted.code, "{rerun:?}");
    let summary = rerun.json();
    assert_eq!(summary["duplicates"], applied, "{summary}");
    assert_eq!(summary["applied"].as_i64().unwrap() + applied, total, "{summary}");
    assert_eq!(tables(&mut client), expected, "the tables equal one uninterrupted run's");
    let listing = |db: &str, what: &str| array(ws.run(&["--db", db, what, "--json"]).success().json());
    for what in ["tasks", "accounts", "deals"] {
        assert_eq!(listing(&lost, what), listing(&whole, what), "{what}");
    }
}

#[test]
fn watch_waits_for_a_lost_server_and_goes_on_when_it_is_back() {
    let test = "watch_waits_for_a_lost_server_and_goes_on_when_it_is_back";
    let Some(cluster) = Cluster::start(test) else { return };
    cluster.client("postgres").batch_execute("CREATE DATABASE watched").unwrap();
    let url = cluster.url("watched");
    let ws = Workspace::new();
    let mut args = vec!["--db", &url];
    args.extend(common::watching::WATCH);
    let mut w = common::watching::Watching::spawn(ws.command(&args));
    w.expect("watching: ");
    ws.write("inbox/first.jsonl", &format!("{}\n", lead("2026-11-02T09:00:00Z", "L-1", json!({"company": "One"}))));
    w.expect("inbox/first.jsonl: applied 1");

    cluster.run("stop");
    ws.write("inbox/second.jsonl", &format!("{}\n", lead("2026-11-02T10:00:00Z", "L-2", json!({"company": "Two"}))));
    let said = w.expect(&format!("database {url}: "));
    assert!(said.ends_with("waiting for the server, and going on when it is back (Ctrl-C stops)"), "{said}");
    assert!(w.child.try_wait().unwrap().is_none(), "watch waits, it does not stop");

    cluster.run("start");
    w.expect("inbox/second.jsonl: applied 1");
    w.expect("the database is free again; going on");
    assert_eq!(w.stop(), 0);
    for lead in ["L-1", "L-2"] {
        let tasks: Vec<Value> = array(ws.run(&["--db", &url, "tasks", "--json"]).success().json())
            .into_iter()
            .filter(|t| t["subject"]["id"] == lead)
            .collect();
        assert_eq!(tasks.len(), 1, "{lead}: {tasks:?}");
    }
}
