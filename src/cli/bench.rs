//! `dealflow bench`: write a seeded synthetic stream to a scratch folder,
//! then ingest it twice, each into a new database: by the store-only
//! baseline (parse and insert, no rules) and by the engine with the rules of
//! the config folder. Reports both rates and their ratio, rule evaluations,
//! the time spent in each rule, and peak memory.

use std::fs::File;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Result;
use dealflow::benchmark::scratch::ScratchDatabase;
use dealflow::benchmark::{self, memory};
use dealflow::ingest::{Ingest, Summary};
use dealflow::store::Store;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::json;

use super::Outcome;
use super::context::Context;
use super::output;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  dealflow bench                                  100,000 events over 2,000 accounts
  dealflow bench --events 1000000 --accounts 20000
  dealflow bench --json | jq .ratio_to_baseline
  dealflow bench --postgres postgres://postgres@127.0.0.1:5432/postgres
                                                  SQLite and PostgreSQL side by side

The stream is the same for the same seed, byte for byte. Nothing touches the
config folder's database: both runs write to scratch databases that are
deleted afterwards (keep them with --keep DIR).")]
pub struct Args {
    /// Accounts in the synthetic stream.
    #[arg(long, default_value_t = 2_000)]
    accounts: u64,
    /// Events in the synthetic stream.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Seed: the same seed gives the same stream.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Rules listed in the per-rule table (slowest in all first).
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Keep the stream and both databases in DIR instead of a temporary folder.
    #[arg(long, value_name = "DIR")]
    keep: Option<std::path::PathBuf>,
    /// Also ingest the stream with the rules into the in-memory backend: the
    /// engine without a database, to see what the database costs (its memory
    /// grows with the stream: about 1 GB a million events).
    #[arg(long)]
    in_memory: bool,
    /// Also run both phases on PostgreSQL, in scratch databases made on the
    /// server this URL names (postgres://USER@HOST:PORT/DB; DB is only
    /// connected to) and dropped afterwards (kept with --keep), and print the
    /// two backends side by side.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Skip the store-only baseline (on every backend): only the engine with the rules.
    #[arg(long)]
    no_baseline: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// One measured phase.
#[derive(Debug, Serialize)]
struct Phase {
    events: u64,
    seconds: f64,
    events_per_second: f64,
    /// Peak resident memory during the phase (bytes), where the system tells.
    peak_memory_bytes: Option<u64>,
}

impl Phase {
    fn new(events: u64, took: Duration, peak: Option<u64>) -> Phase {
        let seconds = took.as_secs_f64();
        Phase { events, seconds, events_per_second: events as f64 / seconds.max(1e-9), peak_memory_bytes: peak }
    }
}

#[derive(Debug, Serialize)]
struct RuleTime {
    rule: String,
    file: String,
    line: usize,
    calls: u64,
    seconds: f64,
    micros_per_call: f64,
    share_of_rule_time: f64,
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let playbook = ctx.playbook()?;
    let version = playbook.version().to_string();
    let batch = playbook.config.store.batch_size;
    let scratch = tempfile::tempdir()?;
    let dir = match &args.keep {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => scratch.path().to_path_buf(),
    };
    let events_path = dir.join("events.jsonl");
    let show = !args.json && std::io::stderr().is_terminal();

    let bar = counter_bar(show, args.events, "writing the stream");
    let written =
        benchmark::write_stream(&events_path, args.seed, args.accounts, args.events, &|n| bar.set_position(n))?;
    bar.finish_and_clear();
    let bytes = std::fs::metadata(&events_path)?.len();

    // The floor: parse and insert each event, no rules.
    let baseline_at = |store: Store, what: &str| -> Result<Phase> {
        let bar = bytes_bar(show, bytes, what);
        memory::reset_peak();
        let started = Instant::now();
        let stored =
            benchmark::baseline::store_only(&store, "synthetic", bar.wrap_read(File::open(&events_path)?), batch)?;
        // Closing is timed too: it moves what the write-ahead log still holds into the database file.
        drop(store);
        bar.finish_and_clear();
        Ok(Phase::new(stored.inserted, started.elapsed(), memory::peak_bytes()))
    };
    let baseline = match args.no_baseline {
        true => None,
        false => {
            let store = Store::open(&fresh(&dir.join("baseline.db"))?, Duration::from_secs(5))?;
            Some(baseline_at(store, "store-only baseline")?)
        }
    };

    // The engine with the rules of the config folder.
    let current = dealflow::playbook::current(playbook);
    let store = Store::open(&fresh(&dir.join("bench.db"))?, Duration::from_secs(5))?;
    let (engine, summary) = with_rules(store, &current, &events_path, bytes_bar(show, bytes, "with the rules"))?;

