//! Events: the JSON envelope of CONTRACT.md and the fields each type needs.
//!
//! Validation is declarative: [`fields_of`] lists, per event type, each field
//! with its kind and whether it is required, so the table doubles as the
//! reference for what a line must hold. The JSON itself is read strictly and
//! within `[limits]` by [`crate::event_json`]; every time an event carries
//! falls in the years [`FIRST_YEAR`] to [`LAST_YEAR`].

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::event_json::LineLimits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum EventType {
    AccountUpserted,
    ContactUpserted,
    LeadCreated,
    DealUpserted,
    ActivityLogged,
    OrderPlaced,
    ContractSigned,
    TargetSet,
    TaskCompleted,
    ClockTick,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::AccountUpserted,
        EventType::ContactUpserted,
        EventType::LeadCreated,
        EventType::DealUpserted,
        EventType::ActivityLogged,
        EventType::OrderPlaced,
        EventType::ContractSigned,
        EventType::TargetSet,
        EventType::TaskCompleted,
        EventType::ClockTick,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventType::AccountUpserted => "account.upserted",
            EventType::ContactUpserted => "contact.upserted",
            EventType::LeadCreated => "lead.created",
            EventType::DealUpserted => "deal.upserted",
            EventType::ActivityLogged => "activity.logged",
            EventType::OrderPlaced => "order.placed",
            EventType::ContractSigned => "contract.signed",
            EventType::TargetSet => "target.set",
            EventType::TaskCompleted => "task.completed",
            EventType::ClockTick => "clock.tick",
        }
    }

    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// What a field must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A non-empty string; a number is accepted and kept as its text (ids often are numbers).
    Id,
    Text,
    /// A person: their name, or their id (`[[team]] id`) as text or as a
    /// whole number kept as its text.
    Person,
    Number,
    Integer,
    /// `YYYY-MM-DD` or an RFC 3339 time.
    Date,
    TextList,
    /// One of the decision roles of a contact.
    ContactRole,
    /// A target period: `2026`, `2026-H2`, `2026-Q4` or `2026-11`.
    Period,
    /// The number of a task as `dealflow tasks` shows it: see [`task_number`].
    TaskId,
}

pub const CONTACT_ROLES: [&str; 4] = ["buyer", "technical", "executive", "other"];

use Kind::*;

/// The fields of each event type: name, kind, required.
pub fn fields_of(t: EventType) -> &'static [(&'static str, Kind, bool)] {
    match t {
        EventType::AccountUpserted => &[
            ("id", Id, true),
            ("name", Text, true),
            ("sector", Text, false),
            ("employees", Integer, false),
            ("annual_revenue", Number, false),
            ("region", Text, false),
            ("parent_id", Id, false),
            ("owner", Person, false),
        ],
        EventType::ContactUpserted => {
            &[("id", Id, true), ("account_id", Id, true), ("name", Text, true), ("role", ContactRole, true)]
        }
        EventType::LeadCreated => &[
            ("id", Id, true),
            ("account_id", Id, false),
            ("company", Text, false),
            ("name", Text, false),
            ("source", Text, false),
            ("region", Text, false),
            ("product", Text, false),
            ("owner", Person, false),
        ],
        EventType::DealUpserted => &[
            ("id", Id, true),
            ("account_id", Id, true),
            ("name", Text, false),
            ("product", Text, false),
            ("amount", Number, false),
            ("owner", Person, false),
            ("stage", Text, false),
            ("expected_close", Date, false),
        ],
        EventType::ActivityLogged => &[
            ("id", Id, true),
            ("account_id", Id, true),
            ("deal_id", Id, false),
            ("contact_id", Id, false),
            ("kind", Text, true),
        ],
        EventType::OrderPlaced => {
            &[("id", Id, true), ("account_id", Id, true), ("amount", Number, true), ("product", Text, false)]
        }
        EventType::ContractSigned => &[
            ("id", Id, true),
            ("account_id", Id, true),
            ("start", Date, true),
            ("end", Date, true),
            ("annual_value", Number, true),
            ("products", TextList, false),
        ],
        EventType::TargetSet => {
            &[("account_id", Id, true), ("product", Text, true), ("period", Period, true), ("amount", Number, true)]
        }
        EventType::TaskCompleted => &[("task_id", TaskId, true), ("by", Person, false), ("outcome", Text, false)],
        EventType::ClockTick => &[],
    }
}

