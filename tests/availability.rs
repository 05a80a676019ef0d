//! Assignment that respects people, end to end through the CLI on the
//! default playbook: time off (a colleague covers, or the task waits for
//! them), working days, weights, caps, a person with two roles, hand-overs
//! that skip someone away, and re-balancing that never touches a claimed task.

mod common;

use common::events::*;
use common::watching::Watching;
use common::{Workspace, event, web};
use serde_json::{Value, json};

/// Append `text` to the `[[team]]` entry of `name` (the lines after its `name = ...`).
fn give(ws: &Workspace, name: &str, text: &str) {
    ws.edit("config.toml", &format!("name = \"{name}\"\n"), &format!("name = \"{name}\"\n{text}\n"));
}

/// Add `text` to `[roles.ROLE]`.
fn role_says(ws: &Workspace, role: &str, text: &str) {
    ws.edit("config.toml", &format!("[roles.{role}]\n"), &format!("[roles.{role}]\n{text}\n"));
}

fn lead_of(at: &str, id: &str, owner: &str) -> String {
    lead(at, id, json!({"company": format!("Co {id}"), "owner": owner, "region": "West"}))
}

fn tick(at: &str) -> String {
    event("clock.tick", at, json!({}))
}

/// The `task_rerouted` decisions about task `id`, from `explain task --json`'s decisions in the store.
fn moves(ws: &Workspace, id: &Value) -> Vec<Value> {
    let db = ws.path("dealflow.db");
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn
        .prepare(
            "SELECT detail FROM decisions WHERE kind = 'task_rerouted' AND subject_kind = 'task' AND subject_id = ?1",
        )
        .unwrap();
    let rows = st.query_map([id.as_i64().unwrap().to_string()], |r| r.get::<_, String>(0)).unwrap();
    rows.map(|r| serde_json::from_str(&r.unwrap()).unwrap()).collect()
}

