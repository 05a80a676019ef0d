//! dealflow's side of the peer benchmark: the default playbook's key-account
//! and stage rules (`config.toml` and `rules/*.rhai` of the repository root,
//! loaded and checked as `dealflow check` does), run on the prepared inputs
//! and combined as the engine's `decide_key` and `decide_stage` combine them.
//!
//! Each input becomes the map the rules see (`dealflow::facts::account` and
//! `::deal`, the same builders the engine uses) before the clock starts; only
//! rule evaluation and combining the results into a decision are timed.
//!
//! ```text
//! dealflow-peer [--dir ../..] [--work ../work] [--min-passes 2] [--min-seconds 3] [--only key|stage]
//! ```
//! prints one JSON line per decision (see `peers/README.md`).

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use dealflow::config::Pipeline;
use dealflow::model::{Account, AccountStats, Contract, Deal, DealStats};
use dealflow::playbook::Playbook;
use dealflow::rules::{Facts, Rule, RuleKind, RuleSet};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct AccountIn {
    id: String,
    name: String,
    sector: String,
    employees: i64,
    revenue_12m: f64,
    open_deals: i64,
    open_pipeline: f64,
    longest_active_contract_months: i64,
    is_key: bool,
    parent_id: Option<String>,
    parent_is_key: bool,
}

#[derive(Deserialize)]
struct DealIn {
    id: String,
    account_id: Option<String>,
    product: String,
    owner: String,
    amount: f64,
    stage: String,
    stage_entered_at: String,
    activities: serde_json::Map<String, Value>,
    decision_maker_met: bool,
    requested_stage: Option<String>,
}

struct Args {
    dir: PathBuf,
    work: PathBuf,
    budget: Budget,
    /// `key`, `stage` or both (None): to profile one decision alone.
    only: Option<String>,
}

/// How many timed passes: at least `min_passes`, and more until `min_seconds` of timed work.
#[derive(Clone, Copy)]
struct Budget {
    min_passes: usize,
    min_seconds: f64,
}

fn args() -> Args {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut a = Args {
        dir: here.join("../.."),
        work: here.join("../work"),
        budget: Budget { min_passes: 2, min_seconds: 3.0 },
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| die(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--dir" => a.dir = value().into(),
            "--work" => a.work = value().into(),
            "--only" => a.only = Some(value()),
            "--min-passes" => a.budget.min_passes = value().parse().unwrap_or_else(|_| die("--min-passes: a number")),
            "--min-seconds" => {
                a.budget.min_seconds = value().parse().unwrap_or_else(|_| die("--min-seconds: a number"))
            }
            _ => die(&format!("unknown argument {flag}")),
        }
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("dealflow-peer: {msg}");
    std::process::exit(1)
}

fn lines<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Vec<T> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| die(&format!("{}: {e}", path.display())));
    std::io::BufReader::new(file)
        .lines()
        .map(|l| serde_json::from_str(&l.expect("read")).unwrap_or_else(|e| die(&format!("{}: {e}", path.display()))))
        .collect()
}

/// FNV-1a over the decision codes, in input order: the same in every peer.
fn digest(codes: &[u32]) -> String {
    let mut h: u32 = 2166136261;
    for c in codes {
        h = (h ^ c).wrapping_mul(16777619);
    }
    format!("{h:08x}")
}

/// The store's view of a prepared account, as `Store::account` and `account_stats` would give it.
fn account_facts(a: AccountIn, at: DateTime<Utc>) -> Facts {
    let mut data = serde_json::Map::new();
    data.insert("name".into(), json!(a.name));
    data.insert("sector".into(), json!(a.sector));
    data.insert("employees".into(), json!(a.employees));
    let account = Account { id: a.id, data, parent_id: a.parent_id, is_key: a.is_key, ..Account::default() };
    let contracts = if a.longest_active_contract_months > 0 {
        // Active on the as-of date, lasting exactly that many months.
        let start = chrono::NaiveDate::from_ymd_opt(2017, 6, 1).unwrap();
        let end = start + chrono::Months::new(a.longest_active_contract_months as u32);
        vec![Contract { id: "C-1".into(), start: start.to_string(), end: end.to_string(), annual_value: 0.0 }]
    } else {
        Vec::new()
    };
    let stats = AccountStats {
        revenue_12m: a.revenue_12m,
        open_deals: a.open_deals,
        open_pipeline: a.open_pipeline,
        contracts,
        parent_is_key: a.parent_is_key,
        ..AccountStats::default()
    };
    Facts { account: Some(dealflow::facts::account(&account, &stats, at)), ..Facts::default() }
}

