//! Fan-out between server instances. Within one process, a session's room is the fan-out; with
//! several instances behind a load balancer, an instance that commits to a session tells the
//! others through a [`Fanout`], and each instance's actor for that session brings its sockets
//! up to date, in `seq` order, filling any gap from the store.

mod local;
mod redis;
mod summary;

pub use local::LocalFanout;
pub use redis::RedisFanout;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::model::{SessionEvent, Summary};

/// What one instance tells the others about a session. Delivery is best effort: receivers
/// detect gaps by `seq` and fill them from the store, and resynchronise after an outage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Notice {
    /// Events committed by the sender, in `seq` order, in the stores' versioned encoding (so
    /// that instances of different versions understand each other during a rolling update).
    Committed {
        #[serde(with = "crate::store::codec::events")]
        events: Vec<SessionEvent>,
    },
    /// The session was deleted by the sender.
    Deleted,
    /// The sender's number of sockets attached to the session.
    Presence {
        instance: String,
        connections: usize,
    },
    /// An ephemeral message to the session's sockets (never stored).
    Signal {
        from: String,
        seq: u64,
        data: serde_json::Value,
    },
    /// On a user's topic: one of their sessions changed (or was created).
    Listed {
        #[serde(with = "summary")]
        summary: Arc<Summary>,
    },
    /// On a user's topic: one of their sessions was deleted.
    Unlisted { id: String, seq: u64 },
    /// Not sent between instances: the fan-out tells local actors to compare with the store
    /// after it may have missed notices (a lost connection).
    #[serde(skip)]
    Resync,
}

/// What a notice is about: one session (its sockets), or one user (their lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic<'a> {
    Session(&'a str),
    User(&'a str),
}

/// Where a fan-out hands the notices it receives: their topic and the notice.
pub type Deliver = Arc<dyn Fn(Topic<'_>, Notice) + Send + Sync>;

/// Contract: `publish` never blocks and never fails the caller (delivery is best effort);
/// notices arrive only for topics this instance `watch`es, never the instance's own.
pub trait Fanout: Send + Sync + 'static {
    /// Whether other instances may exist (if not, actors need no periodic resync).
    fn is_shared(&self) -> bool;

    /// This instance's name, unique among the instances.
    fn instance(&self) -> &str;

    fn publish(&self, topic: Topic<'_>, notice: &Notice);

    /// Start receiving the topic's notices (its first socket attached here).
    fn watch(&self, topic: Topic<'_>);

    /// Stop receiving them (its actor here stopped, or its last list socket closed).
    fn unwatch(&self, topic: Topic<'_>);

    /// Sets where received notices go; called once, at start.
    fn deliver_to(&self, deliver: Deliver);

    /// Whether the link to the other instances is up; `None` when there is none to check.
    fn connected(&self) -> Option<bool> {
        None
    }
}