/// The `assignment` the task_created decision of task `id` kept.
fn why(ws: &Workspace, id: &Value) -> Value {
    let conn = rusqlite::Connection::open(ws.path("dealflow.db")).unwrap();
    let detail: String = conn
        .query_row(
            "SELECT detail FROM decisions WHERE kind = 'task_created' AND json_extract(detail, '$.task_id') = ?1",
            [id.as_i64().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    serde_json::from_str::<Value>(&detail).unwrap()["assignment"].clone()
}

#[test]
fn nobody_away_gets_a_task_a_colleague_covers_and_the_owner_is_back_after() {
    let ws = Workspace::new();
    give(&ws, "Ana Ruiz", "away = [{ from = \"2026-07-01\", to = \"2026-07-10\" }]");
    ws.ingest(&[
        lead_of("2026-06-24T09:00:00Z", "L-1", "Ana Ruiz"),
        // The task would be due on the 3rd, when she is away.
        lead_of("2026-07-02T09:00:00Z", "L-2", "Ana Ruiz"),
        // Made before her time off, due on its first day: a colleague's.
        lead_of("2026-06-30T09:00:00Z", "L-3", "Ana Ruiz"),
        lead_of("2026-07-13T09:00:00Z", "L-4", "Ana Ruiz"),
    ]);
    assert_eq!(ws.task_titled("Call new lead Co L-1")["assignee"], "Ana Ruiz");
    assert_eq!(ws.task_titled("Call new lead Co L-4")["assignee"], "Ana Ruiz", "she is back on the 13th");
    for title in ["Call new lead Co L-2", "Call new lead Co L-3"] {
        let t = ws.task_titled(title);
        let who = t["assignee"].as_str().unwrap_or_else(|| panic!("{t:#}"));
        assert!(["Ben Okafor", "Chloe Martin"].contains(&who), "a colleague of the role covers: {t:#}");
        let w = why(&ws, &t["id"]);
        assert_eq!(w["strategy"], "cover", "{w:#}");
        assert_eq!(w["skipped"][0]["who"], "Ana Ruiz", "{w:#}");
        assert!(w["skipped"][0]["why"].as_str().unwrap().contains("2026-07-10"), "{w:#}");
    }
    // The two covers are shared by load: one each.
    let l2 = ws.task_titled("Call new lead Co L-2")["assignee"].clone();
    let l3 = ws.task_titled("Call new lead Co L-3")["assignee"].clone();
    assert_ne!(l2, l3, "the least loaded colleague covers, so the second goes to the other");
}

#[test]
fn time_off_moves_unclaimed_tasks_due_in_it_and_never_a_claimed_one() {
    let ws = Workspace::new();
    ws.ingest(&[
        lead_of("2026-06-29T09:00:00Z", "L-1", "Ana Ruiz"),
        lead_of("2026-06-29T09:00:00Z", "L-2", "Ana Ruiz"),
        lead_of("2026-06-29T09:00:00Z", "L-3", "Ana Ruiz"),
    ]);
    assert_eq!(ws.tasks_titled("Call new lead").iter().filter(|t| t["assignee"] == "Ana Ruiz").count(), 3);
    let claimed = ws.run(&["tasks", "claim", "--as", "Ana Ruiz", "--role", "sales_rep", "--json"]).success().json();
    let claimed_id = claimed["id"].clone();
    assert!(claimed_id.is_i64(), "{claimed:#}");
    // Her time off is entered after the tasks were given; they are due on the 30th.
    give(&ws, "Ana Ruiz", "away = [{ from = \"2026-06-30\", to = \"2026-07-10\" }]");
    let s = ws.ingest(&[tick("2026-06-30T07:00:00Z")]);
    assert_eq!(s["tasks_moved"], 2, "{s:#}");
    for t in ws.tasks_titled("Call new lead") {
        if t["id"] == claimed_id {
            assert_eq!((&t["assignee"], &t["claimed_by"]), (&json!("Ana Ruiz"), &json!("Ana Ruiz")), "{t:#}");
            assert!(moves(&ws, &t["id"]).is_empty());
        } else {
            assert_ne!(t["assignee"], "Ana Ruiz", "{t:#}");
            let m = moves(&ws, &t["id"]);
            assert_eq!(m.len(), 1, "{m:#?}");
            assert_eq!((&m[0]["from"], &m[0]["to"]), (&json!("Ana Ruiz"), &t["assignee"]));
        }
    }
    // Again: nothing more moves, nothing is made twice.
    let s = ws.ingest(&[tick("2026-07-01T07:00:00Z")]);
    assert_eq!(s.get("tasks_moved"), None, "{s:#}");
    assert_eq!(ws.tasks_titled("Call new lead").len(), 3);
}

#[test]
fn a_role_that_waits_keeps_the_task_for_them_due_when_they_are_back() {
    let ws = Workspace::new();
    role_says(&ws, "sales_rep", "while_away = \"wait\"");
    ws.ingest(&[lead_of("2026-06-29T09:00:00Z", "L-1", "Ana Ruiz")]);
    give(&ws, "Ana Ruiz", "away = [{ from = \"2026-06-30\", to = \"2026-07-10\" }]");
    let s = ws.ingest(&[tick("2026-06-30T07:00:00Z"), lead_of("2026-07-02T09:00:00Z", "L-2", "Ana Ruiz")]);
    assert_eq!(s["tasks_moved"], 1, "{s:#}");
    // Back on Monday the 13th: both are hers, due then.
    for title in ["Call new lead Co L-1", "Call new lead Co L-2"] {
        let t = ws.task_titled(title);
        assert_eq!((&t["assignee"], &t["due_at"]), (&json!("Ana Ruiz"), &json!("2026-07-13")), "{t:#}");
    }
    let kept = ws.task_titled("Call new lead Co L-1");
    let m = moves(&ws, &kept["id"]);
    assert_eq!((&m[0]["due_from"], &m[0]["due_to"]), (&json!("2026-06-30"), &json!("2026-07-13")), "{m:#?}");
    assert_eq!(why(&ws, &ws.task_titled("Call new lead Co L-2")["id"])["strategy"], "waits_for");
}

#[test]
fn a_part_timer_is_due_on_their_own_working_days() {
    let ws = Workspace::new();
    give(&ws, "Ana Ruiz", "days = [\"mon\", \"tue\", \"wed\"]");
    // Wednesday 8 July, one working day: the team's Thursday, her Monday.
    ws.ingest(&[
        lead_of("2026-07-08T09:00:00Z", "L-1", "Ana Ruiz"),
        lead_of("2026-07-08T09:00:00Z", "L-2", "Ben Okafor"),
    ]);
    assert_eq!(ws.task_titled("Call new lead Co L-1")["due_at"], "2026-07-13");
    assert_eq!(ws.task_titled("Call new lead Co L-2")["due_at"], "2026-07-09");
    assert_eq!(why(&ws, &ws.task_titled("Call new lead Co L-1")["id"])["days"], json!(["mon", "tue", "wed"]));
}

#[test]
fn coordinators_take_turns_by_weight_and_nobody_gets_more_than_their_cap() {
    let ws = Workspace::new();
    give(&ws, "Gus Lindqvist", "weight = 2.0");
    let orders: Vec<String> =
        (1..=6).map(|i| order(&format!("2026-07-0{i}T09:00:00Z"), &format!("O-{i}"), "A-1", 20000)).collect();
    let mut events = vec![account("2026-07-01T08:00:00Z", "A-1", "Acme", json!({"owner": "Ben Okafor"}))];
    events.extend(orders);
    ws.ingest(&events);
    let who: Vec<String> = (1..=6)
        .map(|i| ws.task_titled(&format!("Confirm delivery of order O-{i} for Acme"))["assignee"].to_string())
        .collect();
    assert_eq!(who.iter().filter(|w| w.contains("Gus")).count(), 4, "{who:?}");
    assert_eq!(who.iter().filter(|w| w.contains("Ines")).count(), 2, "{who:?}");
    assert!(!who.windows(3).any(|w| w[0] == w[1] && w[1] == w[2]), "turns are spread, not in runs: {who:?}");

    // A cap of 5 open coordinator tasks: Gus has 4, Ines 2.
    role_says(&ws, "sales_coordinator", "max_open = 5");
    let more: Vec<String> =
        (7..=11).map(|i| order(&format!("2026-07-{i:02}T09:00:00Z"), &format!("O-{i}"), "A-1", 20000)).collect();
    ws.ingest(&more);
    let tasks = ws.tasks();
    let load = |name: &str| tasks.iter().filter(|t| t["role"] == "sales_coordinator" && t["assignee"] == name).count();
    assert_eq!((load("Gus Lindqvist"), load("Ines Moreau")), (5, 5));
    let queued: Vec<&Value> =
        tasks.iter().filter(|t| t["role"] == "sales_coordinator" && t["assignee"].is_null()).collect();
    assert_eq!(queued.len(), 1, "everyone is at the cap: the last waits in the queue");
    let w = why(&ws, &queued[0]["id"]);
    assert!(w["waits"].as_str().unwrap().contains("at their cap"), "{w:#}");
    assert_eq!(w["skipped"].as_array().unwrap().len(), 2, "{w:#}");

    // One done: the next command gives the queued task to whoever has room.
    let gus = tasks.iter().find(|t| t["assignee"] == "Gus Lindqvist").unwrap();
    ws.run(&["tasks", "done", &gus["id"].to_string(), "--as", "Gus Lindqvist"]).success();
    let s = ws.ingest(&[tick("2026-07-20T07:00:00Z")]);
    assert_eq!(s["tasks_moved"], 1, "{s:#}");
    let t = ws.tasks().into_iter().find(|t| t["id"] == queued[0]["id"]).unwrap();
    assert_eq!(t["assignee"], "Gus Lindqvist");
}

#[test]
fn one_person_holds_two_roles_each_with_its_own_weight_and_cap() {
    let ws = Workspace::new();
    ws.edit(
        "config.toml",
        "name = \"Gus Lindqvist\"\nrole = \"sales_coordinator\"\n",
        "name = \"Gus Lindqvist\"\nregion = \"West\"\nroles = [{ role = \"sales_coordinator\", max_open = 1 }, { role = \"sales_rep\", weight = 0.5 }]\n",
    );
    ws.ingest(&[
        lead_of("2026-07-06T09:00:00Z", "L-1", "Gus Lindqvist"),
        account("2026-07-06T08:00:00Z", "A-1", "Acme", json!({"owner": "Ben Okafor"})),
        order("2026-07-06T09:00:00Z", "O-1", "A-1", 20000),
        order("2026-07-07T09:00:00Z", "O-2", "A-1", 20000),
        order("2026-07-08T09:00:00Z", "O-3", "A-1", 20000),
    ]);
    assert_eq!(ws.task_titled("Call new lead Co L-1")["assignee"], "Gus Lindqvist", "he owns the lead as a sales_rep");
    let tasks = ws.tasks();
    let gus = tasks.iter().filter(|t| t["role"] == "sales_coordinator" && t["assignee"] == "Gus Lindqvist").count();
    assert_eq!(gus, 1, "his coordinator cap is 1; his sales_rep task does not count against it");
}

#[test]
fn a_key_account_is_never_handed_to_someone_away() {
    let ws = Workspace::new();
    give(&ws, "Dana Whitfield", "away = [{ from = \"2026-11-01\", to = \"2026-11-30\" }]");
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        order("2026-11-04T10:00:00Z", "O-1", "A-1", 160000),
    ]);
    let a = ws.account("A-1");
    assert_eq!(a["is_key"], true, "{a:#}");
    assert_eq!(a["owner"], "Eli Novak", "the West account manager is away: the other one takes it");
}

