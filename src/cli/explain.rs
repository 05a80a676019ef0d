//! `dealflow explain deal|account|task ID`: why the engine did what it did.

use anyhow::Result;
use dealflow::explain::{self, Explanation};

use super::Outcome;
use super::context::Context;
use super::output::{self, printable};

#[derive(Clone, Copy, clap::ValueEnum)]
enum Kind {
    Deal,
    Account,
    Task,
}

#[derive(clap::Args)]
pub struct Args {
    /// What to explain.
    #[arg(value_enum)]
    kind: Kind,
    /// Its id (a task's number for a task).
    id: String,
    /// Print a JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let playbook = ctx.playbook()?;
    let store = ctx.existing_store(&playbook.config)?;
    let e = match args.kind {
        Kind::Deal => explain::deal(&store, &playbook, &args.id)?,
        Kind::Account => explain::account(&store, &playbook, &args.id)?,
        Kind::Task => {
            let id = args.id.trim_start_matches(['T', 't', '#', '-']);
            let id: i64 = id.parse().map_err(|_| anyhow::anyhow!("{:?} is not a task number", args.id))?;
            explain::task(&store, &playbook, id)?
        }
    };
    if args.json {
        output::json(&e)?;
    } else {
        print(&e);
    }
    Ok(Outcome::Ok)
}

fn print(e: &Explanation) {
    println!("{}", printable(&e.summary));
    if let Some(k) = &e.key_now {
        let verdict = match (k.is_key, k.would_be_key) {
            (true, true) => "key, and the rules still say so",
            (false, false) => "not key: no key-account rule says key now",
            (true, false) => "key, but the rules would not make it key now (it changes with the next event about it)",
            (false, true) => "not key, but the rules would make it key now (it changes with the next event about it)",
        };
        println!("\nkey account now? {verdict}");
        for v in &k.verdicts {
            let says = match &v.reason {
                Some(r) => format!("{}: {r}", v.says),
                None => v.says.clone(),
            };
            println!("  {}  →  {}", printable(&v.rule), printable(&says));
            for c in &v.conditions {
                match &c.values {
                    Some(values) => {
                        println!("      {}  ({}): {}", printable(&c.text), printable(values), printable(&c.result))
                    }
                    None => println!("      {}: {}", printable(&c.text), printable(&c.result)),
                }
            }
        }
    }
    if let Some(r) = &e.rule_text {
        let note = if r.changed_since { " (it reads differently now)" } else { "" };
        println!("\nthe rule {} as it was in version {}{note}:\n", printable(&r.rule), r.rules_version);
        for line in r.text.lines() {
            println!("    {}", printable(line));
        }
    }
    if !e.timeline.is_empty() {
        println!();
        let mut t = output::table(&["AT", "WHAT", "RULE", "WHY", "VERSION", "EVENT"]);
        for x in &e.timeline {
            t.add_row(vec![
                x.at.clone(),
                x.what.clone(),
                x.rule.clone().unwrap_or_default(),
                x.reason.clone(),
                x.rules_version.clone(),
                x.event_id.clone(),
            ]);
        }
        println!("{t}");
    }
}
