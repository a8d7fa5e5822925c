//! Leaderboards (`/leaderboards`): the citizen's region or their friends,
//! ranked by verified reduction or by energy received, for a day, a week,
//! a month or all time, with the viewer's own rank.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use canopy_service::BoardQuery;
use fluent_bundle::FluentValue;
use maud::{html, Markup};
use serde::Deserialize;

use crate::forms::{citizen, service_error_page};
use crate::layout::page;
use crate::session::Viewer;
use crate::Web;

/// Rows a board page shows.
const PAGE: u32 = 50;

/// The leaderboards page.
pub(crate) fn routes() -> Router<Web> {
    Router::new().route("/leaderboards", get(leaderboards))
}

/// The board in the page's address.
#[derive(Debug, Default, Deserialize)]
pub struct BoardParams {
    board: Option<String>,
    metric: Option<String>,
    period: Option<String>,
    cursor: Option<String>,
}

fn choice(v: &Viewer, label: &str, options: &[(&str, &str)], chosen: &str, href: impl Fn(&str) -> String) -> Markup {
    html! {
        div class="tabs" role="group" aria-label=(v.t(label)) {
            @for (value, id) in options {
                @if *value == chosen {
                    a class="tab current" href=(href(value)) aria-current="true" { (v.t(id)) }
                } @else {
                    a class="tab" href=(href(value)) { (v.t(id)) }
                }
            }
        }
    }
}

/// A board (`GET /leaderboards?board=&metric=&period=&cursor=`).
pub async fn leaderboards(
    State(web): State<Web>,
    v: Viewer,
    params: Result<Query<BoardParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let user_id = match citizen(&v) {
        Ok(user_id) => user_id,
        Err(page) => return page,
    };
    let Query(params) = params.unwrap_or_default();
    let query = BoardQuery {
        board: params.board.clone(),
        metric: params.metric.clone(),
        period: params.period.clone(),
        region: None,
        cursor: params.cursor.clone(),
        limit: Some(PAGE),
    };
    let board = match web.service.leaderboard(user_id, query).await {
        Ok(board) => board,
        Err(error) => return service_error_page(&v, &error),
    };
    let (b, m, p) = (board.board.as_str(), board.metric.as_str(), board.period.as_str());
    let link = |b: &str, m: &str, p: &str| format!("/leaderboards?board={b}&metric={m}&period={p}");
    let (rank, grams) = board.me;
    let scope = match &board.region {
        Some(region) => v.ta("boards-region-of", &[("region", FluentValue::from(region.as_str()))]),
        None => v.t("boards-friends"),
    };
    let body = html! {
        h1 { (v.t("boards-title")) }
        (choice(&v, "boards-board", &[("region", "boards-board-region"), ("friends", "boards-board-friends")], b, |x| link(x, m, p)))
        (choice(&v, "boards-period", &[("day", "boards-period-day"), ("week", "boards-period-week"), ("month", "boards-period-month"), ("all", "boards-period-all")],
                p, |x| link(b, m, x)))
        (choice(&v, "boards-metric", &[("reduction", "boards-metric-reduction"), ("energy", "boards-metric-energy")], m, |x| link(b, x, p)))
        section class="card" aria-labelledby="board-title" {
            h2 id="board-title" { (scope) }
            p class="notice" id="my-rank" { (v.ta("boards-my-rank", &[("rank", FluentValue::from(rank as i64)), ("grams", FluentValue::from(grams))])) }
            @if board.entries.is_empty() {
                p { (v.t("boards-empty")) }
            } @else {
                div class="table-wrap" tabindex="0" {
                    table {
                        caption class="visually-hidden" { (scope) }
                        thead { tr {
                            th scope="col" class="num" { (v.t("boards-rank")) }
                            th scope="col" { (v.t("boards-name")) }
                            th scope="col" class="num" { (v.t(if m == "energy" { "boards-metric-energy" } else { "boards-metric-reduction" })) }
                        } }
                        tbody {
                            @for e in &board.entries {
                                tr class=[(e.user_id == user_id).then_some("me")] {
                                    td class="num" { (e.rank) }
                                    td { (e.display_name) @if e.user_id == user_id { " " span class="you" { (v.t("boards-you")) } } }
                                    td class="num" { (v.ta("forest-ball-grams", &[("grams", FluentValue::from(e.grams))])) }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = &board.next_cursor {
                p { a rel="next" href=(format!("{}&cursor={next}", link(b, m, p))) { (v.t("boards-more")) } }
            }
            p class="hint" { (v.ta("boards-as-of", &[("when", FluentValue::from(board.as_of.with_timezone(&web.service.settings().timezone).format("%H:%M:%S").to_string()))])) }
        }
    };
    page(&v, StatusCode::OK, "/leaderboards", &v.t("boards-title"), body)
}
