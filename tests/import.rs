//! `dealflow import` as a user meets it: a config folder from `dealflow
//! init`, a CRM export imported into it, the result read back with
//! `status`, `accounts`, `deals` and `tasks` (all `--json`), and the same
//! import run again to show it changes nothing.
//!
//! The sample CRM is read from `../shared/data/crm-sales-opportunities`
//! beside the repository (its licence keeps it out of the repository); the
//! tests that need it say so on stderr and pass when it is absent. Expected
//! numbers are counted from its CSV files here, not written down.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use common::{Workspace, array, example};
use serde_json::Value;

/// The sample CRM, when it is there.
fn sample_crm() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/crm-sales-opportunities");
    if dir.join("sales_pipeline.csv").is_file() {
        Some(dir)
    } else {
        // Straight to stderr: the test harness captures eprintln! of passing tests.
        let _ =
            writeln!(std::io::stderr(), "SKIPPED: {} is not there; the sample CRM import is not tested", dir.display());
        None
    }
}

/// The rows of a CSV file as column → value maps.
fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers.iter().zip(r.iter()).map(|(h, v)| (h.to_string(), v.trim().to_string())).collect()
        })
        .collect()
}

/// The id the importer gives an account: its name in lowercase words joined by dashes.
fn slug(name: &str) -> String {
    name.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join("-")
}

