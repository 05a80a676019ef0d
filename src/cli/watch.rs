//! `dealflow watch` and `dealflow run`: the inbox and the live playbook.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;
use dealflow::inbox::Inbox;
use dealflow::ingest::Summary;
use dealflow::watch::{self, Note, Options};
use serde_json::json;

use super::Outcome;
use super::context::{Context, stop_flag};
use super::output;

#[derive(clap::Args)]
pub struct WatchArgs {
    /// Milliseconds to gather file events before acting on them.
    #[arg(long, default_value_t = 50, value_name = "MS")]
    debounce_ms: u64,
    /// Milliseconds an inbox file must keep its size before it is read.
    #[arg(long, default_value_t = 100, value_name = "MS")]
    settle_ms: u64,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// One line per note on standard error; the reload lines are the fixed contract.
fn print(note: Note) {
    match note {
        Note::Started { version, files } => {
            eprintln!("watching: rules {version} ({files} files) in force; Ctrl-C stops")
        }
        Note::Reloaded { version, files, ms } => eprintln!("rules reloaded: {version} ({files} files) in {ms:.0} ms"),
        Note::Rejected { problems, snippets } => {
            eprintln!(
                "rules rejected: {} problem{}; the rules in force stay",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
            for p in &problems {
                eprintln!("  {p}");
            }
            for s in snippets.iter().flatten() {
                eprintln!("{s}");
            }
        }
        Note::Processed(p) => {
            let c = &p.summary.counts;
            let whereto =
                p.moved_to.map(|m| format!("moved to {m}")).unwrap_or_else(|| "stopped; stays in the inbox".into());
            eprintln!(
                "{}: applied {}, duplicates skipped {}, rejected {}, tasks created {}, stage moves {}, key-account changes {}; {whereto}",
                p.file, c.applied, c.duplicates, c.rejected, c.tasks_created, c.stage_moves, c.key_account_changes
            );
        }
        Note::InboxError { file, error } => eprintln!("{file}: not processed: {error}"),
        Note::Ticked { at } => eprintln!("tick at {at}"),
        Note::Simulated { version, summary } => eprintln!("simulated {version} {summary}"),
        Note::Stopping => eprintln!("stopping: everything applied is committed"),
    }
}

pub fn watch(ctx: &Context, args: WatchArgs) -> Result<Outcome> {
    let stop = stop_flag()?;
    let options = Options {
        debounce: Duration::from_millis(args.debounce_ms),
        settle: Duration::from_millis(args.settle_ms),
        ..Options::default()
    };
    ctx.config()?;
    watch::run(&ctx.dir, ctx.db.as_deref(), &options, stop, Arc::new(print))?;
    Ok(Outcome::Ok)
}

pub fn run(ctx: &Context, args: RunArgs) -> Result<Outcome> {
    let stop = stop_flag()?;
    let playbook = ctx.playbook()?;
    let store = ctx.store_to_apply(&playbook.config)?;
    let current = dealflow::playbook::current(playbook);
    let inbox = Inbox::new(&ctx.dir);
    let mut total = Summary::default();
    let mut files = Vec::new();
    for path in inbox.pending()? {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let p = inbox.process(&path, &store, &current, &stop)?;
        total.add(&p.summary);
        if !args.json {
            print(Note::Processed(p.clone()));
        }
        files.push(p);
    }
    // Time passes too: one tick at the wall clock after the inbox.
    if !stop.load(Ordering::SeqCst) {
        let quiet = |note: Note| {
            if let Note::Ticked { at } = note {
                tracing::info!("tick at {at}");
            }
        };
        watch::tick(&store, &current, &quiet)?;
    }
    if args.json {
        output::json(&json!({"files": files, "total": total}))?;
    } else if files.is_empty() {
        println!("the inbox ({}) is empty", inbox.dir().display());
    } else {
        println!("{} file{}:", files.len(), if files.len() == 1 { "" } else { "s" });
        super::ingest::print_summary(&total, false)?;
    }
    Ok(if stop.load(Ordering::SeqCst) {
        Outcome::Failed
    } else if total.counts.rejected > 0 {
        Outcome::Partial
    } else {
        Outcome::Ok
    })
}
