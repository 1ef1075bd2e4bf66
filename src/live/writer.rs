//! A socket's writer: a task of its own that drains the socket's bounded outbound queue into the
//! connection, batching what is queued into one flush, so that one slow reader never holds up
//! the session. The reader steers it through a [`WriterHandle`]: frames and a close queued in
//! order, or one urgent close that jumps the queue.

use std::sync::Arc;
use std::time::Duration;

use futures::{Sink, SinkExt as _};
use tokio::sync::{mpsc, oneshot};

use super::frame::Frame;

/// What the writer sends. Kept small: the queue allocates room for 32 of them up front.
pub enum Outbound {
    /// A push's frame, shared with every other watcher of the session.
    Shared(Arc<str>),
    /// A frame for this socket alone (a reply, a snapshot).
    Own(Box<str>),
    Ping,
    /// The last frame, after everything queued before it.
    Close(Box<Frame>),
}

impl Outbound {
    fn into_frame(self) -> Frame {
        match self {
            Outbound::Shared(text) => Frame::shared(text),
            Outbound::Own(text) => Frame::text(String::from(text)),
            Outbound::Ping => Frame::Ping,
            Outbound::Close(frame) => *frame,
        }
    }
}

/// Why a frame could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub enum QueueError {
    /// The peer reads too slowly: its queue is full.
    Full,
    /// The writer is gone (the connection failed).
    Gone,
}

/// The reader's side of the writer.
pub struct WriterHandle {
    queue: mpsc::Sender<Outbound>,
    /// The one way to close at once, dropping what is queued.
    urgent: oneshot::Sender<Frame>,
}

/// The writer's side, for [`write`].
pub struct WriterQueue {
    queue: mpsc::Receiver<Outbound>,
    urgent: oneshot::Receiver<Frame>,
}

/// A writer's two ends, with room for `capacity` queued frames.
pub fn channel(capacity: usize) -> (WriterHandle, WriterQueue) {
    let (queue, queued) = mpsc::channel(capacity.max(1));
    let (urgent, urgently) = oneshot::channel();
    (
        WriterHandle { queue, urgent },
        WriterQueue {
            queue: queued,
            urgent: urgently,
        },
    )
}

/// How the reader lets its writer finish.
pub enum Finish {
    /// Send this close frame after what is queued (or at once if the queue is full).
    Close(Frame),
    /// Send this close frame at once, dropping what is queued.
    Urgent(Frame),
    /// The peer is gone: send nothing more.
    Gone,
}

impl WriterHandle {
    pub fn enqueue(&self, outbound: Outbound) -> Result<(), QueueError> {
        self.queue.try_send(outbound).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => QueueError::Full,
            mpsc::error::TrySendError::Closed(_) => QueueError::Gone,
        })
    }

    /// Waits for room in the queue (for the answers owed at shutdown).
    pub async fn enqueue_waiting(&self, outbound: Outbound) -> Result<(), QueueError> {
        self.queue
            .send(outbound)
            .await
            .map_err(|_| QueueError::Gone)
    }

    /// Tells the writer how to end. Keep what it returns until the writer is done: it holds the
    /// urgent path open, whose closing would tell the writer to stop at once.
    pub fn finish(self, how: Finish) -> Finishing {
        let WriterHandle { queue, urgent } = self;
        match how {
            Finish::Close(frame) => Finishing {
                _urgent: match queue.try_send(Outbound::Close(Box::new(frame))) {
                    Ok(()) => Some(urgent),
                    Err(refused) => {
                        // It does not fit behind what is queued: it goes at once instead.
                        if let mpsc::error::TrySendError::Full(Outbound::Close(frame))
                        | mpsc::error::TrySendError::Closed(Outbound::Close(frame)) = refused
                        {
                            let _ = urgent.send(*frame);
                        }
                        None
                    }
                },
            },
            Finish::Urgent(frame) => {
                let _ = urgent.send(frame);
                Finishing { _urgent: None }
            }
            Finish::Gone => Finishing {
                _urgent: Some(urgent),
            },
        }
    }
}

/// Returned by [`WriterHandle::finish`].
pub struct Finishing {
    _urgent: Option<oneshot::Sender<Frame>>,
}

/// Most frames written before one flush.
const MAX_BATCH: usize = 64;
/// How long a last flush or sink close may take before the writer gives up on the peer.
const LAST_FLUSH: Duration = Duration::from_secs(1);

/// Drains `queue` into `sink` until the queue ends, a close frame is written, or the urgent
/// close arrives (then the queued frames are dropped and the close frame goes out at once).
pub async fn write<K>(mut sink: K, queue: WriterQueue)
where
    K: Sink<Frame> + Unpin,
{
    let WriterQueue {
        mut queue,
        mut urgent,
    } = queue;
    let urgent_frame = 'frames: loop {
        let first = tokio::select! {
            biased;
            frame = &mut urgent => break 'frames frame.ok(),
            next = queue.recv() => next,
        };
        let Some(first) = first else {
            // The reader is done and the peer is gone: end without a close frame.
            let _ = tokio::time::timeout(LAST_FLUSH, sink.close()).await;
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
            let fed = tokio::select! {
                biased;
                frame = &mut urgent => break 'frames frame.ok(),
                fed = sink.feed(outbound.into_frame()) => fed,
            };
            if fed.is_err() {
                return;
            }
            if closing {
                let _ = tokio::time::timeout(LAST_FLUSH, sink.flush()).await;
                return;
            }
        }
        let flushed = tokio::select! {
            biased;
            frame = &mut urgent => break 'frames frame.ok(),
            flushed = sink.flush() => flushed,
        };
        if flushed.is_err() {
            return;
        }
    };
    if let Some(frame) = urgent_frame {
        // Bounded by the caller, which aborts this task if the peer never reads.
        let _ = sink.send(frame).await;
    }
}
