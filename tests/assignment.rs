//! Who gets a task, as the team sees it: `explain task` says why it went to
//! whom (the turn, the load against the cap, the weight, the working days,
//! who was passed over and why, each move since), and `status` says who is
//! away today and why tasks wait in a role's queue.

mod common;

use common::Workspace;
use common::events::*;
use serde_json::{Value, json};

/// The coordinators (round robin): Gus Lindqvist, Ines Moreau and Kai Berg,
/// each with what `extra` gives them (lines of their `[[team]]` entry).
fn coordinators(ws: &Workspace, gus: &str, ines: &str, kai: &str) {
    for (name, extra) in [("Gus Lindqvist", gus), ("Ines Moreau", ines)] {
        let entry = format!("name = \"{name}\"\nrole = \"sales_coordinator\"\n");
        ws.edit("config.toml", &entry, &format!("{entry}{extra}"));
    }
    if !kai.is_empty() {
        let entry = format!("\n[[team]]\nname = \"Kai Berg\"\nrole = \"sales_coordinator\"\n{kai}");
        ws.edit("config.toml", "\n# Numbers the rules read", &format!("{entry}\n# Numbers the rules read"));
    }
    ws.run(&["check"]).success();
}

/// An account and `n` large orders on Monday 2026-07-06: each gives the coordinators a task.
fn orders(ws: &Workspace, from: usize, n: usize, day: &str) {
    let mut events = vec![account("2026-07-06T08:00:00Z", "A-1", "Acme Corp", json!({"region": "West"}))];
    for i in from..from + n {
        events.push(order(&format!("{day}T09:{i:02}:00Z"), &format!("O-{i}"), "A-1", 10000));
    }
    ws.ingest(&events);
}

fn task_of_order(ws: &Workspace, n: usize) -> Value {
    ws.task_titled(&format!("Confirm delivery of order O-{n} for Acme Corp"))
}

fn explain(ws: &Workspace, task: &Value) -> (String, Value) {
    let id = task["id"].to_string();
    let text = ws.run(&["explain", "task", &id]).success().stdout;
    (text, ws.run(&["explain", "task", &id, "--json"]).success().json())
}