/// A valid event.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub kind: EventType,
    pub at: DateTime<Utc>,
    /// The line gave `at` (otherwise `at` is the time it was read).
    pub at_given: bool,
    /// The `data` object, ids normalised to strings, unknown fields kept.
    pub data: Map<String, Value>,
}

impl Event {
    pub fn str(&self, field: &str) -> Option<&str> {
        self.data.get(field).and_then(Value::as_str)
    }
    pub fn num(&self, field: &str) -> Option<f64> {
        self.data.get(field).and_then(Value::as_f64)
    }
    /// The envelope as one JSON line (what the store keeps for replay).
    pub fn to_json(&self) -> String {
        serde_json::json!({"id": self.id, "type": self.kind.name(), "at": self.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "data": self.data}).to_string()
    }
}

/// The first business time an event may carry: 1900-01-01T00:00:00Z.
pub const FIRST_YEAR: i32 = 1900;
/// The last year an event's times may fall in (to 8999-12-31T23:59:59Z).
///
/// The store writes times as text and orders them as text (due dates, the
/// task queue, ledgers), which is time order only for 4-digit years. What an
/// event starts is later than the event: a due date up to a century of
/// business days on, a notice window, the next period. A thousand years of
/// room keeps every derived time before 10000; 1900 keeps a year's look back
/// (`year_before`) well inside too, and leaves room for the placeholder dates
/// CRMs write (`1900-01-01`).
pub const LAST_YEAR: i32 = 8999;

fn year_in_range(year: i32) -> bool {
    (FIRST_YEAR..=LAST_YEAR).contains(&year)
}

/// Parse one line within the default limits. `now` stands in for `at` when
/// the event gives no time.
pub fn parse_line(line: &str, now: DateTime<Utc>) -> Result<Event, String> {
    parse_line_within(line, now, &LineLimits::default())
}

/// Parse one line, refusing one that nests deeper or holds more values than
/// `limits`, or gives a key twice.
pub fn parse_line_within(line: &str, now: DateTime<Utc>, limits: &LineLimits) -> Result<Event, String> {
    let value = crate::event_json::parse(line, limits)?;
    let Value::Object(mut envelope) = value else {
        return Err("an event must be a JSON object".into());
    };
    let id = match envelope.remove("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(Value::Number(n)) => number_id(&n).map_err(|why| format!("field \"id\" {why}"))?,
        Some(Value::String(_)) => return Err("field \"id\" is empty".into()),
        Some(other) => {
            return Err(format!("field \"id\" must be a string, got {}", describe(&other)));
        }
        None => return Err("missing field \"id\"".into()),
    };
    let type_name = match envelope.remove("type") {
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(format!("field \"type\" must be a string, got {}", describe(&other)));
        }
        None => return Err("missing field \"type\"".into()),
    };
    let kind = EventType::from_name(&type_name).ok_or_else(|| {
        let h = crate::error::hint(&type_name, EventType::ALL.iter().map(|t| t.name()));
        format!("unknown event type {}{h}", quote(&type_name))
    })?;
    let at_given = !matches!(envelope.get("at"), None | Some(Value::Null));
    let at = match envelope.remove("at") {
        None | Some(Value::Null) => now,
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(&s)
            .map_err(|e| format!("field \"at\" is not an RFC 3339 time ({}: {e})", quote(&s)))?
            .with_timezone(&Utc),
        Some(other) => {
            return Err(format!("field \"at\" must be an RFC 3339 string, got {}", describe(&other)));
        }
    };
    // In UTC: `8999-12-31T23:59:59-01:00` is year 9000.
    if !year_in_range(at.year()) {
        return Err(format!(
            "field \"at\" is out of range: {} is not between the years {FIRST_YEAR} and {LAST_YEAR} in UTC",
            stamp_of(at)
        ));
    }
    let mut data = match envelope.remove("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(format!("field \"data\" must be an object, got {}", describe(&other)));
        }
    };
    let prefix = kind.name();
    for &(name, field_kind, required) in fields_of(kind) {
        match data.get(name) {
            None | Some(Value::Null) => {
                data.remove(name);
                if required {
                    return Err(format!("{prefix}: missing field \"data.{name}\""));
                }
            }
            Some(v) => {
                let fixed = check(field_kind, v).map_err(|why| format!("{prefix}: field \"data.{name}\" {why}"))?;
                if let Some(fixed) = fixed {
                    data.insert(name.to_string(), fixed);
                }
            }
        }
    }
    Ok(Event { id, kind, at, at_given, data })
}

