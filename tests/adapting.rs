//! Adapting the default playbook to another CRM's pipeline by editing
//! config.toml only, as a sales-ops person would: `dealflow init`, rename the
//! stages, say which stage plays which part, `check`, `test`, `ingest`.

mod common;

use common::Workspace;
use common::events::{account, activity, contact, deal, request_stage};
use serde_json::json;

/// A pipeline of another CRM and the parts its stages play.
struct Crm {
    stages: &'static [&'static str],
    won: &'static str,
    lost: &'static str,
    lead: &'static str,
    qualified: &'static str,
    proposal: &'static str,
    negotiation: &'static str,
    /// An open stage between qualified and negotiation (not gated).
    between: &'static str,
    /// An open stage after negotiation (gated like negotiation), if the pipeline has one.
    after: Option<&'static str>,
}

/// Pipedrive's default pipeline, and one stage more (9 in all).
const PIPEDRIVE: Crm = Crm {
    stages: &[
        "Lead In",
        "Contact Made",
        "Needs Defined",
        "Demo Scheduled",
        "Proposal Made",
        "Negotiations Started",
        "Contract Sent",
        "Won",
        "Lost",
    ],
    won: "Won",
    lost: "Lost",
    lead: "Lead In",
    qualified: "Contact Made",
    proposal: "Proposal Made",
    negotiation: "Negotiations Started",
    between: "Demo Scheduled",
    after: Some("Contract Sent"),
};

/// Salesforce's 10 standard opportunity stages.
const SALESFORCE: Crm = Crm {
    stages: &[
        "Prospecting",
        "Qualification",
        "Needs Analysis",
        "Value Proposition",
        "Id. Decision Makers",
        "Perception Analysis",
        "Proposal/Price Quote",
        "Negotiation/Review",
        "Closed Won",
        "Closed Lost",
    ],
    won: "Closed Won",
    lost: "Closed Lost",
    lead: "Prospecting",
    qualified: "Qualification",
    proposal: "Proposal/Price Quote",
    negotiation: "Negotiation/Review",
    between: "Needs Analysis",
    after: None,
};

fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

