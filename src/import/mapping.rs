//! `dealflow import csv FILE --mapping MAP.toml`: any CSV export, turned
//! into events by a mapping file that says, for each row, which events to
//! make and where their fields come from.
//!
//! ```toml
//! [csv]
//! delimiter = ","              # optional; one character (";" for many European exports)
//! date_format = "%m/%d/%Y"     # optional; how the file writes dates besides 2026-11-30
//!
//! [[event]]                    # one [[event]] per event to make from each row
//! type = "deal.upserted"
//! id = "sf-{Opportunity ID}-{Last Modified Date}"   # {Column} is the row's value
//! at = "{Last Modified Date}"                       # business time: a date or a date and time
//! when = { column = "Stage", not_in = ["Duplicate"] } # optional: only rows that pass
//! [event.data]
//! id = "Opportunity ID"                             # a column
//! amount = { column = "Amount", as = "number" }     # as = "text" (default), "number", "integer", "date"
//! stage = { column = "Stage", map = { "Closed Won" = "won" } }  # values renamed; others kept
//! name = { template = "{Account Name}: {Product}" }
//! source = { value = "salesforce" }                 # the same for every row
//! ```
//!
//! A field is left out when its cell is empty, unless it has a `default`. A
//! field the event type requires (`id`, `account_id` of a deal, ...) or one
//! marked `required = true` must have a value: a row without it makes no
//! event and is reported with its row number, as is a value that is not a
//! number or date where one is asked for. `{@hash}` in an `id` is a short
//! hash of the event's type and data, for exports with no "last modified"
//! column: a changed row gets a new id, an unchanged one the same.

use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;

use super::sheet::Csv;
use super::{Origin, Plan, Planned, content_id};
use crate::error::{Error, Located, Result, hint, line_col};
use crate::event::{EventType, fields_of};

pub const FORMAT: &str = "csv";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    #[serde(default)]
    csv: RawCsv,
    #[serde(default)]
    event: Vec<RawEvent>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCsv {
    delimiter: Option<Spanned<String>>,
    date_format: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    id: Spanned<String>,
    at: Option<Spanned<String>>,
    when: Option<Spanned<RawWhen>>,
    #[serde(default)]
    data: toml::map::Map<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    column: String,
    #[serde(rename = "in")]
    is_in: Option<Vec<String>>,
    not_in: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    column: Option<String>,
    template: Option<String>,
    value: Option<toml::Value>,
    #[serde(rename = "as", default)]
    as_: As,
    #[serde(default)]
    map: toml::map::Map<String, toml::Value>,
    default: Option<toml::Value>,
    #[serde(default)]
    required: bool,
}

/// What a cell is turned into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum As {
    #[default]
    Text,
    Number,
    Integer,
    /// `YYYY-MM-DD`.
    Date,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Column(usize),
    Hash,
}

#[derive(Debug, Clone)]
struct Template(Vec<Part>);

#[derive(Debug)]
enum Source {
    Column(usize),
    Template(Template),
    Value(Value),
}

#[derive(Debug)]
struct Field {
    name: String,
    source: Source,
    as_: As,
    map: Vec<(String, Value)>,
    default: Option<Value>,
    required: bool,
}

#[derive(Debug)]
struct When {
    column: usize,
    is_in: Option<Vec<String>>,
    not_in: Option<Vec<String>>,
}

#[derive(Debug)]
struct EventTemplate {
    kind: EventType,
    id: Template,
    at: Option<Template>,
    when: Option<When>,
    fields: Vec<Field>,
}

/// A mapping checked against the header of the file it reads.
#[derive(Debug)]
pub struct Mapping {
    headers: Vec<String>,
    date_format: Option<String>,
    events: Vec<EventTemplate>,
}

/// Read `file` with the mapping at `mapping` into a plan. A mapping that
/// does not fit the file (a column it names is missing, an unknown event
/// type) stops before anything, with each problem located in the mapping.
pub fn plan(file: &Path, mapping: &Path) -> Result<Plan> {
    let text = std::fs::read_to_string(mapping).map_err(|source| Error::Read { path: mapping.into(), source })?;
    let name = mapping.display().to_string();
    let raw = parse(&name, &text)?;
    let delimiter = delimiter(&raw, &name, &text)?;
    let csv = Csv::read(file, &file.display().to_string(), delimiter)?;
    let compiled = compile(&raw, &csv.headers, &name, &text, &csv.file)?;
    let mut plan = Plan::new(FORMAT);
    compiled.rows(&csv, &mut plan);
    plan.sort();
    plan.drop_repeats();
    Ok(plan)
}

