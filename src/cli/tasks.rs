//! `dealflow tasks`: list the queues; claim, complete or cancel a task.

use anyhow::Result;
use chrono::Utc;
use clap::Subcommand;
use dealflow::config::{Config, Lookup};
use dealflow::model::{TASK_STATUSES, Task};
use dealflow::store::{MAX_CLAIM_BATCH, TaskFilter, TaskStatus};
use dealflow::time::{now_stamp, stamp};

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
    /// Only tasks in this status.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(TASK_STATUSES))]
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
        /// Who takes it: a name on the team (`[[team]]` in config.toml).
        #[arg(long = "as", value_name = "NAME")]
        who: String,
        /// NAME is not on the team (a temp, someone from another team): act for them anyway.
        #[arg(long)]
        outside: bool,
        /// Print the claimed task as a JSON object (with --count: a JSON array of the claimed tasks).
        #[arg(long)]
        json: bool,
        /// Claim up to N tasks, the most urgent first (in atomic steps of up to 100 tasks).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// When the queue has nothing for you, wait up to SECONDS for a task to come
        /// (on PostgreSQL the engine's commit wakes the worker at once; on SQLite it
        /// looks five times a second), then claim it; Ctrl-C stops waiting.
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        wait: u64,
    },
    /// Mark a task done.
    Done {
        id: i64,
        /// What came of it.
        #[arg(long)]
        outcome: Option<String>,
        /// Who did it: a name on the team; refused if someone else holds the task (after your claim ran out, say).
        #[arg(long = "as", value_name = "NAME")]
        who: Option<String>,
        /// NAME is not on the team: act for them anyway.
        #[arg(long, requires = "who")]
        outside: bool,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a task, saying why.
    Cancel {
        id: i64,
        #[arg(long, required = true)]
        reason: String,
        /// Who cancels it: a name on the team; refused if someone else holds the task.
        #[arg(long = "as", value_name = "NAME")]
        who: Option<String>,
        /// NAME is not on the team: act for them anyway.
        #[arg(long, requires = "who")]
        outside: bool,
        #[arg(long)]
        json: bool,
    },
}

