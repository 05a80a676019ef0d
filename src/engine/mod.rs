//! The engine applies one event as one unit: update the state, then let the
//! rules decide (stage moves, key-account status, tasks), then store the
//! decisions. Decisions are themselves things rules react to
//! (`deal.stage_changed`, `deal.reopened`, `account.became_key`, `account.lost_key`,
//! `account.parent_key_changed`): they queue further reactions, up to
//! `limits.max_chain` per subject and event, past which the engine reports
//! a loop instead of spinning (see [`chain`]).

mod chain;
mod clock;
mod decide;
mod fact_cache;
mod handover;
mod health;
mod outcome;
mod rebalance;
mod sweeps;
mod update;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::Result;
use crate::event::Event;
use crate::model::{Decision, DecisionKind, Subject};
use crate::rules::RuleSet;
use crate::store::Store;
use crate::time::stamp;

/// What applying events did, added up.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub applied: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub tasks_created: u64,
    pub stage_moves: u64,
    pub refused_moves: u64,
    /// Closed deals taken back to an open stage (each also counts as a stage move).
    pub deals_reopened: u64,
    pub key_account_changes: u64,
    pub owner_changes: u64,
    /// Tasks rules asked for on events older than `tasks_since`: not made.
    pub tasks_skipped_as_history: u64,
    pub rule_errors: u64,
    /// Rules quarantined: they failed on `limits.quarantine_after` events in a row.
    pub rules_quarantined: u64,
    pub loops_stopped: u64,
    /// Open tasks nobody had claimed that moved to someone else (or were
    /// kept for someone away, due later): see `Engine::rebalance`.
    #[serde(skip_serializing_if = "is_zero")]
    pub tasks_moved: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.applied += o.applied;
        self.duplicates += o.duplicates;
        self.rejected += o.rejected;
        self.tasks_created += o.tasks_created;
        self.stage_moves += o.stage_moves;
        self.refused_moves += o.refused_moves;
        self.deals_reopened += o.deals_reopened;
        self.key_account_changes += o.key_account_changes;
        self.owner_changes += o.owner_changes;
        self.tasks_skipped_as_history += o.tasks_skipped_as_history;
        self.rule_errors += o.rule_errors;
        self.rules_quarantined += o.rules_quarantined;
        self.loops_stopped += o.loops_stopped;
        self.tasks_moved += o.tasks_moved;
    }
}

/// What a key-account rule's value says: `Some((true, reason))` for key,
/// `Some((false, reason))` for not key, `None` for nothing.
pub fn key_outcome(v: &rhai::Dynamic) -> std::result::Result<Option<(bool, String)>, String> {
    Ok(match outcome::key(v)? {
        Some(outcome::KeyOutcome::Key(r)) => Some((true, r)),
        Some(outcome::KeyOutcome::NotKey(r)) => Some((false, r)),
        None => None,
    })
}

/// What a stage rule's value says: `Some((Some(stage), reason))` for a move,
/// `Some((None, reason))` for a refusal, `None` for nothing.
pub fn stage_outcome(v: &rhai::Dynamic) -> std::result::Result<Option<(Option<String>, String)>, String> {
    Ok(match outcome::stage(v)? {
        Some(outcome::StageOutcome::Move { stage, reason }) => Some((Some(stage), reason)),
        Some(outcome::StageOutcome::Refuse { reason }) => Some((None, reason)),
        None => None,
    })
}

/// A rule that failed on an event: where, what, and on which event.
#[derive(Debug, Clone, Serialize)]
pub struct RuleFailure {
    pub at: crate::error::Located,
    pub event_id: String,
    /// The rule's place in its rule set.
    #[serde(skip)]
    pub slot: usize,
}

/// The result of applying one event.
#[derive(Debug)]
pub enum Applied {
    Done(Counts, Vec<RuleFailure>),
    /// Its id was applied before, with the same content: skipped.
    Duplicate,
    /// Valid JSON, but not applicable (an unknown stage, an unknown task): nothing was changed.
    Rejected(String),
}

