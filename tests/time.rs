//! Time passing, driven through `dealflow tick --now T --json` at fixed
//! business times: stuck deals, quiet key accounts, ending contracts, overdue
//! tasks and targets behind plan, with the default rules of `rules/time.rhai`;
//! the business calendar (weekends and `[calendar] holidays`); firing once per
//! episode or once per `every_days` period; and how tasks are assigned
//! (round-robin, least-loaded, by region, re-routing when someone is away).
//!
//! Dates: 2026-11-02 is a Monday, 2026-11-06 a Friday, 2026-12-23 a
//! Wednesday (the 24th, 25th and 31st of December and 2027-01-01 are
//! holidays in the default config.toml).

mod common;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Weekday};
use common::events::*;
use common::{Workspace, event, sorted_titles, titles};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/// A supply contract (12 months or so: too short to make the account key).
fn contract(at: &str, id: &str, account: &str, start: &str, end: &str) -> String {
    event(
        "contract.signed",
        at,
        json!({"id": id, "account_id": account, "start": start, "end": end, "annual_value": 60000}),
    )
}

fn target(at: &str, account: &str, product: &str, period: &str, amount: u64) -> String {
    event("target.set", at, json!({"account_id": account, "product": product, "period": period, "amount": amount}))
}

// ---------------------------------------------------------------------------
// Commands and task fields
// ---------------------------------------------------------------------------

/// `dealflow tick --now NOW --json`: must succeed; the ingest summary.
fn tick(ws: &Workspace, now: &str) -> Value {
    ws.run(&["tick", "--now", now, "--json"]).success().json()
}

/// Asserts a tick applied one new clock event and created `tasks` tasks.
fn tick_creates(ws: &Workspace, now: &str, tasks: u64) -> Value {
    let s = tick(ws, now);
    assert_eq!(
        (&s["applied"], &s["duplicates"], &s["tasks_created"], &s["rule_errors"]),
        (&json!(1), &json!(0), &json!(tasks), &json!(0)),
        "tick at {now}: {s:#}\ntasks now: {:#?}",
        titles(&ws.tasks())
    );
    s
}

/// Asserts the tick at `now` was applied before and changes nothing.
fn tick_again(ws: &Workspace, now: &str) {
    let before = ws.tasks();
    let s = tick(ws, now);
    assert_eq!(
        (&s["applied"], &s["duplicates"], &s["tasks_created"]),
        (&json!(0), &json!(1), &json!(0)),
        "the same tick twice: {s:#}"
    );
    assert_eq!(ws.tasks(), before, "repeating the tick at {now} changed the tasks");
}

/// (role, assignee, priority, due_at) of a task.
fn brief(t: &Value) -> (&str, Option<&str>, &str, &str) {
    (
        t["role"].as_str().unwrap(),
        t["assignee"].as_str(),
        t["priority"].as_str().unwrap(),
        t["due_at"].as_str().unwrap(),
    )
}

fn id_of(t: &Value) -> i64 {
    t["id"].as_i64().unwrap_or_else(|| panic!("no id in {t}"))
}

fn subject(kind: &str, id: &str) -> Value {
    json!({"kind": kind, "id": id})
}

fn done(ws: &Workspace, t: &Value) {
    ws.run(&["tasks", "done", &id_of(t).to_string(), "--outcome", "handled"]).success();
}

/// Close every open or claimed task, so later ticks only show what time brings.
fn close_all(ws: &Workspace) {
    for t in ws.tasks() {
        if t["status"] == "open" || t["status"] == "claimed" {
            done(ws, &t);
        }
    }
}

/// Assignee of every task whose title starts with `prefix`, by title.
fn assignees(ws: &Workspace, prefix: &str) -> BTreeMap<String, Option<String>> {
    ws.tasks_titled(prefix)
        .iter()
        .map(|t| (t["title"].as_str().unwrap().to_string(), t["assignee"].as_str().map(str::to_string)))
        .collect()
}

/// Open (or claimed) tasks of a role per assignee.
fn load(ws: &Workspace, role: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for t in ws.tasks() {
        if t["role"] == role && (t["status"] == "open" || t["status"] == "claimed") {
            *m.entry(t["assignee"].as_str().unwrap_or("(queue)").to_string()).or_default() += 1;
        }
    }
    m
}

/// The latest task (highest id) with exactly this title.
fn latest_titled(ws: &Workspace, title: &str) -> Value {
    ws.tasks()
        .into_iter()
        .filter(|t| t["title"] == title)
        .max_by_key(id_of)
        .unwrap_or_else(|| panic!("no task titled {title:?}; titles: {:#?}", titles(&ws.tasks())))
}

/// A `[[team]]` entry to append to config.toml.
fn person(name: &str, role: &str, region: Option<&str>, active: bool) -> String {
    let mut s = format!("\n[[team]]\nname = \"{name}\"\nrole = \"{role}\"\n");
    if let Some(r) = region {
        s.push_str(&format!("region = \"{r}\"\n"));
    }
    if !active {
        s.push_str("active = false\n");
    }
    s
}

/// Insert text into config.toml right before the `[settings]` table (the team comes before it).
fn add_to_team(ws: &Workspace, entries: &str) {
    ws.edit("config.toml", "\n# Numbers the rules read", &format!("{entries}\n# Numbers the rules read"));
    ws.run(&["check"]).success();
}

/// Set `active = false` on one person of the default roster.
fn deactivate(ws: &Workspace, name: &str, role: &str) {
    let entry = format!("name = \"{name}\"\nrole = \"{role}\"\n");
    ws.edit("config.toml", &entry, &format!("{entry}active = false\n"));
    ws.run(&["check"]).success();
}

/// Everything a command printed, stdout then stderr.
fn printed(out: &common::Output) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

/// 1-based line where `needle` starts in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).unwrap_or_else(|| panic!("{needle:?} not found"))].matches('\n').count() + 1
}

// ---------------------------------------------------------------------------
// 1. Each time rule at fixed ticks
// ---------------------------------------------------------------------------

