//! Whether the database may still hold sessions in the original one-document shape, which
//! only a query of their inline `imageUrls` finds when restoring by URL. `migrate-firestore
//! --apply` records that it converted every one (the document `liveChatMeta/layout`); the
//! server reads that at start and again every few minutes, and makes the query only while the
//! record does not say so. A session converted on its first write is served either way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firestore::{FirestoreDb, FirestoreResult};
use serde::{Deserialize, Serialize};

pub const META: &str = "liveChatMeta";
pub const LAYOUT_DOC: &str = "layout";

/// How long the record is trusted before it is read again.
const RECHECK: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayoutDoc {
    /// No session in the original shape was left when this was written.
    pub original_sessions: bool,
    pub checked_at: String,
}

pub struct Layout {
    /// Until the record says otherwise, they may.
    original_possible: AtomicBool,
    /// When the record was last read (or a read of it started).
    read_at: Mutex<Option<Instant>>,
}

impl Layout {
    pub fn new() -> Self {
        Self {
            original_possible: AtomicBool::new(true),
            read_at: Mutex::new(None),
        }
    }

    /// Reads the record now.
    pub async fn read(&self, db: &FirestoreDb) -> FirestoreResult<()> {
        *self.read_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let doc: Option<LayoutDoc> = db
            .fluent()
            .select()
            .by_id_in(META)
            .obj()
            .one(LAYOUT_DOC)
            .await?;
        let possible = doc.is_none_or(|doc| doc.original_sessions);
        self.original_possible.store(possible, Ordering::Relaxed);
        Ok(())
    }

    /// Whether original-shape sessions may remain, as last read; an old reading is refreshed
    /// in the background, so this never waits.
    pub fn original_possible(self: &Arc<Self>, db: &FirestoreDb) -> bool {
        let stale = {
            let mut read_at = self.read_at.lock().unwrap_or_else(|e| e.into_inner());
            let stale = read_at.is_none_or(|at| at.elapsed() > RECHECK);
            if stale {
                *read_at = Some(Instant::now());
            }
            stale
        };
        if stale {
            let (layout, db) = (Arc::clone(self), db.clone());
            tokio::spawn(async move {
                if let Err(err) = layout.read(&db).await {
                    tracing::warn!(%err, "cannot read the layout record; original sessions are still looked for");
                }
            });
        }
        self.original_possible.load(Ordering::Relaxed)
    }

    /// Records that no session in the original shape remains (after a complete migration).
    pub async fn record_migrated(db: &FirestoreDb) -> FirestoreResult<()> {
        let doc = LayoutDoc {
            original_sessions: false,
            checked_at: chrono::Utc::now().to_rfc3339(),
        };
        db.fluent()
            .update()
            .in_col(META)
            .document_id(LAYOUT_DOC)
            .object(&doc)
            .execute::<()>()
            .await
    }
}