fn located(file: &str, text: &str, span: std::ops::Range<usize>, message: String) -> Located {
    let (line, col) = line_col(text, span.start);
    Located::new(file, line, col, message)
}

fn parse(name: &str, text: &str) -> Result<RawMapping> {
    toml::from_str(text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        Error::invalid(vec![Located::new(name, line, col, e.message().trim().to_string())])
    })
}

fn delimiter(raw: &RawMapping, name: &str, text: &str) -> Result<u8> {
    match &raw.csv.delimiter {
        None => Ok(b','),
        Some(d) => match d.get_ref().as_bytes() {
            [b] => Ok(*b),
            _ if d.get_ref() == "\\t" => Ok(b'\t'),
            _ => Err(Error::invalid(vec![located(
                name,
                text,
                d.span(),
                format!("csv.delimiter: one character like \",\" or \";\", got {:?}", d.get_ref()),
            )])),
        },
    }
}

fn compile(raw: &RawMapping, headers: &[String], name: &str, text: &str, csv_file: &str) -> Result<Mapping> {
    let mut problems = Vec::new();
    let mut at = |span: std::ops::Range<usize>, message: String| problems.push(located(name, text, span, message));
    if raw.event.is_empty() {
        at(0..0, "no [[event]]: add one per event to make from each row (see examples/import/)".into());
    }
    let column = |c: &str| -> std::result::Result<usize, String> {
        let c = c.trim();
        headers.iter().position(|h| h == c).ok_or_else(|| {
            let h = hint(c, headers.iter().map(String::as_str));
            format!("column {c:?} is not in the header of {csv_file}{h}")
        })
    };
    let template = |t: &str, hash_ok: bool| -> std::result::Result<Template, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = t.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let mut col = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => col.push(c),
                            None => return Err(format!("{{{col} is not closed with }} (write {{{{ for a brace)")),
                        }
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut lit)));
                    }
                    if col == "@hash" {
                        if !hash_ok {
                            return Err("{@hash} can only be used in an event's id".into());
                        }
                        parts.push(Part::Hash);
                    } else {
                        parts.push(Part::Column(column(&col)?));
                    }
                }
                '}' => return Err("a } without its { (write }} for a brace)".into()),
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        Ok(Template(parts))
    };
    let mut events = Vec::new();
    for (i, e) in raw.event.iter().enumerate() {
        let n = i + 1;
        let kind = EventType::from_name(e.kind.get_ref());
        if kind.is_none() {
            let h = hint(e.kind.get_ref(), EventType::ALL.iter().map(|t| t.name()));
            at(e.kind.span(), format!("event {n}: unknown event type {:?}{h}", e.kind.get_ref()));
        }
        let id = template(e.id.get_ref(), true).map_err(|m| at(e.id.span(), format!("event {n}: id: {m}"))).ok();
        if let Some(t) = &id
            && !t.0.iter().any(|p| matches!(p, Part::Column(_) | Part::Hash))
        {
            at(e.id.span(), format!("event {n}: id: name a column, like \"sf-{{Id}}\", so each row gets its own id"));
        }
        let at_t = match &e.at {
            None => None,
            Some(a) => template(a.get_ref(), false).map_err(|m| at(a.span(), format!("event {n}: at: {m}"))).ok(),
        };
        let when = match &e.when {
            None => None,
            Some(w) => match column(&w.get_ref().column) {
                Ok(c) => Some(When { column: c, is_in: w.get_ref().is_in.clone(), not_in: w.get_ref().not_in.clone() }),
                Err(m) => {
                    at(w.span(), format!("event {n}: when: {m}"));
                    None
                }
            },
        };
        let mut fields = Vec::new();
        for (field, spec) in &e.data {
            match compile_field(field, spec, &column, &template) {
                Ok(f) => fields.push(f),
                Err(m) => at(field_span(text, e, field), format!("event {n}: data.{field}: {m}")),
            }
        }
        if let Some(kind) = kind {
            for &(f, _, required) in fields_of(kind) {
                if required && !e.data.contains_key(f) {
                    at(
                        e.kind.span(),
                        format!("event {n}: {} needs data.{f}: say which column it comes from", kind.name()),
                    );
                }
            }
            for f in &mut fields {
                f.required |= fields_of(kind).iter().any(|&(name, _, req)| req && name == f.name);
            }
        }
        if let (Some(kind), Some(id)) = (kind, id) {
            events.push(EventTemplate { kind, id, at: at_t, when, fields });
        }
    }
    if !problems.is_empty() {
        return Err(Error::invalid(problems));
    }
    let date_format = raw.csv.date_format.as_ref().map(|d| d.get_ref().clone());
    Ok(Mapping { headers: headers.to_vec(), date_format, events })
}

