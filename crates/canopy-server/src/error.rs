//! The one error type of the HTTP edge, rendered as RFC 9457 problem+json
//! with a stable `code` member. Errors are logged here, once, at the
//! boundary that turns them into responses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type (`/problems/<code>`).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for people.
    pub detail: String,
    /// The stable machine-readable code, such as `bad_signature`.
    pub code: String,
    /// Every error found, when there can be several (such as each fault of
    /// an `invalid_methodology`), one line each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
}

/// An error that becomes a problem+json response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Details for people.
    pub detail: String,
    /// Seconds to send as `Retry-After` (for 503).
    pub retry_after_s: Option<u64>,
    /// Every error found, when there are several (the problem's `errors`).
    pub errors: Option<Vec<String>>,
}

impl ApiError {
    /// An error with a status, a code and a detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError { status, code, detail: detail.into(), retry_after_s: None, errors: None }
    }

    /// The same error listing every error found (the problem's `errors`).
    pub fn with_errors(self, errors: Vec<String>) -> Self {
        ApiError { errors: Some(errors), ..self }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 401 with a code.
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    /// 404 with a code.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// 503 with a code and a `Retry-After`.
    pub fn unavailable(code: &'static str, detail: impl Into<String>, retry_after_s: u64) -> Self {
        ApiError { retry_after_s: Some(retry_after_s), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail) }
    }

    /// 408 `request_timeout`: the client was too slow, or the request took
    /// longer than the server allows. The connection is closed after it.
    pub fn request_timeout(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", detail)
    }

    /// 500 for a bug or an unexpected failure; the detail is logged, not sent.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred")
    }
}

impl From<canopy_service::ServiceError> for ApiError {
    fn from(error: canopy_service::ServiceError) -> Self {
        use canopy_service::ErrorKind as K;
        let status = match error.kind {
            K::Invalid => StatusCode::BAD_REQUEST,
            K::Unauthorized => StatusCode::UNAUTHORIZED,
            K::NotFound => StatusCode::NOT_FOUND,
            K::Forbidden => StatusCode::FORBIDDEN,
            K::Gone => StatusCode::GONE,
            K::Conflict => StatusCode::CONFLICT,
            K::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            K::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            K::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            K::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            K::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            code: error.code,
            detail: error.detail,
            retry_after_s: error.retry_after_s,
            errors: error.errors,
        }
    }
}

impl From<canopy_store::StoreError> for ApiError {
    fn from(error: canopy_store::StoreError) -> Self {
        canopy_service::ServiceError::from(error).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(code = self.code, detail = %self.detail, "request failed");
        }
        let problem = Problem {
            problem_type: format!("/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
            errors: self.errors,
        };
        let mut response = (self.status, serde_json::to_string(&problem).expect("serialisable")).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // The rest of a slow request may still be on its way: only a
            // closed connection frees the slot it holds.
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(seconds) = self.retry_after_s {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A result at the HTTP edge.
pub type ApiResult<T> = Result<T, ApiError>;
