//! A session's summary in notices between instances: a versioned encoding of its own (`"v": 1`),
//! independent of the wire, with the metadata in the stores' encoding.

use std::sync::Arc;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::domain::model::{Summary, SummaryImage};
use crate::store::codec::StoredMeta;

const VERSION: u64 = 1;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    v: u64,
    #[serde(flatten)]
    meta: StoredMeta,
    /// `[url, order, messageId]` each.
    last_images: Vec<(String, u32, String)>,
}

pub fn serialize<S: Serializer>(summary: &Arc<Summary>, serializer: S) -> Result<S::Ok, S::Error> {
    Stored {
        v: VERSION,
        meta: StoredMeta::from(&summary.meta),
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
    Ok(Arc::new(Summary {
        meta: stored.meta.try_into().map_err(D::Error::custom)?,
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
