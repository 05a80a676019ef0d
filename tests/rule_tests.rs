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

#[test]
fn the_shipped_tests_still_pass_when_the_team_gains_crm_ids() {
    let ws = Workspace::new();
    // Every person of the default roster gets an id: the store now keeps
    // them by id, and the tests still name them by name.
    let text = ws.read("config.toml");
    let mut n = 0;
    let with_ids: String = text
        .lines()
        .map(|line| {
            if line.starts_with("name = ") {
                n += 1;
                format!("{line}\nid = {}\n", 1000 + n)
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert!(n >= 5, "{text}");
    ws.write("config.toml", &with_ids);
    let out = ws.run(&["test"]).success();
    assert!(out.stdout.trim_end().ends_with(" passed, 0 failed"), "{}", out.stdout);

    // A wrong expectation names the person who did get the task, by name.
    std::fs::remove_dir_all(ws.path("rules/tests")).unwrap();
    ws.write(
        "rules/tests/mine.toml",
        r#"
[[case]]
name = "the deal's owner prepares the proposal"
[[case.events]]
type = "deal.upserted"
at = "2026-11-06T09:00:00Z"
data = { id = "D-1", account_id = "A-1", name = "Acme lab", owner = "1001" }
[[case.events]]
type = "contact.upserted"
at = "2026-11-06T09:01:00Z"
data = { id = "C-1", account_id = "A-1", name = "Cy", role = "other" }
[[case.events]]
type = "activity.logged"
at = "2026-11-06T10:00:00Z"
data = { id = "X-1", account_id = "A-1", deal_id = "D-1", contact_id = "C-1", kind = "meeting" }
[[case.expect.tasks_include]]
role = "sales_rep"
title = "Prepare the proposal for Acme lab"
assignee = "Ben Okafor"
"#,
    );
    let out = ws.run(&["test"]).code(1);
    assert!(out.stdout.contains(r#"assignee "Ben Okafor" expected, got "Ana Ruiz""#), "{}", out.stdout);
    ws.edit("rules/tests/mine.toml", "assignee = \"Ben Okafor\"", "assignee = \"Ana Ruiz\"");
    ws.run(&["test"]).success();
    ws.edit("rules/tests/mine.toml", "assignee = \"Ana Ruiz\"", "assignee = \"1001\"");
    ws.run(&["test"]).success();
}
