//! Webhook deliveries (see [`crate::store::deliveries`]).

use rusqlite::{OptionalExtension, params};

use super::{SqlContext, Sqlite};
use crate::error::Result;
use crate::store::deliveries::*;

const COLUMNS: &str = "id, source, delivery_key, received_at, body, state, reason, events, applied_at";

fn row(r: &rusqlite::Row) -> rusqlite::Result<DeliveryRow> {
    let text =
        |i: usize, s: String| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, s.into());
    let source: String = r.get(1)?;
    let state: String = r.get(5)?;
    Ok(DeliveryRow {
        id: r.get(0)?,
        source: WebhookSource::parse(&source).ok_or_else(|| text(1, format!("unknown webhook source {source:?}")))?,
        key: r.get(2)?,
        received_at: r.get(3)?,
        body: r.get(4)?,
        state: DeliveryState::parse(&state).ok_or_else(|| text(5, format!("unknown delivery state {state:?}")))?,
        reason: r.get(6)?,
        events: r.get(7)?,
        applied_at: r.get(8)?,
    })
}

impl Sqlite {
    /// Insert unless the key is stored; outside a unit the statement is its own transaction.
    pub fn record_delivery(&self, d: &NewDelivery) -> Result<Recorded> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO webhook_deliveries (source, delivery_key, received_at, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(delivery_key) DO NOTHING RETURNING id",
            )
            .ctx(self)?
            .query_row(params![d.source.name(), d.key, d.received_at, d.body], |r| r.get::<_, i64>(0))
            .optional()
            .ctx(self)?;
        if let Some(id) = inserted {
            return Ok(Recorded::New(id));
        }
        let id = self.one("SELECT id FROM webhook_deliveries WHERE delivery_key = ?1", [d.key], |r| r.get(0))?;
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
        self.conn
            .prepare_cached(
                "UPDATE webhook_deliveries SET state = ?2, events = ?3, reason = ?4, applied_at = ?5 WHERE id = ?1",
            )
            .ctx(self)?
            .execute(params![id, state.name(), events, reason, at])
            .ctx(self)?;
        Ok(())
    }

    pub fn webhook_deliveries(&self, f: &DeliveryFilter) -> Result<Vec<DeliveryRow>> {
        let order = if f.oldest_first { "ASC" } else { "DESC" };
        let limit = if f.limit == 0 { -1 } else { f.limit as i64 };
        let sql = format!(
            "SELECT {COLUMNS} FROM webhook_deliveries
             WHERE (?1 IS NULL OR source = ?1) AND (?2 IS NULL OR state = ?2)
             ORDER BY id {order} LIMIT ?3"
        );
        let mut st = self.conn.prepare_cached(&sql).ctx(self)?;
        let rows =
            st.query_map(params![f.source.map(|s| s.name()), f.state.map(|s| s.name()), limit], row).ctx(self)?;
        rows.collect::<rusqlite::Result<_>>().ctx(self)
    }

    pub fn delivery_counts(&self) -> Result<DeliveryCounts> {
        let mut st =
            self.conn.prepare_cached("SELECT state, COUNT(*) FROM webhook_deliveries GROUP BY state").ctx(self)?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).ctx(self)?;
        let mut counts = DeliveryCounts::default();
        for r in rows {
            let (state, n) = r.ctx(self)?;
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
