//! The HTTP API: the same JSON as the CLI's `--json`.
//!
//! `GET /api/status` (as `status --json`), `GET /api/tasks` (as `tasks
//! --json`, same filters), `POST /api/tasks/claim`, `POST
//! /api/tasks/{id}/done`, `POST /api/tasks/{id}/cancel`, and `POST
//! /api/events` (JSON Lines, applied as `ingest` applies them; answered with
//! `ingest --json`'s summary once they are committed). Reads take a token
//! or a browser session; writes take a token (`Authorization: Bearer`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dealflow::store::TaskStatus;
use serde::Deserialize;
use serde_json::Value;

use super::auth::{self, Actor};
use super::{App, Fail};
use crate::cli::{output, status::Status, tasks};

/// How long a posted batch may wait for the engine (a long inbox file ahead of it, say).
const ENGINE_WAIT: Duration = Duration::from_secs(120);
/// The largest body `POST /api/events` takes.
const EVENTS_LIMIT: usize = 64 * 1024 * 1024;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/status", get(status))
        .route("/api/tasks", get(list))
        .route("/api/tasks/claim", post(claim))
        .route("/api/tasks/{id}/done", post(done))
        .route("/api/tasks/{id}/cancel", post(cancel))
        .route("/api/events", post(events).layer(DefaultBodyLimit::max(EVENTS_LIMIT)))
}

/// The person asking; reads may come from a signed-in browser, writes only with a token.
pub async fn require(app: &Arc<App>, headers: &HeaderMap, write: bool) -> Result<Actor, Fail> {
    match auth::actor(app, headers, !write).await? {
        Some(a) => Ok(a),
        None if write => Err(Fail::new(
            StatusCode::UNAUTHORIZED,
            "this call takes a token: Authorization: Bearer TOKEN (`dealflow token create --as NAME`)",
        )),
        None => Err(Fail::new(
            StatusCode::UNAUTHORIZED,
            "sign in, or send a token: Authorization: Bearer TOKEN (`dealflow token create --as NAME`)",
        )),
    }
}

async fn status(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Json<Value>, Fail> {
    require(&app, &headers, false).await?;
    let a = app.clone();
    let value = app
        .blocking(move |store, playbook| {
            Ok(Status::gather(&a.ctx, &playbook.config, store)?.json(&playbook.config, store))
        })
        .await?;
    Ok(Json(value))
}

#[derive(Deserialize)]
pub struct ListQuery {
    pub role: Option<String>,
    pub assignee: Option<String>,
    pub status: Option<String>,
}

fn bad(e: anyhow::Error) -> Fail {
    Fail::new(StatusCode::BAD_REQUEST, format!("{e:#}"))
}

async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, Fail> {
    require(&app, &headers, false).await?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(TaskStatus::parse(s).ok_or_else(|| {
            Fail::new(
                StatusCode::BAD_REQUEST,
                format!("unknown status {s:?}; statuses are: {}", dealflow::model::TASK_STATUSES.join(", ")),
            )
        })?),
    };
    let value = app
        .blocking(move |store, playbook| {
            let config = &playbook.config;
            if let Some(r) = &q.role {
                tasks::check_role(config, r).map_err(bad)?;
            }
            let found = tasks::list_tasks(config, store, q.role, q.assignee, status).map_err(bad)?;
            Ok(Value::Array(found.iter().map(|t| output::task_json(config, t)).collect()))
        })
        .await?;
    Ok(Json(value))
}

#[derive(Deserialize)]
pub struct ClaimBody {
    pub role: String,
    /// Claim up to this many (an array comes back); without it, one task (an object).
    pub count: Option<u64>,
}

/// Claim for `actor`: the tasks taken, most urgent first.
pub async fn claim_for(
    app: &Arc<App>,
    actor: &Actor,
    role: String,
    n: u64,
) -> Result<Vec<dealflow::model::Task>, Fail> {
    let who = actor.key.clone();
    app.blocking(move |store, playbook| {
        let config = &playbook.config;
        tasks::check_role(config, &role).map_err(bad)?;
        Ok(tasks::claim_now(config, store, &role, &who, n)?)
    })
    .await
}

