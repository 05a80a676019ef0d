//! After each event, the health of the rules that ran on it: a rule that
//! failed counts one more event in a row (however often it failed on it), a
//! rule that only ran cleanly forgets its failures. At
//! `limits.quarantine_after` events in a row the rule is quarantined: it does
//! not run again for this rules version, and the decision log says so.
//!
//! The count is per event, not per call, because some failures (a wrong
//! return value) show only after the call returned.

use serde_json::json;

use super::{Engine, Run};
use crate::error::Result;
use crate::model::{Decision, DecisionKind, Subject};
use crate::store::RuleHealth;

impl Engine<'_> {
    pub(super) fn settle_health(&self, at: &str, run: &mut Run) -> Result<()> {
        let limit = self.config.limits.quarantine_after;
        let version = &self.rules.version;
        let mut failed: Vec<usize> = Vec::new();
        // The latest failure of each rule is the one kept.
        for f in run.failures.iter().rev() {
            if failed.contains(&f.slot) {
                continue;
            }
            failed.push(f.slot);
            let Some(rule) = self.rules.rule(f.slot) else { continue };
            let (failures, quarantined) = self.rules.failed_on_event(f.slot, limit);
            self.store.record_rule_health(&RuleHealth {
                rules_version: version.clone(),
                rule: rule.name.clone(),
                file: rule.file.clone(),
                line: rule.line as i64,
                failures: i64::from(failures),
                last_error: f.at.to_string(),
                last_event: f.event_id.clone(),
                quarantined_at: self.rules.is_quarantined(rule).then(|| at.to_string()),
            })?;
            if quarantined {
                run.counts.rules_quarantined += 1;
                let reason = format!(
                    "{} failed on {failures} events in a row and is quarantined: it does not run until the rules change (last error: {})",
                    rule.name, f.at
                );
                tracing::warn!("{reason}");
                self.store.record_decision(
                    &Decision {
                        kind: DecisionKind::RuleQuarantined,
                        subject: Subject::new("rule", &rule.name),
                        rule: Some(rule.reference()),
                        reason,
                        detail: json!({"failures": failures, "last_error": f.at.to_string()}),
                        event_id: f.event_id.clone(),
                        at: at.to_string(),
                    },
                    version,
                )?;
            }
        }
        run.ran.sort_unstable();
        run.ran.dedup();
        for &slot in &run.ran {
            if !failed.contains(&slot)
                && self.rules.clean_on_event(slot)
                && let Some(rule) = self.rules.rule(slot)
            {
                self.store.clear_rule_health(version, &rule.name)?;
            }
        }
        Ok(())
    }
}
