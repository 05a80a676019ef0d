//! The dealflow command as a user meets it: a config folder laid out with
//! `dealflow init`, events fed with `dealflow ingest`, and the decisions read
//! back with `tasks`, `accounts`, `deals` and `status` (all with `--json`).
//!
//! Dates: 2026-11-02 is a Monday, 2026-11-06 a Friday. Due dates count
//! business days from the event's day, so a task due "in 1 day" on a Friday
//! is due the next Monday.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};
use common::events::*;
use common::{Workspace, array, event, example, rejections, sorted_titles, titles};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Small helpers for the tests below
// ---------------------------------------------------------------------------

/// 1-based line and column where `needle` starts in `text`.
fn line_col(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not found"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap().chars().count() + 1;
    (line, col)
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

fn subject(kind: &str, id: &str) -> Value {
    json!({"kind": kind, "id": id})
}

/// The subjects ("deal D-4", ...) of tasks, sorted.
fn subjects(tasks: &[Value]) -> Vec<String> {
    let mut s: Vec<String> =
        tasks.iter().map(|t| format!("{} {}", str_of(&t["subject"], "kind"), str_of(&t["subject"], "id"))).collect();
    s.sort();
    s
}

// ---------------------------------------------------------------------------
// 1. The default rules, one behaviour at a time
// ---------------------------------------------------------------------------

#[test]
fn a_new_lead_gets_a_high_priority_call_from_a_sales_rep() {
    let ws = Workspace::new();
    let summary = ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        // Friday: one business day later is Monday.
        lead(
            "2026-11-06T10:00:00Z",
            "L-1",
            json!({"company": "Alder Creek Dental", "name": "Renee", "source": "website"}),
        ),
        // No company: the person's name is used. Saturday: still due Monday.
        lead("2026-11-07T10:00:00Z", "L-2", json!({"name": "Tobias Reinholt", "source": "webinar"})),
        // A lead from a customer goes to the customer's rep.
        lead("2026-11-03T10:00:00Z", "L-3", json!({"account_id": "A-1", "company": "Acme Corp", "source": "referral"})),
    ]);
    assert_eq!(summary["applied"], 4);
    assert_eq!(summary["tasks_created"], 3);

    let t = ws.task_titled("Call new lead Alder Creek Dental");
    assert_eq!(t["role"], "sales_rep");
    assert_eq!(t["priority"], "high");
    assert_eq!(t["status"], "open");
    assert_eq!(t["due_at"], "2026-11-09");
    assert_eq!(t["subject"], subject("lead", "L-1"));
    assert_eq!(t["assignee"], Value::Null, "a prospect's lead waits in the sales_rep queue");
    assert_eq!(t["rule"], "rules/tasks_sales.rhai::task_follow_up_new_lead");
    assert_eq!(t["reason"], "marketing passed us a lead (source: website)");
    assert_eq!(t["created_at"], "2026-11-06T10:00:00Z");

    let t = ws.task_titled("Call new lead Tobias Reinholt");
    assert_eq!(t["due_at"], "2026-11-09");
    assert_eq!(t["reason"], "marketing passed us a lead (source: webinar)");

    let t = ws.task_titled("Call new lead Acme Corp");
    assert_eq!(t["assignee"], "Ana Ruiz", "the account owner is a sales rep");
    assert_eq!(t["due_at"], "2026-11-04");
}

#[test]
fn a_deal_walks_the_pipeline_as_activities_are_logged() {
    let ws = Workspace::new();
    let s = ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        contact("2026-11-02T08:01:00Z", "C-1", "A-1", "other"),
        contact("2026-11-02T08:02:00Z", "C-2", "A-1", "buyer"),
        deal("2026-11-02T09:00:00Z", "D-1", "A-1", "Acme rollout", 50000, "Ana Ruiz"),
        // A call is not a meeting: the deal stays a lead.
        activity("2026-11-02T10:00:00Z", "A-1", Some("D-1"), Some("C-1"), "call"),
    ]);
    assert_eq!(s["stage_moves"], 0);
    assert_eq!(ws.stage("D-1"), "lead");
    assert!(ws.tasks_about("deal", "D-1").is_empty());

    // The first meeting qualifies the deal; its owner prepares the proposal.
    let s = ws.ingest(&[activity("2026-11-03T10:00:00Z", "A-1", Some("D-1"), Some("C-1"), "meeting")]);
    assert_eq!(s["stage_moves"], 1);
    assert_eq!(ws.stage("D-1"), "qualified");
    let t = ws.task_titled("Prepare the proposal for Acme rollout");
    assert_eq!(
        (&t["role"], &t["assignee"], &t["priority"]),
        (&json!("sales_rep"), &json!("Ana Ruiz"), &json!("normal"))
    );
    assert_eq!(t["due_at"], "2026-11-10");
    assert_eq!(t["subject"], subject("deal", "D-1"));

    // Proposal sent (to a contact who decides nothing): proposal, and find a decision maker.
    let s = ws.ingest(&[activity("2026-11-04T10:00:00Z", "A-1", Some("D-1"), Some("C-1"), "proposal_sent")]);
    assert_eq!(s["stage_moves"], 1);
    assert_eq!(ws.stage("D-1"), "proposal");
    let t = ws.task_titled("Get a decision maker on Acme rollout");
    assert_eq!((&t["assignee"], &t["due_at"]), (&json!("Ana Ruiz"), &json!("2026-11-09")));

    // A call with the buyer on the deal: negotiation, with work for three roles (50000 is a big deal).
    let s = ws.ingest(&[activity("2026-11-05T10:00:00Z", "A-1", Some("D-1"), Some("C-2"), "call")]);
    assert_eq!(s["stage_moves"], 1);
    assert_eq!(ws.stage("D-1"), "negotiation");
    let rep = ws.task_titled("Close Acme rollout: agree terms");
    assert_eq!(
        (&rep["role"], &rep["assignee"], &rep["priority"]),
        (&json!("sales_rep"), &json!("Ana Ruiz"), &json!("high"))
    );
    assert_eq!(rep["due_at"], "2026-11-12");
    let negotiation_tasks = s["tasks_created"].clone();

    // Won (a requested move): the coordinator processes the order.
    let s = ws.ingest(&[request_stage("2026-11-06T10:00:00Z", "D-1", "A-1", "won")]);
    assert_eq!(s["stage_moves"], 1);
    let d = ws.deal("D-1");
    assert_eq!(d["stage"], "won");
    assert_eq!(d["closed_at"], "2026-11-06T10:00:00Z");
    assert_eq!(d["amount"], 50000.0);
    let t = ws.task_titled("Process the order for Acme rollout (50,000)");
    assert_eq!(
        (&t["role"], &t["priority"], &t["due_at"]),
        (&json!("sales_coordinator"), &json!("high"), &json!("2026-11-09"))
    );

    // Back to negotiation: the coordinator readies the paperwork and the manager hears of the big deal.
    let paperwork = ws.task_titled("Prepare order paperwork for Acme rollout");
    // Coordinators take turns (round_robin): the paperwork came first, the won order second.
    assert_eq!((&paperwork["role"], &paperwork["assignee"]), (&json!("sales_coordinator"), &json!("Gus Lindqvist")));
    assert_eq!(t["assignee"], "Ines Moreau");
    assert_eq!(paperwork["due_at"], "2026-11-10");
    let manager = ws.task_titled("Big deal in negotiation: Acme rollout (50,000)");
    assert_eq!((&manager["role"], &manager["due_at"]), (&json!("sales_manager"), &json!("2026-11-09")));
    assert_eq!(negotiation_tasks, 3, "rep, coordinator and manager tasks on reaching negotiation");
}

#[test]
fn a_demo_qualifies_too_and_small_deals_reach_negotiation_without_the_manager() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ben Okafor"})),
        contact("2026-11-02T08:01:00Z", "C-1", "A-1", "technical"),
        deal("2026-11-02T09:00:00Z", "D-2", "A-1", "Small order", 49999, "Ben Okafor"),
        activity("2026-11-02T10:00:00Z", "A-1", Some("D-2"), None, "demo"),
        activity("2026-11-03T10:00:00Z", "A-1", Some("D-2"), None, "proposal_sent"),
        activity("2026-11-04T10:00:00Z", "A-1", Some("D-2"), Some("C-1"), "meeting"),
    ]);
    assert_eq!(ws.stage("D-2"), "negotiation");

    // Lost: no order to process.
    let s = ws.ingest(&[request_stage("2026-11-05T10:00:00Z", "D-2", "A-1", "lost")]);
    assert_eq!((&s["stage_moves"], &s["tasks_created"]), (&json!(1), &json!(0)));
    assert_eq!(ws.stage("D-2"), "lost");

    assert_eq!(
        sorted_titles(&ws.tasks_about("deal", "D-2")),
        [
            "Close Small order: agree terms",
            "Get a decision maker on Small order",
            "Prepare order paperwork for Small order",
            "Prepare the proposal for Small order",
        ],
        "49999 is below big_deal_amount: no sales_manager task"
    );
}

#[test]
fn a_move_to_negotiation_without_a_decision_maker_is_refused() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-2", "Globex", json!({"owner": "Ben Okafor", "region": "East"})),
        contact("2026-11-02T08:01:00Z", "C-3", "A-2", "other"),
        contact("2026-11-02T08:02:00Z", "C-4", "A-2", "executive"),
        deal("2026-11-02T09:00:00Z", "D-3", "A-2", "Globex NOC", 30000, "Ben Okafor"),
        activity("2026-11-02T10:00:00Z", "A-2", Some("D-3"), Some("C-3"), "demo"),
        activity("2026-11-03T10:00:00Z", "A-2", Some("D-3"), Some("C-3"), "proposal_sent"),
    ]);
    assert_eq!(ws.stage("D-3"), "proposal");

    let s = ws.ingest(&[request_stage("2026-11-04T10:00:00Z", "D-3", "A-2", "negotiation")]);
    assert_eq!(s["refused_moves"], 1);
    assert_eq!(s["stage_moves"], 0);
    assert_eq!(ws.stage("D-3"), "proposal", "the refused move leaves the deal where it was");
    assert!(ws.tasks_titled("Close Globex NOC").is_empty());

    // Meeting the executive moves it on its own.
    let s = ws.ingest(&[activity("2026-11-05T10:00:00Z", "A-2", Some("D-3"), Some("C-4"), "meeting")]);
    assert_eq!((&s["stage_moves"], &s["refused_moves"]), (&json!(1), &json!(0)));
    assert_eq!(ws.stage("D-3"), "negotiation");
    ws.task_titled("Close Globex NOC: agree terms");

    // The refusal told the rep what was missing, once.
    let t = ws.task_titled(
        "Before moving Globex NOC to negotiation: no decision maker engaged yet: meet a buyer, technical decision maker or executive first",
    );
    assert_eq!(
        (&t["role"], &t["assignee"], &t["priority"]),
        (&json!("sales_rep"), &json!("Ben Okafor"), &json!("high"))
    );
    assert_eq!(t["due_at"], "2026-11-06");
    assert_eq!(t["subject"], subject("deal", "D-3"));
    assert_eq!(t["created_at"], "2026-11-04T10:00:00Z");
}