/// Where `data.FIELD` of an event is written: the line that starts with
/// the field's name after the event's `type`, else the `type` itself.
fn field_span(text: &str, e: &RawEvent, field: &str) -> std::ops::Range<usize> {
    let from = e.kind.span().start;
    let mut offset = from;
    for line in text[from..].split_inclusive('\n') {
        let t = line.trim_start();
        let key = t.split(['=', ' ']).next().unwrap_or_default().trim_matches('"');
        if key == field && t.contains('=') {
            let start = offset + (line.len() - t.len());
            return start..start;
        }
        offset += line.len();
    }
    e.kind.span()
}

type ColumnOf<'a> = dyn Fn(&str) -> std::result::Result<usize, String> + 'a;
type TemplateOf<'a> = dyn Fn(&str, bool) -> std::result::Result<Template, String> + 'a;

fn compile_field(
    name: &str,
    spec: &toml::Value,
    column: &ColumnOf<'_>,
    template: &TemplateOf<'_>,
) -> std::result::Result<Field, String> {
    let raw: RawField = match spec {
        toml::Value::String(c) => RawField {
            column: Some(c.clone()),
            template: None,
            value: None,
            as_: As::Text,
            map: Default::default(),
            default: None,
            required: false,
        },
        toml::Value::Table(_) => {
            spec.clone().try_into().map_err(|e: toml::de::Error| e.message().trim().to_string())?
        }
        other => {
            return Err(format!(
                "give a column name (\"Amount\") or a table ({{ column = \"Amount\", as = \"number\" }}), got {}",
                other.type_str()
            ));
        }
    };
    let source = match (&raw.column, &raw.template, &raw.value) {
        (Some(c), None, None) => Source::Column(column(c)?),
        (None, Some(t), None) => Source::Template(template(t, false)?),
        (None, None, Some(v)) => Source::Value(json_of(v)),
        _ => return Err("say where the value comes from with exactly one of column, template or value".into()),
    };
    Ok(Field {
        name: name.to_string(),
        source,
        as_: raw.as_,
        map: raw.map.iter().map(|(k, v)| (k.clone(), json_of(v))).collect(),
        default: raw.default.as_ref().map(json_of),
        required: raw.required,
    })
}

