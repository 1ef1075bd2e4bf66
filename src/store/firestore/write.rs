//! Writing sessions: the create that keeps (uid, sessionId) unique, the commit that is a
//! compare-and-set on the session document, and the lookups and preconditions both use.

use std::collections::BTreeSet;

use firestore::errors::FirestoreError;
use firestore::gcloud_sdk::google::firestore::v1::Document;
use firestore::{FirestoreDb, FirestoreResult, FirestoreWritePrecondition};

use super::docs::*;
use super::held::{Known, Version};
use super::read::Match;
use super::trip::Trip;
use super::turn;
use super::{FirestoreStore, Written};
use crate::domain::commit::Commit;
use crate::domain::model::{SessionEvent, SessionMeta};
use crate::store::EVENT_LOG_LENGTH;

impl FirestoreStore {
    /// Creates the key that makes (uid, sessionId) unique, in `tx`, on the condition that it
    /// does not exist yet.
    pub(super) fn add_session_key(
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

    /// Creates the session unless the user has its `sessionId` (by key, or an original-shape
    /// session found by query); returns the existing id then. The key and the session are
    /// created together only if the key does not exist yet, so concurrent creates yield one.
    pub(super) async fn insert(&self, meta: &SessionMeta) -> FirestoreResult<Option<String>> {
        let db = &self.db;
        let key_id = session_key_id(&meta.uid, &meta.session_id);
        for _ in 0..3 {
            let key = Self::session_key(db, &key_id).await?;
            if let Some(key) = key {
                return Ok(Some(key.session_doc_id));
            }
            let matches = Match::Equals("sessionId", &meta.session_id);
            let original = Self::first_session_where(db, &meta.uid, matches).await?;
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

    /// The compare-and-set, as one `Commit` (no transaction): every write of the group at
    /// once, on the condition that the session document is still the version the group was
    /// computed from. The version comes from this instance's last commit or read of the
    /// session when its `seq` is the one expected, so the actor that wrote last needs no read;
    /// otherwise (another writer, a restart) the document is read first. A writer that crashes
    /// holds nothing, so it cannot block the session for others.
    pub(super) async fn commit_once(
        &self,
        trip: &mut Trip,
        commit: &Commit,
    ) -> FirestoreResult<Written<()>> {
        let db = &self.db;
        let id = &commit.meta.id;
        let known = match self.versions.get(id) {
            Some(known) if known.seq == commit.expected_seq => known,
            _ => {
                let Some(doc) = trip
                    .step(db.fluent().select().by_id_in(SESSIONS).one(id))
                    .await?
                else {
                    return Ok(Written::Missing);
                };
                let read = self.versioned(&doc)?;
                if read.doc.is_legacy() {
                    return Ok(Written::Legacy);
                }
                if read.doc.seq.max(0) as u64 != commit.expected_seq {
                    return Ok(Written::SeqMismatch);
                }
                Known {
                    version: read.version,
                    seq: commit.expected_seq,
                    message_count: read.doc.message_count.max(0) as usize,
                    turn: read.doc.turn,
                }
            }
        };
        if let Some(turn) = known.turn
            && !self.turns.holds(id, turn)
            && self.await_turn(trip, id, known.version).await?
        {
            // Another writer committed meanwhile: this one, which has waited, claims the next
            // turn before any writer that lost its first race since.
            self.claim_turn(trip, id).await;
            return Ok(Written::SeqMismatch);
        }
        let parent = db.parent_path(SESSIONS, id)?;
        let mut writes = Writes::new(db);
        let mut message_count = known.message_count;
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
                        .add_to_transaction(writes.ops())?;
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
                    .add_to_transaction(writes.ops())?;
                lookups.extend(image.lookup_urls().map(str::to_owned));
            }
            let seq = event.seq();
            db.fluent()
                .update()
                .in_col(EVENTS)
                .document_id(numbered_id(seq))
                .parent(&parent)
                .object(&EventDoc::new(event))
                .add_to_transaction(writes.ops())?;
            if seq > EVENT_LOG_LENGTH {
                db.fluent()
                    .delete()
                    .from(EVENTS)
                    .parent(&parent)
                    .document_id(numbered_id(seq - EVENT_LOG_LENGTH))
                    .add_to_transaction(writes.ops())?;
            }
        }
        for url in lookups {
            let (lookup, fields) = lookup_entry(&commit.meta.uid, &url, id);
            db.fluent()
                .update()
                .fields(fields)
                .in_col(IMAGE_LOOKUPS)
                .document_id(lookup_id(&commit.meta.uid, &url))
                .object(&lookup)
                .add_to_transaction(writes.ops())?;
        }
        // Last, so that its result is the document's new version.
        db.fluent()
            .update()
            .in_col(SESSIONS)
            .precondition(FirestoreWritePrecondition::UpdateTime(
                known.version.instant(),
            ))
            .document_id(id)
            .object(&SessionDoc::from_meta(&commit.meta, message_count))
            .add_to_transaction(writes.ops())?;
        match trip.step(writes.commit()).await {
            Ok(version) => {
                self.versions.set(
                    id,
                    Known {
                        version,
                        seq: commit.meta.seq,
                        message_count,
                        turn: None,
                    },
                );
                self.bodies.committed(commit, known.version, version);
                Ok(Written::Done(()))
            }
            Err(err) => {
                // Another writer came first, or the outcome is unknown: what this instance
                // knew of the session is stale, and the next read fetches it whole at once.
                self.versions.forget(id);
                self.bodies.forget(id);
                if is_conflict(&err) {
                    // The next turn is claimed at once, so that a writer slower than the
                    // others does not lose every race (see `turn`); the claim failing only
                    // leaves the race as it was.
                    self.claim_turn(trip, id).await;
                    Ok(Written::SeqMismatch)
                } else {
                    Err(err)
                }
            }
        }
    }
}

impl FirestoreStore {
    /// Claims the next turn on session `id`; a claim that fails leaves the race as it was.
    async fn claim_turn(&self, trip: &mut Trip, id: &str) {
        if let Err(err) = trip.step(self.turns.claim_next(&self.db, id)).await {
            tracing::debug!(session = %id, error = %err, "cannot claim a turn");
        }
    }