/// Checks a value; `Ok(Some(v))` replaces it with a normalised form.
fn check(kind: Kind, v: &Value) -> Result<Option<Value>, String> {
    match (kind, v) {
        (Id, Value::String(s)) if !s.trim().is_empty() => Ok(None),
        (Id, Value::Number(n)) => number_id(n).map(|id| Some(Value::String(id))),
        (Id, Value::String(_)) | (Text, Value::String(_)) if kind == Id => Err("is empty".into()),
        (Text | Person, Value::String(_)) => Ok(None),
        (Person, Value::Number(n)) => number_id(n).map(|id| Some(Value::String(id))),
        (Number, Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(None),
            _ => Err(format!("is out of range ({n})")),
        },
        (Integer, Value::Number(n)) => match n.as_i64() {
            Some(_) => Ok(None),
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(Some(Value::from(f as i64))),
                Some(f) if f.fract() == 0.0 => Err(format!("is out of range ({n})")),
                _ => Err(format!("must be a whole number, got {n}")),
            },
        },
        (Date, Value::String(s)) => match parse_date(s) {
            // Dates are compared as text in the store: `+10000-01-01` would sort before `2026-01-01`.
            Some(d) if year_in_range(d.year()) => Ok(None),
            Some(_) => {
                Err(format!("is out of range: {} is not between the years {FIRST_YEAR} and {LAST_YEAR}", quote(s)))
            }
            None => Err(format!("must be a date like 2026-11-02, got {}", quote(s))),
        },
        (TextList, Value::Array(items)) if items.iter().all(Value::is_string) => Ok(None),
        (TextList, _) => Err(format!("must be a list of strings, got {}", describe(v))),
        (Period, Value::String(s)) => match crate::time::period_range(s) {
            Some((start, end)) if year_in_range(start.year()) && year_in_range(end.year()) => Ok(None),
            Some(_) => {
                Err(format!("is out of range: {} is not between the years {FIRST_YEAR} and {LAST_YEAR}", quote(s)))
            }
            None => Err(format!("must be a period like 2026, 2026-H2, 2026-Q4 or 2026-11, got {}", quote(s))),
        },
        (TaskId, Value::Number(n)) => match n.as_u64().and_then(|id| task_number(&id.to_string())) {
            Some(id) => Ok(Some(Value::String(id.to_string()))),
            None => Err(format!("is not a task number: {n} (tasks are numbered from 1)")),
        },
        (TaskId, Value::String(s)) => match task_number(s) {
            Some(_) => Ok(None),
            None => Err(format!("is not a task number: {} (write it as 4, \"4\" or \"T-4\")", quote(s))),
        },
        (ContactRole, Value::String(s)) if CONTACT_ROLES.contains(&s.as_str()) => Ok(None),
        (ContactRole, Value::String(s)) => Err(format!(
            "must be one of {}, got {}{}",
            CONTACT_ROLES.join(", "),
            quote(s),
            crate::error::hint(s, CONTACT_ROLES)
        )),
        (want, got) => Err(format!("must be {}, got {}", want_name(want), describe(got))),
    }
}

/// The text of an id given as a number. Only whole numbers that JSON parsing
/// keeps exactly qualify: `18446744073709551616` and `18446744073709551617`
/// both read as the same float, and two events must never share an id by
/// rounding (the second would be skipped as a duplicate).
fn number_id(n: &serde_json::Number) -> Result<String, String> {
    if n.is_u64() || n.is_i64() {
        Ok(n.to_string())
    } else {
        Err(format!("must be a string or a whole number from -2^63 to 2^64-1, got number {n}"))
    }
}

fn want_name(kind: Kind) -> &'static str {
    match kind {
        Id => "a non-empty string",
        TaskId => "a task number",
        Text | ContactRole | Period => "a string",
        Person => "a name or an id (a string or a whole number)",
        Number => "a number",
        Integer => "a whole number",
        Date => "a date string",
        TextList => "a list of strings",
    }
}