async fn claim(State(app): State<Arc<App>>, headers: HeaderMap, Json(body): Json<ClaimBody>) -> Result<Response, Fail> {
    let actor = require(&app, &headers, true).await?;
    let n = body.count.unwrap_or(1).max(1);
    let claimed = claim_for(&app, &actor, body.role.clone(), n).await?;
    let config = app.playbook()?.config.clone();
    if body.count.is_some() {
        return Ok(Json(Value::Array(claimed.iter().map(|t| output::task_json(&config, t)).collect())).into_response());
    }
    Ok(match claimed.first() {
        Some(t) => Json(output::task_json(&config, t)).into_response(),
        // Nothing to take is not a failure: as `tasks claim`, which exits 0.
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// Close task `id` for `actor`: their own (or one nobody holds); a manager any.
pub async fn close_for(
    app: &Arc<App>,
    actor: &Actor,
    id: i64,
    status: TaskStatus,
    note: Option<String>,
) -> Result<dealflow::model::Task, Fail> {
    let actor = actor.clone();
    app.blocking(move |store, playbook| {
        let config = &playbook.config;
        let Some(task) = store.task(id)? else {
            return Err(Fail::new(StatusCode::NOT_FOUND, format!("no task {id}")));
        };
        // A manager closes a task someone else holds in their stead.
        let held_by_other = task.claimed_by.as_deref().is_some_and(|h| !config.same_person(h, &actor.key));
        let who = if actor.manager && held_by_other { None } else { Some(actor.key.clone()) };
        tasks::close_as(config, store, id, status, note.as_deref(), who).map_err(|e| {
            let unreachable =
                e.chain().any(|c| c.downcast_ref::<dealflow::error::Error>().is_some_and(|e| e.is_unreachable()));
            if unreachable { Fail::from(e) } else { Fail::new(StatusCode::CONFLICT, format!("{e:#}")) }
        })
    })
    .await
}

#[derive(Deserialize, Default)]
pub struct DoneBody {
    pub outcome: Option<String>,
}

async fn done(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Option<Json<DoneBody>>,
) -> Result<Json<Value>, Fail> {
    let actor = require(&app, &headers, true).await?;
    let outcome = body.and_then(|Json(b)| b.outcome);
    let task = close_for(&app, &actor, id, TaskStatus::Done, outcome).await?;
    Ok(Json(output::task_json(&app.playbook()?.config, &task)))
}

#[derive(Deserialize)]
pub struct CancelBody {
    pub reason: String,
}

async fn cancel(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(body): Json<CancelBody>,
) -> Result<Json<Value>, Fail> {
    let actor = require(&app, &headers, true).await?;
    if body.reason.trim().is_empty() {
        return Err(Fail::new(StatusCode::BAD_REQUEST, "a cancel says why: {\"reason\": \"...\"}"));
    }
    let task = close_for(&app, &actor, id, TaskStatus::Cancelled, Some(body.reason)).await?;
    Ok(Json(output::task_json(&app.playbook()?.config, &task)))
}

/// Events as JSON Lines, applied by the engine's thread as `ingest` applies
/// a file (the same checks, rejections with their line numbers, the same
/// summary); the answer comes once they are committed.
async fn events(State(app): State<Arc<App>>, headers: HeaderMap, body: axum::body::Bytes) -> Result<Json<Value>, Fail> {
    let actor = require(&app, &headers, true).await?;
    let source = format!("api {} ({})", dealflow::time::now_stamp(), actor.label);
    let summary = app
        .on_engine(ENGINE_WAIT, move |store, current| -> dealflow::error::Result<_> {
            // The body is whole: read ahead, as `ingest` does a file.
            let mut ingest =
                dealflow::ingest::Ingest::start(store, current)?.read_ahead(crate::cli::ingest::READ_AHEAD);
            ingest.input(&source, body.as_ref())?;
            ingest.finish()
        })
        .await??;
    Ok(Json(serde_json::to_value(&summary).map_err(|e| Fail::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?))
}
