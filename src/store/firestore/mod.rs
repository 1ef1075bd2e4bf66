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

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use firestore::errors::FirestoreError;
use firestore::gcloud_sdk::google::firestore::v1::Document;
use firestore::{
    FirestoreDb, FirestoreDbOptions, FirestoreQueryCursor, FirestoreReference, FirestoreResult,
    FirestoreWritePrecondition,
};
use futures::StreamExt as _;

use super::{Commit, EVENT_LOG_LENGTH, Page, SessionStore, StoreError};
use crate::session::model::{Session, SessionEvent, SessionMeta};
use crate::session::state::Op;
use crate::session::validation::{ListPosition, ListQuery};
use docs::*;

pub struct FirestoreStore {
    db: FirestoreDb,
    /// Longest any one store call may take.
    deadline: Duration,
}

enum Written<T> {
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
    async fn within<T>(
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

    fn doc_id(doc: &Document) -> String {
        doc.name.rsplit('/').next().unwrap_or_default().to_owned()
    }

    async fn session_doc(db: &FirestoreDb, id: &str) -> FirestoreResult<Option<SessionDoc>> {
        db.fluent().select().by_id_in(SESSIONS).obj().one(id).await
    }

    async fn session_key(db: &FirestoreDb, key_id: &str) -> FirestoreResult<Option<SessionKeyDoc>> {
        db.fluent()
            .select()
            .by_id_in(SESSION_KEYS)
            .obj()
            .one(key_id)
            .await
    }

    /// The whole session behind `doc`: its subcollections, or its inline arrays if it is still
    /// in the original shape.
    async fn assemble(db: &FirestoreDb, id: &str, doc: SessionDoc) -> FirestoreResult<Session> {
        if doc.is_legacy() {
            return Ok(doc.legacy_session(id));
        }
        let parent = db.parent_path(SESSIONS, id)?;
        let messages = Self::children(db, &parent, MESSAGES, "position").await?;
        let images = Self::children(db, &parent, IMAGES, "order").await?;
        Ok(docs::assemble(doc.meta(id), messages, images))
    }

    /// Every document of the subcollection `collection` under `parent`, by `field` ascending.
    async fn children<T>(
        db: &FirestoreDb,
        parent: &firestore::ParentPathBuilder,
        collection: &str,
        field: &'static str,
    ) -> FirestoreResult<Vec<T>>
    where
        T: for<'de> serde::Deserialize<'de> + Send,
    {
        db.fluent()
            .select()
            .from(collection)
            .parent(parent)
            .order(move |o| o.fields([o.field(field).asc()]))
            .obj()
            .query()
            .await
    }

    /// Creates the key that makes (uid, sessionId) unique, in `tx`, on the condition that it
    /// does not exist yet.
    fn add_session_key(
        db: &FirestoreDb,
        tx: &mut firestore::FirestoreTransaction<'_>,
        key_id: &str,
        key: &SessionKeyDoc,
    ) -> FirestoreResult<()> {
        db.fluent()
            .update()
            .in_col(SESSION_KEYS)
            .precondition(FirestoreWritePrecondition::Exists(false))
            .document_id(key_id)
            .object(key)
            .add_to_transaction(tx)?;
        Ok(())
    }

    async fn load_session(db: &FirestoreDb, id: &str) -> FirestoreResult<Option<Session>> {
        match Self::session_doc(db, id).await? {
            Some(doc) => Ok(Some(Self::assemble(db, id, doc).await?)),
            None => Ok(None),
        }
    }

    /// Creates the session unless the user has its `sessionId` (by key, or an original-shape
    /// session found by query); returns the existing id then. The key and the session are
    /// created together only if the key does not exist yet, so concurrent creates yield one.
    async fn insert(&self, meta: &SessionMeta) -> FirestoreResult<Option<String>> {
        let db = &self.db;
        let key_id = session_key_id(&meta.uid, &meta.session_id);
        for _ in 0..3 {
            let key = Self::session_key(db, &key_id).await?;
            if let Some(key) = key {
                return Ok(Some(key.session_doc_id));
            }
            let (uid, session_id) = (meta.uid.clone(), meta.session_id.clone());
            let original: Vec<Document> = db
                .fluent()
                .select()
                .from(SESSIONS)
                .filter(move |q| {
                    q.for_all([
                        q.field("uid").eq(uid.clone()),
                        q.field("sessionId").eq(session_id.clone()),
                    ])
                })
                .limit(1)
                .query()
                .await?;
            let existing = original.first().map(Self::doc_id);
            let key = SessionKeyDoc {
                uid: meta.uid.clone(),
                session_id: meta.session_id.clone(),
                session_doc_id: existing.clone().unwrap_or_else(|| meta.id.clone()),
            };
            let mut tx = db.begin_transaction().await?;
            Self::add_session_key(db, &mut tx, &key_id, &key)?;
            if existing.is_none() {
                db.fluent()
                    .update()
                    .in_col(SESSIONS)
                    .precondition(FirestoreWritePrecondition::Exists(false))
                    .document_id(&meta.id)
                    .object(&SessionDoc::from_meta(meta, 0))
                    .add_to_transaction(&mut tx)?;
            }
            match tx.commit().await {
                Ok(_) => return Ok(existing),
                // Another create of the same pair won: read its key.
                Err(err) if is_conflict(&err) => continue,
                Err(err) => return Err(err),
            }
        }
        let key = Self::session_key(db, &key_id).await?;
        Ok(key.map(|k| k.session_doc_id))
    }

    /// The compare-and-set: reads the session (no lock), checks its `seq`, then commits every
    /// write at once on the condition that the session document is still the one read. A
    /// writer that crashes holds nothing, so it cannot block the session for others.
    async fn commit_once(&self, commit: &Commit) -> FirestoreResult<Written<()>> {
        let db = &self.db;
        let id = &commit.meta.id;
        let Some(doc) = db.fluent().select().by_id_in(SESSIONS).one(id).await? else {
            return Ok(Written::Missing);
        };
        let current: SessionDoc = FirestoreDb::deserialize_doc_to(&doc)?;
        if current.is_legacy() {
            return Ok(Written::Legacy);
        }
        if current.seq.max(0) as u64 != commit.expected_seq {
            return Ok(Written::SeqMismatch);
        }
        let parent = db.parent_path(SESSIONS, id)?;
        let mut tx = db.begin_transaction().await?;
        let mut message_count = current.message_count.max(0) as usize;
        let mut lookups = BTreeSet::new();
        for event in &commit.events {
            let images = match event {
                SessionEvent::MessageAdded { message, .. } => {
                    message_count += 1;
                    db.fluent()
                        .update()
                        .in_col(MESSAGES)
                        .document_id(numbered_id(message_count as u64))
                        .parent(&parent)
                        .object(&MessageDoc::new(message_count, message))
                        .add_to_transaction(&mut tx)?;
                    message
                        .images
                        .iter()
                        .map(|i| (message.id.as_str(), i))
                        .collect()
                }
                SessionEvent::ImageAdded {
                    message_id, image, ..
                } => vec![(message_id.as_str(), image)],
                SessionEvent::SessionUpdated { .. } => Vec::new(),
            };
            for (message_id, image) in images {
                db.fluent()
                    .update()
                    .in_col(IMAGES)
                    .document_id(numbered_id(u64::from(image.order)))
                    .parent(&parent)
                    .object(&ImageDoc::new(message_id, image))
                    .add_to_transaction(&mut tx)?;
                lookups.extend(image.lookup_urls().map(str::to_owned));
            }
            let seq = event.seq();
            db.fluent()
                .update()
                .in_col(EVENTS)
                .document_id(numbered_id(seq))
                .parent(&parent)
                .object(&EventDoc::new(event))
                .add_to_transaction(&mut tx)?;
            if seq > EVENT_LOG_LENGTH {
                db.fluent()
                    .delete()
                    .from(EVENTS)
                    .parent(&parent)
                    .document_id(numbered_id(seq - EVENT_LOG_LENGTH))
                    .add_to_transaction(&mut tx)?;
            }
        }
        for url in lookups {
            add_lookup(db, &mut tx, &commit.meta.uid, &url, id)?;
        }
        db.fluent()
            .update()
            .in_col(SESSIONS)
            .precondition(unchanged_since(&doc))
            .document_id(id)
            .object(&SessionDoc::from_meta(&commit.meta, message_count))
            .add_to_transaction(&mut tx)?;
        match tx.commit().await {
            Ok(_) => Ok(Written::Done(())),
            Err(err) if is_conflict(&err) => Ok(Written::SeqMismatch),
            Err(err) => Err(err),
        }
    }

    /// The user's sessions holding `url`: from its lookup document, plus any session still in
    /// the original shape (found by its `imageUrls`).
    async fn sessions_with_url(
        &self,
        uid: &str,
        url: &str,
    ) -> FirestoreResult<Vec<(String, SessionDoc)>> {
        let db = &self.db;
        let lookup: Option<LookupDoc> = db
            .fluent()
            .select()
            .by_id_in(IMAGE_LOOKUPS)
            .obj()
            .one(lookup_id(uid, url))
            .await?;
        let mut found = Vec::new();
        if let Some(lookup) = lookup {
            let ids: Vec<String> = lookup.sessions.into_keys().collect();
            let mut docs = db
                .fluent()
                .select()
                .by_id_in(SESSIONS)
                .obj::<SessionDoc>()
                .batch(ids)
                .await?;
            while let Some(item) = docs.next().await {
                let (id, doc) = item;
                if let Some(doc) = doc.filter(|d| d.uid == uid) {
                    found.push((id, doc));
                }
            }
        }
        let (uid, url) = (uid.to_owned(), url.to_owned());
        let original: Vec<Document> = db
            .fluent()
            .select()
            .from(SESSIONS)
            .filter(move |q| {
                q.for_all([
                    q.field("uid").eq(uid.clone()),
                    q.field("imageUrls").array_contains(url.clone()),
                ])
            })
            .order(|o| o.fields([o.field("updatedAt").desc()]))
            .limit(1)
            .query()
            .await?;
        for doc in original {
            let session: SessionDoc = FirestoreDb::deserialize_doc_to(&doc)?;
            if session.is_legacy() {
                found.push((Self::doc_id(&doc), session));
            }
        }
        Ok(found)
    }

    async fn list_page(&self, uid: &str, query: &ListQuery) -> FirestoreResult<Page> {
        let db = &self.db;
        let (uid_value, status) = (uid.to_owned(), query.status.map(|s| s.as_str().to_owned()));
        let mut select = db
            .fluent()
            .select()
            .from(SESSIONS)
            .filter(move |q| {
                q.for_all([
                    q.field("uid").eq(uid_value.clone()),
                    status.clone().and_then(|s| q.field("status").eq(s)),
                ])
            })
            .order(|o| o.fields([o.field("updatedAt").desc(), o.field("__name__").desc()]))
            .limit(query.limit as u32 + 1);
        if let Some(after) = &query.after {
            let name = format!("{}/{SESSIONS}/{}", db.get_documents_path(), after.id);
            select = select.start_at(FirestoreQueryCursor::AfterValue(vec![
                to_firestore(after.updated_at).into(),
                FirestoreReference(name).into(),
            ]));
        }
        let mut docs = select.query().await?;
        let next = if docs.len() > query.limit {
            docs.truncate(query.limit);
            docs.last().map(|doc| {
                let session: Option<SessionDoc> = FirestoreDb::deserialize_doc_to(doc).ok();
                ListPosition {
                    updated_at: session
                        .map(|s| s.meta("").updated_at)
                        .unwrap_or(crate::session::time::Timestamp::from_millis(0)),
                    id: Self::doc_id(doc),
                }
            })
        } else {
            None
        };
        let mut sessions = Vec::with_capacity(docs.len());
        for doc in &docs {
            let session: SessionDoc = FirestoreDb::deserialize_doc_to(doc)?;
            sessions.push(Self::assemble(db, &Self::doc_id(doc), session).await?);
        }
        Ok(Page { sessions, next })
    }

    async fn events_after(
        &self,
        id: &str,
        after_seq: u64,
    ) -> FirestoreResult<Option<(u64, Vec<EventDoc>)>> {
        let db = &self.db;
        let Some(doc) = Self::session_doc(db, id).await? else {
            return Ok(None);
        };
        let parent = db.parent_path(SESSIONS, id)?;
        let events: Vec<EventDoc> = db
            .fluent()
            .select()
            .from(EVENTS)
            .parent(&parent)
            .filter(move |q| q.for_all([q.field("seq").greater_than(after_seq as i64)]))
            .order(|o| o.fields([o.field("seq").asc()]))
            .obj()
            .query()
            .await?;
        Ok(Some((doc.seq.max(0) as u64, events)))
    }
}

/// A write condition: the document is still the version read.
fn unchanged_since(doc: &Document) -> FirestoreWritePrecondition {
    match &doc.update_time {
        Some(time) => FirestoreWritePrecondition::UpdateTime(
            firestore::FirestoreInstant::new(time.seconds, time.nanos).unwrap_or_default(),
        ),
        None => FirestoreWritePrecondition::Exists(true),
    }
}

/// A write refused because its condition no longer held (someone else wrote first).
fn is_conflict(err: &FirestoreError) -> bool {
    match err {
        FirestoreError::DataConflictError(_) | FirestoreError::DataNotFoundError(_) => true,
        FirestoreError::DatabaseError(db) => db.public.code == "FailedPrecondition",
        _ => false,
    }
}

fn add_lookup(
    db: &FirestoreDb,
    tx: &mut firestore::FirestoreTransaction<'_>,
    uid: &str,
    url: &str,
    id: &str,
) -> FirestoreResult<()> {
    let (lookup, fields) = lookup_entry(uid, url, id);
    db.fluent()
        .update()
        .fields(fields)
        .in_col(IMAGE_LOOKUPS)
        .document_id(lookup_id(uid, url))
        .object(&lookup)
        .add_to_transaction(tx)?;
    Ok(())
}

/// The lookup document saying session `id` of `uid` holds `url`, and the fields to write: only
/// that session's entry in `sessions`, so the entries of the user's other sessions stay.
fn lookup_entry(uid: &str, url: &str, id: &str) -> (LookupDoc, [String; 3]) {
    let lookup = LookupDoc {
        uid: uid.to_owned(),
        url: url.to_owned(),
        sessions: [(id.to_owned(), true)].into(),
    };
    let fields = [
        "uid".to_owned(),
        "url".to_owned(),
        format!("sessions.`{id}`"),
    ];
    (lookup, fields)
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
                assert_eq!(index["collectionGroup"], super::SESSIONS);
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
