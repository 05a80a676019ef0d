//! The webhooks from request to applied events, on fixtures shaped as
//! Pipedrive's (webhooks v2) and HubSpot's (v3 batches) documentation shows them.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::auth::{SIGNATURE_HEADER, TIMESTAMP_HEADER, hubspot_signature};
use super::mapping::{Known, KnownContact, Mapped};
use super::*;
use crate::config::Config;
use crate::error::Result;
use crate::event::EventType;
use crate::playbook::Playbook;
use crate::store::{DeliveryFilter, DeliveryState};

pub(crate) const WEBHOOKS: &str = r#"
[webhooks.pipedrive]
user = "pipedrive"
password = "pd-password"
[webhooks.pipedrive.stages]
1 = "lead"
2 = "qualified"
3 = "proposal"
[webhooks.pipedrive.activity_kinds]
lunch = "meeting"
[webhooks.pipedrive.deal]
product = "custom_fields.prod"

[webhooks.hubspot]
secret = "hs-client-secret"
public_url = "https://dealflow.example.com"
[webhooks.hubspot.stages]
appointmentscheduled = "lead"
qualifiedtobuy = "qualified"
"#;

/// The repository's playbook with the webhooks above, in a folder of its own.
fn playbook(extra: &str) -> (tempfile::TempDir, Playbook) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(root.join("config.toml")).unwrap();
    std::fs::write(dir.path().join("config.toml"), format!("{config}\n{extra}")).unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    for f in std::fs::read_dir(root.join("rules")).unwrap() {
        let f = f.unwrap().path();
        if f.extension().is_some_and(|e| e == "rhai") {
            std::fs::copy(&f, dir.path().join("rules").join(f.file_name().unwrap())).unwrap();
        }
    }
    let p = Playbook::load(dir.path()).unwrap();
    (dir, p)
}

fn config() -> Config {
    playbook(WEBHOOKS).1.config
}

const NOW: &str = "2026-11-02T09:30:10Z";

fn now() -> DateTime<Utc> {
    NOW.parse().unwrap()
}

/// A Pipedrive v2 request body: `meta`, `data`, `previous`.
fn pipedrive(action: &str, entity: &str, data: Value, previous: Value) -> Value {
    let id = data["id"].clone();
    json!({
        "meta": {
            "action": action, "entity": entity, "entity_id": id.to_string(),
            "id": format!("5d2a1c3e-0f1b-4c8e-9a7d-{entity}{id}{action}"),
            "company_id": "12882925", "user_id": "18487521", "version": "2.0",
            "webhook_id": "99", "webhook_owner_id": "18487521", "attempt": 1,
            "host": "acme.pipedrive.com", "timestamp": "2026-11-02T09:30:00.000Z",
            "change_source": "app", "type": "general", "is_bulk_edit": false,
            "correlation_id": "0c5b9f4e-7d2a-4e61-b3a8-1f9e2d7c6a50"
        },
        "data": data,
        "previous": previous
    })
}

fn pd_deal(status: &str, stage_id: i64) -> Value {
    json!({
        "id": 101, "title": "GTX Pro for Acme", "value": 48000, "currency": "USD", "status": status,
        "stage_id": stage_id, "pipeline_id": 1, "owner_id": 18487521, "person_id": 3, "org_id": 7,
        "expected_close_date": "2026-12-15", "add_time": "2026-11-02T09:29:58Z",
        "update_time": "2026-11-02T09:30:00Z",
        "custom_fields": {"prod": {"type": "varchar", "value": "GTX Pro"}}
    })
}

/// A HubSpot v3 event of a batch.
fn hs(event_id: i64, kind: &str, object_id: i64, property: Option<(&str, &str)>) -> Value {
    let mut e = json!({
        "eventId": event_id, "subscriptionId": 2_488_771, "portalId": 62515, "appId": 54321,
        "occurredAt": 1_793_611_800_000i64 + event_id, "subscriptionType": kind, "attemptNumber": 0,
        "objectId": object_id, "changeSource": "CRM", "changeFlag": "NEW"
    });
    if let Some((name, value)) = property {
        e["propertyName"] = json!(name);
        e["propertyValue"] = json!(value);
        e["changeFlag"] = json!("UPDATED");
    }
    e
}