    // The same two on PostgreSQL, each in a scratch database of its own.
    let postgres = match &args.postgres {
        None => None,
        Some(server) => {
            let scratch = |purpose: &str| -> Result<(ScratchDatabase, Store)> {
                let mut db = ScratchDatabase::create(server, purpose, None)?;
                if args.keep.is_some() {
                    db.keep();
                }
                let store = Store::open_postgres(&db.url, Duration::from_secs(5))?;
                Ok((db, store))
            };
            let baseline = match args.no_baseline {
                true => None,
                false => {
                    let (db, store) = scratch("bench_baseline")?;
                    let phase = baseline_at(store, "store-only baseline, PostgreSQL")?;
                    Some((phase, db))
                }
            };
            let (db, store) = scratch("bench")?;
            let current = dealflow::playbook::current(ctx.playbook()?);
            let bar = bytes_bar(show, bytes, "with the rules, PostgreSQL");
            let (engine, summary) = with_rules(store, &current, &events_path, bar)?;
            let server = dealflow::store::postgres::redacted(&server.parse()?);
            let kept: Vec<String> = baseline.iter().map(|(_, d)| d.name.clone()).chain([db.name.clone()]).collect();
            Some(OnPostgres { server, baseline: baseline.map(|(p, _)| p), engine, counts: summary.counts, kept })
        }
    };

    // The same again with the store in memory: the engine without the database.
    let in_memory = match args.in_memory {
        false => None,
        true => {
            let current = dealflow::playbook::current(ctx.playbook()?);
            let bar = bytes_bar(show, bytes, "with the rules, in memory");
            let (phase, summary) = with_rules(Store::memory(), &current, &events_path, bar)?;
            Some((phase, summary.counts))
        }
    };

    let rules = current.load();
    let mut times: Vec<RuleTime> = rules
        .rules
        .timings()
        .into_iter()
        .filter(|(_, s)| s.calls > 0)
        .map(|(r, s)| RuleTime {
            rule: r.name.clone(),
            file: r.file.clone(),
            line: r.line,
            calls: s.calls,
            seconds: s.nanos as f64 / 1e9,
            micros_per_call: s.micros_per_call(),
            share_of_rule_time: 0.0,
        })
        .collect();
    let rule_seconds: f64 = times.iter().map(|t| t.seconds).sum();
    let evaluations: u64 = times.iter().map(|t| t.calls).sum();
    for t in &mut times {
        t.share_of_rule_time = t.seconds / rule_seconds.max(1e-12);
    }
    times.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    let ratio = baseline.as_ref().map(|b| engine.events_per_second / b.events_per_second.max(1e-9));

