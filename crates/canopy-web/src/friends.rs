//! Friends (`/friends`): asking someone by username, answering requests,
//! the list of friends, blocking; a friend's forest as their privacy
//! allows (`/friends/{id}`), taking a share of their ripe energy and
//! watering them.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use canopy_core::game::BallState;
use canopy_core::ids;
use canopy_service::{ErrorKind, ServiceError};
use chrono::{DateTime, Utc};
use fluent_bundle::FluentValue;
use maud::{html, Markup};

use crate::forms::{citizen, posted, service_error_page, status_of};
use crate::layout::{page, see_other, Field};
use crate::session::Viewer;
use crate::Web;

/// The friends' pages and their forms.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/friends", get(friends))
        .route("/friends/requests", post(send_request))
        .route("/friends/requests/{id}/{answer}", post(answer_request))
        .route("/friends/blocks", post(block))
        .route("/friends/blocks/{user}/remove", post(unblock))
        .route("/friends/{user}", get(friend_forest))
        .route("/friends/{user}/remove", post(unfriend))
        .route("/friends/{user}/balls/{ball}/take", post(take))
        .route("/friends/{user}/water", post(water))
}

fn local(web: &Web, at: DateTime<Utc>) -> String {
    at.with_timezone(&web.service.settings().timezone).format("%m-%d %H:%M").to_string()
}

/// The message for a refusal between friends, by its stable code.
fn refusal_message(v: &Viewer, error: &ServiceError) -> String {
    crate::forms::refusal(v, "friends", error)
}

fn notice(v: &Viewer, query: Option<&str>) -> Option<Markup> {
    let (key, value) = query?.split_once('=')?;
    let grams = |value: &str| value.parse::<i64>().ok().map(FluentValue::from);
    let text = match key {
        "done" => {
            let id = format!("friends-done-{value}");
            crate::i18n::has_message(&id).then(|| v.t(&id))?
        }
        "taken" => v.ta("friends-done-taken", &[("grams", grams(value)?)]),
        "watered" => v.ta("friends-done-watered", &[("grams", grams(value)?)]),
        _ => return None,
    };
    Some(html! { p class="notice" role="status" { (text) } })
}

fn small_form(v: &Viewer, action: &str, label: String, class: &str, aria: Option<String>) -> Markup {
    html! {
        form method="post" action=(action) class="inline" {
            (v.csrf_field())
            button type="submit" class=(class) aria-label=[aria] { (label) }
        }
    }
}

