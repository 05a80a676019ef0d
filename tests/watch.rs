//! `dealflow watch` and `dealflow run` with a real process and real file
//! operations: edits in place, saves by rename, deletes and recreates, broken
//! edits, inbox files good and bad, a reload in the middle of a long file.

mod common;

use std::time::{Duration, Instant};

use common::watching::{EXTRA_RULE, WAIT, Watching, save_by_rename, unsafe_kill, version_of};
use common::{Workspace, event, example};
use serde_json::json;

fn files_of(line: &str) -> &str {
    let start = line.find('(').unwrap() + 1;
    &line[start..line.find(" files)").unwrap()]
}

#[test]
fn edits_reload_in_place_by_rename_and_by_delete_and_recreate() {
    let ws = Workspace::new();
    let mut w = Watching::start(&ws);
    let first = ws.status()["rules_version"].as_str().unwrap().to_string();

    // In place.
    let original = ws.read("rules/tasks_sales.rhai");
    std::fs::write(ws.path("rules/tasks_sales.rhai"), format!("{original}{EXTRA_RULE}")).unwrap();
    let line = w.expect("rules reloaded: ");
    let second = version_of(&line);
    assert_ne!(second, first);
    assert_eq!(files_of(&line), "5");
    assert!(line.ends_with(" ms"), "{line}");

    // By rename, as editors save.
    save_by_rename(&ws.path("rules/tasks_sales.rhai"), &original);
    let third = version_of(&w.expect("rules reloaded: "));
    assert_eq!(third, first, "the same text is the same version");

    // Delete, then recreate.
    let key = ws.read("rules/key_accounts.rhai");
    std::fs::remove_file(ws.path("rules/key_accounts.rhai")).unwrap();
    assert_eq!(files_of(&w.expect("rules reloaded: ")), "4");
    std::fs::write(ws.path("rules/key_accounts.rhai"), &key).unwrap();
    let back = w.expect("rules reloaded: ");
    assert_eq!((files_of(&back), version_of(&back)), ("5", first.clone()));

    // A new rule file, then its removal.
    ws.write("rules/marketing.rhai", EXTRA_RULE);
    assert_eq!(files_of(&w.expect("rules reloaded: ")), "6");
    std::fs::remove_file(ws.path("rules/marketing.rhai")).unwrap();
    assert_eq!(files_of(&w.expect("rules reloaded: ")), "5");

    // Swap files and other noise reload nothing.
    std::fs::write(ws.path("rules/.tasks_sales.rhai.swp"), "junk").unwrap();
    std::fs::write(ws.path("rules/4913"), "").unwrap();
    std::fs::write(ws.path("notes.txt"), "x").unwrap();
    // config.toml is part of the playbook.
    ws.edit("config.toml", "lead_follow_up_days = 1", "lead_follow_up_days = 3");
    let cfg = version_of(&w.expect("rules reloaded: "));
    assert_ne!(cfg, first);
    let reloads = w.seen.iter().filter(|l| l.starts_with("rules reloaded: ")).count();
    assert_eq!(reloads, 7, "one line per real change, none for noise:\n{}", w.seen.join("\n"));

    // status shows the version in force.
    assert_eq!(ws.status()["rules_version"], cfg);
    assert_eq!(w.stop(), 0);
}

#[test]
fn a_broken_edit_is_rejected_with_its_place_and_the_old_rules_stay_in_force() {
    let ws = Workspace::new();
    let mut w = Watching::start(&ws);
    let good = ws.status()["rules_version"].as_str().unwrap().to_string();

    ws.edit(
        "rules/tasks_sales.rhai",
        "return task(\"sales_rep\", `Call new lead ${who}`",
        "return task(\"sales_repp\", `Call new lead ${who}`",
    );
    let line = w.expect("rules rejected: ");
    assert!(line.contains("1 problem"), "{line}");
    let detail = w.following(1).remove(0);
    assert!(
        detail.trim_start().starts_with("rules/tasks_sales.rhai:")
            && detail.contains("unknown role \"sales_repp\"")
            && detail.contains("did you mean \"sales_rep\""),
        "{detail}"
    );
    // The engine keeps going on the last good rules: an inbox file is still decided by them.
    save_by_rename(
        &ws.path("inbox/leads.jsonl"),
        &(event("lead.created", "2026-11-02T09:00:00Z", json!({"id": "L-1", "company": "Acme"})) + "\n"),
    );
    w.expect("inbox/leads.jsonl: applied 1");
    let task = ws.task_titled("Call new lead Acme");
    assert_eq!(task["rules_version"], good);
    assert_eq!(ws.status()["rules_version"], good);

    // A syntax error too.
    ws.write("rules/zz.rhai", "fn task_x(event) { let = 1; }");
    w.expect("rules rejected: ");
    assert!(w.following(2).iter().any(|l| l.trim_start().starts_with("rules/zz.rhai:1:")), "{:?}", w.seen);

    // A deleted rules folder is refused, not obeyed.
    let rules = ws.path("rules");
    let aside = ws.root().join("rules-aside");
    std::fs::rename(&rules, &aside).unwrap();
    w.expect("rules rejected: ");
    std::fs::rename(&aside, &rules).unwrap();
    w.expect("rules rejected: "); // zz.rhai is still broken

    // The fix is picked up.
    std::fs::remove_file(ws.path("rules/zz.rhai")).unwrap();
    w.expect("rules rejected: "); // tasks_sales.rhai still names sales_repp
    ws.edit("rules/tasks_sales.rhai", "task(\"sales_repp\"", "task(\"sales_rep\"");
    let line = w.expect("rules reloaded: ");
    assert_eq!(version_of(&line), good, "{}", w.seen.join("\n"));
    assert_eq!(w.stop(), 0);
}

