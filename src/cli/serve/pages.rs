//! The web page: the team's queues, one task and why it exists, a deal or an
//! account as `explain` tells it, the rules versions and their differences.
//! Forms post and the server answers with a redirect to the next page
//! (`?msg=` says what happened); no script is needed.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use dealflow::explain::Explanation;
use dealflow::model::Task;
use dealflow::store::TaskStatus;
use maud::{Markup, html};
use serde::Deserialize;

use super::api::{claim_for, close_for};
use super::auth::{self, Actor};
use super::view::{csrf_field, encode, page, priority, subject_link};
use super::{App, Fail};
use crate::cli::status::Status;
use crate::cli::tasks;

/// Tasks on one page of a queue.
const PAGE_SIZE: usize = 50;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_form).post(signin))
        .route("/signout", post(signout))
        .route("/queue", get(queue))
        .route("/tasks/claim", post(claim))
        .route("/tasks/{id}", get(task))
        .route("/tasks/{id}/done", post(done))
        .route("/tasks/{id}/cancel", post(cancel))
        .route("/deals/{id}", get(deal))
        .route("/accounts/{id}", get(account))
        .route("/rules", get(rules))
        .route("/rules/diff", get(diff))
}

/// A page that failed: its status and a page saying why.
pub(super) struct PageFail(pub(super) Fail, pub(super) Option<Box<Actor>>);

impl IntoResponse for PageFail {
    fn into_response(self) -> Response {
        let PageFail(fail, actor) = self;
        let title = fail.status.canonical_reason().unwrap_or("Error").to_string();
        let body = html! { h1 { (title) } div.note.bad { (fail.message) } p { a href="/" { "Back to the start" } } };
        (fail.status, page(&title, actor.as_deref(), body)).into_response()
    }
}

impl From<Fail> for PageFail {
    fn from(f: Fail) -> PageFail {
        PageFail(f, None)
    }
}

/// The person signed in, or the way to the sign-in page.
pub(super) async fn signed_in(app: &Arc<App>, headers: &HeaderMap, here: &str) -> Result<Actor, Response> {
    match auth::actor(app, headers, true).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(Redirect::to(&format!("/signin?next={}", encode(here))).into_response()),
        Err(f) if f.status == StatusCode::UNAUTHORIZED => {
            Err(Redirect::to(&format!("/signin?next={}&msg={}", encode(here), encode(&f.message))).into_response())
        }
        Err(f) => Err(PageFail(f, None).into_response()),
    }
}

/// A form's checks: from this site, with the session's form token.
fn form_ok(actor: &Actor, headers: &HeaderMap, csrf: &str) -> Result<(), PageFail> {
    if auth::cross_site(headers) || !auth::csrf_ok(actor, csrf) {
        return Err(PageFail(
            Fail::new(
                StatusCode::FORBIDDEN,
                "this form did not come from this page (reload the page and send it again)",
            ),
            Some(Box::new(actor.clone())),
        ));
    }
    Ok(())
}

/// Where to go back to after a form: a path of this site only.
fn back_to(back: Option<&str>, fallback: &str) -> String {
    match back {
        Some(b) if b.starts_with('/') && !b.starts_with("//") && !b.contains('\\') => b.to_string(),
        _ => fallback.to_string(),
    }
}

fn with_msg(path: &str, msg: &str) -> Redirect {
    let path = strip_msg(path);
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}msg={}", encode(msg)))
}

fn strip_msg(path: &str) -> String {
    match path.split_once('?') {
        Some((p, q)) => {
            let kept: Vec<&str> = q.split('&').filter(|kv| !kv.starts_with("msg=")).collect();
            if kept.is_empty() { p.to_string() } else { format!("{p}?{}", kept.join("&")) }
        }
        None => path.to_string(),
    }
}

#[derive(Deserialize, Default)]
struct Msg {
    msg: Option<String>,
}

fn message(msg: &Option<String>) -> Markup {
    html! { @if let Some(m) = msg { div.note.ok role="status" { (m) } } }
}

// Signing in and out.

#[derive(Deserialize, Default)]
struct SigninQuery {
    next: Option<String>,
    msg: Option<String>,
}

async fn signin_form(Query(q): Query<SigninQuery>) -> Markup {
    page(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(m) = &q.msg { div.note.bad { (m) } }
            form method="post" action="/signin" {
                input type="hidden" name="next" value=(back_to(q.next.as_deref(), "/"));
                p { label { "Your token " input type="password" name="token" autocomplete="current-password" size="40" required; } }
                button type="submit" { "Sign in" }
            }
            p.muted { "No token? Ask whoever runs dealflow for one: " code { "dealflow token create --as \"Your Name\"" } }
        },
    )
}