fn json_of(v: &toml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl Mapping {
    fn rows(&self, csv: &Csv, plan: &mut Plan) {
        plan.file(&csv.file);
        for (row, why) in &csv.unreadable {
            plan.reject(&csv.file, *row, why.clone());
        }
        for (row, r) in &csv.rows {
            let cells: Vec<&str> = (0..self.headers.len()).map(|i| r.get(i).unwrap_or("").trim()).collect();
            let mut made = Vec::new();
            let mut problems = Vec::new();
            for (i, e) in self.events.iter().enumerate() {
                if !e.when.as_ref().is_none_or(|w| w.passes(&cells)) {
                    continue;
                }
                match self.event(e, &cells) {
                    Ok((id, at, data)) => made.push(Planned {
                        id,
                        kind: e.kind.name().to_string(),
                        at,
                        data,
                        origin: Origin { file: csv.file.clone(), row: *row },
                    }),
                    Err(why) => {
                        let label = if self.events.len() > 1 {
                            format!("event {} ({}): ", i + 1, e.kind.name())
                        } else {
                            String::new()
                        };
                        problems.push(format!("{label}{}", why.join("; ")));
                    }
                }
            }
            if !problems.is_empty() {
                plan.reject(&csv.file, *row, problems.join("; "));
            } else if made.is_empty() {
                plan.count(&csv.file, "skipped by when");
            } else {
                plan.count(&csv.file, "imported");
                plan.events.extend(made);
            }
        }
    }

    /// One event of a row: its id, time and data, or every problem with it.
    #[allow(clippy::type_complexity)]
    fn event(
        &self,
        e: &EventTemplate,
        cells: &[&str],
    ) -> std::result::Result<(String, Option<DateTime<Utc>>, Map<String, Value>), Vec<String>> {
        let mut problems = Vec::new();
        let mut data = Map::new();
        for f in &e.fields {
            match self.field(f, cells) {
                Ok(Some(v)) => {
                    data.insert(f.name.clone(), v);
                }
                Ok(None) if f.required => problems.push(match &f.source {
                    Source::Column(c) => format!("column {:?} is empty (data.{} needs it)", self.headers[*c], f.name),
                    _ => format!("data.{} is empty", f.name),
                }),
                Ok(None) => {}
                Err(m) => problems.push(m),
            }
        }
        let at = match &e.at {
            None => None,
            Some(t) => match self.filled(t, cells, "at") {
                Err(m) => {
                    problems.push(m);
                    None
                }
                Ok(s) => match self.time(&s) {
                    Some(at) => Some(at),
                    None => {
                        let f = self.date_format.as_deref().map(|f| format!(" or {f}")).unwrap_or_default();
                        problems.push(format!("at {s:?} is not a time (2026-11-30, 2026-11-30T09:30:00Z{f})"));
                        None
                    }
                },
            },
        };
        let id = match self.filled(&e.id, cells, "id") {
            Ok(s) if e.id.0.contains(&Part::Hash) => {
                let hash = content_id("", e.kind.name(), &data);
                s.replace('\u{0}', hash.trim_start_matches('@'))
            }
            Ok(s) => s,
            Err(m) => {
                problems.push(m);
                String::new()
            }
        };
        if problems.is_empty() { Ok((id, at, data)) } else { Err(problems) }
    }

    /// A template with every column it names filled; `{@hash}` is left as a NUL to replace.
    fn filled(&self, t: &Template, cells: &[&str], what: &str) -> std::result::Result<String, String> {
        let mut out = String::new();
        for p in &t.0 {
            match p {
                Part::Text(s) => out.push_str(s),
                Part::Hash => out.push('\u{0}'),
                Part::Column(c) if cells[*c].is_empty() => {
                    return Err(format!("column {:?} is empty ({what} needs it)", self.headers[*c]));
                }
                Part::Column(c) => out.push_str(cells[*c]),
            }
        }
        Ok(out)
    }

    fn field(&self, f: &Field, cells: &[&str]) -> std::result::Result<Option<Value>, String> {
        let text = match &f.source {
            Source::Value(v) => return Ok(Some(v.clone())),
            Source::Column(c) => cells[*c].to_string(),
            Source::Template(t) => {
                let mut s = String::new();
                for p in &t.0 {
                    match p {
                        Part::Text(x) => s.push_str(x),
                        Part::Column(c) => s.push_str(cells[*c]),
                        Part::Hash => {}
                    }
                }
                s.trim().to_string()
            }
        };
        if text.is_empty() {
            return Ok(f.default.clone());
        }
        let mapped = f
            .map
            .iter()
            .find(|(k, _)| *k == text)
            .or_else(|| f.map.iter().find(|(k, _)| k.eq_ignore_ascii_case(&text)));
        let text = match mapped {
            Some((_, Value::String(s))) => s.clone(),
            Some((_, other)) => return Ok(Some(other.clone())),
            None => text,
        };
        let from = match &f.source {
            Source::Column(c) => format!("column {:?}", self.headers[*c]),
            _ => format!("data.{}", f.name),
        };
        match f.as_ {
            As::Text => Ok(Some(Value::String(text))),
            As::Number => number(&text)
                .map(|n| Some(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)))
                .ok_or_else(|| format!("{from}: {text:?} is not a number (data.{})", f.name)),
            As::Integer => number(&text)
                .filter(|n| n.fract() == 0.0 && n.abs() < 1e15)
                .map(|n| Some(Value::from(n as i64)))
                .ok_or_else(|| format!("{from}: {text:?} is not a whole number (data.{})", f.name)),
            As::Date => self
                .time(&text)
                .map(|t| Some(Value::String(t.date_naive().to_string())))
                .ok_or_else(|| format!("{from}: {text:?} is not a date (data.{})", f.name)),
        }
    }

    /// A time as exports write it: RFC 3339, a date and time without a zone
    /// (taken as UTC), a date (midnight UTC), or the mapping's `date_format`.
    fn time(&self, s: &str) -> Option<DateTime<Utc>> {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(t.with_timezone(&Utc));
        }
        for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
                return Some(t.and_utc());
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        }
        let f = self.date_format.as_deref()?;
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
        NaiveDate::parse_from_str(s, f).ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc())
    }
}

