//! A lead's owner (the rep the CRM gave it, `lead.created` data `owner`)
//! gets the lead's tasks when they have the task's role, as the owners of
//! deals and accounts do under the `owner` strategy.

mod common;

use common::Workspace;
use common::events::*;
use serde_json::json;

#[test]
fn a_lead_with_an_owner_rep_gets_its_call_task_assigned_to_them() {
    let ws = Workspace::new();
    ws.ingest(&[
        lead("2026-11-02T09:00:00Z", "L-1", json!({"company": "Acme", "owner": "Ben Okafor", "region": "West"})),
        // Not a sales rep: the task waits in the queue.
        lead("2026-11-02T09:00:00Z", "L-2", json!({"company": "Bolt", "owner": "Hana Sato"})),
        // Nobody of the team.
        lead("2026-11-02T09:00:00Z", "L-3", json!({"company": "Cogs", "owner": "Zed Unknown"})),
        // The lead's own rep comes before the account's owner.
        account("2026-11-02T08:00:00Z", "A-9", "Dyno", json!({"owner": "Chloe Martin"})),
        lead("2026-11-02T09:00:00Z", "L-4", json!({"company": "Dyno", "account_id": "A-9", "owner": "Ana Ruiz"})),
        lead("2026-11-02T09:00:00Z", "L-5", json!({"company": "Dyno East", "account_id": "A-9"})),
    ]);
    assert_eq!(ws.task_titled("Call new lead Acme")["assignee"], "Ben Okafor");
    assert_eq!(ws.task_titled("Call new lead Bolt")["assignee"], serde_json::Value::Null);
    assert_eq!(ws.task_titled("Call new lead Cogs")["assignee"], serde_json::Value::Null);
    assert_eq!(ws.task_titled("Call new lead Dyno")["assignee"], "Ana Ruiz");
    assert_eq!(ws.task_titled("Call new lead Dyno East")["assignee"], "Chloe Martin");
}
