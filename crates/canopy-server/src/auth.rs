//! Authentication: citizen sessions, the operator token and partner
//! request signatures.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};
use canopy_core::signature;
use canopy_store::PartnerRow;
use chrono::Utc;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::AppState;

/// A random token: 32 bytes as lowercase hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The SHA-256 of a token, as stored (tokens are never stored in clear).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The stored hash of a link code, normalised as typed (case, spaces and
/// dashes do not matter).
pub fn link_code_hash(code: &str) -> String {
    let normalised: String =
        code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    token_hash(&normalised)
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// A signed-in citizen (from `Authorization: Bearer <session token>`).
#[derive(Debug, Clone, Copy)]
pub struct Citizen {
    /// The citizen's internal id.
    pub user_id: i64,
}

impl FromRequestParts<AppState> for Citizen {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized("unauthorized", "sign in: send Authorization: Bearer <session token>")
        })?;
        let user_id = state
            .store
            .session_user(&token_hash(token), Utc::now())
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid_token", "the session token is unknown or expired"))?;
        Ok(Citizen { user_id })
    }
}

/// The operator (from `Authorization: Bearer <CANOPY_ADMIN_TOKEN>`).
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(expected) = state.config.admin_token.as_deref() else {
            return Err(ApiError::unauthorized(
                "unauthorized",
                "no admin token is configured on this server (set CANOPY_ADMIN_TOKEN)",
            ));
        };
        match bearer(&parts.headers) {
            Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(Operator),
            _ => Err(ApiError::unauthorized("unauthorized", "this needs the operator's admin token")),
        }
    }
}

/// A partner request whose signature checked out.
#[derive(Debug, Clone)]
pub struct SignedPartner {
    /// The partner.
    pub partner: PartnerRow,
    /// The replay key: the HMAC that matched, as lowercase hex (the same
    /// however the header was written).
    pub signature: String,
    /// When the signature may be forgotten (unix seconds): after it, its
    /// timestamp is stale anyway.
    pub forget_after: i64,
}

/// Checks the `Canopy-Partner`, `Canopy-Timestamp` and `Canopy-Signature`
/// headers against the raw body. Replays are checked by the caller, in the
/// transaction that acts on the request.
pub async fn verify_partner(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &[u8],
) -> ApiResult<SignedPartner> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let bad = |detail: &str| ApiError::unauthorized("bad_signature", detail.to_owned());
    let partner_id = header("canopy-partner")
        .and_then(ids::parse_partner)
        .ok_or_else(|| bad("missing or malformed Canopy-Partner header"))?;
    let timestamp: i64 = header("canopy-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| bad("missing or malformed Canopy-Timestamp header (unix seconds)"))?;
    let signature_header = header("canopy-signature").ok_or_else(|| bad("missing Canopy-Signature header"))?;
    let partner = state.store.partner(partner_id).await?.ok_or_else(|| bad("unknown partner or bad signature"))?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or(uri.path());
    // Every live secret verifies (two or more while the partner rotates),
    // newest first; each is opened only for this check.
    let mut replay_key = None;
    for stored in state.store.live_partner_secrets(partner.id, Utc::now()).await? {
        let secret = state.secret_key.open(&stored.sealed).map_err(|e| {
            tracing::error!(partner_id = partner.id, secret_id = stored.id, "{e}");
            ApiError::internal(e)
        })?;
        replay_key =
            signature::verify(secret.expose().as_bytes(), signature_header, timestamp, method.as_str(), path, body);
        if replay_key.is_some() {
            break;
        }
    }
    let Some(replay_key) = replay_key else {
        return Err(bad("unknown partner or bad signature"));
    };
    let now = Utc::now().timestamp();
    if !signature::timestamp_is_fresh(timestamp, now) {
        return Err(ApiError::unauthorized(
            "stale_timestamp",
            format!(
                "Canopy-Timestamp {timestamp} is more than {} s from the server clock ({now})",
                signature::TIMESTAMP_TOLERANCE_S
            ),
        ));
    }
    // The timestamp is fresh, so this cannot overflow.
    let forget_after = timestamp + signature::TIMESTAMP_TOLERANCE_S + 1;
    Ok(SignedPartner { partner, signature: replay_key, forget_after })
}
