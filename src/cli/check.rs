//! `dealflow check`: compile and validate config and rules.

use anyhow::Result;
use dealflow::error::{Error, Located};
use dealflow::rules::{RuleKind, RuleSet};
use serde_json::json;

use super::Outcome;
use super::context::Context;
use super::output::{self, printable, printable_lines};

/// How many problems `check` shows with their source line.
const SNIPPETS: usize = 20;

#[derive(clap::Args)]
pub struct Args {
    /// Print a JSON object: ok, version, rules, problems.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let loaded = ctx.config().and_then(|c| Ok(RuleSet::load(&c).map(|r| (c, r))?));
    let mut problems: Vec<Located> = match &loaded {
        Ok(_) => Vec::new(),
        Err(e) => match e.downcast_ref::<Error>() {
            Some(Error::Invalid(p)) => p.0.clone(),
            _ => return Err(anyhow::anyhow!("{e:#}")),
        },
    };
    // File, line and column order, whichever check found them.
    problems.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    let quarantined = loaded.as_ref().map(|(c, r)| quarantined(ctx, c, &r.version)).unwrap_or_default();
    if args.json {
        let rules = loaded.as_ref().map(|(_, r)| {
            r.all_rules()
                .iter()
                .map(|x| json!({"kind": x.kind.name(), "name": x.name, "file": x.file, "line": x.line, "doc": x.doc}))
                .collect::<Vec<_>>()
        });
        output::json(&json!({
            "ok": problems.is_empty(),
            "version": loaded.as_ref().ok().map(|(_, r)| r.version.clone()),
            "rules": rules.unwrap_or_default(),
            "problems": problems,
            "unstaffed_roles": loaded.as_ref().map(|(c, _)| dealflow::assign::unstaffed_roles(c)).unwrap_or_default(),
            "quarantined_rules": quarantined,
        }))?;
    } else if let Ok((config, rules)) = &loaded {
        for role in dealflow::assign::unstaffed_roles(config) {
            eprintln!("warning: nobody active has the role {}: its tasks will wait in the queue", printable(&role));
        }
        for h in &quarantined {
            eprintln!(
                "warning: {}:{}: {} is quarantined: it failed on {} events in a row and does not run until the rules change; last error: {}",
                printable(&h.file),
                h.line,
                printable(&h.rule),
                h.failures,
                printable(&h.last_error)
            );
        }
        let count = |k| rules.rules(k).count();
        println!(
            "ok: {} rules ({} stage, {} key-account, {} task) in {} files, version {}",
            rules.all_rules().len(),
            count(RuleKind::Stage),
            count(RuleKind::Key),
            count(RuleKind::Task),
            rules.files.len() - 1,
            rules.version
        );
    } else {
        // One line per problem on standard output (for scripts); where it is, on standard error (for
        // people), for the first ones: each snippet reads its file again.
        for (i, p) in problems.iter().enumerate() {
            println!("{}", printable(&p.to_string()));
            if i < SNIPPETS
                && let Some(snippet) = p.snippet(&ctx.dir)
            {
                eprintln!("{}\n", printable_lines(&snippet));
            }
        }
    }
    if problems.is_empty() {
        Ok(Outcome::Ok)
    } else {
        if !args.json {
            eprintln!("{} problem{} found", problems.len(), if problems.len() == 1 { "" } else { "s" });
        }
        Ok(Outcome::Failed)
    }
}

/// The rules of this version the database has quarantined (none without a database).
fn quarantined(ctx: &Context, config: &dealflow::config::Config, version: &str) -> Vec<dealflow::store::RuleHealth> {
    let location = ctx.location(config);
    if !location.may_exist() {
        return Vec::new();
    }
    let timeout = std::time::Duration::from_millis(config.store.busy_timeout_ms);
    match location.open_read_only(timeout).and_then(|s| s.rule_health(version)) {
        Ok(rows) => rows.into_iter().filter(|h| h.quarantined_at.is_some()).collect(),
        Err(e) => {
            tracing::debug!("rule health not read from {location}: {e}");
            Vec::new()
        }
    }
}
