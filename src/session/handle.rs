//! The cheap, cloneable way to talk to a session's actor: it queues a command with a reply
//! channel and waits for the answer.

use crate::telemetry::traces::Origin;
use std::time::Duration;

use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{mpsc, oneshot};

use super::rules::{Op, Outcome};
use super::{Attachment, SessionError};

pub(super) enum Command {
    Write {
        uid: String,
        /// Boxed: every mailbox allocates room for 32 commands up front, so the largest
        /// variant sets the cost of each live session.
        op: Box<Op>,
        reply: oneshot::Sender<Result<Outcome, SessionError>>,
        /// Where the write was asked for, for its trace.
        origin: Origin,
    },
    /// Attach a socket: a snapshot or the events after `since`, then every later push.
    Watch {
        uid: String,
        since: Option<u64>,
        reply: oneshot::Sender<Result<Attachment, SessionError>>,
    },
    Delete {
        uid: String,
        reply: oneshot::Sender<Result<(), SessionError>>,
    },
    /// The session as its actor holds it (answered after the writes queued before it).
    Read {
        uid: String,
        reply: oneshot::Sender<Result<std::sync::Arc<crate::domain::model::Session>, SessionError>>,
    },
    /// Send a signal to the session's other sockets; answered with the session's `seq`.
    Signal {
        uid: String,
        from: std::sync::Arc<str>,
        data: serde_json::Value,
        reply: oneshot::Sender<Result<u64, SessionError>>,
    },
    /// From the fan-out: what another instance said about the session (and the span of its
    /// delivery here, for the trace of the write it tells of).
    Notice(crate::fanout::Notice, Origin),
}

impl Command {
    /// Answers the command with an error without running it.
    pub(super) fn refuse(self, err: SessionError) {
        // A requester that went away needs no answer.
        match self {
            Command::Write { reply, .. } => drop(reply.send(Err(err))),
            Command::Watch { reply, .. } => drop(reply.send(Err(err))),
            Command::Delete { reply, .. } => drop(reply.send(Err(err))),
            Command::Read { reply, .. } => drop(reply.send(Err(err))),
            Command::Signal { reply, .. } => drop(reply.send(Err(err))),
            Command::Notice(..) => {}
        }
    }
}

pub(super) enum SendError {
    /// The actor had stopped before taking the command: start a new one and send again.
    Stopped,
    Failed(SessionError),
}

#[derive(Clone)]
pub(super) struct SessionHandle {
    /// Tells apart successive actors of one session, so a stale handle never evicts a newer one.
    pub(super) actor_id: u64,
    pub(super) commands: mpsc::Sender<Command>,
}

/// The answer to a queued command, to be awaited when convenient: queueing fixes the order in
/// which commands apply, awaiting only waits for the commit.
pub struct Pending<T>(oneshot::Receiver<Result<T, SessionError>>);

impl<T> Pending<T> {
    pub async fn wait(self) -> Result<T, SessionError> {
        match self.0.await {
            Ok(result) => result,
            // The actor took the command but died before answering; whether it was applied
            // is unknown, so the caller must retry (idempotently) rather than us.
            Err(_) => Err(SessionError::Unavailable(
                "the session's actor stopped unexpectedly".into(),
            )),
        }
    }
}

impl SessionHandle {
    pub(super) async fn write(
        &self,
        uid: &str,
        op: Op,
        wait: Duration,
    ) -> Result<Pending<Outcome>, SendError> {
        let uid = uid.to_owned();
        let op = Box::new(op);
        let origin = Origin::current();
        self.enqueue(
            |reply| Command::Write {
                uid,
                op,
                reply,
                origin,
            },
            wait,
        )
        .await
    }

    pub(super) async fn watch(
        &self,
        uid: &str,
        since: Option<u64>,
        wait: Duration,
    ) -> Result<Pending<Attachment>, SendError> {
        let uid = uid.to_owned();
        self.enqueue(|reply| Command::Watch { uid, since, reply }, wait)
            .await
    }

    pub(super) async fn read(
        &self,
        uid: &str,
        wait: Duration,
    ) -> Result<Pending<std::sync::Arc<crate::domain::model::Session>>, SendError> {
        let uid = uid.to_owned();
        self.enqueue(|reply| Command::Read { uid, reply }, wait)
            .await
    }

    pub(super) async fn signal(
        &self,
        uid: &str,
        from: std::sync::Arc<str>,
        data: serde_json::Value,
        wait: Duration,
    ) -> Result<Pending<u64>, SendError> {
        let uid = uid.to_owned();
        self.enqueue(
            |reply| Command::Signal {
                uid,
                from,
                data,
                reply,
            },
            wait,
        )
        .await
    }

    pub(super) async fn delete(&self, uid: &str, wait: Duration) -> Result<Pending<()>, SendError> {
        let uid = uid.to_owned();
        self.enqueue(|reply| Command::Delete { uid, reply }, wait)
            .await
    }

    async fn enqueue<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, SessionError>>) -> Command,
        wait: Duration,
    ) -> Result<Pending<T>, SendError> {
        let (reply, answer) = oneshot::channel();
        match self.commands.send_timeout(command(reply), wait).await {
            Ok(()) => Ok(Pending(answer)),
            Err(SendTimeoutError::Closed(_)) => Err(SendError::Stopped),
            Err(SendTimeoutError::Timeout(_)) => Err(SendError::Failed(SessionError::Unavailable(
                "the session is overloaded; retry later".into(),
            ))),
        }
    }
}
