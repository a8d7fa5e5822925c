//! Authentication: citizen sessions, the operator token and partner
//! request signatures.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};
use canopy_core::signature;
use canopy_store::PartnerRow;
use chrono::Utc;

use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::AppState;

pub use canopy_service::tokens::{constant_time_eq, link_code_hash, random_token, token_hash};

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    // The scheme is case-insensitive (RFC 9110 §11.1): `bearer` is `Bearer`.
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
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
        let user_id = state.service.session_user(token).await?;
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
    let partner =
        state.service.store().partner(partner_id).await?.ok_or_else(|| bad("unknown partner or bad signature"))?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or(uri.path());
    let Some(replay_key) =
        signature::verify(partner.secret.as_bytes(), signature_header, timestamp, method.as_str(), path, body)
    else {
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
