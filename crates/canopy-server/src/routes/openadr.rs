//! OpenADR 3.1: the operator registers VENs (aggregators, home energy
//! managers, smart devices), and a VEN trades its client credentials for a
//! bearer token at `/openadr3/auth/token` (OAuth2 client credentials, RFC
//! 6749 §4.4: the credentials by HTTP Basic or in the form body; errors in
//! OAuth2's shape, `{"error", "error_description"}`).

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use canopy_service::TokenRefusal;
use canopy_store::{format_time, VenRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Operator;
use crate::body::{JsonBody, RawBody};
use crate::error::{ApiResult, Problem};
use crate::AppState;

/// `POST /v1/energy/vens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VenIn {
    /// Its name (1 to 128 characters, unique).
    name: String,
    /// The utility partner (`ptn_…`, category `housing`) whose meters its reports' USAGE readings are for.
    partner_id: Option<String>,
}

/// A VEN.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VenOut {
    /// Public id (`ven_…`).
    id: String,
    /// Its name.
    name: String,
    /// Its OAuth2 client id.
    client_id: String,
    /// The utility partner it reports for (`ptn_…`).
    partner_id: Option<String>,
    /// Its OAuth2 client secret: shown once, at registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    /// When it was registered (RFC 3339).
    created_at: String,
}

/// `GET /v1/energy/vens`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VensOut {
    /// Oldest first.
    vens: Vec<VenOut>,
}

/// An access token (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenOut {
    /// The bearer token for the VTN interface.
    access_token: String,
    /// `Bearer`.
    token_type: String,
    /// Seconds it lasts.
    expires_in: i64,
}

/// An OAuth2 error (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OAuthErrorOut {
    /// `invalid_client`, `unsupported_grant_type` or `invalid_request`.
    error: String,
    /// What went wrong, for people.
    error_description: String,
}

/// The token request's form (`application/x-www-form-urlencoded`). It
/// describes the form in the OpenAPI document; the handler reads the form
/// itself, so that credentials by HTTP Basic or in the body both work.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct TokenForm {
    /// `client_credentials`.
    grant_type: Option<String>,
    /// The VEN's client id, unless sent by HTTP Basic.
    client_id: Option<String>,
    /// The VEN's client secret, unless sent by HTTP Basic.
    client_secret: Option<String>,
    /// Ignored: a VEN's token covers the VTN interface.
    scope: Option<String>,
}

fn ven_out(ven: VenRow, client_secret: Option<String>) -> VenOut {
    VenOut {
        id: format!("ven_{}", ven.id),
        name: ven.name,
        client_id: ven.client_id,
        partner_id: ven.partner_id.map(canopy_core::ids::partner),
        client_secret,
        created_at: format_time(ven.created_at),
    }
}

/// Registers an OpenADR VEN: its client id and secret (shown once) get it bearer tokens at `/openadr3/auth/token`.
#[utoipa::path(post, path = "/v1/energy/vens", tag = "openadr", security(("admin" = [])), request_body = VenIn,
    responses((status = 201, body = VenOut), (status = 400, description = "invalid_ven", body = Problem),
              (status = 401, body = Problem), (status = 404, description = "partner_not_found", body = Problem),
              (status = 409, description = "ven_exists", body = Problem)))]
pub(crate) async fn register_ven(
    State(state): State<AppState>,
    _operator: Operator,
    JsonBody(body): JsonBody<VenIn>,
) -> ApiResult<(StatusCode, Json<VenOut>)> {
    let partner_id = body
        .partner_id
        .as_deref()
        .map(|p| {
            canopy_core::ids::parse_partner(p).ok_or_else(|| {
                canopy_service::ServiceError::not_found("partner_not_found", format!("there is no partner `{p}`"))
            })
        })
        .transpose()?;
    let made = state.service.register_ven(&body.name, partner_id).await?;
    Ok((StatusCode::CREATED, Json(ven_out(made.ven, Some(made.client_secret)))))
}

/// Every registered VEN (without secrets).
#[utoipa::path(get, path = "/v1/energy/vens", tag = "openadr", security(("admin" = [])),
    responses((status = 200, body = VensOut), (status = 401, body = Problem)))]
pub(crate) async fn list_vens(State(state): State<AppState>, _operator: Operator) -> ApiResult<Json<VensOut>> {
    let vens = state.service.vens().await?;
    Ok(Json(VensOut { vens: vens.into_iter().map(|v| ven_out(v, None)).collect() }))
}

/// The client id and secret of an `Authorization: Basic` header (RFC 6749 §2.3.1: each form-encoded).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unform = |s: &str| form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((unform(id)?, unform(secret)?))
}

fn oauth_error(refusal: TokenRefusal, description: &str) -> Response {
    let status = match refusal {
        TokenRefusal::InvalidClient => StatusCode::UNAUTHORIZED,
        TokenRefusal::UnsupportedGrantType | TokenRefusal::InvalidRequest => StatusCode::BAD_REQUEST,
    };
    let body = OAuthErrorOut { error: refusal.code().to_owned(), error_description: description.to_owned() };
    let mut response = (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response();
    if refusal == TokenRefusal::InvalidClient {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, "Basic realm=\"openadr3\"".parse().expect("a header"));
    }
    response
}

/// OAuth2 client credentials: a VEN's client id and secret (HTTP Basic, or `client_id` and `client_secret` in the
/// form) for a bearer token to the VTN interface.
#[utoipa::path(post, path = "/openadr3/auth/token", tag = "openadr",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TokenOut, content_type = "application/json"),
              (status = 400, description = "unsupported_grant_type, invalid_request", body = OAuthErrorOut,
               content_type = "application/json"),
              (status = 401, description = "invalid_client", body = OAuthErrorOut, content_type = "application/json")))]
pub(crate) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let (client_id, client_secret) = match basic_credentials(&headers) {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (field("client_id"), field("client_secret")),
    };
    let decided =
        state.service.ven_token(field("grant_type").as_deref(), client_id.as_deref(), client_secret.as_deref()).await?;
    Ok(match decided {
        Ok((access_token, expires_in)) => (
            [(header::CACHE_CONTROL, "no-store")],
            Json(TokenOut { access_token, token_type: "Bearer".to_owned(), expires_in }),
        )
            .into_response(),
        Err(refusal @ TokenRefusal::InvalidClient) => oauth_error(refusal, "unknown client or wrong secret"),
        Err(refusal @ TokenRefusal::UnsupportedGrantType) => {
            oauth_error(refusal, "only the client_credentials grant is supported")
        }
        Err(refusal @ TokenRefusal::InvalidRequest) => oauth_error(refusal, "grant_type is required"),
    })
}
