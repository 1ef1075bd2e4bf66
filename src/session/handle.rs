//! The cheap, cloneable way to talk to a session's actor: it queues a command with a reply
//! channel and waits for the answer.

use std::time::Duration;

use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{mpsc, oneshot};

use super::SessionError;
use super::state::{Op, Outcome};

pub(super) enum Command {
    Write {
        uid: String,
        op: Op,
        reply: oneshot::Sender<Result<Outcome, SessionError>>,
    },
    Delete {
        uid: String,
        reply: oneshot::Sender<Result<(), SessionError>>,
    },
}

impl Command {
    /// Answers the command with an error without running it.
    pub(super) fn refuse(self, err: SessionError) {
        // A requester that went away needs no answer.
        match self {
            Command::Write { reply, .. } => drop(reply.send(Err(err))),
            Command::Delete { reply, .. } => drop(reply.send(Err(err))),
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

impl SessionHandle {
    pub(super) async fn write(
        &self,
        uid: &str,
        op: Op,
        wait: Duration,
    ) -> Result<Outcome, SendError> {
        let uid = uid.to_owned();
        self.request(|reply| Command::Write { uid, op, reply }, wait)
            .await
    }

    pub(super) async fn delete(&self, uid: &str, wait: Duration) -> Result<(), SendError> {
        let uid = uid.to_owned();
        self.request(|reply| Command::Delete { uid, reply }, wait)
            .await
    }

    async fn request<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, SessionError>>) -> Command,
        wait: Duration,
    ) -> Result<T, SendError> {
        let (reply, answer) = oneshot::channel();
        match self.commands.send_timeout(command(reply), wait).await {
            Ok(()) => {}
            Err(SendTimeoutError::Closed(_)) => return Err(SendError::Stopped),
            Err(SendTimeoutError::Timeout(_)) => {
                return Err(SendError::Failed(SessionError::Unavailable(
                    "the session is overloaded; retry later".into(),
                )));
            }
        }
        match answer.await {
            Ok(result) => result.map_err(SendError::Failed),
            // The actor took the command but died before answering; whether it was applied
            // is unknown, so the caller must retry (idempotently) rather than us.
            Err(_) => Err(SendError::Failed(SessionError::Unavailable(
                "the session's actor stopped unexpectedly".into(),
            ))),
        }
    }
}
