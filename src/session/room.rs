//! The sockets watching one session. The session's actor owns the room and publishes each
//! event into it once, already serialized, strictly in `seq` order; every watcher receives the
//! same frames in the same order. A room exists only while its actor runs, and its ring is
//! small, since each slot is allocated up front.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use tokio::sync::broadcast;
use tokio::time::Instant;

/// A frame for every watcher of a session.
#[derive(Debug, Clone)]
pub struct Push {
    pub kind: PushKind,
    /// The frame's JSON text, shared by all watchers.
    pub frame: Arc<str>,
    /// When it was published (for the delivery latency in the metrics).
    pub at: Instant,
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

/// Called with this instance's number of watchers whenever it changes (to tell the others).
pub(super) type Announce = Box<dyn Fn(usize) + Send + Sync>;

pub(super) struct Room {
    shared: Arc<Shared>,
}

struct Shared {
    sender: broadcast::Sender<Push>,
    /// Sockets attached here; each [`Watcher`] counts one.
    local: AtomicUsize,
    /// Sockets attached to other instances, as they last said.
    remote: AtomicUsize,
    announce: Announce,
}

impl Shared {
    fn publish_presence(&self) {
        let connections = self.local.load(Ordering::Acquire) + self.remote.load(Ordering::Acquire);
        let frame = serde_json::json!({ "type": "presence", "connections": connections });
        let _ = self.sender.send(Push {
            kind: PushKind::Presence,
            frame: frame.to_string().into(),
            at: Instant::now(),
        });
    }
}

impl Room {
    pub(super) fn new(capacity: usize, announce: Announce) -> Self {
        Self {
            shared: Arc::new(Shared {
                sender: broadcast::channel(capacity.max(1)).0,
                local: AtomicUsize::new(0),
                remote: AtomicUsize::new(0),
                announce,
            }),
        }
    }

    pub(super) fn is_watched(&self) -> bool {
        self.watchers() > 0
    }

    pub(super) fn watchers(&self) -> usize {
        self.shared.local.load(Ordering::Acquire)
    }

    /// Publishes the frame of the event with this `seq`; the caller keeps them in order.
    pub(super) fn publish_frame(&self, seq: u64, frame: Arc<str>) {
        // No receivers is fine: nobody is watching.
        let _ = self.shared.sender.send(Push {
            kind: PushKind::Event { seq },
            frame,
            at: Instant::now(),
        });
    }

    pub(super) fn publish_deleted(&self, seq: u64) {
        let frame = serde_json::json!({ "type": "session.deleted", "seq": seq }).to_string();
        let _ = self.shared.sender.send(Push {
            kind: PushKind::Deleted,
            frame: frame.into(),
            at: Instant::now(),
        });
    }

    /// Sockets attached to other instances changed.
    pub(super) fn set_remote(&self, connections: usize) {
        if self.shared.remote.swap(connections, Ordering::AcqRel) != connections {
            self.shared.publish_presence();
        }
    }

    /// Subscribes a new watcher to every push from now on, and tells all watchers the new count.
    pub(super) fn watch(&self) -> (broadcast::Receiver<Push>, Watcher) {
        let receiver = self.shared.sender.subscribe();
        let local = self.shared.local.fetch_add(1, Ordering::AcqRel) + 1;
        self.shared.publish_presence();
        (self.shared.announce)(local);
        let watcher = Watcher {
            room: Arc::downgrade(&self.shared),
        };
        (receiver, watcher)
    }
}

/// One attached socket. Dropping it detaches the socket and tells the others.
pub struct Watcher {
    /// Weak, so that a room whose actor stopped closes its watchers' receivers.
    room: Weak<Shared>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(room) = self.room.upgrade() {
            let local = room.local.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
            room.publish_presence();
            (room.announce)(local);
        }
    }
}
