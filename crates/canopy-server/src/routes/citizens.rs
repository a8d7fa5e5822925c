//! Citizens: registration, sessions, the account, consent and the ledger.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use canopy_core::types::RegionCode;
use canopy_store::{format_time, NewUser};
use chrono::{Duration, Utc};
use rand::Rng;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::*;
use crate::auth::{link_code_hash, random_token, token_hash, Citizen};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult, Problem};
use crate::ids;
use crate::routes::{category_names, parse_categories};
use crate::AppState;

/// How long a link code stays valid.
pub(crate) const LINK_CODE_TTL_S: i64 = 600;
/// The default and largest ledger page.
const LEDGER_PAGE_DEFAULT: u32 = 50;
const LEDGER_PAGE_MAX: u32 = 500;

/// 3 to 32 of lower-case ASCII letters, digits, `_`, `.` and `-`.
fn username_ok(username: &str) -> bool {
    (3..=32).contains(&username.len())
        && username.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
}

fn validate_user(body: &CreateUser) -> ApiResult<RegionCode> {
    if !username_ok(&body.username) {
        return Err(ApiError::bad_request(
            "invalid_username",
            "username must be 3 to 32 characters: lower-case letters, digits, `_`, `.` or `-`",
        ));
    }
    let password_chars = body.password.chars().count();
    if !(8..=256).contains(&password_chars) {
        return Err(ApiError::bad_request("weak_password", "password must be 8 to 256 characters"));
    }
    let name_chars = body.display_name.trim().chars().count();
    if !(1..=64).contains(&name_chars) || body.display_name.trim().chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_display_name",
            "display_name must be 1 to 64 characters, none a control character",
        ));
    }
    RegionCode::parse(&body.region).map_err(|e| ApiError::bad_request("invalid_region", e.to_string()))
}

/// Hashes a password with argon2id on the blocking pool (it is deliberately slow).
pub async fn hash_password(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

/// Opens a carbon account.
#[utoipa::path(post, path = "/v1/users", tag = "citizens", request_body = CreateUser,
    responses((status = 201, body = UserCreated), (status = 400, body = Problem), (status = 409, description = "username_taken", body = Problem)))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserCreated>)> {
    let region = validate_user(&body)?;
    if state.store.user_by_username(&body.username).await?.is_some() {
        return Err(canopy_store::StoreError::UsernameTaken.into());
    }
    let hashing = crate::auth::password_hashing_turn(&state).await?;
    let password_hash = hash_password(body.password).await?;
    drop(hashing);
    let user = state
        .store
        .create_user(
            &NewUser {
                username: body.username,
                password_hash,
                display_name: body.display_name.trim().to_owned(),
                region: region.as_str().to_owned(),
            },
            Utc::now(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserCreated {
            id: ids::user(user.id),
            username: user.username,
            region: user.region,
            display_name: user.display_name,
        }),
    ))
}

/// Signs in: returns an opaque bearer token.
#[utoipa::path(post, path = "/v1/sessions", tag = "citizens", request_body = CreateSession,
    responses((status = 200, body = SessionCreated), (status = 401, description = "invalid_credentials", body = Problem)))]
pub(crate) async fn create_session(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateSession>,
) -> ApiResult<(StatusCode, Json<SessionCreated>)> {
    // A name that could never have been registered is not looked up (and a
    // NUL in it would be a database error on PostgreSQL, not a wrong login).
    let user = match username_ok(&body.username) {
        true => state.store.user_by_username(&body.username).await?,
        false => None,
    };
    // Verify against a real hash even for unknown users, so that timing
    // does not reveal which usernames exist.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let password = body.password;
    let hashing = crate::auth::password_hashing_turn(&state).await?;
    let verified = tokio::task::spawn_blocking(move || {
        // The turn ends with the hash, even if the request is dropped meanwhile.
        let _hashing = hashing;
        let stored = stored.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| {
                    let salt = SaltString::generate(&mut OsRng);
                    Argon2::default().hash_password(b"not a password", &salt).expect("hashing works").to_string()
                })
                .clone()
        });
        PasswordHash::new(&stored)
            .map(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
            .unwrap_or(false)
    })
    .await
    .map_err(ApiError::internal)?;
    let user = match user {
        Some(user) if verified => user,
        _ => return Err(ApiError::unauthorized("invalid_credentials", "unknown username or wrong password")),
    };
    let token = random_token();
    let now = Utc::now();
    let expires_at = now + Duration::seconds(state.config.session_ttl_s);
    state.store.create_session(&token_hash(&token), user.id, now, expires_at).await?;
    Ok((StatusCode::OK, Json(SessionCreated { token, expires_at: format_time(expires_at) })))
}

/// The signed-in citizen's account and balances.
#[utoipa::path(get, path = "/v1/me", tag = "citizens", security(("session" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub(crate) async fn me(State(state): State<AppState>, citizen: Citizen) -> ApiResult<Json<Me>> {
    let user = state
        .store
        .user_by_id(citizen.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "the account no longer exists"))?;
    let balances = state.store.balances(user.id).await?;
    Ok(Json(Me {
        id: ids::user(user.id),
        username: user.username,
        display_name: user.display_name,
        region: user.region,
        reduction_grams: balances.reduction_grams,
        energy_grams: balances.energy_grams,
    }))
}

/// Query of `GET /v1/me/ledger`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LedgerQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Entries per page: 1 to 500, default 50.
    limit: Option<u32>,
}