#[test]
fn a_stuck_deal_nudges_its_owner_then_escalates_to_the_sales_manager() {
    let ws = Workspace::new();
    let s = ws.ingest(&[
        account("2026-10-01T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        account("2026-10-01T08:00:00Z", "A-2", "Globex", json!({"region": "East"})),
        deal("2026-10-05T09:00:00Z", "D-1", "A-1", "Acme rollout", 20000, "Ana Ruiz"),
        // Its owner is not in the roster and the account has none: the nudge waits in the queue.
        deal("2026-10-05T09:00:00Z", "D-2", "A-2", "Globex kiosks", 20000, "Moses Frase"),
        // A closed deal is never stuck.
        deal("2026-10-05T09:00:00Z", "D-3", "A-1", "Acme spares", 5000, "Ana Ruiz"),
        request_stage("2026-10-06T09:00:00Z", "D-3", "A-1", "lost"),
    ]);
    assert_eq!(s["tasks_created"], 0);

    // One second short of 14 days in "lead": nothing yet.
    tick_creates(&ws, "2026-10-19T08:59:59Z", 0);
    // Exactly 14 days: each open deal's owner is nudged.
    tick_creates(&ws, "2026-10-19T09:00:00Z", 2);
    let nudge = ws.task_titled("Acme rollout has been in lead for 14 days: move it on");
    assert_eq!(brief(&nudge), ("sales_rep", Some("Ana Ruiz"), "high", "2026-10-20"));
    assert_eq!(nudge["subject"], subject("deal", "D-1"));
    assert_eq!(nudge["rule"], "rules/time.rhai::task_nudge_stuck_deal");
    assert_eq!(nudge["reason"], "over the 14-day limit for lead");
    assert_eq!(nudge["created_at"], "2026-10-19T09:00:00Z");
    let queued = ws.task_titled("Globex kiosks has been in lead for 14 days: move it on");
    assert_eq!(brief(&queued), ("sales_rep", None, "high", "2026-10-20"));
    assert!(ws.tasks_titled("Acme spares").is_empty(), "a lost deal is not stuck");

    // The same tick again, and a later tick the same day: nothing new.
    tick_again(&ws, "2026-10-19T09:00:00Z");
    tick_creates(&ws, "2026-10-19T17:00:00Z", 0);

    // The reps chased, the deals did not move. A week later: still the first episode.
    close_all(&ws);
    tick_creates(&ws, "2026-10-26T09:00:00Z", 0);

    // 28 days: twice the limit, the sales manager steps in (and no second nudge).
    tick_creates(&ws, "2026-11-02T09:00:00Z", 2);
    let esc = ws.task_titled("Escalation: Acme rollout stuck in lead for 28 days");
    assert_eq!(brief(&esc), ("sales_manager", Some("Farah Haddad"), "urgent", "2026-11-03"));
    assert_eq!(esc["subject"], subject("deal", "D-1"));
    assert_eq!(esc["reason"], "twice the 14-day limit for lead; owner Ana Ruiz");
    let esc2 = ws.task_titled("Escalation: Globex kiosks stuck in lead for 28 days");
    assert_eq!(brief(&esc2), ("sales_manager", Some("Farah Haddad"), "urgent", "2026-11-03"));
    assert_eq!(esc2["reason"], "twice the 14-day limit for lead; owner Moses Frase");
    assert_eq!(ws.tasks_titled("Acme rollout has been in").len(), 1);

    // Three times the limit: no rule for that. The escalations are overdue by
    // now, but sales_manager tasks are not escalated again.
    tick_creates(&ws, "2026-11-16T09:00:00Z", 0);

    // The deal moves on; its time in the new stage counts from the move.
    let s = ws.ingest(&[activity("2026-11-17T10:00:00Z", "A-1", Some("D-1"), None, "meeting")]);
    assert_eq!(s["stage_moves"], 1);
    tick_creates(&ws, "2026-12-01T09:59:59Z", 0);
    tick_creates(&ws, "2026-12-01T10:00:00Z", 1);
    let again = ws.task_titled("Acme rollout has been in qualified for 14 days: move it on");
    assert_eq!(brief(&again), ("sales_rep", Some("Ana Ruiz"), "high", "2026-12-02"));
    assert_eq!(again["reason"], "over the 14-day limit for qualified");
}

#[test]
fn a_quiet_key_account_gets_a_check_in_and_another_every_30_days() {
    let ws = Workspace::new();
    let s = ws.ingest(&[
        account("2026-09-01T08:00:00Z", "A-2", "Globex", json!({"owner": "Ben Okafor", "region": "East"})),
        // Globex is not key: however quiet, no check-in.
        activity("2026-09-01T10:00:00Z", "A-2", None, None, "call"),
        account("2026-09-01T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        contact("2026-09-01T08:01:00Z", "C-1", "A-1", "executive"),
        order_of("2026-10-01T09:00:00Z", "O-1", "A-1", 150000, "Service"),
        activity("2026-10-07T10:00:00Z", "A-1", None, Some("C-1"), "meeting"),
    ]);
    assert_eq!(s["key_account_changes"], 1);
    assert_eq!(ws.account("A-1")["owner"], "Dana Whitfield");
    close_all(&ws);

    // Last contact 2026-10-07T10:00: quiet 30 days later, on Friday 2026-11-06 at 10:00.
    tick_creates(&ws, "2026-11-06T09:59:59Z", 0);
    tick_creates(&ws, "2026-11-06T10:00:00Z", 1);
    let first = ws.task_titled("Check in with Acme Corp: no contact for 30 days");
    // Two business days after a Friday: Tuesday.
    assert_eq!(brief(&first), ("account_manager", Some("Dana Whitfield"), "high", "2026-11-10"));
    assert_eq!(first["subject"], subject("account", "A-1"));
    assert_eq!(first["rule"], "rules/time.rhai::task_check_in_quiet_key_account");
    assert_eq!(first["reason"], "key accounts need regular contact to stay loyal");
    assert!(ws.tasks_titled("Check in with Globex").is_empty(), "Globex is not a key account");
    tick_again(&ws, "2026-11-06T10:00:00Z");

    // Still quiet, same 30-day period: nothing new.
    done(&ws, &first);
    tick_creates(&ws, "2026-11-20T10:00:00Z", 0);
    tick_creates(&ws, "2026-12-06T09:59:59Z", 0);
    // 60 days (a Sunday): the second check-in.
    tick_creates(&ws, "2026-12-06T10:00:00Z", 1);
    let second = ws.task_titled("Check in with Acme Corp: no contact for 60 days");
    assert_eq!(brief(&second), ("account_manager", Some("Dana Whitfield"), "high", "2026-12-08"));
    tick_again(&ws, "2026-12-06T10:00:00Z");
    assert_eq!(ws.tasks_titled("Check in with").len(), 2);

    // A call resets the clock: the next check-in is 30 days after it.
    done(&ws, &second);
    ws.ingest(&[activity("2026-12-07T10:00:00Z", "A-1", None, None, "call")]);
    tick_creates(&ws, "2027-01-06T09:59:59Z", 0);
    tick_creates(&ws, "2027-01-06T10:00:00Z", 1);
    let third = latest_titled(&ws, "Check in with Acme Corp: no contact for 30 days");
    assert_eq!(brief(&third), ("account_manager", Some("Dana Whitfield"), "high", "2027-01-08"));
    assert_eq!(third["created_at"], "2027-01-06T10:00:00Z");
    assert_eq!(ws.tasks_titled("Check in with Acme Corp: no contact for 30 days").len(), 2);
}

#[test]
fn an_ending_contract_gets_a_renewal_pair_with_coordinators_taking_turns() {
    let ws = Workspace::new();
    let s = ws.ingest(&[
        account("2026-01-05T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Dana Whitfield", "region": "West"})),
        // Owned by a rep: the account manager's task waits in the queue.
        account("2026-01-05T08:00:00Z", "A-2", "Globex", json!({"owner": "Ana Ruiz", "region": "West"})),
        account("2026-01-05T08:00:00Z", "A-3", "Initech", json!({"owner": "Eli Novak", "region": "East"})),
        account("2026-01-05T08:00:00Z", "A-4", "Umbrella", json!({"owner": "Eli Novak", "region": "East"})),
        contract("2026-01-05T09:00:00Z", "K-1", "A-1", "2026-01-20", "2027-01-20"),
        contract("2026-01-05T09:00:00Z", "K-2", "A-2", "2026-01-25", "2027-01-25"),
        contract("2026-01-05T09:00:00Z", "K-3", "A-3", "2026-04-01", "2027-03-31"),
        contract("2026-01-05T09:00:00Z", "K-4", "A-4", "2026-04-15", "2027-04-15"),
    ]);
    assert_eq!((&s["tasks_created"], &s["key_account_changes"]), (&json!(0), &json!(0)));

    // 2026-10-01 + 90 days = 2026-12-30: no contract ends by then.
    tick_creates(&ws, "2026-10-01T09:00:00Z", 0);
    // 2026-11-02 + 90 days = 2027-01-31: K-1 and K-2 cross into the notice window.
    tick_creates(&ws, "2026-11-02T09:00:00Z", 4);
    let renew = ws.task_titled("Renew contract K-1 with Acme Corp (ends 2027-01-20)");
    assert_eq!(brief(&renew), ("account_manager", Some("Dana Whitfield"), "high", "2026-11-16"));
    assert_eq!(renew["reason"], "the contract ends in 79 days");
    assert_eq!(renew["subject"], subject("account", "A-1"));
    let paper = ws.task_titled("Prepare renewal paperwork for contract K-1 (Acme Corp)");
    assert_eq!(brief(&paper), ("sales_coordinator", Some("Gus Lindqvist"), "normal", "2026-11-23"));
    assert_eq!(paper["reason"], "renewal documents ready before the account manager's meeting");
    let renew2 = ws.task_titled("Renew contract K-2 with Globex (ends 2027-01-25)");
    assert_eq!(brief(&renew2), ("account_manager", None, "high", "2026-11-16"));
    let paper2 = ws.task_titled("Prepare renewal paperwork for contract K-2 (Globex)");
    assert_eq!(brief(&paper2), ("sales_coordinator", Some("Ines Moreau"), "normal", "2026-11-23"));
    tick_again(&ws, "2026-11-02T09:00:00Z");

    // Renewals done. The next contracts come due at later ticks; the
    // coordinators' turn carries over from one command to the next.
    close_all(&ws);
    tick_creates(&ws, "2027-01-04T09:00:00Z", 2);
    let renew3 = ws.task_titled("Renew contract K-3 with Initech (ends 2027-03-31)");
    assert_eq!(brief(&renew3), ("account_manager", Some("Eli Novak"), "high", "2027-01-18"));
    assert_eq!(renew3["reason"], "the contract ends in 86 days");
    let paper3 = ws.task_titled("Prepare renewal paperwork for contract K-3 (Initech)");
    assert_eq!(brief(&paper3), ("sales_coordinator", Some("Gus Lindqvist"), "normal", "2027-01-25"));
    tick_creates(&ws, "2027-01-20T09:00:00Z", 2);
    ws.task_titled("Renew contract K-4 with Umbrella (ends 2027-04-15)");
    let paper4 = ws.task_titled("Prepare renewal paperwork for contract K-4 (Umbrella)");
    assert_eq!(paper4["assignee"], "Ines Moreau");

    let turns: Vec<Option<String>> = assignees(&ws, "Prepare renewal paperwork").into_values().collect();
    assert_eq!(
        turns,
        [Some("Gus Lindqvist"), Some("Ines Moreau"), Some("Gus Lindqvist"), Some("Ines Moreau")]
            .map(|s| s.map(str::to_string))
    );
    // Each contract's renewal came once.
    assert_eq!(ws.tasks_titled("Renew contract").len(), 4);
}

