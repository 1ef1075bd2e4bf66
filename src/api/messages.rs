//! Appending a message (with its images) to a session, and signalling its sockets.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;

use super::extract::{AuthUser, DocId, JsonObject};
use crate::api::error::ApiError;
use crate::api::state::AppState;
use crate::protocol::input;
use crate::protocol::rest;
use crate::session::validation::InvalidInput;

/// `POST /:id/messages`: answered after the commit, with the message's id, its images'
/// orders and the session's `seq`. A retry answers what the original did.
pub async fn append(
    State(state): State<AppState>,
    user: AuthUser,
    DocId(id): DocId,
    JsonObject(body): JsonObject,
) -> Result<impl IntoResponse, ApiError> {
    let message = input::new_message(&body, state.sessions.limits())?;
    let appended = state
        .sessions
        .append_message(&user.uid, &id, message)
        .await?;
    Ok(Json(rest::appended(&appended)))
}

/// `POST /:id/signals`: `{data}` to every socket of the session, on every instance; nothing is
/// stored. Answers the session's `seq` when sent.
pub async fn signal(
    State(state): State<AppState>,
    user: AuthUser,
    DocId(id): DocId,
    JsonObject(mut body): JsonObject,
) -> Result<impl IntoResponse, ApiError> {
    let limits = state.sessions.limits();
    let data = body
        .remove("data")
        .ok_or_else(|| InvalidInput::new("data", "data is required (any JSON value)"))?;
    let data = limits
        .check_signal(data)
        .map_err(|_| ApiError::PayloadTooLarge {
            what: "data, encoded as JSON,",
            max_bytes: limits.max_signal_bytes,
        })?;
    let seq = state.sessions.signal(&user.uid, &id, "rest", data).await?;
    Ok(Json(rest::signalled(seq)))
}
