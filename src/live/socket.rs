//! One socket's life: authenticate, attach to the session, then relay pushes out and commands
//! in until it ends, and close it.
//!
//! [`Socket::run`] is the reader: it reads frames, runs commands and forwards the session's
//! pushes into the writer's bounded queue ([`super::writer`]). A socket that reads too slowly
//! fills its queue and is closed with 4008 rather than slowing anyone else (it resumes with
//! `sinceSeq`); one whose task fell behind the session's ring catches up from the event log.
//! Both ends are generic over streams of [`Frame`]s, so tests drive them without a network.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{Sink, Stream, StreamExt as _};
use tracing::Instrument as _;

use super::frame::{Frame, ReadError};
use super::relay::Relay;
use super::writer::{self, Finish, Outbound, QueueError, WriterHandle};
use super::{LiveSettings, SocketContext};
use crate::auth::{AuthError, Identity};
use crate::domain::list::ListQuery;
use crate::protocol::close::Close;
use crate::protocol::command::{Command, CommandKind};
use crate::protocol::reply;
use crate::quota::SocketPermit;
use crate::session::{Attachment, ListAttachment, SessionError};
use crate::telemetry::metrics::{self as telemetry, metrics};

/// What the upgrade request said: its credential (header or cookie, if any, verified) and its
/// `sinceSeq` (if any, parsed).
pub struct Start {
    pub credential: Option<Result<Identity, AuthError>>,
    pub since: Option<Result<u64, String>>,
}

/// How the socket ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Send this close frame: after what is queued, or at once when it is urgent.
    Close(Close),
    /// The peer went away; nothing more to send.
    Gone,
}

/// How long a closing socket waits for the peer's close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// What a socket follows: one session, or the user's list of sessions.
pub(super) enum Target {
    Session(String),
    List(ListQuery),
}

/// Where an attached socket starts.
pub(super) enum Attached {
    Session(Attachment),
    List(ListAttachment),
}

pub struct Socket {
    ctx: SocketContext,
    target: Target,
    /// The socket's name to the others (signals say it was theirs): unique across instances.
    connection: Arc<str>,
    start: Start,
    /// What the socket's log lines carry, kept here rather than in a span the socket would
    /// hold for its whole life (an idle socket would pay the log subscriber's storage for it).
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

/// The reader's own end of the writer, and the queueing rules.
pub(super) struct Out<'w>(&'w WriterHandle);

impl Out<'_> {
    /// Queues a frame for this socket; a full queue means the peer reads too slowly.
    pub(super) fn own(&self, frame: String) -> Result<(), End> {
        self.queue(Outbound::Own(frame.into_boxed_str()))
    }

    /// Queues a frame shared with the session's other watchers.
    pub(super) fn shared(&self, frame: Arc<str>) -> Result<(), End> {
        self.queue(Outbound::Shared(frame))
    }

    /// Queues a frame, waiting for room (for the answers owed at shutdown).
    pub(super) async fn waiting(&self, outbound: Outbound) -> Result<(), End> {
        self.0
            .enqueue_waiting(outbound)
            .await
            .map_err(|_| End::Gone)
    }

    pub(super) fn queue(&self, outbound: Outbound) -> Result<(), End> {
        self.0.enqueue(outbound).map_err(|err| match err {
            QueueError::Full => End::Close(Close::SlowConsumer),
            QueueError::Gone => End::Gone,
        })
    }
}

impl Socket {
    /// A socket of session `id`.
    pub fn new(ctx: SocketContext, id: String, start: Start) -> Self {
        Self::with_target(ctx, Target::Session(id), start)
    }

    /// A socket of the user's list, as `query` asks for it (its first page, and its filter).
    pub fn following_list(ctx: SocketContext, query: ListQuery, start: Start) -> Self {
        Self::with_target(ctx, Target::List(query), start)
    }

    fn with_target(ctx: SocketContext, target: Target, start: Start) -> Self {
        Self {
            ctx,
            target,
            connection: crate::domain::new_id().into(),
            start,
            log: LogContext {
                request_id: None,
                number: NEXT_SOCKET.fetch_add(1, Ordering::Relaxed),
                uid: std::sync::OnceLock::new(),
            },
        }
    }

