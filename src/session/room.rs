//! The sockets watching one session. The session's actor owns the room and publishes each
//! event into it once, strictly in `seq` order; every watcher receives the same pushes in the
//! same order. A push is a typed value; the transport encodes it the first time a watcher needs
//! it and every other watcher shares that text ([`Push::encoded`]). A room exists only while
//! its actor runs, and its ring is small, since each slot is allocated up front.
//!
//! Presence is coalesced: a change publishes at once when the last presence push is older than
//! the interval, and otherwise one push at the end of the interval carries every change made
//! meanwhile. N tabs opening together cost each watcher a couple of frames, not N, and they
//! take a couple of the ring's slots rather than all of them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use super::push::{Push, PushKind, Signal};
use crate::domain::model::SessionEvent;

/// Called with this instance's number of watchers whenever it changes (to tell the others).
pub(super) type Announce = Box<dyn Fn(usize) + Send + Sync>;

pub(super) struct Room {
    shared: Arc<Shared>,
}

struct Shared {
    sender: broadcast::Sender<Arc<Push>>,
    /// Sockets attached here; each [`Watcher`] counts one.
    local: AtomicUsize,
    /// Sockets attached to other instances, as they last said.
    remote: AtomicUsize,
    announce: Announce,
    /// The shortest time between two presence pushes.
    presence_interval: Duration,
    presence: Mutex<PresenceClock>,
}

/// When presence was last pushed, and whether a push is already due at the end of the interval.
#[derive(Default)]
struct PresenceClock {
    last: Option<Instant>,
    due: bool,
}

impl Shared {
    /// The number of sockets changed: push it now, or once the interval since the last push
    /// has passed (one push then carries every change in between).
    fn presence_changed(self: &Arc<Self>) {
        let now = Instant::now();
        let mut clock = self.presence.lock().unwrap_or_else(PoisonError::into_inner);
        if clock.due {
            return;
        }
        let next = clock.last.map(|last| last + self.presence_interval);
        match (next, tokio::runtime::Handle::try_current()) {
            (Some(next), Ok(runtime)) if next > now => {
                clock.due = true;
                let room = Arc::downgrade(self);
                runtime.spawn(async move {
                    tokio::time::sleep_until(next).await;
                    if let Some(room) = room.upgrade() {
                        room.push_presence();
                    }
                });
            }
            _ => {
                drop(clock);
                self.push_presence();
            }
        }
    }

    fn push_presence(&self) {
        {
            let mut clock = self.presence.lock().unwrap_or_else(PoisonError::into_inner);
            clock.last = Some(Instant::now());
            clock.due = false;
        }
        let connections = self.local.load(Ordering::Acquire) + self.remote.load(Ordering::Acquire);
        let _ = self
            .sender
            .send(Push::new(PushKind::Presence { connections }));
    }
}

impl Room {
    pub(super) fn new(capacity: usize, presence_interval: Duration, announce: Announce) -> Self {
        Self {
            shared: Arc::new(Shared {
                sender: broadcast::channel(capacity.max(1)).0,
                local: AtomicUsize::new(0),
                remote: AtomicUsize::new(0),
                announce,
                presence_interval,
                presence: Mutex::default(),
            }),
        }
    }

    pub(super) fn is_watched(&self) -> bool {
        self.watchers() > 0
    }

    pub(super) fn watchers(&self) -> usize {
        self.shared.local.load(Ordering::Acquire)
    }

    /// Publishes a committed event; the caller keeps them in `seq` order.
    pub(super) fn publish_event(&self, event: SessionEvent) {
        // No receivers is fine: nobody is watching.
        let _ = self.shared.sender.send(Push::new(PushKind::Event(event)));
    }

    pub(super) fn publish_deleted(&self, seq: u64) {
        let _ = self
            .shared
            .sender
            .send(Push::new(PushKind::Deleted { seq }));
    }

    pub(super) fn publish_signal(&self, signal: Arc<Signal>) {
        let _ = self.shared.sender.send(Push::new(PushKind::Signal(signal)));
    }

    /// Sockets attached to other instances changed.
    pub(super) fn set_remote(&self, connections: usize) {
        if self.shared.remote.swap(connections, Ordering::AcqRel) != connections {
            self.shared.presence_changed();
        }
    }

    /// Subscribes a new watcher to every push from now on, and tells all watchers the new count.
    pub(super) fn watch(&self) -> (broadcast::Receiver<Arc<Push>>, Watcher) {
        let receiver = self.shared.sender.subscribe();
        let local = self.shared.local.fetch_add(1, Ordering::AcqRel) + 1;
        self.shared.presence_changed();
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
            room.presence_changed();
            (room.announce)(local);
        }
    }
}
