//! Check-in, streaks, medals and challenges (`/medals`): the daily check-in
//! with the streak it keeps, the medals earned and those in progress, and
//! the challenges to join alone or as a team.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use canopy_core::game::challenges::ChallengeMetric;
use canopy_core::ids;
use canopy_service::{ErrorKind, ServiceError};
use chrono::{DateTime, Utc};
use fluent_bundle::FluentValue;
use maud::{html, Markup};

use crate::forms::{citizen, posted, service_error_page, status_of};
use crate::history::category_name;
use crate::layout::{page, see_other};
use crate::session::Viewer;
use crate::Web;

/// Challenges the page lists, at most.
const CHALLENGES_SHOWN: usize = 20;

/// The page and its forms.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/medals", get(medals))
        .route("/checkin", post(check_in))
        .route("/challenges/{id}/join", post(join))
        .route("/challenges/{id}/teams", post(create_team))
}

fn day(web: &Web, at: DateTime<Utc>) -> String {
    at.with_timezone(&web.service.settings().timezone).format("%Y-%m-%d").to_string()
}

fn metric_text(v: &Viewer, metric: &ChallengeMetric, goal: i64) -> String {
    match metric {
        ChallengeMetric::ReductionGrams { category: Some(c) } => v.ta(
            "medals-goal-reduction-of",
            &[("grams", FluentValue::from(goal)), ("category", FluentValue::from(category_name(v, *c)))],
        ),
        ChallengeMetric::ReductionGrams { category: None } => {
            v.ta("medals-goal-reduction", &[("grams", FluentValue::from(goal))])
        }
        ChallengeMetric::Acts { behavior: Some(b) } => v.ta(
            "medals-goal-acts-of",
            &[("count", FluentValue::from(goal)), ("behavior", FluentValue::from(b.as_str()))],
        ),
        ChallengeMetric::Acts { behavior: None } => v.ta("medals-goal-acts", &[("count", FluentValue::from(goal))]),
    }
}

fn notice(v: &Viewer, query: Option<&str>) -> Option<Markup> {
    let query = query?;
    let text = if let Some(rest) = query.strip_prefix("checked=") {
        let mut parts = rest.split(',');
        let streak = parts.next()?.parse::<i64>().ok()?;
        let reward = parts.next().and_then(|r| r.parse::<i64>().ok()).unwrap_or(0);
        let mut text = v.ta("medals-checked-in", &[("days", FluentValue::from(streak))]);
        if reward > 0 {
            text.push(' ');
            text.push_str(&v.ta("medals-reward", &[("grams", FluentValue::from(reward))]));
        }
        text
    } else if query == "joined=1" {
        v.t("medals-joined")
    } else {
        return None;
    };
    Some(html! { p class="notice" role="status" { (text) } })
}

async fn medals_page(web: &Web, v: &Viewer, user_id: i64, top: Option<Markup>, status: StatusCode) -> Response {
    let loaded = async {
        let streak = web.service.streak(user_id).await?;
        let medals = web.service.medals(user_id).await?;
        let mut challenges = Vec::new();
        for row in web.service.challenges().await?.into_iter().take(CHALLENGES_SHOWN) {
            challenges.push(web.service.challenge_view(row.id, user_id).await?);
        }
        Ok::<_, ServiceError>((streak, medals, challenges))
    };
    let (streak, medals, challenges) = match loaded.await {
        Ok(loaded) => loaded,
        Err(error) => return service_error_page(v, &error),
    };
    let now = web.service.now();
    let body = html! {
        h1 { (v.t("medals-title")) }
        @if let Some(top) = top { (top) }
        section class="card" aria-labelledby="checkin-title" {
            h2 id="checkin-title" { (v.t("medals-checkin")) }
            p class="streak" { (v.ta("medals-streak", &[("days", FluentValue::from(streak.days))])) }
            @if streak.checked_in_today {
                p { (v.t("medals-checked-today")) }
            } @else {
                form method="post" action="/checkin" {
                    (v.csrf_field())
                    button type="submit" { (v.t("medals-checkin-go")) }
                }
            }
        }
        section class="card" aria-labelledby="earned-title" {
            h2 id="earned-title" { (v.t("medals-earned")) }
            @if medals.earned.is_empty() {
                p { (v.t("medals-none")) }
            } @else {
                ul class="medals" {
                    @for m in &medals.earned {
                        li class="medal earned" {
                            span class="medal-badge" aria-hidden="true" { "🏅" }
                            strong { (m.medal.title) }
                            br;
                            span class="entry-meta" { (m.medal.description) " · " (m.period_key) " · " (day(web, m.earned_at)) }
                        }
                    }
                }
            }
        }
        @if !medals.in_progress.is_empty() {
            section class="card" aria-labelledby="progress-title" {
                h2 id="progress-title" { (v.t("medals-in-progress")) }
                ul class="medals" {
                    @for m in &medals.in_progress {
                        @let id = format!("medal-{}", m.medal.id);
                        li class="medal" {
                            label for=(id) { strong { (m.medal.title) } }
                            br;
                            span class="entry-meta" { (m.medal.description) }
                            progress id=(id) max=(m.goal.max(1)) value=(m.current.min(m.goal)) { (m.current) " / " (m.goal) }
                            span class="entry-meta" { (m.current.min(m.goal)) " / " (m.goal) }
                        }
                    }
                }
            }
        }
        section class="card" aria-labelledby="challenges-title" {
            h2 id="challenges-title" { (v.t("medals-challenges")) }
            @if challenges.is_empty() {
                p { (v.t("medals-no-challenges")) }
            }
            @for c in &challenges {
                @let ch = &c.row.challenge;
                @let open = now >= ch.starts_at && now < ch.ends_at;
                @let here = format!("/challenges/{}", ids::challenge(c.row.id));
                article class="challenge" {
                    h3 { (ch.title) }
                    p { (metric_text(v, &ch.metric, ch.goal)) " · " (v.ta("medals-reward-each", &[("grams", FluentValue::from(ch.reward_grams))])) }
                    p class="entry-meta" { (day(web, ch.starts_at)) " – " (day(web, ch.ends_at)) " · " (v.ta("medals-team-size", &[("count", FluentValue::from(ch.team_size_max as i64))])) }
                    @match c.my_team.and_then(|t| c.teams.iter().find(|(team, _)| team.id == t)) {
                        Some((team, result)) => {
                            p { (v.ta("medals-my-team", &[("team", FluentValue::from(team.name.as_str()))])) }
                            progress max=(ch.goal.max(1)) value=(result.progress.min(ch.goal)) aria-label=(v.t("medals-team-progress")) { (result.progress) }
                            span class="entry-meta" { (result.progress.min(ch.goal)) " / " (ch.goal) }
                        }
                        None => {
                            @if open {
                                div class="actions-inline" {
                                    form method="post" action=(format!("{here}/join")) class="inline" {
                                        (v.csrf_field())
                                        button type="submit" { (v.t("medals-join-alone")) }
                                    }
                                }
                                @if ch.team_size_max > 1 {
                                    @let open_teams: Vec<_> = c.teams.iter().filter(|(t, _)| (t.members.len() as u32) < ch.team_size_max).collect();
                                    @if !open_teams.is_empty() {
                                        form method="post" action=(format!("{here}/join")) class="inline-form" {
                                            (v.csrf_field())
                                            label for=(format!("team-{}", c.row.id)) { (v.t("medals-join-team")) }
                                            select id=(format!("team-{}", c.row.id)) name="team" {
                                                @for (t, _) in &open_teams { option value=(ids::team(t.id)) { (t.name) } }
                                            }
                                            button type="submit" class="secondary" { (v.t("medals-join-team-go")) }
                                        }
                                    }
                                    form method="post" action=(format!("{here}/teams")) class="inline-form" {
                                        (v.csrf_field())
                                        label for=(format!("team-name-{}", c.row.id)) { (v.t("medals-team-name")) }
                                        input type="text" id=(format!("team-name-{}", c.row.id)) name="name" maxlength="40" required;
                                        button type="submit" class="secondary" { (v.t("medals-create-team")) }
                                    }
                                }
                            } @else {
                                p class="entry-meta" { (v.t("medals-challenge-closed")) }
                            }
                        }
                    }
                }
            }
        }
    };
    page(v, status, "/medals", &v.t("medals-title"), body)
}

