//! Reading sessions in as few calls one after another as the data allows:
//!
//! - a session: its document, messages and images in one step, all three at once; or, when a
//!   body is held, the document alone, then the held body if the document is still its version;
//! - a restore: the URL's lookup (with the query for sessions in the original shape, only while
//!   any may remain), then every candidate as above, in a second step;
//! - a page: the query, then the bodies not held, all at once.
//!
//! Reads made at once may straddle a commit. Sessions only grow, so the messages and images of
//! the document's version are those whose position and order it counts: later ones are left
//! out, and fewer than it counts means the subcollections were read before it, and are read
//! again.

use std::sync::Arc;

use firestore::gcloud_sdk::google::firestore::v1::Document;
use firestore::{FirestoreDb, FirestoreQueryCursor, FirestoreReference, FirestoreResult};
use futures::future::try_join_all;

use super::FirestoreStore;
use super::docs::*;
use super::held::{Known, Version};
use super::trip::Trip;
use crate::domain::list::{ListPosition, ListQuery};
use crate::domain::model::Session;
use crate::store::Page;

/// A session document, with its version.
pub(super) struct Versioned {
    pub id: String,
    pub version: Version,
    pub doc: SessionDoc,
}

/// A session as one step of reading left it.
enum Read {
    /// Whole.
    Whole(Arc<Session>),
    /// Only its document: its body must still be read.
    Document(Box<Versioned>),
}

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

    /// The session document with its version; remembered as the version this instance knows.
    async fn versioned_doc(&self, id: &str) -> FirestoreResult<Option<Versioned>> {
        let doc = self.db.fluent().select().by_id_in(SESSIONS).one(id).await?;
        doc.map(|doc| self.versioned(&doc)).transpose()
    }

    pub(super) fn versioned(&self, doc: &Document) -> FirestoreResult<Versioned> {
        let session: SessionDoc = FirestoreDb::deserialize_doc_to(doc)?;
        let version = doc
            .update_time
            .as_ref()
            .map(Version::of)
            .unwrap_or(Version {
                seconds: 0,
                nanos: 0,
            });
        let id = Self::doc_id(doc);
        if !session.is_legacy() {
            self.versions.set(
                &id,
                Known {
                    version,
                    seq: session.seq.max(0) as u64,
                    message_count: session.message_count.max(0) as usize,
                    turn: session.turn,
                },
            );
        }
        Ok(Versioned {
            id,
            version,
            doc: session,
        })
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

    /// A session's messages and images, queried together.
    async fn subdocuments(&self, id: &str) -> FirestoreResult<(Vec<MessageDoc>, Vec<ImageDoc>)> {
        crate::telemetry::metrics::subcollection_read("firestore");
        let parent = self.db.parent_path(SESSIONS, id)?;
        futures::try_join!(
            Self::children(&self.db, &parent, MESSAGES, "position"),
            Self::children(&self.db, &parent, IMAGES, "order"),
        )
    }

    /// The session of `versioned` from its subdocuments, if they are not older than it; the
    /// body is held for the next read.
    fn complete(
        &self,
        versioned: &Versioned,
        messages: Vec<MessageDoc>,
        images: Vec<ImageDoc>,
    ) -> Option<Arc<Session>> {
        let doc = &versioned.doc;
        let (message_count, total_images) = (doc.message_count.max(0), doc.total_images.max(0));
        let messages: Vec<MessageDoc> = messages
            .into_iter()
            .filter(|m| m.position <= message_count)
            .collect();
        let images: Vec<ImageDoc> = images
            .into_iter()
            .filter(|i| i.order <= total_images)
            .collect();
        if messages.len() as i64 != message_count || images.len() as i64 != total_images {
            return None;
        }
        let session = assemble(doc.meta(&versioned.id), messages, images);
        Some(self.bodies.hold(versioned.version, session))
    }

    /// The session behind a document read in the same step as its subdocuments (or `None` if
    /// those are older than it).
    fn whole(
        &self,
        versioned: Versioned,
        subdocuments: Option<(Vec<MessageDoc>, Vec<ImageDoc>)>,
    ) -> Read {
        if versioned.doc.is_legacy() {
            return Read::Whole(Arc::new(versioned.doc.legacy_session(&versioned.id)));
        }
        if let Some(held) = self.bodies.get(&versioned.id, versioned.version) {
            return Read::Whole(held);
        }
        match subdocuments.and_then(|(m, i)| self.complete(&versioned, m, i)) {
            Some(session) => Read::Whole(session),
            None => Read::Document(Box::new(versioned)),
        }
    }

    /// One step's read of a session: its document alone when a body is held (it is most
    /// likely still current), otherwise its document and subdocuments at once.
    async fn read_once(&self, id: &str) -> FirestoreResult<Option<Read>> {
        if self.bodies.holds(id) {
            return Ok(self.versioned_doc(id).await?.map(|v| self.whole(v, None)));
        }
        let (versioned, subdocuments) =
            futures::try_join!(self.versioned_doc(id), self.subdocuments(id))?;
        Ok(versioned.map(|v| self.whole(v, Some(subdocuments))))
    }

    /// Finishes a read whose body is still to come: one more step (two if a commit lands in
    /// between). `None`: the session was deleted meanwhile.
    async fn finish(&self, trip: &mut Trip, read: Read) -> FirestoreResult<Option<Arc<Session>>> {
        let mut versioned = match read {
            Read::Whole(session) => return Ok(Some(session)),
            Read::Document(versioned) => *versioned,
        };
        loop {
            let (messages, images) = trip.step(self.subdocuments(&versioned.id)).await?;
            if let Some(session) = self.complete(&versioned, messages, images) {
                return Ok(Some(session));
            }
            // A commit landed between the two reads: read the document again as well.
            match trip.step(self.versioned_doc(&versioned.id)).await? {
                Some(fresh) => versioned = fresh,
                None => return Ok(None),
            }
        }
    }

    /// The whole session, in one step when it can be.
    pub(super) async fn read_session(
        &self,
        trip: &mut Trip,
        id: &str,
    ) -> FirestoreResult<Option<Arc<Session>>> {
        match trip.step(self.read_once(id)).await? {
            Some(read) => self.finish(trip, read).await,
            None => Ok(None),
        }
    }

    /// The user's most recently updated session holding `url`.
    pub(super) async fn restore(
        &self,
        trip: &mut Trip,
        uid: &str,
        url: &str,
    ) -> FirestoreResult<Option<Arc<Session>>> {
        let lookup = async {
            let lookup: Option<LookupDoc> = self
                .db
                .fluent()
                .select()
                .by_id_in(IMAGE_LOOKUPS)
                .obj()
                .one(lookup_id(uid, url))
                .await?;
            Ok(lookup.map(|l| l.sessions.into_keys().collect::<Vec<_>>()))
        };
        let (ids, original) = trip
            .step(async { futures::try_join!(lookup, self.original_sessions_with_url(uid, url)) })
            .await?;
        let ids = ids.unwrap_or_default();
        if ids.is_empty() && original.is_empty() {
            return Ok(None);
        }
        let reads = trip
            .step(try_join_all(ids.iter().map(|id| self.read_once(id))))
            .await?;
        let mut best: Option<Read> = None;
        for read in reads
            .into_iter()
            .flatten()
            .chain(original.into_iter().map(|v| self.whole(v, None)))
        {
            let meta = match &read {
                Read::Whole(session) => session.meta.clone(),
                Read::Document(versioned) => versioned.doc.meta(&versioned.id),
            };
            if meta.uid != uid {
                continue;
            }
            let newer = best.as_ref().is_none_or(|current| {
                let current = match current {
                    Read::Whole(session) => (session.meta.updated_at, session.meta.id.clone()),
                    Read::Document(v) => (v.doc.meta(&v.id).updated_at, v.id.clone()),
                };
                (meta.updated_at, meta.id.clone()) > current
            });
            if newer {
                best = Some(read);
            }
        }
        match best {
            Some(read) => self.finish(trip, read).await,
            None => Ok(None),
        }
    }

    /// The most recently updated session document of `uid` that matches (at most one).
    pub(super) async fn first_session_where(
        db: &FirestoreDb,
        uid: &str,
        matches: Match<'_>,
    ) -> FirestoreResult<Vec<Document>> {
        let uid = uid.to_owned();
        let (field, value, contains) = match matches {
            Match::Equals(field, value) => (field, value.to_owned(), false),
            Match::Contains(field, value) => (field, value.to_owned(), true),
        };
        let select = db.fluent().select().from(SESSIONS).filter(move |q| {
            let condition = if contains {
                q.field(field).array_contains(value.clone())
            } else {
                q.field(field).eq(value.clone())
            };
            q.for_all([q.field("uid").eq(uid.clone()), condition])
        });
        // Ordered only where the field may match several: an equality on a unique field
        // needs no index beyond the single-field ones.
        let select = if contains {
            select.order(|o| o.fields([o.field("updatedAt").desc()]))
        } else {
            select
        };
        select.limit(1).query().await
    }

    /// Sessions of `uid` still in the original one-document shape holding `url` (found by their
    /// inline `imageUrls`): queried only while the database may hold such sessions.
    async fn original_sessions_with_url(
        &self,
        uid: &str,
        url: &str,
    ) -> FirestoreResult<Vec<Versioned>> {
        if !self.layout.original_possible(&self.db) {
            return Ok(Vec::new());
        }
        crate::telemetry::metrics::original_session_query();
        let docs =
            Self::first_session_where(&self.db, uid, Match::Contains("imageUrls", url)).await?;
        let mut found = Vec::new();
        for doc in &docs {
            let versioned = self.versioned(doc)?;
            if versioned.doc.is_legacy() {
                found.push(versioned);
            }
        }
        Ok(found)
    }

    pub(super) async fn list_page(
        &self,
        trip: &mut Trip,
        uid: &str,
        query: &ListQuery,
    ) -> FirestoreResult<Page> {
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
        let mut docs = trip.step(select.query()).await?;
        let next = if docs.len() > query.limit {
            docs.truncate(query.limit);
            docs.last().map(|doc| {
                let session: Option<SessionDoc> = FirestoreDb::deserialize_doc_to(doc).ok();
                ListPosition {
                    updated_at: session
                        .map(|s| s.meta("").updated_at)
                        .unwrap_or(crate::domain::time::Timestamp::from_millis(0)),
                    id: Self::doc_id(doc),
                }
            })
        } else {
            None
        };
        let reads: Vec<Read> = docs
            .iter()
            .map(|doc| Ok(self.whole(self.versioned(doc)?, None)))
            .collect::<FirestoreResult<_>>()?;
        // The bodies not held, all in one more step.
        let missing: Vec<&Versioned> = reads
            .iter()
            .filter_map(|read| match read {
                Read::Document(versioned) => Some(&**versioned),
                Read::Whole(_) => None,
            })
            .collect();
        let fetched = if missing.is_empty() {
            Vec::new()
        } else {
            trip.step(try_join_all(
                missing.iter().map(|v| self.subdocuments(&v.id)),
            ))
            .await?
        };
        let mut fetched = fetched.into_iter();
        let mut sessions = Vec::with_capacity(reads.len());
        for read in reads {
            let session = match read {
                Read::Whole(session) => session,
                Read::Document(versioned) => {
                    let (messages, images) = fetched.next().unwrap_or_default();
                    match self.complete(&versioned, messages, images) {
                        Some(session) => session,
                        None => match self.finish(trip, Read::Document(versioned)).await? {
                            Some(session) => session,
                            // Deleted while the page was read.
                            None => continue,
                        },
                    }
                }
            };
            sessions.push(Session::clone(&session));
        }
        Ok(Page { sessions, next })
    }

    /// The session's `seq` and its logged events after `after_seq`, read together; read again
    /// when the events were read before the document counted them.
    pub(super) async fn events_after(
        &self,
        trip: &mut Trip,
        id: &str,
        after_seq: u64,
    ) -> FirestoreResult<Option<(u64, Vec<EventDoc>)>> {
        let parent = self.db.parent_path(SESSIONS, id)?;
        let events = || {
            self.db
                .fluent()
                .select()
                .from(EVENTS)
                .parent(&parent)
                .filter(move |q| q.for_all([q.field("seq").greater_than(after_seq as i64)]))
                .order(|o| o.fields([o.field("seq").asc()]))
                .obj::<EventDoc>()
                .query()
        };
        let (doc, mut found) = trip
            .step(async { futures::try_join!(self.versioned_doc(id), events()) })
            .await?;
        let Some(doc) = doc else {
            return Ok(None);
        };
        let current = doc.doc.seq.max(0) as u64;
        if (found.len() as u64) < current.saturating_sub(after_seq) {
            found = trip.step(events()).await?;
        }
        Ok(Some((current, found)))
    }
}

/// A condition on a session document's field, beside its owner.
pub(super) enum Match<'a> {
    /// The field equals the value.
    Equals(&'static str, &'a str),
    /// The field, an array, holds the value.
    Contains(&'static str, &'a str),
}
