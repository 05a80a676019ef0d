//! The logs: applied events (the replayable history), rejected lines, the
//! decisions rules made, and the rules versions the engine ran with.

use postgres::Row;

use super::pending::{DecisionLog, EventLog};
use super::{PgContext, Postgres};
use crate::error::Result;
use crate::event::Event;
use crate::model::Decision;
use crate::store::backend::{AppliedBefore, DecisionRow, EventRow, RejectedRow, StoredVersion};

/// What `applied_before` needs of a stored event.
#[derive(Debug, Clone)]
pub(super) struct StoredEvent {
    hash: Option<Vec<u8>>,
    source: String,
    line: i64,
    body: String,
}

fn stored(r: &Row) -> std::result::Result<StoredEvent, postgres::Error> {
    Ok(StoredEvent { hash: r.try_get(0)?, source: r.try_get(1)?, line: r.try_get(2)?, body: r.try_get(3)? })
}

impl Postgres {
    /// Whether an event with this id was applied (whatever its content).
    pub fn is_applied(&self, event_id: &str) -> Result<bool> {
        if self.pending.borrow().applied(event_id).is_some() {
            return Ok(true);
        }
        Ok(self.one("SELECT 1 FROM events WHERE id = $1", &[&event_id], |_| Ok(()))?.is_some())
    }