#[test]
fn a_requested_negotiation_is_granted_once_a_decision_maker_was_met() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-2", "Globex", json!({"owner": "Ben Okafor"})),
        contact("2026-11-02T08:01:00Z", "C-4", "A-2", "buyer"),
        deal("2026-11-02T09:00:00Z", "D-4", "A-2", "Globex kiosks", 12000, "Ben Okafor"),
        // A call (not a meeting) with the buyer: still a lead, but a decision maker is engaged.
        activity("2026-11-02T10:00:00Z", "A-2", Some("D-4"), Some("C-4"), "call"),
    ]);
    assert_eq!(ws.stage("D-4"), "lead");
    let s = ws.ingest(&[request_stage("2026-11-03T10:00:00Z", "D-4", "A-2", "negotiation")]);
    assert_eq!((&s["stage_moves"], &s["refused_moves"]), (&json!(1), &json!(0)));
    assert_eq!(ws.stage("D-4"), "negotiation");
    assert!(ws.tasks_titled("Before moving").is_empty());
    ws.task_titled("Close Globex kiosks: agree terms");
    ws.task_titled("Prepare order paperwork for Globex kiosks");
}

#[test]
fn another_accounts_buyer_does_not_open_the_negotiation_gate() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-2", "Globex", json!({"owner": "Ben Okafor"})),
        account("2026-11-02T08:00:30Z", "A-9", "Initech", json!({"owner": "Ana Ruiz"})),
        contact("2026-11-02T08:01:00Z", "C-9", "A-9", "buyer"),
        contact("2026-11-02T08:02:00Z", "C-4", "A-2", "buyer"),
        deal("2026-11-02T09:00:00Z", "D-4", "A-2", "Globex kiosks", 12000, "Ben Okafor"),
        // The activity names Initech's buyer on a Globex deal: nobody at Globex was met.
        activity("2026-11-02T10:00:00Z", "A-2", Some("D-4"), Some("C-9"), "call"),
    ]);
    let s = ws.ingest(&[request_stage("2026-11-03T10:00:00Z", "D-4", "A-2", "negotiation")]);
    assert_eq!((&s["stage_moves"], &s["refused_moves"]), (&json!(0), &json!(1)));
    assert_eq!(ws.stage("D-4"), "lead");

    // Globex's own buyer counts.
    ws.ingest(&[activity("2026-11-04T10:00:00Z", "A-2", Some("D-4"), Some("C-4"), "call")]);
    let s = ws.ingest(&[request_stage("2026-11-05T10:00:00Z", "D-4", "A-2", "negotiation")]);
    assert_eq!((&s["stage_moves"], &s["refused_moves"]), (&json!(1), &json!(0)));
    assert_eq!(ws.stage("D-4"), "negotiation");
}

#[test]
fn a_buyer_who_moves_to_the_deals_account_counts_from_then_on() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-2", "Globex", json!({"owner": "Ben Okafor"})),
        contact("2026-11-02T08:01:00Z", "C-9", "A-9", "buyer"),
        deal("2026-11-02T09:00:00Z", "D-4", "A-2", "Globex kiosks", 12000, "Ben Okafor"),
        activity("2026-11-02T10:00:00Z", "A-2", Some("D-4"), Some("C-9"), "call"),
        // The buyer turns out to work at Globex.
        contact("2026-11-02T11:00:00Z", "C-9", "A-2", "buyer"),
    ]);
    let s = ws.ingest(&[request_stage("2026-11-03T10:00:00Z", "D-4", "A-2", "negotiation")]);
    assert_eq!((&s["stage_moves"], &s["refused_moves"]), (&json!(1), &json!(0)));
}

#[test]
fn large_orders_get_a_delivery_check_from_the_coordinator() {
    let ws = Workspace::new();
    // big_deal_amount / 5 = 10000 is the threshold.
    let s = ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({})),
        order("2026-11-02T09:00:00Z", "O-1", "A-1", 9999),
        order("2026-11-02T10:00:00Z", "O-2", "A-1", 10000),
    ]);
    assert_eq!(s["tasks_created"], 1);
    let t = ws.task_titled("Confirm delivery of order O-2 for Acme Corp");
    assert_eq!((&t["role"], &t["due_at"]), (&json!("sales_coordinator"), &json!("2026-11-04")));
    assert_eq!(t["subject"], subject("account", "A-1"));
}

#[test]
fn revenue_over_twelve_months_makes_a_key_account_handed_to_an_account_manager() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2025-09-30T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        // More than twelve months before the orders below: does not count.
        order("2025-10-01T09:00:00Z", "O-0", "A-1", 100000),
    ]);
    let s = ws.ingest(&[order("2026-11-02T09:00:00Z", "O-1", "A-1", 100000)]);
    assert_eq!(s["key_account_changes"], 0);
    assert_eq!(ws.account("A-1")["is_key"], false, "the 2025 order is outside the 12 months");

    // A won deal counts too: 100000 + 49999 is still one short.
    ws.ingest(&[
        deal("2026-11-03T09:00:00Z", "D-1", "A-1", "Acme rollout", 49999, "Ana Ruiz"),
        request_stage("2026-11-03T15:00:00Z", "D-1", "A-1", "won"),
    ]);
    assert_eq!(ws.stage("D-1"), "won");
    assert_eq!(ws.account("A-1")["is_key"], false);

    let s = ws.ingest(&[order("2026-11-04T10:00:00Z", "O-2", "A-1", 1)]);
    assert_eq!((&s["key_account_changes"], &s["owner_changes"]), (&json!(1), &json!(1)));
    let a = ws.account("A-1");
    assert_eq!(a["is_key"], true);
    assert_eq!(a["key_since"], "2026-11-04T10:00:00Z");
    assert_eq!(a["key_reason"], "revenue with us over 12 months is 150,000 (at least 150,000)");
    assert_eq!(a["owner"], "Dana Whitfield", "the West account manager takes over from the rep");

    let plan = ws.task_titled("Write the account plan for Acme Corp");
    assert_eq!(
        (&plan["role"], &plan["assignee"], &plan["priority"]),
        (&json!("account_manager"), &json!("Dana Whitfield"), &json!("high"))
    );
    assert_eq!(plan["due_at"], "2026-11-18");
    assert_eq!(plan["subject"], subject("account", "A-1"));
    assert!(str_of(&plan, "reason").contains("is now a key account"), "{plan}");
    let comms = ws.task_titled("Communication plan for Acme Corp");
    assert_eq!(
        (&comms["role"], &comms["assignee"], &comms["due_at"]),
        (&json!("marketing"), &json!("Hana Sato"), &json!("2026-11-18"))
    );
    let exec = ws.task_titled("Build a relationship with an executive at Acme Corp");
    assert_eq!(
        (&exec["role"], &exec["assignee"], &exec["due_at"]),
        (&json!("account_manager"), &json!("Dana Whitfield"), &json!("2026-11-25"))
    );
}

#[test]
fn account_managers_take_key_accounts_of_their_own_region() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        account("2026-11-02T08:01:00Z", "A-2", "Initech", json!({"owner": "Ana Ruiz", "region": "West"})),
        account("2026-11-02T08:02:00Z", "A-3", "Umbrella", json!({"owner": "Ben Okafor", "region": "East"})),
        order("2026-11-02T09:00:00Z", "O-1", "A-1", 150000),
        // Dana (West) already has one account and Eli none: the region still wins.
        order("2026-11-02T10:00:00Z", "O-2", "A-2", 160000),
        order("2026-11-02T11:00:00Z", "O-3", "A-3", 170000),
    ]);
    let owners: BTreeMap<String, String> =
        ws.accounts().iter().map(|a| (str_of(a, "id").to_string(), str_of(a, "owner").to_string())).collect();
    assert_eq!(owners["A-1"], "Dana Whitfield");
    assert_eq!(owners["A-2"], "Dana Whitfield");
    assert_eq!(owners["A-3"], "Eli Novak");
    assert_eq!(ws.task_titled("Write the account plan for Umbrella")["assignee"], "Eli Novak");
}

#[test]
fn a_key_account_without_an_executive_gets_one_relationship_task_ever() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        account("2026-11-02T08:01:00Z", "A-2", "Initech", json!({"owner": "Ana Ruiz", "region": "West"})),
        contact("2026-11-02T08:02:00Z", "C-1", "A-2", "executive"),
        order("2026-11-02T09:00:00Z", "O-1", "A-1", 150000),
        order("2026-11-02T10:00:00Z", "O-2", "A-2", 150000),
    ]);
    assert_eq!(ws.key_accounts(), ["A-1", "A-2"]);
    // More events on the key account: the rule keeps holding, but the task is not repeated.
    ws.ingest(&[
        activity("2026-11-03T09:00:00Z", "A-1", None, None, "call"),
        order("2026-11-04T09:00:00Z", "O-3", "A-1", 20000),
        contact("2026-11-05T09:00:00Z", "C-2", "A-1", "buyer"),
        event(
            "target.set",
            "2026-11-05T10:00:00Z",
            json!({"account_id": "A-1", "product": "GTX Pro", "period": "2026-Q4", "amount": 45000}),
        ),
    ]);
    let exec = ws.tasks_titled("Build a relationship with an executive");
    assert_eq!(titles(&exec), ["Build a relationship with an executive at Acme Corp"], "Initech has an executive");

    // Targets of a key account get a review with its account manager.
    let review = ws.task_titled("Review the GTX Pro target for Acme Corp (2026-Q4)");
    assert_eq!((&review["assignee"], &review["due_at"]), (&json!("Dana Whitfield"), &json!("2026-11-12")));
    assert_eq!(review["reason"], "revenue target 45,000 set for GTX Pro");
}

