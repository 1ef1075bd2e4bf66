//! A subscription, whatever carries it: attached to a session (or the user's list) for a user,
//! the pushes out in order (catching up from the store when they fell behind), commands in with
//! their replies, heartbeats and the token's expiry, until one of them ends it. A transport
//! hands it what the client sent as [`Inbound`] items and takes its frames from [`Out`].

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use tracing::Instrument as _;

use super::LiveSettings;
pub(super) use super::attach::{Attached, attach};
use super::commands::{PendingReply, Replies};
use super::link::{Link, Target};
use super::list::{ListView, Owed};
use super::out::{End, Out};
use super::rate::TokenBucket;
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

/// What the client sent, as its subscription sees it.
pub(super) enum Inbound {
    Command(Command),
    /// A frame that is no command it can run: the reply that says why, and whether it counts
    /// among the invalid frames that end the subscription.
    Refused {
        reply: String,
        malformed: bool,
    },
    /// The peer is there (a ping, a pong).
    Heard,
    /// The transport ends the subscription.
    End(End),
}

/// The steady state of an attached subscription.
pub(super) struct Subscription<'s, 'w> {
    link: &'s Link,
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
    /// Whether the transport carries the peer's own frames (a WebSocket's pongs): then a peer
    /// silent for the idle timeout is gone. A stream of events hears nothing back.
    peer_frames: bool,
}

impl<'s, 'w> Subscription<'s, 'w> {
    pub(super) fn new(link: &'s Link, identity: Identity, out: &'s Out<'w>) -> Self {
        let settings: &LiveSettings = link.settings();
        Self {
            link,
            settings,
            identity,
            out,
            last_seq: 0,
            list: None,
            replies: Replies::default(),
            bucket: TokenBucket::new(settings.rate_per_sec, settings.burst, Instant::now()),
            malformed_in_a_row: 0,
            last_heard: Instant::now(),
            peer_frames: true,
        }
    }

    /// For a transport on which the peer sends nothing: its silence means nothing.
    pub(super) fn without_peer_frames(mut self) -> Self {
        self.peer_frames = false;
        self
    }

    pub(super) async fn run<S>(mut self, stream: &mut S, attached: Attached, resuming: bool) -> End
    where
        S: Stream<Item = Inbound> + Unpin,
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
                let status = match self.link.target() {
                    Target::List(query) => query.status,
                    Target::Session(_) => None,
                };
                let mut view = ListView::new(status, follower.delay());
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
        let shutdown = self.link.ctx().shutdown.clone();
        loop {
            let step = tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    Box::pin(self.replies.finish(self.out, self.settings.shutdown_grace)).await;
                    return End::Close(Close::ShuttingDown);
                }
                push = pushes.recv() => match push {
                    Ok(push) => self.on_push(push),
                    Err(RecvError::Lagged(_)) => {
                        let span = self.link.span();
                        Box::pin(self.catch_up().instrument(span)).await
                    }
                    Err(RecvError::Closed) => {
                        Err(End::Close(Close::SessionReloaded))
                    }
                },
                Some(reply) = self.replies.next(), if !self.replies.is_empty() => self.out.own(reply),
                () = held_until(self.list.as_ref()) => self.release_held(),
                inbound = stream.next() => {
                    let expires_at = self.identity.expires_at;
                    // A command's work (and whatever it logs) in the socket's span.
                    let span = self.link.span();
                    let inbound = inbound.unwrap_or(Inbound::End(End::Gone));
                    let step = self.on_inbound(inbound).instrument(span).await;
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

    fn on_push(&mut self, push: Arc<Push>) -> Result<(), End> {
        if let Some(list) = &mut self.list {
            let owed = list.on_push(push);
            return self.out_all(owed);
        }
        if let PushKind::Signal(signal) = &push.kind
            && signal.from == *self.link.connection()
        {
            return Ok(()); // the sender's own
        }
        if let Some(seq) = push.seq() {
            if seq <= self.last_seq {
                return Ok(());
            }
            if seq != self.last_seq + 1 {
                self.link.span().in_scope(|| {
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
        let sessions = &self.link.ctx().sessions;
        match sessions.events_since(self.link.id(), self.last_seq).await {
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

    /// Sends the push a list socket held back, now due.
    fn release_held(&mut self) -> Result<(), End> {
        let owed = self
            .list
            .as_mut()
            .map(ListView::release)
            .unwrap_or_default();
        self.out_all(owed)
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
        let Target::List(query) = self.link.target() else {
            return Ok(());
        };
        let read_at = Instant::now();
        let sessions = &self.link.ctx().sessions;
        match sessions.list(&self.identity.uid, query).await {
            Ok(page) => {
                let summaries: Vec<std::sync::Arc<Summary>> = page
                    .sessions
                    .iter()
                    .map(|session| std::sync::Arc::new(session.summary()))
                    .collect();
                let mut owed = Vec::new();
                if let Some(list) = &mut self.list {
                    owed = list.release();
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

    async fn on_inbound(&mut self, inbound: Inbound) -> Result<(), End> {
        self.last_heard = Instant::now();
        let command = match inbound {
            Inbound::Command(command) => command,
            Inbound::Refused {
                reply,
                malformed: true,
            } => return self.refuse(reply),
            Inbound::Refused { reply, .. } => {
                self.malformed_in_a_row = 0;
                return self.out.own(reply);
            }
            Inbound::Heard => return Ok(()),
            Inbound::End(end) => return Err(end),
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
        // The work a command sends to the session (a write, a signal) joins the caller's trace.
        let span = crate::traced_span!("command", kind = command.kind.label(), id);
        if let Some(traceparent) = &command.traceparent {
            crate::telemetry::traces::continue_from(&span, traceparent);
        }
        crate::telemetry::traces::record_ids(&span);
        match command.kind {
            CommandKind::Ping => Ok(PendingReply::ready(reply::pong(id))),
            CommandKind::Auth { token } => match self.link.ctx().auth.verify(&token).await {
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
                let ctx = self.link.ctx();
                let (sessions, uid) = (ctx.sessions.clone(), self.identity.uid.clone());
                let (session, from) = (
                    self.link.id().to_owned(),
                    Arc::clone(self.link.connection()),
                );
                Ok(PendingReply::later(
                    async move {
                        match sessions.signal(&uid, &session, &from, data).await {
                            Ok(seq) => reply::ok(id, serde_json::json!({ "seq": seq })),
                            Err(err) => reply::error(Some(id), &ReplyError::from(&err)),
                        }
                    }
                    .instrument(span),
                ))
            }
            CommandKind::Write(op) => {
                let ctx = self.link.ctx();
                let pending = ctx
                    .sessions
                    .submit(&self.identity.uid, self.link.id(), op)
                    .instrument(span)
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
        if self.peer_frames && self.last_heard.elapsed() > self.settings.idle_timeout {
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

/// Resolves when the push a list socket holds back is due; never when none is held.
async fn held_until(list: Option<&ListView>) {
    match list.and_then(ListView::held_until) {
        Some(until) => tokio::time::sleep_until(until).await,
        None => std::future::pending().await,
    }
}
