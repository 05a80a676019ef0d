//! The CLI end to end on PostgreSQL: the same command sequences run on a
//! SQLite config folder and on one whose store is a PostgreSQL database, and
//! their outputs (`--json`) compared. Equal outputs are what "unchanged
//! otherwise" means; only what legitimately differs (the store's location,
//! wall-clock stamps of claims and closes) is left out of the comparison.
//!
//! Without `DEALFLOW_TEST_PG` each test says `SKIPPED: … no PostgreSQL` and
//! passes (see tests/common/pg.rs and .ci/pg-cluster).

mod common;

use std::path::{Path, PathBuf};

use common::{Output, Workspace, array, example};
use serde_json::{Value, json};

/// Keys whose values are wall-clock stamps or the store's location and kind
/// (`status`'s backend, engine lease and processes: tests/lease.rs checks
/// them): they differ between any two runs, on one backend or two.
const VOLATILE: &[&str] = &[
    "database",
    "claimed_at",
    "released_at",
    "closed_at",
    "loaded_at",
    "rules_loaded_at",
    "backend",
    "lease",
    "processes",
];

/// `value` with the volatile keys replaced by a marker (present or null),
/// so that their presence still counts.
fn steady(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if VOLATILE.contains(&k.as_str()) {
                        if v.is_null() { Value::Null } else { json!("<set>") }
                    } else {
                        steady(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(steady).collect()),
        other => other.clone(),
    }
}

/// One step of a sequence: what was run, its exit code, and its output made
/// comparable (JSON when it is JSON, else the text with the workspace's
/// folder replaced).
fn step(ws: &Workspace, out: Output) -> Value {
    let stdout = match serde_json::from_str::<Value>(&wall_clock_named(&out.stdout)) {
        Ok(v) => steady(&v),
        Err(_) => Value::String(out.stdout.replace(ws.root().to_str().unwrap(), "<root>")),
    };
    let stderr = wall_clock_named(&out.stderr.replace(ws.root().to_str().unwrap(), "<root>"));
    let stdout = match stdout {
        Value::String(text) => Value::String(wall_clock_named(&text)),
        json => json,
    };
    let args: Vec<String> = out.args.iter().map(|a| a.replace(ws.root().to_str().unwrap(), "<root>")).collect();
    json!({"args": args, "code": out.code, "stdout": stdout, "stderr": stderr})
}

/// `text` with today's wall-clock stamps (`2026-12-03T07:05:07Z`, of a claim
/// or a close) replaced by `<now>`; business times are the events'.
fn wall_clock_named(text: &str) -> String {
    let today = chrono::Utc::now();
    [today, today - chrono::Duration::days(1)]
        .iter()
        .fold(text.to_string(), |text, day| stamps_named(&text, &day.format("%Y-%m-%dT").to_string()))
}

/// `text` with each `PREFIXhh:mm:ssZ` replaced by `<now>`.
fn stamps_named(text: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let end = at + prefix.len() + 9;
        out.push_str(&rest[..at]);
        if rest.len() >= end && rest.as_bytes()[end - 1] == b'Z' {
            out.push_str("<now>");
            rest = &rest[end..];
        } else {
            out.push_str(prefix);
            rest = &rest[at + prefix.len()..];
        }
    }
    out + rest
}

/// Move a claimed task's claim `minutes` into the past, as if its worker had
/// vanished then (in whichever store the workspace has).
fn backdate_claim(ws: &Workspace, task: i64, minutes: i64) {
    let at = dealflow::time::stamp(chrono::Utc::now() - chrono::Duration::minutes(minutes));
    let n = match &ws.pg {
        Some(db) => db
            .client()
            .execute("UPDATE tasks SET claimed_at = $1 WHERE id = $2 AND status = 'claimed'", &[&at, &task])
            .unwrap(),
        None => {
            let db = rusqlite::Connection::open(ws.path("dealflow.db")).unwrap();
            db.execute("UPDATE tasks SET claimed_at = ?1 WHERE id = ?2 AND status = 'claimed'", (at, task)).unwrap()
                as u64
        }
    };
    assert_eq!(n, 1, "task {task} is not claimed");
}

