//! HubSpot's webhooks (v3 subscriptions): a request is a batch, a JSON
//! array of up to 100 events `{"eventId", "subscriptionId", "portalId",
//! "occurredAt", "subscriptionType": "deal.propertyChange", "objectId",
//! "propertyName", "propertyValue", ...}`. Each names one change of one
//! property, so the event it maps to takes the rest from what dealflow
//! holds (a deal's account, an account's name) or from earlier events of
//! the same batch: association changes first (`deal.associationChange`
//! `DEAL_TO_COMPANY` gives a deal its account), then the others in the
//! order they happened.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::mapping::{Known, Mapped, MappedEvent, field_value, hash, text, time};
use crate::config::SourceConfig;
use crate::error::Result;
use crate::event::{CONTACT_ROLES, EventType};

/// The delivery key: the batch's event ids (a redelivered batch has the same).
pub fn delivery_key(events: &[Value]) -> String {
    let mut ids: Vec<String> =
        events.iter().map(|e| e.get("eventId").map(Value::to_string).unwrap_or_default()).collect();
    ids.sort();
    if ids.iter().any(String::is_empty) {
        // An event without an id: the batch as sent is all there is.
        ids.push(Value::Array(events.to_vec()).to_string());
    }
    format!("hubspot:{}", hash(&ids.iter().map(String::as_str).collect::<Vec<_>>()))
}

/// The HubSpot property each dealflow field of an object comes from by default.
const DEAL: [(&str, &str); 5] = [
    ("name", "dealname"),
    ("amount", "amount"),
    ("stage", "dealstage"),
    ("expected_close", "closedate"),
    ("owner", "hubspot_owner_id"),
];
const COMPANY: [(&str, &str); 5] = [
    ("name", "name"),
    ("sector", "industry"),
    ("employees", "numberofemployees"),
    ("annual_revenue", "annualrevenue"),
    ("owner", "hubspot_owner_id"),
];
const CONTACT: [(&str, &str); 5] = [
    ("account_id", "associatedcompanyid"),
    ("first_name", "firstname"),
    ("last_name", "lastname"),
    ("email", "email"),
    ("title", "jobtitle"),
];

/// Property → dealflow field: the defaults, then `[webhooks.hubspot.OBJECT]` (dealflow field = property).
fn by_property(defaults: &[(&str, &str)], given: &BTreeMap<String, String>) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = defaults.iter().map(|(f, p)| (p.to_string(), f.to_string())).collect();
    for (field, property) in given {
        map.retain(|_, f| f != field);
        map.insert(property.clone(), field.clone());
    }
    map
}

/// What earlier events of the batch said.
#[derive(Default)]
struct Batch {
    deal_account: HashMap<String, String>,
    account_name: HashMap<String, String>,
    contact_account: HashMap<String, String>,
    contact_fields: HashMap<String, Map<String, Value>>,
}

/// Map one HubSpot batch.
pub fn map(events: &[Value], config: &SourceConfig, known: &dyn Known) -> Result<Mapped> {
    let mut out = Mapped::default();
    let mut order: Vec<(usize, &Value)> = events.iter().enumerate().collect();
    let rank = |e: &Value| {
        let change = e.get("subscriptionType").and_then(Value::as_str).and_then(|t| t.split_once('.')).map(|t| t.1);
        let first = if change == Some("associationChange") { 0 } else { 1 };
        (first, e.get("occurredAt").and_then(Value::as_i64).unwrap_or(i64::MAX))
    };
    order.sort_by_key(|(i, e)| (rank(e), *i));
    let deal_fields = by_property(&DEAL, &config.fields.deal);
    let company_fields = by_property(&COMPANY, &config.fields.account);
    let contact_fields = by_property(&CONTACT, &config.fields.contact);
    let mut batch = Batch::default();
    for (i, e) in order {
        let n = i + 1;
        let kind = e.get("subscriptionType").and_then(Value::as_str).unwrap_or_default();
        let object_id = e.get("objectId").and_then(text);
        let label = match &object_id {
            Some(id) => format!("event {n} ({kind} {id})"),
            None => format!("event {n} ({kind})"),
        };
        let Some(event_id) = e.get("eventId").and_then(text) else {
            out.problem(format!("{label}: no eventId"));
            continue;
        };
        let at = e.get("occurredAt").and_then(time);
        let Some((object, change)) = kind.split_once('.') else {
            out.problem(format!("{label}: no subscriptionType like \"deal.propertyChange\""));
            continue;
        };
        if !matches!(object, "deal" | "company" | "contact") {
            out.problem(format!(
                "{label}: HubSpot's {object} has no dealflow event (deals, companies and contacts do)"
            ));
            continue;
        }
        let event = |kind: EventType, data: Map<String, Value>| MappedEvent {
            id: format!("hubspot:{event_id}"),
            kind,
            at,
            data,
        };
        let made = match change {
            "creation" => Made::Note(format!(
                "{label}: created; its {object} is made from its properties and associations as they come"
            )),
            "deletion" => Made::Problem(format!("{label}: deleted in HubSpot: dealflow has no event for a deletion")),
            "associationChange" => association(e, &label, &mut batch, known)?,
            "propertyChange" => {
                let Some(id) = object_id.clone() else {
                    out.problem(format!("{label}: no objectId"));
                    continue;
                };
                let property = e.get("propertyName").and_then(Value::as_str).unwrap_or_default();
                let value = e.get("propertyValue").cloned().unwrap_or(Value::Null);
                let change = Change { id: &id, property, value: &value, label: &label };
                match object {
                    "deal" => deal(&change, &deal_fields, config, &batch, known)?,
                    "company" => company(&change, &company_fields, &mut batch, known)?,
                    _ => contact(&change, &contact_fields, config, &mut batch, known)?,
                }
            }
            other => Made::Problem(format!("{label}: the change {other:?} has no dealflow event")),
        };
        match made {
            Made::Event(kind, data) => out.events.push(event(kind, data)),
            Made::Problem(problem) => out.problem(problem),
            Made::Note(note) => out.notes.push(note),
        }
    }
    Ok(out)
}

