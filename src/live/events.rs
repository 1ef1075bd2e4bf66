//! The Server-Sent Events transport: a subscription carried by a `text/event-stream` answer,
//! for clients whose network refuses WebSocket upgrades. The same pushes as a socket's, each as
//! an event (`event:` its type, `id:` the `seq` of a session's events, `data:` the frame), a
//! comment as the heartbeat, and `event: close` with the code a socket would be closed with.
//! Nothing comes back on the stream: commands go over REST.

use std::convert::Infallible;

use axum::body::Bytes;
use futures::{SinkExt as _, Stream};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;
use tracing::Instrument as _;

use super::SocketContext;
use super::frame::Frame;
use super::link::{Link, Target};
use super::out::{End, Out};
use super::subscription::{self, Inbound, Subscription};
use super::writer::{self, Finish};
use crate::auth::Identity;
use crate::domain::list::ListQuery;
use crate::telemetry::metrics::{self as telemetry, metrics};

/// Events made but not yet taken by the connection; beyond, the writer's own queue fills and
/// the stream ends as a slow consumer would.
const STREAM_BUFFER: usize = 16;

/// A subscription to be carried as a stream of events.
pub struct EventStream {
    link: Link,
    identity: Identity,
    /// From `Last-Event-ID` or `sinceSeq` (session streams only).
    since: Option<u64>,
}

impl EventStream {
    /// The events of session `id` for an authenticated user, from `since` if given.
    pub fn session(ctx: SocketContext, id: String, identity: Identity, since: Option<u64>) -> Self {
        Self {
            link: Link::new(ctx, Target::Session(id)),
            identity,
            since,
        }
    }

    /// The user's list, as `query` asks for it.
    pub fn list(ctx: SocketContext, query: ListQuery, identity: Identity) -> Self {
        Self {
            link: Link::new(ctx, Target::List(query)),
            identity,
            since: None,
        }
    }

    /// Names the request that opened the stream on its log lines.
    pub fn opened_by(mut self, request_id: Option<&str>) -> Self {
        self.link.opened_by(request_id);
        self
    }

    /// The body of the answer, and the task that fills it (to be spawned and tracked).
    pub fn start(
        self,
    ) -> (
        impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
        impl Future<Output = ()> + Send + 'static,
    ) {
        let (events, body) = mpsc::channel::<Bytes>(STREAM_BUFFER);
        let sink = PollSender::new(events).with(|frame: Frame| {
            std::future::ready(Ok::<_, tokio_util::sync::PollSendError<Bytes>>(event(
                frame,
            )))
        });
        let body = tokio_stream_of(body);
        (body, self.run(Box::pin(sink)))
    }

    async fn run<K>(self, sink: K)
    where
        K: futures::Sink<Frame, Error: Send> + Unpin + Send + 'static,
    {
        let open = &metrics().sockets_open;
        open.increment(1.0);
        let settings = self.link.settings();
        let (handle, queue) = writer::channel(settings.queue);
        let mut writer = tokio::spawn(writer::write(sink, queue));
        let end = self.serve(&Out(&handle)).await;
        let (code, how) = match end {
            End::Close(close) => (
                Some(close.code()),
                // The last event goes after what is queued: nothing is dropped before it.
                Finish::Close(Frame::close(close)),
            ),
            End::Gone => (None, Finish::Gone),
        };
        telemetry::socket_closed(code);
        let finishing = handle.finish(how);
        if tokio::time::timeout(settings.idle_timeout, &mut writer)
            .await
            .is_err()
        {
            writer.abort();
        }
        drop(finishing);
        open.decrement(1.0);
    }

    async fn serve(&self, out: &Out<'_>) -> End {
        let span = self.link.span();
        let attached = subscription::attach(&self.link, &self.identity, self.since)
            .instrument(span)
            .await;
        match attached {
            // The permit counts the stream against its user's quota until it ends.
            Ok((attachment, _permit)) => {
                let mut nothing = futures::stream::pending::<Inbound>();
                Subscription::new(&self.link, self.identity.clone(), out)
                    .without_peer_frames()
                    .run(&mut nothing, attachment, self.since.is_some())
                    .await
            }
            Err(end) => end,
        }
    }
}

/// A bounded receiver as the answer's body.
fn tokio_stream_of(
    mut body: mpsc::Receiver<Bytes>,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    futures::stream::poll_fn(move |cx| body.poll_recv(cx).map(|next| next.map(Ok)))
}

/// The pushes whose `seq` is a place to resume from (`id:`); a signal's or a list's is not.
const RESUMABLE: [&str; 5] = [
    "snapshot",
    "resumed",
    "message.added",
    "image.added",
    "session.updated",
];

/// A frame as an event of the stream.
fn event(frame: Frame) -> Bytes {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(rename = "type", borrow)]
        kind: &'a str,
        seq: Option<u64>,
    }
    match frame {
        Frame::Text(text) => {
            let text = text.as_str();
            let Ok(head) = serde_json::from_str::<Head<'_>>(text) else {
                return Bytes::new();
            };
            let mut out = format!("event: {}\n", head.kind);
            if let Some(seq) = head.seq.filter(|_| RESUMABLE.contains(&head.kind)) {
                out.push_str(&format!("id: {seq}\n"));
            }
            out.push_str("data: ");
            out.push_str(text);
            out.push_str("\n\n");
            Bytes::from(out)
        }
        Frame::Ping => Bytes::from_static(b": ping\n\n"),
        Frame::Close(Some((code, reason))) => {
            let data = serde_json::json!({ "code": code, "reason": reason.as_str() });
            Bytes::from(format!("event: close\ndata: {data}\n\n"))
        }
        Frame::Close(None) | Frame::Binary | Frame::Pong => Bytes::new(),
    }
}
