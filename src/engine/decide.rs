//! Step two of an event: the rules decide. Stage rules first (a requested
//! move may be refused; an open deal may advance), then key-account rules,
//! then task rules. A rule that fails is logged with its location and the
//! others still run.

use crate::assign::Due;
use chrono::Datelike;
use rhai::Dynamic;
use serde_json::{Value, json};

use super::outcome::{self, Action, KeyOutcome, StageOutcome, TaskSpec};
use super::{Engine, Run, Trigger};
use crate::error::Result;
use crate::facts;
use crate::model::{Account, DecisionKind, NewTask, RuleRef, StageChange, Subject};
use crate::rules::{Fact, Facts, Rule, RuleError, RuleKind};
use crate::time::{self, stamp};

/// What a task is about when the rule does not say: the most specific thing
/// the rule asked for (a rule that reads only the account makes tasks about
/// the account, whatever the event was).
fn default_subject(rule: &Rule, t: &Trigger) -> Subject {
    let asked = |f| rule.params.contains(&f);
    match (&t.deal, &t.lead, &t.account) {
        (Some(d), _, _) if asked(Fact::Deal) => Subject::new("deal", d),
        (_, Some(l), _) if asked(Fact::Lead) => Subject::new("lead", l),
        (_, _, Some(a)) if asked(Fact::Account) => Subject::new("account", a),
        _ => t.subject(),
    }
}

/// Whether moving a deal from `from` to `to` reopens it: closed to open.
fn reopening(pipeline: &crate::config::Pipeline, from: &str, to: &str) -> bool {
    pipeline.is_closed(from) && !pipeline.is_closed(to)
}

/// Tasks are due this many business days after the event unless the rule says otherwise.
pub const DEFAULT_DUE_BUSINESS_DAYS: i64 = 2;