#[test]
fn inbox_files_are_ingested_once_and_moved_bad_lines_listed_beside_them() {
    let ws = Workspace::new();
    // A file waiting before watch starts is processed at start.
    std::fs::copy(example("quarter.jsonl"), ws.path("inbox/2026-q3.jsonl")).unwrap();
    let mut w = Watching::start(&ws);
    let line = w.expect("inbox/2026-q3.jsonl: ");
    assert!(
        line.contains("applied 315,")
            && line.contains("rejected 0")
            && line.ends_with("moved to inbox/done/2026-q3.jsonl"),
        "{line}"
    );
    assert!(ws.path("inbox/done/2026-q3.jsonl").is_file() && !ws.path("inbox/2026-q3.jsonl").exists());

    // A malformed file: good lines applied, bad ones listed in its .errors file.
    let text = std::fs::read_to_string(example("with-errors.jsonl")).unwrap();
    save_by_rename(&ws.path("inbox/late.jsonl"), &text);
    let line = w.expect("inbox/late.jsonl: ");
    assert!(
        line.contains("applied 5,")
            && line.contains("rejected 3")
            && line.ends_with("moved to inbox/failed/late.jsonl"),
        "{line}"
    );
    let errors = std::fs::read_to_string(ws.path("inbox/failed/late.errors")).unwrap();
    let listed: Vec<&str> = errors.lines().map(|l| l.split(": ").next().unwrap()).collect();
    assert_eq!(listed, ["inbox/late.jsonl:2", "inbox/late.jsonl:4", "inbox/late.jsonl:6"], "{errors}");

    // The same file again: nothing applied twice, moved beside the first.
    std::fs::copy(example("quarter.jsonl"), ws.path("inbox/2026-q3.jsonl")).unwrap();
    let line = w.expect("inbox/2026-q3.jsonl: ");
    assert!(
        line.contains("applied 0, duplicates skipped 315") && line.ends_with("inbox/done/2026-q3-2.jsonl"),
        "{line}"
    );
    // Files still being written (hidden or .tmp names) are left alone.
    std::fs::write(ws.path("inbox/.partial.jsonl"), "{").unwrap();
    std::fs::write(ws.path("inbox/x.jsonl.tmp"), "{").unwrap();
    assert_eq!(w.stop(), 0);
    assert!(ws.path("inbox/.partial.jsonl").exists() && ws.path("inbox/x.jsonl.tmp").exists());
    assert!(!w.seen.iter().any(|l| l.contains("partial") || l.contains(".tmp")), "{:?}", w.seen);
    assert_eq!(ws.status()["key_accounts"], 3);
}

#[test]
fn a_reload_during_a_long_inbox_file_takes_effect_from_the_next_event() {
    let ws = small_batches();
    let mut w = Watching::start(&ws);
    save_by_rename(&ws.path("inbox/big.jsonl"), &long_file(6_000));
    // Wait until part of the file is committed, then change the rules.
    wait_for_commits(&ws);
    ws.write("rules/marketing.rhai", EXTRA_RULE);
    let reloaded = w.expect("rules reloaded: ");
    let done = w.expect_within("inbox/big.jsonl: ", Duration::from_secs(120));
    assert!(done.contains("applied 6001,") && done.contains("rejected 0"), "{done}");
    let new_version = version_of(&reloaded);

    // Orders after the reload got the new rule's task, each decided by the new version only.
    let told = ws.tasks_titled("Order from Acme");
    assert!(!told.is_empty() && told.len() < 6_000, "the reload landed mid-file: {} tasks", told.len());
    assert!(told.iter().all(|t| t["rules_version"] == new_version));
    assert_eq!(ws.status()["rules_version"], new_version);
    assert_eq!(w.stop(), 0);
}

