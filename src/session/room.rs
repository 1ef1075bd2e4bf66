//! The sockets watching one session. The session's actor owns the room and publishes each
//! committed event into it once, already serialized; every watcher receives the same frames in
//! the same order. A room exists only while its actor runs, and its ring is small, since each
//! slot is allocated up front.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::broadcast;

use super::model::SessionEvent;

/// A frame for every watcher of a session.
#[derive(Debug, Clone)]
pub struct Push {
    pub kind: PushKind,
    /// The frame's JSON text, shared by all watchers.
    pub frame: Arc<str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushKind {
    /// A committed change with this `seq`.
    Event { seq: u64 },
    /// The number of sockets attached changed (not sequenced).
    Presence,
    /// The session was deleted; nothing follows.
    Deleted,
}

pub(super) struct Room {
    sender: broadcast::Sender<Push>,
    /// Sockets attached; each [`Watcher`] counts one.
    watchers: Arc<AtomicUsize>,
}

impl Room {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity.max(1)).0,
            watchers: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub(super) fn is_watched(&self) -> bool {
        self.watchers.load(Ordering::Acquire) > 0
    }

    pub(super) fn publish(&self, events: &[SessionEvent]) {
        for event in events {
            let push = Push {
                kind: PushKind::Event { seq: event.seq() },
                frame: event.to_frame().into(),
            };
            // No receivers is fine: nobody is watching.
            let _ = self.sender.send(push);
        }
    }

    pub(super) fn publish_deleted(&self, seq: u64) {
        let frame = serde_json::json!({ "type": "session.deleted", "seq": seq }).to_string();
        let _ = self.sender.send(Push {
            kind: PushKind::Deleted,
            frame: frame.into(),
        });
    }

    /// Subscribes a new watcher to every push from now on, and tells all watchers the new count.
    pub(super) fn watch(&self) -> (broadcast::Receiver<Push>, Watcher) {
        let receiver = self.sender.subscribe();
        let count = self.watchers.fetch_add(1, Ordering::AcqRel) + 1;
        publish_presence(&self.sender, count);
        let watcher = Watcher {
            watchers: Arc::clone(&self.watchers),
            sender: self.sender.downgrade(),
        };
        (receiver, watcher)
    }
}

fn publish_presence(sender: &broadcast::Sender<Push>, connections: usize) {
    let frame = serde_json::json!({ "type": "presence", "connections": connections }).to_string();
    let _ = sender.send(Push {
        kind: PushKind::Presence,
        frame: frame.into(),
    });
}

/// One attached socket. Dropping it detaches the socket and tells the others.
pub struct Watcher {
    watchers: Arc<AtomicUsize>,
    /// Weak, so that a room whose actor stopped closes its watchers' receivers.
    sender: broadcast::WeakSender<Push>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let count = self
            .watchers
            .fetch_sub(1, Ordering::AcqRel)
            .saturating_sub(1);
        if let Some(sender) = self.sender.upgrade() {
            publish_presence(&sender, count);
        }
    }
}