#[test]
fn an_overdue_task_is_escalated_once_and_only_when_it_is_important() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"region": "West"})),
        // High priority, due Tuesday 2026-11-03.
        lead("2026-11-02T10:00:00Z", "L-1", json!({"company": "Alder Creek Dental", "source": "website"})),
        lead("2026-11-02T10:05:00Z", "L-2", json!({"company": "Birch Labs", "source": "webinar"})),
        // Normal priority, due Wednesday 2026-11-04.
        order("2026-11-02T11:00:00Z", "O-1", "A-1", 12000),
    ]);
    let call = ws.task_titled("Call new lead Alder Creek Dental");
    assert_eq!(brief(&call), ("sales_rep", None, "high", "2026-11-03"));
    let delivery = ws.task_titled("Confirm delivery of order O-1 for Acme Corp");
    assert_eq!(brief(&delivery), ("sales_coordinator", Some("Gus Lindqvist"), "normal", "2026-11-04"));
    // Birch Labs was called in time.
    done(&ws, &ws.task_titled("Call new lead Birch Labs"));

    // Due on the 3rd, overdue 3 days after it: from the 7th.
    tick_creates(&ws, "2026-11-06T18:00:00Z", 0);
    tick_creates(&ws, "2026-11-07T08:00:00Z", 1);
    let over = ws.task_titled("Overdue: Call new lead Alder Creek Dental");
    // Saturday + 1 business day: Monday.
    assert_eq!(brief(&over), ("sales_manager", Some("Farah Haddad"), "normal", "2026-11-09"));
    assert_eq!(over["subject"], subject("lead", "L-1"));
    assert_eq!(over["rule"], "rules/time.rhai::task_escalate_overdue_task");
    assert_eq!(over["reason"], format!("sales_rep task {} (unassigned) was due 2026-11-03", id_of(&call)));
    tick_again(&ws, "2026-11-07T08:00:00Z");

    // The delivery check is overdue from the 8th, but it is only normal priority.
    tick_creates(&ws, "2026-11-09T08:00:00Z", 0);
    // Much later: the call is still overdue (escalated once), and the escalation
    // itself is overdue but is the sales manager's own task.
    tick_creates(&ws, "2026-11-20T08:00:00Z", 0);
    assert_eq!(titles(&ws.tasks_titled("Overdue:")), ["Overdue: Call new lead Alder Creek Dental"]);
}

