//! CRM webhooks end to end: a delivery received through the library into
//! the store a running `dealflow watch` uses is applied by that watch, said
//! on its standard error, and counted by `status --json`; one that cannot
//! be mapped is kept with its reason. On SQLite, and on PostgreSQL.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::Workspace;
use common::watching::Watching;
use dealflow::config::Config;
use dealflow::store::Store;
use dealflow::webhooks::auth::{SIGNATURE_HEADER, TIMESTAMP_HEADER, hubspot_signature};
use dealflow::webhooks::{Receipt, Request, Source, receive};
use serde_json::json;

const WEBHOOKS: &str = r#"
[webhooks.pipedrive]
[webhooks.pipedrive.stages]
1 = "lead"

[webhooks.hubspot]
secret = "hs-client-secret"
public_url = "https://dealflow.example.com"
[webhooks.hubspot.stages]
appointmentscheduled = "lead"
"#;

/// A HubSpot batch, signed as HubSpot signs it, received into `store`.
fn hubspot(store: &Store, config: &Config, batch: &serde_json::Value) -> Receipt {
    let body = serde_json::to_vec(batch).unwrap();
    let now = Utc::now();
    let stamp = now.timestamp_millis().to_string();
    let sig =
        hubspot_signature("hs-client-secret", "POST", "https://dealflow.example.com/webhooks/hubspot", &body, &stamp);
    let headers =
        [("Content-Type", "application/json"), (SIGNATURE_HEADER, sig.as_str()), (TIMESTAMP_HEADER, stamp.as_str())];
    let req = Request { method: "POST", uri: "/webhooks/hubspot", headers: &headers, body: &body, now };
    receive(store, config, Source::Hubspot, &req).unwrap()
}

fn pipedrive(store: &Store, config: &Config, body: &serde_json::Value) -> Receipt {
    let body = serde_json::to_vec(body).unwrap();
    let req = Request { method: "POST", uri: "/webhooks/pipedrive", headers: &[], body: &body, now: Utc::now() };
    receive(store, config, Source::Pipedrive, &req).unwrap()
}

fn event(id: i64, kind: &str, object: i64, property: &str, value: &str) -> serde_json::Value {
    json!({"eventId": id, "subscriptionId": 7, "portalId": 62515, "appId": 54321, "occurredAt": 1_793_611_800_000i64 + id,
           "subscriptionType": kind, "attemptNumber": 0, "objectId": object, "changeSource": "CRM",
           "propertyName": property, "propertyValue": value})
}

fn watch_applies_what_any_process_received(ws: &Workspace, open: impl Fn(&Config) -> Store) {
    let text = ws.read("config.toml");
    ws.write("config.toml", &format!("{text}\n{WEBHOOKS}"));
    let mut w = Watching::start(ws);
    let config = Config::load(&ws.config_dir()).unwrap();
    let store = open(&config);

    let batch = json!([
        event(2, "company.propertyChange", 501, "name", "Acme Corp"),
        {"eventId": 3, "subscriptionId": 8, "portalId": 62515, "appId": 54321, "occurredAt": 1_793_611_800_003i64,
         "subscriptionType": "deal.associationChange", "attemptNumber": 0, "changeSource": "USER",
         "associationType": "DEAL_TO_COMPANY", "fromObjectId": 9001, "toObjectId": 501, "associationRemoved": false},
        event(4, "deal.propertyChange", 9001, "dealname", "GTX Pro for Acme"),
        event(5, "deal.propertyChange", 9001, "dealstage", "appointmentscheduled"),
    ]);
    let first = hubspot(&store, &config, &batch);
    assert!(matches!(first, Receipt::Stored { .. }), "{first:?}");
    let line = w.expect(&format!("webhook hubspot #{}: 4 events, applied 4", first.id()));
    assert!(!line.contains("unmappable"), "{line}");
    let deal = ws.deal("9001");
    assert_eq!((deal["account_id"].as_str(), deal["stage"].as_str()), (Some("501"), Some("lead")), "{deal}");
    assert_eq!(ws.account("501")["name"], "Acme Corp");

    // Redelivered: stored once, applied once.
    assert_eq!(hubspot(&store, &config, &batch), Receipt::Duplicate { id: first.id() });

    let unknown_stage = json!({
        "meta": {"action": "change", "entity": "deal", "entity_id": "9001", "id": "8a1b", "version": "2.0",
                 "timestamp": "2026-11-02T10:00:00Z", "attempt": 1},
        "data": {"id": 9001, "title": "GTX Pro for Acme", "status": "open", "stage_id": 4, "org_id": 501},
        "previous": {"stage_id": 1}
    });
    let second = pipedrive(&store, &config, &unknown_stage);
    let line = w.expect(&format!("webhook pipedrive #{}: 0 events", second.id()));
    assert!(line.contains("unmappable, kept: deal 9001: stage_id 4 is not in [webhooks.pipedrive.stages]"), "{line}");

    let status = ws.status();
    assert_eq!(status["webhooks"], json!({"pending": 0, "applied": 1, "unmappable": 1}), "{status}");
    assert_eq!(ws.stage("9001"), "lead");
    assert_eq!(w.stop(), 0);
    let applied = w.seen.iter().filter(|l| l.starts_with("webhook hubspot ")).count();
    assert_eq!(applied, 1, "the redelivered batch was applied once:\n{}", w.seen.join("\n"));
}

#[test]
fn watch_applies_a_delivery_received_into_its_sqlite_file() {
    let ws = Workspace::new();
    watch_applies_what_any_process_received(&ws, |c| Store::open(&c.store_path(None), Duration::from_secs(5)).unwrap());
}

#[test]
fn watch_applies_a_delivery_received_into_its_postgres_database() {
    let Some(ws) = Workspace::on_postgres("watch_applies_a_delivery_received_into_its_postgres_database") else {
        return;
    };
    watch_applies_what_any_process_received(&ws, |c| {
        Store::open_postgres(c.store.url.as_deref().unwrap(), Duration::from_secs(5)).unwrap()
    });
}
