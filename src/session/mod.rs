//! The domain: sessions, their validation, and one actor per live session that serializes its
//! writes. Knows nothing of HTTP or WebSockets; transports call [`Sessions`].

mod actor;
mod answers;
mod handle;
mod lists;
mod push;
mod registry;
mod room;
pub mod rules;
pub mod validation;

use std::sync::Arc;
use std::time::Duration;

use crate::domain::list::ListQuery;
use crate::domain::model::{self, FieldChanges, Session, SessionMeta, Status};
use crate::domain::new_id;
use crate::domain::time::Timestamp;
use crate::fanout::{Notice, Topic};
use crate::store::{Page, SessionStore, StoreError};
pub use answers::{Appended, AttachStart, Attachment, Current, ListAttachment};
pub use handle::Pending;
use handle::{SendError, SessionHandle};
pub use lists::Follower;
use lists::Lists;
pub use push::{Push, PushKind, Relisted, Signal};
use registry::SessionRegistry;
pub use room::Watcher;
use rules::{Op, Outcome};
use validation::{InvalidInput, Limits, NewMessage, NewSession};

/// Why a session operation was refused or failed. Transports map each to their own error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// Unknown, deleted, or another user's: indistinguishable by design.
    #[error("session not found")]
    NotFound,
    #[error("the user already has a session with this sessionId")]
    Conflict { existing_id: String },
    #[error("the session holds its maximum of {max} images")]
    SessionFull { max: u32 },
    /// The request is valid, but not for the session as it stands (a `completedAt` for an
    /// active session, say): nothing changed.
    #[error("{reason}")]
    Contradicts { id: String, reason: &'static str },
    /// The store failed or the session is overloaded; the request may be retried.
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for SessionError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => SessionError::NotFound,
            StoreError::DuplicateSession { existing_id } => SessionError::Conflict { existing_id },
            StoreError::SeqMismatch => {
                SessionError::Unavailable("the session kept changing concurrently".into())
            }
            StoreError::Unavailable(cause) => SessionError::Unavailable(cause),
        }
    }
}

/// How actors behave; one value shared by all of them.
#[derive(Debug, Clone)]
pub struct ActorSettings {
    pub limits: Limits,
    /// An actor with no command for this long stops; the next command starts a new one.
    pub idle_timeout: Duration,
    /// Commands queued per actor before senders wait.
    pub mailbox: usize,
    /// How long a sender waits for room in a full mailbox before giving up with `Unavailable`.
    pub send_timeout: Duration,
    /// Pushes buffered per watched session for watchers that read more slowly than others.
    pub room_capacity: usize,
    /// With other instances about: how often a watched session is compared with the store
    /// (in case a notice was lost) and its presence announced.
    pub resync_interval: Duration,
    /// The shortest time between two `presence` pushes of a session.
    pub presence_interval: Duration,
    /// The shortest time between two pushes of a user's list (changes meanwhile are coalesced).
    pub list_interval: Duration,
}

/// Entry point of the domain for every transport. Writes to a session go through its actor;
/// creation and reads go to the store directly (they see only committed data).
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    registry: SessionRegistry,
    settings: Arc<ActorSettings>,
    lists: Lists,
}

impl Sessions {
    pub fn new(
        store: Arc<dyn SessionStore>,
        settings: ActorSettings,
        fanout: Arc<dyn crate::fanout::Fanout>,
    ) -> Self {
        let settings = Arc::new(settings);
        let lists = Lists::new(
            Arc::clone(&fanout),
            Arc::clone(&store),
            settings.room_capacity,
            settings.list_interval,
            settings.resync_interval,
        );
        let parts = actor::ActorParts {
            store: Arc::clone(&store),
            settings: Arc::clone(&settings),
            fanout: Arc::clone(&fanout),
            lists: lists.clone(),
        };
        let registry = SessionRegistry::new(Box::new(move |id, lease| {
            actor::SessionActor::spawn(id, lease, &parts)
        }));
        // A session's notices go to its actor if it runs here (if not, nothing here watches
        // it); a user's, to their lists.
        let (actors, feeds) = (registry.downgrade(), lists.clone());
        fanout.deliver_to(Arc::new(
            move |topic: Topic<'_>, notice: Notice| match topic {
                Topic::User(uid) => feeds.take_notice(uid, notice),
                Topic::Session(id) => {
                    if let Some(handle) = actors.live(id) {
                        // A full mailbox drops the notice: the actor catches up at the next one,
                        // or at its next resync.
                        let origin = crate::telemetry::traces::Origin::current();
                        let _ = handle
                            .commands
                            .try_send(handle::Command::Notice(notice, origin));
                    }
                }
            },
        ));
        Self {
            registry,
            store,
            settings,
            lists,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.settings.limits
    }