    /// Names the upgrade request that opened the socket on its log lines.
    pub fn opened_by(mut self, request_id: Option<&str>) -> Self {
        self.log.request_id = request_id.map(Into::into);
        self
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

    /// The socket's name in the signals it sends.
    pub(super) fn connection(&self) -> &Arc<str> {
        &self.connection
    }

    /// Serves the socket until it ends; returns the close code sent (`None`: the peer left).
    pub async fn run<S, K>(self, mut stream: S, sink: K) -> Option<u16>
    where
        S: Stream<Item = Result<Frame, ReadError>> + Unpin,
        K: Sink<Frame, Error: Send> + Unpin + Send + 'static,
    {
        let open = &metrics().sockets_open;
        open.increment(1.0);
        let (handle, queue) = writer::channel(self.ctx.settings.queue);
        let mut writer = tokio::spawn(writer::write(sink, queue));
        let end = self.serve(&mut stream, &Out(&handle)).await;
        let code = match end {
            End::Close(close) => Some(close.code()),
            End::Gone => None,
        };
        telemetry::socket_closed(code);
        self.span()
            .in_scope(|| tracing::debug!(?code, "socket closed"));
        let how = match end {
            End::Close(close) if close.is_urgent() => Finish::Urgent(Frame::close(close)),
            End::Close(close) => Finish::Close(Frame::close(close)),
            End::Gone => Finish::Gone,
        };
        let finishing = handle.finish(how);
        // Complete the closing handshake: read (and discard) until the peer's own close. Input
        // left unread when the socket is dropped would make the kernel reset the connection,
        // and a reset can destroy the close frame before the peer reads it.
        let handshake = async {
            while let Some(Ok(frame)) = stream.next().await {
                if matches!(frame, Frame::Close(_)) {
                    break;
                }
            }
        };
        // A peer that does not read gets as long as a silent one to take its close frame; then
        // the connection is dropped without it.
        let (written, _) = tokio::join!(
            tokio::time::timeout(self.ctx.settings.idle_timeout, &mut writer),
            async {
                if code.is_some() {
                    let _ = tokio::time::timeout(CLOSE_HANDSHAKE, handshake).await;
                }
            }
        );
        if written.is_err() {
            writer.abort();
            self.span().in_scope(|| {
                tracing::debug!("the peer did not take its close frame; dropped");
            });
        }
        drop(finishing);
        open.decrement(1.0);
        code
    }

    async fn serve<S>(&self, stream: &mut S, out: &Out<'_>) -> End
    where
        S: Stream<Item = Result<Frame, ReadError>> + Unpin,
    {
        let attached = Box::pin(self.attach(stream, out).instrument(self.span())).await;
        match attached {
            Ok((identity, (attachment, _permit), resuming)) => {
                // The permit counts the socket against its user's quota until it ends.
                Relay::new(self, identity, out)
                    .run(stream, attachment, resuming)
                    .await
            }
            Err(end) => end,
        }
    }

    /// Authenticates the socket and attaches it to its session: the identity, the attachment,
    /// and whether the client resumes.
    async fn attach<S>(
        &self,
        stream: &mut S,
        out: &Out<'_>,
    ) -> Result<(Identity, (Attached, SocketPermit), bool), End>
    where
        S: Stream<Item = Result<Frame, ReadError>> + Unpin,
    {
        let since = match &self.start.since {
            None => None,
            Some(Ok(since)) => Some(*since),
            Some(Err(_)) => {
                return Err(End::Close(Close::BadSinceSeq));
            }
        };
        let identity = match &self.start.credential {
            Some(Ok(identity)) => identity.clone(),
            Some(Err(AuthError::Unavailable(cause))) => return Err(self.auth_unavailable(cause)),
            Some(Err(_)) => return Err(End::Close(Close::InvalidToken)),
            None => Box::pin(self.first_frame_auth(stream, out)).await?,
        };
        tracing::Span::current().record("uid", identity.uid.as_str());
        let _ = self.log.uid.set(identity.uid.as_str().into());
        let Some(permit) = self.ctx.quotas.open_socket(&identity.uid) else {
            return Err(End::Close(Close::TooManySockets));
        };
        // Boxed, as are the other awaits off the steady state: a socket's task is as large as
        // its largest await point, and idle sockets are many.
        let sessions = &self.ctx.sessions;
        let attached = match &self.target {
            Target::Session(id) => Box::pin(sessions.watch(&identity.uid, id, since))
                .await
                .map(Attached::Session),
            Target::List(query) => Box::pin(sessions.follow_list(&identity.uid, query))
                .await
                .map(Attached::List),
        };
        let attachment = match attached {
            Ok(attachment) => attachment,
            Err(SessionError::NotFound) => {
                return Err(End::Close(Close::SessionNotFound));
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot attach a socket");
                return Err(End::Close(Close::SessionUnavailable));
            }
        };
        tracing::debug!(?since, "socket attached");
        Ok((identity, (attachment, permit), since.is_some()))
    }

    fn auth_unavailable(&self, cause: &str) -> End {
        tracing::warn!(%cause, "cannot verify a socket's token");
        End::Close(Close::AuthUnavailable)
    }

    /// Waits for the `auth` frame a browser sends first.
    async fn first_frame_auth<S>(&self, stream: &mut S, out: &Out<'_>) -> Result<Identity, End>
    where
        S: Stream<Item = Result<Frame, ReadError>> + Unpin,
    {
        let deadline = tokio::time::sleep(self.ctx.settings.auth_timeout);
        tokio::pin!(deadline);
        let text = loop {
            let frame = tokio::select! {
                () = &mut deadline => {
                    return Err(End::Close(Close::NoAuthInTime));
                }
                frame = stream.next() => frame,
            };
            match frame {
                Some(Ok(Frame::Text(text))) => break text,
                Some(Ok(Frame::Ping | Frame::Pong)) => continue,
                Some(Err(ReadError::TooBig)) => {
                    return Err(End::Close(Close::TooBig));
                }
                _ => return Err(End::Gone),
            }
        };
        match Command::parse(&text, self.ctx.sessions.limits()) {
            Ok(Command {
                id,
                kind: CommandKind::Auth { token },
            }) => match self.ctx.auth.verify(&token).await {
                Ok(identity) => {
                    out.own(reply::authenticated(id, &identity.uid, identity.expires_at))?;
                    Ok(identity)
                }
                Err(AuthError::Unavailable(cause)) => Err(self.auth_unavailable(&cause)),
                Err(_) => Err(End::Close(Close::InvalidToken)),
            },
            _ => Err(End::Close(Close::FirstFrameNotAuth)),
        }
    }
}