#[test]
fn an_active_contract_of_24_months_makes_a_key_account() {
    let ws = Workspace::new();
    let s = ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-6", "Northgate", json!({"owner": "Ben Okafor", "region": "East"})),
        // 23 months: too short.
        event(
            "contract.signed",
            "2026-11-02T09:00:00Z",
            json!({"id": "K-1", "account_id": "A-6", "start": "2026-11-02", "end": "2028-10-30", "annual_value": 90000}),
        ),
        // 36 months, but it only starts next year.
        event(
            "contract.signed",
            "2026-11-02T10:00:00Z",
            json!({"id": "K-2", "account_id": "A-6", "start": "2027-01-01", "end": "2030-01-01", "annual_value": 90000}),
        ),
    ]);
    assert_eq!(s["key_account_changes"], 0);
    assert_eq!(ws.account("A-6")["is_key"], false);

    let s = ws.ingest(&[event(
        "contract.signed",
        "2026-11-03T09:00:00Z",
        json!({"id": "K-3", "account_id": "A-6", "start": "2026-10-01", "end": "2028-10-01", "annual_value": 180000}),
    )]);
    assert_eq!(s["key_account_changes"], 1);
    let a = ws.account("A-6");
    assert_eq!(a["is_key"], true);
    assert_eq!(a["key_reason"], "long-term contract of 24 months");
    assert_eq!(a["owner"], "Eli Novak");
    // The contract that made it key is put in the account plan; the earlier ones were signed before.
    let renewals = ws.tasks_titled("Put the renewal of contract");
    assert_eq!(titles(&renewals), ["Put the renewal of contract K-3 (ends 2028-10-01) in the account plan"]);
    assert_eq!(renewals[0]["assignee"], "Eli Novak");
}

#[test]
fn a_large_company_with_three_open_deals_worth_enough_is_key_until_one_closes() {
    let ws = Workspace::new();
    ws.ingest(&[
        account(
            "2026-11-02T08:00:00Z",
            "A-1",
            "Bigco",
            json!({"owner": "Chloe Martin", "region": "Central", "employees": 1000}),
        ),
        account(
            "2026-11-02T08:01:00Z",
            "A-2",
            "Midco",
            json!({"owner": "Chloe Martin", "region": "Central", "employees": 999}),
        ),
        deal("2026-11-02T09:00:00Z", "D-1", "A-1", "Bigco one", 20000, "Chloe Martin"),
        deal("2026-11-02T09:01:00Z", "D-2", "A-1", "Bigco two", 20000, "Chloe Martin"),
        deal("2026-11-02T09:03:00Z", "D-4", "A-2", "Midco one", 20000, "Chloe Martin"),
        deal("2026-11-02T09:04:00Z", "D-5", "A-2", "Midco two", 20000, "Chloe Martin"),
        deal("2026-11-02T09:05:00Z", "D-6", "A-2", "Midco three", 20000, "Chloe Martin"),
    ]);
    assert!(ws.key_accounts().is_empty(), "two open deals, or fewer than 1000 employees, is not enough");

    // A third deal, but a small one: 41,000 open in all, under the 50,000 the settings ask for.
    let s = ws.ingest(&[deal("2026-11-02T10:00:00Z", "D-3", "A-1", "Bigco three", 1000, "Chloe Martin")]);
    assert_eq!(s["key_account_changes"], 0);
    assert!(ws.key_accounts().is_empty(), "three open deals worth 41,000 are not enough");

    let s = ws.ingest(&[deal("2026-11-02T11:00:00Z", "D-3", "A-1", "Bigco three", 12000, "Chloe Martin")]);
    assert_eq!(s["key_account_changes"], 1);
    let a = ws.account("A-1");
    assert_eq!(a["key_reason"], "large company (1000 employees) with 3 open deals worth 52,000");
    // No account manager in Central: the least loaded one, roster order breaking the tie.
    assert_eq!(a["owner"], "Dana Whitfield");

    let s = ws.ingest(&[request_stage("2026-11-03T10:00:00Z", "D-3", "A-1", "lost")]);
    assert_eq!(s["key_account_changes"], 1);
    let a = ws.account("A-1");
    assert_eq!((&a["is_key"], &a["key_reason"], &a["key_since"]), (&json!(false), &Value::Null, &Value::Null));
    let alarm = ws.task_titled("Key account lost: Bigco");
    assert_eq!(
        (&alarm["role"], &alarm["priority"], &alarm["due_at"]),
        (&json!("sales_manager"), &json!("urgent"), &json!("2026-11-04"))
    );
    assert_eq!(alarm["subject"], subject("account", "A-1"));
}

#[test]
fn subsidiaries_of_a_key_account_are_key_while_the_parent_is() {
    let ws = Workspace::new();
    let east = |owner: &str, extra: Value| {
        let mut v = json!({"owner": owner, "region": "East"});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "P-1", "Northgate Utilities", east("Ben Okafor", json!({"employees": 2600}))),
        account(
            "2026-11-02T08:01:00Z",
            "S-1",
            "Northgate Field Services",
            east("Ben Okafor", json!({"parent_id": "P-1"})),
        ),
        deal("2026-11-02T09:00:00Z", "D-1", "P-1", "One", 20000, "Ben Okafor"),
        deal("2026-11-02T09:01:00Z", "D-2", "P-1", "Two", 20000, "Ben Okafor"),
        deal("2026-11-02T09:02:00Z", "D-3", "P-1", "Three", 20000, "Ben Okafor"),
    ]);
    assert_eq!(ws.key_accounts(), ["P-1", "S-1"]);
    let s1 = ws.account("S-1");
    assert_eq!(s1["key_reason"], "its parent P-1 is a key account");
    assert_eq!(s1["owner"], "Eli Novak");
    ws.task_titled("Write the account plan for Northgate Field Services");

    // A subsidiary added later is key from the start.
    ws.ingest(&[account(
        "2026-11-03T08:00:00Z",
        "S-2",
        "Northgate Fleet",
        east("Ben Okafor", json!({"parent_id": "P-1"})),
    )]);
    assert_eq!(ws.key_accounts(), ["P-1", "S-1", "S-2"]);

    // The parent drops to two open deals: it and its subsidiaries lose key status.
    let s = ws.ingest(&[request_stage("2026-11-04T10:00:00Z", "D-3", "P-1", "won")]);
    assert_eq!(s["key_account_changes"], 3);
    assert!(ws.key_accounts().is_empty());
    assert_eq!(
        sorted_titles(&ws.tasks_titled("Key account lost")),
        [
            "Key account lost: Northgate Field Services",
            "Key account lost: Northgate Fleet",
            "Key account lost: Northgate Utilities"
        ]
    );
}

#[test]
fn every_one_of_sixty_subsidiaries_follows_its_parent_into_key_status() {
    let ws = Workspace::new();
    let mut events = vec![account(
        "2026-11-02T08:00:00Z",
        "P-1",
        "Northgate Utilities",
        json!({"owner": "Ben Okafor", "region": "East", "employees": 2600}),
    )];
    for i in 1..=60 {
        events.push(account(
            "2026-11-02T08:01:00Z",
            &format!("S-{i}"),
            &format!("Northgate Branch {i}"),
            json!({"owner": "Ben Okafor", "region": "East", "parent_id": "P-1"}),
        ));
    }
    events.push(deal("2026-11-02T09:00:00Z", "D-1", "P-1", "One", 20000, "Ben Okafor"));
    events.push(deal("2026-11-02T09:01:00Z", "D-2", "P-1", "Two", 20000, "Ben Okafor"));
    // The third open deal makes the parent key: one event, 61 accounts change.
    let s = ws.ingest(&events);
    assert_eq!(s["key_account_changes"], 0);
    let out = ws
        .run(&[
            "ingest",
            "--json",
            ws.event_file(&[deal("2026-11-02T09:02:00Z", "D-3", "P-1", "Three", 20000, "Ben Okafor")])
                .to_str()
                .unwrap(),
        ])
        .success();
    let s = out.json();
    assert_eq!(s["loops_stopped"], 0, "a fan-out over many accounts is not a loop: {}", out.stderr);
    assert_eq!(s["key_account_changes"], 61);
    assert_eq!(ws.key_accounts().len(), 61);
    assert!(ws.accounts().iter().all(|a| a["owner"] == "Eli Novak"), "every account was handed over");
    assert!(!out.stderr.contains("loop"), "{}", out.stderr);

    // Losing the parent's status reaches every subsidiary too.
    let s = ws.ingest(&[request_stage("2026-11-04T10:00:00Z", "D-3", "P-1", "won")]);
    assert_eq!((&s["key_account_changes"], &s["loops_stopped"]), (&json!(61), &json!(0)));
    assert!(ws.key_accounts().is_empty());
}

#[test]
fn a_rule_pair_undoing_each_others_moves_is_stopped_and_named() {
    let ws = Workspace::new();
    ws.write(
        "rules/zz_bounce.rhai",
        r#"/// Pushes a qualified deal on.
fn stage_bounce_up(deal) {
    if deal.stage == "qualified" { return move_to("proposal", "up"); }
}

/// And pulls it back.
fn stage_bounce_down(deal) {
    if deal.stage == "proposal" && deal.amount == 13 { return move_to("qualified", "down"); }
}
"#,
    );
    ws.run(&["check"]).success();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-2", "Globex", json!({"owner": "Ben Okafor"})),
        deal("2026-11-02T09:00:00Z", "D-1", "A-2", "Bouncer", 13, "Ben Okafor"),
        deal("2026-11-02T09:00:00Z", "D-2", "A-2", "Steady", 14, "Ben Okafor"),
    ]);
    let file = ws.event_file(&[
        request_stage("2026-11-03T10:00:00Z", "D-1", "A-2", "qualified"),
        request_stage("2026-11-03T10:01:00Z", "D-2", "A-2", "qualified"),
    ]);
    let out = ws.run(&["ingest", "--json", file.to_str().unwrap()]).success();
    let s = out.json();
    assert_eq!(s["loops_stopped"], 1, "{}", out.stderr);
    // The message names the subject and the rules that keep it moving.
    let line = out.stderr.lines().find(|l| l.contains("loop")).unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(line.contains("deal D-1"), "{line}");
    assert!(line.contains("rules/zz_bounce.rhai::stage_bounce_up"), "{line}");
    assert!(line.contains("rules/zz_bounce.rhai::stage_bounce_down"), "{line}");
    // The other deal of the file moved once, as its rule says.
    assert_eq!(ws.stage("D-2"), "proposal");
    let explained = ws.run(&["explain", "deal", "D-1"]).success().stdout;
    assert!(explained.contains("stage_bounce_down"), "{explained}");
}