#[test]
fn watch_moves_unclaimed_tasks_as_soon_as_the_team_changes_and_leaves_claimed_ones() {
    let ws = Workspace::new();
    ws.ingest(&[
        lead_of("2026-06-29T09:00:00Z", "L-1", "Ana Ruiz"),
        lead_of("2026-06-29T09:00:00Z", "L-2", "Ana Ruiz"),
    ]);
    let claimed = ws.run(&["tasks", "claim", "--as", "Ana Ruiz", "--role", "sales_rep", "--json"]).success().json();
    let mut watch = Watching::start(&ws);
    // Ana leaves: her unclaimed task goes to a colleague now, not at the next tick.
    ws.edit("config.toml", "name = \"Ana Ruiz\"\n", "name = \"Ana Ruiz\"\nactive = false\n");
    let line = watch.expect("re-balanced");
    assert!(line.contains("1 open task"), "{line}");
    assert_eq!(watch.stop(), 0);
    for t in ws.tasks_titled("Call new lead") {
        if t["id"] == claimed["id"] {
            assert_eq!(t["assignee"], "Ana Ruiz", "a claimed task is never moved");
        } else {
            // Her leads are hers no more: they wait in the role's queue for anyone (the owner strategy
            // has no owner to give them to), as they always did for someone who leaves.
            assert_eq!(t["assignee"], Value::Null, "{t:#}");
            let m = moves(&ws, &t["id"]);
            assert_eq!((&m[0]["from"], &m[0]["to"]), (&json!("Ana Ruiz"), &Value::Null), "{m:#?}");
        }
    }
}

