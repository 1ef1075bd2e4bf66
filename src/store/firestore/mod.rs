//! The production store: Cloud Firestore, through the `firestore` crate.
//!
//! A session is spread over documents (see [`docs`]) so that no session is limited by
//! Firestore's 1 MiB document size, and restore by URL is a keyed read. Uniqueness of
//! (uid, sessionId) and the compare-and-set on `seq` are enforced inside Firestore
//! transactions. Every call has a deadline; failures become [`StoreError::Unavailable`] with
//! the cause, which the API logs and answers as a retryable 503.

mod convert;
mod delete;
mod docs;
mod limits;
pub mod migrate;
mod read;
mod write;

use std::time::Duration;

use async_trait::async_trait;
use firestore::gcloud_sdk::google::firestore::v1::Document;
use firestore::{FirestoreDb, FirestoreDbOptions, FirestoreResult};

use super::{Commit, Page, SessionStore, StoreError};
use crate::session::model::{Session, SessionEvent, SessionMeta};
use crate::session::state::Op;
use crate::session::validation::ListQuery;

pub struct FirestoreStore {
    db: FirestoreDb,
    /// Longest any one store call may take.
    deadline: Duration,
}

pub(super) enum Written<T> {
    Done(T),
    Missing,
    SeqMismatch,
    /// The session is still in the original one-document shape: convert it first.
    Legacy,
}

impl FirestoreStore {
    /// Connects to `project` (credentials from the environment, or the emulator named by
    /// `FIRESTORE_EMULATOR_HOST`).
    pub async fn connect(project: &str, deadline: Duration) -> Result<Self, StoreError> {
        let options = FirestoreDbOptions::new(project.to_owned());
        let db = tokio::time::timeout(deadline, FirestoreDb::with_options(options))
            .await
            .map_err(|_| StoreError::Unavailable("firestore: connecting timed out".into()))?
            .map_err(|e| StoreError::Unavailable(format!("firestore: {e}")))?;
        Ok(Self { db, deadline })
    }

    /// Runs `call` under the deadline, mapping every failure to `Unavailable`.
    pub(super) async fn within<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = FirestoreResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.deadline, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(StoreError::Unavailable(format!("firestore {what}: {err}"))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "firestore {what}: no answer within {:?}",
                self.deadline
            ))),
        }
    }

    pub(super) fn doc_id(doc: &Document) -> String {
        doc.name.rsplit('/').next().unwrap_or_default().to_owned()
    }
}

#[async_trait]
impl SessionStore for FirestoreStore {
    async fn create(&self, meta: &SessionMeta) -> Result<(), StoreError> {
        match self.within("create", self.insert(meta)).await? {
            None => Ok(()),
            Some(existing_id) => Err(StoreError::DuplicateSession { existing_id }),
        }
    }

    async fn find_or_create(&self, meta: &SessionMeta) -> Result<(String, bool), StoreError> {
        match self.within("find-or-create", self.insert(meta)).await? {
            None => Ok((meta.id.clone(), true)),
            Some(existing_id) => Ok((existing_id, false)),
        }
    }

    async fn load(&self, id: &str) -> Result<Option<Session>, StoreError> {
        self.within("load", Self::load_session(&self.db, id)).await
    }

    async fn find_by_image_url(&self, uid: &str, url: &str) -> Result<Option<Session>, StoreError> {
        let found = self
            .within("restore", self.sessions_with_url(uid, url))
            .await?;
        let best = found
            .into_iter()
            .map(|(id, doc)| (doc.meta(&id).updated_at, id, doc))
            .max_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        match best {
            Some((_, id, doc)) => Ok(Some(
                self.within("restore", Self::assemble(&self.db, &id, doc))
                    .await?,
            )),
            None => Ok(None),
        }
    }

    async fn list(&self, uid: &str, query: &ListQuery) -> Result<Page, StoreError> {
        self.within("list", self.list_page(uid, query)).await
    }

    async fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        for _ in 0..3 {
            match self.within("commit", self.commit_once(commit)).await? {
                Written::Done(()) => return Ok(()),
                Written::Missing => return Err(StoreError::NotFound),
                Written::SeqMismatch => return Err(StoreError::SeqMismatch),
                Written::Legacy => {
                    self.convert(&commit.meta.id).await?;
                }
            }
        }
        Err(StoreError::SeqMismatch)
    }

    async fn events_since(
        &self,
        id: &str,
        after_seq: u64,
    ) -> Result<Option<Vec<SessionEvent>>, StoreError> {
        let Some((current, events)) = self
            .within("events", self.events_after(id, after_seq))
            .await?
        else {
            return Err(StoreError::NotFound);
        };
        // The events are read after the session: more may have been committed in between.
        let complete = events.len() as u64 >= current.saturating_sub(after_seq)
            && events
                .iter()
                .zip(after_seq + 1..)
                .all(|(e, expected)| e.seq.max(0) as u64 == expected);
        if !complete {
            return Ok(None);
        }
        let mut decoded = Vec::with_capacity(events.len());
        for doc in events {
            match doc.event() {
                Ok(event) => decoded.push(event),
                Err(cause) => {
                    // Not replayable: the socket gets a snapshot instead.
                    tracing::error!(session = %id, seq = doc.seq, %cause, "an event of the log does not decode");
                    return Ok(None);
                }
            }
        }
        Ok(Some(decoded))
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let Some(doc) = self.within("delete", self.remove(id)).await? else {
            return Err(StoreError::NotFound);
        };
        if let Err(err) = self.within("delete", self.clean_up(id, &doc.uid)).await {
            tracing::warn!(session = %id, error = %err, "deleted session left documents behind");
        }
        Ok(())
    }

    fn split_group(&self, ops: &[&Op]) -> Vec<usize> {
        limits::split_group(ops)
    }
}

#[cfg(test)]
mod tests {
    /// Every composite index a query of this store needs is in `firestore.indexes.json`
    /// (the emulator does not enforce indexes, so only this keeps production from refusing
    /// a query).
    #[test]
    fn the_index_file_lists_every_composite_index_the_queries_need() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/firestore.indexes.json");
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let indexes: Vec<String> = file["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|index| {
                assert_eq!(index["collectionGroup"], super::docs::SESSIONS);
                index["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| {
                        let how = f["order"].as_str().or(f["arrayConfig"].as_str()).unwrap();
                        format!("{} {how}", f["fieldPath"].as_str().unwrap())
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect();
        for needed in [
            // list
            "uid ASCENDING, updatedAt DESCENDING, __name__ DESCENDING",
            // list with a status
            "uid ASCENDING, status ASCENDING, updatedAt DESCENDING, __name__ DESCENDING",
            // restore of a session still in the original shape
            "uid ASCENDING, imageUrls CONTAINS, updatedAt DESCENDING",
        ] {
            assert!(
                indexes.iter().any(|i| i == needed),
                "missing index: {needed}"
            );
        }
    }
}
