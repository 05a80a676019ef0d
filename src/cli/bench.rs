//! `dealflow bench`: ingest a seeded synthetic stream with the rules of the
//! config folder into a scratch database, and report the rate.

use std::time::{Duration, Instant};

use anyhow::Result;
use dealflow::ingest::Ingest;
use dealflow::store::Store;
use serde_json::json;

use super::Outcome;
use super::context::Context;
use super::output;

#[derive(clap::Args)]
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
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let playbook = ctx.playbook()?;
    let version = playbook.version().to_string();
    let scratch = tempfile::tempdir()?;
    let events = scratch.path().join("events.jsonl");
    let text: String = dealflow::synthetic::stream(args.seed, args.accounts, args.events).map(|l| l + "\n").collect();
    std::fs::write(&events, text)?;
    let store = Store::open(&scratch.path().join("bench.db"), Duration::from_secs(5))?;
    let current = dealflow::playbook::current(playbook);
    let started = Instant::now();
    let mut ingest = Ingest::start(&store, &current)?;
    ingest.input("synthetic", std::fs::File::open(&events)?)?;
    let summary = ingest.finish()?;
    let secs = started.elapsed().as_secs_f64();
    let rate = summary.counts.applied as f64 / secs;
    if args.json {
        output::json(&json!({
            "events": summary.counts.applied, "accounts": args.accounts, "seed": args.seed,
            "seconds": secs, "events_per_second": rate, "rules_version": version, "counts": summary.counts,
        }))?;
    } else {
        println!(
            "{} events over {} accounts in {:.2} s: {:.0} events/s (rules {}; {} tasks, {} stage moves, {} key-account changes, {} rule errors)",
            summary.counts.applied,
            args.accounts,
            secs,
            rate,
            version,
            summary.counts.tasks_created,
            summary.counts.stage_moves,
            summary.counts.key_account_changes,
            summary.counts.rule_errors
        );
    }
    Ok(Outcome::Ok)
}
