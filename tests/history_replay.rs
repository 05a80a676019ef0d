//! `dealflow ingest --tasks-since DATE`: replaying finished history. Events
//! before DATE still move deals and set key accounts, but make no tasks;
//! the same option, with the same meaning, as `import --tasks-since`.

mod common;

use common::Workspace;
use common::events::*;
use serde_json::json;

#[test]
fn ingest_tasks_since_skips_the_tasks_of_history_but_still_moves_deals() {
    let ws = Workspace::new();
    let file = ws.event_file(&[
        account("2017-01-02T08:00:00Z", "A-1", "Acme", json!({"owner": "Ana Ruiz"})),
        deal("2017-01-02T09:00:00Z", "D-1", "A-1", "Acme rollout", 20_000, "Ana Ruiz"),
        request_stage("2017-01-03T09:00:00Z", "D-1", "A-1", "qualified"),
        lead("2017-01-04T09:00:00Z", "L-1", json!({"company": "Old Lead Co"})),
        deal("2018-01-02T09:00:00Z", "D-2", "A-1", "Acme renewal", 20_000, "Ana Ruiz"),
        request_stage("2018-01-03T09:00:00Z", "D-2", "A-1", "qualified"),
    ]);
    let path = file.to_str().unwrap();
    let out = ws.run(&["ingest", "--tasks-since", "2018-01-01", "--json", path]).success().json();
    assert_eq!(out["applied"], 6, "{out}");
    assert_eq!(out["stage_moves"], 2, "history still moves deals: {out}");
    assert_eq!(out["tasks_skipped_as_history"], 2, "{out}");
    assert_eq!(ws.stage("D-1"), "qualified");
    assert_eq!(ws.stage("D-2"), "qualified");
    assert!(ws.tasks_about("deal", "D-1").is_empty(), "{:#?}", ws.tasks_about("deal", "D-1"));
    assert!(ws.tasks_about("lead", "L-1").is_empty());
    ws.task_titled("Prepare the proposal for Acme renewal");
    for t in ws.tasks() {
        assert!(t["created_at"].as_str().unwrap() >= "2018-01-01", "{t}");
    }
}

#[test]
fn ingest_tasks_since_says_what_it_skipped_and_reads_dates_as_import_does() {
    let ws = Workspace::new();
    let file = ws.event_file(&[lead("2017-01-04T09:00:00Z", "L-1", json!({"company": "Old Lead Co"}))]);
    let path = file.to_str().unwrap();
    let text = ws.run(&["ingest", "--tasks-since", "2017-06-01", path]).success().stdout;
    assert!(text.contains("tasks not made for events before --tasks-since (history): 1"), "{text}");
    assert!(ws.tasks().is_empty());
    let bad = ws.run(&["ingest", "--tasks-since", "last year", path]).code(64);
    assert!(bad.stderr.contains("'last year' for '--tasks-since <DATE>': not a time"), "{}", bad.stderr);
    let help = ws.run(&["ingest", "--help"]).success().stdout;
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("--tasks-since <DATE>") && help.contains("replaying finished history"), "{help}");
}