    /// Waits while another writer holds the turn on session `id`, last seen at `version`:
    /// whether the document changed meanwhile (the holder committed, or a writer waiting
    /// longer claimed the turn), or `false` once the turn's lease ran out with nothing changed.
    async fn await_turn(
        &self,
        trip: &mut Trip,
        id: &str,
        version: Version,
    ) -> FirestoreResult<bool> {
        let started = std::time::Instant::now();
        while started.elapsed() < turn::LEASE {
            tokio::time::sleep(turn::POLL).await;
            let doc = trip
                .step(self.db.fluent().select().by_id_in(SESSIONS).one(id))
                .await?;
            match doc {
                Some(doc) if self.versioned(&doc)?.version == version => continue,
                _ => return Ok(true),
            }
        }
        tracing::debug!(session = %id, "a turn's lease ran out; committing without it");
        Ok(false)
    }
}

/// A write condition: the document is still the version read.
pub(super) fn unchanged_since(doc: &Document) -> FirestoreWritePrecondition {
    match &doc.update_time {
        Some(time) => FirestoreWritePrecondition::UpdateTime(
            firestore::FirestoreInstant::new(time.seconds, time.nanos).unwrap_or_default(),
        ),
        None => FirestoreWritePrecondition::Exists(true),
    }
}

/// A write refused because its condition no longer held (someone else wrote first).
pub(super) fn is_conflict(err: &FirestoreError) -> bool {
    match err {
        FirestoreError::DataConflictError(_) | FirestoreError::DataNotFoundError(_) => true,
        FirestoreError::DatabaseError(db) => db.public.code == "FailedPrecondition",
        _ => false,
    }
}

/// The lookup document saying session `id` of `uid` holds `url`, and the fields to write: only
/// that session's entry in `sessions`, so the entries of the user's other sessions stay.
pub(super) fn lookup_entry(uid: &str, url: &str, id: &str) -> (LookupDoc, [String; 3]) {
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

/// The writes of one atomic `Commit` outside any transaction (Firestore applies them all or
/// none), built with the crate's fluent writers.
struct Writes<'a> {
    db: &'a FirestoreDb,
    ops: firestore::FirestoreTransactionData,
}

impl<'a> Writes<'a> {
    fn new(db: &'a FirestoreDb) -> Self {
        let ops = firestore::FirestoreTransactionData::new(
            Vec::new(),
            db.get_documents_path().clone(),
            tracing::Span::none(),
            Vec::new(),
        );
        Self { db, ops }
    }

    fn ops(&mut self) -> &mut firestore::FirestoreTransactionData {
        &mut self.ops
    }

    /// Commits the writes; the new version of the last document written.
    async fn commit(self) -> FirestoreResult<Version> {
        let response = commit_writes(self.db, self.ops.writes().clone()).await?;
        let version = response
            .write_results
            .last()
            .and_then(|result| result.update_time.as_ref())
            .or(response.commit_time.as_ref())
            .map(Version::of)
            .unwrap_or(Version {
                seconds: 0,
                nanos: 0,
            });
        Ok(version)
    }
}

/// One `Commit` call of `writes` outside any transaction: Firestore applies them all or none.
pub(super) async fn commit_writes(
    db: &FirestoreDb,
    writes: Vec<firestore::gcloud_sdk::google::firestore::v1::Write>,
) -> FirestoreResult<firestore::gcloud_sdk::google::firestore::v1::CommitResponse> {
    let request = firestore::gcloud_sdk::google::firestore::v1::CommitRequest {
        database: db.get_database_path().clone(),
        writes,
        ..Default::default()
    };
    Ok(db
        .client()
        .get()
        .commit(request)
        .await
        .map_err(FirestoreError::from)?
        .into_inner())
}