#[test]
fn a_key_account_behind_its_target_hears_weekly_while_it_stays_behind() {
    let ws = Workspace::new();
    let s = ws.ingest(&[
        account("2026-09-01T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        account("2026-09-01T08:00:00Z", "A-2", "Globex", json!({"owner": "Ben Okafor", "region": "East"})),
        account("2026-09-01T08:00:00Z", "A-3", "Initech", json!({"owner": "Ben Okafor", "region": "East"})),
        contact("2026-09-01T08:01:00Z", "C-1", "A-1", "executive"),
        contact("2026-09-01T08:01:00Z", "C-3", "A-3", "executive"),
        // Acme and Initech are key through another product's revenue.
        order_of("2026-09-15T09:00:00Z", "O-1", "A-1", 150000, "Service"),
        order_of("2026-09-15T09:00:00Z", "O-2", "A-3", 150000, "Service"),
        // Before the period: does not count for Q4.
        order("2026-09-20T09:00:00Z", "O-0", "A-1", 10000),
        target("2026-10-01T08:00:00Z", "A-1", "GTX Pro", "2026-Q4", 92000),
        // A period that has not begun in November.
        target("2026-10-01T08:00:00Z", "A-1", "GTX Pro", "2026-12", 50000),
        // Not a key account: the default rule leaves it alone.
        target("2026-10-01T08:00:00Z", "A-2", "GTX Pro", "2026-Q4", 92000),
        target("2026-10-01T08:00:00Z", "A-3", "GTX Pro", "2026-Q4", 92000),
        // Acme's GTX Pro revenue this quarter: 20000 ordered + 9000 won = 29000.
        order("2026-10-10T09:00:00Z", "O-3", "A-1", 20000),
        order_of("2026-10-10T09:00:00Z", "O-4", "A-1", 50000, "Service"),
        deal("2026-10-12T09:00:00Z", "D-1", "A-1", "Acme add-on", 9000, "Dana Whitfield"),
        request_stage("2026-10-13T09:00:00Z", "D-1", "A-1", "won"),
        // Initech: 40000.
        order("2026-10-10T09:00:00Z", "O-5", "A-3", 40000),
        // Recent contact: not quiet during this test.
        activity("2026-10-20T10:00:00Z", "A-1", None, None, "call"),
        activity("2026-10-20T10:00:00Z", "A-3", None, None, "call"),
    ]);
    assert_eq!(s["rule_errors"], 0);
    assert_eq!(ws.key_accounts(), ["A-1", "A-3"]);
    assert_eq!(ws.stage("D-1"), "won");
    close_all(&ws);

    // Monday 2026-11-02 is day 33 of 92: 92000 x 33/92 = 33000 expected, 90% = 29700 > 29000.
    tick_creates(&ws, "2026-11-02T09:00:00Z", 1);
    let behind = ws.task_titled("Acme Corp is behind its GTX Pro target for 2026-Q4");
    assert_eq!(brief(&behind), ("account_manager", Some("Dana Whitfield"), "normal", "2026-11-05"));
    assert_eq!(behind["subject"], subject("account", "A-1"));
    assert_eq!(behind["reason"], "sold 29,000 of 33,000 expected by now (target 92,000)");
    assert_eq!(behind["rule"], "rules/time.rhai::task_recover_target");
    assert!(ws.tasks_titled("Globex is behind").is_empty(), "Globex is not key");
    assert!(ws.tasks_titled("Initech is behind").is_empty(), "Initech sold 40000 >= 29700");
    assert!(ws.tasks_titled("Acme Corp is behind its GTX Pro target for 2026-12").is_empty());
    tick_again(&ws, "2026-11-02T09:00:00Z");

    // Same week of the period (days 28..34 from its start): nothing new.
    tick_creates(&ws, "2026-11-04T09:00:00Z", 0);
    // Day 35 starts the next week: still behind, a second task.
    tick_creates(&ws, "2026-11-05T09:00:00Z", 1);
    let again = latest_titled(&ws, "Acme Corp is behind its GTX Pro target for 2026-Q4");
    assert_ne!(id_of(&again), id_of(&behind));
    assert_eq!(brief(&again), ("account_manager", Some("Dana Whitfield"), "normal", "2026-11-10"));
    assert_eq!(again["reason"], "sold 29,000 of 36,000 expected by now (target 92,000)");
    // Targets are checked once a day.
    tick_creates(&ws, "2026-11-05T15:00:00Z", 0);

    // Acme catches up (49000 >= 90% of 43000): the next week brings nothing.
    ws.ingest(&[order("2026-11-06T09:00:00Z", "O-6", "A-1", 20000)]);
    tick_creates(&ws, "2026-11-12T09:00:00Z", 0);
    assert_eq!(ws.tasks_titled("Acme Corp is behind").len(), 2);
    assert!(ws.tasks_titled("Initech is behind").is_empty(), "40000 >= 90% of 43000");
}

// ---------------------------------------------------------------------------
// 2. Firing semantics and the calendar
// ---------------------------------------------------------------------------

#[test]
fn the_same_tick_twice_creates_nothing_and_a_later_tick_only_what_is_new() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-10-01T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ben Okafor", "region": "East"})),
        deal("2026-10-19T08:00:00Z", "D-1", "A-1", "First deal", 10000, "Ben Okafor"),
        deal("2026-10-19T12:00:00Z", "D-2", "A-1", "Second deal", 10000, "Ben Okafor"),
        contract("2026-10-01T09:00:00Z", "K-1", "A-1", "2026-01-20", "2027-01-20"),
    ]);
    tick_creates(&ws, "2026-11-02T09:00:00Z", 3);
    assert_eq!(
        sorted_titles(&ws.tasks()),
        [
            "First deal has been in lead for 14 days: move it on",
            "Prepare renewal paperwork for contract K-1 (Acme Corp)",
            "Renew contract K-1 with Acme Corp (ends 2027-01-20)",
        ]
    );
    tick_again(&ws, "2026-11-02T09:00:00Z");
    // The same time written another way is the same tick.
    let s = tick(&ws, "2026-11-02T10:00:00+01:00");
    assert_eq!((&s["applied"], &s["duplicates"]), (&json!(0), &json!(1)));

    // Later that day the second deal reaches 14 days: only its nudge is new.
    tick_creates(&ws, "2026-11-02T12:00:00Z", 1);
    let t = ws.task_titled("Second deal has been in lead for 14 days: move it on");
    assert_eq!(brief(&t), ("sales_rep", Some("Ben Okafor"), "high", "2026-11-03"));
    tick_again(&ws, "2026-11-02T12:00:00Z");
    tick_creates(&ws, "2026-11-02T18:00:00Z", 0);
    // A tick from the past changes nothing either.
    tick_creates(&ws, "2026-11-01T09:00:00Z", 0);
    assert_eq!(ws.tasks().len(), 4);
}

/// Every task and key account of a workspace, as `tasks --json` and
/// `accounts --json` print them.
fn everything(ws: &Workspace) -> (Vec<Value>, Vec<Value>) {
    (ws.tasks(), ws.accounts())
}

#[test]
fn history_loaded_after_a_later_tick_is_still_swept_by_the_next_tick() {
    let quarter = common::example("quarter.jsonl");
    // The quarter, then a tick a month after it.
    let plain = Workspace::new();
    plain.ingest_file(&quarter);
    tick(&plain, "2026-10-30T09:00:00Z");

    // A tick first (as `run` or `watch` started before an import do), then the same.
    let late = Workspace::new();
    tick_creates(&late, "2026-10-29T09:00:00Z", 0);
    let s = late.ingest_file(&quarter);
    assert_eq!(s["applied"], 315);
    tick(&late, "2026-10-30T09:00:00Z");

    let (want, got) = (everything(&plain), everything(&late));
    let time_rules =
        |tasks: &[Value]| tasks.iter().filter(|t| t["rule"].as_str().unwrap().contains("time.rhai")).count();
    assert_eq!(time_rules(&got.0), time_rules(&want.0), "tasks of rules/time.rhai");
    assert_eq!(got.0.len(), want.0.len(), "tasks: got {:#?}", titles(&got.0));
    assert_eq!(got, want);
}

#[test]
fn a_deal_recorded_late_is_nudged_by_the_next_tick_and_only_once() {
    let ws = Workspace::new();
    tick_creates(&ws, "2026-11-20T09:00:00Z", 0);
    // Sent after that tick, about three weeks before it.
    ws.ingest(&[
        account("2026-10-30T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ben Okafor", "region": "East"})),
        deal("2026-10-30T09:00:00Z", "D-1", "A-1", "Late deal", 10000, "Ben Okafor"),
    ]);
    tick_creates(&ws, "2026-11-20T10:00:00Z", 1);
    let t = ws.task_titled("Late deal has been in lead for 21 days: move it on");
    assert_eq!(brief(&t), ("sales_rep", Some("Ben Okafor"), "high", "2026-11-23"));
    tick_creates(&ws, "2026-11-20T11:00:00Z", 0);
    // Twice the limit: the escalation; and the nudge, left undone, is overdue.
    tick_creates(&ws, "2026-11-27T09:00:00Z", 2);
    ws.task_titled("Escalation: Late deal stuck in lead for 28 days");
    ws.task_titled("Overdue: Late deal has been in lead for 21 days: move it on");
    tick_creates(&ws, "2026-11-28T09:00:00Z", 0);
}

