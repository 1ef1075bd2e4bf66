//! The live actors, one per session that has seen a write recently, keyed by session id.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::ActorSettings;
use super::actor::SessionActor;
use super::handle::{Command, SessionHandle};
use crate::fanout::{Fanout, Notice};
use crate::store::SessionStore;

#[derive(Clone)]
pub(super) struct SessionRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    /// Sharded so that requests for different sessions rarely contend; an entry is removed by
    /// its own actor when that actor stops.
    actors: DashMap<String, SessionHandle>,
    store: Arc<dyn SessionStore>,
    settings: Arc<ActorSettings>,
    fanout: Arc<dyn Fanout>,
    next_actor_id: AtomicU64,
}

impl SessionRegistry {
    pub(super) fn new(
        store: Arc<dyn SessionStore>,
        settings: Arc<ActorSettings>,
        fanout: Arc<dyn Fanout>,
    ) -> Self {
        let registry = Self {
            inner: Arc::new(Inner {
                actors: DashMap::new(),
                store,
                settings,
                fanout: Arc::clone(&fanout),
                next_actor_id: AtomicU64::new(1),
            }),
        };
        // Notices go to the session's actor if it runs here; if not, nothing here watches it.
        let weak = Arc::downgrade(&registry.inner);
        fanout.deliver_to(Arc::new(move |session: &str, notice: Notice| {
            let Some(inner) = weak.upgrade() else { return };
            if let Some(handle) = inner.actors.get(session) {
                // A full mailbox drops the notice: the actor catches up at the next one, or
                // at its next resync.
                let _ = handle.commands.try_send(Command::Notice(notice));
            }
        }));
        registry
    }

    /// The session's actor, started if it has none.
    pub(super) fn handle(&self, id: &str) -> SessionHandle {
        if let Some(handle) = self.inner.actors.get(id) {
            return handle.clone();
        }
        match self.inner.actors.entry(id.to_owned()) {
            Entry::Occupied(entry) => entry.get().clone(),
            Entry::Vacant(entry) => {
                let actor_id = self.inner.next_actor_id.fetch_add(1, Ordering::Relaxed);
                let handle = SessionActor::spawn(
                    id.to_owned(),
                    actor_id,
                    Arc::clone(&self.inner.store),
                    Arc::clone(&self.inner.settings),
                    self.clone(),
                    Arc::clone(&self.inner.fanout),
                );
                entry.insert(handle.clone());
                handle
            }
        }
    }

    /// Removes the entry if it still belongs to the actor behind `handle`.
    pub(super) fn forget(&self, id: &str, handle: &SessionHandle) {
        self.forget_actor(id, handle.actor_id);
    }

    pub(super) fn forget_actor(&self, id: &str, actor_id: u64) {
        self.inner
            .actors
            .remove_if(id, |_, current| current.actor_id == actor_id);
    }

    pub(super) fn len(&self) -> usize {
        self.inner.actors.len()
    }
}
