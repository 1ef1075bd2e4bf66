//! Reading sessions: a session with its subcollections, the sessions holding an image URL, a
//! page of a user's sessions, and the event log.

use firestore::gcloud_sdk::google::firestore::v1::Document;
use firestore::{FirestoreDb, FirestoreQueryCursor, FirestoreReference, FirestoreResult};
use futures::StreamExt as _;

use super::FirestoreStore;
use super::docs::*;
use crate::session::model::Session;
use crate::session::validation::{ListPosition, ListQuery};
use crate::store::Page;

impl FirestoreStore {
    pub(super) async fn session_doc(
        db: &FirestoreDb,
        id: &str,
    ) -> FirestoreResult<Option<SessionDoc>> {
        db.fluent().select().by_id_in(SESSIONS).obj().one(id).await
    }

    pub(super) async fn session_key(
        db: &FirestoreDb,
        key_id: &str,
    ) -> FirestoreResult<Option<SessionKeyDoc>> {
        db.fluent()
            .select()
            .by_id_in(SESSION_KEYS)
            .obj()
            .one(key_id)
            .await
    }

    /// The whole session behind `doc`: its subcollections, or its inline arrays if it is still
    /// in the original shape.
    pub(super) async fn assemble(
        db: &FirestoreDb,
        id: &str,
        doc: SessionDoc,
    ) -> FirestoreResult<Session> {
        if doc.is_legacy() {
            return Ok(doc.legacy_session(id));
        }
        let parent = db.parent_path(SESSIONS, id)?;
        let messages = Self::children(db, &parent, MESSAGES, "position").await?;
        let images = Self::children(db, &parent, IMAGES, "order").await?;
        Ok(super::docs::assemble(doc.meta(id), messages, images))
    }

    /// Every document of the subcollection `collection` under `parent`, by `field` ascending.
    pub(super) async fn children<T>(
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

    pub(super) async fn load_session(
        db: &FirestoreDb,
        id: &str,
    ) -> FirestoreResult<Option<Session>> {
        match Self::session_doc(db, id).await? {
            Some(doc) => Ok(Some(Self::assemble(db, id, doc).await?)),
            None => Ok(None),
        }
    }

    /// The user's sessions holding `url`: from its lookup document, plus any session still in
    /// the original shape (found by its `imageUrls`).
    pub(super) async fn sessions_with_url(
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

    pub(super) async fn list_page(&self, uid: &str, query: &ListQuery) -> FirestoreResult<Page> {
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

    pub(super) async fn events_after(
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
