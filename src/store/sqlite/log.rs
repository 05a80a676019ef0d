//! The logs: applied events (the replayable history), rejected lines, the
//! decisions rules made, and the rules versions the engine ran with.

use rusqlite::params;

use super::pending::{DecisionLog, EventLog};
use super::{SqlContext, Sqlite};
use crate::error::Result;
use crate::event::Event;
use crate::model::Decision;
use crate::store::backend::{AppliedBefore, DecisionRow, EventRow, RejectedRow, StoredVersion};

impl Sqlite {
    /// Whether an event with this id was applied (whatever its content).
    pub fn is_applied(&self, event_id: &str) -> Result<bool> {
        if self.pending.borrow().applied(event_id).is_some() {
            return Ok(true);
        }
        Ok(self.one("SELECT 1 FROM events WHERE id = ?1", [event_id], |_| Ok(()))?.is_some())
    }

    /// Record an applied event, with the hash of its content: gathered for
    /// the unit's commit (see [`super::pending`]), or written now outside one.
    pub fn record_applied(&self, e: &Event, source: &str, line: usize, rules_version: &str, now: &str) -> Result<()> {
        self.gather(|p| {
            p.event(EventLog {
                id: e.id.clone(),
                kind: e.kind.name(),
                at: crate::time::stamp(e.at),
                body: e.to_json(),
                source: source.to_string(),
                line: line as i64,
                rules_version: rules_version.to_string(),
                applied_at: now.to_string(),
                content_hash: e.content_hash().to_vec(),
            })
        })
    }

    /// The event applied before under `e`'s id, if any: whether it had the
    /// same content, and where it came from.
    pub fn applied_before(&self, e: &Event) -> Result<Option<AppliedBefore>> {
        if let Some(p) = self.pending.borrow().applied(&e.id) {
            let same = p.content_hash[..] == e.content_hash()[..];
            return Ok(Some(AppliedBefore { same, source: p.source.clone(), line: p.line as usize }));
        }
        let found = self.one("SELECT content_hash, source, line FROM events WHERE id = ?1", [&e.id], |r| {
            Ok((r.get::<_, Option<Vec<u8>>>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
        })?;
        let Some((hash, source, line)) = found else { return Ok(None) };
        let same = match hash {
            Some(hash) => hash == e.content_hash(),
            // Stored before hashes were kept: compare with what it said.
            None => {
                let body: String =
                    self.one("SELECT body FROM events WHERE id = ?1", [&e.id], |r| r.get(0))?.unwrap_or_default();
                e.same_content_as_stored(&body)
            }
        };
        Ok(Some(AppliedBefore { same, source, line: line as usize }))
    }

    /// Record a rejected line, once: the same line of the same file rejected
    /// again for the same reason (a re-sent file, a run after a crash) adds nothing.
    pub fn record_rejected(&self, source: &str, line: usize, reason: &str, raw: &str, now: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO rejected_events (source, line, reason, raw, rejected_at) SELECT ?1, ?2, ?3, ?4, ?5
                 WHERE NOT EXISTS (SELECT 1 FROM rejected_events WHERE source = ?1 AND line = ?2 AND reason = ?3 AND raw = ?4)",
            )
            .ctx(self)?
            .execute(params![source, line as i64, reason, raw, now])
            .ctx(self)?;
        Ok(())
    }

    pub fn rejected(&self) -> Result<Vec<RejectedRow>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT source, line, reason, raw, rejected_at FROM rejected_events ORDER BY seq")
            .ctx(self)?;
        let rows = st
            .query_map([], |r| {
                Ok(RejectedRow {
                    source: r.get(0)?,
                    line: r.get(1)?,
                    reason: r.get(2)?,
                    raw: r.get(3)?,
                    rejected_at: r.get(4)?,
                })
            })
            .ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    /// Record a decision: gathered for the unit's commit, or written now outside one.
    pub fn record_decision(&self, d: &Decision, rules_version: &str) -> Result<()> {
        self.gather(|p| {
            p.decision(DecisionLog {
                kind: d.kind.name(),
                subject_kind: d.subject.kind.clone(),
                subject_id: d.subject.id.clone(),
                rule_file: d.rule.as_ref().map(|r| r.file.clone()),
                rule_fn: d.rule.as_ref().map(|r| r.function.clone()),
                reason: d.reason.clone(),
                detail: d.detail.to_string(),
                rules_version: rules_version.to_string(),
                event_id: d.event_id.clone(),
                at: d.at.clone(),
            })
        })
    }

    /// Decisions, oldest first; optionally of one kind or about one subject.
    /// Decisions of `kind` after position `after`, by position (the notifier's cursor).
    pub fn decisions_after(&self, after: i64, kind: &str, limit: usize) -> Result<Vec<DecisionRow>> {
        self.write_pending()?;
        self.all(
            "SELECT seq, kind, subject_kind, subject_id, rule_file, rule_fn, reason, detail, rules_version, event_id, at
             FROM decisions WHERE seq > ?1 AND kind = ?2 ORDER BY seq LIMIT ?3",
            params![after, kind, limit as i64],
            decision_row,
        )
    }

    /// Rejected lines after position `after`, by position (the notifier's cursor).
    pub fn rejected_after(&self, after: i64, limit: usize) -> Result<Vec<crate::store::outbox::RejectedSince>> {
        self.all(
            "SELECT seq, source, line, reason FROM rejected_events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            params![after, limit as i64],
            |r| {
                Ok(crate::store::outbox::RejectedSince {
                    seq: r.get(0)?,
                    source: r.get(1)?,
                    line: r.get(2)?,
                    reason: r.get(3)?,
                })
            },
        )
    }

    pub fn decisions(&self, kind: Option<&str>, subject: Option<(&str, &str)>) -> Result<Vec<DecisionRow>> {
        self.write_pending()?;
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, kind, subject_kind, subject_id, rule_file, rule_fn, reason, detail, rules_version, event_id, at FROM decisions
                 WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR (subject_kind = ?2 AND subject_id = ?3)) ORDER BY seq",
            )
            .ctx(self)?;
        let (sk, sid) = subject.map(|(k, i)| (Some(k), Some(i))).unwrap_or_default();
        let rows = st.query_map(params![kind, sk, sid], decision_row).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    /// Record that `version` was put in force at `loaded_at` (and its files' text, the first time).
    pub fn record_rules_version(&self, version: &str, files_json: &str, loaded_at: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO rules_versions (version, files) VALUES (?1, ?2) ON CONFLICT(version) DO NOTHING",
            )
            .ctx(self)?
            .execute(params![version, files_json])
            .ctx(self)?;
        if self.current_rules_version()?.is_some_and(|v| v.version == version && v.loaded_at == loaded_at) {
            return Ok(());
        }
        self.conn
            .prepare_cached("INSERT INTO rules_loads (version, loaded_at) VALUES (?1, ?2)")
            .ctx(self)?
            .execute(params![version, loaded_at])
            .ctx(self)?;
        Ok(())
    }

    /// The rules version most recently loaded.
    pub fn current_rules_version(&self) -> Result<Option<StoredVersion>> {
        self.one("SELECT version, loaded_at FROM rules_loads ORDER BY seq DESC LIMIT 1", [], |r| {
            Ok(StoredVersion { version: r.get(0)?, loaded_at: r.get(1)? })
        })
    }
}

