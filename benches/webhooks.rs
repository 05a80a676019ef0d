//! Webhook throughput: how fast `receive` stores deliveries (what a CRM
//! waits for before its 2xx), and how fast `drain_webhooks` maps and applies
//! them (what the engine in force does after).
//!
//! A config folder from `dealflow init` with `[webhooks.hubspot]` and
//! `[webhooks.pipedrive]`, its SQLite file, then N HubSpot batches (each a
//! new company's name, a new deal's association to it, its name and its
//! stage: 4 events) and N Pipedrive deal changes (1 event each), every
//! request checked as in production (HubSpot's signature verified). Receive:
//! one request after the other, each committed before the next (as a server
//! answering one CRM connection). Drain: one `drain_webhooks` over all of
//! them, with the default playbook's rules.
//!
//! `cargo bench --bench webhooks` (release build). Knob: `WEBHOOKS_BENCH_N`
//! (default 1000 of each). With `WEBHOOKS_BENCH_PG=postgres://USER@HOST:PORT/DB`
//! the same runs on a scratch database of that server too.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use dealflow::config::Config;
use dealflow::store::Store;
use dealflow::webhooks::auth::{SIGNATURE_HEADER, TIMESTAMP_HEADER, hubspot_signature};
use dealflow::webhooks::{Receipt, Request, Source, drain_webhooks, receive};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_dealflow");

const WEBHOOKS: &str = r#"
[webhooks.pipedrive]
[webhooks.pipedrive.stages]
1 = "lead"
2 = "qualified"

[webhooks.hubspot]
secret = "bench-secret"
public_url = "https://dealflow.example.com"
[webhooks.hubspot.stages]
appointmentscheduled = "lead"
"#;

fn hubspot_batch(i: i64) -> serde_json::Value {
    let (company, deal, base) = (100_000 + i, 500_000 + i, i * 10);
    let at = 1_793_611_800_000i64 + base;
    let prop = |n: i64, kind: &str, object: i64, name: &str, value: String| {
        json!({"eventId": base + n, "subscriptionId": 7, "portalId": 62515, "appId": 1, "occurredAt": at + n,
               "subscriptionType": kind, "attemptNumber": 0, "objectId": object, "changeSource": "CRM",
               "propertyName": name, "propertyValue": value})
    };
    json!([
        prop(1, "company.propertyChange", company, "name", format!("Company {i}")),
        {"eventId": base + 2, "subscriptionId": 8, "portalId": 62515, "appId": 1, "occurredAt": at + 2,
         "subscriptionType": "deal.associationChange", "attemptNumber": 0, "changeSource": "USER",
         "associationType": "DEAL_TO_COMPANY", "fromObjectId": deal, "toObjectId": company, "associationRemoved": false},
        prop(3, "deal.propertyChange", deal, "dealname", format!("Deal {i}")),
        prop(4, "deal.propertyChange", deal, "dealstage", "appointmentscheduled".into()),
    ])
}

fn pipedrive_change(i: i64) -> serde_json::Value {
    json!({
        "meta": {"action": "change", "entity": "deal", "entity_id": (500_000 + i).to_string(), "id": format!("pd-{i}"),
                 "version": "2.0", "timestamp": "2026-11-02T10:00:00Z", "attempt": 1},
        "data": {"id": 500_000 + i, "title": format!("Deal {i}"), "value": 1000 + i, "status": "open", "stage_id": 2,
                 "org_id": 100_000 + i},
        "previous": {"value": 1000}
    })
}

fn run(label: &str, store: &Store, config: &Config, n: i64) {
    let start = Instant::now();
    let mut stored = 0;
    for i in 0..n {
        let body = serde_json::to_vec(&hubspot_batch(i)).unwrap();
        let now = Utc::now();
        let stamp = now.timestamp_millis().to_string();
        let sig =
            hubspot_signature("bench-secret", "POST", "https://dealflow.example.com/webhooks/hubspot", &body, &stamp);
        let headers = [(SIGNATURE_HEADER, sig.as_str()), (TIMESTAMP_HEADER, stamp.as_str())];
        let req = Request { method: "POST", uri: "/webhooks/hubspot", headers: &headers, body: &body, now };
        stored += matches!(receive(store, config, Source::Hubspot, &req).unwrap(), Receipt::Stored { .. }) as usize;
    }
    let hubspot_receive = start.elapsed();
    let start = Instant::now();
    for i in 0..n {
        let body = serde_json::to_vec(&pipedrive_change(i)).unwrap();
        let req = Request { method: "POST", uri: "/webhooks/pipedrive", headers: &[], body: &body, now: Utc::now() };
        stored += matches!(receive(store, config, Source::Pipedrive, &req).unwrap(), Receipt::Stored { .. }) as usize;
    }
    let pipedrive_receive = start.elapsed();
    assert_eq!(stored, 2 * n as usize);
    let playbook = dealflow::playbook::Playbook::load(&config.dir).unwrap();
    let current = dealflow::playbook::current(playbook);
    let start = Instant::now();
    let drained = drain_webhooks(store, &current, &|_| {}).unwrap();
    let drain = start.elapsed();
    assert_eq!((drained.applied, drained.unmappable), (2 * n as usize, 0));
    let events = 5.0 * n as f64;
    let per = |d: Duration, k: f64| k / d.as_secs_f64();
    println!("{label}: {n} HubSpot batches (4 events) + {n} Pipedrive changes (1 event)");
    println!(
        "  receive  HubSpot {:>8.0} requests/s ({:.2} ms each)   Pipedrive {:>8.0} requests/s ({:.2} ms each)",
        per(hubspot_receive, n as f64),
        hubspot_receive.as_secs_f64() * 1000.0 / n as f64,
        per(pipedrive_receive, n as f64),
        pipedrive_receive.as_secs_f64() * 1000.0 / n as f64
    );
    println!(
        "  drain    {:>8.0} deliveries/s, {:>8.0} events/s ({:.1} s for {} deliveries, {events} events)",
        per(drain, 2.0 * n as f64),
        per(drain, events),
        drain.as_secs_f64(),
        2 * n
    );
}

fn folder(dir: &Path, url: Option<&str>) -> Config {
    let ok = Command::new(BIN).arg("init").arg(dir).stdout(Stdio::null()).status().unwrap().success();
    assert!(ok, "dealflow init");
    let path = dir.join("config.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    if let Some(url) = url {
        text = text.replacen("[store]\n", &format!("[store]\nurl = \"{url}\"\n"), 1);
    }
    std::fs::write(&path, format!("{text}\n{WEBHOOKS}")).unwrap();
    Config::load(dir).unwrap()
}

fn main() {
    let n: i64 = std::env::var("WEBHOOKS_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sqlite");
    let config = folder(&dir, None);
    let store = Store::open(&config.store_path(None), Duration::from_secs(5)).unwrap();
    run("SQLite", &store, &config, n);
    if let Ok(server) = std::env::var("WEBHOOKS_BENCH_PG") {
        let scratch = dealflow::benchmark::scratch::ScratchDatabase::create(&server, "webhooks", None).unwrap();
        let dir = tmp.path().join("pg");
        let config = folder(&dir, Some(&scratch.url));
        let store = Store::open_postgres(&scratch.url, Duration::from_secs(5)).unwrap();
        run("PostgreSQL", &store, &config, n);
    }
}
