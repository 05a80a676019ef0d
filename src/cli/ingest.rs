//! `dealflow ingest FILE...`: apply events in order and summarise.

use std::fs::File;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use dealflow::ingest::{Ended, Ingest, Summary};
use indicatif::{ProgressBar, ProgressStyle};

use super::Outcome;
use super::context::Context;
use super::output::{self, printable};

#[derive(clap::Args)]
pub struct Args {
    /// Event files (JSON Lines); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Treat what happened before DATE as history: those events set stages, key accounts and
    /// owners, but make no follow-up tasks. Use it when replaying finished history (an old CRM's
    /// change log, say): without it each old event makes the tasks it made then, and later events
    /// cancel most of them (the deal lost, the account handed over). Same as import's --tasks-since.
    #[arg(long, value_name = "DATE", value_parser = super::time_arg::business_time)]
    tasks_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Lines of a file read ahead of the one applied (see `Ingest::read_ahead`).
pub const READ_AHEAD: usize = 64;

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let playbook = ctx.playbook()?;
    // Open every file first: a missing file stops the run before anything is applied.
    let mut inputs = Vec::new();
    for path in &args.files {
        if path.as_os_str() == "-" {
            inputs.push(("-".to_string(), None));
        } else {
            let f =
                File::open(path).with_context(|| format!("cannot read {}", printable(&path.display().to_string())))?;
            inputs.push((path.display().to_string(), Some(f)));
        }
    }
    let store = ctx.store_to_apply(&playbook, "ingest")?;
    let current = dealflow::playbook::current(playbook);
    let stop = super::context::stop_flag()?;
    let mut ingest = Ingest::start(&store, &current)?.stop_when(&stop);
    ingest.tasks_since = args.tasks_since;
    for (name, file) in inputs {
        // A file is whole: read ahead (a store with round trips looks the events up together).
        // A pipe is read line by line: a line ahead may not have been written yet.
        ingest.read_ahead = if file.is_some() { READ_AHEAD } else { 0 };
        let result = match file {
            None => ingest.input("-", std::io::stdin().lock()),
            Some(f) => {
                let bar = progress_bar(&f, &name);
                let r = ingest.input(&name, bar.wrap_read(f));
                bar.finish_and_clear();
                r
            }
        };
        if let Ok(Ended::Stopped) = result {
            let summary = ingest.finish()?;
            print_summary(&summary, args.json)?;
            eprintln!(
                "stopped by a signal in {}: everything applied so far is kept; ingest the same files again to go on",
                printable(&name)
            );
            return Ok(Outcome::Failed);
        }
        if let Err(e) = result {
            let summary = ingest.abort();
            print_summary(&summary, args.json)?;
            // A server lost keeps its kind (exit code 75: run again); the
            // store's error has no source to repeat, so it reads the same.
            let e = if e.is_unreachable() { anyhow::Error::new(e) } else { anyhow::anyhow!("{e}") };
            return Err(e).context(format!(
                "stopped while ingesting {}; every event before the failure is kept",
                printable(&name)
            ));
        }
    }
    let summary = ingest.finish()?;
    print_summary(&summary, args.json)?;
    Ok(if summary.counts.rejected > 0 { Outcome::Partial } else { Outcome::Ok })
}

fn progress_bar(f: &File, name: &str) -> ProgressBar {
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    // Only on a terminal, and only for files big enough to take a while.
    if !std::io::stderr().is_terminal() || len < 4 << 20 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(name.to_string());
    bar
}

/// The quarantined rules, one line each, for people.
pub fn print_quarantined(rules: &[dealflow::store::RuleHealth]) {
    if rules.is_empty() {
        return;
    }
    println!(
        "quarantined rules (they failed on too many events in a row and no longer run; any change to the rules brings them back):"
    );
    for h in rules {
        println!(
            "  {} ({}:{}): failed on {} events in a row; last on event {}: {}",
            printable(&h.rule),
            printable(&h.file),
            h.line,
            h.failures,
            printable(&h.last_event),
            printable(&h.last_error)
        );
    }
}

pub fn print_summary(s: &Summary, json: bool) -> Result<()> {
    if json {
        return output::json(s);
    }
    let c = &s.counts;
    println!(
        "applied {}, duplicates skipped {}, rejected {}, tasks created {}, stage moves {} ({} refused), key-account changes {}",
        c.applied, c.duplicates, c.rejected, c.tasks_created, c.stage_moves, c.refused_moves, c.key_account_changes
    );
    if c.tasks_skipped_as_history > 0 {
        println!("tasks not made for events before --tasks-since (history): {}", c.tasks_skipped_as_history);
    }
    if c.deals_reopened > 0 {
        println!("closed deals reopened: {} (each also counts as a stage move)", c.deals_reopened);
    }
    if c.owner_changes > 0 {
        println!("accounts handed over: {}", c.owner_changes);
    }
    if c.tasks_moved > 0 {
        println!(
            "open tasks moved (time off, caps, team changes): {} (`dealflow explain task ID` says why)",
            c.tasks_moved
        );
    }
    if c.rule_errors > 0 {
        println!("rule errors: {} (the events were still applied; the other rules still ran)", c.rule_errors);
        for site in &s.rule_failures {
            println!(
                "  {}: {} ({} times, first on event {})",
                printable(&site.location),
                printable(&site.message),
                site.count,
                printable(&site.first_event)
            );
        }
    }
    if c.loops_stopped > 0 {
        println!("reaction loops stopped: {}", c.loops_stopped);
    }
    print_quarantined(&s.quarantined_rules);
    for r in &s.rejections {
        eprintln!("{}:{}: rejected: {}", printable(&r.source), r.line, printable(&r.reason));
    }
    if c.rejected as usize > s.rejections.len() {
        eprintln!(
            "... and {} more rejected lines (all are kept in the store)",
            c.rejected as usize - s.rejections.len()
        );
    }
    Ok(())
}