fn hs_association(event_id: i64, kind: &str, from: i64, to: i64) -> Value {
    json!({
        "eventId": event_id, "subscriptionId": 2_488_772, "portalId": 62515, "appId": 54321,
        "occurredAt": 1_793_611_800_000i64 + event_id, "subscriptionType": "deal.associationChange",
        "attemptNumber": 0, "changeSource": "USER", "associationType": kind,
        "fromObjectId": from, "toObjectId": to, "associationRemoved": false, "isPrimaryAssociation": true
    })
}

/// What dealflow holds, for mappings that ask.
#[derive(Default)]
struct Holds {
    deals: HashMap<String, String>,
    names: HashMap<String, String>,
}

impl Known for Holds {
    fn deal_account(&self, id: &str) -> Result<Option<String>> {
        Ok(self.deals.get(id).cloned())
    }
    fn account_name(&self, id: &str) -> Result<Option<String>> {
        Ok(self.names.get(id).cloned())
    }
    fn contact(&self, _: &str) -> Result<Option<KnownContact>> {
        Ok(None)
    }
}

fn map_pd(body: &Value, known: &dyn Known) -> Mapped {
    let c = config();
    pipedrive::map(body, c.webhooks.pipedrive.as_ref().unwrap(), &c.pipeline, known).unwrap()
}

fn map_hs(events: &[Value], known: &dyn Known) -> Mapped {
    let c = config();
    hubspot::map(events, c.webhooks.hubspot.as_ref().unwrap(), known).unwrap()
}

fn kinds(m: &Mapped) -> Vec<&'static str> {
    m.events.iter().map(|e| e.kind.name()).collect()
}

#[test]
fn a_pipedrive_deal_becomes_a_deal_upsert_with_its_stage_mapped() {
    let m = map_pd(&pipedrive("create", "deal", pd_deal("open", 2), Value::Null), &Holds::default());
    assert!(m.problems.is_empty(), "{:?}", m.problems);
    let e = &m.events[0];
    assert_eq!(e.kind, EventType::DealUpserted);
    assert_eq!(
        Value::Object(e.data.clone()),
        json!({"id": "101", "account_id": "7", "name": "GTX Pro for Acme", "amount": 48000.0,
               "owner": "18487521", "stage": "qualified", "expected_close": "2026-12-15", "product": "GTX Pro"})
    );
    assert_eq!(e.at.map(crate::time::stamp).as_deref(), Some("2026-11-02T09:30:00Z"));
    assert!(e.id.starts_with("pipedrive:deal/101@"), "{}", e.id);

    let won = map_pd(&pipedrive("change", "deal", pd_deal("won", 3), json!({"status": "open"})), &Holds::default());
    assert_eq!(won.events[0].data["stage"], "won", "status won is the pipeline's won stage");
    let lost = map_pd(&pipedrive("change", "deal", pd_deal("lost", 3), Value::Null), &Holds::default());
    assert_eq!(lost.events[0].data["stage"], "lost");
    assert_ne!(won.events[0].id, m.events[0].id, "another change, another event");
}

#[test]
fn a_pipedrive_change_maps_to_the_same_event_ids_and_delivery_key_on_every_attempt() {
    let first = pipedrive("change", "deal", pd_deal("open", 1), Value::Null);
    let mut retry = first.clone();
    retry["meta"]["attempt"] = json!(3);
    assert_eq!(pipedrive::delivery_key(&first), pipedrive::delivery_key(&retry));
    let ids = |b: &Value| map_pd(b, &Holds::default()).events.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first), ids(&retry));
    let mut next = first.clone();
    next["meta"]["id"] = json!("another-change");
    assert_ne!(pipedrive::delivery_key(&first), pipedrive::delivery_key(&next));
}