impl When {
    fn passes(&self, cells: &[&str]) -> bool {
        let v = cells[self.column];
        let among = |list: &[String]| list.iter().any(|x| x.trim().eq_ignore_ascii_case(v));
        match (&self.is_in, &self.not_in) {
            (None, None) => !v.is_empty(),
            (is_in, not_in) => is_in.as_deref().is_none_or(among) && !not_in.as_deref().is_some_and(among),
        }
    }
}

/// A number as exports write it: `48000`, `48,000.00`, `$48,000`, `-3.5`.
fn number(s: &str) -> Option<f64> {
    let cleaned: String = s.chars().filter(|c| !matches!(c, ',' | ' ' | '$' | '€' | '£' | '\u{a0}')).collect();
    cleaned.parse::<f64>().ok().filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "Id,Account,Stage,Amount,Close,Owner\n\
        O-1,A-1,Closed Won,\"48,000.00\",11/30/2026,Ana Ruiz\n\
        O-2,A-1,Prospecting,,12/15/2026,\n\
        O-3,,Negotiation,12k,12/20/2026,Ben Okafor\n\
        O-4,A-2,Duplicate,1,12/20/2026,Ben Okafor\n";

    const MAP: &str = r#"
[csv]
date_format = "%m/%d/%Y"

[[event]]
type = "account.upserted"
id = "acc-{Account}"
at = "{Close}"
[event.data]
id = "Account"
name = { template = "Account {Account}" }

[[event]]
type = "deal.upserted"
id = "opp-{Id}@{@hash}"
at = "{Close}"
when = { column = "Stage", not_in = ["duplicate"] }
[event.data]
id = "Id"
account_id = "Account"
amount = { column = "Amount", as = "number" }
stage = { column = "Stage", map = { "Closed Won" = "won", "Prospecting" = "lead" } }
owner = { column = "Owner", default = "nobody" }
expected_close = { column = "Close", as = "date" }
source = { value = "salesforce" }
"#;

    fn run(csv: &str, map: &str) -> Result<Plan> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.csv"), csv).unwrap();
        std::fs::write(dir.path().join("m.toml"), map).unwrap();
        plan(&dir.path().join("x.csv"), &dir.path().join("m.toml"))
    }

    #[test]
    fn a_mapping_makes_events_from_rows() {
        let plan = run(CSV, MAP).unwrap();
        let made: Vec<(&str, &str)> =
            plan.events.iter().map(|e| (e.kind.as_str(), e.data["id"].as_str().unwrap())).collect();
        // A-1's account event is the same on rows 2 and 3: made once. Row 5 is
        // skipped for its deal but still makes its account.
        assert_eq!(
            made,
            [
                ("account.upserted", "A-1"),
                ("deal.upserted", "O-1"),
                ("deal.upserted", "O-2"),
                ("account.upserted", "A-2")
            ]
        );
        assert_eq!(plan.repeated_events, 1);
        let won = &plan.events[1];
        assert_eq!(super::super::stamp(won.at.unwrap()), "2026-11-30T00:00:00Z");
        assert_eq!(won.data["amount"], 48000.0);
        assert_eq!(won.data["stage"], "won");
        assert_eq!(won.data["expected_close"], "2026-11-30");
        assert_eq!(won.data["source"], "salesforce");
        assert_eq!(plan.events[0].data["name"], "Account A-1");
        let open = &plan.events[2];
        assert_eq!(open.data["stage"], "lead");
        assert_eq!(open.data["owner"], "nobody", "the default fills an empty cell");
        assert!(open.data.get("amount").is_none(), "an empty cell leaves the field out");
        assert!(open.id.starts_with("opp-O-2@") && open.id.len() == "opp-O-2@".len() + 10, "{}", open.id);
        // Row 4: the account column is empty and the amount is not a number.
        assert_eq!(plan.rejected_rows.len(), 1);
        let r = &plan.rejected_rows[0];
        assert_eq!(r.row, 4);
        assert!(r.message.contains("column \"Account\" is empty"), "{}", r.message);
        assert!(r.message.contains("\"12k\" is not a number"), "{}", r.message);
        let f = &plan.files[0];
        assert_eq!((f.rows, f.outcomes["imported"], f.outcomes["rejected"]), (4, 3, 1));

        let again = run(CSV, MAP).unwrap();
        assert_eq!(
            plan.events.iter().map(|e| &e.id).collect::<Vec<_>>(),
            again.events.iter().map(|e| &e.id).collect::<Vec<_>>()
        );
        let changed = run(&CSV.replace("12/15/2026,\n", "12/15/2026,Ana Ruiz\n"), MAP).unwrap();
        assert_ne!(changed.events[2].id, plan.events[2].id, "{{@hash}} follows the data");
        assert_eq!(changed.events[1].id, plan.events[1].id);
    }

    #[test]
    fn a_mapping_that_does_not_fit_is_refused_with_places() {
        let err =
            run(CSV, &MAP.replace("account_id = \"Account\"", "account_id = \"Acount\"")).unwrap_err().to_string();
        assert!(err.contains("data.account_id: column \"Acount\" is not in the header"), "{err}");
        assert!(err.contains("did you mean \"Account\""), "{err}");
        let line = MAP.lines().position(|l| l.starts_with("account_id")).unwrap() + 1;
        assert!(err.contains(&format!("m.toml:{line}:1:")), "{err}");

        let err = run(CSV, &MAP.replace("deal.upserted", "deal.upsertd")).unwrap_err().to_string();
        assert!(err.contains("unknown event type \"deal.upsertd\" (did you mean \"deal.upserted\"?)"), "{err}");
        let err = run(CSV, &MAP.replace("account_id = \"Account\"\n", "")).unwrap_err().to_string();
        assert!(err.contains("deal.upserted needs data.account_id"), "{err}");
        let err = run(CSV, &MAP.replace("as = \"number\"", "as = \"money\"")).unwrap_err().to_string();
        assert!(err.contains("data.amount") && err.contains("money"), "{err}");
        let err = run(CSV, &MAP.replace("id = \"acc-{Account}\"", "id = \"acc-{Account\"")).unwrap_err().to_string();
        assert!(err.contains("is not closed"), "{err}");
        let err = run(CSV, &MAP.replace("[[event]]\ntype = \"account", "[[event]]\ntipe = \"x\"\ntype = \"account"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("tipe"), "{err}");
    }

    #[test]
    fn when_filters_rows_and_values_parse_as_exports_write_them() {
        let w = When { column: 0, is_in: Some(vec!["Closed Won".into()]), not_in: None };
        assert!(w.passes(&["closed won"]) && !w.passes(&["Open"]));
        let w = When { column: 0, is_in: None, not_in: None };
        assert!(w.passes(&["x"]) && !w.passes(&[""]));
        assert_eq!(number("$48,000.50"), Some(48000.5));
        assert_eq!(number("-3"), Some(-3.0));
        assert_eq!(number("12k"), None);
        let m = Mapping { headers: vec![], date_format: Some("%d.%m.%Y".into()), events: vec![] };
        let t = |s: &str| m.time(s).map(super::super::stamp);
        assert_eq!(t("2026-11-30").as_deref(), Some("2026-11-30T00:00:00Z"));
        assert_eq!(t("2026-11-30T09:30:00.000Z").as_deref(), Some("2026-11-30T09:30:00Z"));
        assert_eq!(t("2026-11-30 09:30:00").as_deref(), Some("2026-11-30T09:30:00Z"));
        assert_eq!(t("30.11.2026").as_deref(), Some("2026-11-30T00:00:00Z"));
        assert_eq!(t("11/30/2026"), None);
    }
}