async fn friends_page(
    web: &Web,
    v: &Viewer,
    user_id: i64,
    top: Option<Markup>,
    username: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let loaded = async {
        Ok::<_, ServiceError>((
            web.service.friend_requests(user_id).await?,
            web.service.friends(user_id).await?,
            web.service.blocks(user_id).await?,
        ))
    };
    let (requests, friends, blocks) = match loaded.await {
        Ok(loaded) => loaded,
        Err(error) => return service_error_page(v, &error),
    };
    let incoming: Vec<_> = requests.iter().filter(|r| r.incoming).collect();
    let outgoing: Vec<_> = requests.iter().filter(|r| !r.incoming).collect();
    let body = html! {
        h1 { (v.t("friends-title")) }
        @if let Some(top) = top { (top) }
        p { a href="/leaderboards" { (v.t("friends-see-leaderboards")) } }
        @if !incoming.is_empty() {
            section class="card" aria-labelledby="incoming-title" {
                h2 id="incoming-title" { (v.t("friends-incoming")) }
                ul class="rows" {
                    @for r in &incoming {
                        @let name = FluentValue::from(r.person.display_name.as_str());
                        li class="row" {
                            span { strong { (r.person.display_name) } " (" (r.person.username) ")" }
                            span class="actions-inline" {
                                (small_form(v, &format!("/friends/requests/{}/accept", r.id), v.t("friends-accept"), "",
                                            Some(v.ta("friends-accept-named", &[("name", name.clone())]))))
                                (small_form(v, &format!("/friends/requests/{}/decline", r.id), v.t("friends-decline"), "secondary",
                                            Some(v.ta("friends-decline-named", &[("name", name)]))))
                            }
                        }
                    }
                }
            }
        }
        section class="card" aria-labelledby="list-title" {
            h2 id="list-title" { (v.t("friends-list")) }
            @if friends.is_empty() {
                p { (v.t("friends-none")) }
            } @else {
                ul class="rows" {
                    @for f in &friends {
                        @let name = FluentValue::from(f.person.display_name.as_str());
                        li class="row" {
                            span {
                                a href=(format!("/friends/{}", ids::user(f.person.user_id))) { strong { (f.person.display_name) } }
                                " (" (f.person.username) ")"
                                br;
                                span class="entry-meta" { (v.ta("friends-since", &[("when", FluentValue::from(local(web, f.since)))])) }
                            }
                            span class="actions-inline" {
                                (small_form(v, &format!("/friends/{}/remove", ids::user(f.person.user_id)), v.t("friends-remove"),
                                            "secondary", Some(v.ta("friends-remove-named", &[("name", name)]))))
                            }
                        }
                    }
                }
            }
        }
        section class="card" aria-labelledby="add-title" {
            h2 id="add-title" { (v.t("friends-add")) }
            form method="post" action="/friends/requests" class="stacked" novalidate {
                (v.csrf_field())
                (Field { name: "username", kind: "text", label: v.t("friends-username"), hint: Some(v.t("friends-username-hint")),
                         value: username, error: error.clone(), autocomplete: "off" }.render())
                button type="submit" name="action" value="request" { (v.t("friends-send")) }
                " "
                button type="submit" class="secondary" formaction="/friends/blocks" { (v.t("friends-block")) }
            }
            @if !outgoing.is_empty() {
                h3 { (v.t("friends-outgoing")) }
                ul class="rows" {
                    @for r in &outgoing {
                        li class="row" { span { (r.person.display_name) " (" (r.person.username) ")" }
                                         span class="entry-meta" { (v.ta("friends-sent", &[("when", FluentValue::from(local(web, r.created_at)))])) } }
                    }
                }
            }
        }
        @if !blocks.is_empty() {
            section class="card" aria-labelledby="blocked-title" {
                h2 id="blocked-title" { (v.t("friends-blocked")) }
                ul class="rows" {
                    @for b in &blocks {
                        li class="row" {
                            span { (b.person.display_name) " (" (b.person.username) ")" }
                            (small_form(v, &format!("/friends/blocks/{}/remove", ids::user(b.person.user_id)), v.t("friends-unblock"),
                                        "secondary", Some(v.ta("friends-unblock-named", &[("name", FluentValue::from(b.person.display_name.as_str()))]))))
                        }
                    }
                }
            }
        }
    };
    page(v, status, "/friends", &v.t("friends-title"), body)
}

/// Friends, requests and blocks (`GET /friends`).
pub async fn friends(State(web): State<Web>, v: Viewer, RawQuery(query): RawQuery) -> Response {
    let user_id = match citizen(&v) {
        Ok(user_id) => user_id,
        Err(page) => return page,
    };
    let top = notice(&v, query.as_deref());
    friends_page(&web, &v, user_id, top, "", None, StatusCode::OK).await
}

/// Asks someone to be friends (`POST /friends/requests` {username}).
pub async fn send_request(State(web): State<Web>, v: Viewer, body: Bytes) -> Response {
    let (user_id, fields) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let username = fields.get("username").map(|u| u.trim().to_owned()).unwrap_or_default();
    match web.service.send_friend_request(user_id, &username).await {
        Ok(answer) if answer.befriended => see_other("/friends?done=befriended", Vec::new()),
        Ok(_) => see_other("/friends?done=requested", Vec::new()),
        Err(error) if matches!(error.kind, ErrorKind::Unavailable | ErrorKind::Internal) => {
            service_error_page(&v, &error)
        }
        Err(error) => {
            let message = refusal_message(&v, &error);
            friends_page(&web, &v, user_id, None, &username, Some(message), status_of(&error)).await
        }
    }
}

