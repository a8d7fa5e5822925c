//! Friends: requests, friendships, blocks and privacy; a friend's forest,
//! taking a share of a friend's ripe ball, and watering a friend.
//!
//! Statuses (see `canopy_service::friends`): 404 for a username, id,
//! request or block that is not there; 409 for a relationship that does
//! not allow the action (`not_friend` among them); 403 for the owner's
//! privacy (`not_visible`, `collect_not_allowed`); 400 for naming oneself
//! (`invalid_request`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use canopy_service::{FriendBallView, Idempotency, ServiceError};
use canopy_store::{format_time, FriendRow, Person};

use super::balls::idempotency_key;
use crate::api::*;
use crate::auth::Citizen;
use crate::body::JsonBody;
use crate::error::{ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// A `usr_…` id from the path; one that is not an id names nobody.
fn user_id(text: &str) -> Result<i64, ServiceError> {
    ids::parse_user(text)
        .ok_or_else(|| ServiceError::not_found("user_not_found", format!("there is no citizen `{text}`")))
}

fn request_id(text: &str) -> Result<i64, ServiceError> {
    ids::parse_friend_request(text)
        .ok_or_else(|| ServiceError::not_found("request_not_found", format!("there is no friend request `{text}`")))
}

fn friend_out(person: Person, since: chrono::DateTime<chrono::Utc>) -> FriendOut {
    FriendOut {
        user_id: ids::user(person.user_id),
        username: person.username,
        display_name: person.display_name,
        since: format_time(since),
    }
}

fn friend_row_out(row: FriendRow) -> FriendOut {
    friend_out(row.person, row.since)
}

/// Asks a citizen to be friends. When their request to the caller is
/// pending, the two become friends at once (`status: accepted`). A request
/// to someone who blocks the caller is answered as if sent, but never
/// reaches them.
#[utoipa::path(post, path = "/v1/me/friends/requests", tag = "friends", security(("session" = [])),
    request_body = NameCitizen,
    responses((status = 201, body = FriendRequestCreated),
              (status = 400, description = "invalid_request (oneself)", body = Problem),
              (status = 404, description = "user_not_found", body = Problem),
              (status = 409, description = "already_friends, request_exists, user_blocked (the caller blocks them), friend_limit_reached (1000 friends), request_limit_reached (100 pending)", body = Problem)))]
pub(crate) async fn send_request(
    State(state): State<AppState>,
    citizen: Citizen,
    JsonBody(body): JsonBody<NameCitizen>,
) -> ApiResult<(StatusCode, Json<FriendRequestCreated>)> {
    let sent = state.service.send_friend_request(citizen.user_id, &body.username).await?;
    let status = if sent.befriended { "accepted" } else { "pending" };
    Ok((StatusCode::CREATED, Json(FriendRequestCreated { id: ids::friend_request(sent.id), status: status.into() })))
}

/// The caller's pending friend requests: those sent to them and those they sent.
#[utoipa::path(get, path = "/v1/me/friends/requests", tag = "friends", security(("session" = [])),
    responses((status = 200, body = FriendRequestsOut), (status = 401, body = Problem)))]
pub(crate) async fn list_requests(
    State(state): State<AppState>,
    citizen: Citizen,
) -> ApiResult<Json<FriendRequestsOut>> {
    let (mut incoming, mut outgoing) = (Vec::new(), Vec::new());
    for row in state.service.friend_requests(citizen.user_id).await? {
        let out = FriendRequestOut {
            id: ids::friend_request(row.id),
            user_id: ids::user(row.person.user_id),
            username: row.person.username,
            display_name: row.person.display_name,
            created_at: format_time(row.created_at),
        };
        if row.incoming {
            incoming.push(out)
        } else {
            outgoing.push(out)
        }
    }
    Ok(Json(FriendRequestsOut { incoming, outgoing }))
}

/// Accepts a friend request sent to the caller: the two are friends.
#[utoipa::path(post, path = "/v1/me/friends/requests/{id}/accept", tag = "friends", security(("session" = [])),
    params(("id" = String, Path, description = "The request (`frq_…`)")),
    responses((status = 200, body = FriendOut),
              (status = 404, description = "request_not_found", body = Problem),
              (status = 409, description = "friend_limit_reached", body = Problem)))]
pub(crate) async fn accept_request(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(id): Path<String>,
) -> ApiResult<Json<FriendOut>> {
    let friend = state.service.accept_friend_request(citizen.user_id, request_id(&id)?).await?;
    Ok(Json(friend_row_out(friend)))
}

/// Declines a friend request sent to the caller, or withdraws one they sent.
#[utoipa::path(post, path = "/v1/me/friends/requests/{id}/decline", tag = "friends", security(("session" = [])),
    params(("id" = String, Path, description = "The request (`frq_…`)")),
    responses((status = 204, description = "declined"), (status = 404, description = "request_not_found", body = Problem)))]