/// A copy of the workspace's playbook with the key-account threshold lowered.
fn candidate(ws: &Workspace) -> PathBuf {
    let dir = ws.root().join("candidate");
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    let config = ws.read("config.toml").replace("key_revenue_12m = 150000", "key_revenue_12m = 90000");
    std::fs::write(dir.join("config.toml"), config).unwrap();
    for entry in std::fs::read_dir(ws.path("rules")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "rhai") {
            std::fs::copy(&p, dir.join("rules").join(p.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// Ingest (with rejected lines, then duplicates), tick twice, claim, finish,
/// cancel, a lapsed claim taken back, explain, simulate, status and the
/// listings. Returns every step's comparable output.
fn the_day_of_a_team(ws: &Workspace) -> Vec<Value> {
    let mut steps = Vec::new();
    let mut run = |args: &[&str]| {
        let out = ws.run(args);
        let json = out.json_or_null();
        steps.push(step(ws, out));
        json
    };
    let quarter = example("quarter.jsonl");
    let errors = example("with-errors.jsonl");
    let first = run(&["ingest", "--json", quarter.to_str().unwrap()]);
    assert_eq!(first["applied"], 315, "{first}");
    let bad = run(&["ingest", "--json", errors.to_str().unwrap()]);
    assert!(bad["rejected"].as_u64().unwrap() > 0, "{bad}");
    let again = run(&["ingest", "--json", quarter.to_str().unwrap()]);
    assert_eq!(again["duplicates"], 315, "{again}");
    run(&["tick", "--now", "2026-10-20T09:00:00Z", "--json"]);
    run(&["tick", "--now", "2026-10-20T09:00:00Z", "--json"]);
    run(&["tick", "--now", "2026-11-20T09:00:00Z", "--json"]);
    run(&["tasks", "--json"]);
    let claimed = run(&["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz", "--count", "3", "--json"]);
    let ids: Vec<String> = array(claimed).iter().map(|t| t["id"].to_string()).collect();
    assert_eq!(ids.len(), 3);
    run(&["tasks", "done", &ids[0], "--outcome", "met the buyer", "--as", "Ana Ruiz", "--json"]);
    run(&["tasks", "cancel", &ids[1], "--reason", "duplicate", "--as", "Ana Ruiz", "--json"]);
    // Ana's worker vanished five hours ago: her next claim takes the task back first.
    backdate_claim(ws, ids[2].parse().unwrap(), 300);
    let back = run(&["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz", "--json"]);
    assert_eq!((&back["id"].to_string(), &back["released_from"]), (&ids[2], &json!("Ana Ruiz")), "{back}");
    run(&["tasks", "done", &ids[2], "--as", "Ben Okafor"]);
    run(&["tasks", "done", &ids[2], "--as", "Ana Ruiz"]);
    run(&["tasks", "claim", "--role", "account_manager", "--as", "Zoe Park", "--outside", "--count", "2", "--json"]);
    run(&["tasks", "--json"]);
    for (kind, id) in [("deal", "D-1"), ("deal", "D-7"), ("account", "A-1"), ("account", "A-5"), ("task", &ids[0])] {
        run(&["explain", kind, id, "--json"]);
    }
    run(&["explain", "task", &ids[1]]);
    run(&["explain", "deal", "D-404", "--json"]);
    let dir = candidate(ws);
    let sim = run(&["simulate", "--rules", dir.to_str().unwrap(), "--json"]);
    assert_eq!(sim["accounts_gaining_key"], json!(["A-5", "A-8"]), "{sim}");
    run(&["simulate", "--rules", dir.to_str().unwrap()]);
    run(&["accounts", "--json"]);
    run(&["deals", "--json"]);
    run(&["status", "--json"]);
    steps
}

trait JsonOrNull {
    fn json_or_null(&self) -> Value;
}

impl JsonOrNull for Output {
    fn json_or_null(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or(Value::Null)
    }
}

/// The steps with the workspace's rules versions (in force and candidate)
/// named by their role: config.toml names the store, so the version (a hash
/// of config and rules) differs between the two folders and only there.
fn versions_named(ws: &Workspace, steps: &[Value]) -> Vec<Value> {
    let mut text = serde_json::to_string(steps).unwrap();
    let in_force = ws.status()["rules_version"].as_str().unwrap().to_string();
    text = text.replace(&in_force, "<version in force>");
    for s in steps {
        if let Some(v) = s["stdout"]["candidate_version"].as_str() {
            text = text.replace(v, "<candidate version>");
        }
    }
    serde_json::from_str(&text).unwrap()
}

/// Both step lists equal, step by step, showing the first that differs.
fn assert_same(sqlite: &[Value], postgres: &[Value]) {
    assert_eq!(sqlite.len(), postgres.len());
    for (s, p) in sqlite.iter().zip(postgres) {
        assert_eq!(
            s,
            p,
            "`dealflow {}` differs\n--- SQLite\n{}\n--- PostgreSQL\n{}",
            s["args"],
            serde_json::to_string_pretty(s).unwrap(),
            serde_json::to_string_pretty(p).unwrap()
        );
    }
}

#[test]
fn ingest_tick_claims_explain_simulate_and_status_say_the_same_on_postgres_as_on_sqlite() {
    let Some(pg) = Workspace::on_postgres("ingest_tick_claims_explain_simulate_and_status_say_the_same") else {
        return;
    };
    let sqlite = Workspace::new();
    for ws in [&sqlite, &pg] {
        ws.add_namesakes();
    }
    let on_sqlite = versions_named(&sqlite, &the_day_of_a_team(&sqlite));
    let on_postgres = versions_named(&pg, &the_day_of_a_team(&pg));
    assert_same(&on_sqlite, &on_postgres);
    // And the store really was PostgreSQL: nothing was written beside config.toml.
    assert!(!pg.path("dealflow.db").exists(), "no SQLite file on PostgreSQL");
    assert!(pg.status()["database"].as_str().unwrap().starts_with("postgres://"));
}

#[test]
fn rejected_lines_name_file_and_line_and_a_second_ingest_skips_duplicates_on_postgres() {
    let Some(ws) = Workspace::on_postgres("rejected_lines_name_file_and_line_on_postgres") else { return };
    let errors = example("with-errors.jsonl");
    let out = ws.run(&["ingest", errors.to_str().unwrap()]).code(2);
    assert!(out.stderr.contains("with-errors.jsonl:2:"), "{}", out.stderr);
    let summary = ws.run(&["ingest", "--json", errors.to_str().unwrap()]).code(2).json();
    assert_eq!(summary["applied"], 0, "{summary}");
    assert!(summary["duplicates"].as_u64().unwrap() > 0, "{summary}");
    let mut client = ws.pg.as_ref().unwrap().client();
    let rejected: i64 = client.query_one("SELECT count(*) FROM rejected_events", &[]).unwrap().get(0);
    assert!(rejected > 0);
}

/// The sample CRM (read where it lies), when it is there.
fn sample_crm() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/crm-sales-opportunities");
    if dir.join("sales_pipeline.csv").is_file() {
        return Some(dir);
    }
    let dir = Path::new("/work/shared/data/crm-sales-opportunities");
    if dir.join("sales_pipeline.csv").is_file() {
        return Some(dir.to_path_buf());
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED: the sample CRM is not there; its import on PostgreSQL is not tested");
    None
}

#[test]
fn importing_the_sample_crm_and_a_csv_export_says_the_same_on_postgres_as_on_sqlite() {
    let Some(crm) = sample_crm() else { return };
    let Some(pg) = Workspace::on_postgres("importing_the_sample_crm_and_a_csv_export_says_the_same") else { return };
    let sqlite = Workspace::new();
    // The first rows of the pipeline (with every account, team and product):
    // the whole file takes minutes on PostgreSQL in a debug build, and the
    // comparison needs variety, not volume. Written to a temporary folder.
    let part = tempfile::tempdir().unwrap();
    for file in ["accounts.csv", "sales_teams.csv", "products.csv"] {
        std::fs::copy(crm.join(file), part.path().join(file)).unwrap();
    }
    let pipeline = std::fs::read_to_string(crm.join("sales_pipeline.csv")).unwrap();
    let head: Vec<&str> = pipeline.lines().take(1 + 700).collect();
    std::fs::write(part.path().join("sales_pipeline.csv"), head.join("\n") + "\n").unwrap();
    let crm = part.path().to_str().unwrap();
    // And a CSV export with its mapping (the example shipped in the repository).
    let (sf_csv, sf_map) =
        (example("import/salesforce-opportunities.csv"), example("import/salesforce-opportunities.toml"));
    let (sf_csv, sf_map) = (sf_csv.to_str().unwrap(), sf_map.to_str().unwrap());
    let sequence = |ws: &Workspace| {
        let mut steps = Vec::new();
        for args in [
            &["import", "crm-sales-opportunities", crm, "--tasks-since", "2017-12-01", "--json"][..],
            &["import", "crm-sales-opportunities", crm, "--json"],
            &["status", "--json"],
            &["tasks", "--json"],
            &["accounts", "--json"],
            &["explain", "account", "acme-corporation", "--json"],
            &["import", "csv", sf_csv, "--mapping", sf_map, "--json"],
            &["import", "csv", sf_csv, "--mapping", sf_map, "--json"],
            &["deals", "--json"],
        ] {
            steps.push(step(ws, ws.run(args)));
        }
        steps
    };
    let on_sqlite = versions_named(&sqlite, &sequence(&sqlite));
    for s in &on_sqlite {
        assert_eq!(s["code"], 0, "{s}");
    }
    let on_postgres = versions_named(&pg, &sequence(&pg));
    // The second import changes nothing.
    assert_eq!(on_postgres[1]["stdout"]["applied"], 0, "{}", on_postgres[1]);
    assert!(on_postgres[6]["stdout"]["applied"].as_u64().unwrap() > 0, "{}", on_postgres[6]);
    assert_eq!(on_postgres[7]["stdout"]["applied"], 0, "{}", on_postgres[7]);
    assert_same(&on_sqlite, &on_postgres);
}
