//! `dealflow check` against the names rules write: a stage renamed in
//! `config.toml` alone, a part written where a stage's name belongs, roles,
//! people and settings the config does not have; every problem at its
//! `FILE:LINE:COL`, in file and line order.

mod common;

use common::Workspace;
use common::events::{account, activity, deal};

/// A config of its own (not the shipped one, which another change may
/// reshape): the stage names are the test's to rename.
fn config(lead: &str, parts: &str) -> String {
    format!(
        r#"
[pipeline]
stages = ["{lead}", "qualified", "proposal", "negotiation", "won", "lost"]
won = ["won"]
lost = ["lost"]
{parts}
[pipeline.stage_days]
"{lead}" = 14
qualified = 14

[roles.sales_rep]
assign = "owner"
[roles.sales_manager]
assign = "least_loaded"

[[team]]
name = "Ana Ruiz"
role = "sales_rep"

[[team]]
name = "Sam Lee"
role = "sales_manager"

[settings]
big_deal_amount = 100000
"#
    )
}

/// Rules written for a pipeline whose first stage is "lead", naming it in
/// every way a rule can (and once in a comment, which is no use of it).
const RULES: &str = r#"// Rules that name the stage "lead".
fn stage_qualify(deal) {
    if deal.stage == "lead" && deal.activities.meeting > 0 {
        return move_to("qualified", "first meeting held");
    }
}

fn stage_hold_back(deal) {
    if deal.requested_stage in ["lead", "qualified"] && deal.amount < 0 {
        return refuse("no amount");
    }
}

fn stage_back_to_start(deal) {
    if at_or_after(deal.stage, "qualified") && before(deal.stage, "lead") {
        return move_to("lead", "start again");
    }
}

fn task_welcome(event, deal) {
    let from = event.data.from;
    if event.type == "deal.stage_changed" && (event.data.to == "lead" || from == "lead") {
        return task("sales_rep", `Call about ${deal.name}`);
    }
}

fn task_stuck(event, deal) {
    if event.type == "deal.stuck" {
        switch deal.stage {
            "lead" => task("sales_rep", `Qualify ${deal.name}`),
            "qualified" | "proposal" => task("sales_rep", `Move ${deal.name} on`),
            _ => (),
        }
    }
}
"#;

/// `rules/FILE:LINE:COL: ` of each `"lead"` in the rules outside comments:
/// the column of its first letter.
fn places_of_lead(file: &str, text: &str) -> Vec<String> {
    let mut places = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        for (at, _) in line.match_indices("\"lead\"") {
            places.push(format!("{file}:{}:{}: ", i + 1, line[..at].chars().count() + 2));
        }
    }
    places
}

fn workspace(config_text: &str, rules: &[(&str, &str)]) -> Workspace {
    let ws = Workspace::new();
    for entry in std::fs::read_dir(ws.path("rules")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "rhai") {
            std::fs::remove_file(path).unwrap();
        }
    }
    ws.write("config.toml", config_text);
    for (name, text) in rules {
        ws.write(&format!("rules/{name}"), text);
    }
    ws
}

