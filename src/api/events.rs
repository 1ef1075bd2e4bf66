//! `GET /api/live-chat-sessions/:id/events` and `GET /api/live-chat-sessions/events`: a
//! session's pushes, or the user's list, as Server-Sent Events, where WebSockets cannot go.
//! The credential is the request's (header, or the session cookie from a listed origin); a
//! stream counts as a socket in the user's quota. The answer is never compressed nor buffered.

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse as _, Response};

use super::error::ApiError;
use super::extract::{DocId, QueryPairs};
use super::observe::RequestId;
use super::state::AppState;
use crate::auth::{Identity, Via};
use crate::live::events::EventStream;
use crate::protocol::input;
use crate::session::validation::InvalidInput;

/// `GET /:id/events`, from `Last-Event-ID` or `?sinceSeq` when given.
pub async fn session(
    State(state): State<AppState>,
    DocId(id): DocId,
    QueryPairs(query): QueryPairs,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let identity = authenticate(&state, &headers).await?;
    let last_event = headers
        .get("last-event-id")
        .map(|value| (value.to_str().unwrap_or("?").to_owned(), "Last-Event-ID"));
    let since_seq = query
        .into_iter()
        .find(|(key, _)| key == "sinceSeq")
        .map(|(_, value)| (value, "sinceSeq"));
    let since = match last_event.or(since_seq) {
        None => None,
        Some((value, field)) => Some(value.trim().parse::<u64>().map_err(|_| {
            InvalidInput::new(field, format!("{field} must be a non-negative integer"))
        })?),
    };
    let stream = EventStream::session(state.socket_context(), id, identity, since);
    Ok(answer(&state, stream, request_id))
}

/// `GET /events`: the user's list, as `status` and `limit` ask (as on `GET /`).
pub async fn list(
    State(state): State<AppState>,
    QueryPairs(query): QueryPairs,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let list = input::followed_list_query(query)?;
    let identity = authenticate(&state, &headers).await?;
    let stream = EventStream::list(state.socket_context(), list, identity);
    Ok(answer(&state, stream, request_id))
}

/// The request's credential, checked as a REST request's is, and the user's room for one more
/// socket.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let (identity, via) = state.auth.verify_request(headers).await?;
    if via == Via::Cookie && !state.origins.may_send_credentials(headers) {
        return Err(ApiError::Forbidden(
            "the session cookie is not accepted from this origin",
        ));
    }
    if state.quotas.sockets_full(&identity.uid) {
        return Err(ApiError::TooManySockets {
            max: state.quotas.sockets_per_user(),
        });
    }
    Ok(identity)
}

/// The stream's answer; its task is tracked with the sockets, so that shutdown waits for it.
fn answer(
    state: &AppState,
    stream: EventStream,
    request_id: Option<Extension<RequestId>>,
) -> Response {
    let request_id = request_id
        .as_ref()
        .map(|Extension(RequestId(id))| id.as_str());
    let (body, fill) = stream.opened_by(request_id).start();
    state.sockets.spawn(fill);
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies that buffer answers (nginx) must pass each event on as it comes.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
