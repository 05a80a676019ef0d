//! Command-line interface: argument parsing and dispatch.
//!
//! Exit codes: 0 all well; 1 a failure (bad config or rules, a missing file,
//! a locked database); 2 `ingest` applied the events but rejected some lines;
//! 64 (`EX_USAGE` of sysexits.h) the command line itself is wrong: nothing
//! was read or changed; 75 (`EX_TEMPFAIL`) the PostgreSQL server could not be
//! reached or was lost: nothing of the unit in progress was kept, run again.

mod bench;
mod check;
mod context;
mod explain;
mod import;
mod ingest;
mod init;
mod listing;
mod notify;
mod output;
mod prune;
mod serve;
pub mod signals;
mod simulate;
mod status;
mod tasks;
mod team;
mod test;
mod tick;
mod time_arg;
mod token;
mod warnings;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "dealflow",
    version,
    about = "A rules-driven workflow engine for B2B sales teams",
    long_about = "dealflow reads sales events (JSON Lines), lets the team's Rhai rules decide when deals move \
stages, which accounts are key and which follow-up tasks each role gets, and keeps it all in SQLite.\n\n\
A config folder holds config.toml and rules/*.rhai; the current directory is used unless --dir says otherwise.",
    after_help = "Start with:  dealflow check   then   dealflow ingest events.jsonl   then   dealflow tasks",
    after_long_help = "Start with:  dealflow check   then   dealflow ingest events.jsonl   then   dealflow tasks\n\n\
Exit codes: 0 all well; 1 a failure that stopped the command; 2 some input lines were rejected and the rest \
applied; 64 the command line is wrong (an unknown option, a value not of the option's form): nothing was done; \
75 the PostgreSQL server could not be reached or was lost: nothing half-written, run the same command again."
)]
pub struct Cli {
    /// The config folder (config.toml, rules/, inbox/).
    #[arg(long, global = true, default_value = ".", env = "DEALFLOW_DIR", value_name = "DIR")]
    dir: PathBuf,
    /// The store, instead of the one config.toml names: a SQLite file, or a
    /// PostgreSQL database as postgres://USER@HOST:PORT/DATABASE (password in PGPASSWORD).
    #[arg(long, global = true, env = "DEALFLOW_DB", value_name = "FILE|URL")]
    db: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a config folder with the default config, rules and an inbox.
    Init(init::Args),
    /// Compile and validate config and rules; print each problem as FILE:LINE:COL: message.
    Check(check::Args),
    /// Apply events from JSON Lines files (`-` for standard input), in order.
    Ingest(ingest::Args),
    /// Turn a CRM export (a crm-sales-opportunities folder, or any CSV with a mapping) into events and apply them.
    Import(import::Args),
    /// Process the inbox once: ingest each inbox/*.jsonl, move it to done/ or failed/.
    Run(watch::RunArgs),
    /// Stay running: hot-reload config and rules, process inbox files as they appear, tick.
    Watch(watch::WatchArgs),
    /// Everything `watch` does, and the team's web page and HTTP API from the same process.
    Serve(serve::Args),
    /// Let time pass: run the time rules at a business time (--now) or now.
    Tick(tick::Args),
    /// What candidate rules would have changed: replay the stored history under them (the database is only read).
    Simulate(simulate::Args),
    /// Run the rule tests in rules/tests/*.toml: each case's events through the rules, its expected outcome checked.
    Test(test::Args),
    /// List tasks, or claim, complete or cancel one.
    Tasks(tasks::Args),
    /// List accounts, key accounts first.
    Accounts(listing::AccountsArgs),
    /// List deals.
    Deals(listing::DealsArgs),
    /// The rules version in force and what the store holds.
    Status(status::Args),
    /// Who takes work: each person's roles, weight, cap, open tasks, working days and time off.
    Team(team::Args),
    /// Why: the events and decisions about a deal, an account (and why it is or is not key) or a task.
    Explain(explain::Args),
    /// Remove old decisions, stage history, rejected lines and finished tasks (events and task dedup keys stay).
    Prune(prune::Args),
    /// Access tokens for the web page and the HTTP API (`serve`): create, list, revoke.
    Token(token::Args),
    /// Notifications out ([notify] in config.toml): send a test message, list the queue.
    Notify(notify::Args),
    /// Measure ingest speed on a seeded synthetic stream (a scratch database; yours is untouched).
    Bench(bench::Args),
}

impl Command {
    /// Whether the command looks at the stop flag and stops cleanly on SIGINT and SIGTERM.
    fn stops_cleanly(&self) -> bool {
        matches!(
            self,
            Command::Ingest(_) | Command::Import(_) | Command::Run(_) | Command::Watch(_) | Command::Serve(_)
        )
    }
}

/// What a command ends with.
pub enum Outcome {
    Ok,
    /// Some input was rejected but the rest was applied.
    Partial,
    /// The command found problems and has printed them.
    Failed,
}

/// The exit code of a command stopped because the store's server could not be
/// reached or was lost (sysexits.h's `EX_TEMPFAIL`): nothing of the unit in
/// progress was kept, and the same command run again goes on where it stopped.
pub const TEMPFAIL: u8 = 75;

/// The exit code of a command line that does not parse (sysexits.h's `EX_USAGE`),
/// apart from 2, which says that some input lines were rejected.
pub const USAGE: u8 = 64;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` are not errors: clap prints them on standard output.
            let code = if e.use_stderr() { USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if !cli.command.stops_cleanly() {
        signals::default_action();
    }
    warnings::init();
    let ctx = context::Context { dir: cli.dir, db: cli.db };
    let result = match cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Check(a) => check::run(&ctx, a),
        Command::Ingest(a) => ingest::run(&ctx, a),
        Command::Import(a) => import::run(&ctx, a),
        Command::Run(a) => watch::run(&ctx, a),
        Command::Watch(a) => watch::watch(&ctx, a),
        Command::Serve(a) => serve::run(&ctx, a),
        Command::Tick(a) => tick::run(&ctx, a),
        Command::Test(a) => test::run(&ctx, a),
        Command::Simulate(a) => simulate::run(&ctx, a),
        Command::Tasks(a) => tasks::run(&ctx, a),
        Command::Accounts(a) => listing::accounts(&ctx, a),
        Command::Deals(a) => listing::deals(&ctx, a),
        Command::Prune(a) => prune::run(&ctx, a),
        Command::Token(a) => token::run(&ctx, a),
        Command::Notify(a) => notify::run(&ctx, a),
        Command::Status(a) => status::run(&ctx, a),
        Command::Team(a) => team::run(&ctx, a),
        Command::Explain(a) => explain::run(&ctx, a),
        Command::Bench(a) => bench::run(&ctx, a),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Partial) => ExitCode::from(2),
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {}", output::printable_lines(&format!("{e:#}")));
            let unreachable =
                e.chain().any(|c| c.downcast_ref::<dealflow::error::Error>().is_some_and(|e| e.is_unreachable()));
            ExitCode::from(if unreachable { TEMPFAIL } else { 1 })
        }
    }
}
