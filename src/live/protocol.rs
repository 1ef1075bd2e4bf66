//! The frames of the WebSocket protocol (`protocol/README.md`, `protocol/live.schema.json`):
//! parsing client commands into domain operations, and writing replies and pushes.

use serde_json::{Map, Value, json};

use crate::session::state::{Op, Outcome};
use crate::session::validation::{
    InvalidInput, Limits, NewImage, NewMessage, parse_completion, parse_update,
};
use crate::session::{SessionError, model::Session};

/// Close codes. "Reconnect" codes: 1000, 1001, 1011, 4008 (resume with `sinceSeq`).
/// "Stop" codes: 1009, 4001 (until a new token), 4004, 4009.
pub mod close {
    /// The peer was silent too long.
    pub const SILENT: u16 = 1000;
    pub const SHUTTING_DOWN: u16 = 1001;
    pub const TOO_BIG: u16 = 1009;
    /// The session's actor stopped; its state is reloaded on reconnect.
    pub const RELOAD: u16 = 1011;
    pub const UNAUTHENTICATED: u16 = 4001;
    pub const NOT_FOUND: u16 = 4004;
    pub const SLOW_CONSUMER: u16 = 4008;
    pub const PROTOCOL_ERROR: u16 = 4009;
}

/// A command as the client sent it: its id and what it asks.
pub struct Command {
    pub id: i64,
    pub kind: CommandKind,
}

pub enum CommandKind {
    Auth { token: String },
    Ping,
    Write(Op),
}

impl CommandKind {
    /// The command's `type`, as a metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            CommandKind::Auth { .. } => "auth",
            CommandKind::Ping => "ping",
            CommandKind::Write(Op::Append(_)) => "message.add",
            CommandKind::Write(Op::AddImage { .. }) => "image.add",
            CommandKind::Write(Op::Complete { .. }) => "session.complete",
            CommandKind::Write(Op::Update(_)) => "session.update",
        }
    }
}

/// Why a frame could not become a command; answered with an error reply.
pub enum Refusal {
    /// Not a JSON object with an integer `id` and a string `type`.
    Malformed {
        id: Option<i64>,
        message: String,
    },
    UnknownCommand {
        id: i64,
        kind: String,
    },
    Invalid {
        id: i64,
        error: InvalidInput,
    },
}

impl Command {
    pub fn parse(text: &str, limits: &Limits) -> Result<Self, Refusal> {
        let value: Value = serde_json::from_str(text).map_err(|e| Refusal::Malformed {
            id: None,
            message: format!("the frame is not JSON: {e}"),
        })?;
        let Value::Object(obj) = value else {
            return Err(malformed(None, "the frame must be a JSON object"));
        };
        let id = obj.get("id").and_then(Value::as_i64);
        let Some(id) = id else {
            return Err(malformed(None, "the frame needs an integer id"));
        };
        let Some(kind) = obj.get("type").and_then(Value::as_str) else {
            return Err(malformed(Some(id), "the frame needs a string type"));
        };
        let invalid = |error| Refusal::Invalid { id, error };
        let kind = match kind {
            "auth" => match obj.get("token") {
                Some(Value::String(token)) if !token.is_empty() => CommandKind::Auth {
                    token: token.clone(),
                },
                _ => return Err(invalid(InvalidInput::new("token", "token is required"))),
            },
            "ping" => CommandKind::Ping,
            "message.add" => CommandKind::Write(Op::Append(
                NewMessage::parse(&obj, limits).map_err(invalid)?,
            )),
            "image.add" => CommandKind::Write(parse_image_add(&obj, limits).map_err(invalid)?),
            "session.complete" => CommandKind::Write(Op::Complete {
                completed_at: parse_completion(&obj).map_err(invalid)?,
            }),
            "session.update" => match obj.get("changes") {
                Some(Value::Object(changes)) => {
                    CommandKind::Write(Op::Update(parse_update(changes, limits).map_err(invalid)?))
                }
                _ => {
                    return Err(invalid(InvalidInput::new(
                        "changes",
                        "changes must be an object",
                    )));
                }
            },
            other => {
                return Err(Refusal::UnknownCommand {
                    id,
                    kind: other.to_owned(),
                });
            }
        };
        Ok(Command { id, kind })
    }
}

