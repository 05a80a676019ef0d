//! Step one of an event: change the state it describes, and say what the
//! rules should look at. An event that is valid JSON but cannot apply (a
//! stage not in the pipeline, a task that does not exist) is refused here,
//! before anything is written.

use serde_json::{Map, Value};

use super::{Engine, Trigger};
use crate::error::Result;
use crate::event::{Event, EventType};
use crate::model::{Account, Deal, Lead, StageChange};
use crate::store::merge;
use crate::time::stamp;

type Outcome = std::result::Result<Trigger, String>;

impl Engine<'_> {
    pub(super) fn update_state(&self, e: &Event) -> Result<Outcome> {
        let e = match self.people_keyed(e) {
            Ok(e) => e,
            Err(why) => return Ok(Err(why)),
        };
        let e = e.as_ref();
        let at = stamp(e.at);
        let mut t = Trigger::new(&e.id, e.kind.name(), e.at, e.data.clone());
        let account_id = e.str("account_id").map(str::to_string);
        match e.kind {
            EventType::AccountUpserted => {
                let id = e.str("id").unwrap_or_default();
                let mut a = self.store.account(id)?.unwrap_or_else(|| new_account(id, &at));
                merge(&mut a.data, &e.data);
                if let Some(owner) = e.str("owner") {
                    a.owner = Some(owner.to_string());
                }
                if e.data.contains_key("parent_id") {
                    a.parent_id = e.str("parent_id").map(str::to_string);
                }
                if a.parent_id.as_deref() == Some(id) {
                    return Ok(Err(format!("account {id} cannot be its own parent")));
                }
                self.store.save_account(&a, &at)?;
                t.account = Some(id.to_string());
            }
            EventType::ContactUpserted => {
                let id = e.str("id").unwrap_or_default();
                let account = account_id.clone().unwrap_or_default();
                self.ensure_account(&account, &at)?;
                let mut data = self.store.contact(id)?.unwrap_or_default();
                merge(&mut data, &e.data);
                self.store.save_contact(id, &account, e.str("role").unwrap_or("other"), &data, &at)?;
                t.account = Some(account);
                t.contact = Some(id.to_string());
            }
            EventType::LeadCreated => {
                let id = e.str("id").unwrap_or_default();
                let mut lead = self.store.lead(id)?.unwrap_or_else(|| Lead {
                    id: id.to_string(),
                    data: Map::new(),
                    created_at: at.clone(),
                });
                merge(&mut lead.data, &e.data);
                self.store.save_lead(&lead)?;
                if let Some(a) = &account_id {
                    self.ensure_account(a, &at)?;
                }
                t.lead = Some(id.to_string());
                t.account = account_id;
            }
            EventType::DealUpserted => return self.upsert_deal(e, t, &at),
            EventType::ActivityLogged => {
                let account = account_id.clone().unwrap_or_default();
                self.ensure_account(&account, &at)?;
                self.store.touch_last_contact(&account, &at)?;
                let deal = e.str("deal_id");
                let contact = e.str("contact_id");
                self.store.save_activity(e)?;
                t.account = Some(account);
                if let Some(d) = deal
                    && self.store.shared_deal(d)?.is_some()
                {
                    t.deal = Some(d.to_string());
                }
                if let Some(c) = contact
                    && self.store.contact(c)?.is_some()
                {
                    t.contact = Some(c.to_string());
                }
            }
            EventType::OrderPlaced => {
                let account = account_id.clone().unwrap_or_default();
                self.ensure_account(&account, &at)?;
                let amount = e.num("amount").unwrap_or(0.0);
                self.store.save_order(
                    e.str("id").unwrap_or_default(),
                    &account,
                    amount,
                    e.str("product"),
                    &at,
                    &e.data,
                )?;
                t.account = Some(account);
            }
            EventType::ContractSigned => {
                let account = account_id.clone().unwrap_or_default();
                let (start, end) = (e.str("start").unwrap_or_default(), e.str("end").unwrap_or_default());
                let (Some(s), Some(n)) = (crate::event::parse_date(start), crate::event::parse_date(end)) else {
                    return Ok(Err("contract.signed: start and end must be dates".into()));
                };
                if n < s {
                    return Ok(Err(format!("contract.signed: end {end} is before start {start}")));
                }
                self.ensure_account(&account, &at)?;
                let value = e.num("annual_value").unwrap_or(0.0);
                let contract = crate::model::Contract {
                    id: e.str("id").unwrap_or_default().to_string(),
                    start: s.to_string(),
                    end: n.to_string(),
                    annual_value: value,
                };
                self.store.save_contract(&account, &contract, &e.data, &at)?;
                t.account = Some(account);
            }
            EventType::TargetSet => {
                let account = account_id.clone().unwrap_or_default();
                self.ensure_account(&account, &at)?;
                let (product, period) = (e.str("product").unwrap_or_default(), e.str("period").unwrap_or_default());
                self.store.save_target(&account, product, period, e.num("amount").unwrap_or(0.0), &at)?;
                t.account = Some(account);
            }
            EventType::TaskCompleted => {
                let raw = e.str("task_id").unwrap_or_default();
                // Parsing checked it already; an event made some other way is checked here too.
                let Some(id) = crate::event::task_number(raw) else {
                    return Ok(Err(format!("task.completed: task_id {raw:?} is not a task number")));
                };
                let Some(task) = self.store.task(id)? else {
                    return Ok(Err(format!("task.completed: no task {id}")));
                };
                if !task.status.is_closed() {
                    self.store.close_task(id, crate::store::TaskStatus::Done, e.str("by"), e.str("outcome"), &at)?;
                }
                self.about_task_subject(&mut t, &task.subject)?;
                t.data.insert("task".into(), serde_json::to_value(&task).unwrap_or(Value::Null));
            }
            EventType::ClockTick => {}
        }
        Ok(Ok(t))
    }

    fn upsert_deal(&self, e: &Event, mut t: Trigger, at: &str) -> Result<Outcome> {
        let pipeline = &self.config.pipeline;
        let id = e.str("id").unwrap_or_default();
        let requested = e.str("stage");
        if let Some(stage) = requested
            && pipeline.index(stage).is_none()
        {
            let h = crate::error::hint(stage, pipeline.stages.iter().map(String::as_str));
            return Ok(Err(format!(
                "deal.upserted: stage {stage:?} is not in the pipeline ({}){h}",
                pipeline.stages.join(", ")
            )));
        }
        let account = e.str("account_id").unwrap_or_default().to_string();
        self.ensure_account(&account, at)?;
        let existing = self.store.deal(id)?;
        let created = existing.is_none();
        let mut d = existing.unwrap_or_else(|| Deal {
            id: id.to_string(),
            stage: pipeline.first().to_string(),
            stage_entered_at: at.to_string(),
            created_at: at.to_string(),
            ..Deal::default()
        });
        let mut patch = e.data.clone();
        patch.remove("stage");
        merge(&mut d.data, &patch);
        d.account_id = account.clone();
        if let Some(amount) = e.num("amount") {
            d.amount = amount;
        }
        if let Some(owner) = e.str("owner") {
            d.owner = Some(owner.to_string());
        }
        let (open, won) = (!pipeline.is_closed(&d.stage), pipeline.is_won(&d.stage));
        self.store.save_deal(&d, open, won, at)?;
        if created {
            self.store.record_stage_change(&StageChange {
                deal_id: id,
                from: None,
                to: &d.stage,
                at,
                event_id: &e.id,
                rule: None,
                reason: "deal created",
            })?;
        }
        t.account = Some(account);
        t.deal = Some(id.to_string());
        t.requested_stage = requested.filter(|s| *s != d.stage).map(str::to_string);
        Ok(Ok(t))
    }

    /// `e` with each person it names (an owner, who did a task) by their
    /// key ([`crate::config::Person::key`]): an id or a name only one person
    /// on the team has stands for that person; a name nobody on the team
    /// has is kept as written; a name two people share refuses the event.
    fn people_keyed<'e>(&self, e: &'e Event) -> std::result::Result<std::borrow::Cow<'e, Event>, String> {
        let field = match e.kind {
            EventType::AccountUpserted | EventType::DealUpserted | EventType::LeadCreated => "owner",
            EventType::TaskCompleted => "by",
            _ => return Ok(std::borrow::Cow::Borrowed(e)),
        };
        let Some(written) = e.str(field) else { return Ok(std::borrow::Cow::Borrowed(e)) };
        match self.config.person_key(written) {
            Ok(key) if key == written => Ok(std::borrow::Cow::Borrowed(e)),
            Ok(key) => {
                let mut keyed = e.clone();
                keyed.data.insert(field.to_string(), Value::String(key.to_string()));
                Ok(std::borrow::Cow::Owned(keyed))
            }
            Err(why) => Err(format!("{}: {field} {why}", e.kind.name())),
        }
    }

    /// Point a trigger at what a task is about (a deal brings its account).
    pub(super) fn about_task_subject(&self, t: &mut Trigger, subject: &crate::model::Subject) -> Result<()> {
        match subject.kind.as_str() {
            "deal" => {
                t.account = self.store.shared_deal(&subject.id)?.map(|d| d.account_id.clone());
                t.deal = Some(subject.id.clone());
            }
            "account" => t.account = Some(subject.id.clone()),
            "lead" => t.lead = Some(subject.id.clone()),
            _ => {}
        }
        Ok(())
    }

    /// Create the account as a stub (name = id) when an event names one not seen yet.
    fn ensure_account(&self, id: &str, at: &str) -> Result<()> {
        if self.store.shared_account(id)?.is_none() {
            self.store.save_account(&new_account(id, at), at)?;
        }
        Ok(())
    }
}

fn new_account(id: &str, at: &str) -> Account {
    Account { id: id.to_string(), created_at: at.to_string(), ..Account::default() }
}
