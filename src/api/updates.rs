//! Completing a session and changing its whitelisted fields.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;

use super::extract::{AuthUser, DocId, JsonObject};
use crate::api::error::ApiError;
use crate::api::state::AppState;
use crate::protocol::input;
use crate::protocol::rest;

/// `PATCH /:id/complete`: completing a completed session again (without a new `completedAt`)
/// changes nothing.
pub async fn complete(
    State(state): State<AppState>,
    user: AuthUser,
    DocId(id): DocId,
    JsonObject(body): JsonObject,
) -> Result<impl IntoResponse, ApiError> {
    let completed_at = input::completion(&body)?;
    let seq = state
        .sessions
        .complete(&user.uid, &id, completed_at)
        .await?;
    Ok(Json(rest::completed(seq)))
}

/// `PATCH /:id`: only `status`, `completedAt`, `model`, `frameSize` and `style`.
pub async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    DocId(id): DocId,
    JsonObject(body): JsonObject,
) -> Result<impl IntoResponse, ApiError> {
    let changes = input::update(&body, state.sessions.limits())?;
    let seq = state.sessions.update(&user.uid, &id, changes).await?;
    Ok(Json(rest::updated(seq)))
}