#[test]
fn team_says_who_is_in_on_a_day_and_how_full_each_queue_is() {
    let ws = Workspace::new();
    give(&ws, "Ana Ruiz", "away = [{ from = \"2026-07-01\", to = \"2026-07-10\" }]");
    give(&ws, "Chloe Martin", "days = [\"mon\", \"tue\", \"wed\"]\nweight = 0.5");
    role_says(&ws, "sales_coordinator", "max_open = 1");
    ws.ingest(&[
        account("2026-06-22T08:00:00Z", "A-1", "Acme", json!({"owner": "Ben Okafor"})),
        order("2026-06-22T09:00:00Z", "O-1", "A-1", 20000),
    ]);
    let rows = common::array(ws.run(&["team", "--on", "2026-07-02", "--json"]).success().json());
    let row = |name: &str, role: &str| {
        rows.iter().find(|r| r["name"] == name && r["role"] == role).unwrap_or_else(|| panic!("{rows:#?}")).clone()
    };
    assert_eq!(row("Ana Ruiz", "sales_rep")["state"], "away until 2026-07-10");
    // Thursday 2 July: not one of her days.
    assert_eq!(row("Chloe Martin", "sales_rep")["state"], "not a working day");
    assert_eq!(row("Chloe Martin", "sales_rep")["weight"], 0.5);
    let full: Vec<&Value> = rows.iter().filter(|r| r["at_cap"] == true).collect();
    assert_eq!(full.len(), 1, "one coordinator has the order's task, at the cap of 1: {rows:#?}");
    assert_eq!((&full[0]["open"], &full[0]["max_open"]), (&json!(1), &json!(1)));
    let text = ws.run(&["team", "--on", "2026-06-29"]).success().stdout;
    assert!(text.contains("2026-07-01 to 2026-07-10"), "her next time off is listed: {text}");
    assert!(text.contains("1/1 full"), "{text}");

    // The web page and the API say the same.
    let token = web::token(&ws, "Ben Okafor");
    let serving = web::Serving::start(&ws);
    let api = serving.get("/api/team?on=2026-07-02", &[("Authorization", &web::bearer(&token))]).status(200).json();
    assert_eq!(api, Value::Array(rows.clone()), "GET /api/team is `team --json`");
    serving.get("/api/team?on=July", &[("Authorization", &web::bearer(&token))]).status(400);
    let cookie = serving.sign_in(&token);
    let page = serving.get("/team?on=2026-07-02", &[("Cookie", cookie.as_str())]).status(200).body;
    assert!(page.contains("away until 2026-07-10") && page.contains("1/1 full"), "{page}");
    serving.get("/team", &[]).status(303);
}