/// How many characters of a refused value a reason quotes.
const QUOTED_CHARS: usize = 40;

/// A refused string as a reason quotes it: its first characters, escaped like
/// Rust's `{:?}` (control and bidi characters never reach a terminal raw), and
/// `...` when it was cut. A reason never repeats a 10 MB value.
fn quote(s: &str) -> String {
    let short: String = s.chars().take(QUOTED_CHARS).collect();
    let ellipsis = if short.len() < s.len() { "..." } else { "" };
    format!("{short:?}{ellipsis}")
}

/// The kind of a refused value and its first characters as JSON, with what
/// JSON leaves raw (DEL, C1 controls, bidi overrides) escaped.
fn describe(v: &Value) -> String {
    let text = v.to_string();
    let short: String = text
        .chars()
        .take(QUOTED_CHARS)
        .map(|c| match c {
            '"' | '\\' | '\'' => c.to_string(),
            c if c.escape_debug().len() > 1 => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect();
    let ellipsis = if text.chars().nth(QUOTED_CHARS).is_some() { "..." } else { "" };
    let kind = match v {
        Value::Null => return "null".into(),
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    format!("{kind} {short}{ellipsis}")
}

fn stamp_of(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The task a `task_id` names: its number, as `dealflow tasks` shows it
/// (`4`), or with the prefix `T-`, `T` or `#` (`T-4`, `t4`, `#4`). Nothing
/// else: no sign, no space, no second prefix, so `-4`, `--4` and `t#4` are
/// no task (they used to close task 4). Tasks are numbered from 1.
pub fn task_number(raw: &str) -> Option<i64> {
    let digits = ["T-", "t-", "T", "t", "#"].iter().find_map(|p| raw.strip_prefix(p)).unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok().filter(|&n| n >= 1)
}

/// Parse a date field: `YYYY-MM-DD` or RFC 3339.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|d| d.with_timezone(&Utc).date_naive()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn parses_the_contract_example() {
        let e = parse_line(
            r#"{"id": "evt-1042", "type": "deal.upserted", "at": "2026-11-02T09:30:00Z", "data": {"id": "D-77", "account_id": "A-3", "amount": 48000, "product": "GTX Pro", "owner": "Moses Frase", "color": "red"}}"#,
            now(),
        )
        .unwrap();
        assert_eq!(e.kind, EventType::DealUpserted);
        assert_eq!(e.str("account_id"), Some("A-3"));
        assert_eq!(e.str("color"), Some("red"), "unknown fields are kept");
        assert_eq!(e.at.to_rfc3339(), "2026-11-02T09:30:00+00:00");
    }

    #[test]
    fn rejects_with_reasons() {
        let cases = [
            ("{", "not valid JSON"),
            (r#"[1]"#, "must be a JSON object"),
            (r#"{"type": "clock.tick"}"#, "missing field \"id\""),
            (r#"{"id": "1", "type": "deal.exploded"}"#, "unknown event type"),
            (r#"{"id": "1", "type": "deal.upsertd"}"#, "did you mean \"deal.upserted\""),
            (
                r#"{"id": "1", "type": "order.placed", "data": {"id": "O", "account_id": "A"}}"#,
                "missing field \"data.amount\"",
            ),
            (
                r#"{"id": "1", "type": "order.placed", "data": {"id": "O", "account_id": "A", "amount": "48k"}}"#,
                "must be a number, got string \"48k\"",
            ),
            (r#"{"id": "1", "type": "clock.tick", "at": "yesterday"}"#, "not an RFC 3339 time"),
            (
                r#"{"id": "1", "type": "contact.upserted", "data": {"id": "C", "account_id": "A", "name": "N", "role": "boss"}}"#,
                "must be one of buyer",
            ),
            (
                r#"{"id": "1", "type": "order.placed", "data": {"id": "O", "account_id": "A", "amount": 1e300}}"#,
                "out of range",
            ),
        ];
        for (line, want) in cases {
            let err = parse_line(line, now()).unwrap_err();
            assert!(err.contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn reasons_quote_a_short_escaped_prefix_of_what_they_refuse() {
        let huge = "x".repeat(10 << 20);
        for line in [
            format!(r#"{{"id": "1", "type": "{huge}"}}"#),
            format!(r#"{{"id": "1", "type": "clock.tick", "at": "{huge}"}}"#),
            format!(
                r#"{{"id": "1", "type": "contact.upserted", "data": {{"id": "C", "account_id": "A", "name": "N", "role": "{huge}"}}}}"#
            ),
            format!(
                r#"{{"id": "1", "type": "deal.upserted", "data": {{"id": "D", "account_id": "A", "expected_close": "{huge}"}}}}"#
            ),
            format!(
                r#"{{"id": "1", "type": "order.placed", "data": {{"id": "O", "account_id": "A", "amount": "{huge}"}}}}"#
            ),
        ] {
            let err = parse_line(&line, now()).unwrap_err();
            assert!(err.len() < 300 && err.contains(r#""xxxxxxxxxx"#) && err.contains("..."), "{err}");
        }
        let err = parse_line(r#"{"id": "1", "type": "deal.\u202e\u001b[2J"}"#, now()).unwrap_err();
        assert_eq!(err, r#"unknown event type "deal.\u{202e}\u{1b}[2J""#);
        let err = parse_line("{\"id\": [\"\u{202e}\u{9b}\"], \"type\": \"clock.tick\"}", now()).unwrap_err();
        assert_eq!(err, r#"field "id" must be a string, got array ["\u{202e}\u{9b}"]"#);
    }

    #[test]
    fn numeric_ids_must_be_exact_whole_numbers() {
        let tick = |id: &str| parse_line(&format!(r#"{{"id": {id}, "type": "clock.tick"}}"#), now());
        assert_eq!(tick("18446744073709551615").unwrap().id, "18446744073709551615");
        assert_eq!(tick("-9223372036854775808").unwrap().id, "-9223372036854775808");
        for id in ["18446744073709551616", "18446744073709551617", "1.5", "-0", "1e3"] {
            let err = tick(id).unwrap_err();
            assert!(err.starts_with("field \"id\" must be a string or a whole number"), "{id}: {err}");
        }
        let line = r#"{"id": "1", "type": "deal.upserted", "data": {"id": 1e20, "account_id": "A"}}"#;
        assert!(parse_line(line, now()).unwrap_err().starts_with("deal.upserted: field \"data.id\" must be a string"));
    }

    #[test]
    fn times_and_dates_stay_within_years_1900_to_8999_so_what_they_start_keeps_four_digit_years() {
        let tick = |at: &str| parse_line(&format!(r#"{{"id": "a", "type": "clock.tick", "at": "{at}"}}"#), now());
        for at in [
            "9999-12-31T00:00:00Z",
            "9000-01-01T00:00:00Z",
            "8999-12-31T23:59:59-00:01",
            "1899-12-31T23:59:59Z",
            "1900-01-01T00:00:00+00:01",
            "0000-01-01T00:00:00Z",
        ] {
            let err = tick(at).unwrap_err();
            assert!(err.starts_with("field \"at\" is out of range: "), "{at}: {err}");
            assert!(err.ends_with("is not between the years 1900 and 8999 in UTC"), "{at}: {err}");
        }
        for at in ["8999-12-31T23:59:59Z", "1900-01-01T00:00:00Z", "8999-12-31T23:59:59+23:59", "2026-11-02T09:30:00Z"]
        {
            let e = tick(at).unwrap();
            assert_eq!(parse_line(&e.to_json(), now()).unwrap().at, e.at, "{at}");
        }
        let deal = |date: &str| {
            let line = format!(
                r#"{{"id": "a", "type": "deal.upserted", "data": {{"id": "D", "account_id": "A", "expected_close": "{date}"}}}}"#
            );
            parse_line(&line, now())
        };
        for date in
            ["+10000-01-01", "-0001-12-31", "9999-12-31", "9000-01-01", "1899-12-31", "8999-12-31T23:59:59-01:00"]
        {
            let err = deal(date).unwrap_err();
            assert!(
                err.contains("is out of range") && err.contains("between the years 1900 and 8999"),
                "{date}: {err}"
            );
        }
        assert!(deal("1900-01-01").is_ok() && deal("8999-12-31").is_ok());
        let contract = |start: &str, end: &str| {
            let line = format!(
                r#"{{"id": "a", "type": "contract.signed", "data": {{"id": "K", "account_id": "A", "start": "{start}", "end": "{end}", "annual_value": 1}}}}"#
            );
            parse_line(&line, now())
        };
        assert!(contract("2026-01-01", "9999-12-31").unwrap_err().contains("\"data.end\" is out of range"));
        assert!(contract("0001-01-01", "2026-12-31").unwrap_err().contains("\"data.start\" is out of range"));
    }

    #[test]
    fn a_target_period_is_one_the_clock_can_follow() {
        let target = |period: &str| {
            let line = format!(
                r#"{{"id": "a", "type": "target.set", "data": {{"account_id": "A", "product": "P", "period": "{period}", "amount": 1}}}}"#
            );
            parse_line(&line, now())
        };
        for period in ["2026", "2026-H2", "2026-Q4", "2026-11", "1900-01", "8999-q4"] {
            assert!(target(period).is_ok(), "{period}");
        }
        for period in ["99999-Q9", "2026-Q5", "2026-13", "Q4 2026", "", "-1"] {
            assert!(target(period).unwrap_err().contains("must be a period like 2026, 2026-H2"), "{period}");
        }
        for period in ["9999-Q4", "10000", "1899-12", "0000-01"] {
            assert!(target(period).unwrap_err().contains("is out of range"), "{period}");
        }
    }

    #[test]
    fn a_task_id_is_a_task_number_and_nothing_else() {
        let done = |id: &str| {
            parse_line(&format!(r#"{{"id": "a", "type": "task.completed", "data": {{"task_id": {id}}}}}"#), now())
        };
        for (id, number) in [("4", "4"), (r#""4""#, "4"), (r#""T-4""#, "T-4"), (r#""t4""#, "t4"), (r##""#4""##, "#4")] {
            assert_eq!(done(id).unwrap().str("task_id"), Some(number), "{id}");
        }
        for id in [
            "-4",
            "0",
            "4.5",
            r#""-4""#,
            r#""--4""#,
            r##""t#4""##,
            r#""T--4""#,
            r#""+4""#,
            r#"" 4""#,
            r#""4 ""#,
            r#""0""#,
            r#""T-""#,
            r#""99999999999999999999""#,
            "true",
        ] {
            let err = done(id).unwrap_err();
            assert!(err.starts_with("task.completed: field \"data.task_id\" "), "{id}: {err}");
            assert!(err.contains("task number"), "{id}: {err}");
        }
        assert_eq!(task_number("T-4"), Some(4));
        assert_eq!(task_number("--4"), None);
    }

    #[test]
    fn a_key_given_twice_is_a_rejected_line_naming_the_key() {
        let err = parse_line(r#"{"id": "a", "type": "clock.tick", "id": "b", "at": "2026-11-02T09:00:00Z"}"#, now())
            .unwrap_err();
        assert!(err.starts_with(r#"key "id" appears twice"#), "{err}");
        let err = parse_line(
            r#"{"id": "a", "type": "account.upserted", "data": {"id": "A", "name": "N", "id": "B"}}"#,
            now(),
        )
        .unwrap_err();
        assert!(err.starts_with(r#"key "data.id" appears twice"#), "{err}");
    }

    #[test]
    fn whole_numbers_beyond_range_say_so() {
        for n in ["18446744073709551615", "18446744073709551616", "1e20"] {
            let line = format!(
                r#"{{"id": "1", "type": "account.upserted", "data": {{"id": "A", "name": "N", "employees": {n}}}}}"#
            );
            let err = parse_line(&line, now()).unwrap_err();
            assert!(err.contains("\"data.employees\" is out of range"), "{err}");
        }
        let line = r#"{"id": "1", "type": "account.upserted", "data": {"id": "A", "name": "N", "employees": -0}}"#;
        assert_eq!(parse_line(line, now()).unwrap().data["employees"], 0);
    }

    #[test]
    fn numeric_ids_become_strings_and_missing_time_is_now() {
        let e =
            parse_line(r#"{"id": 7, "type": "account.upserted", "data": {"id": 3, "name": "Acme"}}"#, now()).unwrap();
        assert_eq!(e.id, "7");
        assert_eq!(e.str("id"), Some("3"));
        assert_eq!(e.at, now());
    }
}
