//! The maps rule scripts see: an account, a deal, a lead, a contact and the
//! event, each with the facts derived from the store (revenue with us over
//! twelve months, days in stage, contacts by decision role, ...). Fields
//! events carried that dealflow does not know are passed through as they are.
//! The field list is documented in the README's rule API reference.

use chrono::{DateTime, NaiveDate, Utc};
use rhai::{Array, Dynamic, Map};
use serde_json::Value;

use crate::config::Pipeline;
use crate::event::{CONTACT_ROLES, parse_date};
use crate::model::{Account, AccountStats, Deal, DealStats, Lead};
use crate::rules::seal;
use crate::time;

/// The activity kinds every deal's `activities` map has (zero when none).
pub const ACTIVITY_KINDS: [&str; 5] = ["call", "meeting", "email", "demo", "proposal_sent"];

fn json_to_map(data: &serde_json::Map<String, Value>) -> Map {
    let mut m = Map::new();
    for (k, v) in data {
        m.insert(k.as_str().into(), rhai::serde::to_dynamic(v).unwrap_or(Dynamic::UNIT));
    }
    m
}

fn opt(s: &Option<String>) -> Dynamic {
    s.as_ref().map(|s| Dynamic::from(s.clone())).unwrap_or(Dynamic::UNIT)
}

fn text(data: &serde_json::Map<String, Value>, key: &str) -> Dynamic {
    data.get(key).and_then(Value::as_str).map(|s| Dynamic::from(s.to_string())).unwrap_or(Dynamic::UNIT)
}

fn days_since(stamp: &str, now: NaiveDate) -> Dynamic {
    parse_date(stamp).map(|d| Dynamic::from((now - d).num_days())).unwrap_or(Dynamic::UNIT)
}

pub fn account(a: &Account, s: &AccountStats, at: DateTime<Utc>) -> Dynamic {
    let today = at.date_naive();
    let mut m = json_to_map(&a.data);
    m.insert("id".into(), a.id.clone().into());
    if !a.data.contains_key("name") {
        m.insert("name".into(), a.id.clone().into());
    }
    for key in ["sector", "region"] {
        m.insert(key.into(), text(&a.data, key));
    }
    m.insert(
        "employees".into(),
        a.data.get("employees").and_then(Value::as_i64).map(Dynamic::from).unwrap_or(Dynamic::from(0_i64)),
    );
    m.insert(
        "annual_revenue".into(),
        Dynamic::from(a.data.get("annual_revenue").and_then(Value::as_f64).unwrap_or(0.0)),
    );
    m.insert("owner".into(), opt(&a.owner));
    m.insert("parent_id".into(), opt(&a.parent_id));
    m.insert("is_key".into(), a.is_key.into());
    m.insert("key_since".into(), opt(&a.key_since));
    m.insert("key_reason".into(), opt(&a.key_reason));
    m.insert("last_contact".into(), opt(&a.last_contact));
    m.insert(
        "days_since_contact".into(),
        a.last_contact.as_deref().map(|d| days_since(d, today)).unwrap_or(Dynamic::UNIT),
    );
    m.insert("revenue_12m".into(), Dynamic::from(s.revenue_12m));
    m.insert("orders_12m".into(), Dynamic::from(s.orders_12m));
    m.insert("open_deals".into(), Dynamic::from(s.open_deals));
    m.insert("open_pipeline".into(), Dynamic::from(s.open_pipeline));
    m.insert("won_deals".into(), Dynamic::from(s.won_deals));
    m.insert("parent_is_key".into(), s.parent_is_key.into());

    let mut contacts = Map::new();
    for role in CONTACT_ROLES {
        let n = s.contacts.iter().find(|(r, _)| r == role).map(|(_, n)| *n).unwrap_or(0);
        contacts.insert(role.into(), Dynamic::from(n));
    }
    m.insert("contacts".into(), contacts.into());

    let mut contracts = Array::new();
    let mut longest_active = 0_i64;
    let mut active_value = 0.0;
    for c in &s.contracts {
        let (Some(start), Some(end)) = (parse_date(&c.start), parse_date(&c.end)) else {
            continue;
        };
        let months = time::months_between(start, end);
        let active = start <= today && today <= end;
        if active {
            longest_active = longest_active.max(months);
            active_value += c.annual_value;
        }
        let mut cm = Map::new();
        cm.insert("id".into(), c.id.clone().into());
        cm.insert("start".into(), c.start.clone().into());
        cm.insert("end".into(), c.end.clone().into());
        cm.insert("annual_value".into(), Dynamic::from(c.annual_value));
        cm.insert("months".into(), Dynamic::from(months));
        cm.insert("active".into(), active.into());
        cm.insert("days_to_end".into(), Dynamic::from((end - today).num_days()));
        contracts.push(cm.into());
    }
    m.insert("contracts".into(), contracts.into());
    m.insert("longest_active_contract_months".into(), Dynamic::from(longest_active));
    m.insert("active_contract_value".into(), Dynamic::from(active_value));

    let targets: Array = s
        .targets
        .iter()
        .map(|t| {
            let mut tm = Map::new();
            tm.insert("product".into(), t.product.clone().into());
            tm.insert("period".into(), t.period.clone().into());
            tm.insert("amount".into(), Dynamic::from(t.amount));
            tm.into()
        })
        .collect();
    m.insert("targets".into(), targets.into());
    seal(m)
}

