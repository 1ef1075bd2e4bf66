//! Persistence of sessions behind one trait, so the embedded SQLite store and the production
//! store serve the same API and pass the same tests.

pub mod codec;
pub mod firestore;
pub mod sqlite;

use async_trait::async_trait;

use crate::domain::commit::{Commit, WriteSize};
use crate::domain::list::{ListPosition, ListQuery};
use crate::domain::model::{Session, SessionEvent, SessionMeta};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session not found")]
    NotFound,
    /// The user already has a session with this `sessionId`.
    #[error("the user already has this sessionId (document {existing_id})")]
    DuplicateSession { existing_id: String },
    /// The session's `seq` is no longer the one the commit was computed from: another writer
    /// committed first. The caller reloads and retries.
    #[error("session changed concurrently")]
    SeqMismatch,
    /// The store failed or did not answer in time; the operation may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Events kept per session for resuming sockets; older ones are trimmed as new ones commit.
pub const EVENT_LOG_LENGTH: u64 = 1_000;

/// A session's owner and version: enough to tell whether a copy of it is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub id: String,
    pub uid: String,
    pub seq: u64,
}

impl Version {
    pub fn of(session: &Session) -> Self {
        Self {
            id: session.meta.id.clone(),
            uid: session.meta.uid.clone(),
            seq: session.meta.seq,
        }
    }
}

/// What a store answers to "which session, as of when": the version alone where it can tell it
/// for less than reading the session, or else the session itself.
#[derive(Debug)]
pub enum Located {
    Version(Version),
    Session(Session),
}

/// One page of a user's sessions and where the next page starts.
#[derive(Debug, Clone)]
pub struct Page {
    pub sessions: Vec<Session>,
    pub next: Option<ListPosition>,
}

/// The contract every store keeps. Reads see only committed data; writes are durable once they
/// return `Ok`.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session (`seq` 0, no messages). Fails with
    /// [`StoreError::DuplicateSession`] if its user already has its `sessionId`.
    async fn create(&self, meta: &SessionMeta) -> Result<(), StoreError>;

    /// Returns the id of the user's session with `meta.session_id`, creating it from `meta` if
    /// there is none; atomic under any concurrency. The flag says whether it was created.
    async fn find_or_create(&self, meta: &SessionMeta) -> Result<(String, bool), StoreError>;

    /// The whole session, whoever owns it.
    async fn load(&self, id: &str) -> Result<Option<Session>, StoreError>;

    /// The user's most recently updated session holding an image whose `url`, `originalUrl`
    /// or `firebaseUrl` is exactly `url`.
    async fn find_by_image_url(&self, uid: &str, url: &str) -> Result<Option<Session>, StoreError>;

    /// The session [`Self::load`] would answer, or only its version.
    async fn locate(&self, id: &str) -> Result<Option<Located>, StoreError> {
        Ok(self.load(id).await?.map(Located::Session))
    }

    /// The session [`Self::find_by_image_url`] would answer, or only its version.
    async fn locate_by_image_url(
        &self,
        uid: &str,
        url: &str,
    ) -> Result<Option<Located>, StoreError> {
        Ok(self
            .find_by_image_url(uid, url)
            .await?
            .map(Located::Session))
    }

    /// The user's sessions, `updatedAt` descending, ties broken by id descending.
    async fn list(&self, uid: &str, query: &ListQuery) -> Result<Page, StoreError>;

    /// Applies a group of changes if the stored `seq` is still `commit.expected_seq`, and
    /// appends its events to the session's event log (which keeps the latest
    /// [`EVENT_LOG_LENGTH`]).
    async fn commit(&self, commit: &Commit) -> Result<(), StoreError>;

    /// The session's events after `after_seq`, in order, if the log still holds every one of
    /// them up to the session's current `seq` (there may be more, committed meanwhile); `None`
    /// if it does not.
    async fn events_since(
        &self,
        id: &str,
        after_seq: u64,
    ) -> Result<Option<Vec<SessionEvent>>, StoreError>;

    /// Deletes the session, its messages, images and image lookups.
    async fn delete(&self, id: &str) -> Result<(), StoreError>;

    /// Whether this process is the store's only writer (the embedded store): then the state a
    /// session's live actor holds is the store's, and reads may be answered from it.
    fn exclusive(&self) -> bool {
        false
    }

    /// A read that touches the store for real, for readiness: `Ok` when the store answers.
    async fn ping(&self) -> Result<(), StoreError> {
        // No session has this id: generated ids are 20 characters.
        self.load("ping").await.map(|_| ())
    }

    /// How to cut a group of writes into commits this store can make, each atomic: the
    /// lengths of consecutive runs of `writes` (each write's size), in order, summing to
    /// `writes.len()`. A store without a limit commits the group at once.
    fn split_group(&self, writes: &[WriteSize]) -> Vec<usize> {
        vec![writes.len()]
    }
}
