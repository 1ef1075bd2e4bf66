//! `ApiError`: every way an HTTP request can fail, as a status and the error envelope
//! `{"status":"error","message":…,"data":{"code":…}}`. Causes of 5xx answers are logged here
//! and never sent to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

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
    #[error("the request body is larger than {max_bytes} bytes")]
    PayloadTooLarge { max_bytes: usize },
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
            SessionError::Unavailable(cause) => ApiError::Unavailable(cause),
        }
    }
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_argument"),
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound | ApiError::NoRoute => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            ApiError::SessionFull { .. } => (StatusCode::CONFLICT, "session_full"),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut data = json!({ "code": code });
        let message = match &self {
            ApiError::Unavailable(cause) => {
                tracing::error!(%cause, "request failed: store or session unavailable");
                data["retryable"] = Value::Bool(true);
                "the service is temporarily unavailable; retry the request".to_owned()
            }
            ApiError::Invalid(invalid) => {
                data["field"] = Value::String(invalid.field.clone());
                invalid.message.clone()
            }
            ApiError::Conflict { existing_id } => {
                data["sessionDocId"] = Value::String(existing_id.clone());
                self.to_string()
            }
            ApiError::SessionFull { max } => {
                data["maxImages"] = json!(max);
                self.to_string()
            }
            _ => self.to_string(),
        };
        let body = json!({ "status": "error", "message": message, "data": data });
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
