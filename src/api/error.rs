//! `ApiError`: every way an HTTP request can fail, as a status and the error envelope
//! `{"status":"error","message":…,"data":{"code":…}}`. Causes of 5xx answers are logged here
//! and never sent to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::auth::AuthError;
use crate::protocol::{ErrorCode, rest};

use crate::session::SessionError;
use crate::session::validation::InvalidInput;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but not from where the credential may be used (a cookie from another
    /// site).
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("session not found")]
    NotFound,
    #[error("no such route")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("a session with this sessionId already exists")]
    Conflict { existing_id: String },
    #[error("the session holds its maximum of {max} images")]
    SessionFull { max: u32 },
    /// Valid, but not for the session as it stands.
    #[error("{reason}")]
    Contradicts { id: String, reason: &'static str },
    /// `what` (the request body, a signal's `data`) is larger than it may be.
    #[error("{what} is larger than {max_bytes} bytes")]
    PayloadTooLarge {
        what: &'static str,
        max_bytes: usize,
    },
    /// One user's quota is used up (`what`); `retry_after` says when to try again.
    #[error("{what}; retry in {} s", retry_after_secs(*.retry_after))]
    RateLimited {
        what: &'static str,
        retry_after: std::time::Duration,
    },
    /// The user has as many sockets open on this instance as they may.
    #[error("this user has {max} sockets open, as many as one user may; close one first")]
    TooManySockets { max: usize },
    /// The cause is for the log; the client hears only that it may retry.
    #[error("{0}")]
    Unavailable(String),
}

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::Invalid(invalid) => ApiError::Invalid(invalid),
            SessionError::NotFound => ApiError::NotFound,
            SessionError::Conflict { existing_id } => ApiError::Conflict { existing_id },
            SessionError::SessionFull { max } => ApiError::SessionFull { max },
            SessionError::Contradicts { id, reason } => ApiError::Contradicts { id, reason },
            SessionError::Unavailable(cause) => ApiError::Unavailable(cause),
        }
    }
}

impl ApiError {
    /// The code of the contract (`protocol::code`, shared with socket replies).
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Invalid(_) => ErrorCode::InvalidArgument,
            ApiError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotFound | ApiError::NoRoute => ErrorCode::NotFound,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::Conflict { .. } | ApiError::Contradicts { .. } => ErrorCode::Conflict,
            ApiError::SessionFull { .. } => ErrorCode::SessionFull,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::RateLimited { .. } | ApiError::TooManySockets { .. } => {
                ErrorCode::RateLimited
            }
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        let mut details = Map::new();
        let message = match &self {
            ApiError::Unavailable(cause) => {
                tracing::error!(%cause, "request failed: store or session unavailable");
                "the service is temporarily unavailable; retry the request".to_owned()
            }
            ApiError::Invalid(invalid) => {
                details.insert("field".into(), Value::String(invalid.field.clone()));
                invalid.message.clone()
            }
            ApiError::Conflict { existing_id: id } | ApiError::Contradicts { id, .. } => {
                details.insert("sessionDocId".into(), Value::String(id.clone()));
                self.to_string()
            }
            ApiError::SessionFull { max } => {
                details.insert("maxImages".into(), Value::from(*max));
                self.to_string()
            }
            ApiError::RateLimited { retry_after, .. } => {
                details.insert(
                    "retryAfter".into(),
                    Value::from(retry_after_secs(*retry_after)),
                );
                self.to_string()
            }
            _ => self.to_string(),
        };
        let status = code.status();
        let mut response = (status, Json(rest::error(code, &message, details))).into_response();
        if let ApiError::RateLimited { retry_after, .. } = &self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs(*retry_after)),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// Whole seconds for `Retry-After`, rounded up and at least 1.
fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Unavailable(cause) => ApiError::Unavailable(cause),
            other => ApiError::Unauthenticated(other.to_string()),
        }
    }
}
