//! `dealflow test`: rule tests beside the rules.

mod common;

use common::Workspace;

const PASSING: &str = r#"
[[case]]
name = "a marketing lead gets a quick call"
[[case.events]]
type = "lead.created"
at = "2026-11-06T09:00:00Z"
data = { id = "L-1", company = "Acme", source = "webinar" }
[[case.expect.tasks]]
role = "sales_rep"
title = "Call new lead Acme"
priority = "high"
due = "2026-11-09"
assignee = ""
"#;

const FAILING: &str = r#"
[[case]]
name = "expects marketing to call"
[[case.events]]
type = "lead.created"
at = "2026-11-06T09:00:00Z"
data = { id = "L-1", company = "Acme" }
[case.expect]
key_accounts = ["A-1"]
[[case.expect.tasks]]
role = "marketing"
title = "Call new lead Acme"
"#;

/// A workspace whose only rule tests are the ones a test writes.
fn without_shipped_tests() -> Workspace {
    let ws = Workspace::new();
    std::fs::remove_dir_all(ws.path("rules/tests")).unwrap();
    ws
}

#[test]
fn a_new_folder_passes_the_tests_shipped_with_the_default_rules() {
    let ws = Workspace::new();
    let out = ws.run(&["test"]).success();
    let last = out.stdout.trim_end().lines().last().unwrap().to_string();
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 19 && last.ends_with(" passed, 0 failed"), "{}", out.stdout);
}

#[test]
fn passing_and_failing_cases_are_listed_with_a_diff_and_a_closing_count() {
    let ws = without_shipped_tests();
    ws.write("rules/tests/a.toml", PASSING);
    let out = ws.run(&["test"]).success();
    assert!(out.stdout.contains("rules/tests/a.toml: a marketing lead gets a quick call ... ok"), "{}", out.stdout);
    assert!(out.stdout.trim_end().lines().last().unwrap().ends_with(" passed, 0 failed"), "{}", out.stdout);

    ws.write("rules/tests/b.toml", FAILING);
    let out = ws.run(&["test"]).code(1);
    assert!(out.stdout.contains("rules/tests/b.toml: expects marketing to call ... FAILED"), "{}", out.stdout);
    assert!(out.stdout.contains("    key accounts: expected [\"A-1\"], got []"), "{}", out.stdout);
    assert!(out.stdout.contains("    - missing task: marketing \"Call new lead Acme\""), "{}", out.stdout);
    assert!(out.stdout.contains("    + unexpected task: sales_rep \"Call new lead Acme\""), "{}", out.stdout);
    let last = out.stdout.trim_end().lines().last().unwrap().to_string();
    assert!(last.ends_with(" passed, 1 failed"), "{last}");

    // Breaking the rule breaks the passing case.
    ws.edit(
        "rules/tasks_sales.rhai",
        "priority: \"high\",\n            reason: `marketing passed us",
        "priority: \"low\",\n            reason: `marketing passed us",
    );
    let out = ws.run(&["test", "quick call"]).code(1);
    assert!(out.stdout.contains("priority high expected, got low"), "{}", out.stdout);
    assert_eq!(out.stdout.trim_end().lines().last().unwrap(), "0 passed, 1 failed");
}

#[test]
fn a_malformed_test_file_is_located() {
    let ws = without_shipped_tests();
    ws.write("rules/tests/bad.toml", "[[case]]\nname = \"x\"\nexpct = 1\n");
    let out = ws.run(&["test"]).code(1);
    assert!(out.stdout.starts_with("rules/tests/bad.toml:3:1: unknown field `expct`"), "{}", out.stdout);
}
