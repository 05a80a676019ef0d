//! Builders for the events tests feed: one JSON line each, with a fresh id.

use serde_json::{Value, json};

use super::event;

pub fn account(at: &str, id: &str, name: &str, extra: Value) -> String {
    let mut data = json!({"id": id, "name": name});
    data.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    event("account.upserted", at, data)
}

pub fn contact(at: &str, id: &str, account: &str, role: &str) -> String {
    event(
        "contact.upserted",
        at,
        json!({"id": id, "account_id": account, "name": format!("{role} {id}"), "role": role}),
    )
}

pub fn deal(at: &str, id: &str, account: &str, name: &str, amount: u64, owner: &str) -> String {
    event(
        "deal.upserted",
        at,
        json!({"id": id, "account_id": account, "name": name, "amount": amount, "owner": owner, "product": "GTX Pro"}),
    )
}

/// A requested stage move, as the CRM sends it: only id, account and stage.
pub fn request_stage(at: &str, id: &str, account: &str, stage: &str) -> String {
    event("deal.upserted", at, json!({"id": id, "account_id": account, "stage": stage}))
}

pub fn activity(at: &str, account: &str, deal: Option<&str>, contact: Option<&str>, kind: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut data = json!({"id": format!("ACT-{n}"), "account_id": account, "kind": kind});
    if let Some(d) = deal {
        data["deal_id"] = json!(d);
    }
    if let Some(c) = contact {
        data["contact_id"] = json!(c);
    }
    event("activity.logged", at, data)
}

pub fn lead(at: &str, id: &str, data: Value) -> String {
    let mut d = json!({"id": id});
    d.as_object_mut().unwrap().extend(data.as_object().unwrap().clone());
    event("lead.created", at, d)
}

pub fn order_of(at: &str, id: &str, account: &str, amount: u64, product: &str) -> String {
    event("order.placed", at, json!({"id": id, "account_id": account, "amount": amount, "product": product}))
}

/// An order of the product "GTX Pro".
pub fn order(at: &str, id: &str, account: &str, amount: u64) -> String {
    order_of(at, id, account, amount, "GTX Pro")
}