/// Something rules react to: the input event, or a change a decision made.
#[derive(Debug, Clone)]
struct Trigger {
    id: String,
    kind: String,
    at: DateTime<Utc>,
    data: Map<String, Value>,
    account: Option<String>,
    deal: Option<String>,
    lead: Option<String>,
    contact: Option<String>,
    /// The stage a `deal.upserted` asked for.
    requested_stage: Option<String>,
    /// Only task rules react: a time event from the clock (nothing about
    /// the deal or account changed), or `deal.reopened` (the stage and
    /// key-account rules react to the same move's `deal.stage_changed`).
    tasks_only: bool,
    /// The rule whose decision this is a reaction to (`None`: the event itself, or no rule).
    by: Option<crate::model::RuleRef>,
}

impl Trigger {
    fn new(id: &str, kind: &str, at: DateTime<Utc>, data: Map<String, Value>) -> Trigger {
        Trigger {
            id: id.to_string(),
            kind: kind.to_string(),
            at,
            data,
            account: None,
            deal: None,
            lead: None,
            contact: None,
            requested_stage: None,
            tasks_only: false,
            by: None,
        }
    }

    /// What decisions about this trigger are filed under.
    fn subject(&self) -> Subject {
        if let Some(d) = &self.deal {
            Subject::new("deal", d)
        } else if let Some(l) = &self.lead {
            Subject::new("lead", l)
        } else if let Some(a) = &self.account {
            Subject::new("account", a)
        } else {
            Subject::new("event", &self.id)
        }
    }
}

pub struct Engine<'a> {
    pub config: &'a Config,
    pub rules: &'a RuleSet,
    pub store: &'a Store,
    /// Events before this business time are history: applied and decided
    /// (stages, key accounts, hand-overs), but they make no tasks.
    pub tasks_since: Option<DateTime<Utc>>,
}

/// The running state of one event's reactions.
struct Run {
    /// Reactions queued by the step that is running; processed before the next step.
    pending: Vec<Trigger>,
    counts: Counts,
    root: String,
    derived: usize,
    /// The loop guard of the reaction chain that is running.
    chain: chain::Chain,
    failures: Vec<RuleFailure>,
    /// The rules that ran without failing (by slot), for their health.
    ran: Vec<usize>,
    cache: fact_cache::FactCache,
}

impl Run {
    /// Queue a reaction to a decision, with an id that shows where it came from.
    fn push(&mut self, mut t: Trigger) {
        self.derived += 1;
        t.id = format!("{}#{}", self.root, self.derived);
        self.pending.push(t);
    }
}

impl<'a> Engine<'a> {
    pub fn new(config: &'a Config, rules: &'a RuleSet, store: &'a Store) -> Self {
        Engine { config, rules, store, tasks_since: None }
    }

    /// Make no tasks for events before `since` (see `tasks_since`).
    pub fn tasks_since(mut self, since: Option<DateTime<Utc>>) -> Self {
        self.tasks_since = since;
        self
    }

    /// Apply one event inside its own savepoint: all of it, or none of it.
    /// The caller owns the surrounding transaction.
    pub fn apply(&self, event: &Event, source: &str, line: usize) -> Result<Applied> {
        if let Some(seen) = self.seen_before(event)? {
            return Ok(seen);
        }
        let nested = self.store.nested()?;
        match self.apply_inner(event, source, line) {
            Ok(Applied::Rejected(why)) => {
                nested.rollback()?;
                Ok(Applied::Rejected(why))
            }
            Ok(done) => {
                nested.release()?;
                Ok(done)
            }
            Err(e) => {
                nested.rollback()?;
                Err(e)
            }
        }
    }

    /// An event whose id was applied before: a duplicate when its content is
    /// the same, else a rejection (an id names one event; a change to
    /// something is a new event with an id of its own).
    fn seen_before(&self, event: &Event) -> Result<Option<Applied>> {
        Ok(self.store.applied_before(event)?.map(|before| {
            if before.same {
                Applied::Duplicate
            } else {
                Applied::Rejected(format!(
                    "event id {:?} was applied before with other content (from {} line {}): an id names one event, send a change as a new event with an id of its own",
                    event.id, before.source, before.line
                ))
            }
        }))
    }

