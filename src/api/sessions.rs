//! Creating, finding, reading, listing and deleting sessions.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::extract::{AuthUser, DocId, JsonObject, QueryPairs};
use crate::api::error::ApiError;
use crate::api::state::AppState;
use crate::domain::model::Session;
use crate::protocol::input;
use crate::protocol::rest;
use crate::session::Current;
use crate::session::validation::InvalidInput;

/// `POST /`: 409 `conflict` (with the existing `sessionDocId`) if the user has this sessionId.
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    JsonObject(body): JsonObject,
) -> Result<impl IntoResponse, ApiError> {
    let new = input::new_session(&body, state.sessions.limits())?;
    let id = state.sessions.create(&user.uid, new).await?;
    Ok(Json(rest::created(&id)))
}

/// `POST /find-or-create`: atomic; `created` says whether this call made the session.
pub async fn find_or_create(
    State(state): State<AppState>,
    user: AuthUser,
    JsonObject(body): JsonObject,
) -> Result<impl IntoResponse, ApiError> {
    let new = input::new_session(&body, state.sessions.limits())?;
    let (id, created) = state.sessions.find_or_create(&user.uid, new).await?;
    Ok(Json(rest::found_or_created(&id, created)))
}

/// `GET /:id`: `304` when `If-None-Match` names the session as it stands.
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    DocId(id): DocId,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    let current = state.sessions.current(&user.uid, &id).await?;
    answer(&state, &user, current, &request).await
}

/// The session's answer: held, unless it changed since it was last given; read and serialized
/// otherwise.
async fn answer(
    state: &AppState,
    user: &AuthUser,
    current: Current,
    request: &HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(held) = state.bodies.get(current.id(), current.seq()) {
        return Ok(held.respond(request));
    }
    let session = match current {
        Current::Session(session) => session,
        Current::Version(version) => state.sessions.get(&user.uid, &version.id).await?,
    };
    Ok(state.bodies.hold(&session).respond(request))
}

/// `GET /by-image-url?imageUrl=U`: restore from any image of the session; `304` when
/// `If-None-Match` names the session as it stands.
pub async fn by_image_url(
    State(state): State<AppState>,
    user: AuthUser,
    QueryPairs(pairs): QueryPairs,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    let url = pairs
        .iter()
        .find(|(key, _)| key == "imageUrl")
        .map(|(_, value)| value.as_str())
        .filter(|url| !url.is_empty())
        .ok_or_else(|| InvalidInput::new("imageUrl", "imageUrl is required"))?;
    if url.chars().count() > state.sessions.limits().max_url_chars {
        return Err(ApiError::NotFound);
    }
    let current = state.sessions.current_by_image_url(&user.uid, url).await?;
    answer(&state, &user, current, &request).await
}

/// `GET /?limit&cursor&status&view`: `nextCursor` only when more sessions remain; with
/// `view=summary`, summaries instead of whole sessions.
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let query = input::list_query(&pairs, &user.uid)?;
    let summaries = match pairs.iter().find(|(key, _)| key == "view") {
        None => false,
        Some((_, view)) if view == "full" => false,
        Some((_, view)) if view == "summary" => true,
        Some(_) => {
            return Err(InvalidInput::new("view", "view must be full or summary").into());
        }
    };
    let page = state.sessions.list(&user.uid, &query).await?;
    let next_cursor = page.next.map(|next| input::cursor(&next, &user.uid));
    if summaries {
        let summaries: Vec<_> = page.sessions.iter().map(Session::summary).collect();
        return Ok(Json(rest::summary_page(&summaries, next_cursor)).into_response());
    }
    Ok(Json(rest::page(&page.sessions, next_cursor)).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    DocId(id): DocId,
) -> Result<impl IntoResponse, ApiError> {
    state.sessions.delete(&user.uid, &id).await?;
    Ok(Json(rest::deleted()))
}
