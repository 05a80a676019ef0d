//! CRM webhooks in: Pipedrive (webhooks v2) and HubSpot (v3 subscriptions)
//! push their changes to `POST /webhooks/pipedrive` and `POST
//! /webhooks/hubspot`. This module is what the HTTP server calls; it holds
//! no server itself, and the engine never sees HTTP.
//!
//! Two steps, so that what a CRM was told it handed over is never lost:
//!
//! 1. [`receive`] checks a request (HubSpot's signature, Pipedrive's basic
//!    auth, the size, that the body is JSON of the CRM's shape) and stores
//!    it as a pending delivery, committed before it returns: the server
//!    answers 2xx only then. A delivery is stored once per delivery key
//!    (HubSpot: the batch's event ids; Pipedrive: the change its `meta`
//!    names), so a redelivery is a duplicate, acknowledged again. `receive`
//!    runs no rules: any `serve` may receive.
//! 2. [`drain_webhooks`], called by the engine in force (the watch loop),
//!    maps each pending delivery to events through `[webhooks.*]` of
//!    `config.toml` and applies them as `ingest` does, then marks it
//!    `applied` (with how many events) or `unmappable` (with why). Event ids
//!    come from the delivery alone, so a delivery applied again (a crash
//!    between applying and marking) is skipped event by event as duplicates.

mod apply;
pub mod auth;
pub mod hubspot;
pub mod mapping;
pub mod pipedrive;
#[cfg(test)]
mod tests;

pub use crate::store::WebhookSource as Source;
pub use apply::{Drained, Outcome, drain_webhooks, map_delivery};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::Config;
use crate::error::Error;
use crate::store::{NewDelivery, Recorded, Store};

/// One HTTP request, as the server received it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `POST`.
    pub method: &'a str,
    /// The path and query as received (`/webhooks/hubspot?x=1`), not decoded.
    pub uri: &'a str,
    /// The request's headers, names in any case: `Host`, `Authorization`,
    /// `X-HubSpot-Signature-v3` and `X-HubSpot-Request-Timestamp` are read.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body, as received (a signature covers its exact bytes).
    pub body: &'a [u8],
    /// The time it was received (a signature older than five minutes is refused).
    pub now: DateTime<Utc>,
}

impl Request<'_> {
    /// The first header called `name` (in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }
}

/// A delivery taken: answer 2xx (200 or 202).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "delivery", rename_all = "lowercase")]
pub enum Receipt {
    /// Stored now, pending until the engine in force applies it.
    Stored { id: i64 },
    /// Stored before (a redelivery): nothing was written, and it is applied once.
    Duplicate { id: i64 },
}

impl Receipt {
    pub fn id(&self) -> i64 {
        match self {
            Receipt::Stored { id } | Receipt::Duplicate { id } => *id,
        }
    }
}

/// A request not taken: nothing was stored. [`Refusal::status`] is the HTTP status to answer.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// `[webhooks.SOURCE]` is not in config.toml: 404.
    #[error("webhooks from {crm} are not configured: add [webhooks.{crm}] to config.toml")]
    NotConfigured { crm: Source },
    /// Larger than `[webhooks] max_body_bytes`: 413.
    #[error("the body is larger than {limit} bytes ([webhooks] max_body_bytes)")]
    TooLarge { limit: usize },
    /// Unsigned, wrongly signed, stale, or without the basic auth configured: 401.
    #[error("not authenticated: {reason}")]
    Unauthorized { reason: String },
    /// Not JSON, or not the CRM's shape: 400.
    #[error("malformed: {reason}")]
    Malformed { reason: String },
    /// The secret to check it with is missing (its environment variable is unset): 503, so the CRM retries.
    #[error("cannot check the request: {reason}")]
    Unavailable { reason: String },
    /// The store could not keep it: 503 when busy or unreachable (the CRM retries), else 500.
    #[error("could not store the delivery: {0}")]
    Store(#[from] Error),
}