pub fn check_role(config: &Config, role: &str) -> Result<()> {
    if !config.has_role(role) {
        let h = dealflow::error::hint(role, config.roles.keys().map(String::as_str));
        anyhow::bail!(
            "unknown role {role:?}{h}; roles are: {}",
            config.roles.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// Tasks are taken and closed in the name of someone on the team: a name
/// that is not (a typo, a stale script) would take real work from the queue
/// and nobody on the team would see it again. `--outside` says the name is
/// meant (a temp, a colleague from another team); it is asked for on each
/// command, not set once in config.toml, so a typo is still caught for
/// everyone else.
///
/// `who` is a name or an id (`[[team]] id`); returns what the store keeps
/// for them ([`dealflow::config::Person::key`]). A name two people share
/// says nobody: refused, with their ids, even with `--outside`.
pub fn worker(config: &Config, who: &str, outside: bool) -> Result<String> {
    match config.lookup_person(who) {
        Lookup::Found(p) => return Ok(p.key().to_string()),
        Lookup::Ambiguous(_) => anyhow::bail!("{}; nothing was changed", config.ambiguous(who)),
        Lookup::Unknown if outside => return Ok(who.to_string()),
        Lookup::Unknown => {}
    }
    let known = config.team.iter().flat_map(|p| std::iter::once(p.name.as_str()).chain(p.id.as_deref()));
    let h = dealflow::error::hint(who, known);
    anyhow::bail!(
        "{who:?} is not on the team{h}; nothing was changed. The team is the [[team]] list of config.toml: add \
         them there, or pass --outside to act for someone from outside the team"
    )
}

/// Open tasks of `role` assigned to `key`'s name before the person had an
/// id go to their key, so a roster that gains ids keeps its queues.
fn adopt_named_tasks(config: &Config, store: &dealflow::store::Store, role: &str, key: &str) -> Result<()> {
    if let Some(p) = config.find_person(key)
        && p.id.is_some()
        && config.find_person(&p.name).is_some()
    {
        for id in store.open_tasks_of(role, &p.name)? {
            store.reassign_task(id, Some(key))?;
        }
    }
    Ok(())
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let config = ctx.config()?;
    match args.action {
        None => list(ctx, &config, args.role, args.assignee, args.status, args.json),
        Some(Action::Claim { role, who, outside, json, count, wait }) => {
            check_role(&config, &role)?;
            let who = worker(&config, &who, outside)?;
            let store = ctx.store(&config)?;
            let take = |n: u64| claim_now(&config, &store, &role, &who, n);
            // The first claim waits (up to `wait`) for a task to come; the later steps of --count do not.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
            let waited = std::cell::Cell::new(wait == 0);
            let said = std::cell::Cell::new(false);
            let stop = super::context::stop_flag()?;
            let claim = |n: u64| -> dealflow::error::Result<Vec<_>> {
                loop {
                    let step = take(n)?;
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if !step.is_empty()
                        || waited.get()
                        || left.is_zero()
                        || stop.load(std::sync::atomic::Ordering::Relaxed)
                    {
                        waited.set(true);
                        return Ok(step);
                    }
                    if !said.replace(true) {
                        eprintln!(
                            "no open {role} tasks for {} yet; waiting up to {wait} s for one",
                            output::printable(&config.person_label(&who))
                        );
                    }
                    // At most a second at a time, to see Ctrl-C.
                    store.wait_for_tasks(left.min(std::time::Duration::from_secs(1)))?;
                }
            };
            let Some(count) = count else {
                match claim(1)?.pop() {
                    Some(t) if json => output::json(&output::task_json(&config, &t))?,
                    Some(t) => print_claimed(&t, &config.person_label(&who)),
                    None => eprintln!("no open {role} tasks for {}", output::printable(&config.person_label(&who))),
                }
                return Ok(Outcome::Ok);
            };
            // In steps of at most MAX_CLAIM_BATCH tasks, each one transaction, so other
            // workers get their turn; each step is printed (or kept for the array) as
            // soon as it is taken: a failure half-way still shows every task now the worker's.
            let mut claimed = Vec::new();
            let mut failure = None;
            while (claimed.len() as u64) < count {
                match claim(count - claimed.len() as u64) {
                    Ok(step) if step.is_empty() => break,
                    Ok(step) => {
                        if !json {
                            step.iter().for_each(|t| print_claimed(t, &config.person_label(&who)));
                        }
                        claimed.extend(step);
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            if json {
                output::json(&claimed.iter().map(|t| output::task_json(&config, t)).collect::<Vec<_>>())?;
            }
            if let Some(e) = failure {
                return Err(e.into());
            }
            if (claimed.len() as u64) < count {
                eprintln!(
                    "no more open {role} tasks for {} (claimed {} of {count})",
                    output::printable(&config.person_label(&who)),
                    claimed.len()
                );
            }
            Ok(Outcome::Ok)
        }
        Some(Action::Done { id, outcome, who, outside, json }) => {
            let who = who.map(|who| worker(&config, &who, outside)).transpose()?;
            close(ctx, &config, id, TaskStatus::Done, outcome, who, json)
        }
        Some(Action::Cancel { id, reason, who, outside, json }) => {
            let who = who.map(|who| worker(&config, &who, outside)).transpose()?;
            close(ctx, &config, id, TaskStatus::Cancelled, Some(reason), who, json)
        }
    }
}

/// Claim up to `n` (at most [`MAX_CLAIM_BATCH`]) open tasks of `role` for
/// `who` (a key), the most urgent first, in one step.
pub fn claim_now(
    config: &Config,
    store: &dealflow::store::Store,
    role: &str,
    who: &str,
    n: u64,
) -> dealflow::error::Result<Vec<Task>> {
    adopt_named_tasks(config, store, role, who).map_err(|e| dealflow::error::Error::Usage(e.to_string()))?;
    let now = Utc::now();
    let n = n.min(MAX_CLAIM_BATCH as u64) as usize;
    store.claim_up_to(role, who, &stamp(now), config.tasks.lapsed_before(now).as_deref(), n)
}

fn print_claimed(t: &Task, who: &str) {
    println!(
        "claimed task {} for {}: {} (due {}, {})",
        t.id,
        output::printable(who),
        output::printable(&t.title),
        t.due_at,
        t.priority
    );
}

fn close(
    ctx: &Context,
    config: &Config,
    id: i64,
    status: TaskStatus,
    outcome: Option<String>,
    who: Option<String>,
    json: bool,
) -> Result<Outcome> {
    let store = ctx.existing_store(config)?;
    let task = close_as(config, &store, id, status, outcome.as_deref(), who)?;
    if json {
        output::json(&output::task_json(config, &task))?;
    } else {
        println!("task {} {}: {}", task.id, task.status, output::printable(&task.title));
    }
    Ok(Outcome::Ok)
}

/// Close task `id` as `who` (a key; `None`: whoever holds it), refused when
/// someone else holds it.
pub fn close_as(
    config: &Config,
    store: &dealflow::store::Store,
    id: i64,
    status: TaskStatus,
    outcome: Option<&str>,
    who: Option<String>,
) -> Result<Task> {
    // A claim stored under the person's name before they had an id is theirs.
    let who = match (who, store.task(id)?.and_then(|t| t.claimed_by)) {
        (Some(who), Some(holder)) if holder != who && config.same_person(&holder, &who) => Some(holder),
        (who, _) => who,
    };
    match store.close_task_as(id, status, who.as_deref(), outcome, &now_stamp())? {
        Ok(task) => Ok(task),
        Err(held) => anyhow::bail!("{}", held_by_another(&held, who.as_deref().unwrap_or_default(), config)),
    }
}

/// Why `who` may not close a task someone else has claimed.
fn held_by_another(t: &Task, who: &str, config: &Config) -> String {
    let holder = t.claimed_by.as_deref().map_or("someone else".to_string(), |h| config.person_label(h));
    let since = t.claimed_at.as_deref().unwrap_or("?");
    if t.released_from.as_deref() == Some(who) {
        format!(
            "task {} is not yours any more: your claim ran out after {} minutes ([tasks] lease_minutes) at {}, \
             and {holder} claimed it at {since}; nothing was changed",
            t.id,
            config.tasks.lease_minutes,
            t.released_at.as_deref().unwrap_or("?"),
        )
    } else {
        format!(
            "task {} is claimed by {holder} (since {since}), not by {}; nothing was changed",
            t.id,
            config.person_label(who)
        )
    }
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
    let store = ctx.existing_store(config)?;
    let status = status.as_deref().and_then(TaskStatus::parse);
    let tasks = list_tasks(config, &store, role, assignee, status)?;
    if json {
        output::json(&tasks.iter().map(|t| output::task_json(config, t)).collect::<Vec<_>>())?;
    } else {
        let names: Vec<String> = config.team.iter().map(|p| p.name.clone()).collect();
        print_table(config, &tasks, &names);
    }
    Ok(Outcome::Ok)
}

/// The tasks `tasks --role --assignee --status` lists, most urgent first.
pub fn list_tasks(
    config: &Config,
    store: &dealflow::store::Store,
    role: Option<String>,
    assignee: Option<String>,
    status: Option<TaskStatus>,
) -> Result<Vec<Task>> {
    // A person on the team is found by name or id, and so are their tasks
    // stored under their name before they had an id; anyone else as written.
    let person = match &assignee {
        Some(a) => match config.lookup_person(a) {
            Lookup::Found(p) => Some(p),
            Lookup::Ambiguous(_) => anyhow::bail!("--assignee {}", config.ambiguous(a)),
            Lookup::Unknown => None,
        },
        None => None,
    };
    Ok(match person {
        Some(p) if p.id.is_some() => {
            let mut tasks = store.tasks(&TaskFilter { role, assignee: None, status, subject: None })?;
            tasks.retain(|t| t.assignee.as_deref().is_some_and(|a| config.find_person(a) == Some(p)));
            tasks
        }
        Some(p) => store.tasks(&TaskFilter { role, assignee: Some(p.key().to_string()), status, subject: None })?,
        None => store.tasks(&TaskFilter { role, assignee, status, subject: None })?,
    })
}

fn print_table(config: &Config, tasks: &[Task], names: &[String]) {
    if tasks.is_empty() {
        println!("no tasks");
        return;
    }
    let mut t = output::table(&["ID", "PRIORITY", "DUE", "ROLE", "ASSIGNEE", "STATUS", "ABOUT", "TITLE"]);
    t.whole(&["ID", "PRIORITY", "DUE", "ROLE", "STATUS", "ABOUT"])
        .min("ASSIGNEE", 14)
        .min("TITLE", 40)
        .drop_first(&["ROLE", "STATUS", "PRIORITY"]);
    for task in tasks {
        t.add_row(vec![
            task.id.to_string(),
            task.priority.to_string(),
            task.due_at.clone(),
            task.role.clone(),
            output::glue(&or_dash(task.assignee.as_deref().map(|a| config.person_label(a)).as_deref()), names),
            task.status.to_string(),
            task.subject.to_string(),
            task.title.clone(),
        ]);
    }
    println!("{t}");
}
