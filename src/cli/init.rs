//! `dealflow init`: a new config folder with the default playbook.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::Outcome;
use super::context::Context;

/// The defaults shipped inside the binary (the same files as the repository's).
const FILES: [(&str, &str); 11] = [
    ("config.toml", include_str!("../../config.toml")),
    ("rules/stages.rhai", include_str!("../../rules/stages.rhai")),
    ("rules/key_accounts.rhai", include_str!("../../rules/key_accounts.rhai")),
    ("rules/tasks_sales.rhai", include_str!("../../rules/tasks_sales.rhai")),
    ("rules/tasks_account_management.rhai", include_str!("../../rules/tasks_account_management.rhai")),
    ("rules/time.rhai", include_str!("../../rules/time.rhai")),
    ("rules/tests/stages.toml", include_str!("../../rules/tests/stages.toml")),
    ("rules/tests/key_accounts.toml", include_str!("../../rules/tests/key_accounts.toml")),
    ("rules/tests/sales_tasks.toml", include_str!("../../rules/tests/sales_tasks.toml")),
    ("rules/tests/account_management.toml", include_str!("../../rules/tests/account_management.toml")),
    ("rules/tests/time.toml", include_str!("../../rules/tests/time.toml")),
];

#[derive(clap::Args)]
pub struct Args {
    /// The folder to create (default: --dir, else the current directory).
    folder: Option<PathBuf>,
    /// Overwrite files that exist already.
    #[arg(long)]
    force: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let dir = args.folder.unwrap_or_else(|| ctx.dir.clone());
    if !args.force
        && let Some((existing, _)) = FILES.iter().find(|(name, _)| dir.join(name).exists())
    {
        anyhow::bail!("{} exists already; use --force to overwrite the defaults", dir.join(existing).display());
    }
    for sub in ["rules/tests", "inbox"] {
        std::fs::create_dir_all(dir.join(sub)).with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
    }
    for (name, text) in FILES {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let rules = FILES.iter().filter(|(n, _)| n.ends_with(".rhai")).count();
    let tests = FILES.iter().filter(|(n, _)| n.ends_with(".toml") && n.starts_with("rules/")).count();
    let shown = super::output::printable(&dir.display().to_string());
    println!("created {shown} with config.toml, {rules} rule files, {tests} rule test files and inbox/");
    println!(
        "next: edit config.toml (your pipeline's stages and [pipeline.parts], team, thresholds), then `dealflow --dir {shown} check` and `dealflow --dir {shown} test`"
    );
    Ok(Outcome::Ok)
}