/// `dealflow init`, then config.toml edited (and nothing else) for `crm`:
/// the stages, the closing stages, the parts, the stuck limits, the import's stage map.
fn adapted(crm: &Crm) -> Workspace {
    let ws = Workspace::new();
    let c = "config.toml";
    ws.edit(
        c,
        r#"stages = ["lead", "qualified", "proposal", "negotiation", "won", "lost"]"#,
        &format!("stages = [{}]", quoted(crm.stages)),
    );
    ws.edit(c, r#"won = ["won"]"#, &format!("won = [{:?}]", crm.won));
    ws.edit(c, r#"lost = ["lost"]"#, &format!("lost = [{:?}]", crm.lost));
    let parts = [
        ("lead", crm.lead),
        ("qualified", crm.qualified),
        ("proposal", crm.proposal),
        ("negotiation", crm.negotiation),
    ];
    if ws.read(c).contains("[pipeline.parts]") {
        for (part, stage) in parts {
            ws.edit(c, &format!("{part} = {part:?}"), &format!("{part} = {stage:?}"));
        }
    } else {
        // A config.toml without the table (as written before it existed).
        let table: String = parts.iter().map(|(part, stage)| format!("{part} = {stage:?}\n")).collect();
        ws.edit(c, "\n[pipeline.stage_days]\n", &format!("\n[pipeline.parts]\n{table}\n[pipeline.stage_days]\n"));
    }
    // The same limits as before for the stages that play the parts; 21 days for the others.
    let open = &crm.stages[..crm.stages.len() - 2];
    let days: String = open
        .iter()
        .map(|s| {
            let d = match *s {
                s if s == crm.lead || s == crm.qualified => 14,
                s if s == crm.negotiation => 30,
                _ => 21,
            };
            format!("{s:?} = {d}\n")
        })
        .collect();
    ws.edit(c, "lead = 14\nqualified = 14\nproposal = 21\nnegotiation = 30\n", &days);
    ws.edit(
        c,
        "Prospecting = \"lead\"\nEngaging = \"qualified\"\nWon = \"won\"\nLost = \"lost\"\n",
        &format!(
            "Prospecting = {:?}\nEngaging = {:?}\nWon = {:?}\nLost = {:?}\n",
            crm.lead, crm.qualified, crm.won, crm.lost
        ),
    );
    ws
}

/// `check` is clean and the shipped rule tests pass.
fn check_and_test(ws: &Workspace) {
    let out = ws.run(&["check"]).success();
    assert!(out.stdout.starts_with("ok: "), "{}", out.stdout);
    assert!(!out.stdout.contains("warning") && !out.stderr.contains("warning"), "{}{}", out.stdout, out.stderr);
    let out = ws.run(&["test"]).success();
    let last = out.stdout.trim_end().lines().last().unwrap().to_string();
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 20 && last.ends_with(" passed, 0 failed"), "{}", out.stdout);
}

/// Events move deals through the adapted pipeline, the gate holds (at the
/// negotiation stage and after it) and follow-ups are made.
fn rules_still_fire(ws: &Workspace, crm: &Crm, rep: &str) {
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Globex", json!({"owner": rep})),
        contact("2026-11-02T08:01:00Z", "C-1", "A-1", "other"),
        contact("2026-11-02T08:02:00Z", "C-2", "A-1", "buyer"),
        deal("2026-11-02T09:00:00Z", "D-1", "A-1", "Globex NOC", 60000, rep),
        deal("2026-11-02T09:01:00Z", "D-2", "A-1", "Globex desks", 5000, rep),
        deal("2026-11-02T09:02:00Z", "D-3", "A-1", "Globex chairs", 3000, rep),
    ]);
    assert_eq!(ws.stage("D-1"), crm.lead, "a deal starts in the first stage");

    ws.ingest(&[activity("2026-11-03T10:00:00Z", "A-1", Some("D-1"), Some("C-1"), "meeting")]);
    assert_eq!(ws.stage("D-1"), crm.qualified);
    assert_eq!(ws.task_titled("Prepare the proposal for Globex NOC")["assignee"], rep);

    ws.ingest(&[activity("2026-11-04T10:00:00Z", "A-1", Some("D-1"), None, "proposal_sent")]);
    assert_eq!(ws.stage("D-1"), crm.proposal);
    ws.task_titled("Get a decision maker on Globex NOC");

    // No decision maker yet: a move to negotiation, or past it, is refused.
    let mut gated = vec![crm.negotiation];
    gated.extend(crm.after);
    for (i, stage) in gated.iter().enumerate() {
        let s = ws.ingest(&[request_stage(&format!("2026-11-05T1{i}:00:00Z"), "D-1", "A-1", stage)]);
        assert_eq!((&s["refused_moves"], &s["stage_moves"]), (&json!(1), &json!(0)), "{stage}");
        assert_eq!(ws.stage("D-1"), crm.proposal, "{stage}");
        ws.task_titled(&format!(
            "Before moving Globex NOC to {stage}: no decision maker engaged yet: meet a buyer, technical decision maker or executive first"
        ));
    }
    assert!(ws.tasks_titled("Close Globex NOC").is_empty());
    // A move to an open stage before negotiation is not gated.
    let s = ws.ingest(&[request_stage("2026-11-05T15:00:00Z", "D-2", "A-1", crm.between)]);
    assert_eq!((&s["refused_moves"], &s["stage_moves"]), (&json!(0), &json!(1)));
    assert_eq!(ws.stage("D-2"), crm.between);

    // A meeting with the buyer: negotiation, and its follow-ups.
    let s = ws.ingest(&[activity("2026-11-06T10:00:00Z", "A-1", Some("D-1"), Some("C-2"), "meeting")]);
    assert_eq!((&s["refused_moves"], &s["stage_moves"]), (&json!(0), &json!(1)));
    assert_eq!(ws.stage("D-1"), crm.negotiation);
    assert_eq!(ws.task_titled("Close Globex NOC: agree terms")["assignee"], rep);
    ws.task_titled("Prepare order paperwork for Globex NOC");
    ws.task_titled(&format!("Big deal in {}: Globex NOC (60,000)", crm.negotiation));
    if let Some(after) = crm.after {
        let s = ws.ingest(&[request_stage("2026-11-09T10:00:00Z", "D-1", "A-1", after)]);
        assert_eq!((&s["refused_moves"], &s["stage_moves"]), (&json!(0), &json!(1)), "met: not gated");
        assert_eq!(ws.stage("D-1"), after);
    }

    ws.ingest(&[request_stage("2026-11-10T10:00:00Z", "D-1", "A-1", crm.won)]);
    assert_eq!(ws.stage("D-1"), crm.won);
    ws.task_titled("Process the order for Globex NOC (60,000)");

    // A deal left in its first stage is stuck after the same 14 days, and says where.
    ws.run(&["tick", "--now", "2026-11-17T09:00:00Z"]).success();
    ws.task_titled(&format!("Globex chairs has been in {} for 14 days: move it on", crm.lead));
    assert!(ws.tasks_titled("Globex desks has been").is_empty(), "21 days in {}", crm.between);
}

#[test]
fn the_default_playbook_adapted_to_a_pipedrive_pipeline_by_config_alone() {
    let ws = adapted(&PIPEDRIVE);
    check_and_test(&ws);
    rules_still_fire(&ws, &PIPEDRIVE, "Ana Ruiz");
}

