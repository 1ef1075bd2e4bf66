//! A session's summary in notices between instances: a versioned encoding of its own (`"v": 1`),
//! independent of the wire, like the stores' encoding of events.

use std::sync::Arc;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::domain::model::{SessionMeta, Status, Summary, SummaryImage};
use crate::domain::time::Timestamp;

const VERSION: u64 = 1;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    v: u64,
    id: String,
    session_id: String,
    uid: String,
    model: String,
    frame_size: Option<String>,
    style: Option<String>,
    status: String,
    /// Milliseconds since the epoch, as every timestamp here.
    started_at: i64,
    completed_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    seq: u64,
    total_images: u32,
    /// `[url, order, messageId]` each.
    last_images: Vec<(String, u32, String)>,
}

pub fn serialize<S: Serializer>(summary: &Arc<Summary>, serializer: S) -> Result<S::Ok, S::Error> {
    let meta = &summary.meta;
    Stored {
        v: VERSION,
        id: meta.id.clone(),
        session_id: meta.session_id.clone(),
        uid: meta.uid.clone(),
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
        last_images: summary
            .last_images
            .iter()
            .map(|image| (image.url.clone(), image.order, image.message_id.clone()))
            .collect(),
    }
    .serialize(serializer)
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Arc<Summary>, D::Error> {
    let stored = Stored::deserialize(deserializer)?;
    if stored.v != VERSION {
        return Err(D::Error::custom(format!(
            "summaries of version {} are not known here",
            stored.v
        )));
    }
    let status = Status::parse(&stored.status)
        .ok_or_else(|| D::Error::custom(format!("unknown status {:?}", stored.status)))?;
    Ok(Arc::new(Summary {
        meta: SessionMeta {
            id: stored.id,
            session_id: stored.session_id,
            uid: stored.uid,
            model: stored.model,
            frame_size: stored.frame_size,
            style: stored.style,
            status,
            started_at: Timestamp::from_millis(stored.started_at),
            completed_at: stored.completed_at.map(Timestamp::from_millis),
            created_at: Timestamp::from_millis(stored.created_at),
            updated_at: Timestamp::from_millis(stored.updated_at),
            seq: stored.seq,
            total_images: stored.total_images,
        },
        last_images: stored
            .last_images
            .into_iter()
            .map(|(url, order, message_id)| SummaryImage {
                url,
                order,
                message_id,
            })
            .collect(),
    }))
}
