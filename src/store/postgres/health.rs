//! Rule health: rules that failed on the last events they ran on, per rules version.

use super::Postgres;
use crate::error::Result;
use crate::store::backend::RuleHealth;

impl Postgres {
    pub fn record_rule_health(&self, h: &RuleHealth) -> Result<()> {
        self.exec(
            "INSERT INTO rule_health (rules_version, rule, file, line, failures, last_error, last_event, quarantined_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (rules_version, rule) DO UPDATE SET
               file = excluded.file, line = excluded.line, failures = excluded.failures,
               last_error = excluded.last_error, last_event = excluded.last_event,
               quarantined_at = excluded.quarantined_at",
            &[&h.rules_version, &h.rule, &h.file, &h.line, &h.failures, &h.last_error, &h.last_event, &h.quarantined_at],
        )?;
        Ok(())
    }

    pub fn clear_rule_health(&self, rules_version: &str, rule: &str) -> Result<()> {
        self.exec("DELETE FROM rule_health WHERE rules_version = $1 AND rule = $2", &[&rules_version, &rule])?;
        Ok(())
    }

    /// The failing and quarantined rules of a rules version, quarantined first.
    pub fn rule_health(&self, rules_version: &str) -> Result<Vec<RuleHealth>> {
        self.all(
            "SELECT rules_version, rule, file, line, failures, last_error, last_event, quarantined_at
             FROM rule_health WHERE rules_version = $1
             ORDER BY quarantined_at IS NULL, file, line",
            &[&rules_version],
            |r| {
                Ok(RuleHealth {
                    rules_version: r.try_get(0)?,
                    rule: r.try_get(1)?,
                    file: r.try_get(2)?,
                    line: r.try_get(3)?,
                    failures: r.try_get(4)?,
                    last_error: r.try_get(5)?,
                    last_event: r.try_get(6)?,
                    quarantined_at: r.try_get(7)?,
                })
            },
        )
    }
}