    /// Record an applied event, with the hash of its content: gathered for
    /// the unit's commit (see [`super::pending`]), or written now outside one.
    pub fn record_applied(&self, e: &Event, source: &str, line: usize, rules_version: &str, now: &str) -> Result<()> {
        if let Some(known) = self.looked_up.borrow_mut().get_mut(&e.id) {
            *known = Some(StoredEvent {
                hash: Some(e.content_hash().to_vec()),
                source: source.to_string(),
                line: line as i64,
                body: String::new(),
            });
        }
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

    pub fn applied_before(&self, e: &Event) -> Result<Option<AppliedBefore>> {
        if let Some(p) = self.pending.borrow().applied(&e.id) {
            let same = p.content_hash[..] == e.content_hash()[..];
            return Ok(Some(AppliedBefore { same, source: p.source.clone(), line: p.line as usize }));
        }
        let ahead = match self.in_locked_unit() {
            true => self.looked_up.borrow().get(&e.id).cloned(),
            false => None,
        };
        let found = match ahead {
            Some(found) => found,
            None => self.one("SELECT content_hash, source, line, body FROM events WHERE id = $1", &[&e.id], stored)?,
        };
        let Some(StoredEvent { hash, source, line, body }) = found else { return Ok(None) };
        let same = match hash {
            Some(hash) => hash == e.content_hash(),
            None => e.same_content_as_stored(&body),
        };
        Ok(Some(AppliedBefore { same, source, line: line as usize }))
    }

    /// Look up the events with these ids in one statement, for
    /// [`Postgres::applied_before`] to answer from until the unit ends (only
    /// in a unit, which holds every other writer of events off).
    pub fn expect_events(&self, ids: &[&str]) -> Result<()> {
        if !self.in_locked_unit() {
            return Ok(());
        }
        let ids: Vec<&str> = {
            let known = self.looked_up.borrow();
            ids.iter().copied().filter(|id| !known.contains_key(*id)).collect()
        };
        if ids.is_empty() {
            return Ok(());
        }
        let rows = self.rows("SELECT content_hash, source, line, body, id FROM events WHERE id = ANY($1)", &[&ids])?;
        let mut known = self.looked_up.borrow_mut();
        for id in ids {
            known.insert(id.to_string(), None);
        }
        for r in &rows {
            let id: String = r.try_get(4).ctx(self)?;
            known.insert(id, Some(stored(r).ctx(self)?));
        }
        Ok(())
    }

    pub fn record_rejected(&self, source: &str, line: usize, reason: &str, raw: &str, now: &str) -> Result<()> {
        self.exec(
            "INSERT INTO rejected_events (source, line, reason, raw, rejected_at) SELECT $1, $2, $3, $4, $5
             WHERE NOT EXISTS (SELECT 1 FROM rejected_events WHERE source = $1 AND line = $2 AND reason = $3 AND raw = $4)",
            &[&source, &(line as i64), &reason, &raw, &now],
        )?;
        Ok(())
    }

    pub fn rejected(&self) -> Result<Vec<RejectedRow>> {
        self.all("SELECT source, line, reason, raw, rejected_at FROM rejected_events ORDER BY seq", &[], |r| {
            Ok(RejectedRow {
                source: r.try_get(0)?,
                line: r.try_get(1)?,
                reason: r.try_get(2)?,
                raw: r.try_get(3)?,
                rejected_at: r.try_get(4)?,
            })
        })
    }

    /// Record a decision: gathered for the unit's commit, or written now outside one.
    pub fn record_decision(&self, d: &Decision, rules_version: &str) -> Result<()> {
        self.gather(|p| {
            p.decisions.push(DecisionLog {
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

    pub fn decisions(&self, kind: Option<&str>, subject: Option<(&str, &str)>) -> Result<Vec<DecisionRow>> {
        self.write_pending()?;
        let (sk, sid) = subject.map(|(k, i)| (Some(k), Some(i))).unwrap_or_default();
        self.all(
            "SELECT seq, kind, subject_kind, subject_id, rule_file, rule_fn, reason, detail, rules_version, event_id, at FROM decisions
             WHERE ($1::TEXT IS NULL OR kind = $1) AND ($2::TEXT IS NULL OR (subject_kind = $2 AND subject_id = $3)) ORDER BY seq",
            &[&kind, &sk, &sid],
            decision_row,
        )
    }

    pub fn record_rules_version(&self, version: &str, files_json: &str, loaded_at: &str) -> Result<()> {
        self.exec(
            "INSERT INTO rules_versions (version, files) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING",
            &[&version, &files_json],
        )?;
        if self.current_rules_version()?.is_some_and(|v| v.version == version && v.loaded_at == loaded_at) {
            return Ok(());
        }
        self.exec("INSERT INTO rules_loads (version, loaded_at) VALUES ($1, $2)", &[&version, &loaded_at])?;
        Ok(())
    }

    pub fn current_rules_version(&self) -> Result<Option<StoredVersion>> {
        self.one("SELECT version, loaded_at FROM rules_loads ORDER BY seq DESC LIMIT 1", &[], |r| {
            Ok(StoredVersion { version: r.try_get(0)?, loaded_at: r.try_get(1)? })
        })
    }

    /// Applied events about a deal, an account or a lead, in order. An id
    /// matches a JSON string equal to it (never a number), as SQLite's
    /// `json_extract(..) = ?1` does.
    pub fn events_about(&self, kind: &str, id: &str) -> Result<Vec<EventRow>> {
        let filter = match kind {
            "deal" => {
                "(type = 'deal.upserted' AND body::JSONB -> 'data' -> 'id' = to_jsonb($1::TEXT))
                 OR body::JSONB -> 'data' -> 'deal_id' = to_jsonb($1::TEXT)"
            }
            "account" => {
                "(type = 'account.upserted' AND body::JSONB -> 'data' -> 'id' = to_jsonb($1::TEXT))
                 OR body::JSONB -> 'data' -> 'account_id' = to_jsonb($1::TEXT)"
            }
            "lead" => "type = 'lead.created' AND body::JSONB -> 'data' -> 'id' = to_jsonb($1::TEXT)",
            _ => "FALSE AND $1::TEXT IS NULL",
        };
        self.write_pending()?;
        let sql = format!(
            "SELECT seq, id, type, at, source, line, rules_version, body FROM events WHERE {filter} ORDER BY seq"
        );
        self.all(&sql, &[&id], |r| {
            let body: serde_json::Value = serde_json::from_str(r.try_get(7)?).unwrap_or_default();
            Ok(EventRow {
                seq: r.try_get(0)?,
                id: r.try_get(1)?,
                kind: r.try_get(2)?,
                at: r.try_get(3)?,
                source: r.try_get(4)?,
                line: r.try_get(5)?,
                rules_version: r.try_get(6)?,
                data: body.get("data").cloned().unwrap_or_default(),
            })
        })
    }

    pub fn rules_version_files(&self, version: &str) -> Result<Option<Vec<(String, String)>>> {
        Ok(self
            .one("SELECT files FROM rules_versions WHERE version = $1", &[&version], |r| r.try_get::<_, String>(0))?
            .and_then(|f| serde_json::from_str(&f).ok()))
    }

    pub fn latest_event_at(&self) -> Result<Option<String>> {
        self.write_pending()?;
        Ok(self.one("SELECT MAX(at) FROM events", &[], |r| r.try_get(0))?.flatten())
    }

    pub fn event_history_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, String)>> {
        self.write_pending()?;
        self.all("SELECT seq, body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2", &[&after, &(limit as i64)], |r| {
            Ok((r.try_get(0)?, r.try_get(1)?))
        })
    }

    pub fn last_applied_at(&self) -> Result<Option<String>> {
        self.write_pending()?;
        self.one("SELECT at FROM events ORDER BY seq DESC LIMIT 1", &[], |r| r.try_get(0))
    }

    pub fn event_count(&self) -> Result<i64> {
        self.write_pending()?;
        Ok(self.one("SELECT COUNT(*) FROM events", &[], |r| r.try_get(0))?.unwrap_or(0))
    }
}

/// A `decisions` row read as `SELECT seq, kind, subject_kind, subject_id,
/// rule_file, rule_fn, reason, detail, rules_version, event_id, at`.
pub(super) fn decision_row(r: &postgres::Row) -> std::result::Result<DecisionRow, postgres::Error> {
    let file: Option<String> = r.try_get(4)?;
    let func: Option<String> = r.try_get(5)?;
    Ok(DecisionRow {
        seq: r.try_get(0)?,
        kind: r.try_get(1)?,
        subject_kind: r.try_get(2)?,
        subject_id: r.try_get(3)?,
        rule: file.zip(func).map(|(f, n)| format!("{f}::{n}")),
        reason: r.try_get(6)?,
        detail: serde_json::from_str(r.try_get(7)?).unwrap_or_default(),
        rules_version: r.try_get(8)?,
        event_id: r.try_get(9)?,
        at: r.try_get(10)?,
    })
}
