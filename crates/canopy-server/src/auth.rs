//! Authentication: citizen sessions, the operator token and partner
//! request signatures.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};
use canopy_core::signature;
use canopy_store::PartnerRow;

use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::AppState;

pub use canopy_service::tokens::{constant_time_eq, link_code_hash, random_token, token_hash};

/// The token of `Authorization: Bearer <token>`. The scheme is
/// case-insensitive (RFC 9110 §11.1), so `bearer` and `BEARER` do too.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    // The scheme is case-insensitive (RFC 9110 §11.1): `bearer` is `Bearer`.
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
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

/// Whoever reads a public page: nobody signed in, a citizen, or the
/// operator. A credential that is sent must be valid (else 401), so a
/// stale session is told so rather than silently shown the public view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// No `Authorization` header.
    Anonymous,
    /// A signed-in citizen.
    Citizen(i64),
    /// The operator.
    Operator,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if parts.headers.get(axum::http::header::AUTHORIZATION).is_none() {
            return Ok(Viewer::Anonymous);
        }
        let token = bearer(&parts.headers)
            .ok_or_else(|| ApiError::unauthorized("unauthorized", "send Authorization: Bearer <token>"))?;
        if let Some(admin) = state.config.admin_token.as_deref() {
            if constant_time_eq(token.as_bytes(), admin.as_bytes()) {
                return Ok(Viewer::Operator);
            }
        }
        Ok(Viewer::Citizen(state.service.session_user(token).await?))
    }
}

/// Who reads a report: the operator (admin token) or a sponsor (its
/// read-only key, `spk_…`).
#[derive(Debug, Clone, Copy)]
pub struct Reader(pub canopy_service::ReportReader);

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized("unauthorized", "send Authorization: Bearer <admin token or sponsor key>")
        })?;
        if token.starts_with(canopy_service::SPONSOR_KEY_PREFIX) {
            let sponsor = state.service.sponsor_for_key(token).await?;
            return Ok(Reader(canopy_service::ReportReader::Sponsor(sponsor)));
        }
        Operator::from_request_parts(parts, state).await.map(|_| Reader(canopy_service::ReportReader::Operator))
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

/// A partner request whose headers are well formed and name a partner that
/// exists, checked before the body is read: an unknown caller is refused
/// without the server reading (up to 16 MiB of) its body.
#[derive(Debug, Clone)]
pub struct PartnerCaller {
    partner: PartnerRow,
    timestamp: i64,
    signature_header: String,
}

/// The longest `Canopy-Signature` header worth checking: two `v1=` values
/// (during a secret rotation) with a separator and some white space.
const SIGNATURE_HEADER_BYTES_MAX: usize = 160;

fn bad_signature(detail: &str) -> ApiError {
    ApiError::unauthorized("bad_signature", detail.to_owned())
}

impl FromRequestParts<AppState> for PartnerCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let partner_id = header("canopy-partner")
            .and_then(ids::parse_partner)
            .ok_or_else(|| bad_signature("missing or malformed Canopy-Partner header"))?;
        let timestamp: i64 = header("canopy-timestamp")
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| bad_signature("missing or malformed Canopy-Timestamp header (unix seconds)"))?;
        let signature_header = header("canopy-signature")
            .filter(|s| s.starts_with("v1=") && s.len() <= SIGNATURE_HEADER_BYTES_MAX)
            .ok_or_else(|| bad_signature("missing or malformed Canopy-Signature header (v1=<64 hex digits>)"))?
            .to_owned();
        let partner = state
            .service
            .store()
            .partner(partner_id)
            .await?
            .ok_or_else(|| bad_signature("unknown partner or bad signature"))?;
        // Every partner route takes JSON.
        crate::body::require_json(headers)?;
        Ok(PartnerCaller { partner, timestamp, signature_header })
    }
}

impl PartnerCaller {
    /// Checks the `Canopy-Signature` header against the raw body (with
    /// every live secret of the partner, through the service) and the
    /// timestamp against the clock. Replays are checked by the caller, in
    /// the transaction that acts on the request.
    pub async fn verify(self, state: &AppState, method: &Method, uri: &Uri, body: &[u8]) -> ApiResult<SignedPartner> {
        let PartnerCaller { partner, timestamp, signature_header } = self;
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or(uri.path());
        let replay_key = state
            .service
            .verify_partner_signature(&partner, &signature_header, timestamp, method.as_str(), path, body)
            .await?
            .ok_or_else(|| bad_signature("unknown partner or bad signature"))?;
        let now = state.service.now().timestamp();
        if !signature::timestamp_is_fresh(timestamp, now) {
            return Err(ApiError::unauthorized(
                "stale_timestamp",
                format!(
                    "Canopy-Timestamp {timestamp} is more than {} s from the server clock ({now})",
                    signature::TIMESTAMP_TOLERANCE_S
                ),
            ));
        }
        let forget_after = replay_forget_after(timestamp);
        Ok(SignedPartner { partner, signature: replay_key, forget_after })
    }
}

/// When a seen signature may be forgotten (unix seconds): twice the
/// timestamp tolerance after its timestamp. One tolerance would do on a
/// single server, but servers sharing a database may disagree about the
/// time: a signature forgotten by a server whose clock runs ahead would
/// still be fresh on one whose clock runs behind, reopening the replay
/// window. The second tolerance covers a skew of up to a full tolerance.
pub fn replay_forget_after(timestamp: i64) -> i64 {
    // The timestamp is fresh, so this cannot overflow.
    timestamp + 2 * signature::TIMESTAMP_TOLERANCE_S + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for (value, token) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearer", None),
            ("Bearer ", None),
            ("Bearerabc", None),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(axum::http::header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer(&headers), token, "{value}");
        }
    }

    #[test]
    fn a_seen_signature_is_kept_for_twice_the_tolerance() {
        let tolerance = signature::TIMESTAMP_TOLERANCE_S;
        let signed_at = 1_700_000_000;
        // A server whose clock runs a full tolerance behind the real time
        // still finds the timestamp fresh when the real time is
        // signed_at + 2 × tolerance: the signature must still be remembered.
        let skew = tolerance;
        let real_time = signed_at + 2 * tolerance;
        assert!(signature::timestamp_is_fresh(signed_at, real_time - skew));
        assert!(replay_forget_after(signed_at) > real_time);
    }
}

/// An OpenADR VEN (from `Authorization: Bearer <token from /openadr3/auth/token>`).
#[derive(Debug, Clone)]
pub struct Ven(pub canopy_store::VenRow);

impl FromRequestParts<AppState> for Ven {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized("unauthorized", "send Authorization: Bearer <token from /openadr3/auth/token>")
        })?;
        Ok(Ven(state.service.ven_for_token(token).await?))
    }
}
