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
    ("redefine_api.rhai", "rules/redefine_api.rhai:2:4: ", "refuse is a function of the rule API"),
    ("import_outside.rhai", "rules/import_outside.rhai:3:12: ", "only modules inside the rules folder"),
    ("wall_clock.rhai", "rules/wall_clock.rhai:3:19: ", "timestamp() reads the wall clock"),
];

/// Cases that load but fail when they run: (file, location, words of the message).
const AT_RUN: &[(&str, &str, &str)] = &[
    ("endless_loop.rhai", "rules/endless_loop.rhai:2:1", "ran too long"),
    ("deep_recursion.rhai", "rules/deep_recursion.rhai:7:1", "nested too deep"),
    ("giant_string.rhai", "rules/giant_string.rhai:2:1", "string grew too large"),
    ("giant_string_pad.rhai", "rules/giant_string_pad.rhai:2:1", "string grew too large"),
    ("giant_array.rhai", "rules/giant_array.rhai:2:1", "array/BLOB grew too large"),
    ("giant_array_pad.rhai", "rules/giant_array_pad.rhai:2:1", "array/BLOB grew too large"),
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

/// The process was not killed by a signal (a stack overflow aborts: exit 134).
fn did_not_abort(out: &common::Output) {
    assert!(out.code == 0 || out.code == 1 || out.code == 2, "{:?} exited {}: {}", out.args, out.code, out.stderr);
    assert!(!out.stderr.contains("overflowed its stack"), "{:?}: {}", out.args, out.stderr);
    assert!(!out.stderr.contains("panicked"), "{:?}: {}", out.args, out.stderr);
}

#[test]
fn an_import_cycle_is_a_check_error_at_the_import_and_nothing_overflows() {
    let ws = Workspace::new();
    ws.write("rules/lib/cyc.rhai", "import \"lib/cyc\" as me;\nfn f() { me::f() }\n");
    ws.write(
        "rules/lib/ping.rhai",
        "// Two modules that import each other.\nimport \"lib/pong\" as pong;\nfn ping() { pong::pong() }\n",
    );
    ws.write("rules/lib/pong.rhai", "fn pong() {\n    import \"lib/ping\" as ping;\n    ping::ping()\n}\n");
    ws.write(
        "rules/use_cycles.rhai",
        "/// Calls into the cycles.\nfn task_cycles(event) {\n    import \"lib/cyc\" as c;\n    import \"lib/ping\" as p;\n    c::f() + p::ping()\n}\n",
    );
    let out = ws.run(&["check"]).code(1);
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "rules/lib/cyc.rhai:1:8: import \"lib/cyc\" closes a cycle: lib/cyc -> lib/cyc",
            "rules/lib/ping.rhai:2:8: import \"lib/pong\" closes a cycle: lib/ping -> lib/pong -> lib/ping",
            "rules/lib/pong.rhai:2:12: import \"lib/ping\" closes a cycle: lib/pong -> lib/ping -> lib/pong",
        ],
        "{}",
        out.stderr
    );
    // The commands that run rules refuse them too: none of them dies.
    let events = ws.event_file(&leads());
    for args in [&["ingest", events.to_str().unwrap()][..], &["test"], &["tick"]] {
        let out = ws.run(args);
        did_not_abort(&out);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("rules/lib/cyc.rhai:1:8: import \"lib/cyc\" closes a cycle"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn imports_nested_too_deep_are_a_check_error() {
    let ws = Workspace::new();
    for i in 0..40 {
        ws.write(
            &format!("rules/lib/m{i}.rhai"),
            &format!("import \"lib/m{}\" as next;\nfn f() {{ next::f() }}\n", i + 1),
        );
    }
    ws.write("rules/lib/m40.rhai", "fn f() { 1 }\n");
    ws.write("rules/use_chain.rhai", "fn task_chain(event) {\n    import \"lib/m0\" as m;\n    m::f()\n}\n");
    let out = ws.run(&["check"]).code(1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    assert!(
        lines[0].starts_with("rules/use_chain.rhai:2:12: import \"lib/m0\": modules import each other "),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("deep"), "{}", lines[0]);
    let events = ws.event_file(&leads());
    did_not_abort(&ws.run(&["ingest", events.to_str().unwrap()]).code(1));
}

/// Recursion of every kind, at the highest call depth `[limits]` allows: each
/// is a rule error for the event, and the process goes on.
#[test]
fn no_rule_overflows_the_stack_at_the_highest_call_depth_allowed() {
    let ws = Workspace::new();
    ws.edit("config.toml", "[store]", "[limits]\nmax_call_levels = 256\n\n[store]");
    ws.write("rules/lib/deep.rhai", "fn down(n) { down(n + 1) }\n");
    ws.write("rules/lib/back.rhai", "fn back(f, n) { call(f, f, n + 1) }\n");
    ws.write("rules/lib/top.rhai", "fn r(n) { r(n + 1) }\nlet started = r(0);\n");
    ws.write("rules/lib/mid.rhai", "import \"lib/deep\" as deep;\nfn down(n) { deep::down(n) }\n");
    // Each call level as heavy as the expression limit lets it be.
    let heavy = format!("fn heavy(n) {{ {}heavy(n + 1){} }}\n", "1 + (".repeat(12), ")".repeat(12));
    ws.write(
        "rules/recursion.rhai",
        &format!(
            "{heavy}\
fn bounce(f, n) {{ import \"lib/back\" as b; b::back(f, n) }}\n\
fn task_in_a_module(event) {{ import \"lib/deep\" as d; d::down(0) }}\n\
fn task_through_two_modules(event) {{ import \"lib/mid\" as m; m::down(0) }}\n\
fn task_across_modules(event) {{ bounce(Fn(\"bounce\"), 0) }}\n\
fn task_when_imported(event) {{ import \"lib/top\" as t; 1 }}\n\
fn task_heavy(event) {{ heavy(0) }}\n"
        ),
    );
    ws.run(&["check"]).success();
    let events = ws.event_file(&leads());
    let out = ws.run(&["ingest", "--json", events.to_str().unwrap()]);
    did_not_abort(&out);
    let s = out.success().json();
    assert_eq!((&s["applied"], &s["rule_errors"]), (&json!(3), &json!(15)), "{s}");
    // The same in a rule test and a tick.
    did_not_abort(&ws.run(&["test"]));
    did_not_abort(&ws.run(&["tick", "--json"]));
}

#[test]
fn the_call_depth_has_a_ceiling_in_the_config() {
    let ws = Workspace::new();
    ws.edit("config.toml", "[store]", "[limits]\nmax_call_levels = 100000\n\n[store]");
    let out = ws.run(&["check"]).code(1);
    let line = ws.read("config.toml").lines().position(|l| l.starts_with("max_call_levels")).unwrap() + 1;
    assert!(out.stdout.starts_with(&format!("config.toml:{line}:")), "{}", out.stdout);
    assert!(out.stdout.contains("max_call_levels") && out.stdout.contains("256"), "{}", out.stdout);
}

#[test]
fn deep_expressions_are_check_errors_in_rules_and_modules() {
    let ws = Workspace::new();
    let deep = format!("{}1{}", "(".repeat(50_000), ")".repeat(50_000));
    ws.write("rules/lib/deep_expr.rhai", &format!("fn f() {{ {deep} }}\n"));
    ws.write("rules/deep_expr.rhai", &format!("fn task_deep(event) {{ [{deep}] }}\n"));
    ws.write(
        "rules/deep_module.rhai",
        "fn task_deep_module(event) {\n    import \"lib/deep_expr\" as d;\n    d::f()\n}\n",
    );
    let out = ws.run(&["check"]);
    did_not_abort(&out);
    assert_eq!(out.code, 1);
    let files: Vec<&str> = out.stdout.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(files, ["rules/deep_expr.rhai", "rules/lib/deep_expr.rhai"], "{}", out.stdout);
}

#[test]
fn redefining_any_function_of_the_rule_api_is_a_check_error_at_its_place() {
    let ws = Workspace::new();
    ws.write(
        "rules/my_api.rhai",
        "fn money(x) { 0 }\n\n/// Mine.\nfn  task(role, title) { () }\nfn add_business_days(d, n) { d }\nfn or_zero(x) { x }\nfn helper() { 1 }\n",
    );
    let out = ws.run(&["check"]).code(1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    for (line, (place, name)) in
        lines.iter().zip([("1:4", "money"), ("4:5", "task"), ("5:4", "add_business_days"), ("6:4", "or_zero")])
    {
        assert!(
            line.starts_with(&format!("rules/my_api.rhai:{place}: {name} is a function of the rule API")),
            "{line}"
        );
    }
    // Rules in force never take such a set: the refusal and the amounts stay the rule API's.
    let events = ws.event_file(&leads());
    assert!(ws.run(&["ingest", events.to_str().unwrap()]).code(1).stderr.contains("rules/my_api.rhai:1:4"));
}

#[test]
fn wall_clock_and_sleep_are_not_in_the_sandbox_and_check_names_each_call() {
    let ws = Workspace::new();
    ws.write(
        "rules/clock.rhai",
        "fn task_clock(event) {\n    let t = timestamp();\n    let e = t.elapsed();\n    let f = elapsed(t);\n    sleep(1);\n    let p = Fn(\"timestamp\");\n}\n",
    );
    let out = ws.run(&["check"]).code(1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    for (line, (place, what)) in lines.iter().zip([
        ("2:13", "timestamp() reads the wall clock"),
        ("3:15", "elapsed() reads the wall clock"),
        ("4:13", "elapsed() reads the wall clock"),
        ("5:5", "sleep() waits on the wall clock"),
    ]) {
        assert!(line.starts_with(&format!("rules/clock.rhai:{place}: {what}")), "{line}");
    }
    // Reached by a function pointer, they are not there at all: a rule error, never a time.
    ws.write(
        "rules/clock.rhai",
        "fn task_clock(event) {\n    let p = Fn(\"time\" + \"stamp\");\n    let t = p.call();\n    task(\"sales_rep\", `at ${t}`)\n}\n",
    );
    ws.run(&["check"]).success();
    let s = ws.ingest(&leads());
    assert_eq!(s["rule_errors"], json!(3), "{s}");
    assert!(s["rule_failures"][0]["message"].as_str().unwrap().contains("timestamp"), "{s}");
    // A function of the rules' own with such a name is theirs to call.
    ws.write(
        "rules/clock.rhai",
        "fn elapsed(from, to) { days_between(from, to) }\nfn task_clock(event) {\n    if elapsed(\"2026-01-01\", \"2026-01-09\") > 30 { task(\"sales_rep\", \"late\") }\n}\n",
    );
    ws.run(&["check"]).success();
}

#[cfg(unix)]
#[test]
fn symlinked_rule_files_and_modules_are_check_errors_that_show_nothing_of_their_target() {
    use std::os::unix::fs::symlink;
    let ws = Workspace::new();
    ws.write("outside.rhai", "fn task_outside(event) { task(\"sales_rep\", \"from outside the rules folder\") }\n");
    std::fs::write(ws.root().join("secret.txt"), "TOP SECRET first line\nsecond line\n").unwrap();
    symlink(ws.path("outside.rhai"), ws.path("rules/linked.rhai")).unwrap();
    symlink(ws.root().join("secret.txt"), ws.path("rules/secret.rhai")).unwrap();
    std::fs::create_dir_all(ws.path("rules/lib")).unwrap();
    symlink(ws.path("outside.rhai"), ws.path("rules/lib/linked_module.rhai")).unwrap();
    std::fs::create_dir_all(ws.root().join("elsewhere")).unwrap();
    std::fs::write(ws.root().join("elsewhere/m.rhai"), "fn f() { 1 }\n").unwrap();
    symlink(ws.root().join("elsewhere"), ws.path("rules/linked_dir")).unwrap();
    ws.write(
        "rules/importer.rhai",
        "fn task_imports(event) {\n    import \"lib/linked_module\" as a;\n    import \"linked_dir/m\" as b;\n    a::task_outside(event)\n}\n",
    );
    let out = ws.run(&["check"]).code(1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    assert!(
        lines[0].starts_with(
            "rules/importer.rhai:2:12: import \"lib/linked_module\": rules/lib/linked_module.rhai is a symbolic link"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("rules/importer.rhai:3:12: import \"linked_dir/m\": rules/linked_dir is a symbolic link"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("rules/linked.rhai:1:1: rules/linked.rhai is a symbolic link"), "{}", lines[2]);
    assert!(lines[3].starts_with("rules/secret.rhai:1:1: rules/secret.rhai is a symbolic link"), "{}", lines[3]);
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains("TOP SECRET") && !text.contains("from outside"), "{text}");
    }
    // No command runs the rule from outside.
    let events = ws.event_file(&leads());
    let out = ws.run(&["ingest", events.to_str().unwrap()]).code(1);
    assert!(!out.stderr.contains("TOP SECRET"), "{}", out.stderr);
}
