//! An attached socket's steady state: the session's pushes out, commands in, pings, and the
//! token's expiry, until one of them ends the socket.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use tracing::Instrument as _;

use super::LiveSettings;
use super::commands::{PendingReply, Replies};
use super::frame::{Frame, ReadError};
use super::list::{ListView, Owed};
use super::rate::TokenBucket;
use super::socket::{Attached, End, Out, Socket, Target};
use super::writer::Outbound;
use crate::auth::{AuthError, Identity};
use crate::domain::model::{Session, Summary};
use crate::protocol::close::Close;
use crate::protocol::command::{Command, CommandKind};
use crate::protocol::reply::{self, ReplyError};
use crate::protocol::{ErrorCode, input, push};
use crate::session::{AttachStart, Attachment, ListAttachment, Push, PushKind};
use crate::telemetry::metrics::{self as telemetry, metrics};

/// Consecutive frames that are not commands before the socket is closed with 4009.
const MAX_MALFORMED_IN_A_ROW: u32 = 5;

/// The steady state of an attached socket.
pub(super) struct Relay<'s, 'w> {
    socket: &'s Socket,
    settings: &'s LiveSettings,
    identity: Identity,
    out: &'s Out<'w>,
    /// The `seq` of the last event sent.
    last_seq: u64,
    /// What a socket of the user's list has shown (`None`: a session's socket).
    list: Option<ListView>,
    replies: Replies,
    bucket: TokenBucket,
    malformed_in_a_row: u32,
    last_heard: Instant,
}

impl<'s, 'w> Relay<'s, 'w> {
    pub(super) fn new(socket: &'s Socket, identity: Identity, out: &'s Out<'w>) -> Self {
        let settings: &LiveSettings = socket.settings();
        Self {
            socket,
            settings,
            identity,
            out,
            last_seq: 0,
            list: None,
            replies: Replies::default(),
            bucket: TokenBucket::new(settings.rate_per_sec, settings.burst, Instant::now()),
            malformed_in_a_row: 0,
            last_heard: Instant::now(),
        }
    }

    pub(super) async fn run<S>(mut self, stream: &mut S, attached: Attached, resuming: bool) -> End
    where
        S: Stream<Item = Result<Frame, ReadError>> + Unpin,
    {
        // Held until the socket ends: it counts the socket as a watcher, or a follower.
        let (mut pushes, _membership) = match attached {
            Attached::Session(Attachment {
                start,
                seq,
                pushes,
                watcher,
            }) => {
                if let Err(end) = self.begin(start, seq, resuming) {
                    return end;
                }
                let membership: Box<dyn std::any::Any + Send> = Box::new(watcher);
                (pushes, membership)
            }
            Attached::List(ListAttachment {
                page,
                pushes,
                follower,
            }) => {
                let summaries: Vec<Summary> = page.sessions.iter().map(Session::summary).collect();
                let cursor = page
                    .next
                    .map(|next| input::cursor(&next, &self.identity.uid));
                let status = match self.socket.target() {
                    Target::List(query) => query.status,
                    Target::Session(_) => None,
                };
                let mut view = ListView::new(status);
                if let Err(end) = self.out.own(view.begin(&summaries, cursor.as_deref())) {
                    return end;
                }
                self.list = Some(view);
                let membership: Box<dyn std::any::Any + Send> = Box::new(follower);
                (pushes, membership)
            }
        };
        let mut ping = tokio::time::interval_at(
            Instant::now() + self.settings.ping_interval,
            self.settings.ping_interval,
        );
        let mut expiry = Box::pin(expiry_sleep(self.identity.expires_at));
        let shutdown = self.socket.ctx().shutdown.clone();
        loop {
            let step = tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    Box::pin(self.replies.finish(self.out, self.settings.shutdown_grace)).await;
                    return End::Close(Close::ShuttingDown);
                }
                push = pushes.recv() => match push {
                    Ok(push) => self.on_push(&push),
                    Err(RecvError::Lagged(_)) => {
                        let span = self.socket.span();
                        Box::pin(self.catch_up().instrument(span)).await
                    }
                    Err(RecvError::Closed) => {
                        Err(End::Close(Close::SessionReloaded))
                    }
                },
                Some(reply) = self.replies.next(), if !self.replies.is_empty() => self.out.own(reply),
                frame = stream.next() => {
                    let expires_at = self.identity.expires_at;
                    // A command's work (and whatever it logs) in the socket's span.
                    let span = self.socket.span();
                    let step = self.on_frame(frame).instrument(span).await;
                    if self.identity.expires_at != expires_at {
                        expiry = Box::pin(expiry_sleep(self.identity.expires_at));
                    }
                    step
                }
                _ = ping.tick() => self.on_ping_tick(),
                () = &mut expiry => Err(End::Close(Close::TokenExpired)),
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
        if let Some(list) = &mut self.list {
            let owed = list.on_push(push);
            return self.out_all(owed);
        }
        if let PushKind::Signal(signal) = &push.kind
            && signal.from == *self.socket.connection()
        {
            return Ok(()); // the sender's own
        }
        if let Some(seq) = push.seq() {
            if seq <= self.last_seq {
                return Ok(());
            }
            if seq != self.last_seq + 1 {
                self.socket.span().in_scope(|| {
                    tracing::error!(last_seq = self.last_seq, seq, "gap in pushes");
                });
                return Err(End::Close(Close::MissedEvents));
            }
            self.last_seq = seq;
            let metrics = metrics();
            metrics.events_delivered.increment(1);
            metrics.broadcast_duration.record(push.at.elapsed());
        }
        self.out.shared(push.encoded(push::push))?;
        if matches!(push.kind, PushKind::Deleted { .. }) {
            return Err(End::Close(Close::SessionDeleted));
        }
        Ok(())
    }

