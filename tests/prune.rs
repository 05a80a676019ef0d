//! `dealflow prune`: old decisions, stage history, rejected lines and
//! finished tasks removed, on SQLite and (with `DEALFLOW_TEST_PG`) on
//! PostgreSQL, with every guarantee kept: a pruned task is never made again
//! (its dedup key stays), events stay (a second ingest is all duplicates),
//! task ids are never given twice, and `explain` says what was pruned.

mod common;

use common::events::{deal, lead};
use common::watching::Watching;
use common::{Workspace, array};
use serde_json::{Value, json};

fn ids(tasks: &[Value]) -> Vec<i64> {
    tasks.iter().map(|t| t["id"].as_i64().unwrap()).collect()
}

/// Tomorrow, as a stamp: everything recorded so far is older.
fn tomorrow() -> String {
    dealflow::time::stamp(chrono::Utc::now() + chrono::Duration::days(1))
}

/// How many rows `table` holds, in whichever store the workspace has.
fn rows(ws: &Workspace, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    match &ws.pg {
        Some(db) => db.client().query_one(&sql, &[]).unwrap().get(0),
        None => {
            let db = rusqlite::Connection::open(ws.path("dealflow.db")).unwrap();
            db.query_row(&sql, [], |r| r.get(0)).unwrap()
        }
    }
}

fn prune_and_keep_every_guarantee(ws: &Workspace) {
    let first = [
        lead("2026-11-02T09:00:00Z", "L-1", json!({"company": "Prospect One"})),
        lead("2026-11-02T09:01:00Z", "L-2", json!({"company": "Prospect Two"})),
        deal("2026-11-02T09:02:00Z", "D-1", "A-1", "Acme - Printers", 12000, "Ana Ruiz"),
    ];
    let mut lines = first.to_vec();
    lines.push("{not json".to_string());
    let file = ws.event_file(&lines);
    ws.run(&["ingest", "--json", file.to_str().unwrap()]).code(2);
    // Both lead tasks claimed and closed: one done, one cancelled.
    let claimed = array(
        ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz", "--count", "5", "--json"])
            .success()
            .json(),
    );
    let closed: Vec<Value> = claimed.into_iter().filter(|t| t["subject"]["kind"] == "lead").collect();
    assert_eq!(closed.len(), 2, "{closed:?}");
    let closed_ids = ids(&closed);
    ws.run(&["tasks", "done", &closed_ids[0].to_string(), "--as", "Ana Ruiz"]).success();
    ws.run(&["tasks", "cancel", &closed_ids[1].to_string(), "--reason", "duplicate", "--as", "Ana Ruiz"]).success();
    // A later task, open: the highest id.
    ws.ingest(&[lead("2026-11-03T09:00:00Z", "L-3", json!({"company": "Prospect Three"}))]);
    let before_tasks = ws.tasks();
    let newest = *ids(&before_tasks).iter().max().unwrap();
    assert!(closed_ids.iter().all(|&id| id < newest));
    let decisions = rows(ws, "decisions");
    assert!(decisions > 0);
    let events = rows(ws, "events");

    // A dry run counts and changes nothing.
    let before = tomorrow();
    let dry = ws.run(&["prune", "--before", &before, "--dry-run", "--json"]).success().json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["tasks"], 2, "{dry}");
    assert_eq!(dry["rejected_lines"], 1, "{dry}");
    assert_eq!(dry["decisions"], decisions, "{dry}");
    assert_eq!(ws.tasks(), before_tasks);
    assert_eq!(rows(ws, "decisions"), decisions);
    let text = ws.run(&["prune", "--before", &before, "--dry-run"]).success().stdout;
    assert!(text.starts_with("would prune, before ") && text.contains("nothing was changed"), "{text}");

    // The prune removes exactly what the dry run counted.
    let done = ws.run(&["prune", "--before", &before, "--json"]).success().json();
    assert_eq!((&done["dry_run"], &done["tasks"]), (&json!(false), &dry["tasks"]));
    for k in ["decisions", "stage_changes", "rejected_lines"] {
        assert_eq!(done[k], dry[k], "{k}: {done}");
    }
    assert_eq!(rows(ws, "decisions"), 0);
    assert_eq!(rows(ws, "rejected_events"), 0);
    let left: Vec<i64> = ids(&ws.tasks());
    assert!(closed_ids.iter().all(|id| !left.contains(id)), "pruned tasks are gone: {left:?}");
    assert!(left.contains(&newest));
    assert_eq!(rows(ws, "events"), events, "events are never pruned");
    // Nothing more to prune.
    let again = ws.run(&["prune", "--before", &before, "--json"]).success().json();
    assert_eq!((&again["decisions"], &again["tasks"], &again["rejected_lines"]), (&json!(0), &json!(0), &json!(0)));

    // The same events again: all duplicates (their ids stay).
    let second = ws.run(&["ingest", "--json", file.to_str().unwrap()]).code(2).json();
    assert_eq!(second["duplicates"], 3, "{second}");
    // The same leads sent again under new event ids: their pruned tasks are not made again.
    ws.ingest(&[
        lead("2026-11-02T09:00:00Z", "L-1", json!({"company": "Prospect One"})),
        lead("2026-11-02T09:01:00Z", "L-2", json!({"company": "Prospect Two"})),
    ]);
    ws.run(&["tick", "--now", "2026-11-04T09:00:00Z"]).success();
    let keys: Vec<Value> = closed.iter().map(|t| t["dedup_key"].clone()).collect();
    let remade: Vec<Value> = ws.tasks().into_iter().filter(|t| keys.contains(&t["dedup_key"])).collect();
    assert!(remade.is_empty(), "a pruned task was made again: {remade:#?}");
    // A new task gets a new id, never a pruned one's.
    ws.ingest(&[lead("2026-11-05T09:00:00Z", "L-4", json!({"company": "Prospect Four"}))]);
    let l4 = ws.tasks_about("lead", "L-4");
    assert_eq!(l4.len(), 1);
    assert!(l4[0]["id"].as_i64().unwrap() > newest);

    // explain says history was pruned, rather than showing a deal without decisions as if it had none.
    let e = ws.run(&["explain", "deal", "D-1", "--json"]).success().json();
    assert_eq!(e["pruned_before"], before.as_str(), "{e}");
    let text = ws.run(&["explain", "deal", "D-1"]).success().stdout;
    assert!(text.contains(&format!("history before {before} was pruned")), "{text}");
    let gone = ws.run(&["explain", "task", &closed_ids[0].to_string()]).code(1);
    assert!(gone.stderr.contains(&format!("closed before {before} were pruned")), "{}", gone.stderr);
    ws.status();
}