#[derive(Deserialize)]
struct SigninForm {
    token: String,
    next: Option<String>,
}

async fn signin(State(app): State<Arc<App>>, headers: HeaderMap, Form(f): Form<SigninForm>) -> Response {
    let next = back_to(f.next.as_deref(), "/");
    if auth::cross_site(&headers) {
        return PageFail(Fail::new(StatusCode::FORBIDDEN, "a sign-in from another site"), None).into_response();
    }
    match auth::sign_in(&app, f.token, auth::via_https(&headers)).await {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response(),
        Err(e) if e.status == StatusCode::UNAUTHORIZED || e.status == StatusCode::FORBIDDEN => {
            Redirect::to(&format!("/signin?next={}&msg={}", encode(&next), encode(&e.message))).into_response()
        }
        Err(e) => PageFail(e, None).into_response(),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn signout(State(app): State<Arc<App>>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Response {
    if let Ok(actor) = signed_in(&app, &headers, "/").await
        && let Err(e) = form_ok(&actor, &headers, &f.csrf)
    {
        return e.into_response();
    }
    match auth::sign_out(&app, &headers).await {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/signin?msg=signed%20out")).into_response(),
        Err(e) => PageFail(e, None).into_response(),
    }
}

// The start page.

struct Home {
    status: Status,
    per_person: BTreeMap<String, Vec<(String, i64)>>,
    failing: Vec<dealflow::store::RuleHealth>,
    rejected: Vec<dealflow::store::backend::RejectedRow>,
    rejected_total: usize,
    files: Vec<(String, String, String)>,
    deliveries: Vec<dealflow::store::DeliveryRow>,
    /// Notifications not sent (waiting for a retry, or given up), newest first.
    unsent: Vec<dealflow::store::outbox::Notification>,
}

async fn home(State(app): State<Arc<App>>, headers: HeaderMap, Query(m): Query<Msg>) -> Result<Markup, Response> {
    let actor = signed_in(&app, &headers, "/").await?;
    let a = app.clone();
    let h = app
        .blocking(move |store, playbook| {
            let config = &playbook.config;
            let status = Status::gather(&a.ctx, config, store)?;
            let mut per_person: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
            for role in config.roles.keys() {
                for l in store.open_tasks_per_assignee(role)? {
                    per_person.entry(role.clone()).or_default().push((config.person_label(&l.who), l.open));
                }
            }
            let failing = match &status.loaded {
                Some(v) => store.rule_health(&v.version)?,
                None => Vec::new(),
            };
            let all_rejected = store.rejected()?;
            let rejected_total = all_rejected.len();
            let rejected = all_rejected.into_iter().rev().take(10).collect();
            let deliveries =
                store.webhook_deliveries(&dealflow::store::DeliveryFilter { limit: 10, ..Default::default() })?;
            let unsent = store
                .notifications(&dealflow::store::outbox::NotificationFilter::default(), 50)?
                .into_iter()
                .filter(|n| n.sent_at.is_none() && n.last_error.is_some())
                .take(10)
                .collect();
            Ok(Home {
                status,
                per_person,
                failing,
                rejected,
                rejected_total,
                files: inbox_files(&a.ctx.dir),
                deliveries,
                unsent,
            })
        })
        .await
        .map_err(|e| PageFail(e, Some(Box::new(actor.clone()))).into_response())?;
    let s = &h.status;
    Ok(page(
        "Start",
        Some(&actor),
        html! {
            (message(&m.msg))
            h1 { "Start" }
            div.grid {
                div.card {
                    h2 { "Rules in force" }
                    @match &s.loaded {
                        Some(v) => p { code { (v.version) } br; span.muted { "since " (v.loaded_at) } },
                        None => p { "No rules loaded yet." },
                    }
                    @if s.on_disk.is_some() && s.on_disk.as_deref() != s.loaded.as_ref().map(|v| v.version.as_str()) {
                        p.muted { "The files on disk are version " code { (s.on_disk.as_deref().unwrap_or("?")) } ", not loaded yet." }
                    }
                    p { a href="/rules" { "All versions" } }
                }
                div.card {
                    h2 { "Store" }
                    p { (s.counts.accounts) " accounts (" (s.counts.key_accounts) " key), " (s.counts.deals) " deals" }
                    p.muted { (s.location.kind()) }
                }
            }
            h2 { "Open tasks by role" }
            table.rows {
                thead { tr { th { "Role" } th { "Open" } th { "Who has them" } } }
                tbody {
                    @for (role, n) in &s.open {
                        tr {
                            td data-label="Role" { a href={ "/queue?role=" (encode(role)) } { (role) } }
                            td data-label="Open" { (n) }
                            td data-label="Who" {
                                @for (who, k) in h.per_person.get(role).map(Vec::as_slice).unwrap_or_default() {
                                    span.pill { (who) " " (k) } " "
                                }
                                @if s.unstaffed.contains(role) { span.muted { "nobody active: tasks wait in the queue" } }
                            }
                        }
                    }
                }
            }
            @for q in s.team.queues.iter().filter(|q| q.waits_on_people()) { p.note { (q.sentence()) } }
            @if let Some(away) = s.team.away_sentence() { p.muted { (away) } }
            @if !h.failing.is_empty() {
                h2 { "Failing rules" }
                table.rows {
                    thead { tr { th { "Rule" } th { "State" } th { "Last error" } } }
                    tbody {
                        @for r in &h.failing {
                            tr {
                                td data-label="Rule" { (r.file) ":" (r.line) " " (r.rule) }
                                td data-label="State" {
                                    @match &r.quarantined_at {
                                        Some(at) => span class="pill urgent" { "quarantined " (at) },
                                        None => span class="pill high" { "failed " (r.failures) " in a row" },
                                    }
                                }
                                td data-label="Last error" { (r.last_error) }
                            }
                        }
                    }
                }
            }
            h2 { "Inbox: the last files" }
            @if h.files.is_empty() { p.muted { "No file processed yet." } }
            @else {
                table.rows {
                    thead { tr { th { "File" } th { "Outcome" } th { "When" } } }
                    tbody { @for (name, outcome, at) in &h.files {
                        tr { td data-label="File" { (name) } td data-label="Outcome" { (outcome) } td data-label="When" { (at) } }
                    } }
                }
            }
            @if !h.deliveries.is_empty() {
                h2 { "CRM webhooks" }
                p.muted { (s.webhooks.pending) " waiting, " (s.webhooks.applied) " applied, " (s.webhooks.unmappable) " kept as unmappable" }
                table.rows id="webhooks" {
                    thead { tr { th { "Delivery" } th { "State" } th { "Events" } th { "Received" } } }
                    tbody { @for d in &h.deliveries {
                        tr {
                            td data-label="Delivery" { (d.source) " #" (d.id) }
                            td data-label="State" {
                                (d.state)
                                @if let Some(r) = &d.reason { ": " (r) }
                            }
                            td data-label="Events" { (d.events) }
                            td data-label="Received" { (d.received_at) }
                        }
                    } }
                }
            }
            @if let Some(n) = &s.notifications && (n.sent + n.pending + n.failed) > 0 {
                h2 { "Notifications" }
                p.muted { (n.sent) " sent, " (n.pending) " waiting, " (n.failed) " given up" }
                @if !h.unsent.is_empty() {
                    table.rows id="notifications" {
                        thead { tr { th { "To" } th { "What" } th { "Attempts" } th { "Last error" } } }
                        tbody { @for m in &h.unsent {
                            tr {
                                td data-label="To" { (m.target) }
                                td data-label="What" { (m.kind) " " (m.subject) }
                                td data-label="Attempts" { (m.attempts) @if m.given_up_at.is_some() { " (given up)" } }
                                td data-label="Last error" { (m.last_error.as_deref().unwrap_or("")) }
                            }
                        } }
                    }
                }
            }
            h2 { "Rejected lines" }
            @if h.rejected.is_empty() { p.muted { "None." } }
            @else {
                p.muted { "The last " (h.rejected.len()) " of " (h.rejected_total) "." }
                table.rows {
                    thead { tr { th { "Where" } th { "Why" } th { "When" } } }
                    tbody { @for r in &h.rejected {
                        tr { td data-label="Where" { (r.source) ":" (r.line) } td data-label="Why" { (r.reason) } td data-label="When" { (r.rejected_at) } }
                    } }
                }
            }
        },
    ))
}

/// The inbox's processed files, newest first: name, `done` or `failed`, when.
fn inbox_files(dir: &std::path::Path) -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    for outcome in ["done", "failed"] {
        let Ok(entries) = std::fs::read_dir(dir.join(dealflow::inbox::INBOX).join(outcome)) else { continue };
        for e in entries.flatten() {
            let modified = e.metadata().and_then(|m| m.modified()).ok();
            let at =
                modified.map(|t| dealflow::time::stamp(chrono::DateTime::<chrono::Utc>::from(t))).unwrap_or_default();
            files.push((e.file_name().to_string_lossy().into_owned(), outcome.to_string(), at));
        }
    }
    files.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    files.truncate(10);
    files
}

// Queues.

#[derive(Deserialize, Default)]
struct QueueQuery {
    role: Option<String>,
    person: Option<String>,
    status: Option<String>,
    page: Option<usize>,
    msg: Option<String>,
}

/// The query string of a queue view (for links and to come back after a form).
fn queue_href(role: Option<&str>, person: Option<&str>, status: Option<&str>, page: usize) -> String {
    let mut parts = Vec::new();
    if let Some(r) = role {
        parts.push(format!("role={}", encode(r)));
    }
    if let Some(p) = person {
        parts.push(format!("person={}", encode(p)));
    }
    if let Some(s) = status {
        parts.push(format!("status={}", encode(s)));
    }
    if page > 1 {
        parts.push(format!("page={page}"));
    }
    if parts.is_empty() { "/queue".into() } else { format!("/queue?{}", parts.join("&")) }
}

async fn queue(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<QueueQuery>,
) -> Result<Markup, Response> {
    let here = queue_href(q.role.as_deref(), q.person.as_deref(), q.status.as_deref(), q.page.unwrap_or(1));
    let actor = signed_in(&app, &headers, &here).await?;
    let blank = |s: Option<String>| s.filter(|s| !s.is_empty());
    // By default: the person's own role.
    let (role, person, status) = (blank(q.role.clone()), blank(q.person.clone()), blank(q.status.clone()));
    let role = if role.is_none() && person.is_none() { Some(actor.role.clone()) } else { role };
    let page_no = q.page.unwrap_or(1).max(1);
    let (r, p, st, me) = (role.clone(), person.clone(), status.clone(), actor.key.clone());
    let (tasks, total, roles, team, config) = app
        .blocking(move |store, playbook| {
            let config = &playbook.config;
            let wanted = match st.as_deref() {
                Some(s) => Some(
                    TaskStatus::parse(s)
                        .ok_or_else(|| Fail::new(StatusCode::BAD_REQUEST, format!("unknown status {s:?}")))?,
                ),
                None => None,
            };
            let mut found = tasks::list_tasks(config, store, r, p, wanted)
                .map_err(|e| Fail::new(StatusCode::BAD_REQUEST, format!("{e:#}")))?;
            // Without a status asked for: the work still to do.
            if wanted.is_none() {
                found.retain(|t| matches!(t.status, TaskStatus::Open | TaskStatus::Claimed));
            }
            // What the person holds first: the work in their hands, then the queue.
            found.sort_by_key(|t| !t.claimed_by.as_deref().is_some_and(|h| config.same_person(h, &me)));
            let total = found.len();
            let shown: Vec<Task> = found.into_iter().skip((page_no - 1) * PAGE_SIZE).take(PAGE_SIZE).collect();
            let roles: Vec<String> = config.roles.keys().cloned().collect();
            let team: Vec<(String, String)> =
                config.team.iter().map(|p| (p.key().to_string(), p.name.clone())).collect();
            Ok((shown, total, roles, team, playbook.config.clone()))
        })
        .await
        .map_err(|e| PageFail(e, Some(Box::new(actor.clone()))).into_response())?;
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let title = match (&role, &person) {
        (_, Some(p)) => format!("Tasks of {}", config.person_label(p)),
        (Some(r), None) => format!("The {r} queue"),
        (None, None) => "Tasks".to_string(),
    };
    Ok(page(
        &title,
        Some(&actor),
        html! {
            (message(&q.msg))
            h1 { (title) }
            form.inline method="get" action="/queue" {
                select name="role" aria-label="Role" {
                    option value="" { "any role" }
                    @for r in &roles { option value=(r) selected[role.as_deref() == Some(r)] { (r) } }
                }
                select name="person" aria-label="Person" {
                    option value="" { "anyone" }
                    @for (key, name) in &team { option value=(key) selected[person.as_deref() == Some(key)] { (name) } }
                }
                select name="status" aria-label="Status" {
                    option value="" { "to do" }
                    @for s in dealflow::model::TASK_STATUSES { option value=(s) selected[status.as_deref() == Some(s)] { (s) } }
                }
                button.quiet type="submit" { "Show" }
            }
            @if let Some(r) = &role {
                form.inline method="post" action="/tasks/claim" {
                    (csrf_field(&actor))
                    input type="hidden" name="role" value=(r);
                    input type="hidden" name="back" value=(here);
                    button type="submit" id="claim" { "Claim the next " (r) " task" }
                }
            }
            p.muted { (total) " tasks" @if pages > 1 { ", page " (page_no) " of " (pages) } }
            @if !tasks.is_empty() {
                table.rows id="tasks" {
                    thead { tr { th { "Task" } th { "Priority" } th { "Due" } th { "About" } th { "Assignee" } th { "Status" } th { "" } } }
                    tbody {
                        @for t in &tasks {
                            tr id={ "task-" (t.id) } {
                                td data-label="Task" { a href={ "/tasks/" (t.id) } { "#" (t.id) " " (t.title) } }
                                td data-label="Priority" { (priority(&t.priority.to_string())) }
                                td data-label="Due" { (t.due_at) }
                                td data-label="About" { (subject_link(&t.subject)) }
                                td data-label="Assignee" { (t.assignee.as_deref().map(|a| config.person_label(a)).unwrap_or_else(|| "-".into())) }
                                td data-label="Status" class="status" {
                                    (t.status.to_string())
                                    @if let Some(by) = &t.claimed_by { " by " (config.person_label(by)) }
                                }
                                td { (actions(&actor, &config, t, &here)) }
                            }
                        }
                    }
                }
            }
            div.pager {
                @if page_no > 1 { a href=(queue_href(role.as_deref(), person.as_deref(), status.as_deref(), page_no - 1)) { "← newer" } }
                @if page_no < pages { a href=(queue_href(role.as_deref(), person.as_deref(), status.as_deref(), page_no + 1)) { "more →" } }
            }
        },
    ))
}

/// May `actor` close `t`: it is still to do, and theirs or nobody's (a manager: any).
fn may_close(actor: &Actor, config: &dealflow::config::Config, t: &Task) -> bool {
    let open = matches!(t.status, TaskStatus::Open | TaskStatus::Claimed);
    let held_by_other = t.claimed_by.as_deref().is_some_and(|h| !config.same_person(h, &actor.key));
    open && (actor.manager || !held_by_other)
}

/// Done (with an outcome) and cancel (with a reason) for a task the person may close.
fn actions(actor: &Actor, config: &dealflow::config::Config, t: &Task, back: &str) -> Markup {
    if !may_close(actor, config, t) {
        return html! {};
    }
    html! {
        form.inline method="post" action={ "/tasks/" (t.id) "/done" } {
            (csrf_field(actor))
            input type="hidden" name="back" value=(back);
            input type="text" name="outcome" placeholder="outcome" aria-label="Outcome" size="14";
            button type="submit" { "Done" }
        }
        form.inline method="post" action={ "/tasks/" (t.id) "/cancel" } {
            (csrf_field(actor))
            input type="hidden" name="back" value=(back);
            input type="text" name="reason" placeholder="why cancel" aria-label="Reason" size="14" required;
            button.quiet type="submit" { "Cancel" }
        }
    }
}

#[derive(Deserialize)]
struct ClaimForm {
    #[serde(default)]
    csrf: String,
    role: String,
    back: Option<String>,
}

async fn claim(State(app): State<Arc<App>>, headers: HeaderMap, Form(f): Form<ClaimForm>) -> Response {
    let back = back_to(f.back.as_deref(), "/queue");
    let actor = match signed_in(&app, &headers, &back).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(e) = form_ok(&actor, &headers, &f.csrf) {
        return e.into_response();
    }
    match claim_for(&app, &actor, f.role.clone(), 1).await {
        Ok(claimed) => match claimed.first() {
            Some(t) => with_msg(&back, &format!("claimed task {}: {}", t.id, t.title)).into_response(),
            None => with_msg(&back, &format!("no open {} tasks for you right now", f.role)).into_response(),
        },
        Err(e) => PageFail(e, Some(Box::new(actor))).into_response(),
    }
}

#[derive(Deserialize)]
struct CloseForm {
    #[serde(default)]
    csrf: String,
    outcome: Option<String>,
    reason: Option<String>,
    back: Option<String>,
}

async fn close(app: Arc<App>, headers: HeaderMap, id: i64, status: TaskStatus, f: CloseForm) -> Response {
    let back = back_to(f.back.as_deref(), &format!("/tasks/{id}"));
    let actor = match signed_in(&app, &headers, &back).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(e) = form_ok(&actor, &headers, &f.csrf) {
        return e.into_response();
    }
    let note = match status {
        TaskStatus::Cancelled => match f.reason.filter(|r| !r.trim().is_empty()) {
            Some(r) => Some(r),
            None => return with_msg(&back, "a cancel says why: fill in the reason").into_response(),
        },
        _ => f.outcome.filter(|o| !o.trim().is_empty()),
    };
    match close_for(&app, &actor, id, status, note).await {
        Ok(t) => with_msg(&back, &format!("task {} {}: {}", t.id, t.status, t.title)).into_response(),
        Err(e) if e.status == StatusCode::CONFLICT || e.status == StatusCode::NOT_FOUND => {
            with_msg(&back, &e.message).into_response()
        }
        Err(e) => PageFail(e, Some(Box::new(actor))).into_response(),
    }
}

async fn done(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<CloseForm>,
) -> Response {
    close(app, headers, id, TaskStatus::Done, f).await
}

async fn cancel(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<CloseForm>,
) -> Response {
    close(app, headers, id, TaskStatus::Cancelled, f).await
}

// One task, a deal, an account: `explain` as a page.

async fn explained(
    app: &Arc<App>,
    actor: &Actor,
    f: impl FnOnce(&dealflow::store::Store, &dealflow::playbook::Playbook) -> dealflow::error::Result<Explanation>
    + Send
    + 'static,
) -> Result<(Explanation, Arc<dealflow::config::Config>), Response> {
    let config = Arc::new(
        app.playbook().map_err(|e| PageFail(e.into(), Some(Box::new(actor.clone()))).into_response())?.config.clone(),
    );
    let e = app
        .blocking(move |store, playbook| match f(store, playbook) {
            Ok(e) => Ok(e),
            Err(dealflow::error::Error::NotFound(what)) => Err(Fail::new(StatusCode::NOT_FOUND, what)),
            Err(e) => Err(e.into()),
        })
        .await
        .map_err(|e| PageFail(e, Some(Box::new(actor.clone()))).into_response())?;
    Ok((e, config))
}

async fn task(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(m): Query<Msg>,
) -> Result<Markup, Response> {
    let actor = signed_in(&app, &headers, &format!("/tasks/{id}")).await?;
    let (e, config) = explained(&app, &actor, move |s, p| dealflow::explain::task(s, p, id)).await?;
    let here = format!("/tasks/{id}");
    Ok(page(
        &format!("Task {id}"),
        Some(&actor),
        html! {
            (message(&m.msg))
            @if let Some(t) = &e.task {
                h1 { "Task " (t.id) ": " (t.title) }
                table.rows {
                    tbody {
                        tr { th { "Status" } td.status { (t.status.to_string()) @if let Some(by) = &t.claimed_by { " by " (config.person_label(by)) " since " (t.claimed_at.as_deref().unwrap_or("?")) } } }
                        tr { th { "Priority" } td { (priority(&t.priority.to_string())) } }
                        tr { th { "Due" } td { (t.due_at) } }
                        tr { th { "Role" } td { a href={ "/queue?role=" (encode(&t.role)) } { (t.role) } } }
                        tr { th { "Assignee" } td { (t.assignee.as_deref().map(|a| config.person_label(a)).unwrap_or_else(|| "-".into())) } }
                        tr { th { "About" } td { (subject_link(&t.subject)) } }
                        @if let Some(o) = &t.outcome { tr { th { "Outcome" } td { (o) } } }
                    }
                }
                (actions(&actor, &config, t, &here))
                h2 { "Why it exists" }
                div.note { (t.reason) }
                p.muted { "Made by " code { (t.rule) } " in rules version " code { (t.rules_version) } " on event " code { (t.event_id) } " at " (t.created_at) }
                @if !e.assignment.is_empty() {
                    h2 { "Why it went to " (e.assignment.last().and_then(|s| s.to.as_deref()).map(|a| config.person_label(a)).unwrap_or_else(|| format!("the {} queue", t.role))) }
                    @for step in &e.assignment {
                        @if let Some((head, rest)) = step.lines.split_first() {
                            div.card.assignment {
                                p { (head) }
                                @if !rest.is_empty() { ul { @for line in rest { li { (line) } } } }
                            }
                        }
                    }
                }
            }
            (explanation(&e))
        },
    ))
}

async fn deal(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Markup, Response> {
    let actor = signed_in(&app, &headers, &format!("/deals/{}", encode(&id))).await?;
    let key = id.clone();
    let (e, _) = explained(&app, &actor, move |s, p| dealflow::explain::deal(s, p, &key)).await?;
    Ok(page(&format!("Deal {id}"), Some(&actor), html! { h1 { "Deal " (id) } (explanation(&e)) }))
}

async fn account(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Markup, Response> {
    let actor = signed_in(&app, &headers, &format!("/accounts/{}", encode(&id))).await?;
    let key = id.clone();
    let (e, _) = explained(&app, &actor, move |s, p| dealflow::explain::account(s, p, &key)).await?;
    Ok(page(&format!("Account {id}"), Some(&actor), html! { h1 { "Account " (id) } (explanation(&e)) }))
}

/// What `explain` prints: the summary, the key-account verdict with its
/// conditions and their values, the rule's text, the timeline.
fn explanation(e: &Explanation) -> Markup {
    html! {
        p { (e.summary) }
        @if let Some(k) = &e.key_now {
            h2 { "Key account?" }
            p { @if k.is_key { "Key now." } @else { "Not key now." }
                @if k.would_be_key != k.is_key { " The rules in force would say otherwise on the next event." } }
            @for v in &k.verdicts {
                div.card {
                    p { code { (v.rule) } " says " strong { (v.says) } @if let Some(r) = &v.reason { ": " (r) } }
                    @if !v.conditions.is_empty() {
                        table.rows {
                            thead { tr { th { "Line" } th { "Condition" } th { "Values" } th { "Result" } } }
                            tbody { @for c in &v.conditions {
                                tr {
                                    td data-label="Line" { (c.line) }
                                    td data-label="Condition" { code { (c.text) } }
                                    td data-label="Values" { (c.values.as_deref().unwrap_or("")) }
                                    td data-label="Result" { (c.result) }
                                }
                            } }
                        }
                    }
                    @if !v.lets.is_empty() {
                        p.muted { @for l in &v.lets { code { (l.name) " = " (l.value) } " " } }
                    }
                }
            }
        }
        @if let Some(r) = &e.rule_text {
            h2 { "The rule, as it read in version " code { (r.rules_version) } }
            @if r.changed_since { p.muted { "It reads differently in the version in force now." } }
            pre { code { (r.text) } }
        }
        @if let Some(p) = &e.pruned_before { p.muted { "Decisions before " (p) " were pruned." } }
        h2 { "Timeline" }
        table.rows {
            thead { tr { th { "When" } th { "What" } th { "Rule" } th { "Why" } th { "Version" } } }
            tbody { @for t in &e.timeline {
                tr {
                    td data-label="When" { (t.at) }
                    td data-label="What" { span.pill { (t.kind) } " " (t.what) }
                    td data-label="Rule" { (t.rule.as_deref().unwrap_or("")) }
                    td data-label="Why" { (t.reason) }
                    td data-label="Version" { code { (t.rules_version.get(..12).unwrap_or(&t.rules_version)) } }
                }
            } }
        }
    }
}

// Rules versions.

async fn rules(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Markup, Response> {
    let actor = signed_in(&app, &headers, "/rules").await?;
    let loads = app
        .blocking(|store, _| Ok(store.rules_loads()?))
        .await
        .map_err(|e| PageFail(e, Some(Box::new(actor.clone()))).into_response())?;
    let rows: Vec<(usize, &dealflow::store::backend::StoredVersion)> = loads.iter().enumerate().rev().collect();
    Ok(page(
        "Rules versions",
        Some(&actor),
        html! {
            h1 { "Rules versions" }
            p.muted { "Each time a version was put in force, the newest first." }
            table.rows {
                thead { tr { th { "Version" } th { "In force" } th { "" } } }
                tbody { @for (i, v) in &rows {
                    tr {
                        td data-label="Version" { code { (v.version) } }
                        td data-label="In force" {
                            "from " (v.loaded_at)
                            @match loads.get(i + 1) { Some(next) => { " to " (next.loaded_at) }, None => { " (in force now)" } }
                        }
                        td { @if *i > 0 && loads[i - 1].version != v.version {
                            a href={ "/rules/diff?from=" (encode(&loads[i - 1].version)) "&to=" (encode(&v.version)) } { "what changed" }
                        } }
                    }
                } }
            }
        },
    ))
}

#[derive(Deserialize)]
struct DiffQuery {
    from: String,
    to: String,
}

async fn diff(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<DiffQuery>) -> Result<Markup, Response> {
    let here = format!("/rules/diff?from={}&to={}", encode(&q.from), encode(&q.to));
    let actor = signed_in(&app, &headers, &here).await?;
    let (from, to) = (q.from.clone(), q.to.clone());
    let (a, b) = app
        .blocking(move |store, _| {
            let get = |v: &str| -> Result<Vec<(String, String)>, Fail> {
                store
                    .rules_version_files(v)?
                    .ok_or_else(|| Fail::new(StatusCode::NOT_FOUND, format!("no rules version {v}")))
            };
            Ok((get(&from)?, get(&to)?))
        })
        .await
        .map_err(|e| PageFail(e, Some(Box::new(actor.clone()))).into_response())?;
    let files = file_diffs(&a, &b);
    Ok(page(
        "What changed",
        Some(&actor),
        html! {
            h1 { "From " code { (q.from.get(..12).unwrap_or(&q.from)) } " to " code { (q.to.get(..12).unwrap_or(&q.to)) } }
            @if files.is_empty() { p { "The two versions read the same." } }
            @for (path, lines) in &files {
                h2 { (path) }
                pre { @for (tag, line) in lines {
                    @match *tag { '-' => span.del { "- " (line) }, '+' => span.ins { "+ " (line) }, _ => span { "  " (line) } }
                } }
            }
        },
    ))
}

/// Per file that differs: its changed lines with three lines around them,
/// each tagged `-` (only in the first), `+` (only in the second) or ` `.
fn file_diffs(a: &[(String, String)], b: &[(String, String)]) -> Vec<(String, Vec<(char, String)>)> {
    let find = |files: &[(String, String)], p: &str| {
        files.iter().find(|(q, _)| q == p).map(|(_, t)| t.clone()).unwrap_or_default()
    };
    let mut paths: Vec<&String> = a.iter().chain(b).map(|(p, _)| p).collect();
    paths.sort();
    paths.dedup();
    let mut out = Vec::new();
    for p in paths {
        let (old, new) = (find(a, p), find(b, p));
        if old == new {
            continue;
        }
        let diff = similar::TextDiff::from_lines(&old, &new);
        let mut lines = Vec::new();
        for group in diff.grouped_ops(3) {
            for op in group {
                for change in diff.iter_changes(&op) {
                    let tag = match change.tag() {
                        similar::ChangeTag::Delete => '-',
                        similar::ChangeTag::Insert => '+',
                        similar::ChangeTag::Equal => ' ',
                    };
                    let mut line = change.value().to_string();
                    if !line.ends_with('\n') {
                        line.push('\n');
                    }
                    lines.push((tag, line));
                }
            }
        }
        out.push((p.clone(), lines));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn going_back_stays_on_this_site() {
        assert_eq!(back_to(Some("/queue?role=sales_rep"), "/"), "/queue?role=sales_rep");
        assert_eq!(back_to(Some("//evil.example/x"), "/"), "/");
        assert_eq!(back_to(Some("https://evil.example/"), "/"), "/");
        assert_eq!(back_to(Some("/\\evil.example"), "/"), "/");
        assert_eq!(back_to(None, "/queue"), "/queue");
    }

    #[test]
    fn a_message_replaces_the_one_before() {
        assert_eq!(strip_msg("/queue?role=a&msg=old&page=2"), "/queue?role=a&page=2");
        assert_eq!(strip_msg("/tasks/3?msg=old"), "/tasks/3");
    }

    #[test]
    fn a_diff_shows_changed_lines_of_changed_files_only() {
        let a = vec![
            ("rules/a.rhai".to_string(), "one\ntwo\nthree\n".to_string()),
            ("config.toml".into(), "x = 1\n".into()),
        ];
        let b =
            vec![("rules/a.rhai".to_string(), "one\n2\nthree\n".to_string()), ("config.toml".into(), "x = 1\n".into())];
        let d = file_diffs(&a, &b);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "rules/a.rhai");
        let tags: String = d[0].1.iter().map(|(t, _)| *t).collect();
        assert_eq!(tags, " -+ ");
        assert_eq!(d[0].1[1].1, "two\n");
    }
}
