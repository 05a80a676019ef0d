//! `dealflow tick [--now T]`: apply a `clock.tick` at a business time, so the
//! time rules (stuck deals, quiet key accounts, ending contracts, overdue
//! tasks, targets behind) run. The same tick twice does nothing new.

use anyhow::Result;
use chrono::{DateTime, Utc};
use dealflow::ingest::Ingest;

use super::Outcome;
use super::context::Context;

#[derive(clap::Args)]
pub struct Args {
    /// The business time of the tick (default: now): 2026-11-02T09:00:00Z, or a date,
    /// 2026-11-02, for the start of that day.
    #[arg(long, value_name = "TIME", value_parser = super::time_arg::business_time)]
    now: Option<DateTime<Utc>>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let at = args.now.unwrap_or_else(Utc::now);
    let playbook = ctx.playbook()?;
    let store = ctx.store_to_apply(&playbook, "tick")?;
    let current = dealflow::playbook::current(playbook);
    let stamp = dealflow::time::stamp(at);
    let line = format!(r#"{{"id": "tick-{stamp}", "type": "clock.tick", "at": "{stamp}"}}"#);
    let mut ingest = Ingest::start(&store, &current)?;
    ingest.input("tick", line.as_bytes())?;
    let summary = ingest.finish()?;
    if !args.json && summary.counts.duplicates > 0 {
        println!("tick at {stamp} was applied before: nothing new");
        return Ok(Outcome::Ok);
    }
    if !args.json {
        print!("tick at {stamp}: ");
    }
    super::ingest::print_summary(&summary, args.json)?;
    Ok(Outcome::Ok)
}