/// Blocks someone by username (`POST /friends/blocks` {username}).
pub async fn block(State(web): State<Web>, v: Viewer, body: Bytes) -> Response {
    let (user_id, fields) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let username = fields.get("username").map(|u| u.trim().to_owned()).unwrap_or_default();
    match web.service.block(user_id, &username).await {
        Ok(_) => see_other("/friends?done=blocked", Vec::new()),
        Err(error) if matches!(error.kind, ErrorKind::Unavailable | ErrorKind::Internal) => {
            service_error_page(&v, &error)
        }
        Err(error) => {
            let message = refusal_message(&v, &error);
            friends_page(&web, &v, user_id, None, &username, Some(message), status_of(&error)).await
        }
    }
}

/// After a form about someone: back to the friends page with `done`, or the error's page.
fn done(v: &Viewer, result: Result<(), ServiceError>, done: &str) -> Response {
    match result {
        Ok(()) => see_other(&format!("/friends?done={done}"), Vec::new()),
        Err(error) => service_error_page(v, &error),
    }
}

/// Accepts or declines a request (`POST /friends/requests/{id}/{accept|decline}`).
pub async fn answer_request(
    State(web): State<Web>,
    v: Viewer,
    Path((id, answer)): Path<(i64, String)>,
    body: Bytes,
) -> Response {
    let (user_id, _) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    match answer.as_str() {
        "accept" => done(&v, web.service.accept_friend_request(user_id, id).await.map(|_| ()), "accepted"),
        "decline" => done(&v, web.service.decline_friend_request(user_id, id).await, "declined"),
        _ => crate::error_page(&v, StatusCode::NOT_FOUND, "error-not-found"),
    }
}

fn person(v: &Viewer, text: &str) -> Result<i64, Response> {
    ids::parse_user(text).ok_or_else(|| crate::error_page(v, StatusCode::NOT_FOUND, "error-not-found"))
}

/// Ends a friendship (`POST /friends/{user}/remove`).
pub async fn unfriend(State(web): State<Web>, v: Viewer, Path(user): Path<String>, body: Bytes) -> Response {
    let (user_id, _) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    match person(&v, &user) {
        Ok(friend) => done(&v, web.service.unfriend(user_id, friend).await, "removed"),
        Err(page) => page,
    }
}

/// Unblocks someone (`POST /friends/blocks/{user}/remove`).
pub async fn unblock(State(web): State<Web>, v: Viewer, Path(user): Path<String>, body: Bytes) -> Response {
    let (user_id, _) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    match person(&v, &user) {
        Ok(them) => done(&v, web.service.unblock(user_id, them).await, "unblocked"),
        Err(page) => page,
    }
}

