//! `dealflow explain`: why a deal moved, why an account is or is not key,
//! and which rule (as it was written then) made a task.

mod common;

use common::Workspace;
use common::events::*;
use serde_json::{Value, json};

fn explain(ws: &Workspace, kind: &str, id: &str) -> Value {
    ws.run(&["explain", kind, id, "--json"]).success().json()
}

fn entries<'a>(e: &'a Value, kind: &str) -> Vec<&'a Value> {
    e["timeline"].as_array().unwrap().iter().filter(|x| x["kind"] == kind).collect()
}

fn line_of(ws: &Workspace, file: &str, needle: &str) -> usize {
    ws.read(file).lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn a_deals_timeline_names_the_rule_line_reason_version_and_event_of_each_move() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme", json!({"owner": "Ana Ruiz"})),
        deal("2026-11-02T09:00:00Z", "D-1", "A-1", "Acme rollout", 20_000, "Ana Ruiz"),
        activity("2026-11-03T10:00:00Z", "A-1", Some("D-1"), None, "meeting"),
    ]);
    let e = explain(&ws, "deal", "D-1");
    assert!(e["summary"].as_str().unwrap().contains("qualified since 2026-11-03"), "{e}");
    let moves = entries(&e, "stage_move");
    assert_eq!(moves.len(), 1);
    let line = line_of(&ws, "rules/stages.rhai", "fn stage_qualify_after_first_meeting");
    assert_eq!(moves[0]["rule"], format!("rules/stages.rhai:{line} stage_qualify_after_first_meeting"));
    assert_eq!(moves[0]["what"], "moved lead → qualified");
    assert_eq!(moves[0]["reason"], "first meeting held");
    assert_eq!(moves[0]["rules_version"], ws.status()["rules_version"]);
    // The move comes right after the activity that caused it.
    let kinds: Vec<&str> = e["timeline"].as_array().unwrap().iter().map(|x| x["kind"].as_str().unwrap()).collect();
    let activity_at = kinds.iter().rposition(|k| *k == "event").unwrap();
    assert_eq!(kinds[activity_at + 1], "stage_move", "{kinds:?}");
    assert!(entries(&e, "task_created").iter().any(|t| t["what"].as_str().unwrap().contains("Prepare the proposal")));
}

#[test]
fn an_account_just_below_the_threshold_says_which_condition_fails_and_by_how_much() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme", json!({"owner": "Ana Ruiz", "employees": 40})),
        order("2026-11-02T09:00:00Z", "O-1", "A-1", 149_999),
    ]);
    let e = explain(&ws, "account", "A-1");
    let key = &e["key_now"];
    assert_eq!((&key["is_key"], &key["would_be_key"]), (&json!(false), &json!(false)));
    let revenue = key["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["rule"].as_str().unwrap().ends_with("key_by_revenue"))
        .unwrap();
    assert_eq!(revenue["says"], "nothing");
    let c = &revenue["conditions"][0];
    assert_eq!(c["text"], "account.revenue_12m >= settings.key_revenue_12m");
    assert_eq!(c["values"], "149,999 >= 150,000");
    assert_eq!(c["result"], "false");

    // One more unit and it is key: the verdict and the timeline say why.
    ws.ingest(&[order("2026-11-03T09:00:00Z", "O-2", "A-1", 1)]);
    let e = explain(&ws, "account", "A-1");
    assert_eq!(e["key_now"]["is_key"], true);
    let became = entries(&e, "became_key");
    assert_eq!(became.len(), 1);
    assert!(became[0]["rule"].as_str().unwrap().ends_with(" key_by_revenue"));
    assert!(became[0]["reason"].as_str().unwrap().contains("150,000"));
    let text = ws.run(&["explain", "account", "A-1"]).success().stdout;
    assert!(text.contains("account.revenue_12m >= settings.key_revenue_12m  (150,000 >= 150,000): true"), "{text}");
}

#[test]
fn a_task_shows_its_rule_as_written_when_it_fired_even_after_an_edit() {
    let ws = Workspace::new();
    ws.ingest(&[lead("2026-11-02T09:00:00Z", "L-1", json!({"company": "Acme", "source": "webinar"}))]);
    let task = ws.task_titled("Call new lead Acme");
    let id = task["id"].to_string();
    let before = explain(&ws, "task", &id);
    let text = before["rule_text"]["text"].as_str().unwrap();
    assert!(text.starts_with("/// A lead from marketing gets a quick follow-up call"), "{text}");
    assert!(
        text.contains("fn task_follow_up_new_lead(event, lead, settings)") && text.trim_end().ends_with('}'),
        "{text}"
    );
    assert_eq!(before["rule_text"]["changed_since"], false);

    ws.edit(
        "rules/tasks_sales.rhai",
        "priority: \"high\",\n            reason: `marketing passed us",
        "priority: \"urgent\",\n            reason: `marketing passed us",
    );
    let after = explain(&ws, "task", &id);
    assert_eq!(after["rule_text"]["text"], before["rule_text"]["text"], "the text is the one that fired");
    assert_eq!(after["rule_text"]["changed_since"], true);
    assert_eq!(after["rule_text"]["rules_version"], task["rules_version"]);
}

#[test]
fn an_unknown_id_is_a_clear_error() {
    let ws = Workspace::new();
    ws.ingest(&[account("2026-11-02T08:00:00Z", "A-1", "Acme", json!({}))]);
    for (kind, id, message) in [
        ("deal", "D-9", "no such deal: D-9"),
        ("account", "A-9", "no such account: A-9"),
        ("task", "99", "no such task: 99"),
    ] {
        let out = ws.run(&["explain", kind, id]).code(1);
        assert!(out.stderr.contains(message), "{}", out.stderr);
    }
    assert!(ws.run(&["explain", "task", "abc"]).code(1).stderr.contains("not a task number"));
}