    /// Number of actors currently in memory.
    pub fn live_actors(&self) -> usize {
        self.registry.len()
    }

    /// Whether the store answers a read.
    pub async fn ping_store(&self) -> Result<(), SessionError> {
        Ok(self.store.ping().await?)
    }

    fn new_meta(uid: &str, new: NewSession) -> SessionMeta {
        let now = Timestamp::now();
        SessionMeta {
            id: new_id(),
            session_id: new.session_id,
            uid: uid.to_owned(),
            model: new.model,
            frame_size: new.frame_size,
            style: new.style,
            status: Status::Active,
            started_at: new.started_at.unwrap_or(now),
            completed_at: None,
            created_at: now,
            updated_at: now,
            seq: 0,
            total_images: 0,
        }
    }

    /// Creates a session; `Conflict` if the user already has its `sessionId`.
    pub async fn create(&self, uid: &str, new: NewSession) -> Result<String, SessionError> {
        let meta = Self::new_meta(uid, new);
        self.store.create(&meta).await?;
        let id = meta.id.clone();
        self.listed(meta);
        Ok(id)
    }

    /// A session just created, to the user's lists.
    fn listed(&self, meta: SessionMeta) {
        if self.lists.wanted(&meta.uid) {
            self.lists.changed(Arc::new(model::Summary {
                meta,
                last_images: Vec::new(),
            }));
        }
    }

    /// The user's session with this `sessionId`, created if absent; the flag says which.
    pub async fn find_or_create(
        &self,
        uid: &str,
        new: NewSession,
    ) -> Result<(String, bool), SessionError> {
        let meta = Self::new_meta(uid, new);
        let (id, created) = self.store.find_or_create(&meta).await?;
        if created {
            self.listed(meta);
        }
        Ok((id, created))
    }

    /// The session: from its live actor when the store is this process's alone (the actor
    /// holds exactly what is committed), from the store otherwise.
    pub async fn get(&self, uid: &str, id: &str) -> Result<Arc<Session>, SessionError> {
        if self.store.exclusive()
            && let Some(handle) = self.registry.live(id)
            && let Ok(pending) = handle.read(uid, self.settings.send_timeout).await
        {
            return pending.wait().await;
        }
        match self.store.load(id).await? {
            Some(session) if session.meta.uid == uid => Ok(Arc::new(session)),
            _ => Err(SessionError::NotFound),
        }
    }

    /// The session as it stands, or only its version where that costs less to learn (the
    /// caller may hold a copy of that version).
    pub async fn current(&self, uid: &str, id: &str) -> Result<Current, SessionError> {
        if self.store.exclusive()
            && let Some(handle) = self.registry.live(id)
            && let Ok(pending) = handle.read(uid, self.settings.send_timeout).await
        {
            return pending.wait().await.map(Current::Session);
        }
        Current::owned(self.store.locate(id).await?, uid)
    }

    /// The session restored by `url`, or only its version where that costs less to learn.
    pub async fn current_by_image_url(
        &self,
        uid: &str,
        url: &str,
    ) -> Result<Current, SessionError> {
        Current::owned(self.store.locate_by_image_url(uid, url).await?, uid)
    }

    pub async fn list(&self, uid: &str, query: &ListQuery) -> Result<Page, SessionError> {
        Ok(self.store.list(uid, query).await?)
    }

    /// Follows the user's list: its first page as `query` asks, then every change.
    pub async fn follow_list(
        &self,
        uid: &str,
        query: &ListQuery,
    ) -> Result<ListAttachment, SessionError> {
        let (pushes, follower) = self.lists.follow(uid, query.limit);
        let page = self.store.list(uid, query).await?;
        Ok(ListAttachment {
            page,
            pushes,
            follower,
        })
    }