#[test]
fn no_due_date_falls_on_a_weekend_or_a_holiday() {
    let ws = Workspace::new();
    // A rule with a fixed due date on Christmas Day.
    ws.write(
        "rules/year_end.rhai",
        r#"/// Deals stuck at the end of the year get a year-end review.
fn task_year_end_review(event, deal) {
    if event.type == "deal.stuck" && event.data.times == 1 {
        return task("sales_rep", `Year-end review of ${deal.name}`, #{ due: "2026-12-25" });
    }
}
"#,
    );
    ws.run(&["check"]).success();
    ws.ingest(&[
        account("2026-10-01T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        deal("2026-10-23T09:00:00Z", "D-0", "A-1", "Friday deal", 10000, "Ana Ruiz"),
    ]);
    // Friday 2026-11-06: due one business day later is Monday.
    tick_creates(&ws, "2026-11-06T09:00:00Z", 2);
    assert_eq!(ws.task_titled("Friday deal has been in lead for 14 days: move it on")["due_at"], "2026-11-09");
    assert_eq!(ws.task_titled("Year-end review of Friday deal")["due_at"], "2026-12-28");

    ws.ingest(&[
        account("2026-11-20T08:00:00Z", "A-2", "Globex", json!({"owner": "Ben Okafor", "region": "East"})),
        order_of("2026-11-23T09:00:00Z", "O-1", "A-2", 150000, "Service"),
        target("2026-11-23T10:00:00Z", "A-2", "GTX Pro", "2026-Q4", 100000),
        deal("2026-11-25T09:00:00Z", "D-2", "A-1", "Escalated deal", 10000, "Ana Ruiz"),
        contract("2026-12-01T09:00:00Z", "K-1", "A-1", "2026-03-01", "2027-03-01"),
        deal("2026-12-09T09:00:00Z", "D-1", "A-1", "Christmas deal", 10000, "Ana Ruiz"),
        deal("2026-12-16T09:00:00Z", "D-3", "A-1", "New year deal", 10000, "Ana Ruiz"),
    ]);
    assert_eq!(ws.account("A-2")["is_key"], true);

    // Wednesday 2026-12-23, before the 24th and 25th (holidays) and a weekend:
    // a nudge and its year-end review, an escalation, a check-in, a target
    // behind, a renewal pair and two overdue escalations.
    tick_creates(&ws, "2026-12-23T09:00:00Z", 9);
    // Wednesday 2026-12-30, before the 31st, 2027-01-01 (holidays) and a
    // weekend: a nudge and its review, and the target's weekly reminder.
    tick_creates(&ws, "2026-12-30T09:00:00Z", 3);

    let expected = [
        ("Christmas deal has been in lead for 14 days: move it on", "2026-12-28"),
        ("Year-end review of Christmas deal", "2026-12-28"),
        ("Escalation: Escalated deal stuck in lead for 28 days", "2026-12-28"),
        ("Check in with Globex: no contact for 30 days", "2026-12-29"),
        ("Renew contract K-1 with Acme Corp (ends 2027-03-01)", "2027-01-12"),
        ("Prepare renewal paperwork for contract K-1 (Acme Corp)", "2027-01-19"),
        ("Overdue: Friday deal has been in lead for 14 days: move it on", "2026-12-28"),
        ("Overdue: Write the account plan for Globex", "2026-12-28"),
        ("New year deal has been in lead for 14 days: move it on", "2027-01-04"),
        ("Year-end review of New year deal", "2026-12-28"),
    ];
    for (title, due) in expected {
        assert_eq!(ws.task_titled(title)["due_at"], due, "{title}");
    }
    let mut target_dues: Vec<String> = ws
        .tasks_titled("Globex is behind its GTX Pro target for 2026-Q4")
        .iter()
        .map(|t| t["due_at"].as_str().unwrap().to_string())
        .collect();
    target_dues.sort();
    assert_eq!(target_dues, ["2026-12-30", "2027-01-06"], "the target's first and weekly reminders");

    let holidays: Vec<NaiveDate> =
        ["2026-12-24", "2026-12-25", "2026-12-31", "2027-01-01"].iter().map(|d| d.parse().unwrap()).collect();
    let tasks = ws.tasks();
    assert!(tasks.len() >= 15, "{:#?}", titles(&tasks));
    for t in &tasks {
        let due: NaiveDate = t["due_at"].as_str().unwrap().parse().unwrap();
        assert!(
            !matches!(due.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&due),
            "{:?} is due on {due} ({})",
            t["title"],
            due.weekday()
        );
    }
}

#[test]
fn a_contract_signed_inside_its_notice_window_still_gets_its_renewal_tasks() {
    // BUG (src/engine/clock.rs, ending_contracts): only contracts whose end
    // crosses into the window between the last tick and this one are found,
    // so a contract signed after a tick with less than 90 days to run never
    // gets renewal tasks. In `watch` (a tick every hour) that is every such
    // contract.
    let ws = Workspace::new();
    ws.ingest(&[account(
        "2026-11-01T08:00:00Z",
        "A-1",
        "Acme Corp",
        json!({"owner": "Dana Whitfield", "region": "West"}),
    )]);
    tick_creates(&ws, "2026-11-01T09:00:00Z", 0);
    ws.ingest(&[contract("2026-11-02T09:00:00Z", "K-9", "A-1", "2026-01-15", "2027-01-15")]);
    tick_creates(&ws, "2026-11-03T09:00:00Z", 2);
    let renew = ws.task_titled("Renew contract K-9 with Acme Corp (ends 2027-01-15)");
    assert_eq!(brief(&renew), ("account_manager", Some("Dana Whitfield"), "high", "2026-11-17"));
    ws.task_titled("Prepare renewal paperwork for contract K-9 (Acme Corp)");
}

#[test]
fn an_account_that_becomes_key_long_after_its_last_contact_is_checked_in_at_the_next_tick() {
    // BUG (src/engine/clock.rs, quiet_accounts): "already emitted" is
    // computed as if the account had been key at the previous tick. An
    // account last contacted on 2026-09-01 that becomes key on 2026-12-01,
    // after a tick on 2026-11-30, is quiet for 92 days at the tick of
    // 2026-12-02 but gets no check-in until 2026-12-31.
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-09-01T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        contact("2026-09-01T08:01:00Z", "C-1", "A-1", "executive"),
        activity("2026-09-01T09:00:00Z", "A-1", None, Some("C-1"), "call"),
    ]);
    tick_creates(&ws, "2026-11-30T09:00:00Z", 0);
    let s = ws.ingest(&[order_of("2026-12-01T09:00:00Z", "O-1", "A-1", 150000, "Service")]);
    assert_eq!(s["key_account_changes"], 1);
    tick_creates(&ws, "2026-12-02T09:00:00Z", 1);
    let t = ws.task_titled("Check in with Acme Corp: no contact for 92 days");
    assert_eq!(brief(&t), ("account_manager", Some("Dana Whitfield"), "high", "2026-12-04"));
}

// ---------------------------------------------------------------------------
// 3. Who gets the tasks
// ---------------------------------------------------------------------------

#[test]
fn round_robin_spreads_evenly_and_skips_inactive_people() {
    let ws = Workspace::new();
    // Roster order of coordinators: Gus, Ines, Lee (away), Kai.
    add_to_team(
        &ws,
        &(person("Lee Chen", "sales_coordinator", None, false) + &person("Kai Berg", "sales_coordinator", None, true)),
    );
    let orders: Vec<String> =
        (1..=6).map(|n| order(&format!("2026-11-02T09:0{n}:00Z"), &format!("O-{n}"), "A-1", 10000)).collect();
    let mut events = vec![account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"region": "West"}))];
    events.extend(orders);
    let s = ws.ingest(&events);
    assert_eq!(s["tasks_created"], 6);
    let who = |n: usize| ws.task_titled(&format!("Confirm delivery of order O-{n} for Acme Corp"))["assignee"].clone();
    let got: Vec<Value> = (1..=6).map(who).collect();
    assert_eq!(
        got,
        ["Gus Lindqvist", "Ines Moreau", "Kai Berg", "Gus Lindqvist", "Ines Moreau", "Kai Berg"].map(|s| json!(s))
    );

    // The turn is kept between commands: an ingest, then a tick.
    ws.ingest(&[
        order("2026-11-03T09:00:00Z", "O-7", "A-1", 10000),
        order("2026-11-03T09:01:00Z", "O-8", "A-1", 10000),
    ]);
    assert_eq!((who(7), who(8)), (json!("Gus Lindqvist"), json!("Ines Moreau")));
    ws.ingest(&[contract("2026-11-03T10:00:00Z", "K-1", "A-1", "2026-01-20", "2027-01-20")]);
    tick_creates(&ws, "2026-11-04T09:00:00Z", 2);
    assert_eq!(ws.task_titled("Prepare renewal paperwork for contract K-1 (Acme Corp)")["assignee"], "Kai Berg");

    let expected: BTreeMap<String, usize> =
        [("Gus Lindqvist", 3), ("Ines Moreau", 3), ("Kai Berg", 3)].map(|(n, c)| (n.to_string(), c)).into();
    assert_eq!(load(&ws, "sales_coordinator"), expected, "Lee Chen is away and gets nothing");
}

