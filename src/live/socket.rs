//! One socket's life: authenticate, attach to the session, then relay pushes out and commands
//! in until it ends, and close it.
//!
//! [`Socket::run`] is the reader: it reads frames, runs commands and forwards the session's
//! pushes into the writer's bounded queue ([`super::writer`]). A socket that reads too slowly
//! fills its queue and is closed with 4008 rather than slowing anyone else (it resumes with
//! `sinceSeq`); one whose task fell behind the session's ring catches up from the event log.
//! Both ends are generic over streams of [`Frame`]s, so tests drive them without a network.

use std::sync::Arc;
use std::time::Duration;

use futures::{Sink, Stream, StreamExt as _};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::commands::{PendingReply, Replies};
use super::frame::{Frame, ReadError};
use super::rate::TokenBucket;
use super::writer::{self, Finish, Outbound, QueueError, WriterHandle};
use super::{LiveSettings, SocketContext};
use crate::auth::{AuthError, Identity};
use crate::protocol::command::{Command, CommandKind};
use crate::protocol::reply::{self, ReplyError};
use crate::protocol::{ErrorCode, close, push};
use crate::session::{AttachStart, Attachment, Push, PushKind, SessionError};
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
    /// Send this close frame: after what is queued, or at once when `urgent`.
    Close {
        code: u16,
        reason: &'static str,
        urgent: bool,
    },
    /// The peer went away; nothing more to send.
    Gone,
}

pub(super) fn close(code: u16, reason: &'static str) -> End {
    End::Close {
        code,
        reason,
        urgent: false,
    }
}

fn slow_consumer() -> End {
    End::Close {
        code: close::SLOW_CONSUMER,
        reason: "too far behind; reconnect with sinceSeq",
        urgent: true,
    }
}

/// How long a closing socket waits for the peer's close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// Consecutive frames that are not commands before the socket is closed with 4009.
const MAX_MALFORMED_IN_A_ROW: u32 = 5;

pub struct Socket {
    ctx: SocketContext,
    id: String,
    start: Start,
}

/// The reader's own end of the writer, and the queueing rules.
pub(super) struct Out<'w>(&'w WriterHandle);

impl Out<'_> {
    /// Queues a frame for this socket; a full queue means the peer reads too slowly.
    pub(super) fn own(&self, frame: String) -> Result<(), End> {
        self.queue(Outbound::Own(frame.into_boxed_str()))
    }

    /// Queues a frame shared with the session's other watchers.
    fn shared(&self, frame: Arc<str>) -> Result<(), End> {
        self.queue(Outbound::Shared(frame))
    }

    /// Queues a frame, waiting for room (for the answers owed at shutdown).
    pub(super) async fn waiting(&self, outbound: Outbound) -> Result<(), End> {
        self.0
            .enqueue_waiting(outbound)
            .await
            .map_err(|_| End::Gone)
    }

    fn queue(&self, outbound: Outbound) -> Result<(), End> {
        self.0.enqueue(outbound).map_err(|err| match err {
            QueueError::Full => slow_consumer(),
            QueueError::Gone => End::Gone,
        })
    }
}