fn lines(step: &Value) -> Vec<&str> {
    step["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect()
}

#[test]
fn explain_task_says_the_turn_the_cap_the_working_days_and_who_was_passed_over_at_each_move() {
    let ws = Workspace::new();
    // Ines works Monday to Wednesday; Kai takes one task at a time.
    coordinators(&ws, "", "days = [\"mon\", \"tue\", \"wed\"]\n", "max_open = 1\n");
    orders(&ws, 1, 4, "2026-07-06");
    let who: Vec<Value> = (1..=4).map(|n| task_of_order(&ws, n)["assignee"].clone()).collect();
    assert_eq!(who, ["Gus Lindqvist", "Ines Moreau", "Kai Berg", "Gus Lindqvist"].map(|s| json!(s)));

    // The fourth: Gus's turn, Kai passed over at his cap.
    let (text, e) = explain(&ws, &task_of_order(&ws, 4));
    let steps = e["assignment"].as_array().unwrap_or_else(|| panic!("no assignment in {e:#}"));
    assert_eq!(steps.len(), 1, "{steps:#?}");
    assert_eq!(steps[0]["kind"], "created");
    assert_eq!((&steps[0]["why"]["strategy"], &steps[0]["why"]["turn"]), (&json!("round_robin"), &json!(4)));
    let made = lines(&steps[0]);
    assert!(made[0].ends_with("made for Gus Lindqvist: round robin by weight, turn 4"), "{made:?}");
    assert_eq!(
        made[1..],
        [
            "weight 1; 1 open task of the role before this one",
            "passed over Kai Berg: at their cap: 1 open of at most 1"
        ]
    );
    assert!(text.contains("why it went to Gus Lindqvist:\n"), "{text}");
    assert!(text.contains("      passed over Kai Berg: at their cap: 1 open of at most 1\n"), "{text}");

    // Ines's own: her working days.
    let (_, e) = explain(&ws, &task_of_order(&ws, 2));
    assert!(
        lines(&e["assignment"][0]).contains(&"weight 1; 0 open tasks of the role before this one; works mon, tue, wed")
    );

    // Gus takes a week off: his tasks due in it go to whoever can take them.
    ws.edit(
        "config.toml",
        "name = \"Gus Lindqvist\"\nrole = \"sales_coordinator\"\n",
        "name = \"Gus Lindqvist\"\nrole = \"sales_coordinator\"\naway = [{ from = \"2026-07-07\", to = \"2026-07-17\" }]\n",
    );
    orders(&ws, 5, 1, "2026-07-07");
    let (text, e) = explain(&ws, &task_of_order(&ws, 4));
    assert_eq!(e["task"]["assignee"], "Ines Moreau");
    let steps = e["assignment"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{steps:#?}");
    assert_eq!(
        (&steps[1]["kind"], &steps[1]["from"], &steps[1]["to"]),
        (&json!("moved"), &json!("Gus Lindqvist"), &json!("Ines Moreau"))
    );
    assert_eq!(steps[1]["reason"], "Gus Lindqvist is away 2026-07-07 to 2026-07-17");
    // In business time, after the order that made it (the command re-balanced on the day of the latest event).
    assert_eq!(steps[1]["at"], "2026-07-06T09:04:00Z", "{steps:#?}");
    let moved = lines(&steps[1]);
    assert!(
        moved[0].ends_with(" moved from Gus Lindqvist to Ines Moreau: Gus Lindqvist is away 2026-07-07 to 2026-07-17"),
        "{moved:?}"
    );
    assert_eq!(
        moved[1..],
        [
            "Ines Moreau: round robin by weight, turn 5",
            "weight 1; 1 open task of the role before this one; works mon, tue, wed",
            "passed over Gus Lindqvist: away 2026-07-07 to 2026-07-17",
            "passed over Kai Berg: at their cap: 1 open of at most 1",
        ]
    );
    assert!(text.contains("why it went to Ines Moreau:\n"), "{text}");
    for line in &moved[1..] {
        assert!(text.contains(&format!("      {line}\n")), "{line:?} in\n{text}");
    }
    // The rest of the explanation is as it was.
    assert!(e["timeline"].as_array().unwrap().iter().any(|t| t["kind"] == "task_created"), "{e:#}");
    assert!(e["rule_text"]["text"].as_str().unwrap().contains("fn task_follow_up_large_order"));
}

#[test]
fn a_task_nobody_can_take_waits_in_the_queue_and_explain_and_status_say_why() {
    let ws = Workspace::new();
    // Gus away all July; Ines takes one task at a time.
    coordinators(&ws, "away = [{ from = \"2026-07-01\", to = \"2026-07-31\" }]\n", "max_open = 1\n", "");
    orders(&ws, 1, 3, "2026-07-06");
    let who: Vec<Value> = (1..=3).map(|n| task_of_order(&ws, n)["assignee"].clone()).collect();
    assert_eq!(who, [json!("Ines Moreau"), Value::Null, Value::Null]);

    let (text, e) = explain(&ws, &task_of_order(&ws, 3));
    let made = lines(&e["assignment"][0]);
    assert!(
        made[0]
            .ends_with("made for the sales_coordinator queue: nobody of the role can take it (1 away, 1 at their cap)"),
        "{made:?}"
    );
    assert_eq!(
        made[1..],
        [
            "passed over Gus Lindqvist: away until 2026-07-31",
            "passed over Ines Moreau: at their cap: 1 open of at most 1"
        ]
    );
    assert!(text.contains("why it went to the sales_coordinator queue:\n"), "{text}");

    let status = ws.run(&["status"]).success().stdout;
    assert!(
        status.contains(
            "2 sales_coordinator tasks wait in the queue: everyone of sales_coordinator is at their cap or away (1 \
             away, 1 at their cap)\n"
        ),
        "{status}"
    );
    assert!(status.contains("away today (2026-07-06): Gus Lindqvist until 2026-07-31\n"), "{status}");
    let s = ws.status();
    assert_eq!(s["today"], "2026-07-06");
    assert_eq!(
        s["away_today"],
        json!([{"name": "Gus Lindqvist", "from": "2026-07-01", "to": "2026-07-31", "back_on": "2026-08-01"}])
    );
    assert_eq!(
        s["queues"],
        json!([{
            "role": "sales_coordinator",
            "waiting": 2,
            "why": "everyone of sales_coordinator is at their cap or away (1 away, 1 at their cap)",
            "away": 1,
            "at_cap": 1,
            "with_room": 0,
        }])
    );

    // Ines done with hers: the next command gives her one from the queue, and status counts one less.
    let first = task_of_order(&ws, 1)["id"].to_string();
    ws.run(&["tasks", "done", &first, "--as", "Ines Moreau"]).success();
    orders(&ws, 4, 0, "2026-07-06");
    let s = ws.status();
    assert_eq!((&s["queues"][0]["waiting"], &s["queues"][0]["at_cap"]), (&json!(1), &json!(1)), "{s:#}");
    let given = [task_of_order(&ws, 2), task_of_order(&ws, 3)];
    let moved = given.iter().find(|t| t["assignee"] == "Ines Moreau").expect("one of the queue went to Ines");
    let (_, e) = explain(&ws, moved);
    let step = &e["assignment"][1];
    assert_eq!(
        (&step["from"], &step["to"], &step["reason"]),
        (&Value::Null, &json!("Ines Moreau"), &json!("was waiting in the role's queue"))
    );
    assert!(lines(step)[0].contains(" moved from the sales_coordinator queue to Ines Moreau: "), "{step:#}");
}