fn squeeze(product: &str) -> String {
    product.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

fn count_rows(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

/// Tasks as comparable text: id, role, assignee, status, title.
fn task_lines(ws: &Workspace) -> Vec<String> {
    ws.tasks()
        .iter()
        .map(|t| format!("{} {} {} {} {}", t["id"], t["role"], t["assignee"], t["status"], t["title"]))
        .collect()
}

#[test]
fn the_sample_crm_imports_with_history_and_a_second_import_changes_nothing() {
    let Some(crm) = sample_crm() else { return };
    let accounts_csv = rows(&crm.join("accounts.csv"));
    let teams_csv = rows(&crm.join("sales_teams.csv"));
    let products_csv = rows(&crm.join("products.csv"));
    let pipeline_csv = rows(&crm.join("sales_pipeline.csv"));
    let stage_of = |s: &str| match s {
        "Prospecting" => "lead",
        "Engaging" => "qualified",
        "Won" => "won",
        "Lost" => "lost",
        other => panic!("a stage the test does not know: {other}"),
    };
    let closed = |s: &str| s == "Won" || s == "Lost";
    let with_account: Vec<_> = pipeline_csv.iter().filter(|r| !r["account"].is_empty()).collect();
    let open_without_account =
        pipeline_csv.iter().filter(|r| r["account"].is_empty() && !closed(&r["deal_stage"])).count();
    let closed_without_account =
        pipeline_csv.iter().filter(|r| r["account"].is_empty() && closed(&r["deal_stage"])).count();
    assert!(open_without_account > 0, "the sample has accountless open deals");

    let ws = Workspace::new();
    // The default playbook as shipped: key accounts must come out sensible
    // on this sample as it is (about a hundred small deals per customer).
    let config_before = ws.read("config.toml");

    let out = ws.run(&["import", "crm-sales-opportunities", crm.to_str().unwrap(), "--json"]).success();
    let first = out.json();

    // Every row is accounted for, file by file.
    let files: BTreeMap<String, Value> =
        array(first["files"].clone()).into_iter().map(|f| (f["file"].as_str().unwrap().to_string(), f)).collect();
    for (file, n) in [
        ("accounts.csv", accounts_csv.len()),
        ("sales_teams.csv", teams_csv.len()),
        ("products.csv", products_csv.len()),
        ("sales_pipeline.csv", pipeline_csv.len()),
    ] {
        let f = &files[file];
        assert_eq!(f["rows"], n, "{file}: {f}");
        let outcomes: u64 = f["outcomes"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(outcomes, n as u64, "{file}: every row has an outcome: {f}");
    }
    let pipeline = &files["sales_pipeline.csv"]["outcomes"];
    assert_eq!(pipeline["deals"], with_account.len());
    assert_eq!(pipeline["leads"], open_without_account);
    assert_eq!(array(first["leads"].clone()).len(), open_without_account, "each lead is listed");
    assert_eq!(array(first["closed_without_account"].clone()).len(), closed_without_account);
    assert_eq!(first["rejected_rows"], Value::Array(vec![]));
    assert_eq!(first["rejected"], 0);
    let closing = with_account.iter().filter(|r| closed(&r["deal_stage"])).count();
    let events = accounts_csv.len() + with_account.len() + closing + open_without_account;
    assert_eq!(first["events"], events, "an account, a deal's opening and close, a lead: one event each");
    assert_eq!(first["applied"], events);
    assert_eq!(first["duplicates"], 0);
    let spellings = array(first["product_spellings"].clone());
    assert!(
        spellings.iter().any(|s| s["written"] == "GTXPro" && s["product"] == "GTX Pro"),
        "GTXPro is read as GTX Pro: {spellings:?}"
    );
    assert_eq!(first["unmatched_products"], Value::Array(vec![]));

    // The roster: every agent a sales rep of their office, every manager a sales manager; comments kept.
    let config = ws.read("config.toml");
    assert!(config.starts_with(&config_before[..config_before.find("[[team]]").unwrap()]), "the top is untouched");
    for comment in ["# The team. Tasks go to the owner", "# Numbers the rules read as `settings.NAME`"] {
        assert!(config.contains(comment), "{comment:?} is kept");
    }
    let team: toml::Table = toml::from_str(&config).unwrap();
    let team: HashMap<String, (String, Option<String>)> = team["team"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let region = p.get("region").and_then(|r| r.as_str()).map(str::to_string);
            (p["name"].as_str().unwrap().to_string(), (p["role"].as_str().unwrap().to_string(), region))
        })
        .collect();
    for r in &teams_csv {
        assert_eq!(team[&r["sales_agent"]], ("sales_rep".to_string(), Some(r["regional_office"].clone())));
        assert_eq!(team[&r["manager"]].0, "sales_manager");
    }
    let added = array(first["roster"]["added"].clone()).len();
    let managers: BTreeSet<&str> = teams_csv.iter().map(|r| r["manager"].as_str()).collect();
    assert_eq!(added, teams_csv.len() + managers.len());

    // Accounts: all of them, with ids from their names, revenue in units and parents.
    let accounts = ws.accounts();
    assert_eq!(accounts.len(), accounts_csv.len());
    let by_id: HashMap<&str, &Value> = accounts.iter().map(|a| (a["id"].as_str().unwrap(), a)).collect();
    for r in &accounts_csv {
        let a = by_id.get(slug(&r["account"]).as_str()).unwrap_or_else(|| panic!("no account for {}", r["account"]));
        assert_eq!(a["name"], r["account"].as_str());
        let revenue: f64 = r["revenue"].parse().unwrap();
        let got = a["data"]["annual_revenue"].as_f64().unwrap();
        assert!((got - revenue * 1_000_000.0).abs() < 1.0, "{}: {got} for {revenue} million", r["account"]);
        assert_eq!(a["data"]["employees"].as_i64().unwrap().to_string(), r["employees"]);
        let parent = (!r["subsidiary_of"].is_empty()).then(|| slug(&r["subsidiary_of"]));
        assert_eq!(a["parent_id"].as_str(), parent.as_deref(), "{}", r["account"]);
    }

    // Deals: every deal has its account, its mapped stage, its amount and its owner.
    let prices: HashMap<String, f64> =
        products_csv.iter().map(|p| (squeeze(&p["product"]), p["sales_price"].parse().unwrap())).collect();
    let deals = ws.deals();
    assert_eq!(deals.len(), with_account.len());
    let deal_of: HashMap<&str, &Value> = deals.iter().map(|d| (d["id"].as_str().unwrap(), d)).collect();
    let mut other_stage = 0;
    for r in &with_account {
        let d = deal_of[r["opportunity_id"].as_str()];
        assert!(by_id.contains_key(d["account_id"].as_str().unwrap()), "deal {} has its account", d["id"]);
        assert_eq!(d["account_id"], slug(&r["account"]).as_str());
        assert_eq!(d["owner"], r["sales_agent"].as_str());
        if d["stage"] != stage_of(&r["deal_stage"]) {
            other_stage += 1;
        }
        let amount = d["amount"].as_f64().unwrap();
        let want =
            if closed(&r["deal_stage"]) { r["close_value"].parse().unwrap() } else { prices[&squeeze(&r["product"])] };
        assert_eq!(amount, want, "deal {}", d["id"]);
    }
    // A move the rules refuse leaves a deal where it was; nothing else may.
    assert!(other_stage as u64 <= first["refused_moves"].as_u64().unwrap(), "{other_stage} deals in another stage");
    let db = ws.path("dealflow.db");
    assert_eq!(count_rows(&db, "leads"), open_without_account as i64, "accountless open deals became leads");

    // Key accounts: some, far from all; a subsidiary of a key account is key too.
    let key: BTreeSet<String> = ws.key_accounts().into_iter().collect();
    assert!(!key.is_empty() && key.len() < accounts_csv.len() / 3, "{} key accounts: {key:?}", key.len());
    for a in &accounts {
        if let Some(parent) = a["parent_id"].as_str()
            && key.contains(parent)
        {
            assert!(key.contains(a["id"].as_str().unwrap()), "{} has a key parent", a["id"]);
        }
    }

    // Tasks for several roles, and for the imported people.
    let status = ws.status();
    let busy: Vec<&String> = status["open_tasks"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, n)| n.as_i64() > Some(0))
        .map(|(r, _)| r)
        .collect();
    assert!(busy.len() >= 4, "open tasks for {busy:?}");
    assert_eq!(status["accounts"], accounts_csv.len());
    assert_eq!(status["deals"], with_account.len());
    let tasks_before = task_lines(&ws);
    let agents: BTreeSet<&str> = teams_csv.iter().map(|r| r["sales_agent"].as_str()).collect();
    assert!(
        ws.tasks().iter().any(|t| t["assignee"].as_str().is_some_and(|a| agents.contains(a))),
        "the imported reps get tasks about their deals"
    );

    // Again: nothing applied, everything a duplicate, nobody added, nothing changed.
    let second = ws.run(&["import", "crm-sales-opportunities", crm.to_str().unwrap(), "--json"]).success().json();
    assert_eq!(second["events"], first["events"]);
    assert_eq!(second["applied"], 0);
    assert_eq!(second["duplicates"], first["events"]);
    assert_eq!(second["tasks_created"], 0);
    assert_eq!(second["stage_moves"], 0);
    assert_eq!(second["key_account_changes"], 0);
    assert_eq!(array(second["roster"]["added"].clone()).len(), 0);
    assert_eq!(second["roster"]["already_there"], added);
    assert_eq!(ws.read("config.toml"), config, "config.toml is not written again");
    let again = ws.status();
    for k in ["accounts", "deals", "key_accounts", "open_tasks"] {
        assert_eq!(again[k], status[k], "{k}");
    }
    assert_eq!(task_lines(&ws), tasks_before);
}

#[test]
fn emit_writes_the_events_in_time_order_and_changes_nothing() {
    let Some(crm) = sample_crm() else { return };
    let ws = Workspace::new();
    let config = ws.read("config.toml");
    let file = ws.root().join("crm.jsonl");
    let out = ws
        .run(&["import", "crm-sales-opportunities", crm.to_str().unwrap(), "--emit", file.to_str().unwrap(), "--json"])
        .success();
    let summary = out.json();
    assert_eq!(ws.read("config.toml"), config, "--emit leaves the roster alone");
    assert!(!array(summary["roster"]["added"].clone()).is_empty(), "but says whom it would add");
    assert_eq!(summary["roster"]["written"], false);
    assert!(!ws.path("dealflow.db").exists(), "nothing was applied");

    let text = std::fs::read_to_string(&file).unwrap();
    let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len() as u64, summary["events"].as_u64().unwrap());
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in business-time order");
    let ids: BTreeSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "ids are unique");
    // Each deal opens before it closes, each account before its subsidiaries and deals.
    let mut seen_accounts = BTreeSet::new();
    let mut open_deals = BTreeSet::new();
    for e in &events {
        let d = &e["data"];
        match e["type"].as_str().unwrap() {
            "account.upserted" => {
                if let Some(p) = d["parent_id"].as_str() {
                    assert!(seen_accounts.contains(p), "{} before its parent {p}", d["id"]);
                }
                seen_accounts.insert(d["id"].as_str().unwrap().to_string());
            }
            "deal.upserted" => {
                assert!(seen_accounts.contains(d["account_id"].as_str().unwrap()), "{e}");
                let id = d["id"].as_str().unwrap().to_string();
                if d["stage"] == "won" || d["stage"] == "lost" {
                    assert!(open_deals.contains(&id), "{id} closes after it opens");
                } else {
                    open_deals.insert(id);
                }
            }
            "lead.created" => assert_eq!(d["source"], "crm import"),
            other => panic!("unexpected {other}"),
        }
    }

    // The same export gives the same events, to standard output too.
    let stdout = ws.run(&["import", "crm-sales-opportunities", crm.to_str().unwrap(), "--emit", "-"]).success();
    assert_eq!(stdout.stdout, text);
    assert!(stdout.stderr.contains("leads made from open deals without an account"), "the summary goes to stderr");
}