async fn forest_page(
    web: &Web,
    v: &Viewer,
    user_id: i64,
    friend: i64,
    top: Option<Markup>,
    status: StatusCode,
) -> Response {
    let friends = match web.service.friends(user_id).await {
        Ok(friends) => friends,
        Err(error) => return service_error_page(v, &error),
    };
    let Some(them) = friends.iter().find(|f| f.person.user_id == friend) else {
        return crate::error_page(v, StatusCode::NOT_FOUND, "friends-refused-not-friend");
    };
    let name = FluentValue::from(them.person.display_name.as_str());
    let here = format!("/friends/{}", ids::user(friend));
    let title = v.ta("friends-forest-title", &[("name", name.clone())]);
    let forest = match web.service.friend_forest(user_id, friend).await {
        Ok(forest) => Some(forest),
        Err(error) if error.code == "not_visible" => None,
        Err(error) => return service_error_page(v, &error),
    };
    let body = html! {
        p { a href="/friends" { (v.t("friends-back")) } }
        h1 { (title) }
        @if let Some(top) = top { (top) }
        @match &forest {
            None => p class="card" { (v.ta("friends-forest-hidden", &[("name", name.clone())])) },
            Some(forest) => {
                section class="card" aria-labelledby="balls-title" {
                    h2 id="balls-title" { (v.t("friends-their-balls")) }
                    p class="hint" { (v.ta("friends-taken-today", &[("grams", FluentValue::from(forest.taken_today_grams)),
                                                                   ("limit", FluentValue::from(forest.daily_limit_grams))])) }
                    @if forest.balls.is_empty() {
                        p { (v.t("friends-no-balls")) }
                    } @else {
                        ul class="balls" {
                            @for b in &forest.balls {
                                @let ripe = b.state == BallState::Ripe;
                                li class=(if ripe { "ball ripe" } else { "ball growing" }) {
                                    div class="orb" aria-hidden="true" { (b.ball.remaining_grams()) }
                                    p class="what" { strong { (b.ball.remaining_grams()) " g" } br; (b.category) }
                                    @if b.collectable_grams > 0 {
                                        form method="post" action=(format!("{here}/balls/{}/take", b.ball.id)) {
                                            (v.csrf_field())
                                            button type="submit" { (v.ta("friends-take", &[("grams", FluentValue::from(b.collectable_grams))])) }
                                        }
                                    } @else if let Some(refusal) = b.refusal {
                                        @let id = format!("friends-refused-{}", refusal.replace('_', "-"));
                                        p class="when" { (if crate::i18n::has_message(&id) { v.t(&id) } else { v.t("error-refused") }) }
                                    } @else if !ripe {
                                        p class="when" { (v.ta("forest-ball-ripens", &[("when", FluentValue::from(local(web, b.ball.ripens_at)))])) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section class="card" aria-labelledby="water-title" {
            h2 id="water-title" { (v.ta("friends-water-title", &[("name", name)])) }
            form method="post" action=(format!("{here}/water")) class="stacked" {
                (v.csrf_field())
                div class="field" {
                    label for="grams" { (v.t("friends-water-grams")) }
                    p class="hint" id="grams-hint" { (v.t("friends-water-hint")) }
                    select id="grams" name="grams" aria-describedby="grams-hint" {
                        @for amount in web.service.game_settings().water_amounts_g() {
                            option value=(amount) { (v.ta("forest-ball-grams", &[("grams", FluentValue::from(*amount))])) }
                        }
                    }
                }
                button type="submit" { (v.t("friends-water")) }
            }
        }
    };
    page(v, status, &here, &title, body)
}

/// A friend's forest (`GET /friends/{user}`).
pub async fn friend_forest(
    State(web): State<Web>,
    v: Viewer,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let user_id = match citizen(&v) {
        Ok(user_id) => user_id,
        Err(page) => return page,
    };
    let friend = match person(&v, &user) {
        Ok(friend) => friend,
        Err(page) => return page,
    };
    let top = notice(&v, query.as_deref());
    forest_page(&web, &v, user_id, friend, top, StatusCode::OK).await
}

/// Shows a move's refusal on the friend's forest.
async fn refused_on_forest(web: &Web, v: &Viewer, user_id: i64, friend: i64, error: &ServiceError) -> Response {
    if matches!(error.kind, ErrorKind::Unavailable | ErrorKind::Internal) {
        return service_error_page(v, error);
    }
    let top = html! { p class="alert" role="alert" { (refusal_message(v, error)) } };
    forest_page(web, v, user_id, friend, Some(top), status_of(error)).await
}

/// Takes a share of a friend's ripe ball (`POST /friends/{user}/balls/{ball}/take`).
pub async fn take(State(web): State<Web>, v: Viewer, Path((user, ball)): Path<(String, i64)>, body: Bytes) -> Response {
    let (user_id, _) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let friend = match person(&v, &user) {
        Ok(friend) => friend,
        Err(page) => return page,
    };
    match web.service.take_share(user_id, friend, ball, None).await {
        Ok(taken) => see_other(&format!("/friends/{user}?taken={}", taken.collected_grams), Vec::new()),
        Err(error) => refused_on_forest(&web, &v, user_id, friend, &error).await,
    }
}

/// Waters a friend with some of one's energy (`POST /friends/{user}/water` {grams}).
pub async fn water(State(web): State<Web>, v: Viewer, Path(user): Path<String>, body: Bytes) -> Response {
    let (user_id, fields) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let friend = match person(&v, &user) {
        Ok(friend) => friend,
        Err(page) => return page,
    };
    let Some(grams) = fields.get("grams").and_then(|g| g.trim().parse::<i64>().ok()) else {
        let error = ServiceError::invalid("invalid_amount", "grams must be a whole number");
        return refused_on_forest(&web, &v, user_id, friend, &error).await;
    };
    match web.service.water_friend(user_id, friend, grams, None).await {
        Ok(watered) => see_other(&format!("/friends/{user}?watered={}", watered.watered_grams), Vec::new()),
        Err(error) => refused_on_forest(&web, &v, user_id, friend, &error).await,
    }
}