#[test]
fn renaming_a_stage_in_config_alone_names_every_place_the_old_name_is_used() {
    let ws = workspace(&config("lead", ""), &[("pipeline.rhai", RULES)]);
    let out = ws.run(&["check"]).success();
    assert!(out.stdout.starts_with("ok: "), "{}", out.stdout);

    ws.write("config.toml", &config("Lead In", ""));
    let out = ws.run(&["check"]).code(1);
    let expected = places_of_lead("rules/pipeline.rhai", RULES);
    assert_eq!(expected.len(), 7, "the rules name the old stage in 7 places");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), expected.len(), "one line per place:\n{}", out.stdout);
    for (line, place) in lines.iter().zip(&expected) {
        assert!(line.starts_with(place), "{line:?} is not at {place:?}:\n{}", out.stdout);
        assert!(line.contains(r#"unknown stage "lead""#), "{line}");
        assert!(line.contains(r#"did you mean "Lead In"?"#), "{line}");
        assert!(line.contains(r#"add lead = "Lead In" under [pipeline.parts]"#), "{line}");
    }
    assert!(out.stderr.contains(&format!("{} problems found", expected.len())), "{}", out.stderr);
}

#[test]
fn a_part_where_a_stage_name_belongs_says_to_write_stage_and_move_to_takes_parts() {
    let parts = "[pipeline.parts]\nlead = \"Lead In\"";
    let rules = "fn stage_qualify(deal) {\n    if deal.stage == \"lead\" && deal.activities.meeting > 0 {\n        return move_to(\"qualified\", \"met\");\n    }\n}\n";
    let ws = workspace(&config("Lead In", parts), &[("stages.rhai", rules)]);
    let out = ws.run(&["check"]).code(1);
    assert_eq!(
        out.stdout.trim_end(),
        r#"rules/stages.rhai:2:23: deal.stage holds a stage's own name, and "lead" is a part in [pipeline.parts] (the stage "Lead In"): write stage("lead")"#
    );

    // Written as it says, the rule checks clean and moves a deal; `move_to` takes a part too.
    let rules = "fn stage_qualify(deal) {\n    if deal.stage == stage(\"lead\") && deal.activities.meeting > 0 {\n        return move_to(\"next\", \"met\");\n    }\n}\n";
    ws.write("rules/stages.rhai", rules);
    ws.write("config.toml", &config("Lead In", &format!("{parts}\nnext = \"qualified\"")));
    ws.run(&["check"]).success();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme", serde_json::json!({})),
        deal("2026-11-02T09:00:00Z", "D-1", "A-1", "Acme deal", 5000, "Ana Ruiz"),
        activity("2026-11-03T09:00:00Z", "A-1", Some("D-1"), None, "meeting"),
    ]);
    assert_eq!(ws.stage("D-1"), "qualified");
}

#[test]
fn roles_people_and_settings_a_rule_names_are_checked() {
    let rules = r#"fn task_escalate(event, deal, settings) {
    let t = event.data.task;
    if event.type == "task.overdue" && t.role != "sales_mngr" && deal.owner == "Ana Ruis" {
        return task("sales_manager", "Overdue", #{ assignee: "Sam Le", due_in_days: settings["big_deal_amout"] });
    }
}
"#;
    let ws = workspace(&config("lead", ""), &[("tasks.rhai", rules)]);
    let out = ws.run(&["check"]).code(1);
    let at = |needle: &str| {
        let (i, line) = rules.lines().enumerate().find(|(_, l)| l.contains(needle)).unwrap();
        format!("rules/tasks.rhai:{}:{}: ", i + 1, line.find(needle).unwrap() + 1)
    };
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            format!(
                r#"{}unknown role "sales_mngr": not in [roles] of config.toml (did you mean "sales_manager"?)"#,
                at("sales_mngr")
            ),
            format!(
                r#"{}unknown person "Ana Ruis": not on the team ([[team]] of config.toml) (did you mean "Ana Ruiz"?)"#,
                at("Ana Ruis\"")
            ),
            format!(
                r#"{}unknown person "Sam Le": not on the team ([[team]] of config.toml) (did you mean "Sam Lee"?)"#,
                at("Sam Le\"")
            ),
            format!(
                r#"{}unknown setting "big_deal_amout": add it to [settings] in config.toml (did you mean "big_deal_amount"?)"#,
                at("big_deal_amout")
            ),
        ]
    );
}

#[test]
fn problems_are_printed_in_file_line_and_column_order() {
    // Two mistakes in config.toml, the later one in the file found first by the loader.
    let text =
        format!("[clock]\ntarget_behind_share = 2\n{}", config("lead", "").replace("qualified = 14", "qualifed = 14"));
    let ws = workspace(&text, &[("a.rhai", RULES)]);
    let out = ws.run(&["check"]).code(1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(lines[0].contains("clock.target_behind_share"), "{}", out.stdout);
    assert!(lines[1].contains("qualifed"), "{}", out.stdout);

    // Rule problems in two files: each file's in line and column order.
    let bad = |name: &str| {
        format!(
            "fn task_{name}(deal) {{\n    if deal.owner == \"Nobody\" {{ return task(\"nobody_role\", \"x\"); }}\n    if deal.stage == \"lost_it\" {{ return (); }}\n}}\n"
        )
    };
    let ws = workspace(&config("lead", ""), &[("b.rhai", &bad("b")), ("a.rhai", &bad("a"))]);
    let out = ws.run(&["check"]).code(1);
    let places: Vec<(String, usize, usize)> = out
        .stdout
        .lines()
        .map(|l| {
            let mut p = l.splitn(4, ':');
            let file = p.next().unwrap().to_string();
            (file, p.next().unwrap().parse().unwrap(), p.next().unwrap().parse().unwrap())
        })
        .collect();
    assert_eq!(places.len(), 6, "{}", out.stdout);
    let mut sorted = places.clone();
    sorted.sort();
    assert_eq!(places, sorted, "{}", out.stdout);
}

#[test]
fn the_modules_rules_import_are_checked_too() {
    let rules = "fn stage_qualify(deal) {\n    import \"lib/stages\" as s;\n    if s::early(deal) { return move_to(\"qualified\", \"met\"); }\n}\n";
    let module = "fn early(deal) {\n    deal.stage == \"lead\"\n}\n";
    let ws = workspace(&config("Lead In", ""), &[("stages.rhai", rules), ("lib/stages.rhai", module)]);
    let out = ws.run(&["check"]).code(1);
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(out.stdout.starts_with(r#"rules/lib/stages.rhai:2:20: unknown stage "lead""#), "{}", out.stdout);
}