fn deal_facts(d: DealIn, pipeline: &Pipeline, at: DateTime<Utc>) -> (Facts, String, Option<String>) {
    let mut data = serde_json::Map::new();
    data.insert("product".into(), json!(d.product));
    let deal = Deal {
        id: d.id,
        account_id: d.account_id.unwrap_or_default(),
        data,
        stage: d.stage.clone(),
        stage_entered_at: d.stage_entered_at.clone(),
        owner: Some(d.owner),
        amount: d.amount,
        closed_at: None,
        created_at: d.stage_entered_at,
    };
    let stats = DealStats {
        activities: d.activities.iter().map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(0))).collect(),
        decision_maker_met: d.decision_maker_met,
        last_activity: None,
    };
    let v = dealflow::facts::deal(&deal, &stats, pipeline, d.requested_stage.as_deref(), at);
    (Facts { deal: Some(v), ..Facts::default() }, d.stage, d.requested_stage)
}

struct Tally {
    codes: Vec<u32>,
    errors: u64,
}

/// `decide_key`: every key rule runs; the account is key when one says key()
/// and none says not_key(); the reason is the first such rule's.
#[inline(never)]
fn decide_keys(rules: &RuleSet, key_rules: &[&Rule], inputs: &[Facts]) -> Tally {
    let mut t = Tally { codes: Vec::with_capacity(inputs.len()), errors: 0 };
    for f in inputs {
        let mut yes: Option<(usize, String)> = None;
        let mut veto: Option<(usize, String)> = None;
        for (i, rule) in key_rules.iter().enumerate() {
            match rules.call(rule, f) {
                None => {}
                Some(Ok(v)) => match dealflow::engine::key_outcome(&v) {
                    Ok(Some((true, r))) => {
                        yes.get_or_insert((i, r));
                    }
                    Ok(Some((false, r))) => {
                        veto.get_or_insert((i, r));
                    }
                    Ok(None) => {}
                    Err(_) => t.errors += 1,
                },
                Some(Err(_)) => t.errors += 1,
            }
        }
        let code = match (&yes, &veto) {
            (_, Some((i, _))) => 100 + *i as u32,
            (Some((i, _)), None) => 1 + *i as u32,
            (None, None) => 0,
        };
        std::hint::black_box(&yes);
        t.codes.push(code);
    }
    t
}

/// `decide_stage`: a closed deal with no request is left alone; otherwise
/// every stage rule runs; one refusal stops a requested move, a request not
/// refused is carried out, and without a request the first rule's move wins.
#[inline(never)]
fn decide_stages(
    rules: &RuleSet,
    stage_rules: &[&Rule],
    pipeline: &Pipeline,
    inputs: &[(Facts, String, Option<String>)],
) -> Tally {
    let index = |s: &str| pipeline.index(s).map(|i| i as u32);
    let mut t = Tally { codes: Vec::with_capacity(inputs.len()), errors: 0 };
    for (f, stage, requested) in inputs {
        if requested.is_none() && pipeline.is_closed(stage) {
            t.codes.push(1);
            continue;
        }
        let mut first_move: Option<(usize, String, String)> = None;
        let mut refusal: Option<(usize, String)> = None;
        for (i, rule) in stage_rules.iter().enumerate() {
            match rules.call(rule, f) {
                None => {}
                Some(Ok(v)) => match dealflow::engine::stage_outcome(&v) {
                    Ok(Some((None, reason))) => {
                        refusal.get_or_insert((i, reason));
                    }
                    Ok(Some((Some(to), reason))) => {
                        if pipeline.index(&to).is_none() {
                            t.errors += 1;
                        } else if &to != stage && first_move.is_none() {
                            first_move = Some((i, to, reason));
                        }
                    }
                    Ok(None) => {}
                    Err(_) => t.errors += 1,
                },
                Some(Err(_)) => t.errors += 1,
            }
        }
        let code = match (requested, &refusal, &first_move) {
            (Some(to), Some(_), _) => 30 + index(to).unwrap_or(99),
            (Some(to), None, _) => 20 + index(to).unwrap_or(99),
            (None, _, Some((_, to, _))) => 10 + index(to).unwrap_or(99),
            (None, _, None) => 0,
        };
        std::hint::black_box((&refusal, &first_move));
        t.codes.push(code);
    }
    t
}

fn key_totals(codes: &[u32], names: &[String]) -> Value {
    let mut key: std::collections::BTreeMap<String, u64> = names.iter().map(|n| (n.clone(), 0)).collect();
    let (mut not_key, mut vetoed) = (0, 0);
    for &c in codes {
        match c {
            0 => not_key += 1,
            1..100 => *key.get_mut(&names[c as usize - 1]).unwrap() += 1,
            _ => vetoed += 1,
        }
    }
    json!({"key": key, "not_key": not_key, "vetoed": vetoed})
}

