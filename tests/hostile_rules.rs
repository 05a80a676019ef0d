//! Hostile rules (issue 7): each file of `tests/hostile_rules/` is a rule
//! written like a user's mistake. Copied next to the default rules, each is
//! contained: `check` reports a compile-time problem as `FILE:LINE:COL:
//! message` and exits 1; a runtime problem leaves the event applied, the
//! other rules running and the error reported at `rules/FILE:LINE:COL`.
//! Nothing panics and nothing runs away.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Workspace;
use serde_json::json;

/// Cases `check` refuses: (file, `rules/FILE:LINE:COL: ` prefix, words of the message).
const AT_CHECK: &[(&str, &str, &str)] = &[
    ("eval.rhai", "rules/eval.rhai:3:5: ", "'eval' is disabled"),
    ("unknown_role.rhai", "rules/unknown_role.rhai:3:11: ", "unknown role \"acount_manager\""),
    ("unknown_stage.rhai", "rules/unknown_stage.rhai:3:14: ", "unknown stage \"closed\""),
];

/// Cases that load but fail when they run: (file, location, words of the message).
const AT_RUN: &[(&str, &str, &str)] = &[
    ("endless_loop.rhai", "rules/endless_loop.rhai:2:1", "ran too long"),
    ("deep_recursion.rhai", "rules/deep_recursion.rhai:7:1", "nested too deep"),
    ("giant_string.rhai", "rules/giant_string.rhai:2:1", "string grew too large"),
    ("giant_string_pad.rhai", "rules/giant_string_pad.rhai:2:1", "string grew too large"),
    ("giant_array.rhai", "rules/giant_array.rhai:2:1", "array/BLOB grew too large"),
    ("giant_array_pad.rhai", "rules/giant_array_pad.rhai:2:1", "array/BLOB grew too large"),
    ("import_outside.rhai", "rules/import_outside.rhai:3:12", "only modules inside the rules folder"),
    ("missing_function.rhai", "rules/missing_function.rhai:3:5", "Function not found: make_a_task"),
    ("wrong_return.rhai", "rules/wrong_return.rhai:2:1", "returned i64 (42)"),
    ("unknown_role_at_run_time.rhai", "rules/unknown_role_at_run_time.rhai:2:1", "\"ghost_role\" is not a role"),
];

