//! The WebSocket transport: one socket per live chat, streaming a session's committed changes
//! to every tab in `seq` order and taking commands that write through the session's actor.
//! The protocol is described in `protocol/README.md`.

mod connection;
mod protocol;
mod rate;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::HeaderMap;
use axum::response::{IntoResponse as _, Response};

use crate::api::extract::{DocId, QueryPairs};
use crate::api::observe::RequestId;
use crate::app::AppState;
use crate::auth::{AuthError, Via};
use crate::error::ApiError;
use connection::{Connection, Start};
use tracing::Instrument as _;

/// How sockets behave; one value shared by all of them.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    pub ping_interval: Duration,
    /// A peer silent (no frame, not even a pong) this long is disconnected.
    pub idle_timeout: Duration,
    /// Time a socket without an `Authorization` header has to send its `auth` frame.
    pub auth_timeout: Duration,
    /// Frames queued for a socket; a socket that falls this far behind is closed with 4008.
    pub queue: usize,
    pub max_frame_bytes: usize,
    pub rate_per_sec: u32,
    pub burst: u32,
    /// How long shutdown waits for sockets to answer their commands and close.
    pub shutdown_grace: Duration,
}

/// Read buffer per socket: small, since commands are small and idle sockets are many.
const READ_BUFFER_BYTES: usize = 512;

/// Numbers the sockets of this process, for the logs.
static NEXT_SOCKET: AtomicU64 = AtomicU64::new(1);

/// `GET /api/live-chat-sessions/:id/live`: upgrades, then authenticates (header, cookie or
/// first frame) and attaches to the session. Refusals after the upgrade are close codes, which
/// browsers can see, unlike the status of a refused upgrade; only a page of a foreign origin
/// is refused before it (403), so that it learns nothing of the session at all.
pub async fn attach(
    State(state): State<AppState>,
    DocId(id): DocId,
    QueryPairs(query): QueryPairs,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !state.origins.may_open_socket(&headers) {
        return ApiError::Forbidden("sockets may not be opened from this origin").into_response();
    }
    let credential = match state.auth.credential(&headers) {
        // No credential on the upgrade: the first frame must be `auth`.
        Err(AuthError::Missing) if headers.get(axum::http::header::AUTHORIZATION).is_none() => None,
        Err(err) => Some(Err(err)),
        Ok((_, Via::Cookie)) if !state.origins.may_send_credentials(&headers) => {
            // A page of another site must never ride on the user's cookie.
            return ApiError::Forbidden("the session cookie is not accepted from this origin")
                .into_response();
        }
        Ok((token, _)) => Some(state.auth.verify(token).await),
    };
    let since = query
        .iter()
        .find(|(key, _)| key == "sinceSeq")
        .map(|(_, value)| value.parse::<u64>().map_err(|_| value.clone()));
    let settings = state.live.clone();
    let sockets = state.sockets.clone();
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(settings.max_frame_bytes)
        .max_frame_size(settings.max_frame_bytes)
        .on_upgrade(move |socket| {
            // The socket's own span, outliving the upgrade request's: every line of its work
            // names the request that opened it, the session, the socket and (once known) the
            // user.
            let span = tracing::info_span!(
                parent: None,
                "socket",
                request_id = request_id.as_ref().map_or("", |Extension(RequestId(id))| id.as_str()),
                session = %id,
                socket = NEXT_SOCKET.fetch_add(1, Ordering::Relaxed),
                uid = tracing::field::Empty,
            );
            let connection = Connection::new(state, id, Start { credential, since });
            sockets.track_future(connection.run(socket).instrument(span))
        })
}