// ---------------------------------------------------------------------------
// 2-3. The example quarter, and re-sending it
// ---------------------------------------------------------------------------

#[test]
fn the_example_quarter_ends_with_the_key_accounts_and_refusals_of_its_story() {
    let ws = Workspace::new();
    let s = ws.ingest_file(&example("quarter.jsonl"));
    assert_eq!((&s["applied"], &s["rejected"], &s["rule_errors"]), (&json!(315), &json!(0), &json!(0)));
    assert_eq!(s["refused_moves"], 2);
    // A-6 and A-7 (Aug), A-2 (gained and lost), A-1 (Sep).
    assert_eq!(s["key_account_changes"], 5);

    assert_eq!(ws.key_accounts(), ["A-1", "A-6", "A-7"]);
    let by_id: BTreeMap<String, Value> = ws.accounts().into_iter().map(|a| (str_of(&a, "id").to_string(), a)).collect();
    assert_eq!(&by_id["A-1"]["key_since"].as_str().unwrap()[..10], "2026-09-09");
    assert_eq!(&by_id["A-6"]["key_since"].as_str().unwrap()[..10], "2026-08-17");
    assert_eq!(by_id["A-6"]["key_reason"], "long-term contract of 36 months");
    assert_eq!(by_id["A-7"]["key_reason"], "its parent A-6 is a key account");
    assert_eq!(by_id["A-2"]["is_key"], false);
    for (id, owner) in
        [("A-1", "Dana Whitfield"), ("A-2", "Dana Whitfield"), ("A-6", "Eli Novak"), ("A-7", "Eli Novak")]
    {
        assert_eq!(by_id[id]["owner"], owner, "{id}");
    }
    assert_eq!(by_id["A-3"]["owner"], "Ana Ruiz", "accounts that never were key keep their rep");

    let tasks = ws.tasks();
    let titled = |prefix: &str| -> Vec<Value> {
        tasks.iter().filter(|t| str_of(t, "title").starts_with(prefix)).cloned().collect()
    };
    // Four accounts became key at some point; A-2 then lost it.
    assert_eq!(
        subjects(&titled("Write the account plan for")),
        ["account A-1", "account A-2", "account A-6", "account A-7"]
    );
    let lost = titled("Key account lost");
    assert_eq!(titles(&lost), ["Key account lost: Redwood Signal Telecom"]);
    assert_eq!(lost[0]["priority"], "urgent");
    // Harbor & Pine (A-1) and Northgate Field Services (A-7) have no executive on file.
    assert_eq!(subjects(&titled("Build a relationship with an executive")), ["account A-1", "account A-7"]);

    let status = ws.status();
    assert_eq!((&status["accounts"], &status["deals"], &status["key_accounts"]), (&json!(14), &json!(30), &json!(3)));

    // The refused moves: D-4 advanced later on a meeting with the CFO, D-15 stayed in proposal.
    assert_eq!(ws.stage("D-4"), "won");
    assert_eq!(ws.stage("D-15"), "proposal");
    assert!(subjects(&titled("Close ")).contains(&"deal D-4".to_string()));
    assert!(!subjects(&titled("Close ")).contains(&"deal D-15".to_string()));
    assert_eq!(subjects(&titled("Before moving")), ["deal D-15", "deal D-4"]);
}

#[test]
fn no_task_of_the_quarter_is_due_on_a_weekend() {
    let ws = Workspace::new();
    ws.ingest_file(&example("quarter.jsonl"));
    let tasks = ws.tasks();
    assert!(tasks.len() > 100, "the quarter makes plenty of tasks, got {}", tasks.len());
    for t in &tasks {
        let due = NaiveDate::parse_from_str(str_of(t, "due_at"), "%Y-%m-%d").expect("due_at is a date");
        assert!(!matches!(due.weekday(), Weekday::Sat | Weekday::Sun), "due on a {}: {t:#}", due.weekday());
        let created = NaiveDate::parse_from_str(&str_of(t, "created_at")[..10], "%Y-%m-%d").unwrap();
        assert!(due >= created, "due before it was created: {t:#}");
    }
}

#[test]
fn ingesting_the_same_file_twice_changes_nothing() {
    let ws = Workspace::new();
    let quarter = example("quarter.jsonl");
    let first = ws.ingest_file(&quarter);
    assert_eq!(first["applied"], 315);
    let before = ws.tasks();

    let again = ws.ingest_file(&quarter);
    assert_eq!((&again["applied"], &again["duplicates"]), (&json!(0), &json!(315)));
    assert_eq!(
        (&again["tasks_created"], &again["stage_moves"], &again["key_account_changes"]),
        (&json!(0), &json!(0), &json!(0))
    );
    assert_eq!(ws.tasks(), before, "tasks --json is identical after the re-send");

    let text = ws.run(&["ingest", quarter.to_str().unwrap()]).success();
    assert!(
        text.stdout.starts_with("applied 0, duplicates skipped 315, rejected 0, tasks created 0"),
        "{}",
        text.stdout
    );
}

// ---------------------------------------------------------------------------
// 4. Bad lines
// ---------------------------------------------------------------------------

#[test]
fn bad_lines_are_rejected_with_file_and_line_and_the_rest_is_applied() {
    let ws = Workspace::new();
    std::fs::copy(example("with-errors.jsonl"), ws.root().join("with-errors.jsonl")).unwrap();

    let out = ws.run(&["ingest", "with-errors.jsonl"]).code(2);
    let rejected: Vec<&str> = out.stderr.lines().filter(|l| l.contains(": rejected: ")).collect();
    assert_eq!(rejected.len(), 3, "{}", out.stderr);
    assert!(rejected[0].starts_with("with-errors.jsonl:2: rejected: not valid JSON"), "{}", rejected[0]);
    assert_eq!(
        rejected[1],
        r#"with-errors.jsonl:4: rejected: deal.upserted: field "data.amount" must be a number, got string "48k""#
    );
    assert!(
        rejected[2].starts_with(r#"with-errors.jsonl:6: rejected: unknown event type "deal.exploded""#),
        "{}",
        rejected[2]
    );
    assert!(out.stdout.starts_with("applied 5, duplicates skipped 0, rejected 3"), "{}", out.stdout);

    // The good lines really were applied.
    ws.task_titled("Call new lead Stillwater Veterinary Partners");
    assert!(ws.deals().is_empty(), "the deal with amount \"48k\" was not stored");

    // The same in JSON, on a fresh folder.
    let fresh = Workspace::new();
    let out = fresh.run(&["ingest", "--json", example("with-errors.jsonl").to_str().unwrap()]).code(2);
    let s = out.json();
    assert_eq!((&s["applied"], &s["rejected"]), (&json!(5), &json!(3)));
    let lines: Vec<&Value> = s["rejections"].as_array().unwrap().iter().map(|r| &r["line"]).collect();
    assert_eq!(lines, [2, 4, 6]);
}

// ---------------------------------------------------------------------------
// 5. Broken rules are caught before they run
// ---------------------------------------------------------------------------

#[test]
fn check_passes_on_the_default_playbook() {
    let ws = Workspace::new();
    let rules: String = ["stages", "key_accounts", "tasks_sales", "tasks_account_management", "time"]
        .iter()
        .map(|f| ws.read(&format!("rules/{f}.rhai")))
        .collect();
    let count = |prefix: &str| rules.matches(&format!("\nfn {prefix}")).count();
    let (stage, key, task) = (count("stage_"), count("key_"), count("task_"));
    let out = ws.run(&["check"]).success();
    let expected = format!(
        "ok: {} rules ({stage} stage, {key} key-account, {task} task) in 5 files, version ",
        stage + key + task
    );
    assert!(out.stdout.starts_with(&expected), "{}\nexpected {expected}", out.stdout);
}

#[test]
fn check_points_at_a_syntax_error() {
    let ws = Workspace::new();
    ws.write("rules/broken.rhai", "/// Half written.\nfn task_half(event) {\n    let x = ;\n}\n");
    let out = ws.run(&["check"]).code(1);
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), ["rules/broken.rhai:3:13: Unexpected ';'"]);
    assert!(out.stderr.contains("1 problem found"), "{}", out.stderr);
}

#[test]
fn check_names_an_unknown_role_and_suggests_the_right_one() {
    let ws = Workspace::new();
    let file = "rules/tasks_account_management.rhai";
    ws.edit(file, r#"task("account_manager", `Write"#, r#"task("acount_manager", `Write"#);
    let (line, col) = line_col(&ws.read(file), "acount_manager");
    let out = ws.run(&["check"]).code(1);
    assert_eq!(
        out.stdout.trim_end(),
        format!(
            r#"{file}:{line}:{col}: unknown role "acount_manager": not in [roles] of config.toml (did you mean "account_manager"?)"#
        )
    );
}

#[test]
fn check_names_an_unknown_setting() {
    let ws = Workspace::new();
    let file = "rules/key_accounts.rhai";
    ws.edit(file, "settings.key_contract_months", "settings.key_contract_month");
    let (line, col) = line_col(&ws.read(file), "key_contract_month ");
    let out = ws.run(&["check"]).code(1);
    assert_eq!(
        out.stdout.trim_end(),
        format!(
            r#"{file}:{line}:{col}: unknown setting "key_contract_month": add it to [settings] in config.toml (did you mean "key_contract_months"?)"#
        )
    );
}

#[test]
fn ingest_with_broken_rules_stops_and_leaves_the_store_alone() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz"})),
        lead("2026-11-02T09:00:00Z", "L-1", json!({"company": "Brightside"})),
    ]);
    let tasks_before = ws.tasks();
    let status_before = ws.status();

    let file = "rules/tasks_account_management.rhai";
    let good = ws.read(file);
    ws.edit(file, r#"task("account_manager", `Write"#, r#"task("acount_manager", `Write"#);
    let (line, col) = line_col(&ws.read(file), "acount_manager");
    let more = ws.event_file(&[
        lead("2026-11-03T09:00:00Z", "L-2", json!({"company": "Crestline"})),
        deal("2026-11-03T10:00:00Z", "D-1", "A-1", "Acme rollout", 1000, "Ana Ruiz"),
    ]);
    let out = ws.run(&["ingest", more.to_str().unwrap()]).code(1);
    assert!(out.stderr.contains("the rules do not load; nothing was changed"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("{file}:{line}:{col}: unknown role \"acount_manager\"")), "{}", out.stderr);
    assert_eq!(ws.tasks(), tasks_before);
    let status = ws.status();
    for key in ["rules_version", "rules_loaded_at", "accounts", "deals", "open_tasks"] {
        assert_eq!(status[key], status_before[key], "{key}");
    }

    // Fixed, the same file applies in full: nothing of it had been recorded.
    ws.write(file, &good);
    let s = ws.ingest_file(&more);
    assert_eq!((&s["applied"], &s["duplicates"]), (&json!(2), &json!(0)));
    ws.task_titled("Call new lead Crestline");
}

