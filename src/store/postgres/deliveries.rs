//! Webhook deliveries (see [`crate::store::deliveries`]). Written outside
//! any unit of work, and not fenced by the engine lease: any `serve` may
//! receive a delivery, only the engine in force applies it.

use postgres::Row;

use super::Postgres;
use crate::error::Result;
use crate::store::deliveries::*;

const COLUMNS: &str = "id, source, delivery_key, received_at, body, state, reason, events, applied_at";

fn row(r: &Row) -> std::result::Result<DeliveryRow, postgres::Error> {
    let source: String = r.try_get(1)?;
    let state: String = r.try_get(5)?;
    Ok(DeliveryRow {
        id: r.try_get(0)?,
        // The column only ever holds the names written by `record_delivery`.
        source: WebhookSource::parse(&source).unwrap_or(WebhookSource::Pipedrive),
        key: r.try_get(2)?,
        received_at: r.try_get(3)?,
        body: r.try_get(4)?,
        state: DeliveryState::parse(&state).unwrap_or(DeliveryState::Pending),
        reason: r.try_get(6)?,
        events: r.try_get(7)?,
        applied_at: r.try_get(8)?,
    })
}

impl Postgres {
    /// Insert unless the key is stored; outside a unit the statement commits by itself.
    pub fn record_delivery(&self, d: &NewDelivery) -> Result<Recorded> {
        let inserted = self.one(
            "INSERT INTO webhook_deliveries (source, delivery_key, received_at, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (delivery_key) DO NOTHING RETURNING id",
            &[&d.source.name(), &d.key, &d.received_at, &d.body],
            |r| r.try_get::<_, i64>(0),
        )?;
        if let Some(id) = inserted {
            return Ok(Recorded::New(id));
        }
        let id = self.one("SELECT id FROM webhook_deliveries WHERE delivery_key = $1", &[&d.key], |r| r.try_get(0))?;
        id.map(Recorded::Duplicate)
            .ok_or_else(|| self.fault(format!("webhook delivery {:?} was neither stored nor found", d.key)))
    }

    pub fn finish_delivery(
        &self,
        id: i64,
        state: DeliveryState,
        events: i64,
        reason: Option<&str>,
        at: &str,
    ) -> Result<()> {
        self.exec(
            "UPDATE webhook_deliveries SET state = $2, events = $3, reason = $4, applied_at = $5 WHERE id = $1",
            &[&id, &state.name(), &events, &reason, &at],
        )?;
        Ok(())
    }

    pub fn webhook_deliveries(&self, f: &DeliveryFilter) -> Result<Vec<DeliveryRow>> {
        let order = if f.oldest_first { "ASC" } else { "DESC" };
        let limit: Option<i64> = (f.limit > 0).then_some(f.limit as i64);
        let sql = format!(
            "SELECT {COLUMNS} FROM webhook_deliveries
             WHERE ($1::TEXT IS NULL OR source = $1) AND ($2::TEXT IS NULL OR state = $2)
             ORDER BY id {order} LIMIT $3"
        );
        self.all(&sql, &[&f.source.map(|s| s.name()), &f.state.map(|s| s.name()), &limit], row)
    }

    pub fn delivery_counts(&self) -> Result<DeliveryCounts> {
        let rows = self.all("SELECT state, COUNT(*) FROM webhook_deliveries GROUP BY state", &[], |r| {
            Ok((r.try_get::<_, String>(0)?, r.try_get::<_, i64>(1)?))
        })?;
        let mut counts = DeliveryCounts::default();
        for (state, n) in rows {
            match DeliveryState::parse(&state) {
                Some(DeliveryState::Pending) => counts.pending = n,
                Some(DeliveryState::Applied) => counts.applied = n,
                Some(DeliveryState::Unmappable) => counts.unmappable = n,
                None => {}
            }
        }
        Ok(counts)
    }
}
