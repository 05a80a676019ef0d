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
    assert!(text.contains("✓ account.revenue_12m >= settings.key_revenue_12m: 150,000 >= 150,000"), "{text}");
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

fn verdict<'a>(e: &'a Value, rule: &str) -> &'a Value {
    e["key_now"]["verdicts"].as_array().unwrap().iter().find(|v| v["rule"].as_str().unwrap().ends_with(rule)).unwrap()
}

/// (text, left, op, right, result) of each part of a verdict's conditions.
fn comparisons(v: &Value) -> Vec<(String, String, String, String, String)> {
    let s = |c: &Value, k: &str| c[k].as_str().unwrap_or("").to_string();
    v["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (s(c, "text"), s(c, "left"), s(c, "op"), s(c, "right"), s(c, "result")))
        .collect()
}

#[test]
fn the_large_company_rule_shows_its_three_comparisons_with_the_accounts_and_the_settings_values() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme", json!({"owner": "Ana Ruiz", "employees": 1200})),
        deal("2026-11-02T09:00:00Z", "D-1", "A-1", "Acme rollout", 30_000, "Ana Ruiz"),
        deal("2026-11-02T09:10:00Z", "D-2", "A-1", "Acme second site", 30_000, "Ana Ruiz"),
    ]);
    let e = explain(&ws, "account", "A-1");
    let v = verdict(&e, " key_by_size_and_open_deals");
    assert_eq!(v["says"], "nothing");
    let t = |s: &str| s.to_string();
    assert_eq!(
        comparisons(v),
        [
            (
                t("account.employees >= settings.key_large_company_employees"),
                t("1,200"),
                t(">="),
                t("1,000"),
                t("true")
            ),
            (t("account.open_deals >= settings.key_large_company_open_deals"), t("2"), t(">="), t("3"), t("false")),
            (
                t("account.open_pipeline >= settings.key_large_company_open_pipeline * share"),
                t("60,000"),
                t(">="),
                t("50,000"),
                t("true")
            ),
        ],
        "the test that decides, not the `let` before it: {v:#}"
    );
    assert_eq!(v["lets"][0]["name"], "share");
    assert_eq!(v["tests"].as_array().unwrap().len(), 1);
    assert_eq!(v["tests"][0]["decided"], false);
    let text = ws.run(&["explain", "account", "A-1"]).success().stdout;
    for line in [
        "✓ account.employees >= settings.key_large_company_employees: 1,200 >= 1,000",
        "✗ account.open_deals >= settings.key_large_company_open_deals: 2 >= 3",
        "✓ account.open_pipeline >= settings.key_large_company_open_pipeline * share: 60,000 >= 50,000",
    ] {
        assert!(text.lines().any(|l| l.trim() == line), "no line {line:?} in:\n{text}");
    }

    // A third deal: the rule says key, and its test is the one that decided.
    ws.ingest(&[deal("2026-11-03T09:00:00Z", "D-3", "A-1", "Acme third site", 30_000, "Ana Ruiz")]);
    let e = explain(&ws, "account", "A-1");
    assert_eq!(e["key_now"]["is_key"], true);
    let v = verdict(&e, " key_by_size_and_open_deals");
    assert_eq!(v["says"], "key");
    let parts = comparisons(v);
    assert_eq!(parts.len(), 3, "{v:#}");
    assert!(parts.iter().all(|p| p.4 == "true"), "{parts:?}");
    assert_eq!((parts[1].1.as_str(), parts[2].1.as_str()), ("3", "90,000"));
    assert_eq!(v["tests"][0]["decided"], true);
    let text = ws.run(&["explain", "account", "A-1"]).success().stdout;
    assert!(text.contains("✓ account.open_deals >= settings.key_large_company_open_deals: 3 >= 3"), "{text}");
}

