//! The live actors, one per session that has seen a write recently, keyed by session id.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use tokio::sync::watch;

use super::ActorSettings;
use super::actor::SessionActor;
use super::handle::{Command, SessionHandle};
use super::lists::Lists;
use crate::fanout::{Fanout, Notice, Topic};
use crate::store::SessionStore;

#[derive(Clone)]
pub(super) struct SessionRegistry {
    inner: Arc<Inner>,
}

/// A session's entry.
enum Slot {
    /// Its actor takes commands.
    Live(SessionHandle),
    /// Its actor is deciding whether to stop (it was idle): commands wait for it to either
    /// leave or take them, so none reaches an actor on its way out. The actor drops the
    /// sender behind this receiver once it has decided.
    Closing(watch::Receiver<()>),
}

struct Inner {
    /// Sharded so that requests for different sessions rarely contend; an entry is removed by
    /// its own actor when that actor stops.
    actors: DashMap<String, Slot>,
    store: Arc<dyn SessionStore>,
    settings: Arc<ActorSettings>,
    fanout: Arc<dyn Fanout>,
    lists: Lists,
    next_actor_id: AtomicU64,
}

impl SessionRegistry {
    pub(super) fn new(
        store: Arc<dyn SessionStore>,
        settings: Arc<ActorSettings>,
        fanout: Arc<dyn Fanout>,
        lists: Lists,
    ) -> Self {
        let registry = Self {
            inner: Arc::new(Inner {
                actors: DashMap::new(),
                store,
                settings,
                fanout: Arc::clone(&fanout),
                lists,
                next_actor_id: AtomicU64::new(1),
            }),
        };
        // A session's notices go to its actor if it runs here (if not, nothing here watches
        // it); a user's, to their lists.
        let weak = Arc::downgrade(&registry.inner);
        fanout.deliver_to(Arc::new(move |topic: Topic<'_>, notice: Notice| {
            let Some(inner) = weak.upgrade() else { return };
            let session = match topic {
                Topic::Session(session) => session,
                Topic::User(uid) => return inner.lists.take_notice(uid, notice),
            };
            if let Some(slot) = inner.actors.get(session)
                && let Slot::Live(handle) = &*slot
            {
                // A full mailbox drops the notice: the actor catches up at the next one, or
                // at its next resync.
                let _ = handle.commands.try_send(Command::Notice(notice));
            }
        }));
        registry
    }

    /// The session's actor, started if it has none; waits while an actor decides whether to
    /// stop.
    pub(super) async fn handle(&self, id: &str) -> SessionHandle {
        loop {
            let mut closing = match self.inner.actors.entry(id.to_owned()) {
                Entry::Occupied(entry) => match entry.get() {
                    Slot::Live(handle) => return handle.clone(),
                    Slot::Closing(closing) => closing.clone(),
                },
                Entry::Vacant(entry) => {
                    let handle = SessionActor::spawn(
                        id.to_owned(),
                        self.next_actor_id(),
                        Arc::clone(&self.inner.store),
                        Arc::clone(&self.inner.settings),
                        self.clone(),
                        Arc::clone(&self.inner.fanout),
                        self.inner.lists.clone(),
                    );
                    entry.insert(Slot::Live(handle.clone()));
                    return handle;
                }
            };
            // Resolves once the closing actor has decided (it dropped the sender).
            let _ = closing.changed().await;
        }
    }

    /// The session's actor if one is live (none is started).
    pub(super) fn live(&self, id: &str) -> Option<SessionHandle> {
        match self.inner.actors.get(id).as_deref() {
            Some(Slot::Live(handle)) => Some(handle.clone()),
            _ => None,
        }
    }

    pub(super) fn next_actor_id(&self) -> u64 {
        self.inner.next_actor_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Marks the session closing if its entry is still `actor_id`'s; the entry waits on
    /// `closing` until [`Self::reopen`] or [`Self::forget_closing`].
    pub(super) fn begin_closing(
        &self,
        id: &str,
        actor_id: u64,
        closing: watch::Receiver<()>,
    ) -> bool {
        match self.inner.actors.get_mut(id) {
            Some(mut slot) => match &*slot {
                Slot::Live(handle) if handle.actor_id == actor_id => {
                    *slot = Slot::Closing(closing);
                    true
                }
                _ => false,
            },
            None => false,
        }
    }

    /// The closing actor goes on, behind `handle`.
    pub(super) fn reopen(&self, id: &str, handle: SessionHandle) {
        self.inner.actors.insert(id.to_owned(), Slot::Live(handle));
    }

    /// The closing actor leaves.
    pub(super) fn forget_closing(&self, id: &str) {
        self.inner
            .actors
            .remove_if(id, |_, slot| matches!(slot, Slot::Closing(_)));
    }

    /// Removes the entry if it still belongs to the actor behind `handle`.
    pub(super) fn forget(&self, id: &str, handle: &SessionHandle) {
        self.forget_actor(id, handle.actor_id);
    }

    pub(super) fn forget_actor(&self, id: &str, actor_id: u64) {
        self.inner.actors.remove_if(
            id,
            |_, slot| matches!(slot, Slot::Live(current) if current.actor_id == actor_id),
        );
    }

    pub(super) fn len(&self) -> usize {
        self.inner.actors.len()
    }
}