    /// The room's ring moved past this socket (its task was busy or not scheduled while a
    /// burst went out): the events it missed come from the store's event log instead, and the
    /// pushes it already holds are skipped up to there.
    async fn catch_up(&mut self) -> Result<(), End> {
        metrics().catch_ups.increment(1);
        if self.list.is_some() {
            return self.relist().await;
        }
        let sessions = &self.socket.ctx().sessions;
        match sessions.events_since(self.socket.id(), self.last_seq).await {
            Ok(Some(events)) => {
                metrics().events_delivered.increment(events.len() as u64);
                for event in &events {
                    self.out.own(push::event(event))?;
                    self.last_seq = event.seq();
                }
                Ok(())
            }
            Ok(None) => Err(End::Close(Close::MissedEvents)),
            Err(err) => {
                tracing::warn!(error = %err, "cannot catch a socket up");
                Err(End::Close(Close::SessionUnavailable))
            }
        }
    }

    /// Sends what a list socket owes.
    fn out_all(&self, owed: Vec<Owed>) -> Result<(), End> {
        for frame in owed {
            match frame {
                Owed::Own(frame) => self.out.own(frame)?,
                Owed::Shared(frame) => self.out.shared(frame)?,
            }
        }
        Ok(())
    }

    /// A list socket fell behind its feed: its page is read again and compared with what it
    /// showed.
    async fn relist(&mut self) -> Result<(), End> {
        let Target::List(query) = self.socket.target() else {
            return Ok(());
        };
        let read_at = Instant::now();
        let sessions = &self.socket.ctx().sessions;
        match sessions.list(&self.identity.uid, query).await {
            Ok(page) => {
                let summaries: Vec<std::sync::Arc<Summary>> = page
                    .sessions
                    .iter()
                    .map(|session| std::sync::Arc::new(session.summary()))
                    .collect();
                let mut owed = Vec::new();
                if let Some(list) = &mut self.list {
                    list.reconcile(&summaries, page.next.is_none(), read_at, &mut owed);
                }
                self.out_all(owed)
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read a user's list again");
                Err(End::Close(Close::ListUnavailable))
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
            Some(Err(ReadError::TooBig)) => return Err(End::Close(Close::TooBig)),
            Some(Err(ReadError::Broken)) => return Err(End::Gone),
        };
        let command = match Command::parse(&text, self.socket.ctx().sessions.limits()) {
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
            CommandKind::Auth { token } => match self.socket.ctx().auth.verify(&token).await {
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
            CommandKind::Write(_) | CommandKind::Signal(_) if self.list.is_some() => {
                Err(reply::error(
                    Some(id),
                    &ReplyError::new(
                        ErrorCode::UnknownCommand,
                        "a socket of the user's list takes auth and ping only",
                    ),
                ))
            }
            CommandKind::Signal(data) => {
                let ctx = self.socket.ctx();
                let (sessions, uid) = (ctx.sessions.clone(), self.identity.uid.clone());
                let (session, from) = (
                    self.socket.id().to_owned(),
                    Arc::clone(self.socket.connection()),
                );
                Ok(PendingReply::later(async move {
                    match sessions.signal(&uid, &session, &from, data).await {
                        Ok(seq) => reply::ok(id, serde_json::json!({ "seq": seq })),
                        Err(err) => reply::error(Some(id), &ReplyError::from(&err)),
                    }
                }))
            }
            CommandKind::Write(op) => {
                let ctx = self.socket.ctx();
                let pending = ctx
                    .sessions
                    .submit(&self.identity.uid, self.socket.id(), op)
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
            return Err(End::Close(Close::TooManyMalformed));
        }
        Ok(())
    }

    fn on_ping_tick(&mut self) -> Result<(), End> {
        if self.last_heard.elapsed() > self.settings.idle_timeout {
            return Err(End::Close(Close::Silent));
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