#[test]
fn any_rule_shows_its_tests_in_order_with_lets_else_ifs_calls_and_bracketed_parts() {
    let ws = Workspace::new();
    ws.write(
        "rules/key_custom.rhai",
        "/// A rule of another shape.\nfn key_custom(account, settings) {\n    let big = account.employees * 2;\n    \
         if account.sector == \"retail\" {\n        return not_key(\"retail\");\n    } else if big > 5000 \
         || (account.open_deals > 1 && account.region != \"West\") {\n        return key(\"big\");\n    }\n    \
         if is_closed(\"lead\") && !account.parent_is_key { return key(\"never\"); }\n}\n",
    );
    ws.ingest(&[account(
        "2026-11-02T08:00:00Z",
        "A-1",
        "Acme",
        json!({"owner": "Ana Ruiz", "employees": 100, "sector": "tools", "region": "East"}),
    )]);
    let e = explain(&ws, "account", "A-1");
    let v = verdict(&e, " key_custom");
    assert_eq!(v["says"], "nothing");
    assert_eq!(v["lets"][0]["value"], "200");
    let tests: Vec<(u64, &str)> = v["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["line"].as_u64().unwrap(), t["result"].as_str().unwrap()))
        .collect();
    assert_eq!(tests, [(4, "false"), (6, "false"), (9, "false")], "{v:#}");
    let c = &v["conditions"];
    assert_eq!(
        (&c[0]["text"], &c[0]["values"]),
        (&json!("account.sector == \"retail\""), &json!("\"tools\" == \"retail\""))
    );
    assert_eq!((&c[1]["text"], &c[1]["values"]), (&json!("big > 5000"), &json!("200 > 5,000")));
    assert_eq!(c[2]["text"], "(account.open_deals > 1 && account.region != \"West\")");
    assert_eq!(c[2]["parts"][0]["values"], "0 > 1");
    assert_eq!(c[2]["parts"][1]["values"], "\"East\" != \"West\"");
    assert_eq!(
        (&c[3]["text"], &c[3]["values"], &c[3]["result"]),
        (&json!("is_closed(\"lead\")"), &json!("is_closed(\"lead\")"), &json!("false"))
    );
    assert_eq!((&c[4]["values"], &c[4]["result"]), (&json!("!false"), &json!("true")));
}

#[test]
fn a_deals_timeline_says_what_each_event_asked_for_and_changed() {
    let ws = Workspace::new();
    let req = |at: &str, stage: &str, extra: Value| {
        let mut data = json!({"id": "D-1", "account_id": "A-1", "stage": stage});
        data.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        common::event("deal.upserted", at, data)
    };
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme", json!({"owner": "Ana Ruiz"})),
        deal("2026-11-02T09:00:00Z", "D-1", "A-1", "Acme rollout", 20_000, "Ana Ruiz"),
        common::event(
            "deal.upserted",
            "2026-11-03T09:00:00Z",
            json!({"id": "D-1", "account_id": "A-1", "owner": "Ben Okafor"}),
        ),
        request_stage("2026-11-03T10:00:00Z", "D-1", "A-1", "lead"),
        request_stage("2026-11-03T11:00:00Z", "D-1", "A-1", "negotiation"),
        activity("2026-11-04T10:00:00Z", "A-1", Some("D-1"), None, "meeting"),
        req("2026-11-05T11:00:00Z", "lost", json!({"lost_reason": "Price too high"})),
    ]);
    let e = explain(&ws, "deal", "D-1");
    let events: Vec<&str> = entries(&e, "event").iter().map(|x| x["what"].as_str().unwrap()).collect();
    let has = |needle: &str| events.iter().any(|w| w.contains(needle));
    assert!(has("owner \"Ana Ruiz\" → \"Ben Okafor\""), "{events:#?}");
    assert!(has("asked for lead: it was there already, nothing changed"), "{events:#?}");
    assert!(has("asked for negotiation: refused"), "{events:#?}");
    assert!(has("asked for lost; lost reason \"Price too high\""), "{events:#?}");
    let refused = entries(&e, "stage_refused");
    assert_eq!(refused[0]["what"], "refused the move lead → negotiation");
    assert!(refused[0]["rule"].as_str().unwrap().ends_with(" stage_gate_negotiation"));
    let moved = entries(&e, "stage_move");
    assert_eq!(moved.last().unwrap()["what"], "moved qualified → lost (2 open tasks cancelled)");
    let cancelled = entries(&e, "task_cancelled");
    assert_eq!(cancelled.len(), 2, "{e:#}");
    let proposal = ws.task_titled("Prepare the proposal for Acme rollout");
    let line = format!("task {} cancelled: Prepare the proposal for Acme rollout", proposal["id"]);
    let c = cancelled.iter().find(|c| c["what"] == line.as_str()).unwrap_or_else(|| panic!("{cancelled:#?}"));
    assert_eq!(c["reason"], "the deal was closed (lost)");
    assert_eq!(c["at"], "2026-11-05T11:00:00Z");
    // The cancellations come after the close that made them.
    let kinds: Vec<&str> = e["timeline"].as_array().unwrap().iter().map(|x| x["kind"].as_str().unwrap()).collect();
    assert_eq!(&kinds[kinds.len() - 3..], ["stage_move", "task_cancelled", "task_cancelled"], "{kinds:?}");
    let text = ws.run(&["explain", "deal", "D-1"]).success().stdout;
    assert!(text.contains("lost reason \"Price too high\""), "{text}");
}
