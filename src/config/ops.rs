//! How the server presents itself to operators: logs, metrics, draining, connections.

use clap::Args;

use crate::telemetry::LogFormat;

/// How the server presents itself to operators.
#[derive(Debug, Clone, Args)]
pub struct OpsArgs {
    /// Log lines as text or as one JSON object each.
    #[arg(long, env = "LIVECHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Serve `/metrics` on this address only (not on the main listener), e.g. `0.0.0.0:9090`.
    #[arg(long, env = "LIVECHAT_METRICS_ADDR")]
    pub metrics_addr: Option<String>,

    /// Milliseconds between SIGTERM and the end of accepting: `/readyz` answers 503 at once,
    /// everything else is served as before, so a load balancer can take the instance out.
    #[arg(long, env = "LIVECHAT_DRAIN_MS", default_value_t = 0)]
    pub drain_ms: u64,

    /// Connections open at once, HTTP and WebSocket (0: no cap); beyond it a new connection is
    /// answered 503 and closed.
    #[arg(long, env = "LIVECHAT_MAX_CONNECTIONS", default_value_t = 20_000)]
    pub max_connections: usize,

    /// Milliseconds a connection has to send a complete request head; a slower one (or one
    /// that sends nothing) is answered 408 and closed.
    #[arg(
        long,
        env = "LIVECHAT_HEADER_READ_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub header_read_timeout_ms: u64,
}
