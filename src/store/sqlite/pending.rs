//! Rows a unit of work appends to the logs (the applied events, the
//! decisions, the deals' stage history), gathered in memory and written
//! when the unit commits, many rows per statement, instead of one statement
//! per row while the event runs.
//!
//! A row written alone pays for the statement around it (finding it in the
//! statement cache, which hashes its SQL, starting it, opening a cursor on
//! the table and each index, resetting it) as much as for the insert. The
//! logs are only appended to during an event, and what reads them during
//! one (has this event id been applied?) is answered here first, so they
//! can wait for the commit.
//!
//! The rows are written inside the unit's transaction, before its `COMMIT`:
//! a crash still keeps all of a unit or none of it. The rows held here
//! always belong to the innermost open unit: the backend writes them out
//! before it opens a nested unit, and a nested unit that is rolled back
//! drops them (see the SQLite backend's unit methods).

use std::collections::HashMap;

use rusqlite::{Connection, Statement};

/// A table these rows go to: its columns, and how one row binds them.
trait LogRow {
    const TABLE: &'static str;
    const COLUMNS: &'static [&'static str];
    /// Bind this row's values from parameter `first` on (1-based), in `COLUMNS` order.
    fn bind(&self, st: &mut Statement, first: usize) -> rusqlite::Result<()>;
}

/// Rows per statement, largest first: a run of rows goes out in as few
/// statements as these sizes allow (a run of 1,000 in 19), and each size is
/// prepared once per connection (the statement cache keeps it).
const STATEMENT_ROWS: [usize; 4] = [64, 16, 4, 1];

/// An applied event, as the `events` table keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventLog {
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
    fn bind(&self, st: &mut Statement, first: usize) -> rusqlite::Result<()> {
        st.raw_bind_parameter(first, &self.id)?;
        st.raw_bind_parameter(first + 1, self.kind)?;
        st.raw_bind_parameter(first + 2, &self.at)?;
        st.raw_bind_parameter(first + 3, &self.body)?;
        st.raw_bind_parameter(first + 4, &self.source)?;
        st.raw_bind_parameter(first + 5, self.line)?;
        st.raw_bind_parameter(first + 6, &self.rules_version)?;
        st.raw_bind_parameter(first + 7, &self.applied_at)?;
        st.raw_bind_parameter(first + 8, &self.content_hash[..])
    }
}

/// A decision, as the `decisions` table keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionLog {
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
    fn bind(&self, st: &mut Statement, first: usize) -> rusqlite::Result<()> {
        st.raw_bind_parameter(first, self.kind)?;
        st.raw_bind_parameter(first + 1, &self.subject_kind)?;
        st.raw_bind_parameter(first + 2, &self.subject_id)?;
        st.raw_bind_parameter(first + 3, &self.rule_file)?;
        st.raw_bind_parameter(first + 4, &self.rule_fn)?;
        st.raw_bind_parameter(first + 5, &self.reason)?;
        st.raw_bind_parameter(first + 6, &self.detail)?;
        st.raw_bind_parameter(first + 7, &self.rules_version)?;
        st.raw_bind_parameter(first + 8, &self.event_id)?;
        st.raw_bind_parameter(first + 9, &self.at)
    }
}

/// A row of a deal's stage history.
#[derive(Debug, Clone, PartialEq)]
pub struct StageLog {
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
    fn bind(&self, st: &mut Statement, first: usize) -> rusqlite::Result<()> {
        st.raw_bind_parameter(first, &self.deal_id)?;
        st.raw_bind_parameter(first + 1, &self.from)?;
        st.raw_bind_parameter(first + 2, &self.to)?;
        st.raw_bind_parameter(first + 3, &self.at)?;
        st.raw_bind_parameter(first + 4, &self.event_id)?;
        st.raw_bind_parameter(first + 5, &self.rule)?;
        st.raw_bind_parameter(first + 6, &self.reason)
    }
}

/// The rows of the open unit not written yet, in the order they came.
#[derive(Debug, Default)]
pub struct Pending {
    events: Vec<EventLog>,
    /// Each pending event's place in `events`, by id: ingest asks about
    /// every event's id before applying it.
    event_places: HashMap<String, usize>,
    decisions: Vec<DecisionLog>,
    stages: Vec<StageLog>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.unwritten_count() == 0
    }

    /// How many rows wait to be written.
    pub fn unwritten_count(&self) -> u64 {
        (self.events.len() + self.decisions.len() + self.stages.len()) as u64
    }

    pub fn event(&mut self, row: EventLog) {
        self.event_places.insert(row.id.clone(), self.events.len());
        self.events.push(row);
    }

    pub fn decision(&mut self, row: DecisionLog) {
        self.decisions.push(row);
    }

    pub fn stage_change(&mut self, row: StageLog) {
        self.stages.push(row);
    }

    /// The pending event with this id, if one is.
    pub fn applied(&self, id: &str) -> Option<&EventLog> {
        self.event_places.get(id).map(|&i| &self.events[i])
    }

    /// Forget every pending row (the unit they belong to is undone).
    pub fn clear(&mut self) {
        *self = Pending::default();
    }

    /// Write every pending row, in the order it came, and forget them. On an
    /// error some may be written and the rest are forgotten: the caller
    /// undoes the unit (or nested unit) they belong to.
    pub fn write(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let Pending { events, decisions, stages, .. } = std::mem::take(self);
        write_rows(conn, &events)?;
        write_rows(conn, &decisions)?;
        write_rows(conn, &stages)
    }
}

