//! A session's metadata in the stores' own encoding (the embedded store's journal, summaries
//! between instances): field names of its own and times in milliseconds, independent of the
//! wire.

use serde::{Deserialize, Serialize};

use crate::domain::model::{SessionMeta, Status};
use crate::domain::time::Timestamp;

/// A session's metadata as stored.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredMeta {
    id: String,
    uid: String,
    session_id: String,
    model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    frame_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    style: Option<String>,
    status: String,
    /// Times in milliseconds since the Unix epoch.
    started_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    completed_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    seq: u64,
    total_images: u32,
}

impl From<&SessionMeta> for StoredMeta {
    fn from(meta: &SessionMeta) -> Self {
        Self {
            id: meta.id.clone(),
            uid: meta.uid.clone(),
            session_id: meta.session_id.clone(),
            model: meta.model.clone(),
            frame_size: meta.frame_size.clone(),
            style: meta.style.clone(),
            status: meta.status.as_str().to_owned(),
            started_at: meta.started_at.millis(),
            completed_at: meta.completed_at.map(Timestamp::millis),
            created_at: meta.created_at.millis(),
            updated_at: meta.updated_at.millis(),
            seq: meta.seq,
            total_images: meta.total_images,
        }
    }
}

impl TryFrom<StoredMeta> for SessionMeta {
    type Error = String;

    fn try_from(meta: StoredMeta) -> Result<Self, String> {
        Ok(Self {
            status: Status::parse(&meta.status)
                .ok_or_else(|| format!("unknown status {:?}", meta.status))?,
            id: meta.id,
            uid: meta.uid,
            session_id: meta.session_id,
            model: meta.model,
            frame_size: meta.frame_size,
            style: meta.style,
            started_at: Timestamp::from_millis(meta.started_at),
            completed_at: meta.completed_at.map(Timestamp::from_millis),
            created_at: Timestamp::from_millis(meta.created_at),
            updated_at: Timestamp::from_millis(meta.updated_at),
            seq: meta.seq,
            total_images: meta.total_images,
        })
    }
}