pub fn deal(d: &Deal, s: &DealStats, pipeline: &Pipeline, requested: Option<&str>, at: DateTime<Utc>) -> Dynamic {
    let today = at.date_naive();
    let mut m = json_to_map(&d.data);
    m.insert("id".into(), d.id.clone().into());
    m.insert("account_id".into(), d.account_id.clone().into());
    for key in ["name", "product", "expected_close"] {
        m.insert(key.into(), text(&d.data, key));
    }
    m.insert("amount".into(), Dynamic::from(d.amount));
    m.insert("owner".into(), opt(&d.owner));
    m.insert("stage".into(), d.stage.clone().into());
    m.insert("stage_index".into(), Dynamic::from(pipeline.index(&d.stage).map(|i| i as i64).unwrap_or(-1)));
    m.insert("is_open".into(), (!pipeline.is_closed(&d.stage)).into());
    m.insert("is_won".into(), pipeline.is_won(&d.stage).into());
    m.insert("is_lost".into(), pipeline.is_lost(&d.stage).into());
    m.insert("stage_entered_at".into(), d.stage_entered_at.clone().into());
    m.insert("days_in_stage".into(), days_since(&d.stage_entered_at, today));
    m.insert("created_at".into(), d.created_at.clone().into());
    m.insert("closed_at".into(), opt(&d.closed_at));
    m.insert("requested_stage".into(), requested.map(|r| Dynamic::from(r.to_string())).unwrap_or(Dynamic::UNIT));
    // A closed deal asked back to an open stage: stage rules may refuse the reopen.
    let reopening = pipeline.is_closed(&d.stage) && requested.is_some_and(|r| !pipeline.is_closed(r));
    m.insert("reopening".into(), reopening.into());
    m.insert("life".into(), Dynamic::from(d.life));
    let mut activities = Map::new();
    for kind in ACTIVITY_KINDS {
        activities.insert(kind.into(), Dynamic::from(0_i64));
    }
    for (kind, n) in &s.activities {
        activities.insert(kind.as_str().into(), Dynamic::from(*n));
    }
    m.insert("activities".into(), activities.into());
    m.insert("decision_maker_met".into(), s.decision_maker_met.into());
    m.insert("last_activity".into(), opt(&s.last_activity));
    seal(m)
}

pub fn lead(l: &Lead) -> Dynamic {
    let mut m = json_to_map(&l.data);
    m.insert("id".into(), l.id.clone().into());
    for key in ["account_id", "company", "name", "source", "region", "product"] {
        m.insert(key.into(), text(&l.data, key));
    }
    m.insert("created_at".into(), l.created_at.clone().into());
    seal(m)
}

pub fn contact(data: &serde_json::Map<String, Value>) -> Dynamic {
    seal(json_to_map(data))
}

/// The event as rules see it: `id`, `type`, `at`, `date` (its day) and `data`.
pub fn event(id: &str, kind: &str, at: DateTime<Utc>, data: &serde_json::Map<String, Value>) -> Dynamic {
    let mut m = Map::new();
    m.insert("id".into(), id.into());
    m.insert("type".into(), kind.into());
    m.insert("at".into(), time::stamp(at).into());
    m.insert("date".into(), at.date_naive().to_string().into());
    m.insert("data".into(), json_to_map(data).into());
    seal(m)
}