    /// Sends a signal (its size checked by [`Limits::check_signal`]) to the session's sockets
    /// on every instance, but `from`'s own; answers the session's `seq` when sent.
    pub async fn signal(
        &self,
        uid: &str,
        id: &str,
        from: &str,
        data: serde_json::Value,
    ) -> Result<u64, SessionError> {
        let wait = self.settings.send_timeout;
        let signal = Arc::new((uid.to_owned(), Arc::<str>::from(from), data));
        self.enqueue(id, move |handle| {
            let signal = Arc::clone(&signal);
            async move {
                let (uid, from, data) = &*signal;
                handle
                    .signal(uid, Arc::clone(from), data.clone(), wait)
                    .await
            }
        })
        .await?
        .wait()
        .await
    }

    /// The committed events after `after_seq`, in order, when the event log still holds them
    /// all. For a watcher already attached (so already checked as the owner).
    pub async fn events_since(
        &self,
        id: &str,
        after_seq: u64,
    ) -> Result<Option<Vec<model::SessionEvent>>, SessionError> {
        Ok(self.store.events_since(id, after_seq).await?)
    }

    pub async fn append_message(
        &self,
        uid: &str,
        id: &str,
        message: NewMessage,
    ) -> Result<Appended, SessionError> {
        match self.write(uid, id, Op::Append(message)).await? {
            Outcome::Appended {
                message_id,
                orders,
                seq,
            } => Ok(Appended {
                message_id,
                orders,
                seq,
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// Marks the session completed; returns its `seq`.
    pub async fn complete(
        &self,
        uid: &str,
        id: &str,
        completed_at: Option<Timestamp>,
    ) -> Result<u64, SessionError> {
        let outcome = self.write(uid, id, Op::Complete { completed_at }).await?;
        Ok(outcome.seq())
    }

    /// Applies a `PATCH`; returns the session's `seq`.
    pub async fn update(
        &self,
        uid: &str,
        id: &str,
        changes: FieldChanges,
    ) -> Result<u64, SessionError> {
        let outcome = self.write(uid, id, Op::Update(changes)).await?;
        Ok(outcome.seq())
    }

    pub async fn delete(&self, uid: &str, id: &str) -> Result<(), SessionError> {
        let wait = self.settings.send_timeout;
        let uid = uid.to_owned();
        self.enqueue(id, move |handle| {
            let uid = uid.clone();
            async move { handle.delete(&uid, wait).await }
        })
        .await?
        .wait()
        .await
    }

    /// Queues a write behind those already queued for the session and returns at once; the
    /// answer comes when its group is committed. Writes submitted one after another by one
    /// caller apply in that order.
    pub async fn submit(
        &self,
        uid: &str,
        id: &str,
        op: Op,
    ) -> Result<Pending<Outcome>, SessionError> {
        let wait = self.settings.send_timeout;
        let uid = uid.to_owned();
        self.enqueue(id, move |handle| {
            let (uid, op) = (uid.clone(), op.clone());
            async move { handle.write(&uid, op, wait).await }
        })
        .await
    }

    async fn write(&self, uid: &str, id: &str, op: Op) -> Result<Outcome, SessionError> {
        self.submit(uid, id, op).await?.wait().await
    }

    /// Attaches a watcher to the session: a snapshot (or, given `since`, the events after it)
    /// and then every push, with nothing missed or repeated in between.
    pub async fn watch(
        &self,
        uid: &str,
        id: &str,
        since: Option<u64>,
    ) -> Result<Attachment, SessionError> {
        let wait = self.settings.send_timeout;
        let uid = uid.to_owned();
        self.enqueue(id, move |handle| {
            let uid = uid.clone();
            async move { handle.watch(&uid, since, wait).await }
        })
        .await?
        .wait()
        .await
    }

    /// Queues a command with the session's actor (see [`SessionRegistry::enqueue`]).
    async fn enqueue<T, F, Fut>(&self, id: &str, send: F) -> Result<Pending<T>, SessionError>
    where
        F: Fn(SessionHandle) -> Fut,
        Fut: std::future::Future<Output = Result<Pending<T>, SendError>>,
    {
        self.registry.enqueue(id, send).await
    }
}

fn unexpected(outcome: &Outcome) -> SessionError {
    SessionError::Unavailable(format!("unexpected answer {outcome:?}"))
}
