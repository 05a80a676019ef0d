//! `dealflow prune --before TIME | --older-than DAYS [--dry-run] [--json]`:
//! remove old decisions, stage history, rejected lines and finished tasks,
//! so a long-running store (a PostgreSQL database above all) stops growing
//! with history nobody reads. Events stay (they make ingest idempotent and
//! `simulate` replays them), and a pruned task's dedup key stays, so the same
//! task is never made again.

use anyhow::Result;
use chrono::{DateTime, Utc};
use dealflow::store::Pruned;
use serde_json::json;

use super::Outcome;
use super::context::Context;
use super::output;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["before", "older_than"])))]
pub struct Args {
    /// Prune what is older than this time: 2026-11-02T09:00:00Z, or a date, 2026-11-02, for the start of that day.
    #[arg(long, value_name = "TIME", value_parser = super::time_arg::business_time)]
    before: Option<DateTime<Utc>>,
    /// Prune what is older than this many days (from now).
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    older_than: Option<u32>,
    /// Only count what would be pruned; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print a JSON object.
    #[arg(long)]
    json: bool,
}

/// The stamp `days` days before now.
pub fn days_ago(days: u32) -> String {
    dealflow::time::stamp(Utc::now() - chrono::Duration::days(days.into()))
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let before = match (args.before, args.older_than) {
        (Some(at), _) => dealflow::time::stamp(at),
        (None, Some(days)) => days_ago(days),
        (None, None) => unreachable!("clap requires one"),
    };
    let config = ctx.config()?;
    // Pruning applies no event: it needs no engine lease, and goes on beside a
    // running watch (one unit of work, which holds the engine's off meanwhile).
    let store = ctx.store(&config)?;
    store.verify()?;
    let pruned = store.prune(&before, args.dry_run)?;
    if args.json {
        output::json(&json!({
            "before": before,
            "dry_run": args.dry_run,
            "decisions": pruned.decisions,
            "stage_changes": pruned.stage_changes,
            "rejected_lines": pruned.rejected_lines,
            "tasks": pruned.tasks,
        }))?;
    } else {
        println!("{}", describe(&pruned, &before, args.dry_run));
    }
    Ok(Outcome::Ok)
}

/// One line: what was (or would be) pruned.
pub fn describe(p: &Pruned, before: &str, dry_run: bool) -> String {
    let n = |count: u64, one: &str, many: &str| format!("{count} {}", if count == 1 { one } else { many });
    let what = [
        n(p.decisions, "decision", "decisions"),
        n(p.stage_changes, "stage change", "stage changes"),
        n(p.rejected_lines, "rejected line", "rejected lines"),
        n(p.tasks, "finished task", "finished tasks"),
    ]
    .join(", ");
    if dry_run {
        format!("would prune, before {before}: {what} (--dry-run: nothing was changed)")
    } else {
        format!("pruned, before {before}: {what} (events and the pruned tasks' dedup keys are kept)")
    }
}
