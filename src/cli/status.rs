//! `dealflow status`: the rules version in force and what the store holds.

use std::collections::BTreeMap;

use anyhow::Result;
use dealflow::rules::{read_rule_files, version_of};
use serde_json::json;

use super::Outcome;
use super::context::Context;
use super::output;

#[derive(clap::Args)]
pub struct Args {
    /// Print a JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let config = ctx.config()?;
    let store = ctx.existing_store(&config)?;
    let loaded = store.current_rules_version()?;
    let dealflow::store::backend::Counts { accounts, deals, key_accounts } = store.counts()?;
    let mut open: BTreeMap<String, i64> = config.roles.keys().map(|r| (r.clone(), 0)).collect();
    for dealflow::store::backend::RoleCount { role, open: n } in store.open_tasks_by_role()? {
        open.insert(role, n);
    }
    let rule_errors = store.decisions(Some("rule_error"), None)?;
    // The files on disk may have changed since the rules in force were loaded.
    let on_disk = read_rule_files(&config.rules_dir()).ok().map(|files| {
        let mut all = vec![(dealflow::config::CONFIG_FILE.to_string(), config.text.clone())];
        all.extend(files);
        version_of(&all)
    });
    let version = loaded.as_ref().map(|v| v.version.clone());
    let unstaffed = dealflow::assign::unstaffed_roles(&config);
    let waiting = store.waiting_handovers()?;
    let quarantined: Vec<_> = match &version {
        Some(v) => store.rule_health(v)?.into_iter().filter(|h| h.quarantined_at.is_some()).collect(),
        None => Vec::new(),
    };
    if args.json {
        output::json(&json!({
            "rules_version": version,
            "rules_loaded_at": loaded.as_ref().map(|v| v.loaded_at.clone()),
            "rules_on_disk": on_disk,
            "accounts": accounts,
            "deals": deals,
            "key_accounts": key_accounts,
            "open_tasks": open,
            "rule_errors": rule_errors.len(),
            "unstaffed_roles": unstaffed,
            "waiting_handovers": waiting,
            "quarantined_rules": quarantined,
            "database": store.path().display().to_string(),
        }))?;
        return Ok(Outcome::Ok);
    }
    match &loaded {
        Some(v) => println!("rules version {} (loaded {})", v.version, v.loaded_at),
        None => println!("no rules loaded yet"),
    }
    if on_disk.is_some() && on_disk != version {
        println!("  the files on disk are version {} (not loaded yet)", on_disk.as_deref().unwrap_or("?"));
    }
    println!("{accounts} accounts ({key_accounts} key), {deals} deals");
    let mut t = output::table(&["ROLE", "OPEN TASKS", "PEOPLE"]);
    t.whole(&["ROLE", "OPEN TASKS"]).wrap(&["PEOPLE"]);
    for (role, n) in &open {
        let people = config.team.iter().filter(|p| &p.role == role && p.active).count();
        let staff = if people == 0 { "nobody active: tasks wait in the queue".to_string() } else { people.to_string() };
        t.add_row(vec![role.clone(), n.to_string(), staff]);
    }
    println!("{t}");
    let roles: std::collections::BTreeSet<&str> = waiting.iter().map(|w| w.role.as_str()).collect();
    for role in roles {
        let ids: Vec<&str> = waiting.iter().filter(|w| w.role == role).map(|w| w.account_id.as_str()).collect();
        let n = ids.len();
        let accounts = if n == 1 { "account waits" } else { "accounts wait" };
        let role = dealflow::assign::a_role(role);
        output::say(
            0,
            2,
            &format!("{n} {accounts} for {role}: {} (handed over once the team has one)", ids.join(", ")),
        );
    }
    if !rule_errors.is_empty() {
        println!("{} rule errors; the latest:", rule_errors.len());
        for e in rule_errors.iter().rev().take(5) {
            output::say(2, 2, &format!("event {}: {}", e.event_id, e.reason));
        }
    }
    super::ingest::print_quarantined(&quarantined);
    Ok(Outcome::Ok)
}