#[test]
fn pipedrive_organizations_persons_and_done_activities_map_to_their_events() {
    let org = map_pd(
        &pipedrive("create", "organization", json!({"id": 7, "name": "Acme Corp", "owner_id": 18487521}), Value::Null),
        &Holds::default(),
    );
    assert_eq!(kinds(&org), ["account.upserted"]);
    assert_eq!(Value::Object(org.events[0].data.clone()), json!({"id": "7", "name": "Acme Corp", "owner": "18487521"}));

    let person = json!({"id": 3, "name": "Rita Buyer", "first_name": "Rita", "last_name": "Buyer", "org_id": 7,
                        "emails": [{"label": "work", "value": "rita@acme.example", "primary": true}]});
    let p = map_pd(&pipedrive("change", "person", person, Value::Null), &Holds::default());
    assert_eq!(kinds(&p), ["contact.upserted"]);
    assert_eq!(
        Value::Object(p.events[0].data.clone()),
        json!({"id": "3", "account_id": "7", "name": "Rita Buyer", "role": "other"})
    );

    let activity = |done: bool, org: Value| {
        json!({"id": 55, "type": "lunch", "subject": "Lunch with Rita", "done": done, "deal_id": 101,
               "person_id": 3, "org_id": org, "due_date": "2026-11-02", "owner_id": 18487521})
    };
    let a = map_pd(&pipedrive("change", "activity", activity(true, json!(7)), Value::Null), &Holds::default());
    assert_eq!(kinds(&a), ["activity.logged"]);
    assert_eq!(
        Value::Object(a.events[0].data.clone()),
        json!({"id": "55", "account_id": "7", "deal_id": "101", "contact_id": "3", "kind": "meeting", "subject": "Lunch with Rita"})
    );
    // No org on the activity: the deal's account, as dealflow holds it.
    let holds = Holds { deals: [("101".into(), "7".into())].into(), ..Holds::default() };
    let a = map_pd(&pipedrive("change", "activity", activity(true, Value::Null), Value::Null), &holds);
    assert_eq!(a.events[0].data["account_id"], "7");
    let planned = map_pd(&pipedrive("create", "activity", activity(false, json!(7)), Value::Null), &Holds::default());
    assert!(planned.events.is_empty() && planned.problems.is_empty());
    assert!(planned.notes[0].contains("not done yet"), "{:?}", planned.notes);
}

#[test]
fn a_pipedrive_payload_that_cannot_be_mapped_says_why() {
    let why = |body: Value, holds: &Holds| {
        let m = map_pd(&body, holds);
        assert!(m.events.is_empty(), "{:?}", m.events);
        m.problems.join("; ")
    };
    let none = Holds::default();
    let w = why(pipedrive("create", "deal", pd_deal("open", 9), Value::Null), &none);
    assert!(w.contains("stage_id 9 is not in [webhooks.pipedrive.stages]"), "{w}");
    let mut orphan = pd_deal("open", 1);
    orphan["org_id"] = Value::Null;
    let w = why(pipedrive("create", "deal", orphan.clone(), Value::Null), &none);
    assert!(w.contains("deal 101: names no organization"), "{w}");
    let known = Holds { deals: [("101".into(), "7".into())].into(), ..Holds::default() };
    assert_eq!(map_pd(&pipedrive("change", "deal", orphan, Value::Null), &known).events[0].data["account_id"], "7");
    let w = why(pipedrive("delete", "deal", json!({"id": 101}), Value::Null), &none);
    assert!(w.contains("deal 101 was deleted in Pipedrive"), "{w}");
    let w = why(pipedrive("create", "lead", json!({"id": 4, "title": "x"}), Value::Null), &none);
    assert!(w.contains("Pipedrive's lead has no dealflow event"), "{w}");
    let w = why(pipedrive("create", "organization", json!({"id": 7}), Value::Null), &none);
    assert!(w.contains("organization 7: has no name"), "{w}");
    let w = why(json!({"meta": {"v": 1}}), &none);
    assert!(w.contains("no meta.entity"), "{w}");
}

