//! Pipedrive's webhooks (v2; v1's shape is taken too): one change of one
//! object per request, `{"meta": {"action", "entity", "entity_id", "id",
//! "timestamp", ...}, "data": {...}, "previous": {...}}`, mapped to one
//! dealflow event: a deal to `deal.upserted` (its `status` won / lost to
//! the pipeline's won / lost stage, else its `stage_id` through
//! `[webhooks.pipedrive.stages]`), an organization to `account.upserted`, a
//! person to `contact.upserted`, an activity marked done to `activity.logged`.

use serde_json::{Map, Value};

use super::mapping::{Known, Mapped, MappedEvent, at_path, field_value, hash, text, time};
use crate::config::{Pipeline, SourceConfig};
use crate::error::Result;
use crate::event::{CONTACT_ROLES, EventType};

/// The parts of `meta` that name one change, whatever the attempt.
fn stable_parts(body: &Value) -> Vec<String> {
    let meta = body.get("meta");
    let part = |k: &str| meta.and_then(|m| m.get(k)).map(|v| v.to_string()).unwrap_or_default();
    let mut parts =
        vec![part("id"), entity(body).unwrap_or_default(), part("entity_id"), action(body), part("timestamp")];
    if parts[0].is_empty() && parts[4].is_empty() {
        // Nothing in `meta` tells this change from the next: what it says does.
        parts.push(body.get("data").or_else(|| body.get("current")).map(Value::to_string).unwrap_or_default());
    }
    parts
}

/// The delivery key: the change `meta` names (a retry, whose `attempt`
/// differs, is the same delivery).
pub fn delivery_key(body: &Value) -> String {
    let parts = stable_parts(body);
    format!("pipedrive:{}", hash(&parts.iter().map(String::as_str).collect::<Vec<_>>()))
}

fn entity(body: &Value) -> Option<String> {
    let meta = body.get("meta")?;
    meta.get("entity").or_else(|| meta.get("object")).and_then(Value::as_str).map(str::to_string)
}

/// `create`, `change` or `delete` (v1's `added`, `updated`, `deleted` read as those).
fn action(body: &Value) -> String {
    let a = body.get("meta").and_then(|m| m.get("action")).and_then(Value::as_str).unwrap_or_default();
    match a {
        "added" => "create",
        "updated" => "change",
        "deleted" => "delete",
        other => other,
    }
    .to_string()
}

/// Map one Pipedrive request.
pub fn map(body: &Value, config: &SourceConfig, pipeline: &Pipeline, known: &dyn Known) -> Result<Mapped> {
    let mut out = Mapped::default();
    let Some(entity) = entity(body) else {
        out.problem("no meta.entity: not a Pipedrive webhook (v2) request");
        return Ok(out);
    };
    let action = action(body);
    let data = body.get("data").filter(|d| d.is_object()).or_else(|| body.get("current")).and_then(Value::as_object);
    let meta = body.get("meta").and_then(Value::as_object);
    let id = data
        .and_then(|d| d.get("id"))
        .or_else(|| meta.and_then(|m| m.get("entity_id")))
        .or_else(|| meta.and_then(|m| m.get("id")))
        .and_then(text);
    let Some(id) = id else {
        out.problem(format!("{entity}: no id in data nor meta.entity_id"));
        return Ok(out);
    };
    if !matches!(entity.as_str(), "deal" | "person" | "organization" | "activity") {
        out.problem(format!(
            "{entity} {id}: Pipedrive's {entity} has no dealflow event (deals, persons, organizations and activities do)"
        ));
        return Ok(out);
    }
    if action == "delete" {
        out.problem(format!(
            "{entity} {id} was deleted in Pipedrive: dealflow has no event for a deletion; nothing changed"
        ));
        return Ok(out);
    }
    if !matches!(action.as_str(), "create" | "change") {
        out.problem(format!("{entity} {id}: unknown meta.action {action:?} (create, change or delete)"));
        return Ok(out);
    }
    let Some(data) = data else {
        out.problem(format!("{entity} {id}: no data object"));
        return Ok(out);
    };
    let at = meta.and_then(|m| m.get("timestamp")).and_then(time).or_else(|| data.get("update_time").and_then(time));
    let parts = stable_parts(body);
    let event_id = format!("pipedrive:{entity}/{id}@{}", hash(&parts.iter().map(String::as_str).collect::<Vec<_>>()));
    let made = match entity.as_str() {
        "deal" => deal(&id, data, config, pipeline, known)?,
        "organization" => organization(&id, data, config),
        "person" => person(&id, data, config, known)?,
        _ => activity(&id, data, config, known)?,
    };
    match made {
        Made::Event(kind, fields) => out.events.push(MappedEvent { id: event_id, kind, at, data: fields }),
        Made::Problems(p) => out.problems.extend(p.into_iter().map(|p| format!("{entity} {id}: {p}"))),
        Made::Nothing(why) => out.notes.push(format!("{entity} {id}: {why}")),
    }
    Ok(out)
}

enum Made {
    Event(EventType, Map<String, Value>),
    Problems(Vec<String>),
    Nothing(String),
}

/// The event's data: `id`, the fields given, then the extra fields `[webhooks.pipedrive.ENTITY]` maps.
fn build(
    kind: EventType,
    id: &str,
    given: Vec<(&str, Option<Value>)>,
    extra: &std::collections::BTreeMap<String, String>,
    data: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), Value::String(id.to_string()));
    for (field, v) in given {
        if let Some(v) = v {
            out.insert(field.to_string(), v);
        }
    }
    for (field, path) in extra {
        if let Some(v) = at_path(data, path).and_then(|v| field_value(kind, field, v)) {
            out.insert(field.clone(), v);
        }
    }
    out
}

