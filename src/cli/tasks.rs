//! `dealflow tasks`: list the queues; claim, complete or cancel a task.

use anyhow::Result;
use clap::Subcommand;
use dealflow::config::Config;
use dealflow::model::{TASK_STATUSES, Task};
use dealflow::store::TaskFilter;
use dealflow::time::now_stamp;

use super::Outcome;
use super::context::Context;
use super::output::{self, or_dash};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Only tasks of this role.
    #[arg(long)]
    role: Option<String>,
    /// Only tasks assigned to this person.
    #[arg(long)]
    assignee: Option<String>,
    /// Only tasks in this status: open, claimed, done, cancelled.
    #[arg(long)]
    status: Option<String>,
    /// Print a JSON array.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Action {
    /// Take the most urgent open task of a role (assigned to you or to nobody).
    Claim {
        /// The role whose queue to take from.
        #[arg(long)]
        role: String,
        /// Who takes it.
        #[arg(long = "as", value_name = "NAME")]
        who: String,
        /// Print the claimed task as a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Mark a task done.
    Done {
        id: i64,
        /// What came of it.
        #[arg(long)]
        outcome: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a task, saying why.
    Cancel {
        id: i64,
        #[arg(long, required = true)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
}

fn check_role(config: &Config, role: &str) -> Result<()> {
    if !config.has_role(role) {
        let h = dealflow::error::hint(role, config.roles.keys().map(String::as_str));
        anyhow::bail!(
            "unknown role {role:?}{h}; roles are: {}",
            config.roles.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let config = ctx.config()?;
    match args.action {
        None => list(ctx, &config, args.role, args.assignee, args.status, args.json),
        Some(Action::Claim { role, who, json }) => {
            check_role(&config, &role)?;
            let store = ctx.store(&config)?;
            match store.claim(&role, &who, &now_stamp())? {
                Some(t) if json => output::json(&t)?,
                Some(t) => println!("claimed task {} for {who}: {} (due {}, {})", t.id, t.title, t.due_at, t.priority),
                None => eprintln!("no open {role} tasks for {who}"),
            }
            Ok(Outcome::Ok)
        }
        Some(Action::Done { id, outcome, json }) => close(ctx, &config, id, "done", outcome, json),
        Some(Action::Cancel { id, reason, json }) => close(ctx, &config, id, "cancelled", Some(reason), json),
    }
}

fn close(
    ctx: &Context,
    config: &Config,
    id: i64,
    status: &str,
    outcome: Option<String>,
    json: bool,
) -> Result<Outcome> {
    let store = ctx.existing_store(config)?;
    let task = store.close_task(id, status, None, outcome.as_deref(), &now_stamp())?;
    if json {
        output::json(&task)?;
    } else {
        println!("task {} {}: {}", task.id, task.status, task.title);
    }
    Ok(Outcome::Ok)
}

fn list(
    ctx: &Context,
    config: &Config,
    role: Option<String>,
    assignee: Option<String>,
    status: Option<String>,
    json: bool,
) -> Result<Outcome> {
    if let Some(r) = &role {
        check_role(config, r)?;
    }
    if let Some(s) = &status
        && !TASK_STATUSES.contains(&s.as_str())
    {
        anyhow::bail!("unknown status {s:?}; use one of {}", TASK_STATUSES.join(", "));
    }
    let store = ctx.existing_store(config)?;
    let tasks = store.tasks(&TaskFilter { role, assignee, status, subject: None })?;
    if json {
        output::json(&tasks)?;
    } else {
        print_table(&tasks);
    }
    Ok(Outcome::Ok)
}

fn print_table(tasks: &[Task]) {
    if tasks.is_empty() {
        println!("no tasks");
        return;
    }
    let mut t = output::table(&["ID", "PRIORITY", "DUE", "ROLE", "ASSIGNEE", "STATUS", "ABOUT", "TITLE"]);
    for task in tasks {
        t.add_row(vec![
            task.id.to_string(),
            task.priority.clone(),
            task.due_at.clone(),
            task.role.clone(),
            or_dash(task.assignee.as_deref()),
            task.status.clone(),
            task.subject.to_string(),
            task.title.clone(),
        ]);
    }
    println!("{t}");
}
