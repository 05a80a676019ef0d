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
