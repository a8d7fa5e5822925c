//! Request bodies: raw bytes under a per-route size limit and a read
//! timeout, media types, and JSON parsed with problem+json errors instead of
//! axum's plain-text rejections.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The largest event batch body accepted, in bytes (a full batch of 10,000
/// events is about 2 MiB; the rest is room for long ids and inputs).
pub const BODY_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The body limit of every route that does not set its own: registration,
/// sign-in, consent and links carry a few hundred bytes.
pub const BODY_BYTES_DEFAULT: usize = 64 * 1024;

/// The body limit of methodology publication: a methodology file with its
/// inputs, caps and formula is a few KiB; 1 MiB leaves ample room.
pub const METHODOLOGY_BODY_BYTES_MAX: usize = 1024 * 1024;

/// The largest voucher-code upload (10,000 codes of up to 64 characters,
/// with room for a CSV's separators).
pub const VOUCHER_CODES_BODY_BYTES_MAX: usize = 1024 * 1024;

/// A route's body limit, as a request extension (for the 413 detail).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// How long reading a body may take in all, as a request extension.
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub Duration);

/// The layer that sets a route's body limit: axum's own limit (which stops
/// reading at the limit, before buffering more) and the figure for errors.
pub fn limit(bytes: usize) -> (axum::extract::DefaultBodyLimit, axum::Extension<BodyLimit>) {
    (axum::extract::DefaultBodyLimit::max(bytes), axum::Extension(BodyLimit(bytes)))
}

/// The raw body, for signature checks. Over the route's limit is 413
/// `body_too_large`; slower than the body-read timeout is 408
/// `request_timeout`.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = request.extensions().get::<BodyLimit>().map_or(BODY_BYTES_DEFAULT, |l| l.0);
        let timeout = request.extensions().get::<BodyReadTimeout>().map_or(Duration::from_secs(30), |t| t.0);
        let read = tokio::time::timeout(timeout, Bytes::from_request(request, state)).await.map_err(|_| {
            ApiError::request_timeout(format!("the request body took longer than {} ms to arrive", timeout.as_millis()))
        })?;
        match read {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than {limit} bytes, this endpoint's limit"),
            )),
            Err(rejection) => Err(ApiError::bad_request("malformed_body", rejection.body_text())),
        }
    }
}

/// The media type of the body, lower-cased and without parameters
/// (`Application/JSON; charset=utf-8` is `application/json`); `None` when
/// the request names none.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?;
    // A value that is not even visible ASCII names no media type we know.
    let text = value.to_str().unwrap_or("\u{0}");
    Some(text.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// Whether a media type is JSON: exactly `application/json`, in any case,
/// with any parameters. `application/jsonx` is not.
pub fn is_json(media_type: &str) -> bool {
    media_type == "application/json"
}

/// 415 `unsupported_media_type`, naming what the endpoint takes.
pub fn unsupported(media_type: &str, accepted: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("Content-Type `{media_type}` is not accepted here; send {accepted}"),
    )
}

/// Refuses a body that declares a media type other than JSON (415). A body
/// with no Content-Type at all is read as JSON, as curl and most clients
/// send it that way when told nothing else.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    match media_type(headers) {
        Some(media_type) if !is_json(&media_type) => Err(unsupported(&media_type, "application/json")),
        _ => Ok(()),
    }
}

/// Parses JSON, naming the problem on failure (400 `malformed_body`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("malformed_body", format!("the body is not valid JSON for this request: {e}"))
    })
}

/// A JSON body with problem+json errors; another declared media type is 415.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_json(request.headers())?;
        let RawBody(bytes) = RawBody::from_request(request, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// A JSON body that may be left out: an empty body is `T::default()`; a
/// body that is sent must be JSON.
pub struct OptionalJsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared = request.headers().contains_key(header::CONTENT_TYPE);
        let headers = request.headers().clone();
        let RawBody(bytes) = RawBody::from_request(request, state).await?;
        if bytes.is_empty() {
            return Ok(OptionalJsonBody(T::default()));
        }
        if declared {
            require_json(&headers)?;
        }
        parse_json(&bytes).map(OptionalJsonBody)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        headers
    }

    #[test]
    fn json_is_matched_exactly_and_case_insensitively() {
        for json in
            ["application/json", "Application/JSON", "application/json; charset=utf-8", " application/json ;x=y"]
        {
            assert!(require_json(&with(json)).is_ok(), "{json}");
        }
        for other in ["application/jsonx", "application/json-patch+json", "text/json", "application/toml", ""] {
            let error = require_json(&with(other)).unwrap_err();
            assert_eq!((error.status, error.code), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));
        }
        assert!(require_json(&HeaderMap::new()).is_ok());
    }
}
