//! Appending a message (with its images) to a session.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;

use super::extract::{AuthUser, DocId, JsonObject};
use crate::error::ApiError;
use crate::protocol::rest;
use crate::session::validation::NewMessage;
use crate::state::AppState;

/// `POST /:id/messages`: answered after the commit, with the message's id, its images'
/// orders and the session's `seq`. A retry answers what the original did.
pub async fn append(
    State(state): State<AppState>,
    user: AuthUser,
    DocId(id): DocId,
    JsonObject(body): JsonObject,
) -> Result<impl IntoResponse, ApiError> {
    let message = NewMessage::parse(&body, state.sessions.limits())?;
    let appended = state
        .sessions
        .append_message(&user.uid, &id, message)
        .await?;
    Ok(Json(rest::appended(&appended)))
}