pub(crate) async fn decline_request(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.decline_friend_request(citizen.user_id, request_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's friends, oldest friendship first (at most 1000).
#[utoipa::path(get, path = "/v1/me/friends", tag = "friends", security(("session" = [])),
    responses((status = 200, body = FriendsOut), (status = 401, body = Problem)))]
pub(crate) async fn list_friends(State(state): State<AppState>, citizen: Citizen) -> ApiResult<Json<FriendsOut>> {
    let friends = state.service.friends(citizen.user_id).await?;
    Ok(Json(FriendsOut { friends: friends.into_iter().map(friend_row_out).collect() }))
}

/// Ends a friendship.
#[utoipa::path(delete, path = "/v1/me/friends/{user_id}", tag = "friends", security(("session" = [])),
    params(("user_id" = String, Path, description = "The friend (`usr_…`)")),
    responses((status = 204, description = "no longer friends"),
              (status = 400, description = "invalid_request (oneself)", body = Problem),
              (status = 404, description = "user_not_found (not a citizen id)", body = Problem),
              (status = 409, description = "not_friend", body = Problem)))]
pub(crate) async fn unfriend(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(friend): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.unfriend(citizen.user_id, user_id(&friend)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Blocks a citizen: ends the friendship, withdraws the caller's request
/// to them, and no request of theirs reaches the caller while it lasts
/// (silently: theirs look sent). Blocking again changes nothing.
#[utoipa::path(post, path = "/v1/me/blocks", tag = "friends", security(("session" = [])),
    request_body = NameCitizen,
    responses((status = 201, body = FriendOut),
              (status = 400, description = "invalid_request (oneself)", body = Problem),
              (status = 404, description = "user_not_found", body = Problem),
              (status = 409, description = "block_limit_reached (1000)", body = Problem)))]
pub(crate) async fn block(
    State(state): State<AppState>,
    citizen: Citizen,
    JsonBody(body): JsonBody<NameCitizen>,
) -> ApiResult<(StatusCode, Json<FriendOut>)> {
    let blocked = state.service.block(citizen.user_id, &body.username).await?;
    Ok((StatusCode::CREATED, Json(friend_out(blocked, state.service.now()))))
}

/// The citizens the caller blocks.
#[utoipa::path(get, path = "/v1/me/blocks", tag = "friends", security(("session" = [])),
    responses((status = 200, body = BlocksOut), (status = 401, body = Problem)))]
pub(crate) async fn list_blocks(State(state): State<AppState>, citizen: Citizen) -> ApiResult<Json<BlocksOut>> {
    let blocks = state.service.blocks(citizen.user_id).await?;
    Ok(Json(BlocksOut { blocks: blocks.into_iter().map(|b| friend_out(b.person, b.since)).collect() }))
}

/// Stops blocking a citizen.
#[utoipa::path(delete, path = "/v1/me/blocks/{user_id}", tag = "friends", security(("session" = [])),
    params(("user_id" = String, Path, description = "The blocked citizen (`usr_…`)")),
    responses((status = 204, description = "unblocked"),
              (status = 404, description = "user_not_found, block_not_found", body = Problem)))]
pub(crate) async fn unblock(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(blocked): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.unblock(citizen.user_id, user_id(&blocked)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who sees the caller's forest, and whether friends may take from it.
#[utoipa::path(get, path = "/v1/me/privacy", tag = "friends", security(("session" = [])),
    responses((status = 200, body = PrivacyBody), (status = 401, body = Problem)))]
pub(crate) async fn get_privacy(State(state): State<AppState>, citizen: Citizen) -> ApiResult<Json<PrivacyBody>> {
    let privacy = state.service.privacy(citizen.user_id).await?;
    Ok(Json(PrivacyBody {
        forest: privacy.forest.as_str().to_owned(),
        friends_may_collect: privacy.friends_may_collect,
    }))
}

/// Sets who sees the caller's forest (`friends` or `nobody`) and whether
/// friends may take a share of ripe balls (only from a forest they see).
#[utoipa::path(put, path = "/v1/me/privacy", tag = "friends", security(("session" = [])),
    request_body = PrivacyBody,
    responses((status = 200, body = PrivacyBody), (status = 400, description = "invalid_forest", body = Problem)))]
pub(crate) async fn put_privacy(
    State(state): State<AppState>,
    citizen: Citizen,
    JsonBody(body): JsonBody<PrivacyBody>,
) -> ApiResult<Json<PrivacyBody>> {
    let privacy = state.service.set_privacy(citizen.user_id, &body.forest, body.friends_may_collect).await?;
    Ok(Json(PrivacyBody {
        forest: privacy.forest.as_str().to_owned(),
        friends_may_collect: privacy.friends_may_collect,
    }))
}