fn get(kind: EventType, field: &str, data: &Map<String, Value>, key: &str) -> Option<Value> {
    data.get(key).and_then(|v| field_value(kind, field, v))
}

fn deal(
    id: &str,
    data: &Map<String, Value>,
    config: &SourceConfig,
    pipeline: &Pipeline,
    known: &dyn Known,
) -> Result<Made> {
    let k = EventType::DealUpserted;
    let mut problems = Vec::new();
    let account = match data.get("org_id").and_then(text) {
        Some(a) => Some(a),
        None => known.deal_account(id)?,
    };
    if account.is_none() {
        problems.push("names no organization (org_id) and dealflow does not know the deal yet".to_string());
    }
    let status = data.get("status").and_then(Value::as_str).unwrap_or("open");
    let stage = match status {
        "won" => pipeline.won.first().cloned(),
        "lost" => pipeline.lost.first().cloned(),
        "deleted" => {
            problems.push("was deleted in Pipedrive: dealflow has no event for a deletion".into());
            None
        }
        _ => match data.get("stage_id").and_then(text) {
            Some(s) => match config.stages.get(&s) {
                Some(ours) => Some(ours.clone()),
                None => {
                    problems.push(format!(
                        "stage_id {s} is not in [webhooks.pipedrive.stages] of config.toml (add {s} = \"a stage of the pipeline\")"
                    ));
                    None
                }
            },
            None => None,
        },
    };
    if !problems.is_empty() {
        return Ok(Made::Problems(problems));
    }
    let given = vec![
        ("account_id", account.map(Value::String)),
        ("name", get(k, "name", data, "title")),
        ("amount", get(k, "amount", data, "value")),
        ("owner", get(k, "owner", data, "owner_id").or_else(|| get(k, "owner", data, "user_id"))),
        ("stage", stage.map(Value::String)),
        ("expected_close", get(k, "expected_close", data, "expected_close_date")),
    ];
    Ok(Made::Event(k, build(k, id, given, &config.fields.deal, data)))
}

fn organization(id: &str, data: &Map<String, Value>, config: &SourceConfig) -> Made {
    let k = EventType::AccountUpserted;
    let Some(name) = data.get("name").and_then(text) else {
        return Made::Problems(vec!["has no name".into()]);
    };
    let given = vec![("name", Some(Value::String(name))), ("owner", get(k, "owner", data, "owner_id"))];
    Made::Event(k, build(k, id, given, &config.fields.account, data))
}

fn person(id: &str, data: &Map<String, Value>, config: &SourceConfig, known: &dyn Known) -> Result<Made> {
    let k = EventType::ContactUpserted;
    let before = known.contact(id)?;
    let account = data.get("org_id").and_then(text).or_else(|| before.as_ref().map(|c| c.account_id.clone()));
    let name = data.get("name").and_then(text).or_else(|| {
        let parts: Vec<String> =
            ["first_name", "last_name"].iter().filter_map(|f| data.get(*f).and_then(text)).collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let mut problems = Vec::new();
    if account.is_none() {
        problems.push("names no organization (org_id): a contact belongs to an account".to_string());
    }
    if name.is_none() {
        problems.push("has no name".to_string());
    }
    // The role: the field `[webhooks.pipedrive.person] role` names, else the one dealflow holds, else "other".
    let mapped_role = config.fields.contact.get("role").and_then(|path| at_path(data, path)).and_then(text);
    let role = match mapped_role {
        Some(r) if CONTACT_ROLES.contains(&r.to_lowercase().as_str()) => r.to_lowercase(),
        Some(r) => {
            problems.push(format!("role {r:?} is not one of {}", CONTACT_ROLES.join(", ")));
            String::new()
        }
        None => before.map_or_else(|| "other".to_string(), |c| c.role),
    };
    if !problems.is_empty() {
        return Ok(Made::Problems(problems));
    }
    let given = vec![
        ("account_id", account.map(Value::String)),
        ("name", name.map(Value::String)),
        ("role", Some(Value::String(role))),
    ];
    let mut extra = config.fields.contact.clone();
    extra.remove("role");
    Ok(Made::Event(k, build(k, id, given, &extra, data)))
}

fn activity(id: &str, data: &Map<String, Value>, config: &SourceConfig, known: &dyn Known) -> Result<Made> {
    let k = EventType::ActivityLogged;
    if data.get("done").and_then(Value::as_bool) != Some(true) {
        return Ok(Made::Nothing("not done yet: an activity is logged once it is marked done".into()));
    }
    let deal = data.get("deal_id").and_then(text);
    let contact = data.get("person_id").and_then(text);
    let mut account = data.get("org_id").and_then(text);
    if account.is_none()
        && let Some(d) = &deal
    {
        account = known.deal_account(d)?;
    }
    if account.is_none()
        && let Some(c) = &contact
    {
        account = known.contact(c)?.map(|c| c.account_id);
    }
    let Some(account) = account else {
        return Ok(Made::Problems(vec![
            "names no organization (org_id), and no deal or person dealflow knows the account of".into(),
        ]));
    };
    let Some(kind) = data.get("type").and_then(text) else {
        return Ok(Made::Problems(vec!["has no type".into()]));
    };
    let kind = config.activity_kinds.get(&kind).cloned().unwrap_or(kind);
    let given = vec![
        ("account_id", Some(Value::String(account))),
        ("deal_id", deal.map(Value::String)),
        ("contact_id", contact.map(Value::String)),
        ("kind", Some(Value::String(kind))),
        ("subject", data.get("subject").and_then(text).map(Value::String)),
    ];
    Ok(Made::Event(k, build(k, id, given, &config.fields.activity, data)))
}