#[test]
fn prune_removes_old_history_and_keeps_every_guarantee_on_sqlite() {
    prune_and_keep_every_guarantee(&Workspace::new());
}

#[test]
fn prune_removes_old_history_and_keeps_every_guarantee_on_postgres() {
    let Some(ws) = Workspace::on_postgres("prune_removes_old_history_and_keeps_every_guarantee_on_postgres") else {
        return;
    };
    prune_and_keep_every_guarantee(&ws);
}

#[test]
fn prune_wants_a_time_or_an_age() {
    let ws = Workspace::new();
    assert!(ws.run(&["prune"]).code(64).stderr.contains("--before"));
    assert!(ws.run(&["prune", "--before", "last week"]).code(64).stderr.contains("not a time"));
    assert_eq!(ws.run(&["prune", "--older-than", "0"]).code, 64);
    let out = ws.run(&["prune", "--older-than", "30", "--json"]).success().json();
    assert_eq!(out["tasks"], 0);
}

/// Run an SQL statement on whichever store the workspace has; rows changed.
fn execute(ws: &Workspace, sql: &str) -> u64 {
    match &ws.pg {
        Some(db) => db.client().execute(sql, &[]).unwrap(),
        None => rusqlite::Connection::open(ws.path("dealflow.db")).unwrap().execute(sql, []).unwrap() as u64,
    }
}

fn watch_prunes_daily_with_keep_days(ws: &Workspace) {
    ws.ingest(&[
        lead("2026-11-02T09:00:00Z", "L-1", json!({"company": "Prospect One"})),
        lead("2026-11-02T09:01:00Z", "L-2", json!({"company": "Prospect Two"})),
    ]);
    let first = ws.tasks_about("lead", "L-1")[0]["id"].as_i64().unwrap();
    ws.run(&["tasks", "done", &first.to_string()]).success();
    // Done ten days ago.
    let ago = dealflow::time::stamp(chrono::Utc::now() - chrono::Duration::days(10));
    assert_eq!(execute(ws, &format!("UPDATE tasks SET closed_at = '{ago}' WHERE id = {first}")), 1);
    ws.edit("config.toml", "[store]\n", "[store]\nkeep_days = 7\n");
    let mut watch = Watching::start(ws);
    let line = watch.expect("pruned ([store] keep_days) before ");
    assert!(line.ends_with("1 finished tasks"), "{line}");
    assert_eq!(watch.stop(), 0);
    assert!(ws.tasks_about("lead", "L-1").is_empty(), "the task done ten days ago is gone");
    assert_eq!(ws.tasks_about("lead", "L-2").len(), 1);
}

#[test]
fn watch_prunes_what_is_older_than_keep_days_on_sqlite() {
    watch_prunes_daily_with_keep_days(&Workspace::new());
}

#[test]
fn watch_prunes_what_is_older_than_keep_days_on_postgres() {
    let Some(ws) = Workspace::on_postgres("watch_prunes_what_is_older_than_keep_days_on_postgres") else { return };
    watch_prunes_daily_with_keep_days(&ws);
}