#[test]
fn a_hubspot_batch_maps_each_subscription_type() {
    let batch = [
        hs(11, "deal.propertyChange", 9001, Some(("dealstage", "qualifiedtobuy"))),
        hs(10, "deal.creation", 9001, None),
        hs_association(12, "DEAL_TO_COMPANY", 9001, 501),
        hs(13, "deal.propertyChange", 9001, Some(("amount", "48000.50"))),
        hs(14, "company.propertyChange", 501, Some(("name", "Acme Corp"))),
        hs(15, "company.propertyChange", 501, Some(("numberofemployees", "1200"))),
        hs(16, "contact.creation", 77, None),
        hs(17, "contact.propertyChange", 77, Some(("associatedcompanyid", "501"))),
        hs(18, "contact.propertyChange", 77, Some(("firstname", "Rita"))),
        hs(19, "deal.propertyChange", 9001, Some(("closedate", "1796083200000"))),
    ];
    let m = map_hs(&batch, &Holds::default());
    let got: Vec<(String, Value)> = m.events.iter().map(|e| (e.id.clone(), Value::Object(e.data.clone()))).collect();
    let ev = |id: &str, data: Value| (format!("hubspot:{id}"), data);
    // The association first (it says the deal's account), then the rest as they happened.
    assert_eq!(
        got,
        [
            ev("12", json!({"id": "9001", "account_id": "501"})),
            ev("11", json!({"id": "9001", "account_id": "501", "stage": "qualified"})),
            ev("13", json!({"id": "9001", "account_id": "501", "amount": 48000.5})),
            ev("14", json!({"id": "501", "name": "Acme Corp"})),
            ev("15", json!({"id": "501", "name": "Acme Corp", "employees": 1200})),
            ev("18", json!({"id": "77", "account_id": "501", "name": "Rita", "role": "other", "first_name": "Rita"})),
            ev("19", json!({"id": "9001", "account_id": "501", "expected_close": "2026-12-01"})),
        ]
    );
    assert_eq!(kinds(&m)[..2], ["deal.upserted", "deal.upserted"]);
    assert_eq!(m.events[1].at.map(crate::time::stamp).as_deref(), Some("2026-11-02T09:30:00Z"));
    // The contact's company came before its name: nothing to apply yet, and said so.
    assert_eq!(m.problems.len(), 1, "{:?}", m.problems);
    assert!(
        m.problems[0].contains("event 8 (contact.propertyChange 77)") && m.problems[0].contains("name"),
        "{:?}",
        m.problems
    );
    assert!(m.notes.iter().any(|n| n.contains("deal.creation 9001")), "{:?}", m.notes);

    // The other direction of the same association, as a company subscription sends it.
    let mut reverse = hs_association(20, "COMPANY_TO_DEAL", 501, 9002);
    reverse["subscriptionType"] = json!("company.associationChange");
    let m = map_hs(&[reverse], &Holds::default());
    assert_eq!(Value::Object(m.events[0].data.clone()), json!({"id": "9002", "account_id": "501"}));
}

#[test]
fn a_hubspot_event_that_cannot_be_mapped_says_why() {
    let holds =
        Holds { deals: [("9001".into(), "501".into())].into(), names: [("501".into(), "Acme Corp".into())].into() };
    let problems = |e: Value| {
        let m = map_hs(&[e], &holds);
        assert!(m.events.is_empty(), "{:?}", m.events);
        m.problems.join("; ")
    };
    let p = problems(hs(1, "deal.propertyChange", 9001, Some(("dealstage", "presentationscheduled"))));
    assert!(p.contains("dealstage \"presentationscheduled\" is not in [webhooks.hubspot.stages]"), "{p}");
    let p = problems(hs(2, "deal.propertyChange", 9001, Some(("hs_priority", "high"))));
    assert!(p.contains("the property \"hs_priority\" is not mapped"), "{p}");
    let p = problems(hs(3, "deal.propertyChange", 42, Some(("amount", "5"))));
    assert!(p.contains("dealflow does not know the deal yet"), "{p}");
    let p = problems(hs(4, "deal.deletion", 9001, None));
    assert!(p.contains("deleted in HubSpot"), "{p}");
    let p = problems(hs(5, "ticket.creation", 1, None));
    assert!(p.contains("HubSpot's ticket has no dealflow event"), "{p}");
    let p = problems(hs(6, "company.propertyChange", 999, Some(("industry", "Retail"))));
    assert!(p.contains("needs its name first"), "{p}");
    // Known: the stored deal's account and the stored account's name fill the event.
    let m = map_hs(&[hs(7, "deal.propertyChange", 9001, Some(("dealstage", "closedwon")))], &holds);
    assert_eq!(Value::Object(m.events[0].data.clone()), json!({"id": "9001", "account_id": "501", "stage": "won"}));
    let m = map_hs(&[hs(8, "company.propertyChange", 501, Some(("industry", "Retail")))], &holds);
    assert_eq!(Value::Object(m.events[0].data.clone()), json!({"id": "501", "name": "Acme Corp", "sector": "Retail"}));
}

// ---- receive: checks, and nothing stored when refused ----