    if args.json {
        output::json(&json!({
            "events": written, "accounts": args.accounts, "seed": args.seed, "stream_bytes": bytes,
            "rules_version": version, "baseline": baseline, "engine": engine,
            "in_memory": in_memory.as_ref().map(|(p, _)| p), "in_memory_counts": in_memory.as_ref().map(|(_, c)| c),
            "postgres": postgres.as_ref().map(|p| json!({
                "server": p.server, "baseline": p.baseline, "engine": p.engine, "counts": p.counts,
                "same_counts_as_sqlite": p.counts == summary.counts,
                "ratio_to_sqlite": p.engine.events_per_second / engine.events_per_second.max(1e-9),
            })),
            "ratio_to_baseline": ratio,
            "rule_evaluations": evaluations,
            "rule_evaluations_per_second": evaluations as f64 / engine.seconds.max(1e-9),
            "seconds_in_rules": rule_seconds,
            "rules": times, "counts": summary.counts,
            "events_per_second": engine.events_per_second,
        }))?;
    } else {
        let in_memory = in_memory.as_ref().map(|(p, _)| p);
        print_report(
            &args,
            written,
            bytes,
            &version,
            [baseline.as_ref(), Some(&engine)],
            in_memory,
            postgres.as_ref(),
            &summary,
            &times,
            evaluations,
            rule_seconds,
        );
    }
    if let Some(d) = &args.keep {
        eprintln!("kept the stream and both databases in {}", d.display());
        if let Some(p) = &postgres {
            eprintln!("kept the PostgreSQL databases {} on {}", p.kept.join(", "), p.server);
        }
    }
    Ok(Outcome::Ok)
}

/// Lines read ahead, as `ingest` reads files (see `Ingest::read_ahead`).
const READ_AHEAD: usize = super::ingest::READ_AHEAD;

/// The phases run on PostgreSQL (`--postgres`).
struct OnPostgres {
    server: String,
    baseline: Option<Phase>,
    engine: Phase,
    counts: dealflow::engine::Counts,
    kept: Vec<String>,
}

/// Ingest the stream at `events` into `store` with the playbook in `current`, timed
/// (closing the store too: it moves what the write-ahead log still holds into the file).
fn with_rules(
    store: Store,
    current: &dealflow::playbook::Current,
    events: &std::path::Path,
    bar: ProgressBar,
) -> Result<(Phase, Summary)> {
    memory::reset_peak();
    let started = Instant::now();
    let mut ingest = Ingest::start(&store, current)?.read_ahead(READ_AHEAD);
    ingest.input("synthetic", bar.wrap_read(File::open(events)?))?;
    let summary = ingest.finish()?;
    drop(store);
    bar.finish_and_clear();
    Ok((Phase::new(summary.counts.applied, started.elapsed(), memory::peak_bytes()), summary))
}

/// A database path with nothing at it yet (a kept folder may hold an older run).
fn fresh(path: &std::path::Path) -> Result<std::path::PathBuf> {
    for suffix in ["", "-wal", "-shm"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        if p.exists() {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(path.to_path_buf())
}

#[allow(clippy::too_many_arguments)]
fn print_report(
    args: &Args,
    written: u64,
    bytes: u64,
    version: &str,
    [baseline, engine]: [Option<&Phase>; 2],
    in_memory: Option<&Phase>,
    postgres: Option<&OnPostgres>,
    summary: &Summary,
    times: &[RuleTime],
    evaluations: u64,
    rule_seconds: f64,
) {
    println!(
        "{} events over {} accounts (seed {}, {:.0} MB), rules {version}",
        written,
        args.accounts,
        args.seed,
        bytes as f64 / 1e6
    );
    let mut t = output::table(&["run", "events", "time", "events/s", "peak memory"]);
    t.whole(&["events", "time", "events/s", "peak memory"]).wrap(&["run"]);
    let backend = |name: &str| if postgres.is_some() { format!("{name}, SQLite") } else { name.to_string() };
    let mut rows: Vec<(String, &Phase)> = Vec::new();
    rows.extend(baseline.map(|p| (backend("store-only baseline (no rules)"), p)));
    rows.extend(engine.map(|p| (backend("with the rules"), p)));
    if let Some(pg) = postgres {
        rows.extend(pg.baseline.as_ref().map(|p| ("store-only baseline (no rules), PostgreSQL".to_string(), p)));
        rows.push(("with the rules, PostgreSQL".to_string(), &pg.engine));
    }
    rows.extend(in_memory.map(|p| ("with the rules, store in memory".to_string(), p)));
    for (name, p) in rows {
        t.add_row(vec![
            name,
            p.events.to_string(),
            format!("{:.2} s", p.seconds),
            format!("{:.0}", p.events_per_second),
            p.peak_memory_bytes.map(|b| format!("{:.0} MB", b as f64 / 1e6)).unwrap_or_else(|| "-".into()),
        ]);
    }
    println!("{t}");
    let Some(engine) = engine else { return };
    if let Some(baseline) = baseline {
        println!(
            "with the rules: {:.2} of the baseline's rate; {} rule evaluations ({:.0}/s), {:.1} s in rules ({:.0}% of the run)",
            engine.events_per_second / baseline.events_per_second.max(1e-9),
            evaluations,
            evaluations as f64 / engine.seconds.max(1e-9),
            rule_seconds,
            100.0 * rule_seconds / engine.seconds.max(1e-9)
        );
    } else {
        println!(
            "with the rules: {} rule evaluations ({:.0}/s), {:.1} s in rules ({:.0}% of the run)",
            evaluations,
            evaluations as f64 / engine.seconds.max(1e-9),
            rule_seconds,
            100.0 * rule_seconds / engine.seconds.max(1e-9)
        );
    }
    if let Some(pg) = postgres {
        println!(
            "PostgreSQL ({}): {:.2} of SQLite's rate with the rules; {}",
            pg.server,
            pg.engine.events_per_second / engine.events_per_second.max(1e-9),
            if pg.counts == summary.counts { "the same decisions" } else { "DIFFERENT decisions (see --json)" }
        );
    }
    let c = &summary.counts;
    println!(
        "made {} tasks, {} stage moves ({} refused), {} key-account changes, {} rule errors",
        c.tasks_created, c.stage_moves, c.refused_moves, c.key_account_changes, c.rule_errors
    );
    if !times.is_empty() {
        println!("\ntime in each rule, slowest in all first:");
        let mut t = output::table(&["rule", "where", "calls", "time", "µs/call", "share"]);
        t.whole(&["rule", "where", "calls", "time", "µs/call", "share"]).drop_first(&["calls", "µs/call"]);
        for r in times.iter().take(args.top) {
            t.add_row(vec![
                r.rule.clone(),
                format!("{}:{}", r.file, r.line),
                r.calls.to_string(),
                format!("{:.2} s", r.seconds),
                format!("{:.2}", r.micros_per_call),
                format!("{:.0}%", 100.0 * r.share_of_rule_time),
            ]);
        }
        println!("{t}");
        if times.len() > args.top {
            println!("({} more rules; --top N to see them)", times.len() - args.top);
        }
    }
}

fn counter_bar(show: bool, len: u64, what: &str) -> ProgressBar {
    bar(show, len, what, "{msg} [{bar:40}] {human_pos}/{human_len} events eta {eta}")
}

fn bytes_bar(show: bool, len: u64, what: &str) -> ProgressBar {
    bar(show, len, what, "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
}

fn bar(show: bool, len: u64, what: &str, template: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