/// Salesforce's stages, and a team of its own: other people, other regions.
#[test]
fn the_default_playbook_adapted_to_salesforces_stages_and_team_by_config_alone() {
    let ws = adapted(&SALESFORCE);
    let c = "config.toml";
    for (from, to) in [
        ("Ana Ruiz", "Walter Brandt"),
        ("Ben Okafor", "Kim Park"),
        ("Chloe Martin", "Zoe Adams"),
        ("Dana Whitfield", "Sam Ortiz"),
        ("Eli Novak", "Lou Chen"),
        ("Farah Haddad", "Ravi Mehta"),
        ("Gus Lindqvist", "Nora Berg"),
        ("Ines Moreau", "Tariq Aziz"),
        ("Hana Sato", "Mia Rossi"),
    ] {
        ws.edit(c, &format!("name = {from:?}"), &format!("name = {to:?}"));
    }
    for (from, to) in [("West", "EMEA"), ("East", "APAC"), ("Central", "Americas")] {
        let text = ws.read(c).replace(&format!("region = {from:?}"), &format!("region = {to:?}"));
        ws.write(c, &text);
    }
    check_and_test(&ws);
    rules_still_fire(&ws, &SALESFORCE, "Walter Brandt");
}

/// The default pipeline with one more open stage after negotiation: a deal
/// cannot skip past the gate to it.
#[test]
fn the_negotiation_gate_holds_every_open_stage_after_negotiation() {
    let ws = Workspace::new();
    ws.edit("config.toml", r#""negotiation", "won""#, r#""negotiation", "contract_sent", "won""#);
    ws.run(&["check"]).success();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Globex", json!({"owner": "Ana Ruiz"})),
        contact("2026-11-02T08:01:00Z", "C-1", "A-1", "executive"),
        deal("2026-11-02T09:00:00Z", "D-1", "A-1", "Globex NOC", 30000, "Ana Ruiz"),
    ]);
    let s = ws.ingest(&[request_stage("2026-11-03T10:00:00Z", "D-1", "A-1", "contract_sent")]);
    assert_eq!((&s["refused_moves"], &s["stage_moves"]), (&json!(1), &json!(0)));
    assert_eq!(ws.stage("D-1"), "lead");
    ws.task_titled("Before moving Globex NOC to contract_sent: no decision maker engaged yet: meet a buyer, technical decision maker or executive first");
    // Closing is the CRM's to ask for: never gated.
    let s = ws.ingest(&[request_stage("2026-11-04T10:00:00Z", "D-1", "A-1", "lost")]);
    assert_eq!((&s["refused_moves"], &s["stage_moves"]), (&json!(0), &json!(1)));
    assert_eq!(ws.stage("D-1"), "lost");

    // With the executive met, the same move goes through.
    ws.ingest(&[
        deal("2026-11-05T09:00:00Z", "D-2", "A-1", "Globex desks", 5000, "Ana Ruiz"),
        activity("2026-11-05T10:00:00Z", "A-1", Some("D-2"), Some("C-1"), "call"),
    ]);
    let s = ws.ingest(&[request_stage("2026-11-06T10:00:00Z", "D-2", "A-1", "contract_sent")]);
    assert_eq!((&s["refused_moves"], &s["stage_moves"]), (&json!(0), &json!(1)));
    assert_eq!(ws.stage("D-2"), "contract_sent");
}