#[test]
fn least_loaded_gives_the_next_escalation_to_the_manager_with_fewest_open_tasks() {
    let ws = Workspace::new();
    add_to_team(&ws, &person("Max Weber", "sales_manager", None, true));
    let mut events = vec![account("2026-09-01T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz"}))];
    for (id, at) in [
        ("D-1", "2026-10-01T09:00:00Z"),
        ("D-2", "2026-10-01T09:00:00Z"),
        ("D-3", "2026-10-01T09:00:00Z"),
        ("D-4", "2026-10-05T09:00:00Z"),
        ("D-5", "2026-10-05T09:00:00Z"),
        ("D-6", "2026-10-06T09:00:00Z"),
    ] {
        events.push(deal(at, id, "A-1", &format!("Deal {id}"), 10000, "Ana Ruiz"));
    }
    ws.ingest(&events);

    // 28 days for D-1..D-3 (escalations), 23-24 days for D-4..D-6 (nudges).
    tick_creates(&ws, "2026-10-29T09:00:00Z", 6);
    let expected: BTreeMap<String, usize> =
        [("Farah Haddad", 2), ("Max Weber", 1)].map(|(n, c)| (n.to_string(), c)).into();
    assert_eq!(load(&ws, "sales_manager"), expected, "Farah, Max, then Farah again on a tie (roster order)");
    for t in ws.tasks_titled("Escalation:") {
        if t["assignee"] == "Max Weber" {
            done(&ws, &t);
        }
    }
    for t in ws.tasks_titled("Deal D-") {
        done(&ws, &t);
    }

    // Farah has 2 open, Max 0: both new escalations go to Max.
    tick_creates(&ws, "2026-11-02T09:00:00Z", 2);
    assert_eq!(ws.task_titled("Escalation: Deal D-4 stuck in lead for 28 days")["assignee"], "Max Weber");
    assert_eq!(ws.task_titled("Escalation: Deal D-5 stuck in lead for 28 days")["assignee"], "Max Weber");
    // 2 and 2: a tie goes to the first in the roster.
    tick_creates(&ws, "2026-11-03T09:00:00Z", 1);
    assert_eq!(ws.task_titled("Escalation: Deal D-6 stuck in lead for 28 days")["assignee"], "Farah Haddad");
    let expected: BTreeMap<String, usize> =
        [("Farah Haddad", 3), ("Max Weber", 2)].map(|(n, c)| (n.to_string(), c)).into();
    assert_eq!(load(&ws, "sales_manager"), expected);
}

#[test]
fn deactivating_someone_reroutes_their_open_tasks_on_the_next_tick() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        account("2026-11-02T08:00:00Z", "A-2", "Globex", json!({"owner": "Ben Okafor", "region": "East"})),
        lead("2026-11-02T09:00:00Z", "L-1", json!({"account_id": "A-1", "company": "Acme Corp", "source": "referral"})),
        lead("2026-11-02T09:00:00Z", "L-2", json!({"account_id": "A-2", "company": "Globex", "source": "referral"})),
        order("2026-11-02T10:00:00Z", "O-1", "A-1", 10000),
        order("2026-11-02T10:01:00Z", "O-2", "A-1", 10000),
        order("2026-11-02T10:02:00Z", "O-3", "A-1", 10000),
        order("2026-11-02T10:03:00Z", "O-4", "A-1", 10000),
        deal("2026-11-02T11:00:00Z", "D-1", "A-1", "Acme rollout", 20000, "Ana Ruiz"),
    ]);
    let delivery = |n: usize| ws.task_titled(&format!("Confirm delivery of order O-{n} for Acme Corp"));
    let before: Vec<Value> = (1..=4).map(|n| delivery(n)["assignee"].clone()).collect();
    assert_eq!(before, ["Gus Lindqvist", "Ines Moreau", "Gus Lindqvist", "Ines Moreau"].map(|s| json!(s)));
    assert_eq!(ws.task_titled("Call new lead Acme Corp")["assignee"], "Ana Ruiz");

    // Gus takes one of his tasks before going away.
    let claimed =
        ws.run(&["tasks", "claim", "--role", "sales_coordinator", "--as", "Gus Lindqvist", "--json"]).success().json();
    assert_eq!((&claimed["status"], &claimed["assignee"]), (&json!("claimed"), &json!("Gus Lindqvist")));
    let left = [delivery(1), delivery(3)].into_iter().find(|t| t["id"] != claimed["id"]).unwrap();
    assert_eq!(left["status"], "open");

    deactivate(&ws, "Gus Lindqvist", "sales_coordinator");
    deactivate(&ws, "Ana Ruiz", "sales_rep");
    // 14 days after D-1 was created: the tick re-routes first, then decides.
    tick_creates(&ws, "2026-11-16T11:00:00Z", 3);

    let find = |id: &Value| ws.tasks().into_iter().find(|t| &t["id"] == id).unwrap();
    let kept = find(&claimed["id"]);
    assert_eq!((&kept["status"], &kept["assignee"]), (&json!("claimed"), &json!("Gus Lindqvist")), "claimed stays");
    let moved = find(&left["id"]);
    assert_eq!((&moved["status"], &moved["assignee"]), (&json!("open"), &json!("Ines Moreau")), "round robin: Ines");
    assert_eq!(
        (delivery(2)["assignee"].clone(), delivery(4)["assignee"].clone()),
        (json!("Ines Moreau"), json!("Ines Moreau"))
    );
    // Owner strategy: back to the sales_rep queue; Ben's task stays his.
    assert_eq!(ws.task_titled("Call new lead Acme Corp")["assignee"], Value::Null);
    assert_eq!(ws.task_titled("Call new lead Globex")["assignee"], "Ben Okafor");
    // New work skips the inactive too.
    let nudge = ws.task_titled("Acme rollout has been in lead for 14 days: move it on");
    assert_eq!(brief(&nudge), ("sales_rep", None, "high", "2026-11-17"));
    let over = ws.task_titled("Overdue: Call new lead Acme Corp");
    assert!(over["reason"].as_str().unwrap().contains("(unassigned)"), "{over}");
    assert!(ws.task_titled("Overdue: Call new lead Globex")["reason"].as_str().unwrap().contains("(Ben Okafor)"));
    ws.ingest(&[order("2026-11-16T12:00:00Z", "O-5", "A-1", 10000)]);
    assert_eq!(delivery(5)["assignee"], "Ines Moreau");
    assert!(ws.tasks().iter().all(|t| t["status"] == "claimed" || t["assignee"] != "Gus Lindqvist"));
    assert!(ws.tasks().iter().all(|t| t["assignee"] != "Ana Ruiz"));
}