// ---------------------------------------------------------------------------
// 6. A rule failing at run time hurts only itself
// ---------------------------------------------------------------------------

const MISSING_FUNCTION_RULE: &str = r#"/// Calls a helper nobody wrote.
fn task_call_missing_helper(event) {
    if event.type == "lead.created" {
        return make_a_task(event);
    }
}
"#;

const ENDLESS_LOOP_RULE: &str = r#"/// Never finishes on an order.
fn task_spin_on_orders(event) {
    if event.type == "order.placed" {
        let n = 0;
        loop {
            n += 1;
        }
    }
}
"#;

fn runtime_error_events() -> Vec<String> {
    vec![
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        contact("2026-11-02T08:01:00Z", "C-1", "A-1", "other"),
        lead("2026-11-02T09:00:00Z", "L-1", json!({"company": "Brightside"})),
        order("2026-11-02T10:00:00Z", "O-1", "A-1", 20000),
        deal("2026-11-02T11:00:00Z", "D-1", "A-1", "Acme rollout", 30000, "Ana Ruiz"),
        activity("2026-11-03T09:00:00Z", "A-1", Some("D-1"), Some("C-1"), "meeting"),
        lead("2026-11-03T10:00:00Z", "L-2", json!({"company": "Crestline"})),
    ]
}

#[test]
fn a_rule_that_fails_at_run_time_is_reported_and_the_others_still_run() {
    let clean = Workspace::new();
    let events = runtime_error_events();
    let clean_summary = clean.ingest(&events);
    assert_eq!(clean_summary["rule_errors"], 0);

    let ws = Workspace::new();
    ws.write("rules/x.rhai", MISSING_FUNCTION_RULE).write("rules/y.rhai", ENDLESS_LOOP_RULE);
    ws.run(&["check"]).success();
    let file = ws.event_file(&events);
    let out = ws.run(&["ingest", file.to_str().unwrap()]).success();
    assert!(out.stdout.starts_with(&format!("applied {}, ", events.len())), "{}", out.stdout);
    assert!(out.stdout.contains("rule errors: 3"), "{}", out.stdout);
    assert!(out.stdout.contains("rules/x.rhai:4:16: Function not found: make_a_task"), "{}", out.stdout);
    assert!(out.stdout.contains("rules/y.rhai:2:1: task_spin_on_orders ran too long"), "{}", out.stdout);

    assert_eq!(ws.tasks().len(), clean.tasks().len());
    assert_eq!(sorted_titles(&ws.tasks()), sorted_titles(&clean.tasks()));
    assert_eq!(ws.stage("D-1"), "qualified");

    // The JSON summary groups failures by location.
    let s = ws.ingest(&[
        lead("2026-11-04T09:00:00Z", "L-3", json!({"company": "Dunmore"})),
        order("2026-11-04T10:00:00Z", "O-2", "A-1", 500),
    ]);
    assert_eq!((&s["applied"], &s["rule_errors"], &s["tasks_created"]), (&json!(2), &json!(2), &json!(1)));
    let sites: BTreeSet<&str> = s["rule_failures"].as_array().unwrap().iter().map(|f| str_of(f, "location")).collect();
    assert_eq!(sites, BTreeSet::from(["rules/x.rhai:4:16", "rules/y.rhai:2:1"]));
    assert_eq!(ws.status()["rule_errors"], 5);
}

// ---------------------------------------------------------------------------
// 7. Claiming from several processes at once
// ---------------------------------------------------------------------------

#[test]
fn concurrent_claims_never_hand_out_a_task_twice() {
    let ws = Workspace::new();
    let leads: Vec<String> = (1..=60)
        .map(|i| {
            lead(
                &format!("2026-11-02T09:{:02}:00Z", i % 60),
                &format!("L-{i}"),
                json!({"company": format!("Prospect {i}")}),
            )
        })
        .collect();
    ws.ingest(&leads);
    let open: BTreeSet<i64> =
        array(ws.run(&["tasks", "--role", "sales_rep", "--status", "open", "--json"]).success().json())
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect();
    assert_eq!(open.len(), 60);

    // The last one is a temp, not on the team (--outside).
    let workers = ["Ana Ruiz", "Ben Okafor", "Chloe Martin", "Temp Rep"];
    let claimed: Vec<(String, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .iter()
            .map(|who| {
                let ws = &ws;
                scope.spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        let mut args = vec!["tasks", "claim", "--role", "sales_rep", "--as", who, "--json"];
                        args.extend((*who == "Temp Rep").then_some("--outside"));
                        let out = ws.run(&args).success();
                        if out.stdout.trim().is_empty() {
                            break;
                        }
                        got.push((who.to_string(), out.json()));
                    }
                    got
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });

    let ids: Vec<i64> = claimed.iter().map(|(_, t)| t["id"].as_i64().unwrap()).collect();
    let unique: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a task was claimed twice: {ids:?}");
    assert_eq!(unique, open, "every open task was claimed exactly once");
    for (who, t) in &claimed {
        assert_eq!((&t["status"], &t["assignee"]), (&json!("claimed"), &json!(who)));
    }
    let after = array(ws.run(&["tasks", "--role", "sales_rep", "--json"]).success().json());
    let holder: BTreeMap<i64, &str> = claimed.iter().map(|(w, t)| (t["id"].as_i64().unwrap(), w.as_str())).collect();
    for t in &after {
        assert_eq!(t["status"], "claimed");
        assert_eq!(t["assignee"], holder[&t["id"].as_i64().unwrap()]);
    }

    // The queue is empty now: a message, no JSON, and not a failure.
    let out = ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz", "--json"]).success();
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("no open sales_rep tasks"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// 8. The JSON of the fixed contract, and closing tasks
// ---------------------------------------------------------------------------

#[test]
fn tasks_and_status_json_have_the_contract_fields() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ben Okafor", "region": "East"})),
        lead("2026-11-02T09:00:00Z", "L-1", json!({"account_id": "A-1", "company": "Acme Corp"})),
        lead("2026-11-02T09:30:00Z", "L-2", json!({"company": "Brightside"})),
        order("2026-11-02T10:00:00Z", "O-1", "A-1", 20000),
    ]);
    let version = ws.run(&["check", "--json"]).success().json()["version"].as_str().unwrap().to_string();

    let tasks = ws.tasks();
    assert_eq!(tasks.len(), 3);
    for t in &tasks {
        for key in [
            "id",
            "role",
            "assignee",
            "title",
            "status",
            "priority",
            "due_at",
            "subject",
            "rule",
            "reason",
            "rules_version",
            "created_at",
        ] {
            assert!(t.get(key).is_some(), "{key} missing in {t:#}");
        }
        assert!(t["id"].is_i64());
        assert!(t["assignee"].is_null() || t["assignee"].is_string());
        assert_eq!(t["status"], "open");
        assert!(["low", "normal", "high", "urgent"].contains(&str_of(t, "priority")));
        assert!(NaiveDate::parse_from_str(str_of(t, "due_at"), "%Y-%m-%d").is_ok(), "{t}");
        assert!(t["subject"]["kind"].is_string() && t["subject"]["id"].is_string(), "{t}");
        assert!(str_of(t, "rule").starts_with("rules/tasks_sales.rhai::task_"), "{t}");
        assert!(!str_of(t, "reason").is_empty());
        assert_eq!(t["rules_version"], version.as_str());
        assert!(chrono::DateTime::parse_from_rfc3339(str_of(t, "created_at")).is_ok(), "{t}");
    }

    let status = ws.status();
    assert_eq!(status["rules_version"], version.as_str());
    assert!(chrono::DateTime::parse_from_rfc3339(str_of(&status, "rules_loaded_at")).is_ok(), "{status}");
    assert_eq!((&status["accounts"], &status["deals"], &status["key_accounts"]), (&json!(1), &json!(0), &json!(0)));
    assert_eq!(
        status["open_tasks"],
        json!({"account_manager": 0, "marketing": 0, "sales_coordinator": 1, "sales_manager": 0, "sales_rep": 2})
    );

    // Claiming takes an unassigned task or one's own, never a colleague's.
    let ana = ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz", "--json"]).success().json();
    assert_eq!(
        (&ana["title"], &ana["status"], &ana["assignee"]),
        (&json!("Call new lead Brightside"), &json!("claimed"), &json!("Ana Ruiz"))
    );
    let out = ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz", "--json"]).success();
    assert_eq!(out.stdout, "", "Ben's task is not Ana's to take");
    let ben = ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "Ben Okafor", "--json"]).success().json();
    assert_eq!((&ben["title"], &ben["assignee"]), (&json!("Call new lead Acme Corp"), &json!("Ben Okafor")));
    let claimed = array(ws.run(&["tasks", "--status", "claimed", "--json"]).success().json());
    assert_eq!(sorted_titles(&claimed), ["Call new lead Acme Corp", "Call new lead Brightside"]);

    // Done and cancelled.
    let ana_id = ana["id"].to_string();
    let out = ws.run(&["tasks", "done", &ana_id]).success();
    assert_eq!(out.stdout.trim(), format!("task {ana_id} done: Call new lead Brightside"));
    let err = ws.run(&["tasks", "done", &ana_id]).code(1);
    assert!(err.stderr.contains(&format!("task {ana_id} is already done")), "{}", err.stderr);

    let coordinator = ws.task_titled("Confirm delivery of order O-1 for Acme Corp");
    let id = coordinator["id"].to_string();
    let cancelled = ws.run(&["tasks", "cancel", &id, "--reason", "customer collected it", "--json"]).success().json();
    assert_eq!((&cancelled["status"], &cancelled["outcome"]), (&json!("cancelled"), &json!("customer collected it")));

    let statuses: BTreeMap<String, String> =
        ws.tasks().iter().map(|t| (str_of(t, "title").to_string(), str_of(t, "status").to_string())).collect();
    assert_eq!(statuses["Call new lead Brightside"], "done");
    assert_eq!(statuses["Call new lead Acme Corp"], "claimed");
    assert_eq!(statuses["Confirm delivery of order O-1 for Acme Corp"], "cancelled");
    let open = &ws.status()["open_tasks"];
    assert_eq!((&open["sales_rep"], &open["sales_coordinator"]), (&json!(1), &json!(0)));
}

