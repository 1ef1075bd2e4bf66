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
mod held;
mod layout;
pub(crate) mod limits;
pub mod migrate;
mod read;
mod trip;
mod turn;
mod write;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firestore::gcloud_sdk::google::firestore::v1::Document;
use firestore::{FirestoreDb, FirestoreDbOptions, FirestoreResult};

use super::{Page, SessionStore, StoreError};
use crate::domain::commit::Commit;
use crate::domain::commit::WriteSize;
use crate::domain::list::ListQuery;
use crate::domain::model::{Session, SessionEvent, SessionMeta};
use trip::Trip;

pub struct FirestoreStore {
    db: FirestoreDb,
    /// Longest any one store call may take.
    deadline: Duration,
    /// Each session document's version as this instance last wrote or read it.
    versions: held::Versions,
    /// Sessions by version, for reads that find the document unchanged.
    bodies: held::Bodies,
    /// Whether sessions in the original shape may remain.
    layout: Arc<layout::Layout>,
    /// This instance's pending commits, and the turns it holds on contended sessions.
    turns: turn::Turns,
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
        let layout = Arc::new(layout::Layout::new());
        match tokio::time::timeout(deadline, layout.read(&db)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%err, "cannot read the layout record"),
            Err(_) => tracing::warn!("reading the layout record timed out"),
        }
        Ok(Self {
            db,
            deadline,
            versions: held::Versions::new(),
            bodies: held::Bodies::new(),
            layout,
            turns: turn::Turns::new(),
        })
    }

    /// Runs `call` under the deadline, mapping every failure to `Unavailable`.
    pub(super) async fn within<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = FirestoreResult<T>>,
    ) -> Result<T, StoreError> {
        use tracing::Instrument as _;
        let span = crate::traced_span!("store", store = "firestore", operation = what);
        match tokio::time::timeout(self.deadline, call)
            .instrument(span)
            .await
        {
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
        let mut trip = Trip::new("load");
        let session = self
            .within("load", self.read_session(&mut trip, id))
            .await?;
        Ok(session.map(|s| Session::clone(&s)))
    }

    async fn find_by_image_url(&self, uid: &str, url: &str) -> Result<Option<Session>, StoreError> {
        let mut trip = Trip::new("restore");
        let session = self
            .within("restore", self.restore(&mut trip, uid, url))
            .await?;
        Ok(session.map(|s| Session::clone(&s)))
    }

    async fn list(&self, uid: &str, query: &ListQuery) -> Result<Page, StoreError> {
        let mut trip = Trip::new("list");
        self.within("list", self.list_page(&mut trip, uid, query))
            .await
    }

    async fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        let id = &commit.meta.id;
        let mut trip = Trip::new("commit");
        self.turns.trying(id);
        for _ in 0..3 {
            let written = self
                .within("commit", self.commit_once(&mut trip, commit))
                .await;
            // A lost race leaves the commit pending: its next try is the same commit, older.
            if !matches!(written, Ok(Written::SeqMismatch | Written::Legacy)) {
                self.turns.ended(id);
            }
            match written? {
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
        let mut trip = Trip::new("events");
        let Some((current, events)) = self
            .within("events", self.events_after(&mut trip, id, after_seq))
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
        self.versions.forget(id);
        self.bodies.forget(id);
        let Some(doc) = self.within("delete", self.remove(id)).await? else {
            return Err(StoreError::NotFound);
        };
        if let Err(err) = self.within("delete", self.clean_up(id, &doc.uid)).await {
            tracing::warn!(session = %id, error = %err, "deleted session left documents behind");
        }
        Ok(())
    }

    fn split_group(&self, writes: &[WriteSize]) -> Vec<usize> {
        limits::split_group(writes)
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

    /// `firestore.indexes.json` exempts from indexing exactly the fields no query uses.
    #[test]
    fn the_index_file_exempts_exactly_the_fields_no_query_uses() {
        use std::collections::{BTreeMap, BTreeSet};

        use super::docs::*;
        use crate::domain::model::{Image, Message, SessionEvent, SessionMeta, Status};
        use crate::domain::time::Timestamp;

        let now = Timestamp::from_millis(1);
        let meta = SessionMeta {
            id: "s".into(),
            session_id: "x".into(),
            uid: "u".into(),
            model: "m".into(),
            frame_size: Some("f".into()),
            style: Some("s".into()),
            status: Status::Completed,
            started_at: now,
            completed_at: Some(now),
            created_at: now,
            updated_at: now,
            seq: 1,
            total_images: 1,
        };
        let image = Image {
            id: "i".into(),
            url: "u".into(),
            storage_path: Some("p".into()),
            original_url: Some("o".into()),
            firebase_url: Some("f".into()),
            order: 1,
        };
        let message = Message {
            id: "m".into(),
            prompt: "p".into(),
            timestamp: now,
            images: vec![image.clone()],
        };
        let event = SessionEvent::MessageAdded {
            seq: 1,
            message: message.clone(),
        };
        fn fields(doc: impl serde::Serialize) -> BTreeSet<String> {
            let value = serde_json::to_value(doc).unwrap();
            value.as_object().unwrap().keys().cloned().collect()
        }
        let mut written: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        written.insert(SESSIONS, fields(SessionDoc::from_meta(&meta, 1)));
        written
            .get_mut(SESSIONS)
            .unwrap()
            .extend(ORIGINAL_FIELDS.iter().map(|f| f.to_string()));
        // Written by a claim (a transform), never with the document.
        written.get_mut(SESSIONS).unwrap().insert(TURN.to_owned());
        written.insert(MESSAGES, fields(MessageDoc::new(1, &message)));
        written.insert(IMAGES, fields(ImageDoc::new("m", &image)));
        let mut events = fields(EventDoc::new(&event));
        events.insert("frame".into()); // what the log held before it was versioned
        written.insert(EVENTS, events);
        written.insert(
            IMAGE_LOOKUPS,
            fields(super::write::lookup_entry("u", "x", "s").0),
        );
        written.insert(
            SESSION_KEYS,
            fields(SessionKeyDoc {
                uid: "u".into(),
                session_id: "x".into(),
                session_doc_id: "s".into(),
            }),
        );
        written.insert(
            super::layout::META,
            fields(super::layout::LayoutDoc {
                original_sessions: false,
                checked_at: String::new(),
            }),
        );

        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/firestore.indexes.json");
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut exempt: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for field in file["fieldOverrides"].as_array().unwrap() {
            assert_eq!(field["indexes"], serde_json::json!([]), "{field}");
            exempt
                .entry(field["collectionGroup"].as_str().unwrap().to_owned())
                .or_default()
                .insert(field["fieldPath"].as_str().unwrap().to_owned());
        }
        for (collection, fields) in &written {
            let queried: BTreeSet<String> = QUERIED_FIELDS
                .iter()
                .filter(|(c, _)| c == collection)
                .map(|(_, f)| f.to_string())
                .collect();
            assert!(
                queried.is_subset(fields),
                "{collection}: a queried field is never written"
            );
            let expected: BTreeSet<String> = fields.difference(&queried).cloned().collect();
            assert_eq!(
                exempt.remove(*collection).unwrap_or_default(),
                expected,
                "{collection}: the exempt fields are those no query uses"
            );
        }
        assert!(
            exempt.is_empty(),
            "overrides for collections the store does not write: {exempt:?}"
        );
    }
}