#[test]
fn key_accounts_wait_for_an_account_manager_and_get_one_when_one_joins() {
    let ws = Workspace::new();
    deactivate(&ws, "Dana Whitfield", "account_manager");
    deactivate(&ws, "Eli Novak", "account_manager");
    // Six accounts become key (more than quarantine_after = 5) with nobody to take them.
    let mut events = Vec::new();
    for i in 1..=6 {
        let id = format!("A-{i}");
        events.push(account(
            "2026-11-02T08:00:00Z",
            &id,
            &format!("Acme {i}"),
            json!({"owner": "Ben Okafor", "region": "East"}),
        ));
        events.push(order("2026-11-02T10:00:00Z", &format!("O-{i}"), &id, 160000));
    }
    let s = ws.ingest(&events);
    assert_eq!(
        (&s["key_account_changes"], &s["rule_errors"], &s["rules_quarantined"]),
        (&json!(6), &json!(0), &json!(0)),
        "{s:#}"
    );
    let waiting: Vec<Value> =
        (1..=6).map(|i| json!({"account_id": format!("A-{i}"), "role": "account_manager"})).collect();
    let status = ws.run(&["status", "--json"]).success().json();
    let listed: Vec<Value> = status["waiting_handovers"]
        .as_array()
        .unwrap_or_else(|| panic!("{status:#}"))
        .iter()
        .map(|w| json!({"account_id": w["account_id"], "role": w["role"]}))
        .collect();
    assert_eq!(listed, waiting);
    let text = ws.run(&["status"]).success().stdout;
    assert!(text.contains("6 accounts wait for an account_manager: A-1, A-2, A-3, A-4, A-5, A-6"), "{text}");
    let a1 = ws.account("A-1");
    assert_eq!((&a1["owner"], &a1["waiting_for"]), (&json!("Ben Okafor"), &json!("account_manager")));
    let table = ws.run(&["accounts"]).success().stdout;
    assert!(table.contains("Ben Okafor (waits for an account_manager)"), "{table}");
    // The account manager's tasks wait in the queue meanwhile.
    let plan = ws.task_titled("Write the account plan for Acme 1");
    assert_eq!((&plan["assignee"], &plan["status"]), (&Value::Null, &json!("open")));

    // Someone joins: the next command that applies events hands every account over.
    add_to_team(&ws, &person("Zoe Park", "account_manager", Some("East"), true));
    tick(&ws, "2026-11-03T09:00:00Z");
    for i in 1..=6 {
        let a = ws.account(&format!("A-{i}"));
        assert_eq!((&a["owner"], &a["waiting_for"]), (&json!("Zoe Park"), &Value::Null), "{a:#}");
    }
    assert_eq!(ws.task_titled("Write the account plan for Acme 1")["assignee"], "Zoe Park");
    let status = ws.run(&["status", "--json"]).success().json();
    assert_eq!(status["waiting_handovers"], json!([]));
    let explained = ws.run(&["explain", "account", "A-3"]).success().stdout;
    assert!(explained.contains("Zoe Park"), "{explained}");

    // From now on a new key account is handed over at once.
    ws.ingest(&[order("2026-11-04T10:00:00Z", "O-7", "A-7", 160000)]);
    assert_eq!(ws.account("A-7")["owner"], "Zoe Park");
}

#[test]
fn becoming_key_hands_the_account_to_an_account_manager_of_its_region() {
    let ws = Workspace::new();
    let s = ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        account("2026-11-02T08:00:00Z", "A-2", "Globex", json!({"owner": "Ben Okafor", "region": "East"})),
        account("2026-11-02T08:00:00Z", "A-3", "Initech", json!({"owner": "Chloe Martin", "region": "Central"})),
        account("2026-11-02T08:00:00Z", "A-4", "Umbrella", json!({"owner": "Ana Ruiz", "region": "West"})),
        order_of("2026-11-02T09:00:00Z", "O-1", "A-1", 150000, "Service"),
        order_of("2026-11-02T09:01:00Z", "O-2", "A-2", 150000, "Service"),
        order_of("2026-11-02T09:02:00Z", "O-3", "A-4", 150000, "Service"),
        // No account manager in Central: the one with fewer accounts (Eli: 1, Dana: 2).
        order_of("2026-11-02T09:03:00Z", "O-4", "A-3", 150000, "Service"),
    ]);
    assert_eq!((&s["key_account_changes"], &s["owner_changes"]), (&json!(4), &json!(4)));
    let owners: BTreeMap<String, String> = ws
        .accounts()
        .iter()
        .map(|a| (a["id"].as_str().unwrap().to_string(), a["owner"].as_str().unwrap().to_string()))
        .collect();
    let expected: BTreeMap<String, String> =
        [("A-1", "Dana Whitfield"), ("A-2", "Eli Novak"), ("A-3", "Eli Novak"), ("A-4", "Dana Whitfield")]
            .map(|(a, o)| (a.to_string(), o.to_string()))
            .into();
    assert_eq!(owners, expected);
    assert_eq!(ws.task_titled("Write the account plan for Globex")["assignee"], "Eli Novak");

    // A month without contact: each new owner checks in on their account.
    close_all(&ws);
    tick_creates(&ws, "2026-12-02T09:02:59Z", 3);
    tick_creates(&ws, "2026-12-02T09:03:00Z", 1);
    let got = assignees(&ws, "Check in with");
    let expected: BTreeMap<String, Option<String>> = [
        ("Check in with Acme Corp: no contact for 30 days", "Dana Whitfield"),
        ("Check in with Globex: no contact for 30 days", "Eli Novak"),
        ("Check in with Initech: no contact for 30 days", "Eli Novak"),
        ("Check in with Umbrella: no contact for 30 days", "Dana Whitfield"),
    ]
    .map(|(t, o)| (t.to_string(), Some(o.to_string())))
    .into();
    assert_eq!(got, expected);
}

#[test]
fn by_region_prefers_people_of_the_accounts_region_and_takes_turns_within_it() {
    let ws = Workspace::new();
    ws.edit("config.toml", "assign = \"round_robin\"\n", "assign = \"round_robin\"\nby_region = true\n");
    ws.edit("config.toml", "name = \"Gus Lindqvist\"\n", "name = \"Gus Lindqvist\"\nregion = \"West\"\n");
    ws.edit("config.toml", "name = \"Ines Moreau\"\n", "name = \"Ines Moreau\"\nregion = \"East\"\n");
    add_to_team(&ws, &person("Kai Berg", "sales_coordinator", Some("West"), true));
    let orders = [
        ("O-1", "A-1"),
        ("O-2", "A-2"),
        ("O-3", "A-3"),
        ("O-4", "A-1"),
        ("O-5", "A-2"),
        ("O-6", "A-1"),
        ("O-7", "A-3"),
        ("O-8", "A-3"),
    ];
    let mut events = vec![
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"region": "West"})),
        account("2026-11-02T08:00:00Z", "A-2", "Globex", json!({"region": "East"})),
        account("2026-11-02T08:00:00Z", "A-3", "Initech", json!({"region": "Central"})),
    ];
    for (i, (o, a)) in orders.iter().enumerate() {
        events.push(order(&format!("2026-11-02T09:0{i}:00Z"), o, a, 10000));
    }
    ws.ingest(&events);
    let got: Vec<(String, Value)> = ws
        .tasks_titled("Confirm delivery of order")
        .iter()
        .map(|t| (t["title"].as_str().unwrap().split(' ').nth(4).unwrap().to_string(), t["assignee"].clone()))
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let expected: Vec<(String, Value)> = [
        ("O-1", "Gus Lindqvist"), // West: Gus, Kai, Gus
        ("O-2", "Ines Moreau"),   // East: only Ines
        ("O-3", "Gus Lindqvist"), // Central has nobody: everyone takes turns
        ("O-4", "Kai Berg"),
        ("O-5", "Ines Moreau"),
        ("O-6", "Gus Lindqvist"),
        ("O-7", "Ines Moreau"),
        ("O-8", "Kai Berg"),
    ]
    .map(|(o, p)| (o.to_string(), json!(p)))
    .into();
    assert_eq!(got, expected);
}

// ---------------------------------------------------------------------------
// 4. Bad input
// ---------------------------------------------------------------------------

