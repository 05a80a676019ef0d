//! `dealflow simulate`: the effect of a rule edit on past data, with the
//! real database left untouched.

mod common;

use common::{Workspace, example};
use serde_json::json;

/// A copy of the workspace's playbook, to edit as a candidate.
fn candidate(ws: &Workspace) -> std::path::PathBuf {
    let dir = ws.root().join("candidate");
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::copy(ws.path("config.toml"), dir.join("config.toml")).unwrap();
    for entry in std::fs::read_dir(ws.path("rules")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "rhai") {
            std::fs::copy(&p, dir.join("rules").join(p.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// A candidate that only lowers the key-account revenue threshold to 90,000.
fn lower_threshold(ws: &Workspace) -> std::path::PathBuf {
    let dir = candidate(ws);
    let text = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    std::fs::write(dir.join("config.toml"), text.replace("key_revenue_12m = 150000", "key_revenue_12m = 90000"))
        .unwrap();
    dir
}

fn database_bytes(ws: &Workspace) -> Vec<Vec<u8>> {
    ["dealflow.db", "dealflow.db-wal"].iter().map(|f| std::fs::read(ws.path(f)).unwrap_or_default()).collect()
}

#[test]
fn a_lower_threshold_shows_exactly_the_accounts_that_cross_it_and_touches_nothing() {
    let ws = Workspace::new();
    ws.ingest_file(&example("quarter.jsonl"));
    let dir = lower_threshold(&ws);
    let before = database_bytes(&ws);
    let r = ws.run(&["simulate", "--rules", dir.to_str().unwrap(), "--json"]).success().json();
    assert_eq!(database_bytes(&ws), before, "the database is byte-for-byte unchanged");
    assert_eq!(r["events"], 315);
    // In the quarter, A-5 (101,322) and A-8 (90,299) sold between 90,000 and 150,000.
    assert_eq!(r["accounts_gaining_key"], json!(["A-5", "A-8"]));
    assert_eq!(r["accounts_losing_key"], json!([]));
    let added: Vec<String> =
        r["tasks_added"].as_array().unwrap().iter().map(|t| format!("{} {}", t[0], t[1])).collect();
    assert!(added.iter().any(|t| t.contains("Write the account plan for Copperleaf Retail")), "{added:?}");
    assert!(added.iter().any(|t| t.contains("Write the account plan for Lighthouse Financial Partners")), "{added:?}");
    assert_ne!(r["candidate_version"], r["version_in_force"]);

    // The same rules as in force: no difference.
    let same = ws.run(&["simulate", "--rules", ws.config_dir().to_str().unwrap()]).success();
    assert!(same.stdout.contains("no difference"), "{}", same.stdout);
}

#[test]
fn a_candidate_that_does_not_compile_says_why_and_changes_nothing() {
    let ws = Workspace::new();
    ws.ingest_file(&example("quarter.jsonl"));
    let dir = candidate(&ws);
    std::fs::write(dir.join("rules/broken.rhai"), "fn task_x(event) { let = 1; }").unwrap();
    let before = database_bytes(&ws);
    let out = ws.run(&["simulate", "--rules", dir.to_str().unwrap()]).code(1);
    assert!(out.stderr.contains("do not load") && out.stderr.contains("rules/broken.rhai:1:24"), "{}", out.stderr);
    assert_eq!(database_bytes(&ws), before);
}

#[test]
fn a_second_simulate_remembers_the_replay_in_force_and_reports_exactly_the_same() {
    let ws = Workspace::new();
    ws.ingest_file(&example("quarter.jsonl"));
    let dir = lower_threshold(&ws);
    let simulate = || ws.run(&["simulate", "--rules", dir.to_str().unwrap(), "--json"]).success().stdout;
    let first = simulate();
    let cache = ws.path("dealflow.db.simulate-cache");
    assert!(cache.exists(), "the replays are kept beside the database");
    assert_eq!(simulate(), first, "with the replay in force remembered");
    std::fs::write(&cache, "{\"dealflow\": \"damaged").unwrap();
    assert_eq!(simulate(), first, "a damaged cache is replayed again");
    // History added since: the remembered replay is of fewer events, and is not used.
    // (Some of its lines are rejected: the others are applied.)
    ws.run(&["ingest", example("with-errors.jsonl").to_str().unwrap()]).code(2);
    let more = ws.run(&["simulate", "--rules", dir.to_str().unwrap(), "--json"]).success().json();
    std::fs::remove_file(&cache).unwrap();
    let fresh = ws.run(&["simulate", "--rules", dir.to_str().unwrap(), "--json"]).success().json();
    assert_ne!(more["events"], 315);
    assert_eq!(more, fresh);
}