fn stage_totals(codes: &[u32], pipeline: &Pipeline) -> Value {
    let mut by_rule = std::collections::BTreeMap::<String, u64>::new();
    let mut on_request = std::collections::BTreeMap::<String, u64>::new();
    let mut refused = std::collections::BTreeMap::<String, u64>::new();
    let (mut unchanged, mut closed) = (0, 0);
    for &c in codes {
        let stage = |base: u32| pipeline.stages[(c - base) as usize].clone();
        match c {
            0 => unchanged += 1,
            1 => closed += 1,
            10..20 => *by_rule.entry(stage(10)).or_default() += 1,
            20..30 => *on_request.entry(stage(20)).or_default() += 1,
            _ => *refused.entry(stage(30)).or_default() += 1,
        }
    }
    json!({"moved_by_rule": by_rule, "moved_on_request": on_request, "refused": refused,
           "unchanged": unchanged, "closed_left_alone": closed})
}

/// CPU time of this process, in seconds (what a pass cost when other work shares the cores).
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Seconds of the best pass: by the wall clock and by CPU time.
struct Best {
    wall: f64,
    cpu: f64,
}

/// Run `decide` over all inputs as often as `budget` says; the best pass's
/// times, the number of passes, and the codes (every pass must agree).
fn timed(budget: Budget, mut decide: impl FnMut() -> Tally) -> (Best, usize, Tally) {
    let (mut best, mut total, mut passes) = (Best { wall: f64::INFINITY, cpu: f64::INFINITY }, 0.0, 0);
    let mut last: Option<Tally> = None;
    while passes < budget.min_passes.max(1) || (total < budget.min_seconds && passes < 1000) {
        let (started, cpu_started) = (Instant::now(), cpu_seconds());
        let t = decide();
        let secs = started.elapsed().as_secs_f64();
        best.wall = best.wall.min(secs);
        best.cpu = best.cpu.min(cpu_seconds() - cpu_started);
        total += secs;
        passes += 1;
        if let Some(prev) = &last {
            assert_eq!(prev.codes, t.codes, "passes disagree");
        }
        last = Some(t);
    }
    (best, passes, last.unwrap())
}

fn report(decision: &str, passes: usize, best: Best, t: &Tally, totals: Value) {
    let n = t.codes.len();
    let line = json!({
        "engine": "dealflow", "decision": decision, "inputs": n, "passes": passes,
        "seconds": best.wall, "evals_per_s": n as f64 / best.wall,
        "cpu_seconds": best.cpu, "evals_per_cpu_s": n as f64 / best.cpu,
        "errors": t.errors, "digest": digest(&t.codes), "totals": totals,
    });
    println!("{line}");
}

fn main() {
    let a = args();
    let playbook = Playbook::load(&a.dir).unwrap_or_else(|e| die(&format!("{}: {e}", a.dir.display())));
    let rules = &playbook.rules;
    let pipeline = &playbook.config.pipeline;
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(a.work.join("meta.json")).unwrap_or_else(|e| {
        die(&format!("{}: {e} (run prepare.py first)", a.work.join("meta.json").display()))
    }))
    .expect("meta.json");
    let at: DateTime<Utc> = meta["as_of"].as_str().and_then(|s| s.parse().ok()).expect("meta.json: as_of");

    let key_rules: Vec<&Rule> = rules.rules(RuleKind::Key).collect();
    let stage_rules: Vec<&Rule> = rules.rules(RuleKind::Stage).collect();
    eprintln!(
        "dealflow: rules {} ({} key-account, {} stage rules)",
        rules.version,
        key_rules.len(),
        stage_rules.len()
    );

    let run = |d: &str| a.only.as_deref().is_none_or(|o| o == d);
    if run("key") {
        let accounts: Vec<Facts> =
            lines::<AccountIn>(&a.work.join("accounts.jsonl")).into_iter().map(|x| account_facts(x, at)).collect();
        let names: Vec<String> = key_rules.iter().map(|r| r.name.clone()).collect();
        let (secs, passes, t) = timed(a.budget, || decide_keys(rules, &key_rules, &accounts));
        report("key", passes, secs, &t, key_totals(&t.codes, &names));
    }
    if run("stage") {
        let deals: Vec<_> =
            lines::<DealIn>(&a.work.join("deals.jsonl")).into_iter().map(|x| deal_facts(x, pipeline, at)).collect();
        let (secs, passes, t) = timed(a.budget, || decide_stages(rules, &stage_rules, pipeline, &deals));
        report("stage", passes, secs, &t, stage_totals(&t.codes, pipeline));
    }
}
