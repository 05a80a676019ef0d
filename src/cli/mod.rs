//! Command-line interface: argument parsing and dispatch.
//!
//! Exit codes: 0 all well; 1 a failure (bad config or rules, a missing file,
//! a locked database); 2 `ingest` applied the events but rejected some lines.

mod bench;
mod check;
mod context;
mod explain;
mod import;
mod ingest;
mod init;
mod listing;
mod output;
pub mod signals;
mod simulate;
mod status;
mod tasks;
mod test;
mod tick;
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
    after_help = "Start with:  dealflow check   then   dealflow ingest events.jsonl   then   dealflow tasks"
)]
pub struct Cli {
    /// The config folder (config.toml, rules/, inbox/).
    #[arg(long, global = true, default_value = ".", env = "DEALFLOW_DIR", value_name = "DIR")]
    dir: PathBuf,
    /// The database file, instead of the one config.toml names.
    #[arg(long, global = true, env = "DEALFLOW_DB", value_name = "PATH")]
    db: Option<PathBuf>,
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
    /// Why: the events and decisions about a deal, an account (and why it is or is not key) or a task.
    Explain(explain::Args),
    /// Measure ingest speed on a seeded synthetic stream (a scratch database; yours is untouched).
    Bench(bench::Args),
}

impl Command {
    /// Whether the command looks at the stop flag and stops cleanly on SIGINT and SIGTERM.
    fn stops_cleanly(&self) -> bool {
        matches!(self, Command::Ingest(_) | Command::Import(_) | Command::Run(_) | Command::Watch(_))
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

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.command.stops_cleanly() {
        signals::default_action();
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
    let ctx = context::Context { dir: cli.dir, db: cli.db };
    let result = match cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Check(a) => check::run(&ctx, a),
        Command::Ingest(a) => ingest::run(&ctx, a),
        Command::Import(a) => import::run(&ctx, a),
        Command::Run(a) => watch::run(&ctx, a),
        Command::Watch(a) => watch::watch(&ctx, a),
        Command::Tick(a) => tick::run(&ctx, a),
        Command::Test(a) => test::run(&ctx, a),
        Command::Simulate(a) => simulate::run(&ctx, a),
        Command::Tasks(a) => tasks::run(&ctx, a),
        Command::Accounts(a) => listing::accounts(&ctx, a),
        Command::Deals(a) => listing::deals(&ctx, a),
        Command::Status(a) => status::run(&ctx, a),
        Command::Explain(a) => explain::run(&ctx, a),
        Command::Bench(a) => bench::run(&ctx, a),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Partial) => ExitCode::from(2),
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
