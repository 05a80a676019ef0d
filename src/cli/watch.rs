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
use super::output::{self, printable, printable_lines};

#[derive(clap::Args)]
pub struct WatchArgs {
    /// Milliseconds to gather file events before acting on them.
    #[arg(long, default_value_t = 50, value_name = "MS")]
    debounce_ms: u64,
    /// Milliseconds an inbox file must keep its size before it is taken as
    /// finished and moved out of the inbox. Whole lines are read as they come;
    /// a file some process holds open for writing is never moved (Linux).
    #[arg(long, default_value_t = 100, value_name = "MS")]
    settle_ms: u64,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// One line per note on standard error (a rule's source is shown as lines);
/// the reload lines are the fixed contract.
pub fn print(note: Note) {
    match note {
        Note::Started { version, files } => {
            eprintln!("watching: rules {version} ({files} files) in force; Ctrl-C stops")
        }
        Note::StartedOnStored { version, files, loaded_at, problems, snippets } => {
            eprintln!(
                "rules rejected: {} problem{} in the files on disk; starting on the last good rules {version} \
                 ({files} files, in force since {loaded_at}) stored in the database; a fixed save is picked up",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
            print_problems(&problems, &snippets);
        }
        Note::WaitingForInbox { holder } => eprintln!("{holder}; waiting until it stops (Ctrl-C stops)"),
        Note::Standby { holder, epoch } => eprintln!(
            "standby: the engine in force is {} (epoch {epoch}); taking over if it stops (Ctrl-C stops)",
            printable(&holder)
        ),
        Note::Leading { epoch } => eprintln!("engine in force: this watch holds the engine lease (epoch {epoch})"),
        Note::LeaseLost { message } => {
            eprintln!("lost the engine lease: {}; back to standby", printable(&message))
        }
        Note::DatabaseBusy { path } => eprintln!(
            "database {}: locked by another process for longer than the busy timeout; waiting for it, and going on \
             when it is free (Ctrl-C stops)",
            path.display()
        ),
        Note::DatabaseFree => eprintln!("the database is free again; going on"),
        Note::ServerLost { error } => {
            eprintln!("{}; waiting for the server, and going on when it is back (Ctrl-C stops)", printable(&error))
        }
        Note::Reloaded { version, files, ms } => eprintln!("rules reloaded: {version} ({files} files) in {ms:.0} ms"),
        Note::Rejected { problems, snippets } => {
            eprintln!(
                "rules rejected: {} problem{}; the rules in force stay",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
            print_problems(&problems, &snippets);
        }
        Note::Processed(p) => {
            let c = &p.summary.counts;
            let whereto = match p.moved_to {
                Some(m) => format!("moved to {}", printable(&m)),
                None if p.still_written => "so far; still being written, stays in the inbox and is read on".into(),
                None => "stopped; stays in the inbox".into(),
            };
            eprintln!(
                "{}: applied {}, duplicates skipped {}, rejected {}, tasks created {}, stage moves {}, key-account changes {}; {whereto}",
                printable(&p.file),
                c.applied,
                c.duplicates,
                c.rejected,
                c.tasks_created,
                c.stage_moves,
                c.key_account_changes
            );
        }
        Note::InboxError { file, error } => eprintln!("{}: not processed: {}", printable(&file), printable(&error)),
        Note::Webhook(w) => {
            let c = &w.summary.counts;
            let what = format!(
                "webhook {} #{}: {} event{}, applied {}, duplicates skipped {}, tasks created {}, stage moves {}",
                w.source,
                w.id,
                w.events,
                if w.events == 1 { "" } else { "s" },
                c.applied,
                c.duplicates,
                c.tasks_created,
                c.stage_moves
            );
            match (w.state, &w.reason) {
                (dealflow::store::DeliveryState::Unmappable, Some(why)) => {
                    eprintln!("{what}; unmappable, kept: {}", printable(why))
                }
                (_, Some(note)) => eprintln!("{what} ({})", printable(note)),
                _ => eprintln!("{what}"),
            }
        }
        Note::Ticked { at } => eprintln!("tick at {at}"),
        Note::Pruned { summary } => eprintln!("pruned ([store] keep_days) {summary}"),
        Note::Rebalanced { version, moved } => eprintln!(
            "re-balanced for {version}: {moved} open task(s) nobody had claimed moved (`dealflow explain task ID` says why)"
        ),
        Note::Simulated { version, summary } => eprintln!("simulated {version} {}", printable(&summary)),
        Note::Stopping => eprintln!("stopping: everything applied is committed"),
    }
}

fn print_problems(problems: &[String], snippets: &[Option<String>]) {
    for p in problems {
        eprintln!("  {}", printable(p));
    }
    for s in snippets.iter().flatten() {
        eprintln!("{}", printable_lines(s));
    }
}

pub fn watch(ctx: &Context, args: WatchArgs) -> Result<Outcome> {
    let stop = stop_flag()?;
    let options = Options {
        debounce: Duration::from_millis(args.debounce_ms),
        settle: Duration::from_millis(args.settle_ms),
        ..Options::default()
    };
    // A broken config.toml is watch's to handle (it starts on the stored rules); a missing one is not.
    if !ctx.dir.join(dealflow::config::CONFIG_FILE).exists() {
        ctx.config()?;
    }
    watch::run(&ctx.dir, ctx.db.as_deref(), &options, stop, Arc::new(print))?;
    Ok(Outcome::Ok)
}

pub fn run(ctx: &Context, args: RunArgs) -> Result<Outcome> {
    let stop = stop_flag()?;
    let playbook = ctx.playbook()?;
    let store = ctx.store_to_apply(&playbook, "run")?;
    let current = dealflow::playbook::current(playbook);
    let mut inbox = Inbox::new(&ctx.dir);
    let _lock = match inbox.try_lock()? {
        Ok(lock) => lock,
        Err(holder) => anyhow::bail!("{holder}; nothing was done (it processes the files itself)"),
    };
    let mut total = Summary::default();
    let mut files = Vec::new();
    for path in inbox.pending()? {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        // No settle time: a file is left for the next run only while a process has it open for writing.
        let p = inbox.process(&path, &store, &current, &stop, Duration::ZERO)?;
        total.add(&p.summary);
        if !args.json {
            print(Note::Processed(p.clone()));
        }
        files.push(p);
    }
    // Time passes too: one tick at the wall clock after the inbox, reported beside it.
    let tick = if stop.load(Ordering::SeqCst) { None } else { Some(watch::tick(&store, &current, &|_| {})?) };
    if args.json {
        output::json(&json!({"files": files, "total": total, "tick": tick}))?;
        return Ok(ended(&stop, &total));
    }
    if files.is_empty() {
        println!("the inbox ({}) is empty", printable(&inbox.dir().display().to_string()));
    } else {
        println!("{} file{}:", files.len(), if files.len() == 1 { "" } else { "s" });
        super::ingest::print_summary(&total, false)?;
    }
    match &tick {
        Some(t) if t.summary.counts.duplicates > 0 => println!("tick at {} was applied before: nothing new", t.at),
        Some(t) => {
            print!("tick at {}: ", t.at);
            super::ingest::print_summary(&t.summary, false)?;
        }
        None => {}
    }
    Ok(ended(&stop, &total))
}

/// A stop is a failure (the inbox may not be done); rejected lines are a partial success.
fn ended(stop: &std::sync::atomic::AtomicBool, total: &Summary) -> Outcome {
    if stop.load(Ordering::SeqCst) {
        Outcome::Failed
    } else if total.counts.rejected > 0 {
        Outcome::Partial
    } else {
        Outcome::Ok
    }
}