// ---------------------------------------------------------------------------
// 9. Mistakes a user makes
// ---------------------------------------------------------------------------

#[test]
fn a_folder_without_config_says_to_run_init() {
    let ws = Workspace::new();
    let empty = ws.root().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for args in
        [&["--dir", "empty", "tasks"][..], &["--dir", "empty", "check"], &["--dir", "empty", "ingest", "x.jsonl"]]
    {
        let out = ws.run_in(ws.root(), args).code(1);
        assert!(out.stderr.contains("no config.toml in empty"), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("dealflow init"), "{args:?}: {}", out.stderr);
    }
    // Without --dir, the current directory is the config folder.
    let out = ws.run_in(&empty, &["status"]).code(1);
    assert!(out.stderr.contains("dealflow init"), "{}", out.stderr);
}

#[test]
fn a_database_in_a_missing_folder_is_an_error_that_names_it() {
    let ws = Workspace::new();
    let events = ws.event_file(&[lead("2026-11-02T09:00:00Z", "L-1", json!({"company": "Brightside"}))]);
    let db = ws.root().join("no-such-folder").join("dealflow.db");
    let out = ws.run(&["ingest", "--db", db.to_str().unwrap(), events.to_str().unwrap()]).code(1);
    assert!(out.stderr.contains(db.to_str().unwrap()), "{}", out.stderr);
    assert!(out.stderr.contains("cannot open"), "{}", out.stderr);
    assert!(!db.parent().unwrap().exists(), "the folder is not created behind the user's back");
    assert!(!ws.path("dealflow.db").exists(), "nothing went to the default database either");

    let out = ws.run(&["tasks", "--db", db.to_str().unwrap()]).code(1);
    assert!(out.stderr.contains("no database at"), "{}", out.stderr);

    // --db somewhere that exists works, and the default database stays untouched.
    let elsewhere = ws.root().join("other.db");
    ws.run(&["ingest", "--db", elsewhere.to_str().unwrap(), events.to_str().unwrap()]).success();
    let tasks = array(ws.run(&["tasks", "--json", "--db", elsewhere.to_str().unwrap()]).success().json());
    assert_eq!(titles(&tasks), ["Call new lead Brightside"]);
    assert!(!ws.path("dealflow.db").exists());
}

#[test]
fn a_missing_event_file_stops_before_anything_is_applied() {
    let ws = Workspace::new();
    ws.ingest(&[lead("2026-11-02T09:00:00Z", "L-1", json!({"company": "Brightside"}))]);
    let before = ws.tasks();
    let good = ws.event_file(&[lead("2026-11-03T09:00:00Z", "L-2", json!({"company": "Crestline"}))]);
    let out = ws.run(&["ingest", good.to_str().unwrap(), "missing.jsonl"]).code(1);
    assert!(out.stderr.contains("cannot read missing.jsonl"), "{}", out.stderr);
    assert_eq!(ws.tasks(), before);
    let s = ws.ingest_file(&good);
    assert_eq!((&s["applied"], &s["duplicates"]), (&json!(1), &json!(0)), "the good file had not been applied");
}

#[test]
fn an_unknown_role_is_refused_with_a_suggestion() {
    let ws = Workspace::new();
    ws.ingest(&[lead("2026-11-02T09:00:00Z", "L-1", json!({"company": "Brightside"}))]);
    for args in [
        &["tasks", "--role", "acount_manager"][..],
        &["tasks", "claim", "--role", "acount_manager", "--as", "Dana Whitfield"],
    ] {
        let out = ws.run(args).code(1);
        assert!(out.stderr.contains(r#"unknown role "acount_manager""#), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(r#"did you mean "account_manager"?"#), "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout, "");
    }
    // A known role with no tasks is just an empty list.
    assert_eq!(ws.run(&["tasks", "--role", "marketing", "--json"]).success().json(), json!([]));
    let out = ws.run(&["tasks", "--status", "opne"]).code(64);
    assert!(out.stderr.contains("invalid value 'opne' for '--status <STATUS>'"), "{}", out.stderr);
}

#[test]
fn two_tasks_a_rule_cannot_tell_apart_are_an_error_not_a_silent_drop() {
    let ws = Workspace::new();
    ws.write(
        "rules/z.rhai",
        r#"fn task_twice(event, lead) {
    if event.type == "lead.created" {
        return [task("marketing", "First"), task("marketing", "Second"), task("marketing", "Third", #{ dedup: "3" })];
    }
}
"#,
    );
    let s = ws.ingest(&[lead("2026-11-04T09:00:00Z", "L-9", json!({"company": "Dunmore"}))]);
    assert_eq!(s["rule_errors"], 1);
    let message = str_of(&s["rule_failures"][0], "message");
    assert!(message.contains("cannot be told apart") && message.contains("dedup"), "{message}");
    assert_eq!(
        sorted_titles(&ws.tasks_titled(""))
            .iter()
            .filter(|t| ["First", "Second", "Third"].contains(&t.as_str()))
            .count(),
        2
    );
    ws.task_titled("First");
    ws.task_titled("Third");
}

#[test]
fn a_handover_closes_the_reps_open_tasks_about_the_account_and_keeps_claimed_ones() {
    let ws = Workspace::new();
    ws.write(
        "rules/rep_followups.rhai",
        r#"/// Reps thank customers for large orders.
fn task_thank_for_order(event, account) {
    if event.type == "order.placed" && event.data.amount >= 50000 {
        return task("sales_rep", `Thank ${account.name} for order ${event.data.id}`, #{ dedup: event.data.id, about: "account" });
    }
}
"#,
    );
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        order("2026-11-02T09:00:00Z", "O-1", "A-1", 60_000),
        order("2026-11-02T09:30:00Z", "O-2", "A-1", 60_000),
    ]);
    let first = ws.task_titled("Thank Acme Corp for order O-1");
    assert_eq!(first["assignee"], "Ana Ruiz");
    let claimed = ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz", "--json"]).success().json();
    // The third large order makes the account key (revenue over 150,000): Dana takes over.
    ws.ingest(&[order("2026-11-03T09:00:00Z", "O-3", "A-1", 60_000)]);
    assert_eq!(ws.account("A-1")["owner"], "Dana Whitfield");
    let after: Vec<Value> = ws.tasks_titled("Thank Acme Corp");
    let state = |id: &Value| {
        after.iter().find(|t| t["id"] == *id).map(|t| (t["status"].clone(), t["outcome"].clone())).unwrap()
    };
    let other =
        after.iter().find(|t| t["id"] != claimed["id"] && t["title"] != "Thank Acme Corp for order O-3").unwrap();
    assert_eq!(state(&claimed["id"]).0, "claimed", "a claimed task stays with whoever claimed it");
    assert_eq!(state(&other["id"]), (json!("cancelled"), json!("the account was handed over to Dana Whitfield")));
}

#[test]
fn check_shows_the_source_line_with_a_caret_under_the_spot() {
    let ws = Workspace::new();
    ws.write("rules/zz.rhai", "/// x\nfn task_x(event) {\n    return task(\"acount_manager\", \"Hi\");\n}\n");
    let out = ws.run(&["check"]).code(1);
    assert_eq!(out.stdout.lines().count(), 1, "one line per problem on stdout: {}", out.stdout);
    // The caret stands under the misspelled role's first letter.
    assert!(out.stdout.starts_with("rules/zz.rhai:3:18: unknown role \"acount_manager\""), "{}", out.stdout);
    let expected =
        "  --> rules/zz.rhai:3:18\n  |\n3 |     return task(\"acount_manager\", \"Hi\");\n  |                  ^";
    assert!(out.stderr.contains(expected), "{}", out.stderr);
}

#[test]
fn closing_a_deal_cancels_its_open_tasks_and_keeps_what_the_close_asks_for() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme", json!({"owner": "Ana Ruiz", "region": "West"})),
        deal("2026-11-02T09:00:00Z", "D-1", "A-1", "Acme lab", 20000, "Ana Ruiz"),
        deal("2026-11-02T09:05:00Z", "D-2", "A-1", "Acme desks", 9000, "Ana Ruiz"),
        request_stage("2026-11-03T09:00:00Z", "D-1", "A-1", "qualified"),
        request_stage("2026-11-03T09:10:00Z", "D-2", "A-1", "qualified"),
    ]);
    assert_eq!(ws.task_titled("Prepare the proposal for Acme lab")["status"], "open");
    assert_eq!(ws.task_titled("Prepare the proposal for Acme desks")["status"], "open");

    ws.ingest(&[
        request_stage("2026-11-04T09:00:00Z", "D-1", "A-1", "lost"),
        request_stage("2026-11-04T10:00:00Z", "D-2", "A-1", "won"),
    ]);
    let cancelled = array(ws.run(&["tasks", "--status", "cancelled", "--json"]).success().json());
    let mut gone: Vec<(String, String)> = cancelled
        .iter()
        .map(|t| (str_of(t, "title").to_string(), t["outcome"].as_str().unwrap_or("").to_string()))
        .collect();
    gone.sort();
    assert_eq!(
        gone,
        [
            ("Prepare the proposal for Acme desks".to_string(), "the deal was closed (won)".to_string()),
            ("Prepare the proposal for Acme lab".to_string(), "the deal was closed (lost)".to_string()),
        ]
    );
    // What the close itself asks for stays open.
    let order = ws.task_titled("Process the order for Acme desks (9,000)");
    assert_eq!((&order["status"], &order["role"]), (&json!("open"), &json!("sales_coordinator")));
}