#[test]
fn run_processes_the_inbox_once_and_exits() {
    let ws = Workspace::new();
    let empty = ws.run(&["run"]).success();
    assert!(empty.stdout.contains("is empty"), "{}", empty.stdout);
    std::fs::copy(example("quarter.jsonl"), ws.path("inbox/a.jsonl")).unwrap();
    std::fs::copy(example("with-errors.jsonl"), ws.path("inbox/b.jsonl")).unwrap();
    let out = ws.run(&["run", "--json"]).code(2).json();
    let files: Vec<(&str, &str)> = out["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["file"].as_str().unwrap(), f["moved_to"].as_str().unwrap()))
        .collect();
    assert_eq!(files, [("inbox/a.jsonl", "inbox/done/a.jsonl"), ("inbox/b.jsonl", "inbox/failed/b.jsonl")]);
    assert_eq!((&out["total"]["applied"], &out["total"]["rejected"]), (&json!(320), &json!(3)));
    assert!(ws.path("inbox/failed/b.errors").is_file());
    assert!(ws.run(&["run"]).success().stdout.contains("is empty"));
}

/// Orders for one account, many enough to take a while to ingest.
fn long_file(orders: usize) -> String {
    let mut lines = vec![event("account.upserted", "2026-01-01T08:00:00Z", json!({"id": "A-1", "name": "Acme"}))];
    for n in 0..orders {
        let amount = if n % 100 == 0 { 20_000 } else { 10 };
        lines.push(event(
            "order.placed",
            "2026-01-02T08:00:00Z",
            json!({"id": format!("O-{n}"), "account_id": "A-1", "amount": amount}),
        ));
    }
    lines.join("\n") + "\n"
}

/// A workspace that commits every 100 events, so a stop lands between commits.
fn small_batches() -> Workspace {
    let ws = Workspace::new();
    ws.edit("config.toml", "path = \"dealflow.db\"", "path = \"dealflow.db\"\nbatch_size = 100");
    ws
}

/// Wait until some of the long file is committed (every 100th order makes a task).
fn wait_for_commits(ws: &Workspace) {
    let deadline = Instant::now() + WAIT;
    while ws.tasks_titled("Confirm delivery of order").len() < 3 {
        assert!(Instant::now() < deadline, "nothing was committed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn killed_mid_file_then_restarted_nothing_is_lost_or_doubled() {
    let text = long_file(4_000);
    // The reference: the same file ingested uninterrupted.
    let clean = Workspace::new();
    let reference = clean.root().join("orders.jsonl");
    std::fs::write(&reference, &text).unwrap();
    clean.ingest_file(&reference);

    let ws = small_batches();
    let mut w = Watching::start(&ws);
    save_by_rename(&ws.path("inbox/orders.jsonl"), &text);
    wait_for_commits(&ws);
    unsafe_kill(w.child.id(), "KILL");
    let _ = w.child.wait();
    assert!(ws.path("inbox/orders.jsonl").exists(), "a file is moved only once it is done");

    let mut again = Watching::start(&ws);
    let line = again.expect_within("inbox/orders.jsonl: ", Duration::from_secs(120));
    let applied: u64 = line.split("applied ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    let skipped: u64 = line.split("duplicates skipped ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert_eq!(applied + skipped, 4_001, "{line}");
    assert!(skipped > 0, "the kill landed after some events were committed: {line}");
    assert_eq!(again.stop(), 0);
    assert_eq!(sorted(&ws), sorted(&clean));
    assert_eq!(ws.status()["open_tasks"], clean.status()["open_tasks"]);
}

#[test]
fn sigterm_mid_file_commits_what_was_applied_and_the_rest_follows_on_restart() {
    let ws = small_batches();
    let text = long_file(4_000);
    let mut w = Watching::start(&ws);
    save_by_rename(&ws.path("inbox/orders.jsonl"), &text);
    wait_for_commits(&ws);
    assert_eq!(w.stop(), 0, "a clean stop exits 0");
    let stopped = w.seen.iter().find(|l| l.starts_with("inbox/orders.jsonl: ")).cloned().unwrap_or_default();
    assert!(stopped.ends_with("stopped; stays in the inbox"), "{:?}", w.seen);
    assert!(ws.path("inbox/orders.jsonl").exists());

    let out = ws.run(&["run", "--json"]).success().json();
    let total = &out["total"];
    let done = total["applied"].as_u64().unwrap() + total["duplicates"].as_u64().unwrap();
    assert_eq!(done, 4_001);
    assert!(total["duplicates"].as_u64().unwrap() > 0);
    assert_eq!(ws.tasks_titled("Confirm delivery of order").len(), 40);
}

fn sorted(ws: &Workspace) -> Vec<String> {
    let mut v: Vec<String> =
        ws.tasks().iter().map(|t| format!("{} {} {}", t["role"], t["title"], t["due_at"])).collect();
    v.sort();
    v
}

#[test]
fn simulate_first_prints_what_a_reload_changes_on_the_stored_history() {
    let ws = Workspace::new();
    ws.edit("config.toml", "[clock]", "[watch]\nreload = \"simulate-first\"\n\n[clock]");
    ws.ingest_file(&example("quarter.jsonl"));
    let mut w = Watching::start(&ws);
    ws.edit("config.toml", "key_revenue_12m = 150000", "key_revenue_12m = 100000");
    let reloaded = version_of(&w.expect("rules reloaded: "));
    let line = w.expect("simulated ");
    assert_eq!(line, format!("simulated {reloaded} on the 315 stored events: tasks +2 -0; key: +A-5"));
    assert_eq!(w.stop(), 0);
}
