//! The WebSocket transport: one socket's life. It authenticates (by the upgrade's credential or
//! the first frame's `auth`), attaches its subscription, hands it the frames read as commands,
//! and writes what it queues until it ends; then it closes the socket.
//!
//! [`Socket::run`] is the reader; the writer's bounded queue ([`super::writer`]) is the way out.
//! A socket that reads too slowly fills its queue and is closed with 4008 rather than slowing
//! anyone else (it resumes with `sinceSeq`). Both ends are generic over streams of [`Frame`]s,
//! so tests drive them without a network.

use std::time::Duration;

use futures::{Sink, Stream, StreamExt as _};
use tracing::Instrument as _;

use super::SocketContext;
use super::frame::{Frame, ReadError};
use super::link::{Link, Target};
use super::out::{End, Out};
use super::subscription::{self, Attached, Inbound, Subscription};
use super::writer::{self, Finish};
use crate::auth::{AuthError, Identity};
use crate::domain::list::ListQuery;
use crate::protocol::ErrorCode;
use crate::protocol::close::Close;
use crate::protocol::command::{Command, CommandKind};
use crate::protocol::reply::{self, ReplyError};
use crate::quota::SocketPermit;
use crate::session::validation::Limits;
use crate::telemetry::metrics::{self as telemetry, metrics};

/// What the upgrade request said: its credential (header or cookie, if any, verified) and its
/// `sinceSeq` (if any, parsed).
pub struct Start {
    pub credential: Option<Result<Identity, AuthError>>,
    pub since: Option<Result<u64, String>>,
}

/// How long a closing socket waits for the peer's close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// A WebSocket carrying one subscription.
pub struct Socket {
    link: Link,
    /// What the upgrade request said.
    start: Start,
}

impl Socket {
    /// A socket of session `id`.
    pub fn new(ctx: SocketContext, id: String, start: Start) -> Self {
        Self {
            link: Link::new(ctx, Target::Session(id)),
            start,
        }
    }

    /// A socket of the user's list, as `query` asks for it (its first page, and its filter).
    pub fn following_list(ctx: SocketContext, query: ListQuery, start: Start) -> Self {
        Self {
            link: Link::new(ctx, Target::List(query)),
            start,
        }
    }

    /// Names the upgrade request that opened the socket on its log lines.
    pub fn opened_by(mut self, request_id: Option<&str>) -> Self {
        self.link.opened_by(request_id);
        self
    }

    /// Serves the socket until it ends; returns the close code sent (`None`: the peer left).
    pub async fn run<S, K>(self, mut stream: S, sink: K) -> Option<u16>
    where
        S: Stream<Item = Result<Frame, ReadError>> + Unpin,
        K: Sink<Frame, Error: Send> + Unpin + Send + 'static,
    {
        let open = &metrics().sockets_open;
        open.increment(1.0);
        let (handle, queue) = writer::channel(self.link.ctx().settings.queue);
        let mut writer = tokio::spawn(writer::write(sink, queue));
        let end = self.serve(&mut stream, &Out(&handle)).await;
        let code = match end {
            End::Close(close) => Some(close.code()),
            End::Gone => None,
        };
        telemetry::socket_closed(code);
        self.link
            .span()
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
            tokio::time::timeout(self.link.ctx().settings.idle_timeout, &mut writer),
            async {
                if code.is_some() {
                    let _ = tokio::time::timeout(CLOSE_HANDSHAKE, handshake).await;
                }
            }
        );
        if written.is_err() {
            writer.abort();
            self.link.span().in_scope(|| {
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
        let span = self.link.span();
        let attached = Box::pin(self.attach(stream, out).instrument(span)).await;
        match attached {
            Ok((identity, (attachment, _permit), resuming)) => {
                // The permit counts the socket against its user's quota until it ends.
                let limits = self.link.ctx().sessions.limits();
                let mut inbound = stream.map(|frame| inbound(frame, limits));
                Subscription::new(&self.link, identity, out)
                    .run(&mut inbound, attachment, resuming)
                    .await
            }
            Err(end) => end,
        }
    }

    /// Authenticates the socket (by its upgrade, or its first frame) and attaches it: the
    /// identity, the attachment, and whether the client resumes.
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
        let attached = Box::pin(subscription::attach(&self.link, &identity, since)).await?;
        Ok((identity, attached, since.is_some()))
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
        let deadline = tokio::time::sleep(self.link.ctx().settings.auth_timeout);
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
        match Command::parse(&text, self.link.ctx().sessions.limits()) {
            Ok(Command {
                id,
                kind: CommandKind::Auth { token },
                ..
            }) => match self.link.ctx().auth.verify(&token).await {
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

/// What a frame read from the socket is to its subscription.
fn inbound(frame: Result<Frame, ReadError>, limits: &Limits) -> Inbound {
    let text = match frame {
        Ok(Frame::Text(text)) => text,
        Ok(Frame::Binary) => {
            let refusal = ReplyError::new(
                ErrorCode::InvalidFrame,
                "binary frames are not commands; send JSON text",
            );
            return Inbound::Refused {
                reply: reply::error(None, &refusal),
                malformed: true,
            };
        }
        Ok(Frame::Ping | Frame::Pong) => return Inbound::Heard,
        Ok(Frame::Close(_)) | Err(ReadError::Broken) => return Inbound::End(End::Gone),
        Err(ReadError::TooBig) => return Inbound::End(End::Close(Close::TooBig)),
    };
    match Command::parse(&text, limits) {
        Ok(command) => Inbound::Command(command),
        Err(refusal) => Inbound::Refused {
            reply: refusal.reply(),
            malformed: refusal.is_malformed(),
        },
    }
}