impl Engine<'_> {
    /// Facts for the rules of `kind`, read fresh (earlier steps may have
    /// changed them), and only those that some rule of the kind asks for.
    fn facts(&self, t: &Trigger, requested: Option<&str>, rules: &[&Rule], run: &mut Run) -> Result<Facts> {
        let needs = |fact| rules.iter().any(|r| r.params.contains(&fact));
        let mut f = Facts::default();
        if needs(Fact::Event) {
            f.event = match run.cache.event(&t.id) {
                Some(hit) => hit,
                None => {
                    let v = facts::event(&t.id, &t.kind, t.at, &t.data);
                    run.cache.keep_event(&t.id, &v);
                    v
                }
            };
        }
        if let Some(id) = t.account.as_ref().filter(|_| needs(Fact::Account)) {
            f.account = match run.cache.account(id) {
                Some(hit) => Some(hit),
                None => match self.store.shared_account(id)? {
                    Some(a) => {
                        let stats = self.store.account_stats(&a, &time::year_before(t.at), &stamp(t.at))?;
                        let v = facts::account(&a, &stats, t.at);
                        run.cache.keep_account(id, &v);
                        Some(v)
                    }
                    None => None,
                },
            };
        }
        if let Some(id) = t.deal.as_ref().filter(|_| needs(Fact::Deal)) {
            f.deal = match run.cache.deal(id, requested) {
                Some(hit) => Some(hit),
                None => match self.store.shared_deal(id)? {
                    Some(d) => {
                        let stats = self.store.deal_stats(id)?;
                        let v = facts::deal(&d, &stats, &self.config.pipeline, requested, t.at);
                        run.cache.keep_deal(id, requested, &v);
                        Some(v)
                    }
                    None => None,
                },
            };
        }
        if let Some(id) = t.lead.as_ref().filter(|_| needs(Fact::Lead))
            && let Some(l) = self.store.lead(id)?
        {
            f.lead = Some(facts::lead(&l));
        }
        if let Some(id) = t.contact.as_ref().filter(|_| needs(Fact::Contact))
            && let Some(c) = self.store.contact(id)?
        {
            f.contact = Some(facts::contact(&c));
        }
        Ok(f)
    }

    /// Run `rules` (except quarantined ones), logging failures; returns each rule's value.
    fn run_rules<'r>(
        &self,
        rules: &[&'r Rule],
        f: &Facts,
        t: &Trigger,
        run: &mut Run,
    ) -> Result<Vec<(&'r Rule, Dynamic)>> {
        let mut out = Vec::new();
        for &rule in rules {
            if self.rules.is_quarantined(rule) {
                continue;
            }
            let max_tasks = self.config.limits.tasks_per_event();
            match crate::rules::with_task_limit(max_tasks, || self.rules.call(rule, f)) {
                (None, _) => {}
                (Some(Ok(v)), _) => {
                    run.ran.push(rule.slot);
                    out.push((rule, v))
                }
                (Some(Err(mut e)), over) => {
                    if over {
                        // Said as what it is, with the rule's name (the place is its `task(...)` call).
                        e.at.message = format!("{}: {}", rule.name, crate::rules::too_many_tasks(max_tasks));
                    }
                    self.rule_failed(&e, t, run)?
                }
            }
        }
        Ok(out)
    }

    fn rule_failed(&self, e: &RuleError, t: &Trigger, run: &mut Run) -> Result<()> {
        tracing::debug!("event {}: {}", t.id, e.at);
        run.counts.rule_errors += 1;
        run.failures.push(super::RuleFailure { at: e.at.clone(), event_id: t.id.clone(), slot: e.slot });
        let detail = json!({"file": e.at.file, "line": e.at.line, "col": e.at.col, "message": e.at.message});
        self.log(DecisionKind::RuleError, t.subject(), Some(e.rule.clone()), &e.at.to_string(), detail, t)
    }

    /// A rule returned something of the wrong shape: an error located at the rule.
    fn bad_return(&self, rule: &Rule, message: String, t: &Trigger, run: &mut Run) -> Result<()> {
        let at = crate::error::Located::new(&rule.file, rule.line, 1, format!("{}: {message}", rule.name));
        self.rule_failed(&RuleError { rule: rule.reference(), slot: rule.slot, at }, t, run)
    }

    pub(super) fn decide_stage(&self, t: &Trigger, deal_id: &str, run: &mut Run) -> Result<()> {
        let Some(deal) = self.store.shared_deal(deal_id)? else {
            return Ok(());
        };
        let requested = t.requested_stage.as_deref();
        if requested.is_none() && self.config.pipeline.is_closed(&deal.stage) {
            return Ok(());
        }
        let rules: Vec<&Rule> = self.rules.rules(RuleKind::Stage).collect();
        let f = self.facts(t, requested, &rules, run)?;
        let mut first_move: Option<(&Rule, String, String)> = None;
        let mut refusal: Option<(&Rule, String)> = None;
        for (rule, v) in self.run_rules(&rules, &f, t, run)? {
            match outcome::stage(&v) {
                Ok(Some(StageOutcome::Refuse { reason })) => {
                    refusal.get_or_insert((rule, reason));
                }
                // `move_to` names a stage, or the part a stage plays ([pipeline.parts]), as `stage()` does.
                Ok(Some(StageOutcome::Move { stage, reason })) => match self.config.pipeline.resolve(&stage) {
                    None => {
                        let message = format!(
                            "move_to({stage:?}): neither a stage of the pipeline nor a part in [pipeline.parts]"
                        );
                        self.bad_return(rule, message, t, run)?;
                    }
                    Some(stage) if stage != deal.stage && first_move.is_none() => {
                        first_move = Some((rule, stage.to_string(), reason));
                    }
                    Some(_) => {}
                },
                Ok(None) => {}
                Err(msg) => self.bad_return(rule, msg, t, run)?,
            }
        }
        match (requested, refusal) {
            (Some(to), Some((rule, reason))) => {
                run.counts.refused_moves += 1;
                let mut detail = json!({"from": deal.stage, "requested": to});
                if reopening(&self.config.pipeline, &deal.stage, to) {
                    detail["reopening"] = json!(true);
                }
                self.log(
                    DecisionKind::StageRefused,
                    Subject::new("deal", deal_id),
                    Some(rule.reference()),
                    &reason,
                    detail,
                    t,
                )?;
                let data = serde_json::Map::from_iter([
                    ("deal_id".to_string(), json!(deal.id)),
                    ("account_id".to_string(), json!(deal.account_id)),
                    ("stage".to_string(), json!(deal.stage)),
                    ("requested".to_string(), json!(to)),
                    ("reason".to_string(), json!(reason)),
                    ("rule".to_string(), json!(rule.reference().to_string())),
                ]);
                let mut next = Trigger::new("", "deal.move_refused", t.at, data);
                next.by = Some(rule.reference());
                next.deal = Some(deal.id.clone());
                next.account = Some(deal.account_id.clone());
                run.push(next);
                Ok(())
            }
            (Some(to), None) => self.move_deal(t, &deal, to, None, "requested by the event", run),
            (None, _) => match first_move {
                Some((rule, to, reason)) => self.move_deal(t, &deal, &to, Some(rule.reference()), &reason, run),
                None => Ok(()),
            },
        }
    }

    fn move_deal(
        &self,
        t: &Trigger,
        deal: &crate::model::Deal,
        to: &str,
        rule: Option<RuleRef>,
        reason: &str,
        run: &mut Run,
    ) -> Result<()> {
        let mut deal = deal.clone();
        let pipeline = &self.config.pipeline;
        let at = stamp(t.at);
        // A closed deal back in an open stage starts a new life. A move from
        // one closed stage to another (lost -> won) is not a reopen: the deal
        // never comes back into the pipeline, so nothing of an open deal's
        // work is due again; it is the CRM correcting how the deal ended, a
        // plain stage move whose reactions (the won order to process) follow.
        let reopened = reopening(pipeline, &deal.stage, to);
        if reopened {
            deal.life += 1;
            deal.life_started_at = Some(at.clone());
        }
        let from = std::mem::replace(&mut deal.stage, to.to_string());
        deal.stage_entered_at = at.clone();
        deal.closed_at = pipeline.is_closed(to).then(|| at.clone());
        self.store.save_deal(&deal, !pipeline.is_closed(to), pipeline.is_won(to), &at)?;
        run.cache.changed();
        let rule_name = rule.as_ref().map(|r| r.to_string());
        self.store.record_stage_change(&StageChange {
            deal_id: &deal.id,
            from: Some(&from),
            to,
            at: &at,
            event_id: &t.id,
            rule: rule_name.as_deref(),
            reason,
        })?;
        run.counts.stage_moves += 1;
        // A closed deal needs no more work from before: what the close itself
        // asks for (an order to process, say) comes from the reactions below.
        let mut detail = json!({"from": from, "to": to});
        if pipeline.is_closed(to) && !pipeline.is_closed(&from) {
            let outcome = format!("the deal was closed ({to})");
            let cancelled = self.store.cancel_open_tasks_about(&Subject::new("deal", &deal.id), None, &outcome, &at)?;
            if cancelled > 0 {
                detail["cancelled_tasks"] = json!(cancelled);
            }
        }
        if reopened {
            self.reopen(t, &deal, &from, rule.as_ref(), reason, run)?;
        }
        self.log(DecisionKind::StageMove, Subject::new("deal", &deal.id), rule.clone(), reason, detail, t)?;
        let data = [("from", json!(from)), ("to", json!(to)), ("reason", json!(reason)), ("rule", json!(rule_name))];
        run.push(deal_change("deal.stage_changed", t, &deal, data, rule));
        Ok(())
    }

    /// Record a reopen as a decision of its own and queue `deal.reopened`
    /// for task rules (before the `deal.stage_changed` of the same move).
    /// `deal` is the deal as the move left it: its new stage, its new life.
    fn reopen(
        &self,
        t: &Trigger,
        deal: &crate::model::Deal,
        from: &str,
        rule: Option<&RuleRef>,
        reason: &str,
        run: &mut Run,
    ) -> Result<()> {
        run.counts.deals_reopened += 1;
        let to = &deal.stage;
        let why = match rule {
            None => format!("reopened from {from} by the event"),
            Some(_) => format!("reopened from {from}: {reason}"),
        };
        let detail = json!({"from": from, "to": to, "life": deal.life});
        self.log(DecisionKind::DealReopened, Subject::new("deal", &deal.id), rule.cloned(), &why, detail, t)?;
        let data = [
            ("from", json!(from)),
            ("to", json!(to)),
            ("life", json!(deal.life)),
            ("reason", json!(why)),
            ("rule", json!(rule.map(ToString::to_string))),
        ];
        let next = deal_change("deal.reopened", t, deal, data, rule.cloned());
        run.push(Trigger { tasks_only: true, ..next });
        Ok(())
    }

    pub(super) fn decide_key(&self, t: &Trigger, account_id: &str, run: &mut Run) -> Result<()> {
        let Some(account) = self.store.shared_account(account_id)? else {
            return Ok(());
        };
        let rules: Vec<&Rule> = self.rules.rules(RuleKind::Key).collect();
        let f = self.facts(t, None, &rules, run)?;
        let mut yes: Option<(&Rule, String)> = None;
        let mut veto: Option<(&Rule, String)> = None;
        for (rule, v) in self.run_rules(&rules, &f, t, run)? {
            match outcome::key(&v) {
                Ok(Some(KeyOutcome::Key(r))) => {
                    yes.get_or_insert((rule, r));
                }
                Ok(Some(KeyOutcome::NotKey(r))) => {
                    veto.get_or_insert((rule, r));
                }
                Ok(None) => {}
                Err(msg) => self.bad_return(rule, msg, t, run)?,
            }
        }
        let is_key = yes.is_some() && veto.is_none();
        if is_key == account.is_key {
            // Still key: keep the reason current (it shows in listings and explain).
            if let (true, Some((_, reason))) = (is_key, &yes)
                && account.key_reason.as_deref() != Some(reason)
            {
                let mut account = Account::clone(&account);
                account.key_reason = Some(reason.clone());
                self.store.save_account(&account, &stamp(t.at))?;
                run.cache.changed();
            }
            return Ok(());
        }
        let (rule, reason) = match (is_key, veto, yes) {
            (true, _, Some((r, why))) | (false, Some((r, why)), _) => (Some(r.reference()), why),
            _ => (None, "no key-account rule holds any more".to_string()),
        };
        let at = stamp(t.at);
        let mut account = Account::clone(&account);
        account.is_key = is_key;
        account.key_since = is_key.then(|| at.clone());
        account.key_reason = is_key.then(|| reason.clone());
        self.store.save_account(&account, &at)?;
        // A hand-over that waited for a role is the rules' to ask for again.
        self.store.drop_waiting_handover(account_id)?;
        run.cache.changed();
        run.counts.key_account_changes += 1;
        let (kind, event) = if is_key {
            (DecisionKind::BecameKey, "account.became_key")
        } else {
            (DecisionKind::LostKey, "account.lost_key")
        };
        self.log(kind, Subject::new("account", account_id), rule.clone(), &reason, Value::Null, t)?;
        let data = serde_json::Map::from_iter([
            ("account_id".to_string(), json!(account_id)),
            ("reason".to_string(), json!(reason)),
        ]);
        let mut next = Trigger::new("", event, t.at, data.clone());
        next.account = Some(account_id.to_string());
        next.by = rule.clone();
        run.push(next);
        for child in self.store.child_accounts(account_id)? {
            let mut c = Trigger::new("", "account.parent_key_changed", t.at, data.clone());
            c.data.insert("parent_is_key".into(), json!(is_key));
            c.account = Some(child);
            c.by = rule.clone();
            run.push(c);
        }
        Ok(())
    }

    pub(super) fn decide_tasks(&self, t: &Trigger, run: &mut Run) -> Result<()> {
        // Only the rules that can act on this type of event, and only the facts they read.
        let rules = self.rules.task_rules_for(&t.kind);
        if rules.is_empty() {
            return Ok(());
        }
        let f = self.facts(t, t.requested_stage.as_deref(), &rules, run)?;
        let mut actions = Vec::new();
        let max_tasks = self.config.limits.tasks_per_event();
        for (rule, v) in self.run_rules(&rules, &f, t, run)? {
            match outcome::actions(&v) {
                // A list built by hand, or by a guard, is held to the limit too: none of it is made.
                Ok(list) if list.iter().filter(|a| matches!(a, Action::Task(_))).count() > max_tasks => {
                    self.bad_return(rule, crate::rules::too_many_tasks(max_tasks), t, run)?
                }
                Ok(list) => actions.extend(list.into_iter().map(|a| (rule, a))),
                Err(msg) => self.bad_return(rule, msg, t, run)?,
            }
        }
        // Handovers first, so tasks of the same reaction reach the new owner.
        actions.sort_by_key(|(_, a)| !matches!(a, Action::Handover { .. }));
        let mut keys = std::collections::HashSet::new();
        for (rule, action) in actions {
            let result = match action {
                Action::Handover { role, reason, close_open_tasks } => {
                    self.hand_over(t, rule, &role, &reason, close_open_tasks, run)
                }
                Action::Task(_) if self.tasks_since.is_some_and(|since| t.at < since) => {
                    run.counts.tasks_skipped_as_history += 1;
                    Ok(Ok(()))
                }
                Action::Task(spec) => self.create_task(t, rule, spec, &mut keys, run),
            };
            if let Err(msg) = result? {
                self.bad_return(rule, msg, t, run)?;
            }
        }
        Ok(())
    }

    /// The task's dedup key: rule, role, subject; the deal's life from its
    /// second on (a reopened deal gets fresh follow-ups; keys of a first
    /// life read as they always did); the episode of a time event
    /// (its `since`), so a condition that ends and comes back fires again; the
    /// `every_days` bucket, so a condition that holds fires every N days; and
    /// the rule's own `dedup` text.
    fn dedup_key(
        &self,
        t: &Trigger,
        rule: &Rule,
        spec: &TaskSpec,
        subject: &Subject,
        deal_life: Option<i64>,
        today: chrono::NaiveDate,
    ) -> std::result::Result<String, String> {
        let mut key = format!("{}:{}:{}:{}", rule.name, spec.role, subject.kind, subject.id);
        if let Some(life) = deal_life.filter(|l| *l > 1 && subject.kind == "deal") {
            key.push_str(&format!(":life {life}"));
        }
        // The episode counts only for rules that read the event: a rule about
        // state alone (say, a key account without an executive) fires once.
        let since = Some(t)
            .filter(|_| rule.params.contains(&Fact::Event))
            .and_then(|t| t.data.get("since"))
            .and_then(Value::as_str)
            .and_then(crate::event::parse_date);
        if let Some(since) = since {
            key.push_str(&format!(":since {since}"));
        }
        if let Some(every) = spec.every_days {
            if every < 1 {
                return Err(format!("every_days must be at least 1, got {every}"));
            }
            let anchor = since.unwrap_or(chrono::NaiveDate::MIN);
            let bucket = (today - anchor).num_days().div_euclid(every);
            key.push_str(&format!(":every {every} #{bucket}"));
        }
        if let Some(extra) = &spec.dedup {
            key.push_str(&format!(":{extra}"));
        }
        Ok(key)
    }

    fn create_task(
        &self,
        t: &Trigger,
        rule: &Rule,
        spec: TaskSpec,
        keys: &mut std::collections::HashSet<String>,
        run: &mut Run,
    ) -> Result<std::result::Result<(), String>> {
        if !self.config.has_role(&spec.role) {
            let h = crate::error::hint(&spec.role, self.config.roles.keys().map(String::as_str));
            return Ok(Err(format!("task role {:?} is not a role of config.toml{h}", spec.role)));
        }
        let subject = match spec.about.as_deref() {
            None => default_subject(rule, t),
            Some("deal") => match &t.deal {
                Some(d) => Subject::new("deal", d),
                None => {
                    return Ok(Err("task about a deal, but this event is not about one".into()));
                }
            },
            Some("account") => match &t.account {
                Some(a) => Subject::new("account", a),
                None => {
                    return Ok(Err("task about an account, but this event is not about one".into()));
                }
            },
            Some("lead") => match &t.lead {
                Some(l) => Subject::new("lead", l),
                None => {
                    return Ok(Err("task about a lead, but this event is not about one".into()));
                }
            },
            Some(other) => {
                return Ok(Err(format!("about: {other:?} is not one of deal, account, lead")));
            }
        };
        if subject.kind == "event" {
            return Ok(Err("a task must be about a deal, an account or a lead, and this event is about none".into()));
        }
        let today = t.at.date_naive();
        let asked = match (&spec.due, spec.due_in_days) {
            (Some(d), _) => match crate::event::parse_date(d) {
                Some(date) => Due::On(date),
                None => return Ok(Err(format!("due {d:?} is not a date"))),
            },
            (None, Some(n)) => Due::InDays(n),
            (None, None) => Due::InDays(DEFAULT_DUE_BUSINESS_DAYS),
        };
        if let Err(msg) = due_in_range(crate::assign::due_for(self.config, None, today, asked)) {
            return Ok(Err(msg));
        }
        let deal = match &t.deal {
            Some(d) => self.store.shared_deal(d)?,
            None => None,
        };
        let dedup_key = match self.dedup_key(t, rule, &spec, &subject, deal.as_ref().map(|d| d.life), today) {
            Ok(k) => k,
            Err(msg) => return Ok(Err(msg)),
        };
        if !keys.insert(dedup_key.clone()) {
            return Ok(Err(format!(
                "returned two {} tasks about {subject} that cannot be told apart (\"{}\"): give each a different `dedup`",
                spec.role, spec.title
            )));
        }
        // Known already: nothing to create, and no round-robin turn spent on it.
        if self.store.task_key_exists(&dedup_key)? {
            return Ok(Ok(()));
        }
        let deal_owner = deal.as_ref().and_then(|d| d.owner.clone());
        let account = match &t.account {
            Some(a) => self.store.shared_account(a)?,
            None => None,
        };
        let lead = match &t.lead {
            Some(l) => self.store.lead(l)?,
            None => None,
        };
        let lead_field = |key: &str| lead.as_ref().and_then(|l| l.data.get(key).and_then(Value::as_str));
        let region =
            account.as_ref().and_then(|a| a.data.get("region").and_then(Value::as_str)).or(lead_field("region"));
        // The most specific owner first: the deal's, the lead's (the rep the CRM gave it), the account's.
        let owners = [deal_owner.as_deref(), lead_field("owner"), account.as_ref().and_then(|a| a.owner.as_deref())];
        let need = crate::assign::Need {
            role: &spec.role,
            named: spec.assignee.as_deref(),
            owners: &owners,
            region,
            today,
            due: asked,
        };
        let assigned = match crate::assign::assignee(self.config, self.store, &need)? {
            Ok(a) => a,
            Err(msg) => return Ok(Err(msg)),
        };
        if let Err(msg) = due_in_range(assigned.due) {
            return Ok(Err(msg));
        }
        let reason = spec
            .reason
            .clone()
            .unwrap_or_else(|| if rule.doc.is_empty() { rule.name.clone() } else { rule.doc.clone() });
        let task = NewTask {
            role: spec.role,
            assignee: assigned.who,
            title: spec.title,
            priority: spec.priority,
            due_at: assigned.due.to_string(),
            subject: subject.clone(),
            rule: rule.reference(),
            reason: reason.clone(),
            dedup_key,
        };
        if let Some(id) = self.store.create_task(&task, &self.rules.version, &t.id, &stamp(t.at))? {
            run.counts.tasks_created += 1;
            let detail = json!({
                "task_id": id,
                "role": task.role,
                "assignee": task.assignee,
                "title": task.title,
                "assignment": assigned.why,
            });
            self.log(DecisionKind::TaskCreated, subject, Some(rule.reference()), &reason, detail, t)?;
        }
        Ok(Ok(()))
    }
}

/// Due dates are ordered as text (the queue, `tasks`): a 4-digit year only.
fn due_in_range(due: chrono::NaiveDate) -> std::result::Result<(), String> {
    if (crate::event::FIRST_YEAR..=9999).contains(&due.year()) {
        return Ok(());
    }
    Err(format!(
        "due date {due} is out of range: tasks are due between the years {} and 9999",
        crate::event::FIRST_YEAR
    ))
}

/// A change to a deal, for the rules to react to: its id and account, then `data`.
fn deal_change<const N: usize>(
    kind: &str,
    cause: &Trigger,
    deal: &crate::model::Deal,
    data: [(&str, serde_json::Value); N],
    by: Option<RuleRef>,
) -> Trigger {
    let mut fields = serde_json::Map::from_iter([
        ("deal_id".to_string(), json!(deal.id)),
        ("account_id".to_string(), json!(deal.account_id)),
    ]);
    fields.extend(data.into_iter().map(|(k, v)| (k.to_string(), v)));
    let mut next = Trigger::new("", kind, cause.at, fields);
    next.deal = Some(deal.id.clone());
    next.account = Some(deal.account_id.clone());
    next.by = by;
    next
}
