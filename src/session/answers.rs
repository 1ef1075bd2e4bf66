//! What the domain answers its transports: where a socket starts (on a session, or on the
//! user's list), a session as read (or only its version), an append's outcome.

use std::sync::Arc;

use super::SessionError;
use super::lists::Follower;
use super::push::Push;
use super::room::Watcher;
use crate::domain::model::{self, Session};
use crate::store::{Located, Page, Version};

/// A socket's start on a session: where its view begins, and every push after that.
pub struct Attachment {
    pub start: AttachStart,
    /// The session's `seq` at attach; `pushes` carries the events after it.
    pub seq: u64,
    pub pushes: tokio::sync::broadcast::Receiver<std::sync::Arc<Push>>,
    /// Keeps the socket counted in the session's presence until dropped.
    pub watcher: Watcher,
}

pub enum AttachStart {
    /// The whole session at `seq`.
    Snapshot(Box<Session>),
    /// The events after the requested `sinceSeq`, up to `seq`, in order.
    Replay(Vec<model::SessionEvent>),
}

/// A socket's start on the user's list: the first page, and every change after it.
pub struct ListAttachment {
    /// Read after the following began, so that no change falls between the two.
    pub page: Page,
    pub pushes: tokio::sync::broadcast::Receiver<std::sync::Arc<Push>>,
    /// Keeps the list followed until dropped.
    pub follower: Follower,
}

/// A session as read, or only its version (see [`Sessions::current`]).
pub enum Current {
    Version(Version),
    Session(Arc<Session>),
}

impl Current {
    /// The user's session, or `NotFound` (another user's is not told apart from none).
    pub(super) fn owned(located: Option<Located>, uid: &str) -> Result<Self, SessionError> {
        match located {
            Some(Located::Version(version)) if version.uid == uid => Ok(Current::Version(version)),
            Some(Located::Session(session)) if session.meta.uid == uid => {
                Ok(Current::Session(Arc::new(session)))
            }
            _ => Err(SessionError::NotFound),
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Current::Version(version) => &version.id,
            Current::Session(session) => &session.meta.id,
        }
    }

    pub fn seq(&self) -> u64 {
        match self {
            Current::Version(version) => version.seq,
            Current::Session(session) => session.meta.seq,
        }
    }
}

/// The answer to an append: the message's id, its images' orders, and the session's `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    pub message_id: String,
    pub orders: Vec<u32>,
    pub seq: u64,
}