fn request<'a>(uri: &'a str, headers: &'a [(&'a str, &'a str)], body: &'a [u8], now: DateTime<Utc>) -> Request<'a> {
    Request { method: "POST", uri, headers, body, now }
}

fn stored(store: &Store) -> usize {
    store.webhook_deliveries(&DeliveryFilter::default()).unwrap().len()
}

fn signed(body: &[u8], at: DateTime<Utc>, secret: &str) -> (String, String) {
    let stamp = at.timestamp_millis().to_string();
    let sig = hubspot_signature(secret, "POST", "https://dealflow.example.com/webhooks/hubspot", body, &stamp);
    (sig, stamp)
}

#[test]
fn a_hubspot_signature_is_checked_valid_invalid_stale_missing() {
    let config = config();
    let store = Store::memory();
    let body = serde_json::to_vec(&json!([hs(1, "company.propertyChange", 501, Some(("name", "Acme")))])).unwrap();
    let send = |headers: &[(&str, &str)], body: &[u8]| {
        receive(&store, &config, Source::Hubspot, &request("/webhooks/hubspot", headers, body, now()))
    };
    let refused = |r: std::result::Result<Receipt, Refusal>| match r {
        Err(e) => (e.status(), e.to_string()),
        Ok(r) => panic!("taken: {r:?}"),
    };

    let (sig, stamp) = signed(&body, now() - chrono::Duration::seconds(20), "hs-client-secret");
    let ok = [(SIGNATURE_HEADER, sig.as_str()), (TIMESTAMP_HEADER, stamp.as_str())];
    let (status, why) = refused(send(&ok, &[&body[..], b" "].concat()));
    assert_eq!(status, 401, "a body changed after signing: {why}");
    assert!(why.contains("does not match"), "{why}");
    let (wrong, _) = signed(&body, now() - chrono::Duration::seconds(20), "another-secret");
    assert_eq!(refused(send(&[(SIGNATURE_HEADER, &wrong), (TIMESTAMP_HEADER, &stamp)], &body)).0, 401);
    let (status, why) = refused(send(&[(TIMESTAMP_HEADER, &stamp)], &body));
    assert_eq!((status, why.contains("unsigned")), (401, true), "{why}");
    let old = now() - chrono::Duration::minutes(6);
    let (sig_old, stamp_old) = signed(&body, old, "hs-client-secret");
    let (status, why) = refused(send(&[(SIGNATURE_HEADER, &sig_old), (TIMESTAMP_HEADER, &stamp_old)], &body));
    assert_eq!((status, why.contains("more than 5 minutes ago")), (401, true), "{why}");
    // The header's name in any case, as HTTP has it.
    let lower = [("x-hubspot-signature-v3", sig.as_str()), ("x-hubspot-request-timestamp", stamp.as_str())];
    let (status, _) = refused(send(&lower, b"[1"));
    assert_eq!(status, 401, "the signature covers the exact body");
    assert_eq!(stored(&store), 0, "nothing refused is stored");

    let taken = send(&lower, &body).unwrap();
    assert!(matches!(taken, Receipt::Stored { .. }), "{taken:?}");
    assert_eq!(send(&ok, &body).unwrap(), Receipt::Duplicate { id: taken.id() }, "a redelivery is acknowledged again");
    assert_eq!(stored(&store), 1);
    let row = store.webhook_deliveries(&DeliveryFilter::default()).unwrap().remove(0);
    assert_eq!(
        (row.source, row.state, row.body.as_bytes(), row.received_at.as_str()),
        (Source::Hubspot, DeliveryState::Pending, &body[..], NOW)
    );
}

