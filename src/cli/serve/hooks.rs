//! CRM webhooks in: `POST /webhooks/pipedrive` and `POST /webhooks/hubspot`
//! (see [`dealflow::webhooks`]). A delivery is checked (HubSpot's signature,
//! Pipedrive's basic auth) and stored, committed, before the 2xx; the engine
//! in force applies it. No token: a CRM signs or authenticates its calls.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use dealflow::webhooks::{self, Receipt, Request, Source};

use super::{App, Fail};

/// Above `[webhooks] max_body_bytes` (which `receive` checks, with its own answer).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/webhooks/pipedrive", post(pipedrive))
        .route("/webhooks/hubspot", post(hubspot))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

async fn pipedrive(state: State<Arc<App>>, uri: OriginalUri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    take(state, Source::Pipedrive, uri, headers, body).await
}

async fn hubspot(state: State<Arc<App>>, uri: OriginalUri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    take(state, Source::Hubspot, uri, headers, body).await
}

async fn take(
    State(app): State<Arc<App>>,
    source: Source,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let uri = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| uri.path().to_string());
    let pairs: Vec<(String, String)> =
        headers.iter().filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))).collect();
    let taken = app
        .blocking(move |store, playbook| {
            let headers: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let request =
                Request { method: "POST", uri: &uri, headers: &headers, body: &body, now: chrono::Utc::now() };
            Ok(webhooks::receive(store, &playbook.config, source, &request).map_err(|refusal| {
                Fail::new(
                    StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST),
                    refusal.to_string(),
                )
            }))
        })
        .await;
    match taken {
        Ok(Ok(receipt)) => {
            // Committed: wake the engine, which applies it now rather than at its next look
            // (once for a burst: it applies every delivery pending when it wakes).
            if let Receipt::Stored { .. } = receipt
                && !app.nudged.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                let nudged = app.clone();
                app.engine
                    .submit(Box::new(move |_, _| nudged.nudged.store(false, std::sync::atomic::Ordering::SeqCst)));
            }
            (StatusCode::OK, axum::Json(receipt)).into_response()
        }
        Ok(Err(refused)) | Err(refused) => refused.into_response(),
    }
}
