//! My forest (`/`): the citizen's green energy and verified reduction, the
//! energy balls to collect (drawn as balls, each with what it is from and
//! when it vanishes), what ripens next; and for a visitor, a welcome.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use canopy_core::game::balls::BallState;
use canopy_core::redemption::ProjectKind;
use chrono::{DateTime, Utc};
use fluent_bundle::FluentValue;
use maud::{html, Markup};

use crate::forms::posted;
use crate::layout::{page, see_other};
use crate::session::Viewer;
use crate::Web;

/// Trees and land the forest page lists, at most (the newest redemptions).
const PLANTED_SHOWN: i64 = 20;

/// My forest and collecting.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/", get(forest))
        .route("/collect", post(collect_all))
        .route("/balls/{id}/collect", post(collect_one))
}

fn when(web: &Web, at: DateTime<Utc>) -> String {
    at.with_timezone(&web.service.settings().timezone).format("%m-%d %H:%M").to_string()
}

fn welcome(v: &Viewer, deleted: bool) -> Response {
    let body = html! {
        @if deleted { p class="notice" role="status" { (v.t("settings-deleted-notice")) } }
        section class="card" {
            h1 { (v.t("welcome-title")) }
            p { (v.t("app-tagline")) }
            p { (v.t("welcome-body")) }
            div class="actions" {
                a href="/signup" { (v.t("welcome-signup")) }
                a href="/login" { (v.t("welcome-login")) }
            }
        }
    };
    page(v, StatusCode::OK, "/", &v.t("welcome-title"), body)
}

fn figure(value: String, label: String) -> Markup {
    html! { div class="figure card" { div class="value" { (value) } div class="label" { (label) } } }
}

