//! Replies: exactly one per command, matched by its `id` (`protocol/README.md`, "Replies").
//! `{"id":N,"type":"reply","ok":true,"result":{…}}`, or `ok: false` with one [`ReplyError`].

use serde::Serialize;
use serde_json::{Value, json};

use super::code::ErrorCode;
use super::push::text;
use super::view::Time;
use crate::domain::time::Timestamp;
use crate::session::SessionError;
use crate::session::rules::Outcome;

/// Why a command failed: `{code, message, retryable, field}`, the code from the table REST
/// shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyError {
    pub code: ErrorCode,
    /// For a person.
    pub message: String,
    /// The offending field of an `invalid_argument`.
    pub field: Option<String>,
}

impl ReplyError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid(field: &str, message: &str) -> Self {
        Self {
            code: ErrorCode::InvalidArgument,
            message: message.to_owned(),
            field: Some(field.to_owned()),
        }
    }
}

impl From<&SessionError> for ReplyError {
    fn from(err: &SessionError) -> Self {
        let code = ErrorCode::from(err);
        match err {
            SessionError::Invalid(invalid) => Self::invalid(&invalid.field, &invalid.message),
            SessionError::NotFound => Self::new(code, "session not found"),
            SessionError::Unavailable(cause) => {
                // The cause is for the log only.
                tracing::warn!(%cause, "command failed: session unavailable");
                Self::new(
                    code,
                    "the service is temporarily unavailable; retry the command",
                )
            }
            SessionError::Conflict { .. }
            | SessionError::SessionFull { .. }
            | SessionError::Contradicts { .. } => Self::new(code, err.to_string()),
        }
    }
}

pub fn ok(id: i64, result: impl Serialize) -> String {
    text(&json!({ "id": id, "type": "reply", "ok": true, "result": result }))
}

/// An error reply; `id` is `None` when the frame had none that could be read.
pub fn error(id: Option<i64>, err: &ReplyError) -> String {
    crate::telemetry::metrics::socket_error_reply(err.code.as_str());
    let mut error = json!({
        "code": err.code.as_str(),
        "message": err.message,
        "retryable": err.code.retryable(),
    });
    if let Some(field) = &err.field {
        error["field"] = Value::String(field.clone());
    }
    text(&json!({ "id": id, "type": "reply", "ok": false, "error": error }))
}

/// The reply to a committed write.
pub fn outcome(id: i64, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Appended {
            message_id,
            orders,
            seq,
        } => ok(
            id,
            json!({ "messageId": message_id, "orders": orders, "seq": seq }),
        ),
        Outcome::ImageAdded { order, seq } => ok(id, json!({ "order": order, "seq": seq })),
        Outcome::Updated { seq } => ok(id, json!({ "seq": seq })),
    }
}

/// The reply to `auth`: whose the socket is, and until when.
pub fn authenticated(id: i64, uid: &str, expires_at_secs: u64) -> String {
    let expires_at = Timestamp::from_millis(expires_at_secs.saturating_mul(1000) as i64);
    ok(id, json!({ "uid": uid, "expiresAt": Time(expires_at) }))
}

/// The reply to `ping`.
pub fn pong(id: i64) -> String {
    ok(id, json!({}))
}
