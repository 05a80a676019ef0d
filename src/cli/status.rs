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

/// What `status` reports, read once for the text and the JSON (and the web page).
pub struct Status {
    pub loaded: Option<dealflow::store::backend::StoredVersion>,
    pub counts: dealflow::store::backend::Counts,
    pub open: BTreeMap<String, i64>,
    pub rule_errors: Vec<dealflow::store::backend::DecisionRow>,
    pub on_disk: Option<String>,
    pub unstaffed: Vec<String>,
    pub waiting: Vec<dealflow::store::backend::WaitingHandover>,
    pub quarantined: Vec<dealflow::store::RuleHealth>,
    pub location: dealflow::store::Location,
    pub lease: Option<dealflow::store::backend::LeaseRow>,
    pub processes: Vec<dealflow::store::backend::ProcessRow>,
    /// CRM webhooks stored and not applied yet, or kept as unmappable.
    pub webhooks: dealflow::store::DeliveryCounts,
    /// Notifications out ([notify]); a database read only and older than the queue has none.
    pub notifications: Option<dealflow::store::outbox::NotificationCounts>,
    /// Who is away on the business day, and why tasks wait in each role's queue.
    pub team: dealflow::availability::Today,
}

impl Status {
    pub fn gather(ctx: &Context, config: &dealflow::config::Config, store: &dealflow::store::Store) -> Result<Status> {
        let loaded = store.current_rules_version()?;
        let counts = store.counts()?;
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
        let quarantined: Vec<_> = match &loaded {
            Some(v) => store.rule_health(&v.version)?.into_iter().filter(|h| h.quarantined_at.is_some()).collect(),
            None => Vec::new(),
        };
        // One engine in force (PostgreSQL): the lease, and the processes seen within a few leases.
        let recent = 3.0 * config.store.lease_seconds as f64;
        let processes: Vec<_> = if store.uses_lease() {
            store
                .engine_processes()?
                .into_iter()
                .filter(|p| p.seconds_since_seen.is_some_and(|s| s <= recent))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Status {
            loaded,
            counts,
            open,
            rule_errors,
            on_disk,
            unstaffed: dealflow::assign::unstaffed_roles(config),
            waiting: store.waiting_handovers()?,
            quarantined,
            location: ctx.location(config),
            lease: store.engine_lease()?,
            processes,
            webhooks: store.delivery_counts()?,
            notifications: store.notification_counts().ok(),
            team: dealflow::availability::on(config, store, dealflow::availability::business_today(config, store)?)?,
        })
    }

    /// `status --json`.
    pub fn json(&self, config: &dealflow::config::Config, store: &dealflow::store::Store) -> serde_json::Value {
        let lease_json = match &self.lease {
            Some(l) => json!({
                "used": true,
                "held": l.held,
                "holder": l.holder,
                "epoch": l.epoch,
                "host": l.host,
                "pid": l.pid,
                "command": l.command,
                "taken_at": l.taken_at,
                "renewed_at": l.renewed_at,
                "expires_at": l.expires_at,
                "expired": l.expired,
                "released_at": l.released_at,
                "lease_seconds": config.store.lease_seconds,
            }),
            None => json!({"used": false, "why": "SQLite: one machine; its writers take turns"}),
        };
        let dealflow::store::backend::Counts { accounts, deals, key_accounts } = self.counts;
        json!({
            "backend": self.location.kind(),
            "lease": lease_json,
            "processes": self.processes,
            "rules_version": self.loaded.as_ref().map(|v| v.version.clone()),
            "rules_loaded_at": self.loaded.as_ref().map(|v| v.loaded_at.clone()),
            "rules_on_disk": self.on_disk,
            "accounts": accounts,
            "deals": deals,
            "key_accounts": key_accounts,
            "open_tasks": self.open,
            "rule_errors": self.rule_errors.len(),
            "unstaffed_roles": self.unstaffed,
            "waiting_handovers": self.waiting,
            "quarantined_rules": self.quarantined,
            "webhooks": self.webhooks,
            "notifications": self.notifications,
            "today": self.team.today,
            "away_today": self.team.away,
            "queues": self.team.queues,
            "database": store.path().display().to_string(),
        })
    }
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let config = ctx.config()?;
    let store = ctx.existing_store(&config)?;
    let status = Status::gather(ctx, &config, &store)?;
    if args.json {
        output::json(&status.json(&config, &store))?;
        return Ok(Outcome::Ok);
    }
    let Status {
        loaded,
        counts,
        open,
        rule_errors,
        on_disk,
        waiting,
        quarantined,
        location,
        lease,
        processes,
        webhooks,
        notifications,
        team,
        ..
    } = status;
    let version = loaded.as_ref().map(|v| v.version.clone());
    let dealflow::store::backend::Counts { accounts, deals, key_accounts } = counts;
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
        let people = config.team.iter().filter(|p| p.has_role(role) && p.active).count();
        let staff = if people == 0 { "nobody active: tasks wait in the queue".to_string() } else { people.to_string() };
        t.add_row(vec![role.clone(), n.to_string(), staff]);
    }
    println!("{t}");
    // Only the queues that wait on people: away, or at their cap.
    for q in team.queues.iter().filter(|q| q.waits_on_people()) {
        output::say(0, 2, &q.sentence());
    }
    if let Some(away) = team.away_sentence() {
        output::say(0, 2, &away);
    }
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
    if webhooks.pending > 0 || webhooks.unmappable > 0 {
        println!(
            "webhook deliveries: {} pending (the engine in force applies them), {} unmappable (kept with their reason)",
            webhooks.pending, webhooks.unmappable
        );
    }
    if let Some(n) = notifications
        && (!config.notify.is_empty() || n != Default::default())
    {
        println!("notifications: {} sent, {} pending, {} failed", n.sent, n.pending, n.failed);
    }
    // On SQLite the text stays as it was (one machine, no lease; `--json` says so).
    if lease.is_some() {
        println!("store: {location}");
    }
    match &lease {
        None => {}
        Some(l) if l.epoch == 0 => println!("lease: never taken yet (no process has applied events here)"),
        Some(l) if !l.held => println!(
            "lease: free (last held by {}, epoch {}, released at {})",
            l.holder.as_deref().unwrap_or("?"),
            l.epoch,
            l.released_at.as_deref().unwrap_or("?")
        ),
        Some(l) => {
            let until = match l.expires_in_seconds {
                Some(s) if s < 0.0 => format!(
                    "expired at {} ({:.0} s ago): a standby takes over",
                    l.expires_at.as_deref().unwrap_or("?"),
                    -s
                ),
                _ => format!("expires at {} unless renewed", l.expires_at.as_deref().unwrap_or("?")),
            };
            println!(
                "lease: held by {} (epoch {}) since {}; {until}",
                l.holder.as_deref().unwrap_or("?"),
                l.epoch,
                l.taken_at.as_deref().unwrap_or("?")
            );
        }
    }
    if !processes.is_empty() {
        let mut t = output::table(&["PROCESS", "ROLE", "RULES IN FORCE", "STARTED", "LAST SEEN"]);
        for p in &processes {
            t.add_row(vec![
                format!("{} on {} pid {}", p.command, p.host, p.pid),
                p.role.clone(),
                p.rules_version.clone().unwrap_or_else(|| "-".into()),
                p.started_at.clone().unwrap_or_default(),
                p.last_seen.clone().unwrap_or_default(),
            ]);
        }
        println!("{t}");
    }
    Ok(Outcome::Ok)
}