/// My forest, or a welcome for a visitor (`GET /`).
pub async fn forest(State(web): State<Web>, v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(user) = &v.user else { return welcome(&v, q.contains_key("deleted")) };
    let (account, balls, redeemed) = match (
        web.service.account(user.user_id).await,
        web.service.balls(user.user_id).await,
        web.service.redemptions(user.user_id, None, Some(PLANTED_SHOWN)).await,
    ) {
        (Ok(account), Ok(balls), Ok(redeemed)) => (account, balls, redeemed),
        _ => return crate::error_page(&v, StatusCode::SERVICE_UNAVAILABLE, "error-unavailable"),
    };
    let planted: Vec<_> = redeemed
        .redemptions
        .iter()
        .filter(|r| r.cancelled_at.is_none() && matches!(r.project_kind, ProjectKind::Tree | ProjectKind::Land))
        .collect();
    let grams = |g: i64| FluentValue::from(g);
    let open: Vec<_> = balls.iter().filter(|b| matches!(b.state, BallState::Ripe | BallState::Growing)).collect();
    let ripe_grams: i64 =
        open.iter().filter(|b| b.state == BallState::Ripe).map(|b| b.row.ball.remaining_grams()).sum();
    let next = open.iter().filter(|b| b.state == BallState::Growing).min_by_key(|b| b.row.ball.ripens_at);
    let notice = match q.get("collected").and_then(|g| g.parse::<i64>().ok()) {
        Some(0) => Some(v.t("forest-nothing-collected")),
        Some(g) => Some(v.ta("forest-collected", &[("grams", grams(g))])),
        None => None,
    };
    let body = html! {
        h1 { (v.ta("forest-greeting", &[("name", FluentValue::from(account.user.display_name.as_str()))])) }
        @if let Some(notice) = notice { p class="notice" role="status" { (notice) } }
        div class="figures" {
            (figure(v.ta("forest-energy", &[("grams", grams(account.balances.energy_grams))]), v.t("forest-energy-label")))
            (figure(v.ta("forest-reduction", &[("grams", grams(account.balances.reduction_grams))]),
                    v.t("forest-reduction-label")))
        }
        section class="card" aria-labelledby="balls-title" {
            h2 id="balls-title" { (v.t("forest-balls")) }
            @if open.is_empty() {
                p { (v.t("forest-balls-none")) }
            } @else {
                @if ripe_grams > 0 {
                    form method="post" action="/collect" class="actions" {
                        (v.csrf_field())
                        button type="submit" { (v.ta("forest-collect-all", &[("grams", grams(ripe_grams))])) }
                    }
                }
                ul class="balls" {
                    @for b in &open {
                        @let ball = &b.row.ball;
                        @let ripe = b.state == BallState::Ripe;
                        li class=(if ripe { "ball ripe" } else { "ball growing" }) {
                            div class="orb" aria-hidden="true" { (ball.remaining_grams()) }
                            p class="what" {
                                strong { (v.ta("forest-ball-grams", &[("grams", grams(ball.remaining_grams()))])) }
                                br;
                                (v.ta("forest-ball-from", &[("behavior", FluentValue::from(ball.key.behavior.as_str())),
                                                            ("category", FluentValue::from(b.row.category.as_str()))]))
                            }
                            @if ripe {
                                p class="when" { (v.ta("forest-ball-vanishes", &[("when", FluentValue::from(when(&web, ball.expires_at)))])) }
                                form method="post" action=(format!("/balls/{}/collect", ball.id)) {
                                    (v.csrf_field())
                                    button type="submit" aria-label=(format!("{} {} g", v.t("forest-collect"), ball.remaining_grams())) {
                                        (v.t("forest-collect"))
                                    }
                                }
                            } @else {
                                p class="when" { (v.ta("forest-ball-ripens", &[("when", FluentValue::from(when(&web, ball.ripens_at)))])) }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = next {
                p { (v.ta("forest-next", &[("grams", grams(next.row.ball.remaining_grams())),
                                           ("when", FluentValue::from(when(&web, next.row.ball.ripens_at)))])) }
            }
        }
        section class="card" aria-labelledby="planted-title" {
            h2 id="planted-title" { (v.t("forest-planted")) }
            @if planted.is_empty() {
                p { (v.t("forest-planted-none")) " " a href="/redeem" { (v.t("forest-planted-how")) } }
            } @else {
                ul class="rows" {
                    @for r in &planted {
                        li class="row" {
                            span { span aria-hidden="true" { (if r.project_kind == ProjectKind::Tree { "🌳 " } else { "🏞 " }) } (r.project_title) " × " (r.quantity) }
                            @if let Some(number) = &r.certificate {
                                a href=(format!("/certificates/{number}")) { (v.ta("forest-certificate", &[("number", FluentValue::from(number.as_str()))])) }
                            }
                        }
                    }
                }
            }
        }
        p { a href="/leaderboards" { (v.t("forest-leaderboards")) } " · " a href="/history" { (v.t("forest-history")) } }
    };
    page(&v, StatusCode::OK, "/", &v.t("forest-title"), body)
}

async fn collect(web: &Web, v: &Viewer, ball: Option<i64>, body: &[u8]) -> Response {
    let user_id = match posted(v, body) {
        Ok((user_id, _)) => user_id,
        Err(page) => return page,
    };
    match web.service.collect_balls(user_id, ball, None).await {
        Ok(collected) => see_other(&format!("/?collected={}", collected.collected_grams), Vec::new()),
        Err(error) if error.kind == canopy_service::ErrorKind::RateLimited => {
            crate::error_page(v, StatusCode::TOO_MANY_REQUESTS, "error-rate-limited")
        }
        // Nothing ripe (already collected, not ripe, gone): said on the forest.
        Err(error)
            if error.kind != canopy_service::ErrorKind::Unavailable
                && error.kind != canopy_service::ErrorKind::Internal =>
        {
            see_other("/?collected=0", Vec::new())
        }
        Err(_) => crate::error_page(v, StatusCode::SERVICE_UNAVAILABLE, "error-unavailable"),
    }
}

/// Collects every ripe ball (`POST /collect`).
pub async fn collect_all(State(web): State<Web>, v: Viewer, body: Bytes) -> Response {
    collect(&web, &v, None, &body).await
}

/// Collects one ball (`POST /balls/{id}/collect`).
pub async fn collect_one(State(web): State<Web>, v: Viewer, Path(id): Path<i64>, body: Bytes) -> Response {
    collect(&web, &v, Some(id), &body).await
}
