//! `dealflow simulate --rules DIR`: what candidate rules would have changed
//! on the stored history. The real database is only read.

use std::path::PathBuf;

use anyhow::Result;
use dealflow::simulate;

use super::Outcome;
use super::context::Context;
use super::output::{self, printable};

#[derive(clap::Args)]
pub struct Args {
    /// The candidate: a config folder (config.toml and rules/), or a folder of .rhai rule files.
    #[arg(long, value_name = "DIR")]
    rules: PathBuf,
    /// Only compare what happened from this business time on (RFC 3339, or a date like
    /// 2026-09-01 for the start of that day).
    #[arg(long, value_name = "TIME", value_parser = super::time_arg::business_time)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let config = ctx.config()?;
    let candidate = simulate::candidate(&args.rules, &ctx.dir).map_err(|e| {
        anyhow::anyhow!("the candidate rules in {} do not load; nothing was simulated:\n{e}", args.rules.display())
    })?;
    let db = config.store_path(ctx.db.as_deref());
    let since = args.since.map(dealflow::time::stamp);
    let r = simulate::run(&ctx.dir, &db, candidate, since.as_deref())?;
    if args.json {
        output::json(&r)?;
        return Ok(Outcome::Ok);
    }
    println!(
        "replayed {} events under the rules in force ({}) and the candidate ({}){}",
        r.events,
        r.version_in_force,
        r.candidate_version,
        r.since.as_ref().map(|s| format!(", comparing from {s}")).unwrap_or_default()
    );
    if r.is_empty() {
        println!("no difference: the same tasks, stages and key accounts");
    }
    if !r.tasks_added.is_empty() || !r.tasks_removed.is_empty() {
        let by_role: Vec<String> = r.tasks_by_role.iter().map(|(role, (a, d))| format!("{role} +{a} -{d}")).collect();
        println!("tasks: +{} -{} ({})", r.tasks_added.len(), r.tasks_removed.len(), by_role.join(", "));
        for (sign, tasks) in [('+', &r.tasks_added), ('-', &r.tasks_removed)] {
            for (role, title, about) in tasks {
                println!("  {sign} {role}: {} ({})", printable(title), printable(about));
            }
        }
    }
    for (deal, was, would) in &r.stages_differ {
        println!("deal {}: ends in {would} instead of {was}", printable(deal));
    }
    if !r.accounts_gaining_key.is_empty() {
        println!("accounts that would become key: {}", printable(&r.accounts_gaining_key.join(", ")));
    }
    if !r.accounts_losing_key.is_empty() {
        println!("accounts that would not be key: {}", printable(&r.accounts_losing_key.join(", ")));
    }
    if r.rule_errors > 0 {
        println!(
            "the candidate rules failed {} times while replaying (see `dealflow ingest` on a copy for where)",
            r.rule_errors
        );
    }
    Ok(Outcome::Ok)
}