#[test]
fn without_a_public_url_the_host_header_is_signed_and_a_secret_may_come_from_the_environment() {
    // Variables this process has and has not; none is changed (other tests run beside this one).
    let (set, unset) = ("PATH", "DEALFLOW_TEST_NO_SUCH_SECRET_VARIABLE");
    let secret = std::env::var(set).unwrap();
    assert!(std::env::var(unset).is_err());
    let store = Store::memory();
    let body =
        br#"[{"eventId": 1, "subscriptionType": "contact.creation", "objectId": 5, "occurredAt": 1793611800000}]"#;
    let stamp = now().timestamp_millis().to_string();
    let sig = hubspot_signature(&secret, "POST", "https://hooks.example.org/webhooks/hubspot?portal=1", body, &stamp);
    let headers = [("Host", "hooks.example.org"), (SIGNATURE_HEADER, sig.as_str()), (TIMESTAMP_HEADER, stamp.as_str())];
    let req = request("/webhooks/hubspot?portal=1", &headers, body, now());
    let missing = playbook(&format!("[webhooks.hubspot]\nsecret_env = \"{unset}\"\n")).1.config;
    let e = receive(&store, &missing, Source::Hubspot, &req).unwrap_err();
    assert_eq!(e.status(), 503, "{e}");
    assert!(e.to_string().contains(unset), "{e}");
    assert_eq!(stored(&store), 0);
    let config = playbook(&format!("[webhooks.hubspot]\nsecret_env = \"{set}\"\n")).1.config;
    assert!(matches!(receive(&store, &config, Source::Hubspot, &req), Ok(Receipt::Stored { .. })));
    let elsewhere =
        [("Host", "attacker.example"), (SIGNATURE_HEADER, sig.as_str()), (TIMESTAMP_HEADER, stamp.as_str())];
    let e = receive(&store, &config, Source::Hubspot, &request("/webhooks/hubspot?portal=1", &elsewhere, body, now()));
    assert_eq!(e.unwrap_err().status(), 401, "the host is signed too");
}

#[test]
fn malformed_too_large_unconfigured_and_unauthenticated_requests_store_nothing() {
    let config = config();
    let store = Store::memory();
    let auth = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "pipedrive:pd-password")
    );
    let ok = [("Authorization", auth.as_str())];
    let pd = |headers: &[(&str, &str)], body: &[u8]| {
        receive(&store, &config, Source::Pipedrive, &request("/webhooks/pipedrive", headers, body, now()))
    };
    let status =
        |r: std::result::Result<Receipt, Refusal>| r.map_err(|e| e.status()).map(|_| 200).unwrap_or_else(|s| s);
    assert_eq!(status(pd(&ok, b"{\"meta\": {")), 400, "not JSON");
    assert_eq!(status(pd(&ok, b"[1, 2]")), 400, "not Pipedrive's shape");
    assert_eq!(status(pd(&ok, b"\xff\xfe")), 400, "not text");
    assert_eq!(status(pd(&ok, &vec![b' '; crate::config::DEFAULT_MAX_BODY_BYTES + 1])), 413);
    assert_eq!(status(pd(&[], b"{}")), 401, "basic auth is configured");
    let wrong =
        format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "pipedrive:nope"));
    assert_eq!(status(pd(&[("authorization", wrong.as_str())], b"{}")), 401);
    let unconfigured = playbook("").1.config;
    let e =
        receive(&store, &unconfigured, Source::Hubspot, &request("/webhooks/hubspot", &[], b"[]", now())).unwrap_err();
    assert_eq!(e.status(), 404, "{e}");
    assert_eq!(stored(&store), 0);

    let body = serde_json::to_vec(&pipedrive("create", "deal", pd_deal("open", 1), Value::Null)).unwrap();
    let first = pd(&ok, &body).unwrap();
    assert!(matches!(first, Receipt::Stored { .. }));
    assert_eq!(pd(&ok, &body).unwrap(), Receipt::Duplicate { id: first.id() });
    assert_eq!(stored(&store), 1);
}

// ---- drain: applied once, unmappable kept, a crash between applying and marking ----

fn receive_pd(store: &Store, config: &Config, body: &Value) -> Receipt {
    let auth = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "pipedrive:pd-password")
    );
    let body = serde_json::to_vec(body).unwrap();
    let headers = [("Authorization", auth.as_str())];
    receive(store, config, Source::Pipedrive, &request("/webhooks/pipedrive", &headers, &body, now())).unwrap()
}

fn row(store: &Store, id: i64) -> crate::store::DeliveryRow {
    store.webhook_deliveries(&DeliveryFilter::default()).unwrap().into_iter().find(|d| d.id == id).unwrap()
}

