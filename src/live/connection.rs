//! One socket's life: authenticate, attach to the session, then relay pushes out and commands
//! in until the socket closes.
//!
//! Two tasks per socket. This one reads frames, runs commands and forwards the session's pushes
//! into a bounded outbound queue; the writer task drains that queue into the socket. A socket
//! that reads too slowly fills its queue and is closed with 4008 rather than slowing anyone
//! else; it resumes with `sinceSeq`. A socket whose task fell behind the session's shared ring
//! catches up from the store's event log.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::stream::{FuturesOrdered, SplitSink, SplitStream};
use futures::{Future, SinkExt as _, StreamExt as _};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use super::LiveSettings;
use super::protocol::{self, Command, CommandKind, close};
use super::rate::TokenBucket;
use crate::app::AppState;
use crate::auth::{AuthError, Identity};
use crate::session::{AttachStart, Attachment, PushKind, SessionError};
use crate::telemetry::metrics::{self as telemetry, metrics};

/// What the upgrade request said: its credential (header or cookie, if any, verified) and its
/// `sinceSeq` (if any, parsed).
pub(super) struct Start {
    pub credential: Option<Result<Identity, AuthError>>,
    pub since: Option<Result<u64, String>>,
}

pub(super) struct Connection {
    state: AppState,
    id: String,
    start: Start,
}

/// The writer task and what the reading side keeps to steer it.
struct Writer {
    outbound: mpsc::Sender<Outbound>,
    task: tokio::task::JoinHandle<()>,
    /// Cancelled when the close frame must go out before what is queued.
    urgent: CancellationToken,
    urgent_close: Arc<Mutex<Option<CloseFrame>>>,
}

/// How the socket ends.
enum End {
    /// Send this close frame (after what is queued, or at once when `urgent`).
    Close {
        code: u16,
        reason: &'static str,
        urgent: bool,
    },
    /// The peer went away; nothing more to send.
    Gone,
}

fn close(code: u16, reason: &'static str) -> End {
    End::Close {
        code,
        reason,
        urgent: false,
    }
}

/// What the writer task sends. Kept small: the queue allocates room for 32 of them up front.
enum Outbound {
    /// A push's frame, shared with every other watcher of the session.
    Shared(Arc<str>),
    /// A frame for this socket alone (a reply, a snapshot).
    Own(Box<str>),
    Ping,
    Close(Box<CloseFrame>),
}

impl Outbound {
    fn into_message(self) -> Message {
        match self {
            Outbound::Shared(frame) => Message::Text(shared_text(frame)),
            Outbound::Own(text) => Message::Text(String::from(text).into()),
            Outbound::Ping => Message::Ping(Default::default()),
            Outbound::Close(frame) => Message::Close(Some(*frame)),
        }
    }
}

/// A shared frame as message text, without copying it (axum checks it is UTF-8 again, a scan
/// that costs less than the copy).
fn shared_text(frame: Arc<str>) -> Utf8Bytes {
    struct Owner(Arc<str>);
    impl AsRef<[u8]> for Owner {
        fn as_ref(&self) -> &[u8] {
            self.0.as_bytes()
        }
    }
    Utf8Bytes::try_from(Bytes::from_owner(Owner(frame))).expect("a str is UTF-8")
}

/// How long a closing socket waits for the peer's close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// Consecutive frames that are not commands before the socket is closed with 4009.
const MAX_MALFORMED_IN_A_ROW: u32 = 5;

type PendingReply = Pin<Box<dyn Future<Output = String> + Send>>;

impl Connection {
    pub(super) fn new(state: AppState, id: String, start: Start) -> Self {
        Self { state, id, start }
    }

    pub(super) async fn run(self, socket: WebSocket) {
        let open = &metrics().sockets_open;
        open.increment(1.0);
        self.run_open(socket).await;
        open.decrement(1.0);
    }

    async fn run_open(self, socket: WebSocket) {
        let (sink, mut stream) = socket.split();
        let (outbound, queue) = mpsc::channel(self.state.live.queue);
        let urgent = CancellationToken::new();
        let urgent_close = Arc::new(Mutex::new(None));
        let writer = Writer {
            task: tokio::spawn(write(
                sink,
                queue,
                urgent.clone(),
                Arc::clone(&urgent_close),
            )),
            outbound,
            urgent,
            urgent_close,
        };
        let end = self.serve(&mut stream, &writer.outbound).await;
        Box::pin(self.finish(end, stream, writer)).await;
    }

