//! Request bodies: raw bytes under a size limit, and JSON parsed with
//! problem+json errors instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The largest request body accepted, in bytes (a full batch of 10,000
/// events is about 2 MiB).
pub const BODY_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The raw body, for signature checks. Over [`BODY_BYTES_MAX`] is 413
/// `body_too_large`.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than {BODY_BYTES_MAX} bytes"),
            )),
            Err(rejection) => Err(ApiError::bad_request("malformed_body", rejection.body_text())),
        }
    }
}

/// Parses JSON, naming the problem on failure (400 `malformed_body`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("malformed_body", format!("the body is not valid JSON for this request: {e}"))
    })
}

/// A JSON body with problem+json errors.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::from_request(request, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}
