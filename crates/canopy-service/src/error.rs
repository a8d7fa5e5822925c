//! The service layer's one error: a kind (which the HTTP edge maps to a
//! status and the CLI to a message), a stable code and a sentence.

use canopy_store::StoreError;

/// What sort of failure an error is; the HTTP edge maps each to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or a value is invalid (400).
    Invalid,
    /// The caller is not who it must be (401).
    Unauthorized,
    /// The thing named does not exist (404).
    NotFound,
    /// The caller may not have it, whoever they are (403).
    Forbidden,
    /// The request conflicts with what is stored (409).
    Conflict,
    /// The thing named existed and is void now (410).
    Gone,
    /// Well-formed but not acceptable in the current state (422).
    Unprocessable,
    /// Too large (413).
    TooLarge,
    /// Try again later (503, with `retry_after_s`).
    Unavailable,
    /// Too many requests from this caller (429, with `retry_after_s`).
    RateLimited,
    /// A bug or an unexpected failure (500).
    Internal,
}

/// A use case's failure.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct ServiceError {
    /// What sort of failure.
    pub kind: ErrorKind,
    /// The stable machine code, such as `username_taken`.
    pub code: &'static str,
    /// What went wrong, for people.
    pub detail: String,
    /// Seconds after which a retry may succeed (for `Unavailable`).
    pub retry_after_s: Option<u64>,
    /// Every error found, when there can be several (such as each fault of
    /// an invalid methodology file), one line each.
    pub errors: Option<Vec<String>>,
}

impl ServiceError {
    /// An error of `kind` with a code and a sentence.
    pub fn new(kind: ErrorKind, code: &'static str, detail: impl Into<String>) -> Self {
        ServiceError { kind, code, detail: detail.into(), retry_after_s: None, errors: None }
    }

    /// The same error listing every error found.
    pub fn with_errors(self, errors: Vec<String>) -> Self {
        ServiceError { errors: Some(errors), ..self }
    }

    /// An invalid value.
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, code, detail)
    }

    /// A failed authentication.
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, code, detail)
    }

    /// Nothing by that name.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, detail)
    }

    /// A conflict with what is stored.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, detail)
    }

    /// Try again after `retry_after_s` seconds.
    pub fn unavailable(code: &'static str, detail: impl Into<String>, retry_after_s: u64) -> Self {
        ServiceError { retry_after_s: Some(retry_after_s), ..Self::new(ErrorKind::Unavailable, code, detail) }
    }

    /// A database failure, by its code (see [`canopy_store::failure_code`]).
    pub fn storage(code: &'static str, advice: &str) -> Self {
        let (code, what) = match code {
            "storage_busy" => ("storage_busy", "every database connection is busy"),
            "storage_timeout" => ("storage_timeout", "the database did not answer in time"),
            _ => ("storage_unavailable", "the database is unavailable"),
        };
        Self::unavailable(code, format!("{what}; {advice}"), 1)
    }

    /// A bug or an unexpected failure: the detail is logged, not shown.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(ErrorKind::Internal, "internal", "an internal error occurred")
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::UsernameTaken => Self::conflict("username_taken", "this username is already registered"),
            StoreError::LinkCodeInvalid => {
                Self::invalid("link_code_invalid", "the link code is unknown, already used or expired")
            }
            StoreError::LinkConflict(detail) => Self::conflict("link_conflict", detail),
            StoreError::MethodologyVersionExists(key) => Self::conflict(
                "methodology_version_exists",
                format!("{key} is already published with different content; publish a new version"),
            ),
            StoreError::Database(error) => {
                let code = canopy_store::failure_code(&error);
                tracing::error!(%error, code, "database error");
                Self::storage(code, "retry later")
            }
            other => Self::internal(other),
        }
    }
}

/// A use case's result.
pub type ServiceResult<T> = Result<T, ServiceError>;
