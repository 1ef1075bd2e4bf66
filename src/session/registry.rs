//! The live actors, one per session that has seen a command recently, keyed by session id. The
//! rule "one actor per session" is kept here, and only here: a session's entry names its
//! actor's mailbox, and the actor holds a [`Lease`] on the entry. An idle actor closes its
//! entry while it decides whether to stop, so that commands arriving meanwhile wait at the
//! entry instead of reaching a mailbox on its way out; it then either leaves or reopens the
//! entry behind a fresh mailbox. The registry starts actors through the function it was given
//! and never needs to know what an actor is.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use tokio::sync::{mpsc, watch};

use super::SessionError;
use super::handle::{Command, Pending, SendError, SessionHandle};

/// Starts the actor of a session, holding its lease; returns its mailbox.
pub(super) type Spawn = Box<dyn Fn(String, Lease) -> mpsc::Sender<Command> + Send + Sync>;

/// Attempts at reaching a session's actor when the one found had just stopped.
const SEND_ATTEMPTS: usize = 3;

#[derive(Clone)]
pub(super) struct SessionRegistry {
    inner: Arc<Inner>,
}

/// A session's entry.
enum Slot {
    /// Its actor takes commands.
    Live(SessionHandle),
    /// Its actor is deciding whether to stop: commands wait until the sender behind this
    /// receiver is dropped, when the actor has left or reopened the entry.
    Closing(watch::Receiver<()>),
}

struct Inner {
    /// Sharded so that requests for different sessions rarely contend.
    actors: DashMap<String, Slot>,
    spawn: Spawn,
    /// Tells apart successive actors of one session, so that a stale handle or lease never
    /// removes a newer actor's entry.
    next_actor_id: AtomicU64,
}

impl Inner {
    fn next_actor_id(&self) -> u64 {
        self.next_actor_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Removes the entry if it is still actor `actor_id`'s (live, or closing by it).
    fn forget(&self, id: &str, actor_id: u64) {
        self.actors.remove_if(id, |_, slot| match slot {
            Slot::Live(handle) => handle.actor_id == actor_id,
            Slot::Closing(_) => false,
        });
    }
}

impl SessionRegistry {
    pub(super) fn new(spawn: Spawn) -> Self {
        Self {
            inner: Arc::new(Inner {
                actors: DashMap::new(),
                spawn,
                next_actor_id: AtomicU64::new(1),
            }),
        }
    }

    /// A reference that does not keep the registry alive (for the fan-out's deliveries).
    pub(super) fn downgrade(&self) -> WeakRegistry {
        WeakRegistry(Arc::downgrade(&self.inner))
    }

    /// Queues a command with the session's actor, starting one if it has none, and again with
    /// a new one if the one found had just stopped.
    pub(super) async fn enqueue<T, F, Fut>(
        &self,
        id: &str,
        send: F,
    ) -> Result<Pending<T>, SessionError>
    where
        F: Fn(SessionHandle) -> Fut,
        Fut: std::future::Future<Output = Result<Pending<T>, SendError>>,
    {
        for _ in 0..SEND_ATTEMPTS {
            let handle = self.handle(id).await;
            match send(handle.clone()).await {
                // Its lease may not be released yet: the stale entry goes now.
                Err(SendError::Stopped) => self.inner.forget(id, handle.actor_id),
                Err(SendError::Failed(err)) => return Err(err),
                Ok(pending) => return Ok(pending),
            }
        }
        Err(SessionError::Unavailable(
            "the session's actor kept stopping".into(),
        ))
    }

    /// The session's actor, started if it has none; waits while an actor decides whether to
    /// stop.
    async fn handle(&self, id: &str) -> SessionHandle {
        loop {
            let mut closing = match self.inner.actors.entry(id.to_owned()) {
                Entry::Occupied(entry) => match entry.get() {
                    Slot::Live(handle) => return handle.clone(),
                    Slot::Closing(closing) => closing.clone(),
                },
                Entry::Vacant(entry) => {
                    let actor_id = self.inner.next_actor_id();
                    let lease = Lease {
                        registry: Arc::downgrade(&self.inner),
                        id: id.to_owned(),
                        actor_id,
                    };
                    let commands = (self.inner.spawn)(id.to_owned(), lease);
                    let handle = SessionHandle { actor_id, commands };
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
        live(&self.inner, id)
    }

    pub(super) fn len(&self) -> usize {
        self.inner.actors.len()
    }
}

fn live(inner: &Inner, id: &str) -> Option<SessionHandle> {
    match inner.actors.get(id).as_deref() {
        Some(Slot::Live(handle)) => Some(handle.clone()),
        _ => None,
    }
}

pub(super) struct WeakRegistry(Weak<Inner>);

impl WeakRegistry {
    /// The session's actor if one is live and the registry still exists.
    pub(super) fn live(&self, id: &str) -> Option<SessionHandle> {
        live(&*self.0.upgrade()?, id)
    }
}

/// An actor's hold on its session's entry: while it holds it, no other actor of the session
/// starts. Released when dropped.
pub(super) struct Lease {
    registry: Weak<Inner>,
    id: String,
    actor_id: u64,
}

impl Lease {
    /// Gives the entry up (if it is still this actor's): the next command starts a new actor.
    pub(super) fn release(&self) {
        if let Some(registry) = self.registry.upgrade() {
            registry.forget(&self.id, self.actor_id);
        }
    }

    /// Closes the entry while the actor decides whether to stop; `None` if the entry is no
    /// longer this actor's.
    pub(super) fn close(&mut self) -> Option<Closing<'_>> {
        let registry = self.registry.upgrade()?;
        let mut slot = registry.actors.get_mut(&self.id)?;
        match &*slot {
            Slot::Live(handle) if handle.actor_id == self.actor_id => {
                let (decided, closing) = watch::channel(());
                *slot = Slot::Closing(closing);
                drop(slot);
                Some(Closing {
                    lease: self,
                    decided: Some(decided),
                })
            }
            _ => None,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.release();
    }
}

/// A closed entry: commands wait at it until the actor [`Closing::reopen`]s it or leaves (drops
/// this).
pub(super) struct Closing<'l> {
    lease: &'l mut Lease,
    /// Dropped once the actor has decided, which wakes the commands waiting.
    decided: Option<watch::Sender<()>>,
}

impl Closing<'_> {
    /// The actor goes on, behind a fresh mailbox.
    pub(super) fn reopen(mut self, commands: mpsc::Sender<Command>) {
        if let Some(registry) = self.lease.registry.upgrade() {
            let actor_id = registry.next_actor_id();
            let handle = SessionHandle { actor_id, commands };
            registry
                .actors
                .insert(self.lease.id.clone(), Slot::Live(handle));
            self.lease.actor_id = actor_id;
        }
        drop(self.decided.take());
    }
}

impl Drop for Closing<'_> {
    /// The actor leaves: its closed entry goes (unless it reopened it).
    fn drop(&mut self) {
        if self.decided.is_some()
            && let Some(registry) = self.lease.registry.upgrade()
        {
            registry
                .actors
                .remove_if(&self.lease.id, |_, slot| matches!(slot, Slot::Closing(_)));
        }
    }
}