    fn apply_inner(&self, event: &Event, source: &str, line: usize) -> Result<Applied> {
        let first = match self.update_state(event)? {
            Ok(trigger) => trigger,
            Err(why) => return Ok(Applied::Rejected(why)),
        };
        self.store.record_applied(event, source, line, &self.rules.version, &crate::time::now_stamp())?;
        let mut run = Run {
            pending: Vec::new(),
            counts: Counts { applied: 1, ..Counts::default() },
            root: event.id.clone(),
            derived: 0,
            chain: chain::Chain::default(),
            failures: Vec::new(),
            ran: Vec::new(),
            cache: fact_cache::FactCache::default(),
        };
        self.react(first, &mut run)?;
        self.settle_health(&stamp(event.at), &mut run)?;
        Ok(Applied::Done(run.counts, run.failures))
    }

    /// An account's facts as key-account rules see them at business time `at`.
    pub fn account_facts(&self, id: &str, at: DateTime<Utc>) -> Result<Option<crate::rules::Facts>> {
        let Some(a) = self.store.account(id)? else { return Ok(None) };
        let stats = self.store.account_stats(&a, &crate::time::year_before(at), &stamp(at))?;
        Ok(Some(crate::rules::Facts {
            event: crate::facts::event("explain", "explain", at, &Map::new()),
            account: Some(crate::facts::account(&a, &stats, at)),
            ..crate::rules::Facts::default()
        }))
    }

    /// `t`'s subject reacted `limits.max_chain` times to one event: say so,
    /// with the rules whose decisions kept it going, and log it.
    fn stop_loop(&self, t: &Trigger, rules: Vec<crate::model::RuleRef>, run: &mut Run) -> Result<()> {
        let max = self.config.limits.max_chain;
        let by = match rules.as_slice() {
            [] => "no rule made these decisions".to_string(),
            rules => format!("by {}", rules.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
        };
        let reason = format!(
            "reaction loop stopped: {} reacted {max} times (limits.max_chain) to event {}, {by}; the rules may be \
             undoing each other's decisions. Its further reactions to this event were skipped (next was {})",
            t.subject(),
            run.root,
            t.kind,
        );
        tracing::warn!("{reason}");
        run.counts.loops_stopped += 1;
        let detail =
            serde_json::json!({"rules": rules.iter().map(ToString::to_string).collect::<Vec<_>>(), "limit": max});
        self.log(DecisionKind::ChainLimit, t.subject(), rules.last().cloned(), &reason, detail, t)
    }

    /// Every rule kind, in order: stages, then key accounts, then tasks.
    /// Reactions to a step's decisions run before the next step (depth
    /// first), so task rules see the world after every change the event
    /// caused: an account that became key has its account manager already.
    fn react(&self, t: Trigger, run: &mut Run) -> Result<()> {
        match run.chain.enter(&t.subject(), t.by.as_ref(), self.config.limits.max_chain) {
            chain::Verdict::Go => {}
            chain::Verdict::Loop(rules) => return self.stop_loop(&t, rules, run),
            chain::Verdict::Skip => return Ok(()),
        }
        if let Some(deal) = t.deal.as_ref().filter(|_| !t.tasks_only) {
            self.decide_stage(&t, deal, run)?;
            self.react_to_pending(run)?;
        }
        if let Some(account) = t.account.as_ref().filter(|_| !t.tasks_only) {
            self.decide_key(&t, account, run)?;
            self.react_to_pending(run)?;
        }
        self.decide_tasks(&t, run)?;
        self.react_to_pending(run)?;
        if t.kind == "clock.tick" && t.id == run.root {
            self.clock(&t, run)?;
        }
        Ok(())
    }

    fn react_to_pending(&self, run: &mut Run) -> Result<()> {
        for t in std::mem::take(&mut run.pending) {
            self.react(t, run)?;
        }
        Ok(())
    }

    fn log(
        &self,
        kind: DecisionKind,
        subject: Subject,
        rule: Option<crate::model::RuleRef>,
        reason: &str,
        detail: Value,
        t: &Trigger,
    ) -> Result<()> {
        let d = Decision {
            kind,
            subject,
            rule,
            reason: reason.to_string(),
            detail,
            event_id: t.id.clone(),
            at: stamp(t.at),
        };
        self.store.record_decision(&d, &self.rules.version)
    }
}
