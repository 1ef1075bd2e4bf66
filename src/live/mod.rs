//! Live subscriptions and the WebSocket that carries them: one per live chat, streaming a
//! session's committed changes to every tab in `seq` order and taking commands that write
//! through the session's actor; or one per tab following the user's list. The protocol is
//! described in `protocol/README.md`; its frames are built by [`crate::protocol`].
//!
//! The subscription does not know its transport:
//! - `link`: what it knows of its connection (the server's handles, what it follows, its name,
//!   its log fields); `attach`: authenticated, counted in the quota, attached;
//! - `subscription`: the steady state: pushes out in order, catch-up, commands and their
//!   replies (`commands`), their rate (`rate`), heartbeats, the token's expiry; `list`: what a
//!   subscription to the user's list has shown;
//! - `out` and [`writer`]: the bounded queue its frames leave by, and how it ends.
//!
//! The transports: [`events`] carries a subscription as Server-Sent Events (pushes only;
//! commands go over REST). The WebSocket transport is [`socket`] (the upgrade's credential or the first-frame `auth`,
//! frames in as [`frame::Frame`]s, the close handshake), generic over streams of frames so that
//! tests drive it without a network. The upgrade itself (origin and credential checks) is an
//! HTTP route: `api::live`.

mod attach;
mod commands;
pub mod events;
pub mod frame;
mod link;
mod list;
mod out;
mod rate;
pub mod socket;
mod subscription;
#[cfg(test)]
mod tests;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocket;
use futures::{SinkExt as _, StreamExt as _};
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::quota::Quotas;
use crate::session::Sessions;
use frame::{Frame, ReadError};
pub use socket::{Socket, Start};

/// How sockets behave; one value shared by all of them.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    pub ping_interval: Duration,
    /// A peer silent (no frame, not even a pong) this long is disconnected.
    pub idle_timeout: Duration,
    /// Time a socket without a credential on its upgrade has to send its `auth` frame.
    pub auth_timeout: Duration,
    /// Frames queued for a socket; a socket that falls this far behind is closed with 4008.
    pub queue: usize,
    pub max_frame_bytes: usize,
    pub rate_per_sec: u32,
    pub burst: u32,
    /// How long shutdown waits for sockets to answer their commands and close.
    pub shutdown_grace: Duration,
}

/// What a socket needs of the server: these few handles, not the whole state.
#[derive(Clone)]
pub struct SocketContext {
    pub sessions: Sessions,
    pub auth: Arc<Authenticator>,
    pub settings: Arc<LiveSettings>,
    /// Sockets per user.
    pub quotas: Arc<Quotas>,
    /// Cancelled when the server starts shutting down.
    pub shutdown: CancellationToken,
}

/// Serves an upgraded WebSocket as socket `socket` of session `id`.
pub async fn serve(socket: Socket, ws: WebSocket) {
    let (sink, stream) = ws.split();
    let stream = stream.map(|message| message.map(Frame::from).map_err(ReadError::from));
    let sink = sink.with(|frame: Frame| std::future::ready(Ok::<_, axum::Error>(frame.into())));
    socket.run(stream, Box::pin(sink)).await;
}
