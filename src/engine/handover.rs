//! Hand-overs: a task rule's `handover(role, reason)` gives the event's
//! account to someone of `role`, chosen by the role's strategy in the
//! account's region. When nobody active has the role (everyone of it away,
//! or nobody hired yet), that is a gap in the roster, not a fault of the
//! rule: the account keeps its owner and waits for the role (shown by
//! `status` and `accounts`), and the hand-over is done at the start of the
//! next command that applies events once the team has someone of the role
//! ([`Engine::complete_waiting_handovers`]). A change of the account's key
//! status withdraws a waiting hand-over: the rules decide again.

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::{Engine, Run, Trigger};
use crate::assign::Why;
use crate::error::Result;
use crate::model::{Account, Decision, DecisionKind, RuleRef, Subject};
use crate::rules::Rule;
use crate::store::WaitingHandover;
use crate::time::stamp;

/// A hand-over to make: to whom, why, by which rule, on which event, when.
struct Handing<'a> {
    role: &'a str,
    to: String,
    reason: &'a str,
    rule: RuleRef,
    close_open_tasks: bool,
    event_id: &'a str,
    at: &'a str,
    /// Why them.
    why: Why,
}

impl Engine<'_> {
    pub(super) fn hand_over(
        &self,
        t: &Trigger,
        rule: &Rule,
        role: &str,
        reason: &str,
        close_open_tasks: bool,
        run: &mut Run,
    ) -> Result<std::result::Result<(), String>> {
        if !self.config.has_role(role) {
            return Ok(Err(format!("handover({role:?}): not a role of config.toml")));
        }
        let Some(account_id) = &t.account else {
            return Ok(Err("handover() needs an account: this event is not about one".into()));
        };
        let Some(account) = self.store.account(account_id)? else {
            return Ok(Ok(()));
        };
        if account
            .owner
            .as_deref()
            .and_then(|o| self.config.find_person(o))
            .is_some_and(|p| p.has_role(role) && p.active)
        {
            self.store.drop_waiting_handover(account_id)?;
            return Ok(Ok(()));
        }
        let at = stamp(t.at);
        let Some((to, why)) = self.new_owner_of(&account, role, t.at.date_naive())? else {
            let w = WaitingHandover {
                account_id: account_id.clone(),
                role: role.to_string(),
                reason: reason.to_string(),
                rule: rule.reference(),
                close_open_tasks,
                since: at,
                event_id: t.id.clone(),
            };
            self.store.save_waiting_handover(&w)?;
            let why = format!(
                "waits for {}: nobody of that role in the team roster is active and in; it is handed over once someone is ({reason})",
                crate::assign::a_role(role)
            );
            let detail = json!({"role": role, "owner": account.owner});
            return self
                .log(DecisionKind::HandoverWaiting, Subject::new("account", account_id), Some(w.rule), &why, detail, t)
                .map(Ok);
        };
        let handing =
            Handing { role, to, reason, rule: rule.reference(), close_open_tasks, event_id: &t.id, at: &at, why };
        self.give(account, &handing)?;
        run.cache.changed();
        run.counts.owner_changes += 1;
        Ok(Ok(()))
    }

    /// Who of `role` takes the account, in its region first (`None`: nobody active has the role).
    fn new_owner_of(&self, account: &Account, role: &str, today: NaiveDate) -> Result<Option<(String, Why)>> {
        let region = account.data.get("region").and_then(Value::as_str);
        crate::assign::new_owner(self.config, self.store, role, region, today)
    }

    /// Give the account to its new owner: close the previous owner's open
    /// tasks about it if asked, log it, and end any wait.
    fn give(&self, mut account: Account, h: &Handing) -> Result<()> {
        let from = account.owner.replace(h.to.clone());
        self.store.save_account(&account, h.at)?;
        self.store.drop_waiting_handover(&account.id)?;
        let subject = Subject::new("account", &account.id);
        let closed = match (&from, h.close_open_tasks) {
            (Some(previous), true) => {
                let outcome = format!("the account was handed over to {}", self.config.person_label(&h.to));
                self.store.cancel_open_tasks_about(&subject, Some(previous), &outcome, h.at)?
            }
            _ => 0,
        };
        let detail = json!({"from": from, "to": h.to, "role": h.role, "closed_tasks": closed, "assignment": h.why});
        let d = Decision {
            kind: DecisionKind::OwnerChanged,
            subject,
            rule: Some(h.rule.clone()),
            reason: h.reason.to_string(),
            detail,
            event_id: h.event_id.to_string(),
            at: h.at.to_string(),
        };
        self.store.record_decision(&d, &self.rules.version)
    }

    /// Do the hand-overs that waited for a role the team now has someone
    /// of; the role's open tasks about the account that waited in the queue
    /// go to the new owner when the role assigns by owner. Returns how many
    /// accounts were handed over.
    pub fn complete_waiting_handovers(&self, today: NaiveDate) -> Result<usize> {
        let mut done = 0;
        for w in self.store.waiting_handovers()? {
            let Some(account) = self.store.account(&w.account_id)? else {
                self.store.drop_waiting_handover(&w.account_id)?;
                continue;
            };
            let Some((to, why)) = self.new_owner_of(&account, &w.role, today)? else { continue };
            let reason = format!("{} (waited since {} for {})", w.reason, w.since, crate::assign::a_role(&w.role));
            let at = crate::time::now_stamp();
            let handing = Handing {
                role: &w.role,
                to: to.clone(),
                reason: &reason,
                rule: w.rule.clone(),
                close_open_tasks: w.close_open_tasks,
                event_id: &w.event_id,
                at: &at,
                why,
            };
            self.give(account, &handing)?;
            let by_owner = self.config.roles.get(&w.role).is_some_and(|r| r.assign == crate::config::Strategy::Owner);
            if by_owner {
                self.store.assign_queued_tasks_about(&Subject::new("account", &w.account_id), &w.role, &to)?;
            }
            done += 1;
        }
        Ok(done)
    }
}
