//! What the two CRMs' mappings share: the events they make, what they may
//! ask of the store (a deal's account, an account's name), and turning a
//! CRM's value into the value a dealflow field takes.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::error::Result;
use crate::event::{EventType, Kind, fields_of};
use crate::store::Store;

/// An event made from a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedEvent {
    /// Made from the delivery alone (never from the time it is read), so a
    /// delivery applied again is a duplicate.
    pub id: String,
    pub kind: EventType,
    /// Business time: when the CRM says the change happened.
    pub at: Option<DateTime<Utc>>,
    pub data: Map<String, Value>,
}

impl MappedEvent {
    /// The event as one JSON line, as `dealflow ingest` reads it.
    pub fn line(&self) -> String {
        let mut envelope = Map::new();
        envelope.insert("id".into(), Value::String(self.id.clone()));
        envelope.insert("type".into(), Value::String(self.kind.name().to_string()));
        if let Some(at) = self.at {
            envelope.insert("at".into(), Value::String(crate::time::stamp(at)));
        }
        envelope.insert("data".into(), Value::Object(self.data.clone()));
        Value::Object(envelope).to_string()
    }
}

/// What a delivery maps to: its events, and what of it could not be mapped
/// (with why). A delivery with problems is kept `unmappable`; the events it
/// did make are applied all the same.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapped {
    pub events: Vec<MappedEvent>,
    pub problems: Vec<String>,
    /// What was left out on purpose (an activity not done yet): kept beside an applied delivery.
    pub notes: Vec<String>,
}

impl Mapped {
    pub fn problem(&mut self, why: impl Into<String>) {
        self.problems.push(why.into());
    }
}

/// A contact as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownContact {
    pub account_id: String,
    pub name: Option<String>,
    pub role: String,
}

/// What a mapping may ask of what dealflow already holds (a HubSpot change
/// names one property, the event needs the deal's account or the account's name).
pub trait Known {
    fn deal_account(&self, id: &str) -> Result<Option<String>>;
    fn account_name(&self, id: &str) -> Result<Option<String>>;
    fn contact(&self, id: &str) -> Result<Option<KnownContact>>;
}

impl Known for Store {
    fn deal_account(&self, id: &str) -> Result<Option<String>> {
        Ok(self.deal(id)?.map(|d| d.account_id))
    }

    fn account_name(&self, id: &str) -> Result<Option<String>> {
        Ok(self.account(id)?.and_then(|a| a.data.get("name").and_then(text)))
    }

    fn contact(&self, id: &str) -> Result<Option<KnownContact>> {
        let Some(role) = self.contact_role(id)? else { return Ok(None) };
        let name = self.backend().contact(id)?.and_then(|d| d.get("name").and_then(text));
        Ok(Some(KnownContact { account_id: role.account_id, name, role: role.role }))
    }
}

/// A value as text: a non-empty string, or a number's text (CRMs number their ids).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        // Pipedrive v2 gives related objects and custom fields as `{ "value": ... }` or `{ "id": ... }`.
        Value::Object(o) => o.get("value").or_else(|| o.get("id")).and_then(text),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        Value::Object(o) => o.get("value").and_then(number),
        _ => None,
    }
}

/// A time the CRMs write: RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC), or
/// milliseconds (HubSpot) or seconds (Pipedrive) since 1970.
pub fn time(v: &Value) -> Option<DateTime<Utc>> {
    if let Some(n) = v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse::<i64>().ok())) {
        return if n > 100_000_000_000 {
            Utc.timestamp_millis_opt(n).single()
        } else {
            Utc.timestamp_opt(n, 0).single()
        };
    }
    let s = v.as_str()?.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc())
}

/// The CRM's value as the dealflow field `field` of `kind` takes it; `None`
/// when it is empty or not of that kind. Fields dealflow does not know are kept as they are.
pub fn field_value(kind: EventType, field: &str, v: &Value) -> Option<Value> {
    let of = fields_of(kind).iter().find(|(name, _, _)| *name == field).map(|(_, k, _)| *k);
    match of {
        Some(Kind::Number) => number(v).and_then(serde_json::Number::from_f64).map(Value::Number),
        Some(Kind::Integer) => number(v).filter(|n| n.fract() == 0.0 && n.abs() < 1e15).map(|n| Value::from(n as i64)),
        Some(Kind::Date) => time(v).map(|t| Value::String(t.date_naive().to_string())),
        Some(_) => text(v).map(Value::String),
        None => match v {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => None,
            Value::Object(o) if o.contains_key("value") => o.get("value").cloned(),
            other => Some(other.clone()),
        },
    }
}

/// A short stable hash of some parts, for ids and delivery keys.
pub fn hash(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The value at a dotted path (`custom_fields.9d1e5a`) in a JSON object.
pub fn at_path<'a>(data: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut v = data.get(parts.next()?)?;
    for p in parts {
        v = v.as_object()?.get(p)?;
    }
    Some(v)
}
