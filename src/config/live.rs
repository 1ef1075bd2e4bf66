//! The sockets' settings, and the per-user quotas.

use std::time::Duration;

use clap::Args;

use crate::live::LiveSettings;
use crate::quota::QuotaSettings;

/// WebSocket settings.
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// Milliseconds between the server's pings on each socket.
    #[arg(long, env = "LIVECHAT_WS_PING_MS", default_value_t = 25_000)]
    pub ws_ping_ms: u64,

    /// Milliseconds of silence from a peer after which its socket is closed.
    #[arg(long, env = "LIVECHAT_WS_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub ws_idle_timeout_ms: u64,

    /// Milliseconds a socket without an Authorization header has to send its `auth` frame.
    #[arg(long, env = "LIVECHAT_WS_AUTH_TIMEOUT_MS", default_value_t = 10_000)]
    pub ws_auth_timeout_ms: u64,

    /// Frames queued for a socket that reads slowly before it is closed with 4008.
    #[arg(long, env = "LIVECHAT_WS_QUEUE", default_value_t = 1024)]
    pub ws_queue: usize,

    /// Events a watched session keeps in memory for its sockets to pick up. A socket that falls
    /// further behind (its task busy during a burst) catches up from the store's event log.
    #[arg(long, env = "LIVECHAT_WS_ROOM_SLOTS", default_value_t = 32)]
    pub ws_room_slots: usize,

    /// Largest inbound frame in bytes; larger ones close the socket with 1009.
    #[arg(long, env = "LIVECHAT_WS_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub ws_max_frame_bytes: usize,

    /// Commands per second a socket may send (beyond it: `rate_limited` replies).
    #[arg(long, env = "LIVECHAT_WS_RATE", default_value_t = 50)]
    pub ws_rate: u32,

    /// Commands a socket may send at once above its rate.
    #[arg(long, env = "LIVECHAT_WS_BURST", default_value_t = 100)]
    pub ws_burst: u32,

    /// Sockets one user may have open on this instance (0: no limit); beyond it an upgrade is
    /// refused with 429, or closed with 4029 after its `auth` frame.
    #[arg(long, env = "LIVECHAT_WS_MAX_SOCKETS_PER_USER", default_value_t = 100)]
    pub ws_max_sockets_per_user: usize,

    /// Milliseconds between two `presence` pushes of one session: the changes in between are
    /// sent as one, so that N tabs opening at once cost O(N) frames, not O(N²).
    #[arg(long, env = "LIVECHAT_WS_PRESENCE_MS", default_value_t = 500)]
    pub ws_presence_ms: u64,

    /// The shortest time between two pushes of a user's list: the changes made meanwhile go
    /// out together at its end, the latest of each session (0: every change at once).
    #[arg(long, env = "LIVECHAT_WS_LIST_MS", default_value_t = 500)]
    pub ws_list_ms: u64,

    /// REST requests per second one user may make (0: no limit); beyond it, 429 `rate_limited`
    /// with `Retry-After`.
    #[arg(long, env = "LIVECHAT_REST_RATE", default_value_t = 50)]
    pub rest_rate: u32,

    /// REST requests one user may make at once above the rate.
    #[arg(long, env = "LIVECHAT_REST_BURST", default_value_t = 100)]
    pub rest_burst: u32,

    /// Milliseconds shutdown waits for sockets to finish their commands and close.
    #[arg(long, env = "LIVECHAT_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
}

impl From<&LiveArgs> for LiveSettings {
    fn from(args: &LiveArgs) -> Self {
        let ms = Duration::from_millis;
        LiveSettings {
            ping_interval: ms(args.ws_ping_ms.max(1)),
            idle_timeout: ms(args.ws_idle_timeout_ms.max(1)),
            auth_timeout: ms(args.ws_auth_timeout_ms.max(1)),
            queue: args.ws_queue.max(1),
            max_frame_bytes: args.ws_max_frame_bytes.max(1),
            rate_per_sec: args.ws_rate.max(1),
            burst: args.ws_burst.max(1),
            shutdown_grace: ms(args.shutdown_grace_ms),
        }
    }
}

impl From<&LiveArgs> for QuotaSettings {
    fn from(args: &LiveArgs) -> Self {
        QuotaSettings {
            rest_rate: args.rest_rate,
            rest_burst: args.rest_burst.max(1),
            sockets_per_user: args.ws_max_sockets_per_user,
        }
    }
}
