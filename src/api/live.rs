//! `GET /api/live-chat-sessions/:id/live` and `GET /api/live-chat-sessions/live`: the WebSocket
//! upgrades of a session's socket and of a socket of the user's list. It checks the page's origin
//! and verifies the upgrade's credential (header or cookie), then hands the socket to
//! [`crate::live`], which authenticates by first frame when there was no credential.
//!
//! Refusals after the upgrade are close codes, which browsers can see, unlike the status of a
//! refused upgrade; only a page of a foreign origin is refused before it (403), so that it
//! learns nothing of the session at all.

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse as _, Response};

use super::extract::{DocId, QueryPairs};
use super::observe::RequestId;
use crate::api::error::ApiError;
use crate::api::state::AppState;
use crate::auth::{AuthError, Via};
use crate::live::{Socket, SocketContext, Start};
use crate::protocol::input;
use crate::session::validation::InvalidInput;

/// Read buffer per socket: small, since commands are small and idle sockets are many.
const READ_BUFFER_BYTES: usize = 512;

/// How much of a session socket's frames is gathered before it is written: little, as its
/// frames go out one or a few at a time and idle sockets are many.
const SESSION_WRITE_BYTES: usize = 512;

/// The same for a socket on the user's list, whose frames come in bursts (one per changed
/// session at the end of each interval): gathered into a few writes rather than one per frame.
/// The buffer grows only as far as a burst fills it.
const LIST_WRITE_BYTES: usize = 64 * 1024;

/// `GET /:id/live`: a socket of one session, from `sinceSeq` if given.
pub async fn attach(
    State(state): State<AppState>,
    DocId(id): DocId,
    QueryPairs(query): QueryPairs,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let since = query
        .iter()
        .find(|(key, _)| key == "sinceSeq")
        .map(|(_, value)| value.parse::<u64>().map_err(|_| value.clone()));
    open(
        &state,
        request_id,
        &headers,
        upgrade.map(|upgrade| upgrade.write_buffer_size(SESSION_WRITE_BYTES)),
        since,
        move |ctx, start| Socket::new(ctx, id, start),
    )
    .await
}

/// `GET /live`: a socket of the user's list, as `status` and `limit` ask (as on `GET /`).
pub async fn follow(
    State(state): State<AppState>,
    QueryPairs(query): QueryPairs,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let list = match input::followed_list_query(query) {
        Ok(list) => list,
        Err(invalid) => return ApiError::Invalid(invalid).into_response(),
    };
    open(
        &state,
        request_id,
        &headers,
        upgrade.map(|upgrade| upgrade.write_buffer_size(LIST_WRITE_BYTES)),
        None,
        move |ctx, start| Socket::following_list(ctx, list, start),
    )
    .await
}

/// The upgrade both sockets share: the origin and the credential checked, the user's socket
/// quota, then the socket made by `socket` and served.
async fn open(
    state: &AppState,
    request_id: Option<Extension<RequestId>>,
    headers: &HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    since: Option<Result<u64, String>>,
    socket: impl FnOnce(SocketContext, Start) -> Socket + Send + 'static,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return ApiError::Invalid(InvalidInput::new(
            "Upgrade",
            "this route opens a WebSocket: send a GET with Connection: Upgrade, Upgrade: websocket and the WebSocket headers",
        ))
        .into_response();
    };
    if !state.origins.may_open_socket(headers) {
        return ApiError::Forbidden("sockets may not be opened from this origin").into_response();
    }
    let credential = match state.auth.credential(headers) {
        // No credential on the upgrade: the first frame must be `auth`.
        Err(AuthError::Missing) if headers.get(axum::http::header::AUTHORIZATION).is_none() => None,
        Err(err) => Some(Err(err)),
        Ok((_, Via::Cookie)) if !state.origins.may_send_credentials(headers) => {
            // A page of another site must never ride on the user's cookie.
            return ApiError::Forbidden("the session cookie is not accepted from this origin")
                .into_response();
        }
        Ok((token, _)) => Some(state.auth.verify(token).await),
    };
    // A user known from the upgrade is refused here, where the status can be seen; a socket
    // that authenticates by its first frame is counted after it (closed with 4029).
    if let Some(Ok(identity)) = &credential
        && state.quotas.sockets_full(&identity.uid)
    {
        return ApiError::TooManySockets {
            max: state.quotas.sockets_per_user(),
        }
        .into_response();
    }
    let max_frame = state.live.max_frame_bytes;
    let tracker = state.sockets.clone();
    let ctx = state.socket_context();
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(max_frame)
        .max_frame_size(max_frame)
        .on_upgrade(move |ws| {
            let request_id = request_id
                .as_ref()
                .map(|Extension(RequestId(id))| id.as_str());
            let socket = socket(ctx, Start { credential, since }).opened_by(request_id);
            tracker.track_future(crate::live::serve(socket, ws))
        })
}