impl Refusal {
    /// The HTTP status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::NotConfigured { .. } => 404,
            Refusal::TooLarge { .. } => 413,
            Refusal::Unauthorized { .. } => 401,
            Refusal::Malformed { .. } => 400,
            Refusal::Unavailable { .. } => 503,
            Refusal::Store(Error::Busy { .. } | Error::LeaseLost { .. }) => 503,
            Refusal::Store(e) if e.is_unreachable() => 503,
            Refusal::Store(_) => 500,
        }
    }
}

/// Check a request from `source` and store it durably: see the module
/// documentation. Call it with no unit of work open on `store` (the
/// delivery is committed by itself before this returns).
pub fn receive(store: &Store, config: &Config, source: Source, request: &Request) -> Result<Receipt, Refusal> {
    let hooks = &config.webhooks;
    let conf = match source {
        Source::Pipedrive => hooks.pipedrive.as_ref(),
        Source::Hubspot => hooks.hubspot.as_ref(),
    }
    .ok_or(Refusal::NotConfigured { crm: source })?;
    if request.body.len() > hooks.max_body_bytes {
        return Err(Refusal::TooLarge { limit: hooks.max_body_bytes });
    }
    match source {
        Source::Hubspot => {
            let secret = conf
                .secret
                .as_ref()
                .ok_or_else(|| Refusal::Unavailable { reason: "[webhooks.hubspot] has no secret".into() })?;
            let secret = secret.value().map_err(|reason| Refusal::Unavailable { reason })?;
            let base = match (&conf.public_url, request.header("Host")) {
                (Some(url), _) => url.clone(),
                (None, Some(host)) => format!("https://{host}"),
                (None, None) => {
                    return Err(Refusal::Unauthorized {
                        reason: "no Host header to check the signature with (set [webhooks.hubspot] public_url)".into(),
                    });
                }
            };
            let url = format!("{base}{}", request.uri);
            auth::check_hubspot(&secret, &url, request, request.now)
                .map_err(|reason| Refusal::Unauthorized { reason })?;
        }
        Source::Pipedrive => {
            if let Some(basic) = &conf.basic_auth {
                let password = basic.password.value().map_err(|reason| Refusal::Unavailable { reason })?;
                auth::check_basic(&basic.user, &password, request)
                    .map_err(|reason| Refusal::Unauthorized { reason })?;
            }
        }
    }
    let text = std::str::from_utf8(request.body)
        .map_err(|e| Refusal::Malformed { reason: format!("the body is not UTF-8 text (byte {})", e.valid_up_to()) })?;
    let body: Value =
        serde_json::from_str(text).map_err(|e| Refusal::Malformed { reason: format!("the body is not JSON: {e}") })?;
    let key = delivery_key(source, &body)?;
    let new = NewDelivery { source, key: &key, body: text, received_at: &crate::time::stamp(request.now) };
    Ok(match store.record_delivery(&new)? {
        Recorded::New(id) => Receipt::Stored { id },
        Recorded::Duplicate(id) => Receipt::Duplicate { id },
    })
}

/// The delivery key of a body of the CRM's shape; a body of another shape is malformed.
fn delivery_key(source: Source, body: &Value) -> Result<String, Refusal> {
    match source {
        Source::Pipedrive => {
            if !body.get("meta").is_some_and(Value::is_object) {
                return Err(Refusal::Malformed {
                    reason: "not a Pipedrive webhook: a JSON object with \"meta\" and \"data\" was expected".into(),
                });
            }
            Ok(pipedrive::delivery_key(body))
        }
        Source::Hubspot => match body.as_array() {
            Some(events) if !events.is_empty() && events.iter().all(Value::is_object) => {
                Ok(hubspot::delivery_key(events))
            }
            _ => Err(Refusal::Malformed {
                reason: "not a HubSpot webhook batch: a JSON array of event objects was expected".into(),
            }),
        },
    }
}
