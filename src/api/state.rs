//! What every handler can reach: the server's state, built once by `app` and shared by the
//! transports.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::bodies::Bodies;
use crate::api::page::Page;
use crate::auth::Authenticator;
use crate::auth::origin::OriginPolicy;
use crate::fanout::Fanout;
use crate::live::LiveSettings;
use crate::quota::Quotas;
use crate::session::Sessions;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub sessions: Sessions,
    pub auth: Arc<Authenticator>,
    /// Which browser origins may call, and use the session cookie.
    pub origins: Arc<OriginPolicy>,
    pub live: Arc<LiveSettings>,
    /// Cancelled when the server starts shutting down; sockets watch it.
    pub shutdown: CancellationToken,
    /// Every open socket, so shutdown can wait for them to close.
    pub sockets: TaskTracker,
    /// The link to the other instances (for readiness).
    pub fanout: Arc<dyn Fanout>,
    pub ops: Arc<Operations>,
    /// The latest answer of each session recently read, with its `ETag`.
    pub bodies: Arc<Bodies>,
    /// The web page at `/`, rendered for this server's sign-in settings.
    pub page: Arc<Page>,
    /// What one user may take of this instance (requests per second, sockets).
    pub quotas: Arc<Quotas>,
}

/// The server's state as operators see it.
pub struct Operations {
    /// Set on SIGTERM: `/readyz` fails from then on.
    draining: AtomicBool,
    /// The metrics, when `/metrics` is on the main listener (not on `--metrics-addr`).
    pub metrics_here: Option<PrometheusHandle>,
    /// How long to drain before shutting down.
    pub drain: Duration,
}

impl Operations {
    pub fn new(metrics_here: Option<PrometheusHandle>, drain: Duration) -> Self {
        Self {
            draining: AtomicBool::new(false),
            metrics_here,
            drain,
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// From now on `/readyz` answers 503.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}

/// The page's handlers take only the page.
impl axum::extract::FromRef<AppState> for Arc<Page> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.page)
    }
}

impl AppState {
    /// What a socket or an event stream needs of the server.
    pub fn socket_context(&self) -> crate::live::SocketContext {
        crate::live::SocketContext {
            sessions: self.sessions.clone(),
            auth: self.auth.clone(),
            settings: self.live.clone(),
            quotas: self.quotas.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}
