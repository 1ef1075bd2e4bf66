//! The answers a socket owes: one per command, sent in the order the commands came (a write's
//! once it has committed, the others at once).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesOrdered;

use super::out::Out;
use super::writer::Outbound;
use crate::protocol::reply::{self, ReplyError};
use crate::session::Pending;
use crate::session::rules::Outcome;

/// The reply to one command, once it is known.
pub struct PendingReply(Pin<Box<dyn Future<Output = String> + Send>>);

impl PendingReply {
    pub fn ready(frame: String) -> Self {
        Self(Box::pin(std::future::ready(frame)))
    }

    /// A reply that comes when `reply` resolves.
    pub fn later(reply: impl Future<Output = String> + Send + 'static) -> Self {
        Self(Box::pin(reply))
    }

    /// The reply to a write queued with the session's actor: sent once it has committed.
    pub fn write(id: i64, pending: Pending<Outcome>) -> Self {
        Self(Box::pin(async move {
            match pending.wait().await {
                Ok(outcome) => reply::outcome(id, &outcome),
                Err(err) => reply::error(Some(id), &ReplyError::from(&err)),
            }
        }))
    }
}

impl Future for PendingReply {
    type Output = String;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<String> {
        self.0.as_mut().poll(cx)
    }
}

/// Replies in the order their commands came.
#[derive(Default)]
pub struct Replies(FuturesOrdered<PendingReply>);

impl Replies {
    pub fn push(&mut self, reply: PendingReply) {
        self.0.push_back(reply);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next reply ready to send.
    pub fn next(&mut self) -> futures::stream::Next<'_, FuturesOrdered<PendingReply>> {
        self.0.next()
    }

    /// On shutdown: commands already taken are committed by their actors; wait for their
    /// answers (up to `grace`) so that every acknowledged write is one the client saw.
    pub async fn finish(&mut self, out: &Out<'_>, grace: Duration) {
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        while !self.is_empty() {
            tokio::select! {
                () = &mut deadline => return,
                Some(reply) = self.0.next() => {
                    if out.waiting(Outbound::Own(reply.into_boxed_str())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
