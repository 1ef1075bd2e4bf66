//! How a connection's frames leave: its end of the writer's bounded queue, and how it ends.

use std::sync::Arc;

use super::writer::{Outbound, QueueError, WriterHandle};
use crate::protocol::close::Close;

/// How the socket ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Send this close frame: after what is queued, or at once when it is urgent.
    Close(Close),
    /// The peer went away; nothing more to send.
    Gone,
}

/// The reader's own end of the writer, and the queueing rules.
pub(super) struct Out<'w>(pub(super) &'w WriterHandle);

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
