//! `dealflow simulate`: the effect of a rule edit on past data, with the
//! real database left untouched.

mod common;

use common::{Workspace, event, example};
use serde_json::json;

/// A copy of the workspace's playbook, to edit as a candidate.
fn candidate(ws: &Workspace) -> std::path::PathBuf {
    let dir = ws.root().join("candidate");
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::copy(ws.path("config.toml"), dir.join("config.toml")).unwrap();
    for entry in std::fs::read_dir(ws.path("rules")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "rhai") {
            std::fs::copy(&p, dir.join("rules").join(p.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// A candidate that only lowers the key-account revenue threshold to 90,000.
fn lower_threshold(ws: &Workspace) -> std::path::PathBuf {
    let dir = candidate(ws);
    let text = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    std::fs::write(dir.join("config.toml"), text.replace("key_revenue_12m = 150000", "key_revenue_12m = 90000"))
        .unwrap();
    dir
}

fn database_bytes(ws: &Workspace) -> Vec<Vec<u8>> {
    ["dealflow.db", "dealflow.db-wal"].iter().map(|f| std::fs::read(ws.path(f)).unwrap_or_default()).collect()
}

#[test]
fn a_lower_threshold_shows_exactly_the_accounts_that_cross_it_and_touches_nothing() {
    let ws = Workspace::new();
    ws.ingest_file(&example("quarter.jsonl"));
    let dir = lower_threshold(&ws);
    let before = database_bytes(&ws);
    let r = ws.run(&["simulate", "--rules", dir.to_str().unwrap(), "--json"]).success().json();
    assert_eq!(database_bytes(&ws), before, "the database is byte-for-byte unchanged");
    assert_eq!(r["events"], 315);
    // In the quarter, A-5 (101,322) and A-8 (90,299) sold between 90,000 and 150,000.
    assert_eq!(r["accounts_gaining_key"], json!(["A-5", "A-8"]));
    assert_eq!(r["accounts_losing_key"], json!([]));
    let added: Vec<String> =
        r["tasks_added"].as_array().unwrap().iter().map(|t| format!("{} {}", t[0], t[1])).collect();
    assert!(added.iter().any(|t| t.contains("Write the account plan for Copperleaf Retail")), "{added:?}");
    assert!(added.iter().any(|t| t.contains("Write the account plan for Lighthouse Financial Partners")), "{added:?}");
    assert_ne!(r["candidate_version"], r["version_in_force"]);

    // The same rules as in force: no difference.
    let same = ws.run(&["simulate", "--rules", ws.config_dir().to_str().unwrap()]).success();
    assert!(same.stdout.contains("no difference"), "{}", same.stdout);
}

#[test]
fn a_candidate_that_does_not_compile_says_why_and_changes_nothing() {
    let ws = Workspace::new();
    ws.ingest_file(&example("quarter.jsonl"));
    let dir = candidate(&ws);
    std::fs::write(dir.join("rules/broken.rhai"), "fn task_x(event) { let = 1; }").unwrap();
    let before = database_bytes(&ws);
    let out = ws.run(&["simulate", "--rules", dir.to_str().unwrap()]).code(1);
    assert!(out.stderr.contains("do not load") && out.stderr.contains("rules/broken.rhai:1:24"), "{}", out.stderr);
    assert_eq!(database_bytes(&ws), before);
}

#[test]
fn a_second_simulate_remembers_the_replay_in_force_and_reports_exactly_the_same() {
    let ws = Workspace::new();
    ws.ingest_file(&example("quarter.jsonl"));
    let dir = lower_threshold(&ws);
    let simulate = || ws.run(&["simulate", "--rules", dir.to_str().unwrap(), "--json"]).success().stdout;
    let first = simulate();
    let cache = ws.path("dealflow.db.simulate-cache");
    assert!(cache.exists(), "the replays are kept beside the database");
    assert_eq!(simulate(), first, "with the replay in force remembered");
    std::fs::write(&cache, "{\"dealflow\": \"damaged").unwrap();
    assert_eq!(simulate(), first, "a damaged cache is replayed again");
    // History added since: the remembered replay is of fewer events, and is not used.
    // (Some of its lines are rejected: the others are applied.)
    ws.run(&["ingest", example("with-errors.jsonl").to_str().unwrap()]).code(2);
    let more = ws.run(&["simulate", "--rules", dir.to_str().unwrap(), "--json"]).success().json();
    std::fs::remove_file(&cache).unwrap();
    let fresh = ws.run(&["simulate", "--rules", dir.to_str().unwrap(), "--json"]).success().json();
    assert_ne!(more["events"], 315);
    assert_eq!(more, fresh);
}

/// `dir`'s `rules/stages.rhai` without the stage rule `name` (its doc comment and body),
/// found by its name whatever its text.
fn without_rule(dir: &std::path::Path, name: &str) {
    let file = dir.join("rules/stages.rhai");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at =
        lines.iter().position(|l| l.trim_start().starts_with(&format!("fn {name}("))).expect("the rule is shipped");
    let mut start = at;
    while start > 0 && lines[start - 1].trim_start().starts_with("///") {
        start -= 1;
    }
    let (mut end, mut depth, mut opened) = (at, 0i32, false);
    while !(opened && depth == 0) {
        depth += lines[end].matches('{').count() as i32 - lines[end].matches('}').count() as i32;
        opened |= lines[end].contains('{');
        end += 1;
    }
    let kept: Vec<&str> = lines[..start].iter().chain(&lines[end..]).copied().collect();
    std::fs::write(&file, kept.join("\n") + "\n").unwrap();
    assert!(!std::fs::read_to_string(&file).unwrap().contains(name));
}

const GATE: &str = "stage_gate_negotiation";

#[test]
fn removing_the_negotiation_gate_reports_the_refusals_it_made_by_rule_and_the_stage_paths_that_change() {
    let ws = Workspace::new();
    let ingested = ws.ingest_file(&example("quarter.jsonl"));
    let refused = ingested["refused_moves"].as_u64().unwrap() as usize;
    assert!(refused > 0, "the quarter has moves the gate refuses");
    let dir = candidate(&ws);
    without_rule(&dir, GATE);
    let r = ws.run(&["simulate", "--rules", dir.to_str().unwrap(), "--json"]).success().json();

    // Every move the database says was refused is a refusal the candidate does not make.
    let removed = r["refusals_removed"].as_array().unwrap();
    assert_eq!(removed.len(), refused, "{removed:?}");
    assert_eq!(r["refusals_added"], json!([]));
    let gate = removed[0]["rule"].as_str().unwrap().to_string();
    assert!(gate.ends_with(&format!("::{GATE}")), "{gate}");
    for x in removed {
        assert_eq!(x["rule"], gate.as_str());
        assert_eq!(x["requested"], "negotiation");
        assert!(x["reason"].as_str().unwrap().contains("decision maker"), "{x}");
        assert!(x["at"].as_str().unwrap().starts_with("2026-"), "{x}");
    }
    assert_eq!(r["refusals_by_rule"], json!({ gate.as_str(): [0, refused] }));
    // Each refusal removed is one the real database logged for that deal.
    for x in removed {
        let deal = x["deal"].as_str().unwrap();
        let explained = ws.run(&["explain", "deal", deal, "--json"]).success().stdout;
        assert!(explained.contains(GATE), "{deal}: {explained}");
    }

    // D-15 stayed in proposal under the gate; without it, it goes on to negotiation.
    let paths = r["paths_differ"].as_array().unwrap();
    let d15 = paths.iter().find(|p| p["deal"] == "D-15").unwrap_or_else(|| panic!("{paths:?}"));
    let stages = |steps: &serde_json::Value| -> Vec<String> {
        steps
            .as_array()
            .unwrap()
            .iter()
            .map(|s| match s["refused_by"].as_str() {
                Some(_) => format!("refused {}", s["stage"].as_str().unwrap()),
                None => s["stage"].as_str().unwrap().to_string(),
            })
            .collect()
    };
    assert_eq!(stages(&d15["in_force"]), ["lead", "qualified", "proposal", "refused negotiation"]);
    assert_eq!(stages(&d15["candidate"]), ["lead", "qualified", "proposal", "negotiation"]);
    assert_eq!(d15["in_force"][3]["refused_by"], gate.as_str());
    // The old keys are still there, beside the new ones.
    assert_eq!(r["stages_differ"], json!([["D-15", "proposal", "negotiation"]]));
    for key in ["events", "version_in_force", "candidate_version", "since", "tasks_added", "tasks_removed"] {
        assert!(r.get(key).is_some(), "{key}");
    }

    // What a person reads: the counts, then the differences.
    let out = ws.run(&["simulate", "--rules", dir.to_str().unwrap()]).success().stdout;
    assert!(out.contains(&format!("refused moves: +0 -{refused} ({gate} +0 -{refused})")), "{out}");
    assert!(out.contains("D-15: lead -> qualified -> proposal (refused negotiation)\n"), "{out}");
    assert!(out.contains("      lead -> qualified -> proposal -> negotiation\n"), "{out}");
    let counts = out.find("refused moves: +0").unwrap();
    assert!(counts < out.find("D-15: lead").unwrap(), "counts first:\n{out}");
    // At most --limit of each kind, and how many more.
    let one = ws.run(&["simulate", "--rules", dir.to_str().unwrap(), "--limit", "1"]).success().stdout;
    let listed = one.lines().filter(|l| l.contains(&format!("refused by {gate}"))).count();
    assert_eq!(listed, 1, "{one}");
    assert!(one.contains(&format!("... and {} more", refused - 1)), "{one}");
}

#[test]
fn a_lower_threshold_reports_key_changes_over_time_by_rule_even_when_the_key_accounts_end_the_same() {
    let ws = Workspace::new();
    ws.ingest_file(&example("quarter.jsonl"));
    // A-90 sells 100,000 on November 2nd and 60,000 more on November 20th: key
    // on the 20th at 150,000, on the 2nd at 90,000. Key at the end either way.
    ws.ingest(&[
        event(
            "account.upserted",
            "2026-11-01T09:00:00Z",
            json!({"id": "A-90", "name": "Ninety Ltd", "employees": 40, "region": "West", "owner": "Ana Ruiz"}),
        ),
        event(
            "order.placed",
            "2026-11-02T09:00:00Z",
            json!({"id": "O-901", "account_id": "A-90", "amount": 100000, "product": "GTX Pro"}),
        ),
        event(
            "order.placed",
            "2026-11-20T09:00:00Z",
            json!({"id": "O-902", "account_id": "A-90", "amount": 60000, "product": "GTX Pro"}),
        ),
    ]);
    assert!(ws.key_accounts().contains(&"A-90".to_string()));
    let dir = lower_threshold(&ws);
    let r = ws.run(&["simulate", "--rules", dir.to_str().unwrap(), "--json"]).success().json();
    assert_eq!(r["accounts_gaining_key"], json!(["A-5", "A-8"]), "A-90 is key at the end under both");
    let changes = |key: &str| -> Vec<String> {
        r[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                let rule = k["rule"].as_str().unwrap().rsplit("::").next().unwrap().to_string();
                format!(
                    "{} {} {} {}",
                    k["account"].as_str().unwrap(),
                    k["change"].as_str().unwrap(),
                    &k["at"].as_str().unwrap()[..10],
                    rule
                )
            })
            .collect()
    };
    let added = changes("key_changes_added");
    assert!(added.contains(&"A-90 became_key 2026-11-02 key_by_revenue".to_string()), "{added:?}");
    assert!(
        added.iter().any(|k| k.starts_with("A-5 became_key")) && added.iter().any(|k| k.starts_with("A-8 became_key"))
    );
    assert_eq!(added.len(), 3, "{added:?}");
    assert_eq!(changes("key_changes_removed"), ["A-90 became_key 2026-11-20 key_by_revenue"]);
    let by_rule = r["key_changes_by_rule"].as_object().unwrap();
    assert_eq!(by_rule.len(), 1, "{by_rule:?}");
    let (rule, counts) = by_rule.iter().next().unwrap();
    assert!(rule.ends_with("::key_by_revenue"), "{rule}");
    assert_eq!(counts, &json!([3, 1]));
    // A candidate's reason tells the threshold it crossed.
    let a90 = r["key_changes_added"].as_array().unwrap().iter().find(|k| k["account"] == "A-90").unwrap();
    assert!(a90["reason"].as_str().unwrap().contains("90,000"), "{a90}");

    let out = ws.run(&["simulate", "--rules", dir.to_str().unwrap()]).success().stdout;
    assert!(out.contains(&format!("key changes: +3 -1 ({rule} +3 -1)")), "{out}");
    assert!(out.contains(&format!("+ 2026-11-02 A-90 became key by {rule}: ")), "{out}");
    assert!(out.contains(&format!("- 2026-11-20 A-90 became key by {rule}: ")), "{out}");
    // --since: only what happened from then on.
    let late =
        ws.run(&["simulate", "--rules", dir.to_str().unwrap(), "--since", "2026-11-10", "--json"]).success().json();
    assert_eq!(late["key_changes_added"], json!([]));
    assert_eq!(late["key_changes_removed"].as_array().unwrap().len(), 1);
}

#[test]
fn the_remembered_replay_in_force_keeps_its_refusals_paths_and_key_changes() {
    let ws = Workspace::new();
    ws.ingest_file(&example("quarter.jsonl"));
    let old = ws.root().join("old");
    std::fs::rename(candidate(&ws), &old).unwrap();
    let dir = candidate(&ws);
    without_rule(&dir, GATE);
    let simulate = || ws.run(&["simulate", "--rules", dir.to_str().unwrap(), "--json"]).success().json();
    let first = simulate();
    assert!(ws.path("dealflow.db.simulate-cache").exists());
    let again = simulate();
    assert_eq!(again, first);
    assert!(!again["refusals_removed"].as_array().unwrap().is_empty());
    assert!(!again["paths_differ"].as_array().unwrap().is_empty());
    // The candidate put in force and the old rules as the candidate: the same, the other way round.
    std::fs::copy(dir.join("rules/stages.rhai"), ws.path("rules/stages.rhai")).unwrap();
    let back = ws.run(&["simulate", "--rules", old.to_str().unwrap(), "--json"]).success().json();
    assert_eq!(back["refusals_added"], first["refusals_removed"]);
    assert_eq!(back["refusals_removed"], json!([]));
}
