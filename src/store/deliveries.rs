//! Webhook deliveries: what a CRM pushed to `POST /webhooks/...`, kept
//! durably before the sender is answered (see [`crate::webhooks`]). A
//! delivery is stored once per delivery key (a redelivery is a duplicate),
//! waits `pending` until the engine in force maps and applies it, and ends
//! `applied` (with how many events it made) or `unmappable` (with why).

use serde::Serialize;

/// The CRM a delivery came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookSource {
    Pipedrive,
    Hubspot,
}

impl WebhookSource {
    pub const ALL: [WebhookSource; 2] = [WebhookSource::Pipedrive, WebhookSource::Hubspot];

    /// As stored and written in `config.toml` (`[webhooks.pipedrive]`).
    pub fn name(self) -> &'static str {
        match self {
            WebhookSource::Pipedrive => "pipedrive",
            WebhookSource::Hubspot => "hubspot",
        }
    }

    pub fn parse(s: &str) -> Option<WebhookSource> {
        WebhookSource::ALL.into_iter().find(|w| w.name() == s)
    }
}

impl std::fmt::Display for WebhookSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Stored, not applied yet.
    Pending,
    /// Mapped and applied (its events may have been duplicates).
    Applied,
    /// Some or all of it could not be mapped: kept with the reason (what did map was applied).
    Unmappable,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 3] = [DeliveryState::Pending, DeliveryState::Applied, DeliveryState::Unmappable];

    pub fn name(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Applied => "applied",
            DeliveryState::Unmappable => "unmappable",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|d| d.name() == s)
    }
}

impl std::fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A delivery to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery<'a> {
    pub source: WebhookSource,
    /// Unique over all deliveries of all sources (it starts with the source's name).
    pub key: &'a str,
    /// The request body, as received (valid JSON).
    pub body: &'a str,
    pub received_at: &'a str,
}

/// What storing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "stored", content = "id", rename_all = "lowercase")]
pub enum Recorded {
    /// A new delivery, with its id.
    New(i64),
    /// One with this key was stored before (its id): nothing was written.
    Duplicate(i64),
}

impl Recorded {
    pub fn id(self) -> i64 {
        match self {
            Recorded::New(id) | Recorded::Duplicate(id) => id,
        }
    }
}

/// A stored delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRow {
    pub id: i64,
    pub source: WebhookSource,
    pub key: String,
    pub received_at: String,
    pub body: String,
    pub state: DeliveryState,
    /// Why it is unmappable (or what of it was left out).
    pub reason: Option<String>,
    /// Events it made and handed to the engine.
    pub events: i64,
    /// When it was applied or found unmappable.
    pub applied_at: Option<String>,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub source: Option<WebhookSource>,
    pub state: Option<DeliveryState>,
    /// Oldest first (the order they are applied in); else newest first (a page).
    pub oldest_first: bool,
    /// At most this many (0: all).
    pub limit: usize,
}

/// How many deliveries are in each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DeliveryCounts {
    pub pending: i64,
    pub applied: i64,
    pub unmappable: i64,
}