fn corpus(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile_rules").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A config folder with the default rules, the hostile file, and a module
/// outside `rules/` that an import must not reach.
fn workspace_with(name: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write("outside.rhai", "fn make() { task(\"sales_rep\", \"from outside the rules folder\") }\n");
    ws.write(&format!("rules/{name}"), &corpus(name));
    ws
}

fn leads() -> Vec<String> {
    (1..=3)
        .map(|i| {
            common::event(
                "lead.created",
                &format!("2026-11-0{}T09:00:00Z", i + 1),
                json!({"id": format!("L-{i}"), "company": format!("Prospect {i}")}),
            )
        })
        .collect()
}

#[test]
fn the_corpus_lists_every_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile_rules");
    let mut on_disk: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    on_disk.sort();
    let mut listed: Vec<String> = AT_CHECK.iter().chain(AT_RUN).map(|(f, _, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn compile_time_mistakes_are_located_by_check_and_stop_ingest() {
    for (file, prefix, words) in AT_CHECK {
        let ws = workspace_with(file);
        let out = ws.run(&["check"]).code(1);
        assert!(!out.stderr.contains("panicked"), "{file}: {}", out.stderr);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{file}: {}", out.stdout);
        assert!(lines[0].starts_with(prefix) && lines[0].contains(words), "{file}: {}", out.stdout);
        let events = ws.event_file(&leads());
        let out = ws.run(&["ingest", events.to_str().unwrap()]).code(1);
        assert!(out.stderr.contains(prefix.trim_end()), "{file}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{file}: {}", out.stderr);
    }
}

#[test]
fn runtime_mistakes_are_contained_and_located() {
    let clean = Workspace::new();
    clean.ingest(&leads());
    let clean_titles = common::sorted_titles(&clean.tasks());
    assert!(!clean_titles.is_empty());
    for (file, location, words) in AT_RUN {
        let ws = workspace_with(file);
        ws.run(&["check"]).success();
        let events = ws.event_file(&leads());
        let started = Instant::now();
        let out = ws.run(&["ingest", "--json", events.to_str().unwrap()]).success();
        assert!(started.elapsed() < Duration::from_secs(60), "{file}: took {:?}", started.elapsed());
        assert!(!out.stderr.contains("panicked"), "{file}: {}", out.stderr);
        let s = out.json();
        assert_eq!((&s["applied"], &s["rule_errors"]), (&json!(3), &json!(3)), "{file}: {s}");
        let sites = s["rule_failures"].as_array().unwrap();
        assert_eq!(sites.len(), 1, "{file}: {s}");
        assert_eq!(sites[0]["location"], *location, "{file}: {s}");
        assert!(sites[0]["message"].as_str().unwrap().contains(words), "{file}: {s}");
        // The other rules still ran: the same tasks as without the hostile rule.
        assert_eq!(common::sorted_titles(&ws.tasks()), clean_titles, "{file}");
        assert_eq!(ws.status()["rule_errors"], 3, "{file}");
    }
}

fn lead(i: usize, company: &str) -> String {
    common::event(
        "lead.created",
        &format!("2026-11-{:02}T09:00:00Z", i % 28 + 1),
        json!({"id": format!("L-{i}"), "company": company}),
    )
}

fn leads_from(first: usize, count: usize) -> Vec<String> {
    (first..first + count).map(|i| lead(i, &format!("Prospect {i}"))).collect()
}

fn quarantined(v: &serde_json::Value) -> Vec<String> {
    v["quarantined_rules"].as_array().unwrap().iter().map(|h| h["rule"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_rule_that_keeps_failing_is_quarantined_until_the_rules_change() {
    let ws = workspace_with("missing_function.rhai");
    // Four failing events in a row (the default limit is five): still running.
    let s = ws.ingest(&leads_from(1, 4));
    assert_eq!((&s["rule_errors"], &s["rules_quarantined"]), (&json!(4), &json!(0)), "{s}");
    assert!(quarantined(&s).is_empty(), "{s}");
    assert!(quarantined(&ws.status()).is_empty());
    // The count survives between runs: the fifth failure quarantines it, and
    // the events after it do not run it at all.
    let s = ws.ingest(&leads_from(5, 3));
    assert_eq!((&s["applied"], &s["rule_errors"], &s["rules_quarantined"]), (&json!(3), &json!(1), &json!(1)), "{s}");
    assert_eq!(quarantined(&s), ["task_ghost"], "{s}");
    let h = &s["quarantined_rules"][0];
    assert_eq!((&h["file"], &h["line"], &h["failures"]), (&json!("rules/missing_function.rhai"), &json!(2), &json!(5)));
    assert!(h["last_error"].as_str().unwrap().starts_with("rules/missing_function.rhai:3:5: "), "{h}");
    assert!(h["last_event"].as_str().is_some_and(|e| !e.is_empty()), "{h}");
    // The other rules went on: every lead has its follow-up.
    assert_eq!(ws.tasks_titled("Call new lead").len(), 7);
    // Visible in status (text and JSON), in check (a warning; the rules still compile) and in the log.
    assert_eq!(quarantined(&ws.status()), ["task_ghost"]);
    let text = ws.run(&["status"]).success();
    assert!(
        text.stdout.contains("task_ghost (rules/missing_function.rhai:2): failed on 5 events in a row"),
        "{}",
        text.stdout
    );
    let check = ws.run(&["check"]).success();
    assert!(
        check.stderr.contains("warning: rules/missing_function.rhai:2: task_ghost is quarantined"),
        "{}",
        check.stderr
    );
    assert_eq!(quarantined(&ws.run(&["check", "--json"]).success().json()), ["task_ghost"]);
    // A later run of the same rules does not run it either.
    let s = ws.ingest(&leads_from(8, 2));
    assert_eq!((&s["rule_errors"], &s["rules_quarantined"]), (&json!(0), &json!(0)), "{s}");
    // Fixing the rule is a new rules version: it runs again, clean.
    ws.write("rules/missing_function.rhai", "fn task_ghost(event) {\n    ()\n}\n");
    let s = ws.ingest(&leads_from(10, 2));
    assert_eq!((&s["rule_errors"], &s["applied"]), (&json!(0), &json!(2)), "{s}");
    assert!(quarantined(&s).is_empty(), "{s}");
    assert!(quarantined(&ws.status()).is_empty());
    assert!(!ws.run(&["check"]).success().stderr.contains("quarantined"));
}

#[test]
fn a_clean_event_resets_the_count_and_a_limit_of_zero_never_quarantines() {
    let ws = Workspace::new();
    ws.write(
        "rules/picky.rhai",
        "/// Fails on leads from Bad Co only.\nfn task_picky(lead) {\n    if lead.company == \"Bad Co\" { no_such_fn() }\n}\n",
    );
    let bad = |from: usize| (from..from + 4).map(|i| lead(i, "Bad Co")).collect::<Vec<_>>();
    let mut events = bad(1);
    events.push(lead(5, "Good Co"));
    events.extend(bad(6));
    let s = ws.ingest(&events);
    assert_eq!((&s["rule_errors"], &s["rules_quarantined"]), (&json!(8), &json!(0)), "{s}");
    // One more failure makes five in a row.
    let s = ws.ingest(&bad(10)[..1]);
    assert_eq!(quarantined(&s), ["task_picky"], "{s}");
    // With quarantine off, the same rule keeps running and failing.
    let off = Workspace::new();
    off.write("rules/picky.rhai", &ws.read("rules/picky.rhai"));
    off.edit("config.toml", "[store]", "[limits]\nquarantine_after = 0\n\n[store]");
    let s = off.ingest(&bad(1).into_iter().chain(bad(5)).chain(bad(9)).collect::<Vec<_>>());
    assert_eq!((&s["rule_errors"], &s["rules_quarantined"]), (&json!(12), &json!(0)), "{s}");
    assert!(quarantined(&off.status()).is_empty());
}