    /// Sends the close frame (if any), lets the writer drain, and completes the closing
    /// handshake.
    async fn finish(&self, end: End, mut stream: SplitStream<WebSocket>, writer: Writer) {
        let Writer {
            outbound,
            task: mut writer,
            urgent,
            urgent_close,
        } = writer;
        let closing = matches!(end, End::Close { .. });
        telemetry::socket_closed(match &end {
            End::Close { code, .. } => Some(*code),
            End::Gone => None,
        });
        if let End::Close {
            code,
            reason,
            urgent: now,
        } = end
        {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            // A close that does not fit behind the queued frames goes out at once instead.
            let queued = !now
                && outbound
                    .try_send(Outbound::Close(Box::new(frame.clone())))
                    .is_ok();
            if !queued {
                *urgent_close.lock().unwrap_or_else(|e| e.into_inner()) = Some(frame);
                urgent.cancel();
            }
        }
        drop(outbound);
        // Complete the closing handshake: read (and discard) until the peer's own close. Input
        // left unread when the socket is dropped would make the kernel reset the connection,
        // and a reset can destroy the close frame before the peer reads it.
        let handshake = async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        };
        // A peer that does not read gets as long as a silent one to take its close frame; then
        // the connection is dropped without it.
        let (written, _) = tokio::join!(
            tokio::time::timeout(self.state.live.idle_timeout, &mut writer),
            async {
                if closing {
                    let _ = tokio::time::timeout(CLOSE_HANDSHAKE, handshake).await;
                }
            }
        );
        if written.is_err() {
            writer.abort();
            tracing::debug!(session = %self.id, "the peer did not take its close frame; dropped");
        }
    }

    async fn serve(
        &self,
        stream: &mut SplitStream<WebSocket>,
        out: &mpsc::Sender<Outbound>,
    ) -> End {
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
        let mut identity = match &self.start.credential {
            Some(Ok(identity)) => identity.clone(),
            Some(Err(AuthError::Unavailable(cause))) => {
                tracing::warn!(session = %self.id, %cause, "cannot verify a socket's token");
                return close(close::RELOAD, "authentication unavailable; reconnect");
            }
            Some(Err(_)) => return close(close::UNAUTHENTICATED, "invalid or expired token"),
            None => match Box::pin(self.first_frame_auth(stream, out)).await {
                Ok(identity) => identity,
                Err(end) => return end,
            },
        };
        // Boxed, as are the other awaits off the steady state below: a socket's task is as
        // large as its largest await point, and idle sockets are many.
        tracing::Span::current().record("uid", identity.uid.as_str());
        let attachment =
            match Box::pin(self.state.sessions.watch(&identity.uid, &self.id, since)).await {
                Ok(attachment) => attachment,
                Err(SessionError::NotFound) => return close(close::NOT_FOUND, "session not found"),
                Err(err) => {
                    tracing::warn!(session = %self.id, error = %err, "cannot attach a socket");
                    return close(close::RELOAD, "session unavailable; reconnect");
                }
            };
        self.relay(stream, out, &mut identity, attachment).await
    }

    /// Waits for the `auth` frame a browser sends first.
    async fn first_frame_auth(
        &self,
        stream: &mut SplitStream<WebSocket>,
        out: &mpsc::Sender<Outbound>,
    ) -> Result<Identity, End> {
        let deadline = tokio::time::sleep(self.state.live.auth_timeout);
        tokio::pin!(deadline);
        loop {
            let frame = tokio::select! {
                () = &mut deadline => {
                    return Err(close(close::UNAUTHENTICATED, "no auth frame in time"));
                }
                frame = stream.next() => frame,
            };
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Err(err)) if is_too_big(&err) => {
                    return Err(close(close::TOO_BIG, "frame too large"));
                }
                _ => return Err(End::Gone),
            };
            let limits = self.state.sessions.limits();
            return match Command::parse(&text, limits) {
                Ok(Command {
                    id,
                    kind: CommandKind::Auth { token },
                }) => match self.state.auth.verify(&token).await {
                    Ok(identity) => {
                        enqueue(out, auth_reply(id, &identity))?;
                        Ok(identity)
                    }
                    Err(AuthError::Unavailable(cause)) => {
                        tracing::warn!(session = %self.id, %cause, "cannot verify a socket's token");
                        Err(close(
                            close::RELOAD,
                            "authentication unavailable; reconnect",
                        ))
                    }
                    Err(_) => Err(close(close::UNAUTHENTICATED, "invalid or expired token")),
                },
                _ => Err(close(
                    close::UNAUTHENTICATED,
                    "the first frame must be auth",
                )),
            };
        }
    }

    async fn relay(
        &self,
        stream: &mut SplitStream<WebSocket>,
        out: &mpsc::Sender<Outbound>,
        identity: &mut Identity,
        attachment: Attachment,
    ) -> End {
        let settings: &LiveSettings = &self.state.live;
        let Attachment {
            start,
            seq,
            mut pushes,
            watcher: _watcher,
        } = attachment;
        let resuming = self.start.since.is_some();
        let started = match start {
            AttachStart::Snapshot(session) => {
                if resuming {
                    metrics().resumes_snapshot.increment(1);
                }
                enqueue(out, protocol::snapshot_frame(seq, &session))
            }
            AttachStart::Replay(frames) => {
                metrics().resumes_replayed.increment(1);
                metrics().events_delivered.increment(frames.len() as u64);
                frames
                    .into_iter()
                    .try_for_each(|frame| enqueue_shared(out, frame))
                    .and_then(|()| enqueue(out, protocol::resumed_frame(seq)))
            }
        };
        if let Err(end) = started {
            return end;
        }

        let mut last_seq = seq;
        let mut replies: FuturesOrdered<PendingReply> = FuturesOrdered::new();
        let mut bucket = TokenBucket::new(settings.rate_per_sec, settings.burst, Instant::now());
        let mut malformed_in_a_row = 0;
        let mut last_heard = Instant::now();
        let mut ping = tokio::time::interval_at(
            Instant::now() + settings.ping_interval,
            settings.ping_interval,
        );
        let mut expiry = Box::pin(expiry_sleep(identity.expires_at));
        let shutdown = self.state.shutdown.clone();

        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    Box::pin(self.finish_replies(out, &mut replies)).await;
                    return close(close::SHUTTING_DOWN, "server shutting down; reconnect");
                }
                push = pushes.recv() => match push {
                    Ok(push) => {
                        if let PushKind::Event { seq } = push.kind {
                            if seq <= last_seq {
                                continue;
                            }
                            if seq != last_seq + 1 {
                                tracing::error!(session = %self.id, last_seq, seq, "gap in pushes");
                                return close(close::RELOAD, "missed events; reconnect with sinceSeq");
                            }
                            last_seq = seq;
                            let metrics = metrics();
                            metrics.events_delivered.increment(1);
                            metrics.broadcast_duration.record(push.at.elapsed());
                        }
                        if let Err(end) = enqueue_shared(out, push.frame) {
                            return end;
                        }
                        if push.kind == PushKind::Deleted {
                            return close(close::NOT_FOUND, "session deleted");
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        if let Err(end) = Box::pin(self.catch_up(out, &mut last_seq)).await {
                            return end;
                        }
                    }
                    Err(RecvError::Closed) => return close(close::RELOAD, "session reloaded; reconnect with sinceSeq"),
                },
                Some(reply) = replies.next(), if !replies.is_empty() => {
                    if let Err(end) = enqueue(out, reply) {
                        return end;
                    }
                }
                frame = stream.next() => {
                    last_heard = Instant::now();
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Binary(_))) => {
                            let refusal = "binary frames are not commands; send JSON text";
                            if let Err(end) = self.refuse(out, &mut malformed_in_a_row, protocol::error_frame(None, "invalid_frame", refusal, false, None)) {
                                return end;
                            }
                            continue;
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Close(_))) | None => return End::Gone,
                        Some(Err(err)) if is_too_big(&err) => return close(close::TOO_BIG, "frame too large"),
                        Some(Err(_)) => return End::Gone,
                    };
                    let command = match Command::parse(&text, self.state.sessions.limits()) {
                        Ok(command) => command,
                        Err(refusal) => {
                            let reply = refusal.reply();
                            let result = if refusal.is_malformed() {
                                self.refuse(out, &mut malformed_in_a_row, reply)
                            } else {
                                malformed_in_a_row = 0;
                                enqueue(out, reply)
                            };
                            if let Err(end) = result {
                                return end;
                            }
                            continue;
                        }
                    };
                    malformed_in_a_row = 0;
                    telemetry::socket_command(command.kind.label());
                    if !bucket.try_take(Instant::now()) {
                        let reply = protocol::error_frame(Some(command.id), "rate_limited", "too many commands; slow down", true, None);
                        if let Err(end) = enqueue(out, reply) {
                            return end;
                        }
                        continue;
                    }
                    let expires_at = identity.expires_at;
                    match Box::pin(self.run_command(command, identity)).await {
                        Ok(pending) => replies.push_back(pending),
                        Err(reply) => {
                            if let Err(end) = enqueue(out, reply) {
                                return end;
                            }
                        }
                    }
                    if identity.expires_at != expires_at {
                        expiry = Box::pin(expiry_sleep(identity.expires_at));
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > settings.idle_timeout {
                        return close(close::SILENT, "no traffic from the peer");
                    }
                    if out.try_send(Outbound::Ping).is_err() {
                        return slow_consumer();
                    }
                }
                () = &mut expiry => return close(close::UNAUTHENTICATED, "token expired"),
            }
        }
    }

    /// The room's ring moved past this socket (its task was busy or not scheduled while a
    /// burst went out): the events it missed come from the store's event log instead, and the
    /// pushes it already holds are skipped up to there.
    async fn catch_up(&self, out: &mpsc::Sender<Outbound>, last_seq: &mut u64) -> Result<(), End> {
        metrics().catch_ups.increment(1);
        match self.state.sessions.events_since(&self.id, *last_seq).await {
            Ok(Some(frames)) => {
                metrics().events_delivered.increment(frames.len() as u64);
                for frame in frames {
                    enqueue_shared(out, frame)?;
                    *last_seq += 1;
                }
                Ok(())
            }
            Ok(None) => Err(close(
                close::RELOAD,
                "missed events; reconnect with sinceSeq",
            )),
            Err(err) => {
                tracing::warn!(session = %self.id, error = %err, "cannot catch a socket up");
                Err(close(close::RELOAD, "session unavailable; reconnect"))
            }
        }
    }

    /// Runs one command: a write is queued with the session's actor now (so a socket's writes
    /// apply in the order sent) and answered when committed; the rest answer at once. `Err` is
    /// a refusal to send now.
    async fn run_command(
        &self,
        command: Command,
        identity: &mut Identity,
    ) -> Result<PendingReply, String> {
        let id = command.id;
        match command.kind {
            CommandKind::Ping => Ok(Box::pin(std::future::ready(protocol::ok_frame(
                id,
                serde_json::json!({}),
            )))),
            CommandKind::Auth { token } => match self.state.auth.verify(&token).await {
                Ok(fresh) if fresh.uid == identity.uid => {
                    *identity = fresh;
                    Ok(Box::pin(std::future::ready(auth_reply(id, identity))))
                }
                Ok(_) => Err(protocol::error_frame(
                    Some(id),
                    "unauthenticated",
                    "the token is for another user",
                    false,
                    None,
                )),
                Err(AuthError::Unavailable(cause)) => {
                    tracing::warn!(session = %self.id, %cause, "cannot verify a socket's token");
                    Err(protocol::error_frame(
                        Some(id),
                        "unavailable",
                        "tokens cannot be verified right now; retry",
                        true,
                        None,
                    ))
                }
                Err(err) => Err(protocol::error_frame(
                    Some(id),
                    "unauthenticated",
                    &err.to_string(),
                    false,
                    None,
                )),
            },
            CommandKind::Write(op) => {
                let pending = self
                    .state
                    .sessions
                    .submit(&identity.uid, &self.id, op)
                    .await
                    .map_err(|err| protocol::session_error_frame(id, &err))?;
                Ok(Box::pin(async move {
                    match pending.wait().await {
                        Ok(outcome) => protocol::outcome_frame(id, &outcome),
                        Err(err) => protocol::session_error_frame(id, &err),
                    }
                }))
            }
        }
    }

    /// Answers a frame that is not a command; too many in a row end the socket.
    fn refuse(
        &self,
        out: &mpsc::Sender<Outbound>,
        in_a_row: &mut u32,
        reply: String,
    ) -> Result<(), End> {
        *in_a_row += 1;
        enqueue(out, reply)?;
        if *in_a_row >= MAX_MALFORMED_IN_A_ROW {
            return Err(close(close::PROTOCOL_ERROR, "too many malformed frames"));
        }
        Ok(())
    }

    /// On shutdown: commands already taken are committed by their actors; wait for their
    /// answers (up to the grace period) so that every acknowledged write is one the client saw.
    async fn finish_replies(
        &self,
        out: &mpsc::Sender<Outbound>,
        replies: &mut FuturesOrdered<PendingReply>,
    ) {
        let grace = tokio::time::sleep(self.state.live.shutdown_grace);
        tokio::pin!(grace);
        while !replies.is_empty() {
            tokio::select! {
                () = &mut grace => return,
                Some(reply) = replies.next() => {
                    if out.send(Outbound::Own(reply.into_boxed_str())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn auth_reply(id: i64, identity: &Identity) -> String {
    let expires_at = crate::session::time::Timestamp::from_millis(
        identity.expires_at.saturating_mul(1000) as i64,
    );
    protocol::ok_frame(
        id,
        serde_json::json!({ "uid": identity.uid, "expiresAt": expires_at }),
    )
}

fn slow_consumer() -> End {
    End::Close {
        code: close::SLOW_CONSUMER,
        reason: "too far behind; reconnect with sinceSeq",
        urgent: true,
    }
}

/// Queues a frame for the writer; a full queue means the peer reads too slowly.
fn enqueue(out: &mpsc::Sender<Outbound>, frame: String) -> Result<(), End> {
    queue(out, Outbound::Own(frame.into_boxed_str()))
}

/// Queues a frame shared with the session's other watchers.
fn enqueue_shared(out: &mpsc::Sender<Outbound>, frame: Arc<str>) -> Result<(), End> {
    queue(out, Outbound::Shared(frame))
}

fn queue(out: &mpsc::Sender<Outbound>, outbound: Outbound) -> Result<(), End> {
    out.try_send(outbound).map_err(|err| match err {
        mpsc::error::TrySendError::Full(_) => slow_consumer(),
        mpsc::error::TrySendError::Closed(_) => End::Gone,
    })
}

/// Resolves when a token with this `exp` (seconds since the epoch) expires.
fn expiry_sleep(expires_at: u64) -> Sleep {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let left = Duration::from_secs(expires_at).saturating_sub(now);
    tokio::time::sleep(left)
}

fn is_too_big(err: &axum::Error) -> bool {
    use std::error::Error as _;
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(cause) = source {
        if let Some(ws) = cause.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
            return matches!(ws, tokio_tungstenite::tungstenite::Error::Capacity(_));
        }
        source = cause.source();
    }
    false
}

/// Drains the outbound queue into the socket, batching what is queued into one flush. When the
/// socket must close at once (`urgent`), queued frames are dropped and the close frame is sent.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Outbound>,
    urgent: CancellationToken,
    urgent_close: Arc<Mutex<Option<CloseFrame>>>,
) {
    const MAX_BATCH: usize = 64;
    'frames: loop {
        let first = tokio::select! {
            biased;
            () = urgent.cancelled() => break 'frames,
            next = queue.recv() => next,
        };
        let Some(first) = first else {
            let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        for outbound in batch {
            let closing = matches!(outbound, Outbound::Close(_));
            let message = outbound.into_message();
            let fed = tokio::select! {
                biased;
                () = urgent.cancelled() => break 'frames,
                fed = sink.feed(message) => fed,
            };
            if fed.is_err() {
                return;
            }
            if closing {
                let _ = tokio::time::timeout(Duration::from_secs(1), sink.flush()).await;
                return;
            }
        }
        let flushed = tokio::select! {
            biased;
            () = urgent.cancelled() => break 'frames,
            flushed = sink.flush() => flushed,
        };
        if flushed.is_err() {
            return;
        }
    }
    let frame = urgent_close
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    // Bounded by the caller, which aborts this task if the peer never reads.
    let _ = sink.send(Message::Close(frame)).await;
}