impl Sqlite {
    /// Applied events about a deal, an account or a lead, in order.
    pub fn events_about(&self, kind: &str, id: &str) -> Result<Vec<EventRow>> {
        self.write_pending()?;
        let filter = match kind {
            "deal" => {
                "(type = 'deal.upserted' AND json_extract(body, '$.data.id') = ?1) OR json_extract(body, '$.data.deal_id') = ?1"
            }
            "account" => {
                "(type = 'account.upserted' AND json_extract(body, '$.data.id') = ?1) OR json_extract(body, '$.data.account_id') = ?1"
            }
            "lead" => "type = 'lead.created' AND json_extract(body, '$.data.id') = ?1",
            // Events about nothing else are kept: none (the `?1 IS NULL` keeps the one parameter bound).
            _ => "0 AND ?1 IS NULL",
        };
        let sql = format!(
            "SELECT seq, id, type, at, source, line, rules_version, body FROM events WHERE {filter} ORDER BY seq"
        );
        let mut st = self.conn.prepare(&sql).ctx(self)?;
        let rows = st
            .query_map([id], |r| {
                let body: serde_json::Value = serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default();
                Ok(EventRow {
                    seq: r.get(0)?,
                    id: r.get(1)?,
                    kind: r.get(2)?,
                    at: r.get(3)?,
                    source: r.get(4)?,
                    line: r.get(5)?,
                    rules_version: r.get(6)?,
                    data: body.get("data").cloned().unwrap_or_default(),
                })
            })
            .ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    /// The files (path, text) of a stored rules version.
    pub fn rules_version_files(&self, version: &str) -> Result<Option<Vec<(String, String)>>> {
        Ok(self
            .one("SELECT files FROM rules_versions WHERE version = ?1", [version], |r| r.get::<_, String>(0))?
            .and_then(|f| serde_json::from_str(&f).ok()))
    }

    /// The business time of the latest applied event.
    pub fn latest_event_at(&self) -> Result<Option<String>> {
        self.write_pending()?;
        Ok(self.one("SELECT MAX(at) FROM events", [], |r| r.get(0))?.flatten())
    }
}

impl Sqlite {
    /// Applied events as their JSON lines, in the order they were applied,
    /// `limit` after position `after`, each with its position.
    pub fn event_history_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, String)>> {
        self.write_pending()?;
        let mut st =
            self.conn.prepare_cached("SELECT seq, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2").ctx(self)?;
        let rows = st.query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?))).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    pub fn last_applied_at(&self) -> Result<Option<String>> {
        self.write_pending()?;
        self.one("SELECT at FROM events ORDER BY seq DESC LIMIT 1", [], |r| r.get(0))
    }

    pub fn event_count(&self) -> Result<i64> {
        self.write_pending()?;
        Ok(self.one("SELECT COUNT(*) FROM events", [], |r| r.get(0))?.unwrap_or(0))
    }
}

fn decision_row(r: &rusqlite::Row) -> rusqlite::Result<DecisionRow> {
    let file: Option<String> = r.get(4)?;
    let func: Option<String> = r.get(5)?;
    Ok(DecisionRow {
        seq: r.get(0)?,
        kind: r.get(1)?,
        subject_kind: r.get(2)?,
        subject_id: r.get(3)?,
        rule: file.zip(func).map(|(f, n)| format!("{f}::{n}")),
        reason: r.get(6)?,
        detail: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
        rules_version: r.get(8)?,
        event_id: r.get(9)?,
        at: r.get(10)?,
    })
}
