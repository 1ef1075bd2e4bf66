//! Client frames (`protocol/live.schema.json`, `ClientFrame`): parsed into commands that carry
//! validated domain operations, or refused with the reply that says why.

use serde_json::{Map, Value};

use super::code::ErrorCode;
use super::input;
use super::reply::{self, ReplyError};
use crate::session::rules::Op;
use crate::session::validation::{InvalidInput, Limits};

/// Longer than any `traceparent` of a known version (55 characters for version 00).
const MAX_TRACEPARENT: usize = 128;

/// A command as the client sent it: its id and what it asks.
pub struct Command {
    pub id: i64,
    pub kind: CommandKind,
    /// The caller's W3C trace context, continued by the command's work when traces are on (a
    /// malformed one is ignored, as a header's would be).
    pub traceparent: Option<String>,
}

pub enum CommandKind {
    Auth {
        token: String,
    },
    Ping,
    Write(Op),
    /// A signal's `data`, within its size limit.
    Signal(Value),
}

impl CommandKind {
    /// The command's `type`, as a metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            CommandKind::Auth { .. } => "auth",
            CommandKind::Ping => "ping",
            CommandKind::Signal(_) => "signal",
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
            "signal" => CommandKind::Signal(parse_signal(&obj, limits).map_err(invalid)?),
            "message.add" => CommandKind::Write(Op::Append(
                input::new_message(&obj, limits).map_err(invalid)?,
            )),
            "image.add" => CommandKind::Write(parse_image_add(&obj, limits).map_err(invalid)?),
            "session.complete" => CommandKind::Write(Op::Complete {
                completed_at: input::completion(&obj).map_err(invalid)?,
            }),
            "session.update" => match obj.get("changes") {
                Some(Value::Object(changes)) => CommandKind::Write(Op::Update(
                    input::update(changes, limits)
                        .map_err(|error| invalid(error.within("changes")))?,
                )),
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
        let traceparent = obj
            .get("traceparent")
            .and_then(Value::as_str)
            .filter(|traceparent| traceparent.len() <= MAX_TRACEPARENT)
            .map(str::to_owned);
        Ok(Command {
            id,
            kind,
            traceparent,
        })
    }
}

fn malformed(id: Option<i64>, message: &str) -> Refusal {
    Refusal::Malformed {
        id,
        message: message.to_owned(),
    }
}

fn parse_signal(obj: &Map<String, Value>, limits: &Limits) -> Result<Value, InvalidInput> {
    let data = obj
        .get("data")
        .cloned()
        .ok_or_else(|| InvalidInput::new("data", "data is required (any JSON value)"))?;
    limits.check_signal(data).map_err(|size| {
        InvalidInput::new(
            "data",
            format!(
                "data must be at most {} bytes encoded as JSON; it is {size}",
                limits.max_signal_bytes
            ),
        )
    })
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
    let image = input::new_image(obj.get("image").unwrap_or(&Value::Null), limits)
        .map_err(|error| error.within("image"))?;
    Ok(Op::AddImage { message_id, image })
}

impl Refusal {
    /// The error reply that answers the frame.
    pub fn reply(&self) -> String {
        match self {
            Refusal::Malformed { id, message } => reply::error(
                *id,
                &ReplyError::new(ErrorCode::InvalidFrame, message.clone()),
            ),
            Refusal::UnknownCommand { id, kind } => reply::error(
                Some(*id),
                &ReplyError::new(
                    ErrorCode::UnknownCommand,
                    format!("unknown command type {kind:?}"),
                ),
            ),
            Refusal::Invalid { id, error } => reply::error(
                Some(*id),
                &ReplyError::invalid(&error.field, &error.message),
            ),
        }
    }

    pub fn is_malformed(&self) -> bool {
        !matches!(self, Refusal::Invalid { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traceparent_of(frame: &str) -> Option<String> {
        match Command::parse(frame, &Limits::default()) {
            Ok(command) => command.traceparent,
            Err(_) => panic!("{frame} is a command"),
        }
    }

    #[test]
    fn a_command_s_traceparent_is_kept_and_an_odd_one_ignored() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            traceparent_of(&format!(
                r#"{{"id":1,"type":"ping","traceparent":"{traceparent}"}}"#
            ))
            .as_deref(),
            Some(traceparent)
        );
        assert_eq!(traceparent_of(r#"{"id":1,"type":"ping"}"#), None);
        assert_eq!(
            traceparent_of(r#"{"id":1,"type":"ping","traceparent":42}"#),
            None
        );
        let long = "0".repeat(MAX_TRACEPARENT + 1);
        assert_eq!(
            traceparent_of(&format!(
                r#"{{"id":1,"type":"ping","traceparent":"{long}"}}"#
            )),
            None
        );
    }
}