#[test]
fn a_tick_time_that_is_not_a_time_is_refused_with_the_forms_it_takes() {
    let ws = Workspace::new();
    for bad in ["yesterday", "2026-11-02 9am", "02/11/2026"] {
        let out = ws.run(&["tick", "--now", bad, "--json"]).code(64);
        let text = printed(&out);
        assert!(text.contains("2026-10-30T09:00:00Z") && text.contains(bad), "{text}");
        assert!(out.stdout.trim().is_empty(), "nothing on stdout: {}", out.stdout);
    }
    // Nothing was applied: the first real tick is new.
    tick_creates(&ws, "2026-11-02T09:00:00Z", 0);
}

#[test]
fn a_negative_stage_limit_is_an_error_naming_the_key() {
    let ws = Workspace::new();
    ws.edit("config.toml", "proposal = 21", "proposal = -3");
    let text = ws.read("config.toml");
    let line = line_of(&text, "proposal = -3");
    let out = ws.run(&["check"]).code(1);
    let msg = printed(&out);
    assert!(msg.contains(&format!("config.toml:{line}:")), "{msg}");
    assert!(msg.contains("proposal"), "the message names the key: {msg}");
    // Commands that load the config refuse to run.
    let out = ws.run(&["tick", "--now", "2026-11-02T09:00:00Z", "--json"]).code(1);
    assert!(printed(&out).contains(&format!("config.toml:{line}:")), "{}", printed(&out));

    let ws = Workspace::new();
    ws.edit("config.toml", "proposal = 21", "proposal = 0");
    let msg = printed(&ws.run(&["check"]).code(1));
    assert!(msg.contains("pipeline.stage_days.proposal") && msg.contains("at least 1"), "{msg}");
}

#[test]
fn an_unknown_assignment_strategy_is_an_error_naming_assign() {
    let ws = Workspace::new();
    ws.edit("config.toml", "paperwork.\"\nassign = \"round_robin\"", "paperwork.\"\nassign = \"random\"");
    let line = line_of(&ws.read("config.toml"), "assign = \"random\"");
    let msg = printed(&ws.run(&["check"]).code(1));
    assert!(msg.contains(&format!("config.toml:{line}:")), "{msg}");
    assert!(msg.contains("random") && msg.contains("round_robin"), "{msg}");
    assert!(msg.contains("assign"), "the message names the key: {msg}");
}

#[test]
fn a_stage_limit_for_a_stage_that_does_not_exist_suggests_the_right_one() {
    let ws = Workspace::new();
    ws.edit("config.toml", "negotiation = 30", "negotiaton = 30");
    let line = line_of(&ws.read("config.toml"), "negotiaton = 30");
    let msg = printed(&ws.run(&["check"]).code(1));
    assert!(msg.contains(&format!("config.toml:{line}:")), "{msg}");
    assert!(msg.contains("\"negotiaton\" is neither a stage of pipeline.stages nor a part"), "{msg}");
    assert!(msg.contains("did you mean \"negotiation\""), "{msg}");
}

// ---------------------------------------------------------------------------
// Key status that time alone changes: revenue leaving the 12-month window,
// contracts starting and ending
// ---------------------------------------------------------------------------

/// A supply contract long enough (24 months or more) to make the account key.
fn long_contract(at: &str, id: &str, account: &str, start: &str, end: &str) -> String {
    event(
        "contract.signed",
        at,
        json!({"id": id, "account_id": account, "start": start, "end": end, "annual_value": 90000}),
    )
}

#[test]
fn a_key_account_whose_revenue_aged_out_loses_key_status_at_the_next_tick() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-01-05T08:00:00Z", "A-1", "Oakline Labs", json!({"owner": "Ana Ruiz", "region": "West"})),
        order("2026-01-10T09:00:00Z", "O-1", "A-1", 160_000),
    ]);
    assert_eq!(ws.key_accounts(), ["A-1"]);

    // Within the 12 months: still key, nothing lost.
    let s = tick(&ws, "2026-12-01T07:00:00Z");
    assert_eq!(s["key_account_changes"], 0, "{s:#}");
    assert_eq!(ws.key_accounts(), ["A-1"]);

    // The order is more than 12 months old: no event about the account, but the tick's review sees it.
    let s = tick(&ws, "2027-01-12T07:00:00Z");
    assert_eq!(s["key_account_changes"], 1, "{s:#}");
    assert!(ws.key_accounts().is_empty());
    let alarm = ws.task_titled("Key account lost: Oakline Labs");
    assert_eq!(alarm["role"], "sales_manager");
    let a = ws.account("A-1");
    assert_eq!(a["is_key"], false);
    tick_again(&ws, "2027-01-12T07:00:00Z");

    // Reviewed once: a later tick changes nothing more.
    let s = tick(&ws, "2027-01-12T09:00:00Z");
    assert_eq!(s["key_account_changes"], 0, "{s:#}");
    assert_eq!(ws.tasks_titled("Key account lost").len(), 1);
}

#[test]
fn a_key_account_whose_long_contract_ended_loses_key_status_at_the_next_tick() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-01-05T08:00:00Z", "A-1", "Oakline Labs", json!({"owner": "Ana Ruiz", "region": "West"})),
        long_contract("2026-01-05T09:00:00Z", "K-1", "A-1", "2024-03-01", "2027-02-28"),
    ]);
    assert_eq!(ws.key_accounts(), ["A-1"]);
    assert_eq!(ws.account("A-1")["key_reason"], "long-term contract of 35 months");

    // Its last day: the contract is still active, the account still key.
    let s = tick(&ws, "2027-02-28T18:00:00Z");
    assert_eq!(s["key_account_changes"], 0, "{s:#}");
    assert_eq!(ws.key_accounts(), ["A-1"]);

    // The day after it ended: no event about the account, but the tick's review sees it.
    let s = tick(&ws, "2027-03-01T07:00:00Z");
    assert_eq!(s["key_account_changes"], 1, "{s:#}");
    assert!(ws.key_accounts().is_empty());
    let alarm = ws.task_titled("Key account lost: Oakline Labs");
    assert_eq!(alarm["role"], "sales_manager");
    tick_again(&ws, "2027-03-01T07:00:00Z");

    let s = tick(&ws, "2027-03-02T07:00:00Z");
    assert_eq!(s["key_account_changes"], 0, "{s:#}");
    assert_eq!(ws.tasks_titled("Key account lost").len(), 1);
}

#[test]
fn an_account_whose_long_contract_starts_later_becomes_key_when_it_starts() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Oakline Labs", json!({"owner": "Ana Ruiz", "region": "West"})),
        long_contract("2026-11-02T09:00:00Z", "K-1", "A-1", "2027-01-04", "2029-12-31"),
    ]);
    // Signed, not begun: not key yet.
    assert!(ws.key_accounts().is_empty());
    let s = tick(&ws, "2027-01-03T07:00:00Z");
    assert_eq!(s["key_account_changes"], 0, "{s:#}");
    assert!(ws.key_accounts().is_empty());

    // The day it begins: key, and handed to an account manager, with no event about the account.
    let s = tick(&ws, "2027-01-04T07:00:00Z");
    assert_eq!(s["key_account_changes"], 1, "{s:#}");
    assert_eq!(ws.key_accounts(), ["A-1"]);
    let a = ws.account("A-1");
    assert_eq!(a["key_reason"], "long-term contract of 35 months");
    assert_eq!(a["owner"], "Dana Whitfield");
    let plan = ws.task_titled("Write the account plan for Oakline Labs");
    assert_eq!(plan["role"], "account_manager");
    tick_again(&ws, "2027-01-04T07:00:00Z");
}
