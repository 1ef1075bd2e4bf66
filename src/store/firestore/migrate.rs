//! `livechat-sessions migrate-firestore`: converts every session still in the original
//! one-document shape to the current layout. A dry run by default; `--apply` writes. Each
//! session converts atomically and converted sessions are skipped, so the command is
//! idempotent and, if interrupted, resumes where it stopped when run again.

use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};

use super::FirestoreStore;
use super::docs::{SESSIONS, SessionDoc};
use crate::store::StoreError;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub scanned: u64,
    pub current: u64,
    /// Sessions in the original shape found by this run.
    pub original: u64,
    pub images: u64,
    pub converted: u64,
    pub failed: u64,
    /// Whether the run recorded that no session in the original shape is left.
    pub recorded: bool,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "sessions scanned:             {}", self.scanned)?;
        writeln!(f, "  already in the new layout:  {}", self.current)?;
        writeln!(
            f,
            "  in the original shape:      {} ({} images)",
            self.original, self.images
        )?;
        writeln!(f, "converted:                    {}", self.converted)?;
        write!(f, "failed:                       {}", self.failed)?;
        if self.recorded {
            write!(f, "\nrecorded: no session in the original shape is left")?;
        }
        Ok(())
    }
}

/// Scans every session and, when `apply`, converts those in the original shape.
pub async fn migrate(
    store: &FirestoreStore,
    apply: bool,
    progress: bool,
) -> Result<Summary, StoreError> {
    let mut summary = Summary::default();
    let mut original = Vec::new();
    let scan = spinner(progress, "scanning sessions");
    let mut docs = store
        .within("scan", store.db.fluent().list().from(SESSIONS).stream_all())
        .await?;
    while let Some(doc) = docs.next().await {
        summary.scanned += 1;
        scan.set_position(summary.scanned);
        let id = FirestoreStore::doc_id(&doc);
        match firestore::FirestoreDb::deserialize_doc_to::<SessionDoc>(&doc) {
            Ok(session) if session.is_legacy() => {
                summary.original += 1;
                summary.images += u64::from(session.legacy_session(&id).meta.total_images);
                original.push(id);
            }
            Ok(_) => summary.current += 1,
            Err(err) => {
                tracing::warn!(session = %id, error = %err, "unreadable session document");
                summary.failed += 1;
            }
        }
    }
    scan.finish_and_clear();
    if !apply {
        return Ok(summary);
    }
    let bar = if progress {
        ProgressBar::new(original.len() as u64).with_style(
            ProgressStyle::with_template("converting {bar:40} {pos}/{len} sessions ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    for id in original {
        match store.convert(&id).await {
            Ok(true) => summary.converted += 1,
            // Converted meanwhile by its first write, or deleted.
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(session = %id, error = %err, "conversion failed");
                summary.failed += 1;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if summary.failed == 0 {
        // Every session is in the current layout: restores stop looking for original ones.
        store
            .within("record", super::layout::Layout::record_migrated(&store.db))
            .await?;
        summary.recorded = true;
    }
    Ok(summary)
}

fn spinner(visible: bool, message: &'static str) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    ProgressBar::new_spinner()
        .with_style(
            ProgressStyle::with_template("{spinner} {msg}: {pos}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        )
        .with_message(message)
}