/// A small export written by the test, with a few problems in it.
fn small_export(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let files = [
        (
            "accounts.csv",
            "account,sector,year_established,revenue,employees,office_location,subsidiary_of\n\
             Kid Co,retail,2001,1.5,12,Italy,Top & Co\n\
             Top & Co,medical,1980,2000,5000,United States,\n",
        ),
        (
            "sales_teams.csv",
            "sales_agent,manager,regional_office\nAna Ruiz,Farah Haddad,West\nNew Rep,Farah Haddad,East\n",
        ),
        ("products.csv", "product,series,sales_price\nGTX Pro,GTX,4821\n"),
        (
            "sales_pipeline.csv",
            "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\n\
             D1,New Rep,GTXPro,Kid Co,Won,2017-01-10,2017-02-01,4500\n\
             D2,New Rep,Gizmo,Top & Co,Engaging,2017-01-11,,\n\
             D3,New Rep,GTX Pro,Top & Co,Stalled,2017-01-12,,\n\
             D4,Ana Ruiz,GTX Pro,,Prospecting,,,\n\
             D5,Ana Ruiz,GTX Pro,,Lost,2017-01-02,2017-01-05,0\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

#[test]
fn rejected_rows_are_named_by_file_and_row_and_no_roster_leaves_config_alone() {
    let ws = Workspace::new();
    let export = ws.root().join("export");
    small_export(&export);
    let config = ws.read("config.toml");
    let out = ws.run(&["import", "crm-sales-opportunities", export.to_str().unwrap(), "--no-roster"]).code(2);
    assert_eq!(ws.read("config.toml"), config, "--no-roster");
    assert!(
        out.stderr.contains("sales_pipeline.csv:4: rejected: deal_stage \"Stalled\" has no pipeline stage"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout
            .contains("sales_pipeline.csv: 5 rows: 1 closed deals without an account, 2 deals, 1 leads, 1 rejected"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("sales_pipeline.csv:6: Lost deal D5 names no account"), "{}", out.stdout);
    assert!(out.stdout.contains("sales_pipeline.csv:3: \"Gizmo\" is not in products.csv"), "{}", out.stdout);
    assert!(out.stdout.contains("sales_pipeline.csv:5: lead D4"), "{}", out.stdout);
    assert_eq!(ws.stage("D1"), "won");
    assert_eq!(ws.deal("D2")["product"], "Gizmo", "kept as written");
    assert_eq!(ws.account("kid-co")["parent_id"], "top-co");

    // With the roster: only the new rep and nobody twice; the next import adds nobody.
    let json = ws.run(&["import", "crm-sales-opportunities", export.to_str().unwrap(), "--json"]).code(2).json();
    let added: Vec<&str> =
        json["roster"]["added"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(added, ["New Rep"], "Ana Ruiz and Farah Haddad are on the default roster");
    assert_eq!(json["applied"], 0, "the events were applied by the first import");
    let config = ws.read("config.toml");
    assert!(config.contains("name = \"New Rep\"\nrole = \"sales_rep\"\nregion = \"East\""), "{config}");
    let json = ws.run(&["import", "crm-sales-opportunities", export.to_str().unwrap(), "--json"]).code(2).json();
    assert_eq!(json["roster"]["added"], Value::Array(vec![]));
    assert_eq!(ws.read("config.toml"), config);
}

#[test]
fn a_csv_export_with_the_example_mapping() {
    let ws = Workspace::new();
    let csv_file = example("import/salesforce-opportunities.csv");
    let map = example("import/salesforce-opportunities.toml");
    let csv_rows = rows(&csv_file);
    let args = ["import", "csv", csv_file.to_str().unwrap(), "--mapping", map.to_str().unwrap(), "--json"];
    let first = ws.run(&args).success().json();
    let accounts: BTreeSet<&str> = csv_rows.iter().map(|r| r["Account ID"].as_str()).collect();
    assert_eq!(first["events"], accounts.len() + csv_rows.len(), "an account event per account, a deal per row");
    assert_eq!(first["applied"], first["events"]);
    assert_eq!(ws.accounts().len(), accounts.len());
    let stages = BTreeMap::from([
        ("Prospecting", "lead"),
        ("Qualification", "qualified"),
        ("Needs Analysis", "qualified"),
        ("Value Proposition", "qualified"),
        ("Proposal/Price Quote", "proposal"),
        ("Negotiation/Review", "negotiation"),
        ("Closed Won", "won"),
        ("Closed Lost", "lost"),
    ]);
    let mut other_stage = 0;
    for r in &csv_rows {
        let d = ws.deal(&r["Opportunity ID"]);
        assert_eq!(d["account_id"], r["Account ID"].as_str());
        assert_eq!(d["owner"], r["Opportunity Owner"].as_str());
        if !r["Amount"].is_empty() {
            assert_eq!(d["amount"].as_f64().unwrap(), r["Amount"].replace(',', "").parse::<f64>().unwrap());
        }
        let (m, dd, y) = {
            let p: Vec<&str> = r["Close Date"].split('/').collect();
            (p[0], p[1], p[2])
        };
        assert_eq!(d["data"]["expected_close"], format!("{y}-{m}-{dd}"));
        if d["stage"] != stages[r["Stage"].as_str()] {
            other_stage += 1;
        }
    }
    assert!(other_stage as u64 <= first["refused_moves"].as_u64().unwrap());

    let second = ws.run(&args).success().json();
    assert_eq!((second["applied"].as_u64(), second["duplicates"].as_u64()), (Some(0), first["events"].as_u64()));

    // A copy with a row missing its account is applied but for that row, named by its number.
    let broken = ws.root().join("broken.csv");
    let mut text = std::fs::read_to_string(&csv_file).unwrap();
    text.push_str("0065g00000Qa99AAA,Orphan deal,,,,,,Prospecting,100,12/01/2026,,Ana Ruiz,Web,2026-10-20T09:00:00Z\n");
    std::fs::write(&broken, &text).unwrap();
    let row = text.lines().count();
    let out = ws.run(&["import", "csv", broken.to_str().unwrap(), "--mapping", map.to_str().unwrap()]).code(2);
    assert!(
        out.stderr.contains(&format!("broken.csv:{row}: rejected:")) && out.stderr.contains("\"Account ID\" is empty"),
        "{}",
        out.stderr
    );

    // Without a mapping, or with one naming a column the file lacks: nothing happens.
    let out = ws.run(&["import", "csv", csv_file.to_str().unwrap()]).code(1);
    assert!(out.stderr.contains("--mapping"), "{}", out.stderr);
    let bad_map = ws.root().join("bad.toml");
    std::fs::write(&bad_map, std::fs::read_to_string(&map).unwrap().replace("\"Opportunity Owner\"", "\"Owner\""))
        .unwrap();
    let out = ws.run(&["import", "csv", csv_file.to_str().unwrap(), "--mapping", bad_map.to_str().unwrap()]).code(1);
    assert!(out.stderr.contains("column \"Owner\" is not in the header"), "{}", out.stderr);
}

#[test]
fn history_before_tasks_since_decides_everything_but_makes_no_tasks() {
    let Some(crm) = sample_crm() else { return };
    let crm = crm.to_str().unwrap();
    let all = Workspace::new();
    let everything = all.run(&["import", "crm-sales-opportunities", crm, "--json"]).success().json();
    let recent = Workspace::new();
    let out =
        recent.run(&["import", "crm-sales-opportunities", crm, "--tasks-since", "2017-12-01", "--json"]).success();
    let s = out.json();
    // The same history decided: stages, key accounts and owners as with every task made.
    for k in ["applied", "stage_moves", "refused_moves", "key_account_changes", "owner_changes"] {
        assert_eq!(s[k], everything[k], "{k}");
    }
    assert_eq!(recent.key_accounts(), all.key_accounts());
    // Tasks only for December 2017: fewer by what the history asked for.
    let skipped = s["tasks_skipped_as_history"].as_u64().unwrap();
    assert!(skipped > 1000, "{s}");
    assert!(s["tasks_created"].as_u64().unwrap() < everything["tasks_created"].as_u64().unwrap());
    let tasks = recent.tasks();
    assert!(!tasks.is_empty());
    for t in &tasks {
        assert!(t["created_at"].as_str().unwrap() >= "2017-12-01", "{t}");
    }
    let bad = recent.run(&["import", "crm-sales-opportunities", crm, "--tasks-since", "last year"]).code(64);
    assert!(bad.stderr.contains("'last year' for '--tasks-since <DATE>': not a time"), "{}", bad.stderr);
}