#[test]
fn a_claimed_or_closed_task_is_printed_with_control_characters_escaped() {
    let ws = Workspace::new();
    ws.ingest(&[lead(
        "2026-11-02T10:00:00Z",
        "L-1",
        json!({"company": "Evil\u{1b}[2J\u{202e}Corp", "name": "Mal", "source": "website"}),
    )]);
    let out = ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz"]).success();
    assert!(out.stdout.contains("Call new lead Evil\\u{1b}[2J\\u{202e}Corp"), "{}", out.stdout);
    assert!(!out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{202e}'), "{:?}", out.stdout);
    let id = ws.tasks()[0]["id"].to_string();
    let out = ws.run(&["tasks", "done", &id]).success();
    assert!(out.stdout.contains("Evil\\u{1b}[2J") && !out.stdout.contains('\u{1b}'), "{:?}", out.stdout);
    // The stored title is the text as it came.
    assert_eq!(ws.tasks()[0]["title"], "Call new lead Evil\u{1b}[2J\u{202e}Corp");
}

// ---------------------------------------------------------------------------
// 10. What the terminal is shown: escaped text, colour, exit codes, times
// ---------------------------------------------------------------------------

/// A name that would forge a log line and turn the terminal red if printed raw.
const HOSTILE: &str = "evil\n\u{1b}[31mforged: applied 999";
/// How every output shows [`HOSTILE`].
const HOSTILE_SHOWN: &str = r"evil\n\u{1b}[31mforged: applied 999";

/// Nothing a terminal would obey, and no line that starts with the forged text.
fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains('\u{1b}'), "{what}: an ESC reached the output: {text:?}");
    assert!(!text.lines().any(|l| l.starts_with("\u{1b}[31mforged") || l.starts_with("forged")), "{what}: {text}");
}

#[test]
fn hostile_file_and_account_names_are_escaped_in_run_and_ingest_messages_and_tables() {
    let ws = Workspace::new();
    let lines = |n: u32| {
        [
            account("2026-11-02T08:00:00Z", &format!("A-{n}"), HOSTILE, json!({"owner": "Ana Ruiz", "region": "West"})),
            lead("2026-11-02T09:00:00Z", &format!("L-{n}"), json!({"company": HOSTILE})),
            "not json".to_string(),
        ]
        .map(|l| format!("{l}\n"))
        .concat()
    };

    // An inbox file with the name: `run` names it in its message and its rejected line.
    std::fs::write(ws.path("inbox").join(format!("{HOSTILE}.jsonl")), lines(1)).unwrap();
    let out = ws.run(&["run"]).code(2);
    assert!(out.stderr.contains(&format!("inbox/{HOSTILE_SHOWN}.jsonl: applied 2")), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("{HOSTILE_SHOWN}.jsonl:3: rejected")), "{}", out.stderr);
    assert_clean("run", &format!("{}{}", out.stdout, out.stderr));

    // An event file given to `ingest`: its rejected line names it.
    let file = ws.root().join(format!("{HOSTILE}.jsonl"));
    std::fs::write(&file, lines(2)).unwrap();
    let out = ws.run(&["ingest", file.to_str().unwrap()]).code(2);
    assert!(out.stderr.contains(&format!("{HOSTILE_SHOWN}.jsonl:3: rejected")), "{}", out.stderr);
    assert_clean("ingest", &format!("{}{}", out.stdout, out.stderr));

    // Tables: one row per account and task, the name escaped in its cell.
    let out = ws.run(&["accounts"]).success();
    let rows: Vec<&str> = out.stdout.lines().filter(|l| l.contains(HOSTILE_SHOWN)).collect();
    assert_eq!(rows.len(), 2, "{}", out.stdout);
    assert!(rows.iter().all(|r| r.contains("A-")), "{}", out.stdout);
    assert_clean("accounts", &out.stdout);
    let out = ws.run(&["tasks"]).success();
    assert!(out.stdout.contains(&format!("Call new lead {HOSTILE_SHOWN}")), "{}", out.stdout);
    assert_clean("tasks", &out.stdout);
    // The store keeps the text as it came.
    assert_eq!(ws.account("A-1")["name"], HOSTILE);
}

#[test]
fn a_hostile_inbox_file_name_is_escaped_in_what_watch_prints() {
    use std::io::{BufRead, BufReader};
    let ws = Workspace::new();
    let mut cmd = ws.command(&["watch", "--debounce-ms", "50", "--settle-ms", "50"]);
    cmd.stderr(std::process::Stdio::piped()).stdout(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("start dealflow watch");
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait = std::time::Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut expect = |part: &str| loop {
        let line = rx.recv_timeout(wait).unwrap_or_else(|_| panic!("no {part:?} in:\n{}", seen.join("\n")));
        seen.push(line.clone());
        if line.contains(part) {
            break seen.join("\n");
        }
    };
    expect("watching: ");
    let name = format!("{HOSTILE}.jsonl");
    let tmp = ws.path(".incoming");
    std::fs::write(&tmp, format!("{}\nnot json\n", lead("2026-11-02T09:00:00Z", "L-1", json!({"company": "Acme"}))))
        .unwrap();
    std::fs::rename(&tmp, ws.path("inbox").join(&name)).unwrap();
    let printed = expect("moved to");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        printed.contains(&format!("inbox/{HOSTILE_SHOWN}.jsonl: applied 1, duplicates skipped 0, rejected 1")),
        "{printed}"
    );
    assert!(printed.contains(&format!("moved to inbox/failed/{HOSTILE_SHOWN}.jsonl")), "{printed}");
    assert_clean("watch", &printed);
}

/// Fails on every lead, with the lead's company in its error.
const THROWING_RULE: &str = r#"/// Fails on every lead.
fn task_fail_on_leads(event) {
    if event.type == "lead.created" {
        throw event.data.company;
    }
}
"#;

#[test]
fn warnings_written_to_a_pipe_have_no_colour_and_no_raw_control_characters() {
    let ws = Workspace::new();
    ws.write("rules/x.rhai", THROWING_RULE);
    let leads: Vec<String> =
        (1..=6).map(|n| lead("2026-11-02T09:00:00Z", &format!("L-{n}"), json!({"company": HOSTILE}))).collect();
    let file = ws.event_file(&leads);
    let ingest = |env: &[(&str, &str)]| {
        let mut cmd = ws.command(&["ingest", file.to_str().unwrap()]);
        cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE").env_remove("CLICOLOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        std::fs::remove_file(ws.path("dealflow.db")).ok();
        common::output(&["ingest"], cmd.output().unwrap()).success()
    };
    // Standard error is a pipe here: no colour, and the rule's error text is escaped.
    let out = ingest(&[]);
    assert!(out.stderr.contains("is quarantined"), "{}", out.stderr);
    assert!(out.stderr.contains(HOSTILE_SHOWN), "{}", out.stderr);
    assert_clean("the warning", &out.stderr);
    assert!(out.stdout.contains(HOSTILE_SHOWN), "{}", out.stdout);
    assert_clean("the summary", &out.stdout);
    // Colour on demand (CLICOLOR_FORCE), but NO_COLOR wins.
    let forced = ingest(&[("CLICOLOR_FORCE", "1")]);
    assert!(forced.stderr.contains("\u{1b}["), "{:?}", forced.stderr);
    assert!(forced.stderr.contains(HOSTILE_SHOWN), "{:?}", forced.stderr);
    let plain = ingest(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(!plain.stderr.contains('\u{1b}'), "{:?}", plain.stderr);
}

/// The business time a wall-clock tick today finds a deal stuck at.
fn days_ago(days: i64) -> String {
    dealflow::time::stamp(chrono::Utc::now() - chrono::Duration::days(days))
}

#[test]
fn run_on_an_empty_inbox_reports_what_its_tick_did() {
    // A deal that entered its stage 20 days ago: the wall-clock tick of `run` finds it stuck.
    let stuck = || {
        let ws = Workspace::new();
        let at = days_ago(20);
        ws.ingest(&[
            account(&at, "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
            deal(&at, "D-1", "A-1", "Acme rollout", 30000, "Ana Ruiz"),
        ]);
        let before = ws.tasks().len();
        (ws, before)
    };
    let (ws, before) = stuck();
    let out = ws.run(&["run"]).success();
    let made = ws.tasks().len() - before;
    assert!(made > 0, "the tick found the stuck deal: {}", out.stdout);
    assert!(out.stdout.contains("is empty"), "{}", out.stdout);
    let tick = out.stdout.lines().find(|l| l.starts_with("tick at ")).unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(tick.contains(&format!("tasks created {made},")), "{}", out.stdout);

    // As JSON: the inbox's total apart, the tick's own counts beside it.
    let (ws, before) = stuck();
    let out = ws.run(&["run", "--json"]).success().json();
    let made = ws.tasks().len() - before;
    assert!(made > 0);
    assert_eq!(out["total"]["applied"], 0, "{out:#}");
    assert_eq!(out["tick"]["tasks_created"], json!(made), "{out:#}");
    assert_eq!(out["tick"]["applied"], 1, "{out:#}");
    assert!(out["tick"]["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{out:#}");
}

#[test]
fn usage_errors_exit_64_and_rejected_lines_keep_2() {
    let ws = Workspace::new();
    for args in [
        &["tasks", "--bogus"][..],
        &[],
        &["ingest"],
        &["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz", "--count", "0"],
        &["watch", "--settle-ms", "soon"],
        &["tasks", "--status", "opne"],
        &["tick", "--now", "next friday"],
    ] {
        let out = ws.run(args).code(64);
        assert!(out.stderr.starts_with("error: ") || out.stderr.contains("Usage:"), "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{args:?}");
    }
    let out = ws.run(&["tasks", "--status", "opne"]).code(64);
    assert!(out.stderr.contains("'open'"), "a suggestion: {}", out.stderr);
    for args in [&["--help"][..], &["--version"], &["tasks", "--help"]] {
        let out = ws.run(args).success();
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
    assert!(ws.run(&["--help"]).stdout.contains("64 the command line is wrong"));
    let out = ws.run(&["ingest", example("with-errors.jsonl").to_str().unwrap()]).code(2);
    assert!(out.stderr.contains("rejected"), "{}", out.stderr);
}

#[test]
fn a_plain_date_is_the_start_of_that_day_for_every_time_option() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-10-01T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"})),
        deal("2026-10-01T09:00:00Z", "D-1", "A-1", "Acme rollout", 30000, "Ana Ruiz"),
    ]);
    let out = ws.run(&["tick", "--now", "2026-10-30"]).success();
    assert!(out.stdout.starts_with("tick at 2026-10-30T00:00:00Z: applied 1"), "{}", out.stdout);
    let out = ws.run(&["tick", "--now", "2026-10-30T00:00:00Z"]).success();
    assert!(out.stdout.contains("was applied before"), "the same tick: {}", out.stdout);
    // Another offset is the same instant; a time without an offset is UTC, business time.
    let out = ws.run(&["tick", "--now", "2026-10-30T02:00:00+02:00"]).success();
    assert!(out.stdout.contains("was applied before"), "{}", out.stdout);
    let out = ws.run(&["tick", "--now", "2026-10-31T09:30"]).success();
    assert!(out.stdout.starts_with("tick at 2026-10-31T09:30:00Z: "), "{}", out.stdout);

    // Anything else says which forms it takes, for each option that takes a time.
    for args in [
        &["tick", "--now", "2026-10-30 9am"][..],
        &["simulate", "--rules", "rules", "--since", "last month"],
        &["import", "crm-sales-opportunities", "nowhere", "--tasks-since", "last year"],
    ] {
        let out = ws.run(args).code(64);
        assert!(out.stderr.contains("2026-10-30") && out.stderr.contains("2026-10-30T09:00:00Z"), "{}", out.stderr);
    }
    // simulate compares from the instant, whatever the offset it was written with.
    let candidate = ws.config_dir().to_str().unwrap().to_string();
    let out = ws.run(&["simulate", "--rules", &candidate, "--since", "2026-10-30T02:00:00+02:00", "--json"]).success();
    assert_eq!(out.json()["since"], "2026-10-30T00:00:00Z");
    let out = ws.run(&["simulate", "--rules", &candidate, "--since", "2026-10-30", "--json"]).success();
    assert_eq!(out.json()["since"], "2026-10-30T00:00:00Z");
}

#[test]
fn events_name_people_by_id_or_by_a_name_only_they_have_and_a_shared_name_is_refused() {
    let ws = Workspace::new();
    ws.add_namesakes();
    let ingest = |lines: &[String]| {
        let file = ws.event_file(lines);
        ws.run(&["ingest", "--json", file.to_str().unwrap()]).code(2).json()
    };
    let s = ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme", json!({"owner": "Zoe Park"})),
        account("2026-11-02T08:01:00Z", "A-2", "Bolt", json!({"owner": "Alex Kim"})),
        deal("2026-11-02T09:00:00Z", "D-1", "A-1", "Acme lab", 1000, "Alex Kim"),
        deal("2026-11-02T09:01:00Z", "D-2", "A-1", "Acme desks", 1000, "Ana Ruiz"),
        lead("2026-11-02T09:02:00Z", "L-1", json!({"company": "Cato", "owner": "Alex Kim"})),
        deal("2026-11-02T09:03:00Z", "D-3", "A-1", "Acme chairs", 1000, "101"),
        lead("2026-11-02T09:04:00Z", "L-2", json!({"company": "Dune"})),
    ]);
    // A name two people share says nobody: the line is refused, naming their ids.
    let refused = rejections(&s);
    assert_eq!(refused.iter().map(|(line, _)| *line).collect::<Vec<_>>(), [2, 3, 5], "{refused:?}");
    for (_, why) in &refused {
        assert!(why.contains("owner \"Alex Kim\" is ambiguous"), "{why}");
        assert!(why.contains("(ids \"101\", \"102\"); name one by id"), "{why}");
    }
    assert!(ws.deals().iter().all(|d| d["id"] != "D-1") && ws.accounts().iter().all(|a| a["id"] != "A-2"));
    // A name only one person has names them, and they are kept by id; a
    // person without an id is kept by name, as before.
    let acme = ws.account("A-1");
    assert_eq!((&acme["owner"], &acme["owner_id"]), (&json!("Zoe Park"), &json!("7")));
    let d2 = ws.deal("D-2");
    assert_eq!((&d2["owner"], d2.get("owner_id")), (&json!("Ana Ruiz"), None));
    assert_eq!(ws.deal("D-3")["owner_id"], "101");
    let explained = ws.run(&["explain", "account", "A-1"]).success().stdout;
    assert!(explained.contains("owner Zoe Park"), "{explained}");
    let explained = ws.run(&["explain", "deal", "D-3"]).success().stdout;
    assert!(explained.contains("owner Alex Kim (101)"), "{explained}");

    // Who did a task: the same.
    let call = ws.task_titled("Call new lead Dune");
    let n = call["id"].as_i64().unwrap();
    let s = ingest(&[
        event("task.completed", "2026-11-03T10:00:00Z", json!({"task_id": n, "by": "Alex Kim"})),
        event("task.completed", "2026-11-03T10:01:00Z", json!({"task_id": n, "by": 102})),
    ]);
    let refused = rejections(&s);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].1.contains("task.completed: by \"Alex Kim\" is ambiguous"), "{refused:?}");
    let call = ws.task_titled("Call new lead Dune");
    assert_eq!(
        (&call["status"], &call["claimed_by"], &call["claimed_by_id"]),
        (&json!("done"), &json!("Alex Kim"), &json!("102"))
    );
}

