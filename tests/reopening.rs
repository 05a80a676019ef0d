//! A closed deal asked back to an open stage is reopened: a decision of its
//! own (`deal_reopened`, shown by `explain`), something stage rules may
//! refuse and task rules react to (`deal.reopened`), and the start of a new
//! life whose follow-ups are made afresh.

mod common;

use common::events::*;
use common::{Workspace, event};
use serde_json::{Value, json};

const PROPOSAL: &str = "Prepare the proposal for Acme rollout";

/// Acme's deal D-1 (Ana's): qualified, then lost.
fn lost_deal(ws: &Workspace) {
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme", json!({"owner": "Ana Ruiz"})),
        deal("2026-11-02T09:00:00Z", "D-1", "A-1", "Acme rollout", 20_000, "Ana Ruiz"),
        request_stage("2026-11-03T09:00:00Z", "D-1", "A-1", "qualified"),
        request_stage("2026-11-04T09:00:00Z", "D-1", "A-1", "lost"),
    ]);
    assert_eq!(ws.stage("D-1"), "lost");
}

fn statuses(tasks: &[Value]) -> Vec<String> {
    let mut s: Vec<String> = tasks.iter().map(|t| t["status"].as_str().unwrap().to_string()).collect();
    s.sort();
    s
}

fn timeline_of(ws: &Workspace, kind: &str) -> Vec<Value> {
    let e = ws.run(&["explain", "deal", "D-1", "--json"]).success().json();
    e["timeline"].as_array().unwrap().iter().filter(|x| x["kind"] == kind).cloned().collect()
}

#[test]
fn a_lost_deal_asked_back_to_an_open_stage_is_reopened_and_explain_shows_the_decision() {
    let ws = Workspace::new();
    lost_deal(&ws);
    assert_eq!(ws.deal("D-1")["life"], 1);
    let summary = ws.ingest(&[request_stage("2026-11-10T09:00:00Z", "D-1", "A-1", "qualified")]);
    assert_eq!((&summary["deals_reopened"], &summary["stage_moves"]), (&json!(1), &json!(1)));
    assert_eq!(ws.stage("D-1"), "qualified");
    assert_eq!(ws.deal("D-1")["life"], 2);
    assert_eq!(ws.deal("D-1")["closed_at"], Value::Null);

    let reopens = timeline_of(&ws, "deal_reopened");
    assert_eq!(reopens.len(), 1, "{reopens:#?}");
    assert_eq!(reopens[0]["reason"], "reopened from lost by the event");
    assert_eq!(reopens[0]["rule"], Value::Null, "the event asked for it, no rule did");
    assert!(reopens[0]["what"].as_str().unwrap().contains("life 2"), "{}", reopens[0]);
    // The move itself is still in the deal's stage path.
    let moves: Vec<String> = timeline_of(&ws, "stage_move").iter().map(|m| m["what"].to_string()).collect();
    assert_eq!(moves.len(), 3, "{moves:?}");
    assert!(moves[2].contains("lost → qualified"), "{moves:?}");

    let text = ws.run(&["explain", "deal", "D-1"]).success().stdout;
    assert!(text.contains("reopened from lost by the event"), "{text}");
}

#[test]
fn the_second_life_gets_fresh_follow_ups_and_replaying_the_request_does_not_duplicate_them() {
    let ws = Workspace::new();
    lost_deal(&ws);
    // Life 1's proposal task was cancelled when the deal was lost.
    assert_eq!(statuses(&ws.tasks_titled(PROPOSAL)), ["cancelled"]);

    let reopen = ws.event_file(&[request_stage("2026-11-10T09:00:00Z", "D-1", "A-1", "qualified")]);
    ws.ingest_file(&reopen);
    let proposals = ws.tasks_titled(PROPOSAL);
    assert_eq!(statuses(&proposals), ["cancelled", "open"], "{proposals:#?}");
    let fresh = proposals.iter().find(|t| t["status"] == "open").unwrap();
    assert_eq!(fresh["assignee"], "Ana Ruiz");
    assert!(fresh["dedup_key"].as_str().unwrap().contains("life 2"), "{fresh}");
    let cancelled = proposals.iter().find(|t| t["status"] == "cancelled").unwrap();
    assert!(!cancelled["dedup_key"].as_str().unwrap().contains("life"), "life 1 keys stay as they were: {cancelled}");

    // The same file again: duplicates. The same request under a new id: the deal is there already.
    let again = ws.ingest_file(&reopen);
    assert_eq!(again["duplicates"], 1);
    let asked_again = ws.ingest(&[request_stage("2026-11-11T09:00:00Z", "D-1", "A-1", "qualified")]);
    assert_eq!(asked_again["deals_reopened"], 0);
    assert_eq!(ws.tasks_titled(PROPOSAL).len(), 2);
    assert_eq!(ws.deal("D-1")["life"], 2);

    // Lost and reopened once more: a third life, a third proposal task.
    ws.ingest(&[
        request_stage("2026-11-12T09:00:00Z", "D-1", "A-1", "lost"),
        request_stage("2026-11-16T09:00:00Z", "D-1", "A-1", "qualified"),
    ]);
    assert_eq!(ws.deal("D-1")["life"], 3);
    assert_eq!(statuses(&ws.tasks_titled(PROPOSAL)), ["cancelled", "cancelled", "open"]);
}

