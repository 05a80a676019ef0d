//! The engine's side: pending deliveries mapped to events and applied as
//! `ingest` applies a file, each marked `applied` or `unmappable` after.

use serde::Serialize;
use serde_json::Value;

use super::Source;
use super::mapping::{Known, Mapped};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ingest::{Ingest, Summary};
use crate::playbook::Current;
use crate::store::{DeliveryFilter, DeliveryRow, DeliveryState, Store};
use crate::watch::Note;

/// Deliveries taken from the store at a time.
const PAGE: usize = 100;

/// What became of one delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub id: i64,
    pub source: Source,
    pub state: DeliveryState,
    /// Events it made (each applied, or skipped as a duplicate, or rejected: see `summary`).
    pub events: usize,
    /// Why it is unmappable, or what was left out of an applied one.
    pub reason: Option<String>,
    /// What applying its events did.
    pub summary: Summary,
}

/// What one [`drain_webhooks`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Drained {
    pub applied: usize,
    pub unmappable: usize,
}

/// Map a stored delivery to events with `config`'s `[webhooks.*]`, asking
/// `known` what the delivery does not say.
pub fn map_delivery(d: &DeliveryRow, config: &Config, known: &dyn Known) -> Result<Mapped> {
    let mut out = Mapped::default();
    let body: Value = match serde_json::from_str(&d.body) {
        Ok(v) => v,
        Err(e) => {
            out.problem(format!("the stored body is not JSON: {e}"));
            return Ok(out);
        }
    };
    let conf = match d.source {
        Source::Pipedrive => config.webhooks.pipedrive.as_ref(),
        Source::Hubspot => config.webhooks.hubspot.as_ref(),
    };
    let Some(conf) = conf else {
        out.problem(format!("[webhooks.{}] is no longer in config.toml: nothing maps it", d.source));
        return Ok(out);
    };
    match d.source {
        Source::Pipedrive => super::pipedrive::map(&body, conf, &config.pipeline, known),
        Source::Hubspot => match body.as_array() {
            Some(events) => super::hubspot::map(events, conf, known),
            None => {
                out.problem("not a HubSpot batch (a JSON array)");
                Ok(out)
            }
        },
    }
}

/// Apply every pending delivery, oldest first, with the playbook in force
/// at each; `notes` hears of each one. On a store error it stops: the
/// delivery it was at stays pending and is taken again next time (its events
/// applied already are duplicates then).
pub fn drain_webhooks(store: &Store, current: &Current, notes: &(dyn Fn(Note) + Send + Sync)) -> Result<Drained> {
    let mut drained = Drained::default();
    loop {
        let filter = DeliveryFilter {
            state: Some(DeliveryState::Pending),
            oldest_first: true,
            limit: PAGE,
            ..Default::default()
        };
        let pending = store.webhook_deliveries(&filter)?;
        if pending.is_empty() {
            return Ok(drained);
        }
        for d in pending {
            let outcome = match apply_one(store, current, &d) {
                Ok(outcome) => outcome,
                // The store's trouble: the delivery stays pending and is taken again.
                Err(e @ (Error::Store { .. } | Error::Busy { .. } | Error::LeaseLost { .. })) => return Err(e),
                // Anything else would stop at this delivery every time: kept with the reason instead.
                Err(e) => {
                    let reason = crate::ingest::printable_reason(&format!("could not be applied: {e}"));
                    store.finish_delivery(
                        d.id,
                        DeliveryState::Unmappable,
                        0,
                        Some(&reason),
                        &crate::time::now_stamp(),
                    )?;
                    Outcome {
                        id: d.id,
                        source: d.source,
                        state: DeliveryState::Unmappable,
                        events: 0,
                        reason: Some(reason),
                        summary: Summary::default(),
                    }
                }
            };
            match outcome.state {
                DeliveryState::Unmappable => drained.unmappable += 1,
                _ => drained.applied += 1,
            }
            notes(Note::Webhook(outcome));
        }
    }
}

/// Map, apply and mark one delivery.
fn apply_one(store: &Store, current: &Current, d: &DeliveryRow) -> Result<Outcome> {
    let playbook = current.load_full();
    let mapped = map_delivery(d, &playbook.config, store)?;
    let mut problems = mapped.problems;
    let mut summary = Summary::default();
    if !mapped.events.is_empty() {
        let mut lines = String::new();
        for e in &mapped.events {
            lines.push_str(&e.line());
            lines.push('\n');
        }
        let mut ingest = Ingest::start(store, current)?;
        ingest.keep_all_rejections = true;
        if let Err(e) = ingest.input(&format!("webhook/{}/{}", d.source, d.id), lines.as_bytes()) {
            ingest.abort();
            return Err(e);
        }
        summary = ingest.finish()?;
        for r in &summary.rejections {
            let id = r.line.checked_sub(1).and_then(|i| mapped.events.get(i)).map(|e| e.id.as_str()).unwrap_or("?");
            problems.push(format!("event {id} was rejected: {}", r.reason));
        }
    }
    let (state, reason) = if problems.is_empty() {
        (DeliveryState::Applied, (!mapped.notes.is_empty()).then(|| mapped.notes.join("; ")))
    } else {
        (DeliveryState::Unmappable, Some(problems.join("; ")))
    };
    let reason = reason.map(|r| crate::ingest::printable_reason(&r));
    store.finish_delivery(d.id, state, mapped.events.len() as i64, reason.as_deref(), &crate::time::now_stamp())?;
    Ok(Outcome { id: d.id, source: d.source, state, events: mapped.events.len(), reason, summary })
}
