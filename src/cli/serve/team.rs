//! The team on a day, as `dealflow team` shows it: who is in, away or
//! inactive, each role's weight, open tasks against the cap, working days
//! and the next time off. `GET /team` (the page) and `GET /api/team` (its JSON).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use dealflow::assign::RosterRow;
use maud::{Markup, html};
use serde::Deserialize;

use super::pages::{PageFail, signed_in};
use super::view::page;
use super::{App, Fail};

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/team", get(team_page)).route("/api/team", get(team_json))
}

#[derive(Deserialize)]
struct On {
    /// YYYY-MM-DD; today when absent.
    on: Option<String>,
}

fn day(q: &On) -> Result<NaiveDate, Fail> {
    match q.on.as_deref().filter(|d| !d.is_empty()) {
        None => Ok(chrono::Utc::now().date_naive()),
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| Fail::new(StatusCode::BAD_REQUEST, format!("on={d:?} is not a date: write YYYY-MM-DD"))),
    }
}

async fn rows(app: &Arc<App>, on: NaiveDate) -> Result<Vec<RosterRow>, Fail> {
    app.blocking(move |store, playbook| Ok(dealflow::assign::roster(&playbook.config, Some(store), on)?)).await
}

async fn team_json(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<On>,
) -> Result<Json<Vec<RosterRow>>, Fail> {
    super::api::require(&app, &headers, false).await?;
    Ok(Json(rows(&app, day(&q)?).await?))
}

async fn team_page(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<On>) -> Result<Markup, Response> {
    let actor = signed_in(&app, &headers, "/team").await?;
    let fail = |e: Fail| PageFail(e, Some(Box::new(actor.clone()))).into_response();
    let on = day(&q).map_err(fail)?;
    let rows = rows(&app, on).await.map_err(fail)?;
    Ok(page(
        "Team",
        Some(&actor),
        html! {
            h1 { "Team on " (on) }
            form method="get" action="/team" {
                label { "Another day " input type="date" name="on" value=(on); }
                " " button type="submit" { "Show" }
            }
            p.muted { "Who takes work: nobody away or inactive is given a task, nobody at their cap (max_open) gets more. `dealflow team` shows the same." }
            table.rows {
                thead { tr { th { "Name" } th { "Role" } th { "Weight" } th { "Open" } th { "Days" } th { "On " (on) } th { "Next time off" } } }
                tbody { @for r in &rows {
                    tr {
                        td data-label="Name" { (r.name) }
                        td data-label="Role" { (r.role) }
                        td data-label="Weight" { (r.weight) }
                        td data-label="Open" { (crate::cli::team::open_of(r)) }
                        td data-label="Days" { (r.days.join(", ")) }
                        td data-label="State" { (r.state) }
                        td data-label="Next time off" { @match r.next_away { Some(a) => { (a.from) " to " (a.to) }, None => { "-" } } }
                    }
                } }
            }
        },
    ))
}
