//! `dealflow bench`: both runs happen, the per-rule table adds up, and the
//! config folder's own database is never touched.

mod common;

use common::Workspace;

#[test]
fn bench_reports_baseline_engine_rules_and_memory_without_touching_the_store() {
    let ws = Workspace::new();
    let out = ws.run(&["bench", "--events", "3000", "--accounts", "60", "--seed", "9", "--json"]).success();
    let v = out.json();
    assert_eq!(v["events"], 3000);
    assert_eq!(v["baseline"]["events"], 3000, "{v}");
    assert_eq!(v["engine"]["events"], 3000, "{v}");
    for phase in ["baseline", "engine"] {
        assert!(v[phase]["events_per_second"].as_f64().unwrap() > 0.0, "{v}");
        if cfg!(target_os = "linux") {
            assert!(v[phase]["peak_memory_bytes"].as_u64().unwrap() > 1 << 20, "{v}");
        }
    }
    let ratio = v["ratio_to_baseline"].as_f64().unwrap();
    let expected =
        v["engine"]["events_per_second"].as_f64().unwrap() / v["baseline"]["events_per_second"].as_f64().unwrap();
    assert!((ratio - expected).abs() < 1e-9 * expected.max(1.0), "{v}");

    // Every rule that ran is listed; their calls add up to the evaluations.
    let rules = v["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["rule"].as_str().unwrap().starts_with("key_")), "{v}");
    assert!(rules.iter().any(|r| r["rule"].as_str().unwrap().starts_with("task_")), "{v}");
    let calls: u64 = rules.iter().map(|r| r["calls"].as_u64().unwrap()).sum();
    assert_eq!(calls, v["rule_evaluations"].as_u64().unwrap());
    assert!(rules.iter().all(|r| r["file"].as_str().unwrap().starts_with("rules/") && r["line"].as_u64().unwrap() > 0));
    let seconds: Vec<f64> = rules.iter().map(|r| r["seconds"].as_f64().unwrap()).collect();
    assert!(seconds.windows(2).all(|w| w[0] >= w[1]), "slowest first: {seconds:?}");

    assert!(!ws.path("dealflow.db").exists(), "bench wrote to the config folder's database");
}

#[test]
fn the_same_seed_gives_the_same_decisions() {
    let ws = Workspace::new();
    let run = |seed: &str| {
        let v = ws.run(&["bench", "--events", "1500", "--accounts", "30", "--seed", seed, "--json"]).success().json();
        v["counts"].clone()
    };
    let first = run("5");
    assert_eq!(first, run("5"));
    assert_ne!(first, run("6"));
}

/// The engine decides the same on both backends: with `--in-memory` the
/// stream is ingested a second time into the in-memory backend, and every
/// count (tasks, stage moves, refusals, key-account changes, rule errors,
/// rejections, duplicates) is the same as into SQLite.
#[test]
fn the_engine_decides_the_same_in_memory_as_in_sqlite() {
    let ws = Workspace::new();
    let v = ws
        .run(&["bench", "--events", "4000", "--accounts", "80", "--seed", "3", "--in-memory", "--json"])
        .success()
        .json();
    assert_eq!(v["in_memory"]["events"], 4000, "{v}");
    assert!(v["counts"]["tasks_created"].as_u64().unwrap() > 100, "{v}");
    assert_eq!(v["in_memory_counts"], v["counts"], "{v}");
    let plain = ws.run(&["bench", "--events", "100", "--accounts", "5", "--json"]).success().json();
    assert!(plain["in_memory"].is_null(), "only asked for: {plain}");
}