/// What one event of a batch made.
enum Made {
    Event(EventType, Map<String, Value>),
    /// It could not be mapped: why.
    Problem(String),
    /// Nothing to apply, and why.
    Note(String),
}

struct Change<'a> {
    id: &'a str,
    property: &'a str,
    value: &'a Value,
    label: &'a str,
}

fn unmapped(c: &Change, object: &str) -> String {
    format!(
        "{}: the property {:?} is not mapped: add `FIELD = {:?}` to [webhooks.hubspot.{object}] in config.toml, or stop the subscription",
        c.label, c.property, c.property
    )
}

fn association(e: &Value, label: &str, batch: &mut Batch, known: &dyn Known) -> Result<Made> {
    let kind = e.get("associationType").and_then(Value::as_str).unwrap_or_default();
    let (Some(from), Some(to)) = (e.get("fromObjectId").and_then(text), e.get("toObjectId").and_then(text)) else {
        return Ok(Made::Problem(format!("{label}: no fromObjectId and toObjectId")));
    };
    if e.get("associationRemoved").and_then(Value::as_bool) == Some(true) {
        return Ok(Made::Note(format!("{label}: {kind} {from} → {to} removed; dealflow keeps the account it has")));
    }
    // Either direction (HubSpot sends both to an app subscribed to both objects).
    match kind {
        "DEAL_TO_COMPANY" | "COMPANY_TO_DEAL" => {
            let (deal, company) = if kind == "DEAL_TO_COMPANY" { (from, to) } else { (to, from) };
            batch.deal_account.insert(deal.clone(), company.clone());
            let mut data = Map::new();
            data.insert("id".into(), Value::String(deal));
            data.insert("account_id".into(), Value::String(company));
            Ok(Made::Event(EventType::DealUpserted, data))
        }
        "CONTACT_TO_COMPANY" | "COMPANY_TO_CONTACT" => {
            let (contact, company) = if kind == "CONTACT_TO_COMPANY" { (from, to) } else { (to, from) };
            batch.contact_account.insert(contact.clone(), company.clone());
            let before = known.contact(&contact)?;
            let Some(name) = contact_name(&contact, batch, before.as_ref()) else {
                return Ok(Made::Note(format!(
                    "{label}: the contact's company is kept for its first property change (dealflow needs its name)"
                )));
            };
            let mut data = Map::new();
            data.insert("id".into(), Value::String(contact));
            data.insert("account_id".into(), Value::String(company));
            data.insert("name".into(), Value::String(name));
            data.insert("role".into(), Value::String(before.map_or_else(|| "other".into(), |c| c.role)));
            Ok(Made::Event(EventType::ContactUpserted, data))
        }
        _ => Ok(Made::Note(format!("{label}: the association {kind:?} is not used by dealflow"))),
    }
}

