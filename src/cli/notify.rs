//! `dealflow notify test [TARGET]`: send a test message to each `[notify]`
//! target (or one), now, to see that it works; `dealflow notify list`: the
//! notification queue, newest first.

use anyhow::{Result, bail};
use dealflow::store::outbox::{Notification, NotificationFilter, NotificationState};
use serde_json::json;

use super::Outcome;
use super::context::Context;
use super::output;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Send a test message to every [notify] target, or to one, and say how each answered.
    Test {
        /// A target's name (`[notify.NAME]`); all of them when left out.
        target: Option<String>,
    },
    /// The notifications sent, waiting or failed, newest first.
    List {
        /// Only those to this target.
        #[arg(long)]
        target: Option<String>,
        /// Only those `sent`, `pending` or `failed`.
        #[arg(long, value_parser = ["sent", "pending", "failed"])]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let config = ctx.config()?;
    match args.command {
        Sub::Test { target } => {
            let targets: Vec<_> = match &target {
                Some(name) => match config.notify.get(name) {
                    Some(t) => vec![t],
                    None => {
                        let names: Vec<&str> = config.notify.keys().map(String::as_str).collect();
                        bail!(
                            "there is no [notify.{name}] in config.toml{}",
                            dealflow::error::hint(name, names.iter().copied())
                        )
                    }
                },
                None => config.notify.values().collect(),
            };
            if targets.is_empty() {
                bail!("config.toml has no [notify.NAME] target (see the README, \"Notifications\")");
            }
            let agent = dealflow::notify::send::agent(dealflow::notify::Options::default().timeout);
            let mut failed = false;
            for t in targets {
                let message = dealflow::notify::message::test_message(t);
                let n = Notification {
                    id: 0,
                    target: t.name.clone(),
                    kind: "test".into(),
                    key: message.key.clone(),
                    subject: message.subject.clone(),
                    person: None,
                    payload: dealflow::notify::message::body(&message, t, &config),
                    created_at: String::new(),
                    attempts: 0,
                    next_attempt_at: String::new(),
                    sent_at: None,
                    last_error: None,
                    given_up_at: None,
                };
                match dealflow::notify::send::send(&agent, t, &n) {
                    Ok(()) => println!("notify.{}: sent", t.name),
                    Err(e) => {
                        failed = true;
                        println!("notify.{}: failed: {e}", t.name);
                    }
                }
            }
            Ok(if failed { Outcome::Failed } else { Outcome::Ok })
        }
        Sub::List { target, state, limit, json } => {
            let store = ctx.existing_store(&config)?;
            let state = state.as_deref().map(|s| match s {
                "sent" => NotificationState::Sent,
                "failed" => NotificationState::Failed,
                _ => NotificationState::Pending,
            });
            let rows = store.notifications(&NotificationFilter { target, state }, limit)?;
            if json {
                let rows: Vec<_> = rows
                    .iter()
                    .map(|n| {
                        let mut v = serde_json::to_value(n).unwrap_or_default();
                        v["state"] = json!(n.state());
                        v
                    })
                    .collect();
                output::json(&rows)?;
                return Ok(Outcome::Ok);
            }
            if rows.is_empty() {
                println!("no notifications");
                return Ok(Outcome::Ok);
            }
            let mut t = output::table(&["ID", "TARGET", "KIND", "ABOUT", "STATE", "TRIES", "WHEN", "LAST ERROR"]);
            t.whole(&["ID", "TARGET", "KIND", "STATE", "TRIES"]).wrap(&["ABOUT", "LAST ERROR"]);
            for n in &rows {
                let state = n.state();
                let when = match state {
                    NotificationState::Sent => n.sent_at.clone().unwrap_or_default(),
                    NotificationState::Failed => n.given_up_at.clone().unwrap_or_default(),
                    NotificationState::Pending => format!("next {}", n.next_attempt_at),
                };
                t.add_row(vec![
                    n.id.to_string(),
                    n.target.clone(),
                    n.kind.clone(),
                    n.subject.clone(),
                    serde_json::to_value(state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
                    n.attempts.to_string(),
                    when,
                    n.last_error.clone().unwrap_or_default(),
                ]);
            }
            println!("{t}");
            Ok(Outcome::Ok)
        }
    }
}