/// A part the rules use, left out of [pipeline.parts]: `check` names each
/// place a rule uses it.
#[test]
fn check_points_at_each_use_of_a_part_the_pipeline_does_not_have() {
    let ws = adapted(&PIPEDRIVE);
    ws.edit("config.toml", "proposal = \"Proposal Made\"", "# proposal = \"Proposal Made\"");
    let out = ws.run(&["check"]).code(1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let uses: usize = ["stages", "tasks_sales"]
        .iter()
        .map(|f| {
            let text = ws.read(&format!("rules/{f}.rhai"));
            text.lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .map(|l| l.matches("\"proposal\"").count())
                .sum::<usize>()
        })
        .sum();
    assert!(uses >= 3, "{uses}");
    assert_eq!(lines.len(), uses, "{}", out.stdout);
    for line in lines {
        assert!(line.starts_with("rules/stages.rhai:") || line.starts_with("rules/tasks_sales.rhai:"), "{line}");
        assert!(
            line.contains(": unknown stage \"proposal\": ")
                && line.ends_with(
                    "(did you mean \"Proposal Made\"? if it plays the part proposal, add proposal = \"Proposal Made\" under [pipeline.parts])"
                ),
            "{line}"
        );
    }
}

/// The team's people and regions renamed, the pipeline kept: the shipped
/// rule tests name people by role, so they still pass.
#[test]
fn the_shipped_rule_tests_pass_for_a_team_of_other_names() {
    let ws = Workspace::new();
    let c = "config.toml";
    for (from, to) in [("Ana Ruiz", "Ada Lovelace"), ("Dana Whitfield", "Grace Hopper"), ("Gus Lindqvist", "Alan Kay")]
    {
        ws.edit(c, &format!("name = {from:?}"), &format!("name = {to:?}"));
    }
    let text = ws.read(c).replace("region = \"West\"", "region = \"Nordics\"");
    ws.write(c, &text);
    let out = ws.run(&["test"]).success();
    assert!(out.stdout.trim_end().ends_with(" passed, 0 failed"), "{}", out.stdout);
    // A sales coordinator away: the tests that need two in turn say so, at their place.
    ws.edit(c, "name = \"Ines Moreau\"\n", "name = \"Ines Moreau\"\nactive = false\n");
    let out = ws.run(&["test"]).code(1);
    assert!(
        out.stdout.contains(": {sales_coordinator:2}: [[team]] in config.toml has 1 active sales_coordinator (this test needs at least 2)"),
        "{}",
        out.stdout
    );
}

/// Where the playbook's behaviour did change, the shipped tests say so.
#[test]
fn the_shipped_tests_fail_where_an_adapted_playbook_behaves_differently() {
    let ws = adapted(&PIPEDRIVE);
    check_and_test(&ws);

    // The negotiation gate removed from the rules.
    let rules = ws.read("rules/stages.rhai");
    let gate = rules.find("/// Nobody negotiates").expect("the gate rule");
    ws.write("rules/stages.rhai", &rules[..gate]);
    ws.run(&["check"]).success();
    let out = ws.run(&["test"]).code(1);
    assert!(
        out.stdout.contains("stages: a move to negotiation is refused until a decision maker is met ... FAILED"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("deal D-7: expected stage Lead In, got Negotiations Started"), "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "- missing task: sales_rep \"Before moving Northwind scanners to Negotiations Started: no decision maker"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.trim_end().ends_with(" passed, 2 failed"), "{}", out.stdout);
    ws.write("rules/stages.rhai", &rules);

    // A config change that changes behaviour: big deals (and large orders,
    // a fifth of it) from 60,000 on.
    ws.edit("config.toml", "big_deal_amount = 50000", "big_deal_amount = 60000");
    let out = ws.run(&["test"]).code(1);
    assert!(
        out.stdout.contains(
            "- missing task: sales_manager \"Big deal in Negotiations Started: Eastgate fleet tablets (50,000)\""
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("- missing task: sales_coordinator \"Confirm delivery of order O-7 for Cedar Foods\""),
        "{}",
        out.stdout
    );
    assert!(out.stdout.trim_end().ends_with(" passed, 2 failed"), "{}", out.stdout);
}

/// A rule test's placeholder config.toml does not know fails its case, at
/// its place; the other cases run.
#[test]
fn an_unknown_placeholder_in_a_rule_test_is_reported_with_its_file_line_and_column() {
    let ws = Workspace::new();
    std::fs::remove_dir_all(ws.path("rules/tests")).unwrap();
    ws.write(
        "rules/tests/a.toml",
        r#"[[case]]
name = "a rep calls"
[[case.events]]
type = "lead.created"
at = "2026-11-06T09:00:00Z"
data = { id = "L-1", company = "Acme", owner = "{sales_rep}" }
[[case.expect.tasks]]
role = "sales_rep"
title = "Call new lead Acme"
assignee = "{sales_rep:9}"
[[case.expect.tasks]]
role = "sales_rep"
title = "Move it past {stage:negotiaton}"

[[case]]
name = "the first rep owns the account"
[[case.events]]
type = "account.upserted"
at = "2026-11-06T09:00:00Z"
data = { id = "A-1", name = "Acme", owner = "{sales_rep}" }
[case.expect]
owners = { "A-1" = "{sales_rep:1}" }
"#,
    );
    let out = ws.run(&["test"]).code(1);
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "rules/tests/a.toml: a rep calls ... FAILED",
            "    rules/tests/a.toml:10:13: {sales_rep:9}: [[team]] in config.toml has 3 active sales_rep (this test needs at least 9)",
            "    rules/tests/a.toml:13:23: {stage:negotiaton}: \"negotiaton\" is neither a stage of pipeline.stages nor a part in [pipeline.parts] of config.toml (did you mean \"negotiation\"?)",
            "rules/tests/a.toml: the first rep owns the account ... ok",
            "1 passed, 1 failed",
        ],
        "{}",
        out.stdout
    );
}