impl Socket {
    pub fn new(ctx: SocketContext, id: String, start: Start) -> Self {
        Self { ctx, id, start }
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
            End::Close { code, .. } => Some(code),
            End::Gone => None,
        };
        telemetry::socket_closed(code);
        let how = match end {
            End::Close {
                code,
                reason,
                urgent: false,
            } => Finish::Close(Frame::close(code, reason)),
            End::Close { code, reason, .. } => Finish::Urgent(Frame::close(code, reason)),
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
            tracing::debug!("the peer did not take its close frame; dropped");
        }
        drop(finishing);
        open.decrement(1.0);
        code
    }

    async fn serve<S>(&self, stream: &mut S, out: &Out<'_>) -> End
    where
        S: Stream<Item = Result<Frame, ReadError>> + Unpin,
    {
        let since = match &self.start.since {
            None => None,
            Some(Ok(since)) => Some(*since),
            Some(Err(_)) => {
                return close(
                    close::PROTOCOL_ERROR,
                    "sinceSeq must be a non-negative integer",
                );
            }
        };
        let identity = match &self.start.credential {
            Some(Ok(identity)) => identity.clone(),
            Some(Err(AuthError::Unavailable(cause))) => return self.auth_unavailable(cause),
            Some(Err(_)) => return close(close::UNAUTHENTICATED, "invalid or expired token"),
            None => match Box::pin(self.first_frame_auth(stream, out)).await {
                Ok(identity) => identity,
                Err(end) => return end,
            },
        };
        tracing::Span::current().record("uid", identity.uid.as_str());
        // Boxed, as are the other awaits off the steady state: a socket's task is as large as
        // its largest await point, and idle sockets are many.
        let attachment =
            match Box::pin(self.ctx.sessions.watch(&identity.uid, &self.id, since)).await {
                Ok(attachment) => attachment,
                Err(SessionError::NotFound) => return close(close::NOT_FOUND, "session not found"),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot attach a socket");
                    return close(close::RELOAD, "session unavailable; reconnect");
                }
            };
        Relay::new(self, identity, out)
            .run(stream, attachment, since.is_some())
            .await
    }

    fn auth_unavailable(&self, cause: &str) -> End {
        tracing::warn!(%cause, "cannot verify a socket's token");
        close(close::RELOAD, "authentication unavailable; reconnect")
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
                    return Err(close(close::UNAUTHENTICATED, "no auth frame in time"));
                }
                frame = stream.next() => frame,
            };
            match frame {
                Some(Ok(Frame::Text(text))) => break text,
                Some(Ok(Frame::Ping | Frame::Pong)) => continue,
                Some(Err(ReadError::TooBig)) => {
                    return Err(close(close::TOO_BIG, "frame too large"));
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
                Err(_) => Err(close(close::UNAUTHENTICATED, "invalid or expired token")),
            },
            _ => Err(close(
                close::UNAUTHENTICATED,
                "the first frame must be auth",
            )),
        }
    }
}

/// The steady state of an attached socket.
struct Relay<'s, 'w> {
    socket: &'s Socket,
    settings: &'s LiveSettings,
    identity: Identity,
    out: &'s Out<'w>,
    /// The `seq` of the last event sent.
    last_seq: u64,
    replies: Replies,
    bucket: TokenBucket,
    malformed_in_a_row: u32,
    last_heard: Instant,
}

impl<'s, 'w> Relay<'s, 'w> {
    fn new(socket: &'s Socket, identity: Identity, out: &'s Out<'w>) -> Self {
        let settings: &LiveSettings = &socket.ctx.settings;
        Self {
            socket,
            settings,
            identity,
            out,
            last_seq: 0,
            replies: Replies::default(),
            bucket: TokenBucket::new(settings.rate_per_sec, settings.burst, Instant::now()),
            malformed_in_a_row: 0,
            last_heard: Instant::now(),
        }
    }

