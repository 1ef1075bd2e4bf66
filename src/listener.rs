//! The HTTP listener: accepts connections up to a cap, serves each with hyper's HTTP/1.1 (with
//! WebSocket upgrades) under a header-read timeout, and shuts down gracefully.
//!
//! A public endpoint meets connections that open and never finish a request (half-open
//! connections, slowloris): each would hold a socket, a task and a file descriptor for ever. The
//! timeout closes a connection whose request head has not fully arrived in time (answered
//! `408`), and the cap bounds what all connections together may hold. A connection counts
//! against the cap for its whole life, WebSocket included: its permit rides in its I/O, which
//! an upgraded socket keeps. Past the cap, a new connection is answered `503` and closed at
//! once, so that a load balancer tries another instance.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How connections are accepted and how long a request head may take.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    /// Connections open at once (HTTP and WebSocket); 0: no cap.
    pub max_connections: usize,
    /// How long a connection may take to send a complete request head.
    pub header_read_timeout: Duration,
}

/// After a failed accept (out of file descriptors, say), wait this long before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `router` until `shutdown` resolves, then waits for the connections being served to
/// finish their requests (upgraded sockets are the caller's to wait for).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ConnectionSettings,
    shutdown: impl Future<Output = ()> + Send,
) {
    let permits =
        (settings.max_connections > 0).then(|| Arc::new(Semaphore::new(settings.max_connections)));
    // Cancelled at shutdown: every connection then finishes the request it serves and closes.
    let stop = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // Small writes (a reply, an event) must not wait for Nagle's algorithm.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        let permit = match &permits {
            None => None,
            Some(permits) => match Arc::clone(permits).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    tokio::spawn(refuse(tcp));
                    continue;
                }
            },
        };
        let io = TokioIo::new(Counted {
            tcp,
            _permit: permit,
        });
        let service = TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection(io, service).with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            tokio::pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = served {
                tracing::debug!(%err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    stop.cancel();
    connections.close();
    connections.wait().await;
}

/// Answers a connection over the cap with `503` and closes it.
async fn refuse(mut tcp: TcpStream) {
    crate::telemetry::metrics::connection_refused();
    const ANSWER: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: 1\r\nconnection: close\r\n\r\n";
    let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(ANSWER)).await;
}

/// A connection's socket, holding its place under the cap until dropped.
struct Counted {
    tcp: TcpStream,
    _permit: Option<OwnedSemaphorePermit>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