/// Insert `rows` in order, in statements of [`STATEMENT_ROWS`] rows.
fn write_rows<R: LogRow>(conn: &Connection, rows: &[R]) -> rusqlite::Result<()> {
    let mut rest = rows;
    for n in STATEMENT_ROWS {
        if rest.len() < n {
            continue;
        }
        let mut st = conn.prepare_cached(&insert_sql::<R>(n))?;
        while rest.len() >= n {
            let (these, after) = rest.split_at(n);
            for (i, row) in these.iter().enumerate() {
                row.bind(&mut st, 1 + i * R::COLUMNS.len())?;
            }
            st.raw_execute()?;
            rest = after;
        }
    }
    Ok(())
}

/// `INSERT INTO table (columns) VALUES (?, ...), ...` for `n` rows.
fn insert_sql<R: LogRow>(n: usize) -> String {
    let one = format!("({})", vec!["?"; R::COLUMNS.len()].join(", "));
    format!("INSERT INTO {} ({}) VALUES {}", R::TABLE, R::COLUMNS.join(", "), vec![one; n].join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate_from(&conn, 0).unwrap();
        conn
    }

    fn decision(n: usize) -> DecisionLog {
        DecisionLog {
            kind: "task_created",
            subject_kind: "deal".into(),
            subject_id: format!("D-{n}"),
            rule_file: n.is_multiple_of(2).then(|| "rules/tasks.rhai".into()),
            rule_fn: n.is_multiple_of(2).then(|| format!("rule_{n}")),
            reason: format!("reason {n}"),
            detail: format!("{{\"n\":{n}}}"),
            rules_version: "v1".into(),
            event_id: format!("e-{n}"),
            at: format!("2026-01-01T00:00:{:02}Z", n % 60),
        }
    }

    fn event(n: usize) -> EventLog {
        EventLog {
            id: format!("e-{n}"),
            kind: "deal.upserted",
            at: "2026-01-01T00:00:00Z".into(),
            body: format!("{{\"id\":\"e-{n}\"}}"),
            source: "f.jsonl".into(),
            line: n as i64,
            rules_version: "v1".into(),
            applied_at: "now".into(),
            content_hash: vec![n as u8; 4],
        }
    }

    fn stage(n: usize) -> StageLog {
        StageLog {
            deal_id: format!("D-{n}"),
            from: (!n.is_multiple_of(3)).then(|| "lead".into()),
            to: "qualified".into(),
            at: "2026-01-01T00:00:00Z".into(),
            event_id: format!("e-{n}"),
            rule: None,
            reason: format!("moved {n}"),
        }
    }

    fn texts(conn: &Connection, sql: &str) -> Vec<String> {
        let mut st = conn.prepare(sql).unwrap();
        st.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    /// Every size of run (below, at and across the statement sizes) comes
    /// back whole and in order, each value in its column.
    #[test]
    fn every_row_is_written_once_in_order_with_its_values() {
        for n in [0, 1, 3, 4, 5, 17, 63, 64, 65, 100, 1000] {
            let conn = schema();
            let mut pending = Pending::default();
            for i in 0..n {
                pending.event(event(i));
                pending.decision(decision(i));
                pending.stage_change(stage(i));
            }
            pending.write(&conn).unwrap();
            assert!(pending.is_empty());
            let expected: Vec<String> = (0..n).map(|i| format!("e-{i}|f.jsonl|{i}|{}", hex(i))).collect();
            assert_eq!(
                texts(
                    &conn,
                    "SELECT id || '|' || source || '|' || line || '|' || hex(content_hash) FROM events ORDER BY seq"
                ),
                expected
            );
            let expected: Vec<String> = (0..n)
                .map(|i| {
                    let d = decision(i);
                    format!(
                        "{}|{}|{}|{}|{}|{}|{}|{}",
                        d.subject_id,
                        d.rule_file.unwrap_or("-".into()),
                        d.rule_fn.unwrap_or("-".into()),
                        d.reason,
                        d.detail,
                        d.event_id,
                        d.at,
                        d.kind
                    )
                })
                .collect();
            assert_eq!(
                texts(
                    &conn,
                    "SELECT subject_id || '|' || COALESCE(rule_file, '-') || '|' || COALESCE(rule_fn, '-') || '|' || reason
                     || '|' || detail || '|' || event_id || '|' || at || '|' || kind FROM decisions ORDER BY seq"
                ),
                expected
            );
            let expected: Vec<String> = (0..n)
                .map(|i| format!("D-{i}|{}|moved {i}", if !i.is_multiple_of(3) { "lead" } else { "-" }))
                .collect();
            assert_eq!(
                texts(
                    &conn,
                    "SELECT deal_id || '|' || COALESCE(from_stage, '-') || '|' || reason FROM deal_stage_history ORDER BY seq"
                ),
                expected
            );
        }
    }

    fn hex(i: usize) -> String {
        format!("{:02X}", i as u8).repeat(4)
    }

    #[test]
    fn a_pending_event_is_found_by_id_until_written_or_cleared() {
        let conn = schema();
        let mut pending = Pending::default();
        pending.event(event(1));
        pending.event(event(2));
        assert_eq!(pending.applied("e-2").map(|e| e.line), Some(2));
        assert!(pending.applied("e-3").is_none());
        pending.clear();
        assert!(pending.applied("e-1").is_none());
        assert!(pending.is_empty());
        pending.event(event(3));
        pending.write(&conn).unwrap();
        assert!(pending.applied("e-3").is_none());
        assert_eq!(texts(&conn, "SELECT id FROM events"), ["e-3"]);
    }

    /// A row SQLite refuses makes the write fail, and nothing stays pending.
    #[test]
    fn a_refused_row_fails_the_write() {
        let conn = schema();
        let mut pending = Pending::default();
        for i in 0..10 {
            pending.event(event(i));
        }
        pending.event(event(3));
        let err = pending.write(&conn).unwrap_err();
        assert!(err.to_string().contains("UNIQUE"), "{err}");
        assert!(pending.is_empty());
    }

    fn applied_event(n: usize) -> crate::event::Event {
        let line = format!(
            r#"{{"id":"e-{n}","type":"account.upserted","at":"2026-01-01T00:00:00Z","data":{{"id":"A-{n}","name":"Acme {n}"}}}}"#
        );
        crate::event::parse_line(&line, "2026-01-01T00:00:00Z".parse().unwrap()).unwrap()
    }

    fn noted(db: &super::super::Sqlite, n: usize) -> crate::model::Decision {
        let d = crate::model::Decision {
            kind: crate::model::DecisionKind::OwnerChanged,
            subject: crate::model::Subject::new("account", &format!("A-{n}")),
            rule: None,
            reason: format!("decision {n}"),
            detail: serde_json::json!({}),
            event_id: format!("e-{n}"),
            at: "2026-01-01T00:00:00Z".into(),
        };
        db.record_decision(&d, "v1").unwrap();
        d
    }

    /// Through the backend: its reads see the rows it gathered, a nested
    /// unit rolled back drops exactly its own, one released keeps them, and
    /// the commit writes the rest in the order they came.
    #[test]
    fn reads_see_gathered_rows_and_a_nested_undo_drops_exactly_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::Sqlite::open(&dir.path().join("t.db"), std::time::Duration::from_secs(1)).unwrap();
        let record = |n: usize| db.record_applied(&applied_event(n), "f.jsonl", n, "v1", "now").unwrap();
        db.begin().unwrap();
        let changes = db.total_changes();
        record(1);
        noted(&db, 1);
        assert_eq!(db.total_changes(), changes + 2, "gathered rows count as changes");
        assert!(db.is_applied("e-1").unwrap());
        let seen = db.applied_before(&applied_event(1)).unwrap().unwrap();
        assert!(seen.same);
        assert_eq!((seen.source.as_str(), seen.line), ("f.jsonl", 1));

        db.savepoint().unwrap();
        record(2);
        noted(&db, 2);
        db.rollback_savepoint().unwrap();
        assert!(!db.is_applied("e-2").unwrap(), "undone with its nested unit");
        assert!(db.is_applied("e-1").unwrap(), "written before the nested unit began, kept");

        db.savepoint().unwrap();
        record(3);
        noted(&db, 3);
        db.release().unwrap();
        record(4);
        noted(&db, 4);
        // A read of a gathered table sees every row of the unit, in order.
        let reasons: Vec<String> = db.decisions(None, None).unwrap().into_iter().map(|d| d.reason).collect();
        assert_eq!(reasons, ["decision 1", "decision 3", "decision 4"]);
        record(5);
        assert_eq!(db.event_count().unwrap(), 4);
        db.commit().unwrap();

        let ids = texts(db.connection(), "SELECT id FROM events ORDER BY seq");
        assert_eq!(ids, ["e-1", "e-3", "e-4", "e-5"]);
        let subjects = texts(db.connection(), "SELECT subject_id FROM decisions ORDER BY seq");
        assert_eq!(subjects, ["A-1", "A-3", "A-4"]);

        // A unit rolled back leaves nothing gathered behind for the next one.
        db.begin().unwrap();
        record(6);
        db.rollback().unwrap();
        db.begin().unwrap();
        db.commit().unwrap();
        assert!(!db.is_applied("e-6").unwrap());
        assert_eq!(db.event_count().unwrap(), 4);
    }

    /// Outside a unit a row is written at once.
    #[test]
    fn outside_a_unit_a_row_is_written_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::Sqlite::open(&dir.path().join("t.db"), std::time::Duration::from_secs(1)).unwrap();
        noted(&db, 1);
        assert_eq!(texts(db.connection(), "SELECT reason FROM decisions"), ["decision 1"]);
    }
}
