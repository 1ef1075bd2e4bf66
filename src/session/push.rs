//! What sockets receive from a session's room or a user's feed: typed pushes, each encoded for
//! the wire once, by the transport, the first time a socket needs it, and shared by the others.

use std::sync::{Arc, OnceLock};

use tokio::time::Instant;

use crate::domain::model::{SessionEvent, Summary};

/// What every watcher of a session receives.
#[derive(Debug)]
pub struct Push {
    pub kind: PushKind,
    /// When it was published (for the delivery latency in the metrics).
    pub at: Instant,
    /// Its encoding for the wire, made once for all watchers.
    encoded: OnceLock<Arc<str>>,
}

#[derive(Debug, Clone)]
pub enum PushKind {
    /// A committed change.
    Event(SessionEvent),
    /// The number of sockets attached changed (not sequenced).
    Presence { connections: usize },
    /// The session was deleted; nothing follows. `seq` is one past its last event.
    Deleted { seq: u64 },
    /// An ephemeral message from one connection to the session's others (not sequenced:
    /// `seq` is the session's when it was sent).
    Signal(Arc<Signal>),
    /// On a user's list: a session of theirs changed (or was created).
    Listed(Arc<Summary>),
    /// On a user's list: the session was deleted; `seq` is one past its last event.
    Unlisted { id: Arc<str>, seq: u64 },
    /// On a user's list: the first page as the store holds it, to compare with what was shown
    /// (notices may have been lost between instances).
    Relisted(Arc<Relisted>),
    /// On a user's list: the changes held back during an interval, one per session, in one
    /// slot of the feed's ring (each encoded once for all followers).
    Batch(Arc<[Arc<Push>]>),
}

/// A signal as its session's other connections receive it.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// The sending connection, or `rest`.
    pub from: Arc<str>,
    pub seq: u64,
    pub data: serde_json::Value,
}

impl Push {
    pub(super) fn new(kind: PushKind) -> Arc<Self> {
        Arc::new(Self {
            kind,
            at: Instant::now(),
            encoded: OnceLock::new(),
        })
    }

    /// The `seq` of an event push.
    pub fn seq(&self) -> Option<u64> {
        match &self.kind {
            PushKind::Event(event) => Some(event.seq()),
            _ => None,
        }
    }

    /// The push encoded by `encode`, which runs for the first watcher only.
    pub fn encoded(&self, encode: impl FnOnce(&PushKind) -> String) -> Arc<str> {
        Arc::clone(self.encoded.get_or_init(|| encode(&self.kind).into()))
    }
}

/// A page of the user's list as the store answered it, for followers to compare with theirs.
#[derive(Debug, PartialEq)]
pub struct Relisted {
    pub summaries: Vec<Arc<Summary>>,
    /// Whether the page holds every session of the user (no later page).
    pub complete: bool,
    /// When the read began: what a follower learned before then, the page reflects.
    pub read_at: Instant,
}