/// Check-in, medals and challenges (`GET /medals`).
pub async fn medals(State(web): State<Web>, v: Viewer, RawQuery(query): RawQuery) -> Response {
    let user_id = match citizen(&v) {
        Ok(user_id) => user_id,
        Err(page) => return page,
    };
    let top = notice(&v, query.as_deref());
    medals_page(&web, &v, user_id, top, StatusCode::OK).await
}

async fn refused(web: &Web, v: &Viewer, user_id: i64, error: &ServiceError) -> Response {
    if matches!(error.kind, ErrorKind::Unavailable | ErrorKind::Internal) {
        return service_error_page(v, error);
    }
    let text = crate::forms::refusal(v, "medals", error);
    let top = html! { p class="alert" role="alert" { (text) } };
    medals_page(web, v, user_id, Some(top), status_of(error)).await
}

/// Checks in for today (`POST /checkin`).
pub async fn check_in(State(web): State<Web>, v: Viewer, body: Bytes) -> Response {
    let (user_id, _) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    match web.service.check_in(user_id, None).await {
        Ok(done) => see_other(&format!("/medals?checked={},{}", done.streak_days, done.reward_grams), Vec::new()),
        Err(error) => refused(&web, &v, user_id, &error).await,
    }
}

fn challenge(v: &Viewer, text: &str) -> Result<i64, Response> {
    ids::parse_challenge(text).ok_or_else(|| crate::error_page(v, StatusCode::NOT_FOUND, "error-not-found"))
}

/// Joins a challenge, alone or into a team (`POST /challenges/{id}/join` {team?}).
pub async fn join(State(web): State<Web>, v: Viewer, Path(id): Path<String>, body: Bytes) -> Response {
    let (user_id, fields) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let id = match challenge(&v, &id) {
        Ok(id) => id,
        Err(page) => return page,
    };
    let team = match fields.get("team").filter(|t| !t.is_empty()) {
        Some(text) => match ids::parse_team(text) {
            Some(team) => Some(team),
            None => return crate::error_page(&v, StatusCode::NOT_FOUND, "error-not-found"),
        },
        None => None,
    };
    match web.service.join_challenge(id, user_id, team).await {
        Ok(_) => see_other("/medals?joined=1", Vec::new()),
        Err(error) => refused(&web, &v, user_id, &error).await,
    }
}

/// Creates a team and joins it (`POST /challenges/{id}/teams` {name}).
pub async fn create_team(State(web): State<Web>, v: Viewer, Path(id): Path<String>, body: Bytes) -> Response {
    let (user_id, fields) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let id = match challenge(&v, &id) {
        Ok(id) => id,
        Err(page) => return page,
    };
    let name = fields.get("name").cloned().unwrap_or_default();
    match web.service.create_team(id, user_id, &name).await {
        Ok(_) => see_other("/medals?joined=1", Vec::new()),
        Err(error) => refused(&web, &v, user_id, &error).await,
    }
}
