//! The error codes of the contract: one table for REST (`data.code` of the error envelope, with
//! its HTTP status) and for the socket (`error.code` of a reply).

use axum::http::StatusCode;

use crate::session::SessionError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidArgument,
    Unauthenticated,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    SessionFull,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
    /// Socket only: a frame that is not a command.
    InvalidFrame,
    /// Socket only: a command `type` the server does not know.
    UnknownCommand,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::SessionFull => "session_full",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::InvalidFrame => "invalid_frame",
            ErrorCode::UnknownCommand => "unknown_command",
        }
    }

    /// The HTTP status a REST error of this code answers with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidArgument | ErrorCode::InvalidFrame | ErrorCode::UnknownCommand => {
                StatusCode::BAD_REQUEST
            }
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict | ErrorCode::SessionFull => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Whether the same request may succeed if sent again unchanged.
    pub fn retryable(self) -> bool {
        matches!(self, ErrorCode::RateLimited | ErrorCode::Unavailable)
    }
}

impl From<&SessionError> for ErrorCode {
    fn from(err: &SessionError) -> Self {
        match err {
            SessionError::Invalid(_) => ErrorCode::InvalidArgument,
            SessionError::NotFound => ErrorCode::NotFound,
            SessionError::Conflict { .. } | SessionError::Contradicts { .. } => ErrorCode::Conflict,
            SessionError::SessionFull { .. } => ErrorCode::SessionFull,
            SessionError::Unavailable(_) => ErrorCode::Unavailable,
        }
    }
}
