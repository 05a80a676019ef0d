//! Rule health: rules that failed on the last events they ran on, per rules
//! version. A rule that fails on `limits.quarantine_after` events in a row is
//! quarantined (it no longer runs) until a new rules version is loaded.

use rusqlite::params;

use super::{SqlContext, Sqlite};
use crate::error::Result;
use crate::store::backend::RuleHealth;

impl Sqlite {
    /// Record a rule's failure count (and quarantine, when set).
    pub fn record_rule_health(&self, h: &RuleHealth) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO rule_health (rules_version, rule, file, line, failures, last_error, last_event, quarantined_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(rules_version, rule) DO UPDATE SET
                   file = excluded.file, line = excluded.line, failures = excluded.failures,
                   last_error = excluded.last_error, last_event = excluded.last_event,
                   quarantined_at = excluded.quarantined_at",
            )
            .ctx(self)?
            .execute(params![
                h.rules_version,
                h.rule,
                h.file,
                h.line,
                h.failures,
                h.last_error,
                h.last_event,
                h.quarantined_at
            ])
            .ctx(self)?;
        Ok(())
    }

    /// A rule ran cleanly again: its failures are forgotten.
    pub fn clear_rule_health(&self, rules_version: &str, rule: &str) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM rule_health WHERE rules_version = ?1 AND rule = ?2")
            .ctx(self)?
            .execute(params![rules_version, rule])
            .ctx(self)?;
        Ok(())
    }

    /// The failing and quarantined rules of a rules version, quarantined first.
    /// Empty on a database from before rule health was kept.
    pub fn rule_health(&self, rules_version: &str) -> Result<Vec<RuleHealth>> {
        let exists = self
            .one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rule_health'", [], |_| Ok(()))?
            .is_some();
        if !exists {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT rules_version, rule, file, line, failures, last_error, last_event, quarantined_at
                 FROM rule_health WHERE rules_version = ?1
                 ORDER BY quarantined_at IS NULL, file, line",
            )
            .ctx(self)?;
        let rows = st
            .query_map([rules_version], |r| {
                Ok(RuleHealth {
                    rules_version: r.get(0)?,
                    rule: r.get(1)?,
                    file: r.get(2)?,
                    line: r.get(3)?,
                    failures: r.get(4)?,
                    last_error: r.get(5)?,
                    last_event: r.get(6)?,
                    quarantined_at: r.get(7)?,
                })
            })
            .ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(rule: &str, failures: i64, quarantined: bool) -> RuleHealth {
        RuleHealth {
            rules_version: "v1".into(),
            rule: rule.into(),
            file: "rules/t.rhai".into(),
            line: 3,
            failures,
            last_error: "rules/t.rhai:4:5: boom".into(),
            last_event: "e1".into(),
            quarantined_at: quarantined.then(|| "2026-01-01T00:00:00Z".into()),
        }
    }

    #[test]
    fn health_is_kept_per_version_updated_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open(&dir.path().join("t.db"), std::time::Duration::from_secs(1)).unwrap();
        store.record_rule_health(&health("task_a", 1, false)).unwrap();
        store.record_rule_health(&health("task_b", 5, true)).unwrap();
        store.record_rule_health(&health("task_a", 2, false)).unwrap();
        let rows = store.rule_health("v1").unwrap();
        assert_eq!(rows, vec![health("task_b", 5, true), health("task_a", 2, false)]);
        assert!(store.rule_health("v2").unwrap().is_empty());
        store.clear_rule_health("v1", "task_a").unwrap();
        assert_eq!(store.rule_health("v1").unwrap(), vec![health("task_b", 5, true)]);
    }
}