fn deal(
    c: &Change,
    fields: &HashMap<String, String>,
    config: &SourceConfig,
    batch: &Batch,
    known: &dyn Known,
) -> Result<Made> {
    let k = EventType::DealUpserted;
    let Some(field) = fields.get(c.property) else { return Ok(Made::Problem(unmapped(c, "deal"))) };
    let account = match batch.deal_account.get(c.id) {
        Some(a) => Some(a.clone()),
        None => known.deal_account(c.id)?,
    };
    let Some(account) = account else {
        return Ok(Made::Problem(format!(
            "{}: dealflow does not know the deal yet and the change does not say its company (subscribe to deal.associationChange)",
            c.label
        )));
    };
    let value = if field == "stage" {
        let Some(stage) = text(c.value) else { return Ok(Made::Problem(format!("{}: dealstage is empty", c.label))) };
        match config.stages.get(&stage) {
            Some(ours) => Some(Value::String(ours.clone())),
            None => {
                return Ok(Made::Problem(format!(
                    "{}: dealstage {stage:?} is not in [webhooks.hubspot.stages] of config.toml (add {stage} = \"a stage of the pipeline\")",
                    c.label
                )));
            }
        }
    } else {
        field_value(k, field, c.value)
    };
    let mut data = Map::new();
    data.insert("id".into(), Value::String(c.id.to_string()));
    data.insert("account_id".into(), Value::String(account));
    match value {
        Some(v) => data.insert(field.clone(), v),
        None => return Ok(Made::Problem(format!("{}: {:?} is not a value for {field}", c.label, c.value.to_string()))),
    };
    Ok(Made::Event(k, data))
}

fn company(c: &Change, fields: &HashMap<String, String>, batch: &mut Batch, known: &dyn Known) -> Result<Made> {
    let k = EventType::AccountUpserted;
    let Some(field) = fields.get(c.property) else { return Ok(Made::Problem(unmapped(c, "company"))) };
    let Some(value) = field_value(k, field, c.value) else {
        return Ok(Made::Problem(format!("{}: {} is not a value for {field}", c.label, c.value)));
    };
    if field == "name"
        && let Value::String(n) = &value
    {
        batch.account_name.insert(c.id.to_string(), n.clone());
    }
    let name = match batch.account_name.get(c.id) {
        Some(n) => Some(n.clone()),
        None => known.account_name(c.id)?,
    };
    let Some(name) = name else {
        return Ok(Made::Problem(format!(
            "{}: dealflow does not know the company yet and needs its name first (subscribe to company.propertyChange for name)",
            c.label
        )));
    };
    let mut data = Map::new();
    data.insert("id".into(), Value::String(c.id.to_string()));
    data.insert("name".into(), Value::String(name));
    data.insert(field.clone(), value);
    Ok(Made::Event(k, data))
}

fn contact_name(id: &str, batch: &Batch, before: Option<&super::mapping::KnownContact>) -> Option<String> {
    if let Some(fields) = batch.contact_fields.get(id) {
        let parts: Vec<&str> = ["first_name", "last_name"].iter().filter_map(|f| fields.get(*f)?.as_str()).collect();
        if !parts.is_empty() {
            return Some(parts.join(" "));
        }
    }
    before.and_then(|c| c.name.clone()).or_else(|| {
        let email = batch.contact_fields.get(id)?.get("email")?;
        email.as_str().map(str::to_string)
    })
}

fn contact(
    c: &Change,
    fields: &HashMap<String, String>,
    config: &SourceConfig,
    batch: &mut Batch,
    known: &dyn Known,
) -> Result<Made> {
    let k = EventType::ContactUpserted;
    let Some(field) = fields.get(c.property) else { return Ok(Made::Problem(unmapped(c, "contact"))) };
    let Some(value) = field_value(k, field, c.value) else {
        return Ok(Made::Problem(format!("{}: {} is not a value for {field}", c.label, c.value)));
    };
    if field == "account_id"
        && let Value::String(a) = &value
    {
        batch.contact_account.insert(c.id.to_string(), a.clone());
    }
    batch.contact_fields.entry(c.id.to_string()).or_default().insert(field.clone(), value.clone());
    let before = known.contact(c.id)?;
    let account = batch.contact_account.get(c.id).cloned().or_else(|| before.as_ref().map(|b| b.account_id.clone()));
    let Some(account) = account else {
        return Ok(Made::Problem(format!(
            "{}: dealflow does not know the contact's company (subscribe to contact.propertyChange for associatedcompanyid)",
            c.label
        )));
    };
    let Some(name) = contact_name(c.id, batch, before.as_ref()) else {
        return Ok(Made::Problem(format!(
            "{}: dealflow does not know the contact's name yet (firstname, lastname or email)",
            c.label
        )));
    };
    let role = match (config.fields.contact.get("role"), field.as_str()) {
        (Some(_), "role") => match value.as_str().map(str::to_lowercase) {
            Some(r) if CONTACT_ROLES.contains(&r.as_str()) => r,
            _ => {
                return Ok(Made::Problem(format!(
                    "{}: role {} is not one of {}",
                    c.label,
                    value,
                    CONTACT_ROLES.join(", ")
                )));
            }
        },
        _ => before.map_or_else(|| "other".to_string(), |b| b.role),
    };
    let mut data = Map::new();
    data.insert("id".into(), Value::String(c.id.to_string()));
    data.insert("account_id".into(), Value::String(account));
    data.insert("name".into(), Value::String(name));
    data.insert("role".into(), Value::String(role));
    if !matches!(field.as_str(), "account_id" | "role") {
        data.insert(field.clone(), value);
    }
    Ok(Made::Event(k, data))
}
