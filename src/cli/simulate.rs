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
    /// Print the report as JSON (every difference).
    #[arg(long)]
    json: bool,
    /// Show at most N differences of each kind (0: all); the counts are of all of them.
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let config = ctx.config()?;
    let candidate = simulate::candidate(&args.rules, &ctx.dir).map_err(|e| {
        anyhow::anyhow!("the candidate rules in {} do not load; nothing was simulated:\n{e}", args.rules.display())
    })?;
    let db = ctx.location(&config);
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
        println!("no difference: the same tasks, stages, refusals and key accounts");
    }
    let limit = if args.limit == 0 { usize::MAX } else { args.limit };
    // Counts first, every kind; then the first differences of each kind.
    let by = |m: &std::collections::BTreeMap<String, (usize, usize)>| -> String {
        let parts: Vec<String> = m.iter().map(|(k, (a, d))| format!("{} +{a} -{d}", printable(k))).collect();
        if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) }
    };
    let tasks = !r.tasks_added.is_empty() || !r.tasks_removed.is_empty();
    let refusals = !r.refusals_added.is_empty() || !r.refusals_removed.is_empty();
    let key_changes = !r.key_changes_added.is_empty() || !r.key_changes_removed.is_empty();
    if tasks {
        println!("tasks: +{} -{}{}", r.tasks_added.len(), r.tasks_removed.len(), by(&r.tasks_by_role));
    }
    if refusals {
        println!("refused moves: +{} -{}{}", r.refusals_added.len(), r.refusals_removed.len(), by(&r.refusals_by_rule));
    }
    if !r.paths_differ.is_empty() {
        println!("stage paths: {} take another path", deals(r.paths_differ.len()));
    }
    if !r.stages_differ.is_empty() {
        println!("final stages: {} end in another stage", deals(r.stages_differ.len()));
    }
    if key_changes {
        println!(
            "key changes: +{} -{}{}",
            r.key_changes_added.len(),
            r.key_changes_removed.len(),
            by(&r.key_changes_by_rule)
        );
    }
    if !r.accounts_gaining_key.is_empty() {
        println!("accounts that would become key: {}", printable(&r.accounts_gaining_key.join(", ")));
    }
    if !r.accounts_losing_key.is_empty() {
        println!("accounts that would not be key: {}", printable(&r.accounts_losing_key.join(", ")));
    }
    if tasks {
        println!();
        println!("tasks (+ only under the candidate, - only under the rules in force):");
        signed(&r.tasks_added, &r.tasks_removed, limit, |sign, (role, title, about)| {
            format!("{sign} {role}: {} ({})", printable(title), printable(about))
        });
    }
    if refusals {
        println!();
        println!("refused moves:");
        signed(&r.refusals_added, &r.refusals_removed, limit, |sign, x| {
            format!(
                "{sign} {} {}: {} refused by {}: {}",
                day(&x.at),
                printable(&x.deal),
                printable(&x.requested),
                printable(&x.rule),
                printable(&x.reason)
            )
        });
    }
    if !r.paths_differ.is_empty() {
        println!();
        println!("stage paths (in force, then candidate):");
        for p in r.paths_differ.iter().take(limit) {
            println!("  {}: {}", printable(&p.deal), printable(&simulate::path_text(&p.in_force)));
            let pad = " ".repeat(printable(&p.deal).chars().count());
            println!("  {pad}  {}", printable(&simulate::path_text(&p.candidate)));
        }
        more(r.paths_differ.len(), r.paths_differ.len().min(limit));
    }
    if !r.stages_differ.is_empty() {
        println!();
        for (deal, was, would) in r.stages_differ.iter().take(limit) {
            println!("deal {}: ends in {would} instead of {was}", printable(deal));
        }
        more(r.stages_differ.len(), r.stages_differ.len().min(limit));
    }
    if key_changes {
        println!();
        println!("key changes:");
        signed(&r.key_changes_added, &r.key_changes_removed, limit, |sign, k| {
            let change = if k.change == "became_key" { "became key" } else { "lost key" };
            let rule = k.rule.as_deref().unwrap_or("no rule");
            format!(
                "{sign} {} {} {change} by {}: {}",
                day(&k.at),
                printable(&k.account),
                printable(rule),
                printable(&k.reason)
            )
        });
    }
    if r.rule_errors > 0 {
        println!(
            "the candidate rules failed {} times while replaying (see `dealflow ingest` on a copy for where)",
            r.rule_errors
        );
    }
    Ok(Outcome::Ok)
}

fn deals(n: usize) -> String {
    if n == 1 { "1 deal".to_string() } else { format!("{n} deals") }
}

/// The day of a stamp: `2026-10-30` of `2026-10-30T09:00:00Z`.
fn day(at: &str) -> &str {
    at.get(..10).unwrap_or(at)
}

/// The first `limit` of `added` (marked `+`), then of `removed` (`-`), a line
/// each, and how many more there are.
fn signed<T>(added: &[T], removed: &[T], limit: usize, line: impl Fn(char, &T) -> String) {
    let all = added.iter().map(|x| ('+', x)).chain(removed.iter().map(|x| ('-', x)));
    let mut shown = 0;
    for (sign, x) in all.take(limit) {
        println!("  {}", line(sign, x));
        shown += 1;
    }
    more(added.len() + removed.len(), shown);
}

/// Say how many of `total` were not shown.
fn more(total: usize, shown: usize) {
    if total > shown {
        println!("  ... and {} more (--limit N shows more, --limit 0 all; --json has every one)", total - shown);
    }
}
