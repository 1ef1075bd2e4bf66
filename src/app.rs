//! Builds the server from its configuration and runs it on a listener it is given, so the
//! binary and the tests start it the same way (tests bind port 0).
//!
//! Shutdown order, written down once: the `shutdown` future resolves (SIGTERM) → the server
//! drains: `/readyz` answers 503 at once while everything else is served as before, for
//! `--drain-ms`, so that a load balancer takes the instance out → the listener stops
//! accepting → sockets stop taking commands, wait for the answers to those already taken (the
//! session actors commit them first), and close with 1001 → HTTP requests in flight finish
//! the same way → `run` returns once both are done or the grace period has passed.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::page::{Page, PageSettings};
use crate::api::state::{AppState, Operations};
use crate::auth::origin::OriginPolicy;
use crate::auth::{self, Authenticator};
use crate::config::{FirestoreArgs, ServeConfig, StoreKind};
use crate::fanout::{Fanout, LocalFanout, RedisFanout};
use crate::listener::ConnectionSettings;
use crate::live::LiveSettings;
use crate::quota::{QuotaSettings, Quotas};
use crate::session::Sessions;
use crate::store::SessionStore;
use crate::store::firestore::FirestoreStore;
use crate::store::sqlite::{SqliteOptions, SqliteStore};
use crate::telemetry;

/// A server ready to run: its store opened and its secret loaded.
pub struct Server {
    state: AppState,
    /// `--metrics-addr`, bound, with what it serves.
    metrics: Option<(TcpListener, PrometheusHandle)>,
    connections: ConnectionSettings,
}

impl Server {
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        let data_dir = &config.secret.data_dir;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
        let metrics = telemetry::metrics::install().context("cannot set up the metrics")?;
        let secret = auth::load_secret(data_dir, config.secret.jwt_secret.as_deref())
            .with_context(|| format!("cannot read or create {}/jwt-secret", data_dir.display()))?;
        let origins = OriginPolicy::parse(config.auth.cors_origins.as_deref())
            .map_err(|err| anyhow::anyhow!("--cors-origins: {err}"))?;
        let auth_settings = config.auth.settings(secret);
        let auth =
            Authenticator::new(&auth_settings).context("cannot set up token verification")?;
        let page = Page::new(&PageSettings::from(&auth_settings));
        let store: Arc<dyn SessionStore> = match config.store {
            StoreKind::Sqlite => {
                let path = data_dir.join("sessions.sqlite3");
                let options = SqliteOptions {
                    synchronous: config.sqlite_synchronous,
                    readers: config.sqlite_readers,
                };
                let store = SqliteStore::open(&path, &options)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                Arc::new(store)
            }
            StoreKind::Firestore => Arc::new(connect_firestore(&config.firestore).await?),
        };
        let fanout: Arc<dyn Fanout> = match &config.redis_url {
            Some(url) => Arc::new(
                RedisFanout::start(url).with_context(|| format!("invalid Redis URL {url}"))?,
            ),
            None => Arc::new(LocalFanout),
        };
        let metrics_listener = match &config.ops.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on --metrics-addr {addr}"))?,
            ),
            None => None,
        };
        let ops = Operations::new(
            metrics_listener.is_none().then(|| metrics.clone()),
            Duration::from_millis(config.ops.drain_ms),
        );
        let quotas = Arc::new(Quotas::new(QuotaSettings::from(&config.live)));
        forget_idle_quotas(&quotas);
        Ok(Self {
            state: AppState {
                sessions: Sessions::new(store, config.actor_settings(), Arc::clone(&fanout)),
                auth: Arc::new(auth),
                origins: Arc::new(origins),
                live: Arc::new(LiveSettings::from(&config.live)),
                shutdown: CancellationToken::new(),
                sockets: TaskTracker::new(),
                fanout,
                ops: Arc::new(ops),
                bodies: Arc::default(),
                page: Arc::new(page),
                quotas,
            },
            metrics: metrics_listener.map(|listener| (listener, metrics)),
            connections: ConnectionSettings {
                max_connections: config.ops.max_connections,
                header_read_timeout: Duration::from_millis(
                    config.ops.header_read_timeout_ms.max(1),
                ),
            },
        })
    }

    /// Where `--metrics-addr` listens, when it is set.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves and the requests in flight have been answered.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (token, sockets) = (self.state.shutdown.clone(), self.state.sockets.clone());
        let grace = self.state.live.shutdown_grace;
        let connections = self.connections;
        let ops = Arc::clone(&self.state.ops);
        if let Some((listener, handle)) = self.metrics {
            let stop = token.clone();
            tokio::spawn(async move {
                let served = axum::serve(listener, crate::api::metrics_router(handle))
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
                if let Err(err) = served {
                    tracing::error!(%err, "the metrics listener failed");
                }
            });
        }
        let router = crate::api::router(self.state);
        let signal = async move {
            shutdown.await;
            ops.start_draining();
            if !ops.drain.is_zero() {
                tracing::info!(
                    drain_ms = ops.drain.as_millis() as u64,
                    "draining: /readyz answers 503; still serving"
                );
                tokio::time::sleep(ops.drain).await;
            }
            tracing::info!("shutting down: finishing requests in flight, closing sockets");
            token.cancel();
        };
        crate::listener::serve(listener, router, connections, signal).await;
        sockets.close();
        if tokio::time::timeout(grace + Duration::from_secs(1), sockets.wait())
            .await
            .is_err()
        {
            tracing::warn!("some sockets did not close within the shutdown grace period");
        }
        Ok(())
    }
}

/// The Firestore store named by `args`.
pub async fn connect_firestore(args: &FirestoreArgs) -> anyhow::Result<FirestoreStore> {
    let project = args
        .firestore_project
        .as_deref()
        .context("the firestore store needs --firestore-project (LIVECHAT_FIRESTORE_PROJECT)")?;
    let deadline = Duration::from_millis(args.firestore_timeout_ms.max(1));
    FirestoreStore::connect(project, deadline)
        .await
        .with_context(|| format!("cannot reach Firestore project {project}"))
}

/// Once a minute, drops the request buckets of users who have not called since they refilled,
/// until the server is dropped.
fn forget_idle_quotas(quotas: &Arc<Quotas>) {
    let quotas = Arc::downgrade(quotas);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        every.tick().await;
        loop {
            every.tick().await;
            match quotas.upgrade() {
                Some(quotas) => quotas.forget_idle(),
                None => break,
            }
        }
    });
}
