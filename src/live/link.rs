//! What a subscription knows of the connection that carries it, whatever the transport: the
//! server's handles, what it follows, its name to the others, and the fields of its log lines.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{LiveSettings, SocketContext};
use crate::domain::list::ListQuery;

/// What a socket follows: one session, or the user's list of sessions.
pub(super) enum Target {
    Session(String),
    List(ListQuery),
}

/// One connection's subscription, as its transport and its steady state both see it.
pub(super) struct Link {
    ctx: SocketContext,
    target: Target,
    /// The connection's name to the others (signals say it was theirs): unique across
    /// instances.
    connection: Arc<str>,
    /// What the connection's log lines carry, kept here rather than in a span held for its
    /// whole life (an idle socket would pay the log subscriber's storage for it).
    log: LogContext,
}

/// The fields of a socket's `socket` span, opened around each piece of its work.
struct LogContext {
    /// The id of the upgrade request that opened the socket.
    request_id: Option<Box<str>>,
    /// This process's number for the socket.
    number: u64,
    /// The user, once authenticated.
    uid: std::sync::OnceLock<Box<str>>,
}

static NEXT_SOCKET: AtomicU64 = AtomicU64::new(1);

impl Link {
    pub(super) fn new(ctx: SocketContext, target: Target) -> Self {
        Self {
            ctx,
            target,
            connection: crate::domain::new_id().into(),
            log: LogContext {
                request_id: None,
                number: NEXT_SOCKET.fetch_add(1, Ordering::Relaxed),
                uid: std::sync::OnceLock::new(),
            },
        }
    }

    /// Names the request that opened the connection on its log lines.
    pub(super) fn opened_by(&mut self, request_id: Option<&str>) {
        self.log.request_id = request_id.map(Into::into);
    }

    /// Names the user on the log lines from now on.
    pub(super) fn authenticated(&self, uid: &str) {
        tracing::Span::current().record("uid", uid);
        let _ = self.log.uid.set(uid.into());
    }

    /// The span of a piece of the socket's work: every line logged inside it names the request
    /// that opened the socket, the session, the socket and (once known) the user.
    pub(super) fn span(&self) -> tracing::Span {
        let log = &self.log;
        tracing::info_span!(
            parent: None,
            "socket",
            request_id = log.request_id.as_deref().unwrap_or(""),
            session = self.id(),
            socket = log.number,
            uid = log.uid.get().map(|uid| &**uid),
        )
    }

    pub(super) fn ctx(&self) -> &SocketContext {
        &self.ctx
    }

    pub(super) fn settings(&self) -> &LiveSettings {
        &self.ctx.settings
    }

    /// The session's id (empty for a socket of the user's list).
    pub(super) fn id(&self) -> &str {
        match &self.target {
            Target::Session(id) => id,
            Target::List(_) => "",
        }
    }

    pub(super) fn target(&self) -> &Target {
        &self.target
    }

    /// The connection's name in the signals it sends.
    pub(super) fn connection(&self) -> &Arc<str> {
        &self.connection
    }
}