fn malformed(id: Option<i64>, message: &str) -> Refusal {
    Refusal::Malformed {
        id,
        message: message.to_owned(),
    }
}

fn parse_image_add(obj: &Map<String, Value>, limits: &Limits) -> Result<Op, InvalidInput> {
    let message_id = match obj.get("messageId") {
        Some(Value::String(id))
            if !id.is_empty() && id.chars().count() <= limits.max_field_chars =>
        {
            id.clone()
        }
        _ => return Err(InvalidInput::new("messageId", "messageId is required")),
    };
    let image = NewImage::parse(obj.get("image").unwrap_or(&Value::Null), limits)?;
    Ok(Op::AddImage { message_id, image })
}

impl Refusal {
    pub fn reply(&self) -> String {
        match self {
            Refusal::Malformed { id, message } => {
                error_frame(*id, "invalid_frame", message, false, None)
            }
            Refusal::UnknownCommand { id, kind } => error_frame(
                Some(*id),
                "unknown_command",
                &format!("unknown command type {kind:?}"),
                false,
                None,
            ),
            Refusal::Invalid { id, error } => error_frame(
                Some(*id),
                "invalid_argument",
                &error.message,
                false,
                Some(&error.field),
            ),
        }
    }

    pub fn is_malformed(&self) -> bool {
        !matches!(self, Refusal::Invalid { .. })
    }
}

pub fn ok_frame(id: i64, result: Value) -> String {
    json!({ "id": id, "type": "reply", "ok": true, "result": result }).to_string()
}

pub fn error_frame(
    id: Option<i64>,
    code: &'static str,
    message: &str,
    retryable: bool,
    field: Option<&str>,
) -> String {
    crate::telemetry::metrics::socket_error_reply(code);
    let mut error = json!({ "code": code, "message": message, "retryable": retryable });
    if let Some(field) = field {
        error["field"] = Value::String(field.to_owned());
    }
    json!({ "id": id, "type": "reply", "ok": false, "error": error }).to_string()
}

/// The reply to a committed write.
pub fn outcome_frame(id: i64, outcome: &Outcome) -> String {
    let result = match outcome {
        Outcome::Appended {
            message_id,
            orders,
            seq,
        } => json!({ "messageId": message_id, "orders": orders, "seq": seq }),
        Outcome::ImageAdded { order, seq } => json!({ "order": order, "seq": seq }),
        Outcome::Updated { seq } => json!({ "seq": seq }),
    };
    ok_frame(id, result)
}

/// The reply to a write the domain refused or could not commit.
pub fn session_error_frame(id: i64, err: &SessionError) -> String {
    match err {
        SessionError::Invalid(invalid) => error_frame(
            Some(id),
            "invalid_argument",
            &invalid.message,
            false,
            Some(&invalid.field),
        ),
        SessionError::NotFound => {
            error_frame(Some(id), "not_found", "session not found", false, None)
        }
        SessionError::Conflict { .. } => {
            error_frame(Some(id), "conflict", &err.to_string(), false, None)
        }
        SessionError::SessionFull { .. } => {
            error_frame(Some(id), "session_full", &err.to_string(), false, None)
        }
        SessionError::Unavailable(cause) => {
            tracing::warn!(%cause, "command failed: session unavailable");
            error_frame(
                Some(id),
                "unavailable",
                "the service is temporarily unavailable; retry the command",
                true,
                None,
            )
        }
    }
}

pub fn snapshot_frame(seq: u64, session: &Session) -> String {
    json!({ "type": "snapshot", "seq": seq, "session": session }).to_string()
}

pub fn resumed_frame(seq: u64) -> String {
    json!({ "type": "resumed", "seq": seq }).to_string()
}
