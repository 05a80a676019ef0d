//! Rows a unit of work appends to the logs (applied events, decisions, the
//! deals' stage history), gathered in memory and written many to a statement
//! before the unit's commit, as the SQLite backend does (see its `pending`):
//! one round trip for up to 64 rows instead of one each.
//!
//! They are written inside the unit's transaction, so a crash keeps all of
//! a unit or none of it. The rows held here always belong to the innermost
//! open unit: the backend writes them out before it opens a nested unit,
//! before it releases one, and before any read of their tables; a nested
//! unit rolled back drops them.

use std::collections::HashMap;

use postgres::types::ToSql;

/// A table these rows go to: its columns, and one row's values in their order.
pub(super) trait LogRow {
    const TABLE: &'static str;
    const COLUMNS: &'static [&'static str];
    fn values(&self) -> Vec<&(dyn ToSql + Sync)>;
}

/// Rows per statement, largest first (each size is prepared once per connection).
const STATEMENT_ROWS: [usize; 4] = [64, 16, 4, 1];

#[derive(Debug, Clone, PartialEq)]
pub(super) struct EventLog {
    pub id: String,
    pub kind: &'static str,
    pub at: String,
    pub body: String,
    pub source: String,
    pub line: i64,
    pub rules_version: String,
    pub applied_at: String,
    pub content_hash: Vec<u8>,
}

impl LogRow for EventLog {
    const TABLE: &'static str = "events";
    const COLUMNS: &'static [&'static str] =
        &["id", "type", "at", "body", "source", "line", "rules_version", "applied_at", "content_hash"];
    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.kind,
            &self.at,
            &self.body,
            &self.source,
            &self.line,
            &self.rules_version,
            &self.applied_at,
            &self.content_hash,
        ]
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct DecisionLog {
    pub kind: &'static str,
    pub subject_kind: String,
    pub subject_id: String,
    pub rule_file: Option<String>,
    pub rule_fn: Option<String>,
    pub reason: String,
    pub detail: String,
    pub rules_version: String,
    pub event_id: String,
    pub at: String,
}

impl LogRow for DecisionLog {
    const TABLE: &'static str = "decisions";
    const COLUMNS: &'static [&'static str] = &[
        "kind",
        "subject_kind",
        "subject_id",
        "rule_file",
        "rule_fn",
        "reason",
        "detail",
        "rules_version",
        "event_id",
        "at",
    ];
    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.kind,
            &self.subject_kind,
            &self.subject_id,
            &self.rule_file,
            &self.rule_fn,
            &self.reason,
            &self.detail,
            &self.rules_version,
            &self.event_id,
            &self.at,
        ]
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct StageLog {
    pub deal_id: String,
    pub from: Option<String>,
    pub to: String,
    pub at: String,
    pub event_id: String,
    pub rule: Option<String>,
    pub reason: String,
}

impl LogRow for StageLog {
    const TABLE: &'static str = "deal_stage_history";
    const COLUMNS: &'static [&'static str] = &["deal_id", "from_stage", "to_stage", "at", "event_id", "rule", "reason"];
    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![&self.deal_id, &self.from, &self.to, &self.at, &self.event_id, &self.rule, &self.reason]
    }
}

/// The rows of the open unit not written yet, in the order they came.
#[derive(Debug, Default)]
pub(super) struct Pending {
    pub events: Vec<EventLog>,
    /// Each pending event's place in `events`, by id.
    event_places: HashMap<String, usize>,
    pub decisions: Vec<DecisionLog>,
    pub stages: Vec<StageLog>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.unwritten_count() == 0
    }

    pub fn unwritten_count(&self) -> u64 {
        (self.events.len() + self.decisions.len() + self.stages.len()) as u64
    }

    pub fn event(&mut self, row: EventLog) {
        self.event_places.insert(row.id.clone(), self.events.len());
        self.events.push(row);
    }

    /// The pending event with this id, if one is.
    pub fn applied(&self, id: &str) -> Option<&EventLog> {
        self.event_places.get(id).map(|&i| &self.events[i])
    }

    pub fn clear(&mut self) {
        *self = Pending::default();
    }
}

/// Cut `rows` into runs of [`STATEMENT_ROWS`] sizes, in order: `(size, rows)`.
pub(super) fn runs<R>(rows: &[R]) -> Vec<(usize, &[R])> {
    let mut out = Vec::new();
    let mut rest = rows;
    for n in STATEMENT_ROWS {
        while rest.len() >= n {
            let (these, after) = rest.split_at(n);
            out.push((n, these));
            rest = after;
        }
    }
    out
}

/// `INSERT INTO table (columns) VALUES ($1, ...), ...` for `n` rows.
pub(super) fn insert_sql<R: LogRow>(n: usize) -> String {
    let k = R::COLUMNS.len();
    let rows: Vec<String> = (0..n)
        .map(|r| format!("({})", (1..=k).map(|c| format!("${}", r * k + c)).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("INSERT INTO {} ({}) VALUES {}", R::TABLE, R::COLUMNS.join(", "), rows.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_every_row_once_in_order_in_the_fewest_statements() {
        for n in [0usize, 1, 3, 4, 5, 17, 63, 64, 65, 100, 1000] {
            let rows: Vec<usize> = (0..n).collect();
            let runs = runs(&rows);
            let flat: Vec<usize> = runs.iter().flat_map(|(_, r)| r.iter().copied()).collect();
            assert_eq!(flat, rows);
            assert!(runs.iter().all(|(size, r)| *size == r.len()));
        }
        assert_eq!(runs(&(0..1000).collect::<Vec<_>>()).len(), 19);
    }

    #[test]
    fn the_insert_numbers_its_parameters_row_by_row() {
        assert_eq!(
            insert_sql::<StageLog>(2),
            "INSERT INTO deal_stage_history (deal_id, from_stage, to_stage, at, event_id, rule, reason) VALUES \
             ($1, $2, $3, $4, $5, $6, $7), ($8, $9, $10, $11, $12, $13, $14)"
        );
    }
}