#[test]
fn drain_applies_pending_deliveries_once_and_keeps_the_unmappable_with_their_reason() {
    let (_dir, p) = playbook(WEBHOOKS);
    let config = p.config.clone();
    let current = crate::playbook::current(p);
    let store = Store::memory();
    let org = receive_pd(
        &store,
        &config,
        &pipedrive("create", "organization", json!({"id": 7, "name": "Acme Corp"}), Value::Null),
    );
    let deal_body = pipedrive("create", "deal", pd_deal("open", 1), Value::Null);
    let deal = receive_pd(&store, &config, &deal_body);
    let mut bad = pipedrive("change", "deal", pd_deal("open", 9), Value::Null);
    bad["meta"]["id"] = json!("a later change");
    let bad = receive_pd(&store, &config, &bad);
    assert_eq!(receive_pd(&store, &config, &deal_body), Receipt::Duplicate { id: deal.id() });

    let heard = std::sync::Mutex::new(Vec::new());
    let drained = drain_webhooks(&store, &current, &|n| heard.lock().unwrap().push(n)).unwrap();
    assert_eq!(drained, Drained { applied: 2, unmappable: 1 });
    assert_eq!(heard.lock().unwrap().len(), 3);
    let d = store.deal("101").unwrap().expect("the deal was applied");
    assert_eq!((d.account_id.as_str(), d.stage.as_str(), d.amount), ("7", "lead", 48000.0));
    assert_eq!(store.account("7").unwrap().unwrap().data["name"], "Acme Corp");
    for id in [org.id(), deal.id()] {
        let r = row(&store, id);
        assert_eq!((r.state, r.events, r.reason), (DeliveryState::Applied, 1, None));
        assert!(r.applied_at.is_some());
    }
    let r = row(&store, bad.id());
    assert_eq!((r.state, r.events), (DeliveryState::Unmappable, 0));
    assert!(
        r.reason.as_deref().unwrap().contains("stage_id 9 is not in [webhooks.pipedrive.stages]"),
        "{:?}",
        r.reason
    );
    let events = store.event_count().unwrap();
    let rows = store.events_about("deal", "101").unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].source.starts_with("webhook/pipedrive/"), "{}", rows[0].source);

    // Drained: nothing pending, nothing applied again.
    assert_eq!(drain_webhooks(&store, &current, &|_| {}).unwrap(), Drained::default());
    assert_eq!(store.event_count().unwrap(), events);
    assert_eq!(
        store.delivery_counts().unwrap(),
        crate::store::DeliveryCounts { pending: 0, applied: 2, unmappable: 1 }
    );
}

#[test]
fn a_crash_between_applying_and_marking_does_not_apply_twice() {
    let (_dir, p) = playbook(WEBHOOKS);
    let config = p.config.clone();
    let current = crate::playbook::current(p);
    let store = Store::memory();
    receive_pd(
        &store,
        &config,
        &pipedrive("create", "organization", json!({"id": 7, "name": "Acme Corp"}), Value::Null),
    );
    drain_webhooks(&store, &current, &|_| {}).unwrap();
    let won = receive_pd(&store, &config, &pipedrive("change", "deal", pd_deal("won", 3), Value::Null));

    // The engine applied the delivery's events, then died before marking it.
    let pending = row(&store, won.id());
    let mapped = map_delivery(&pending, &config, &store).unwrap();
    let lines: String = mapped.events.iter().map(|e| e.line() + "\n").collect();
    let mut ingest = crate::ingest::Ingest::start(&store, &current).unwrap();
    ingest.input("webhook/pipedrive/crashed", lines.as_bytes()).unwrap();
    let first = ingest.finish().unwrap();
    assert_eq!(first.counts.applied, 1);
    let (events, tasks) = (store.event_count().unwrap(), store.tasks(&Default::default()).unwrap().len());
    assert_eq!(row(&store, won.id()).state, DeliveryState::Pending);

    // Started again: the delivery is still pending, applied again: a duplicate, nothing new.
    let heard = std::sync::Mutex::new(Vec::new());
    drain_webhooks(&store, &current, &|n| heard.lock().unwrap().push(n)).unwrap();
    let heard = heard.into_inner().unwrap();
    let crate::watch::Note::Webhook(outcome) = &heard[0] else { panic!("{heard:?}") };
    assert_eq!((outcome.summary.counts.applied, outcome.summary.counts.duplicates), (0, 1));
    assert_eq!(store.event_count().unwrap(), events);
    assert_eq!(store.tasks(&Default::default()).unwrap().len(), tasks, "no task made twice");
    assert_eq!(row(&store, won.id()).state, DeliveryState::Applied);
}