#[test]
fn a_stage_rule_can_refuse_a_reopen_and_the_refusal_is_recorded() {
    let ws = Workspace::new();
    ws.write(
        "rules/reopen_gate.rhai",
        r#"
/// A lost deal stays lost: open a new deal instead.
fn stage_no_reopen(deal) {
    if deal.reopening {
        return refuse("lost deals stay lost: open a new deal");
    }
}
"#,
    );
    ws.run(&["check"]).success();
    lost_deal(&ws);
    let summary = ws.ingest(&[request_stage("2026-11-10T09:00:00Z", "D-1", "A-1", "qualified")]);
    assert_eq!(summary["refused_moves"], 1, "{summary}");
    assert_eq!(summary["deals_reopened"], 0, "{summary}");
    assert_eq!(summary["rule_errors"], 0, "{summary}");
    assert_eq!(ws.stage("D-1"), "lost");
    assert_eq!(ws.deal("D-1")["life"], 1);
    let refusals = timeline_of(&ws, "stage_refused");
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0]["reason"], "lost deals stay lost: open a new deal");
    assert!(refusals[0]["rule"].as_str().unwrap().ends_with("stage_no_reopen"), "{}", refusals[0]);
    assert!(timeline_of(&ws, "deal_reopened").is_empty());
    // The rule lets other moves through: an open deal still moves.
    ws.ingest(&[
        deal("2026-11-10T09:00:00Z", "D-2", "A-1", "Acme pilot", 5_000, "Ana Ruiz"),
        request_stage("2026-11-10T10:00:00Z", "D-2", "A-1", "qualified"),
    ]);
    assert_eq!(ws.stage("D-2"), "qualified");
}

#[test]
fn task_rules_react_to_a_reopen_and_a_move_between_closed_stages_is_no_reopen() {
    let ws = Workspace::new();
    // The default playbook's task_deal_reopened (rules/tasks_sales.rhai).
    lost_deal(&ws);
    assert!(ws.tasks_titled("Acme rollout is back").is_empty());
    ws.ingest(&[request_stage("2026-11-10T09:00:00Z", "D-1", "A-1", "proposal")]);
    let back = ws.task_titled("Acme rollout is back: find out what changed");
    assert_eq!(back["assignee"], "Ana Ruiz");
    assert_eq!(back["priority"], "high");
    assert_eq!(back["reason"], "reopened from lost by the event (life 2)");
    assert_eq!(back["subject"], json!({"kind": "deal", "id": "D-1"}));

    // Lost, then won: the CRM correcting how the deal ended, not a new life.
    ws.ingest(&[
        request_stage("2026-11-12T09:00:00Z", "D-1", "A-1", "lost"),
        event("deal.upserted", "2026-11-13T09:00:00Z", json!({"id": "D-1", "account_id": "A-1", "stage": "won"})),
    ]);
    assert_eq!(ws.stage("D-1"), "won");
    assert_eq!(ws.deal("D-1")["life"], 2);
    assert_eq!(timeline_of(&ws, "deal_reopened").len(), 1);
    assert_eq!(ws.tasks_titled("Acme rollout is back").len(), 1);
    assert_eq!(ws.tasks_titled("Process the order for Acme rollout").len(), 1);
}

/// A reopened deal stays where the CRM put it: the meetings, proposal and
/// decision maker of its earlier life are not its new life's, so the stage
/// rules take it on only as the new life's own work comes in.
#[test]
fn a_reopened_deals_activity_facts_start_afresh_with_its_new_life() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme", json!({"owner": "Ana Ruiz"})),
        contact("2026-11-02T08:01:00Z", "C-1", "A-1", "buyer"),
        deal("2026-11-02T09:00:00Z", "D-1", "A-1", "Acme rollout", 20_000, "Ana Ruiz"),
        activity("2026-11-03T09:00:00Z", "A-1", Some("D-1"), Some("C-1"), "meeting"),
        activity("2026-11-04T09:00:00Z", "A-1", Some("D-1"), None, "proposal_sent"),
    ]);
    assert_eq!(ws.stage("D-1"), "negotiation", "life 1: a meeting with the buyer, then the proposal");
    ws.ingest(&[request_stage("2026-11-05T09:00:00Z", "D-1", "A-1", "lost")]);

    ws.ingest(&[request_stage("2026-11-20T09:00:00Z", "D-1", "A-1", "lead")]);
    assert_eq!(ws.stage("D-1"), "lead", "life 2 starts where the CRM asked, not where life 1's work would take it");
    let moves = timeline_of(&ws, "stage_move");
    assert!(moves.last().unwrap()["what"].as_str().unwrap().contains("lost → lead"), "{moves:#?}");

    // Life 2's own work moves it on; its gate asks for a decision maker of this life.
    ws.ingest(&[activity("2026-11-23T09:00:00Z", "A-1", Some("D-1"), None, "meeting")]);
    assert_eq!(ws.stage("D-1"), "qualified");
    ws.ingest(&[activity("2026-11-24T09:00:00Z", "A-1", Some("D-1"), None, "proposal_sent")]);
    assert_eq!(ws.stage("D-1"), "proposal", "the buyer met in life 1 does not open the gate of life 2");
    let s = ws.ingest(&[request_stage("2026-11-25T09:00:00Z", "D-1", "A-1", "negotiation")]);
    assert_eq!(s["refused_moves"], 1);
    ws.ingest(&[activity("2026-11-26T09:00:00Z", "A-1", Some("D-1"), Some("C-1"), "call")]);
    assert_eq!(ws.stage("D-1"), "negotiation");
}