/// The citizen's ledger, newest first, each entry with its cause.
#[utoipa::path(get, path = "/v1/me/ledger", tag = "citizens", security(("session" = [])), params(LedgerQuery),
    responses((status = 200, body = LedgerPage), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub(crate) async fn ledger(
    State(state): State<AppState>,
    citizen: Citizen,
    query: Result<Query<LedgerQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<LedgerPage>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = query.limit.unwrap_or(LEDGER_PAGE_DEFAULT);
    if !(1..=LEDGER_PAGE_MAX).contains(&limit) {
        return Err(ApiError::bad_request("invalid_limit", format!("limit must be 1 to {LEDGER_PAGE_MAX}")));
    }
    let before = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(cursor.parse::<i64>().ok().filter(|c| *c > 0).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "cursor must be a next_cursor from an earlier page")
        })?),
    };
    let rows = state.store.ledger_page(citizen.user_id, before, limit + 1).await?;
    let has_more = rows.len() > limit as usize;
    let registry = state.registry.current();
    let entries: Vec<LedgerEntry> = rows
        .into_iter()
        .take(limit as usize)
        .map(|row| {
            let methodology = row.event.as_ref().map(|e| {
                let (id, version) = e.methodology.split_once('@').unwrap_or((&e.methodology, ""));
                let known = registry.get(id, version);
                LedgerMethodology {
                    id: id.to_owned(),
                    version: version.to_owned(),
                    title: known.map(|m| m.title.clone()),
                    formula: known.map(|m| m.formula_text()),
                }
            });
            LedgerEntry {
                id: row.id.to_string(),
                at: format_time(row.at),
                account: row.account,
                grams: row.grams,
                kind: row.kind,
                event: row.event.map(|e| LedgerEvent {
                    partner: ids::partner(e.partner_id),
                    partner_name: e.partner_name,
                    id: e.event_id,
                    behavior: e.behavior,
                    occurred_at: format_time(e.occurred_at),
                    region: e.region,
                    inputs: e.inputs,
                }),
                methodology,
            }
        })
        .collect();
    let next_cursor = if has_more { entries.last().map(|e| e.id.clone()) } else { None };
    Ok(Json(LedgerPage { entries, next_cursor }))
}

/// A new link code: 12 characters of Crockford base32 (60 bits), grouped by four.
pub fn new_link_code() -> String {
    // Crockford base32 without look-alikes; 12 characters = 60 bits.
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::thread_rng();
    let chars: Vec<u8> = (0..12).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())]).collect();
    format!(
        "{}-{}-{}",
        std::str::from_utf8(&chars[0..4]).expect("ascii"),
        std::str::from_utf8(&chars[4..8]).expect("ascii"),
        std::str::from_utf8(&chars[8..12]).expect("ascii")
    )
}

/// Grants a partner consent for some categories; returns a single-use link code.
#[utoipa::path(post, path = "/v1/me/consents", tag = "consent", security(("session" = [])), request_body = GrantConsent,
    responses((status = 201, body = ConsentGranted), (status = 400, body = Problem), (status = 404, description = "partner_not_found", body = Problem)))]
pub(crate) async fn grant_consent(
    State(state): State<AppState>,
    citizen: Citizen,
    JsonBody(body): JsonBody<GrantConsent>,
) -> ApiResult<(StatusCode, Json<ConsentGranted>)> {
    let scopes = parse_categories(&body.scopes, "scopes")?;
    let partner = match ids::parse_partner(&body.partner_id) {
        Some(id) => state.store.partner(id).await?,
        None => None,
    }
    .ok_or_else(|| ApiError::not_found("partner_not_found", format!("no partner `{}`", body.partner_id)))?;
    let code = new_link_code();
    let now = Utc::now();
    let expires_at = now + Duration::seconds(LINK_CODE_TTL_S);
    state.store.grant_consent(citizen.user_id, partner.id, scopes, &link_code_hash(&code), now, expires_at).await?;
    Ok((
        StatusCode::CREATED,
        Json(ConsentGranted {
            link_code: code,
            expires_at: format_time(expires_at),
            partner_id: ids::partner(partner.id),
            scopes: category_names(scopes),
        }),
    ))
}

/// The citizen's consents, active and revoked.
#[utoipa::path(get, path = "/v1/me/consents", tag = "consent", security(("session" = [])),
    responses((status = 200, body = ConsentList), (status = 401, body = Problem)))]
pub(crate) async fn list_consents(State(state): State<AppState>, citizen: Citizen) -> ApiResult<Json<ConsentList>> {
    let consents = state
        .store
        .consents(citizen.user_id)
        .await?
        .into_iter()
        .map(|c| ConsentView {
            partner_id: ids::partner(c.partner_id),
            partner_name: c.partner_name,
            scopes: category_names(c.scopes),
            active: c.revoked_at.is_none(),
            linked: c.linked,
            granted_at: format_time(c.granted_at),
            revoked_at: c.revoked_at.map(format_time),
        })
        .collect();
    Ok(Json(ConsentList { consents }))
}

/// Revokes a partner's consent at once: its later events are rejected.
#[utoipa::path(delete, path = "/v1/me/consents/{partner_id}", tag = "consent", security(("session" = [])),
    params(("partner_id" = String, Path, description = "The partner (`ptn_…`)")),
    responses((status = 204, description = "revoked"), (status = 404, description = "consent_not_found", body = Problem)))]
pub(crate) async fn revoke_consent(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(partner_id): Path<String>,
) -> ApiResult<StatusCode> {
    let not_found =
        || ApiError::not_found("consent_not_found", format!("no active consent for partner `{partner_id}`"));
    let id = ids::parse_partner(&partner_id).ok_or_else(not_found)?;
    if state.store.revoke_consent(citizen.user_id, id, Utc::now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}