fn friend_ball_out(view: FriendBallView) -> FriendBallOut {
    let ball = &view.ball;
    FriendBallOut {
        id: ids::ball(ball.id),
        behavior: ball.key.behavior.clone(),
        category: view.category,
        grams: ball.grams,
        remaining_grams: ball.remaining_grams(),
        state: view.state.as_str().to_owned(),
        ripens_at: format_time(ball.ripens_at),
        expires_at: format_time(ball.expires_at),
        may_collect: view.refusal.is_none(),
        collectable_grams: view.collectable_grams,
        refusal: view.refusal.map(str::to_owned),
    }
}

/// A friend's open balls, as their privacy allows, each with what the
/// caller would take from it now.
#[utoipa::path(get, path = "/v1/friends/{user_id}/balls", tag = "friends", security(("session" = [])),
    params(("user_id" = String, Path, description = "The friend (`usr_…`)")),
    responses((status = 200, body = FriendBallsOut),
              (status = 403, description = "not_visible (the friend shows their forest to nobody)", body = Problem),
              (status = 404, description = "user_not_found (not a citizen id)", body = Problem),
              (status = 409, description = "not_friend", body = Problem)))]
pub(crate) async fn friend_balls(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(friend): Path<String>,
) -> ApiResult<Json<FriendBallsOut>> {
    let owner = user_id(&friend)?;
    let forest = state.service.friend_forest(citizen.user_id, owner).await?;
    Ok(Json(FriendBallsOut {
        user_id: ids::user(owner),
        balls: forest.balls.into_iter().map(friend_ball_out).collect(),
        taken_today_grams: forest.taken_today_grams,
        daily_limit_grams: forest.daily_limit_grams,
    }))
}

/// Takes a share of a friend's ripe ball: by default 20 % of its grams
/// (rounded down), once per ball, never leaving the owner less than half
/// of it (rounded up), within 2000 g a day from all friends (the caller's
/// local day). With an `Idempotency-Key`, a retry gets the original answer.
#[utoipa::path(post, path = "/v1/friends/{user_id}/balls/{id}/collect", tag = "friends", security(("session" = [])),
    params(("user_id" = String, Path, description = "The friend (`usr_…`)"),
           ("id" = String, Path, description = "The friend's ball (`bal_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters")),
    responses((status = 200, body = FriendCollectedOut),
              (status = 403, description = "collect_not_allowed (the friend's privacy)", body = Problem),
              (status = 404, description = "user_not_found (not a citizen id), ball_not_found", body = Problem),
              (status = 409, description = "not_friend, ball_not_ripe, ball_expired, already_collected, already_taken, ball_protected, daily_limit_reached", body = Problem),
              (status = 422, description = "idempotency_key_reused", body = Problem)))]
pub(crate) async fn collect_from_friend(
    State(state): State<AppState>,
    citizen: Citizen,
    Path((friend, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<FriendCollectedOut>> {
    let owner = user_id(&friend)?;
    let ball_id = ids::parse_ball(&id)
        .ok_or_else(|| ServiceError::not_found("ball_not_found", format!("there is no ball `{id}`")))?;
    // The request a key stands for: this collect takes no body.
    let request = format!("POST /v1/friends/{friend}/balls/{id}/collect").into_bytes();
    let idempotency = idempotency_key(&headers)?.map(|key| Idempotency { key, request: &request });
    let taken = state.service.take_share(citizen.user_id, owner, ball_id, idempotency).await?;
    Ok(Json(FriendCollectedOut { collected_grams: taken.collected_grams, energy_grams: taken.energy_grams }))
}

/// Gives a friend energy from the caller's own balance: one of the allowed
/// amounts, by default at most 3 times a day per friend (the caller's local day).
/// With an `Idempotency-Key`, a retry gets the original answer.
#[utoipa::path(post, path = "/v1/friends/{user_id}/water", tag = "friends", security(("session" = [])),
    params(("user_id" = String, Path, description = "The friend (`usr_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters")),
    request_body = WaterIn,
    responses((status = 200, body = WateredOut),
              (status = 400, description = "invalid_amount", body = Problem),
              (status = 404, description = "user_not_found (not a citizen id)", body = Problem),
              (status = 409, description = "not_friend, water_limit_reached, insufficient_energy", body = Problem),
              (status = 422, description = "idempotency_key_reused", body = Problem)))]
pub(crate) async fn water_friend(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(friend): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<WaterIn>,
) -> ApiResult<Json<WateredOut>> {
    let friend_id = user_id(&friend)?;
    let request = format!("POST /v1/friends/{friend}/water {}", body.grams).into_bytes();
    let idempotency = idempotency_key(&headers)?.map(|key| Idempotency { key, request: &request });
    let watered = state.service.water_friend(citizen.user_id, friend_id, body.grams, idempotency).await?;
    Ok(Json(WateredOut {
        watered_grams: watered.watered_grams,
        energy_grams: watered.energy_grams,
        waterings_left: watered.waterings_left,
    }))
}