    async fn run<S>(mut self, stream: &mut S, attachment: Attachment, resuming: bool) -> End
    where
        S: Stream<Item = Result<Frame, ReadError>> + Unpin,
    {
        let Attachment {
            start,
            seq,
            mut pushes,
            watcher: _watcher,
        } = attachment;
        if let Err(end) = self.begin(start, seq, resuming) {
            return end;
        }
        let mut ping = tokio::time::interval_at(
            Instant::now() + self.settings.ping_interval,
            self.settings.ping_interval,
        );
        let mut expiry = Box::pin(expiry_sleep(self.identity.expires_at));
        let shutdown = self.socket.ctx.shutdown.clone();
        loop {
            let step = tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    Box::pin(self.replies.finish(self.out, self.settings.shutdown_grace)).await;
                    return close(close::SHUTTING_DOWN, "server shutting down; reconnect");
                }
                push = pushes.recv() => match push {
                    Ok(push) => self.on_push(&push),
                    Err(RecvError::Lagged(_)) => Box::pin(self.catch_up()).await,
                    Err(RecvError::Closed) => {
                        Err(close(close::RELOAD, "session reloaded; reconnect with sinceSeq"))
                    }
                },
                Some(reply) = self.replies.next(), if !self.replies.is_empty() => self.out.own(reply),
                frame = stream.next() => {
                    let expires_at = self.identity.expires_at;
                    let step = self.on_frame(frame).await;
                    if self.identity.expires_at != expires_at {
                        expiry = Box::pin(expiry_sleep(self.identity.expires_at));
                    }
                    step
                }
                _ = ping.tick() => self.on_ping_tick(),
                () = &mut expiry => Err(close(close::UNAUTHENTICATED, "token expired")),
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// The snapshot, or the replay of the missed events followed by `resumed`.
    fn begin(&mut self, start: AttachStart, seq: u64, resuming: bool) -> Result<(), End> {
        self.last_seq = seq;
        match start {
            AttachStart::Snapshot(session) => {
                if resuming {
                    metrics().resumes_snapshot.increment(1);
                }
                self.out.own(push::snapshot(seq, &session))
            }
            AttachStart::Replay(events) => {
                metrics().resumes_replayed.increment(1);
                metrics().events_delivered.increment(events.len() as u64);
                for event in &events {
                    self.out.own(push::event(event))?;
                }
                self.out.own(push::resumed(seq))
            }
        }
    }

    fn on_push(&mut self, push: &Push) -> Result<(), End> {
        if let Some(seq) = push.seq() {
            if seq <= self.last_seq {
                return Ok(());
            }
            if seq != self.last_seq + 1 {
                tracing::error!(last_seq = self.last_seq, seq, "gap in pushes");
                return Err(close(
                    close::RELOAD,
                    "missed events; reconnect with sinceSeq",
                ));
            }
            self.last_seq = seq;
            let metrics = metrics();
            metrics.events_delivered.increment(1);
            metrics.broadcast_duration.record(push.at.elapsed());
        }
        self.out.shared(push.encoded(push::push))?;
        if matches!(push.kind, PushKind::Deleted { .. }) {
            return Err(close(close::NOT_FOUND, "session deleted"));
        }
        Ok(())
    }

    /// The room's ring moved past this socket (its task was busy or not scheduled while a
    /// burst went out): the events it missed come from the store's event log instead, and the
    /// pushes it already holds are skipped up to there.
    async fn catch_up(&mut self) -> Result<(), End> {
        metrics().catch_ups.increment(1);
        let id = &self.socket.id;
        match self
            .socket
            .ctx
            .sessions
            .events_since(id, self.last_seq)
            .await
        {
            Ok(Some(events)) => {
                metrics().events_delivered.increment(events.len() as u64);
                for event in &events {
                    self.out.own(push::event(event))?;
                    self.last_seq = event.seq();
                }
                Ok(())
            }
            Ok(None) => Err(close(
                close::RELOAD,
                "missed events; reconnect with sinceSeq",
            )),
            Err(err) => {
                tracing::warn!(error = %err, "cannot catch a socket up");
                Err(close(close::RELOAD, "session unavailable; reconnect"))
            }
        }
    }

    async fn on_frame(&mut self, frame: Option<Result<Frame, ReadError>>) -> Result<(), End> {
        self.last_heard = Instant::now();
        let text = match frame {
            Some(Ok(Frame::Text(text))) => text,
            Some(Ok(Frame::Binary)) => {
                let refusal = ReplyError::new(
                    ErrorCode::InvalidFrame,
                    "binary frames are not commands; send JSON text",
                );
                return self.refuse(reply::error(None, &refusal));
            }
            Some(Ok(Frame::Ping | Frame::Pong)) => return Ok(()),
            Some(Ok(Frame::Close(_))) | None => return Err(End::Gone),
            Some(Err(ReadError::TooBig)) => return Err(close(close::TOO_BIG, "frame too large")),
            Some(Err(ReadError::Broken)) => return Err(End::Gone),
        };
        let command = match Command::parse(&text, self.socket.ctx.sessions.limits()) {
            Ok(command) => command,
            Err(refusal) if refusal.is_malformed() => return self.refuse(refusal.reply()),
            Err(refusal) => {
                self.malformed_in_a_row = 0;
                return self.out.own(refusal.reply());
            }
        };
        self.malformed_in_a_row = 0;
        telemetry::socket_command(command.kind.label());
        if !self.bucket.try_take(Instant::now()) {
            let limited = ReplyError::new(ErrorCode::RateLimited, "too many commands; slow down");
            return self.out.own(reply::error(Some(command.id), &limited));
        }
        match Box::pin(self.run_command(command)).await {
            Ok(pending) => {
                self.replies.push(pending);
                Ok(())
            }
            Err(refusal) => self.out.own(refusal),
        }
    }

    /// Runs one command: a write is queued with the session's actor now (so a socket's writes
    /// apply in the order sent) and answered when committed; the rest answer at once. `Err` is
    /// a refusal to send now.
    async fn run_command(&mut self, command: Command) -> Result<PendingReply, String> {
        let id = command.id;
        match command.kind {
            CommandKind::Ping => Ok(PendingReply::ready(reply::pong(id))),
            CommandKind::Auth { token } => match self.socket.ctx.auth.verify(&token).await {
                Ok(fresh) if fresh.uid == self.identity.uid => {
                    self.identity = fresh;
                    let identity = &self.identity;
                    Ok(PendingReply::ready(reply::authenticated(
                        id,
                        &identity.uid,
                        identity.expires_at,
                    )))
                }
                Ok(_) => Err(reply::error(
                    Some(id),
                    &ReplyError::new(ErrorCode::Unauthenticated, "the token is for another user"),
                )),
                Err(AuthError::Unavailable(cause)) => {
                    tracing::warn!(%cause, "cannot verify a socket's token");
                    let unavailable = ReplyError::new(
                        ErrorCode::Unavailable,
                        "tokens cannot be verified right now; retry",
                    );
                    Err(reply::error(Some(id), &unavailable))
                }
                Err(err) => Err(reply::error(
                    Some(id),
                    &ReplyError::new(ErrorCode::Unauthenticated, err.to_string()),
                )),
            },
            CommandKind::Write(op) => {
                let ctx = &self.socket.ctx;
                let pending = ctx
                    .sessions
                    .submit(&self.identity.uid, &self.socket.id, op)
                    .await
                    .map_err(|err| reply::error(Some(id), &ReplyError::from(&err)))?;
                Ok(PendingReply::write(id, pending))
            }
        }
    }

    /// Answers a frame that is not a command; too many in a row end the socket.
    fn refuse(&mut self, reply: String) -> Result<(), End> {
        self.malformed_in_a_row += 1;
        self.out.own(reply)?;
        if self.malformed_in_a_row >= MAX_MALFORMED_IN_A_ROW {
            return Err(close(close::PROTOCOL_ERROR, "too many malformed frames"));
        }
        Ok(())
    }

    fn on_ping_tick(&mut self) -> Result<(), End> {
        if self.last_heard.elapsed() > self.settings.idle_timeout {
            return Err(close(close::SILENT, "no traffic from the peer"));
        }
        self.out.queue(Outbound::Ping)
    }
}

/// Resolves when a token with this `exp` (seconds since the epoch) expires.
fn expiry_sleep(expires_at: u64) -> tokio::time::Sleep {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let left = Duration::from_secs(expires_at).saturating_sub(now);
    tokio::time::sleep(left)
}
