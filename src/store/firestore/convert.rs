//! Converting a session from the original one-document shape to the current layout: its
//! messages, images and lookups are written first (invisible until the switch, and
//! idempotent), then the session document is replaced if it is still the version converted.

use firestore::{FirestoreDb, FirestoreResult};

use super::FirestoreStore;
use super::docs::*;
use super::limits::{self, Batches};
use super::write::{is_conflict, lookup_entry, unchanged_since};
use crate::domain::model::Session;
use crate::store::StoreError;

impl FirestoreStore {
    /// Converts a session in the original one-document shape to the current layout: its
    /// messages, images and lookups are written first (invisible until the switch, and
    /// idempotent), then a transaction replaces the session document if it is unchanged.
    /// Returns whether this call converted it.
    pub async fn convert(&self, id: &str) -> Result<bool, StoreError> {
        for _ in 0..3 {
            let Some(doc) = self.within("read", Self::session_doc(&self.db, id)).await? else {
                return Ok(false);
            };
            if !doc.is_legacy() {
                return Ok(false);
            }
            let session = doc.legacy_session(id);
            self.within("convert", self.write_subdocuments(&session))
                .await?;
            if self.within("convert", self.switch_layout(&session)).await? {
                return Ok(true);
            }
        }
        Err(StoreError::Unavailable(format!(
            "firestore: session {id} kept changing during its conversion"
        )))
    }

    async fn write_subdocuments(&self, session: &Session) -> FirestoreResult<()> {
        let db = &self.db;
        let id = &session.meta.id;
        let parent = db.parent_path(SESSIONS, id)?;
        let writer = db.create_simple_batch_writer().await?;
        // Original sessions may hold messages of any size: the writes go in as many batches
        // as they need.
        let mut batches = Batches::new(&writer);
        for (position, message) in session.messages.iter().enumerate() {
            db.fluent()
                .update()
                .in_col(MESSAGES)
                .document_id(numbered_id(position as u64 + 1))
                .parent(&parent)
                .object(&MessageDoc::new(position + 1, message))
                .add_to_batch(batches.room(limits::MESSAGE).await?)?;
            for image in &message.images {
                let batch = batches.room(limits::IMAGE).await?;
                db.fluent()
                    .update()
                    .in_col(IMAGES)
                    .document_id(numbered_id(u64::from(image.order)))
                    .parent(&parent)
                    .object(&ImageDoc::new(&message.id, image))
                    .add_to_batch(batch)?;
                for url in image.lookup_urls() {
                    let (lookup, fields) = lookup_entry(&session.meta.uid, url, id);
                    db.fluent()
                        .update()
                        .fields(fields)
                        .in_col(IMAGE_LOOKUPS)
                        .document_id(lookup_id(&session.meta.uid, url))
                        .object(&lookup)
                        .add_to_batch(batch)?;
                }
            }
        }
        batches.finish().await
    }

    async fn switch_layout(&self, session: &Session) -> FirestoreResult<bool> {
        let db = &self.db;
        let id = &session.meta.id;
        let Some(doc) = db.fluent().select().by_id_in(SESSIONS).one(id).await? else {
            return Ok(false);
        };
        let current: SessionDoc = FirestoreDb::deserialize_doc_to(&doc)?;
        if !current.is_legacy() {
            return Ok(true);
        }
        if current.legacy_session(id) != *session {
            return Ok(false);
        }
        let key_id = session_key_id(&session.meta.uid, &session.meta.session_id);
        let key = Self::session_key(db, &key_id).await?;
        let mut tx = db.begin_transaction().await?;
        if key.is_none() {
            let key = SessionKeyDoc {
                uid: session.meta.uid.clone(),
                session_id: session.meta.session_id.clone(),
                session_doc_id: id.clone(),
            };
            Self::add_session_key(db, &mut tx, &key_id, &key)?;
        }
        let mut meta = session.meta.clone();
        meta.seq = 0;
        db.fluent()
            .update()
            .in_col(SESSIONS)
            .precondition(unchanged_since(&doc))
            .document_id(id)
            .object(&SessionDoc::from_meta(&meta, session.messages.len()))
            .add_to_transaction(&mut tx)?;
        match tx.commit().await {
            Ok(_) => Ok(true),
            Err(err) if is_conflict(&err) => Ok(false),
            Err(err) => Err(err),
        }
    }
}