/// The words of `text`, without the punctuation around them.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| matches!(c, '"' | '(' | ')' | ',' | ';' | ':' | '.' | '?' | '!' | '…')))
        .filter(|w| w.chars().count() >= 2 && w.chars().any(char::is_alphanumeric))
}

/// Every string and number in a JSON value, split into words.
fn json_words(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => out.extend(words(s).map(str::to_string)),
        Value::Number(n) => {
            out.insert(n.to_string());
        }
        Value::Array(xs) => xs.iter().for_each(|x| json_words(x, out)),
        Value::Object(m) => m.values().for_each(|x| json_words(x, out)),
        _ => {}
    }
}

#[test]
fn tables_and_explanations_fit_80_and_120_columns_and_never_split_a_word() {
    let ws = Workspace::new();
    ws.ingest_file(&example("quarter.jsonl"));
    let tasks = ws.tasks();
    let refused = tasks.iter().find(|t| t["title"].as_str().unwrap().starts_with("Before moving")).unwrap();
    let task = refused["id"].to_string();
    let deal = refused["subject"]["id"].as_str().unwrap().to_string();
    let key = ws.key_accounts()[0].clone();
    let commands: Vec<Vec<&str>> = vec![
        vec!["tasks"],
        vec!["accounts"],
        vec!["deals"],
        vec!["status"],
        vec!["explain", "deal", &deal],
        vec!["explain", "account", &key],
        vec!["explain", "account", "A-5"],
        vec!["explain", "task", &task],
    ];
    // The team's names (`name = "..."` of each [[team]]): never broken across lines.
    let config = ws.read("config.toml");
    let names: Vec<&str> = config.lines().filter_map(|l| l.strip_prefix("name = \"")?.strip_suffix('"')).collect();
    assert!(names.len() >= 5, "{names:?}");
    for args in &commands {
        // What the command says with no width to fit: its words whole (the reference).
        let whole = ws.run(args).success().stdout;
        let mut json_args = args.clone();
        json_args.push("--json");
        let json = ws.run(&json_args).success().json();
        // Headers show as labels (`rule:`) when rows are laid out as blocks.
        let mut known: BTreeSet<String> = words(&whole).flat_map(|w| [w.to_string(), w.to_lowercase()]).collect();
        json_words(&json, &mut known);
        for width in [80, 120] {
            let out = ws.run_at_width(width, args).success().stdout;
            let at = format!("COLUMNS={width} dealflow {}", args.join(" "));
            for line in out.lines() {
                assert!(
                    line.chars().count() <= width,
                    "{at}: a line of {} columns:\n{line}\n\n{out}",
                    line.chars().count()
                );
            }
            // A word of the output is a whole word, or one cut short with an ellipsis; never a piece
            // (the start or the end of a word, a date or a `file:line` the line broke apart).
            for raw in out.split_whitespace() {
                let shortened = raw.ends_with('…');
                let Some(w) = words(raw).next() else { continue };
                if shortened || known.contains(w) {
                    continue;
                }
                let whole_of = known.iter().find(|k| k.len() > w.len() && (k.starts_with(w) || k.ends_with(w)));
                assert!(whole_of.is_none(), "{at}: {w:?} is a piece of {:?}:\n{out}", whole_of.unwrap());
            }
            for name in &names {
                let (wide, narrow) = (whole.matches(name).count(), out.matches(name).count());
                assert_eq!(
                    narrow, wide,
                    "{at}: {name} shows {wide} times on one line with no limit, {narrow} here:\n{out}"
                );
            }
            // Dates, file:line places and ids are there whole.
            match (args[0], json.as_array()) {
                ("tasks", Some(rows)) => {
                    for t in rows {
                        let (id, due) = (t["id"].to_string(), t["due_at"].as_str().unwrap().to_string());
                        assert!(
                            out.lines().any(|l| l.split_whitespace().take(3).any(|w| w == id) && l.contains(&due)),
                            "{at}: task {id} due {due} is not whole:\n{out}"
                        );
                    }
                }
                ("explain", _) => {
                    for x in json["timeline"].as_array().unwrap() {
                        let at_time = x["at"].as_str().unwrap();
                        assert!(out.split_whitespace().any(|w| w == at_time), "{at}: {at_time} is not whole:\n{out}");
                        if let Some(place) = x["rule"].as_str().and_then(|r| r.split(' ').next()) {
                            assert!(out.split_whitespace().any(|w| w == place), "{at}: {place} is not whole:\n{out}");
                        }
                    }
                }
                _ => {}
            }
        }
    }
    // At 80 columns the 18 tasks of a queue take a line each (a header, its rule, one line per task).
    let out = ws.run_at_width(80, &["tasks", "--role", "sales_rep", "--status", "open"]).success().stdout;
    let open = ws.run(&["tasks", "--role", "sales_rep", "--status", "open", "--json"]).success().json();
    assert_eq!(out.lines().count(), 2 + open.as_array().unwrap().len(), "{out}");
}

/// The store named by `[store] url` is that PostgreSQL database: events land
/// there (and no SQLite file is made), and every command reads them back.
#[test]
fn a_store_url_in_config_puts_everything_in_that_postgresql_database() {
    let Some(ws) = Workspace::on_postgres("a_store_url_in_config_puts_everything_in_that_postgresql_database") else {
        return;
    };
    let lead = event("lead.created", "2026-11-06T10:00:00Z", json!({"id": "L-1", "company": "Acme Tools"}));
    let summary = ws.ingest(&[lead]);
    assert_eq!(summary["applied"], 1, "{summary}");
    assert!(!ws.path("dealflow.db").exists(), "no SQLite file is made when config.toml names a PostgreSQL database");
    let stored: i64 = ws.pg.as_ref().unwrap().client().query_one("SELECT count(*) FROM tasks", &[]).unwrap().get(0);
    assert_eq!(stored, 1, "the lead's task is a row of the PostgreSQL database");
    let tasks = ws.run(&["tasks", "--json"]).success().json();
    assert_eq!(tasks[0]["title"], "Call new lead Acme Tools", "{tasks}");
}
