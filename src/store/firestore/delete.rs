//! Deleting a session: its document and key go first, in one commit, so that it is gone for
//! every reader at once; its subcollections and lookup entries are cleaned up after.

use std::collections::BTreeSet;

use firestore::FirestoreResult;
use firestore::gcloud_sdk::google::firestore::v1::Document;

use super::FirestoreStore;
use super::docs::*;
use super::limits::Batches;

impl FirestoreStore {
    pub(super) async fn remove(&self, id: &str) -> FirestoreResult<Option<SessionDoc>> {
        let db = &self.db;
        let Some(doc) = Self::session_doc(db, id).await? else {
            return Ok(None);
        };
        let key_id = session_key_id(&doc.uid, &doc.session_id);
        let key = Self::session_key(db, &key_id).await?;
        let mut tx = db.begin_transaction().await?;
        if key.is_some_and(|k| k.session_doc_id == id) {
            db.fluent()
                .delete()
                .from(SESSION_KEYS)
                .document_id(&key_id)
                .add_to_transaction(&mut tx)?;
        }
        db.fluent()
            .delete()
            .from(SESSIONS)
            .document_id(id)
            .add_to_transaction(&mut tx)?;
        tx.commit().await?;
        Ok(Some(doc))
    }

    /// After the session document is gone: its subcollections and its entries in lookups.
    pub(super) async fn clean_up(&self, id: &str, uid: &str) -> FirestoreResult<()> {
        let db = &self.db;
        let parent = db.parent_path(SESSIONS, id)?;
        let images: Vec<ImageDoc> = db
            .fluent()
            .select()
            .from(IMAGES)
            .parent(&parent)
            .obj()
            .query()
            .await?;
        let writer = db.create_simple_batch_writer().await?;
        let mut batches = Batches::new(&writer);
        let urls: BTreeSet<String> = images
            .iter()
            .flat_map(|doc| {
                doc.image()
                    .lookup_urls()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        for url in urls {
            let lookup = LookupDoc {
                uid: uid.to_owned(),
                url: url.clone(),
                sessions: Default::default(),
            };
            db.fluent()
                .update()
                .fields([format!("sessions.`{id}`")])
                .in_col(IMAGE_LOOKUPS)
                .document_id(lookup_id(uid, &url))
                .object(&lookup)
                .add_to_batch(batches.room(1).await?)?;
        }
        for collection in [IMAGES, MESSAGES, EVENTS] {
            let docs: Vec<Document> = db
                .fluent()
                .select()
                .from(collection)
                .parent(&parent)
                .query()
                .await?;
            for doc in docs {
                db.fluent()
                    .delete()
                    .from(collection)
                    .parent(&parent)
                    .document_id(Self::doc_id(&doc))
                    .add_to_batch(batches.room(1).await?)?;
            }
        }
        batches.finish().await
    }
}
