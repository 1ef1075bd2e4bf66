//! Version 0 of the event encoding: the push frames of the time, as they were written.
use serde::Deserialize;

use super::{Stored, StoredChanges, StoredImage, StoredMessage, present};
use crate::domain::time::Timestamp;

#[derive(Deserialize)]
#[serde(tag = "type")]
pub(super) enum Frame {
    #[serde(rename = "message.added")]
    MessageAdded { seq: u64, message: FrameMessage },
    #[serde(rename = "image.added", rename_all = "camelCase")]
    ImageAdded {
        seq: u64,
        message_id: String,
        image: StoredImage,
    },
    #[serde(rename = "session.updated")]
    SessionUpdated { seq: u64, changes: FrameChanges },
}

#[derive(Deserialize)]
pub(super) struct FrameMessage {
    id: String,
    prompt: String,
    timestamp: String,
    /// Its fields were camelCase, which the current version accepts too.
    images: Vec<StoredImage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FrameChanges {
    #[serde(default)]
    status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    completed_at: Option<Option<String>>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default, deserialize_with = "present")]
    frame_size: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    style: Option<Option<String>>,
}

fn millis(text: &str) -> Result<i64, String> {
    Timestamp::parse_rfc3339(text)
        .map(Timestamp::millis)
        .ok_or_else(|| format!("not a timestamp: {text:?}"))
}

/// A frame of version 0, in the current version's terms (then decoded as every event is).
impl TryFrom<Frame> for Stored {
    type Error = String;

    fn try_from(frame: Frame) -> Result<Self, String> {
        Ok(match frame {
            Frame::MessageAdded { seq, message } => Stored::Message {
                seq,
                message: StoredMessage {
                    at: millis(&message.timestamp)?,
                    id: message.id,
                    prompt: message.prompt,
                    images: message.images,
                },
            },
            Frame::ImageAdded {
                seq,
                message_id,
                image,
            } => Stored::Image {
                seq,
                message: message_id,
                image,
            },
            Frame::SessionUpdated { seq, changes } => Stored::Update {
                seq,
                changes: changes.try_into()?,
            },
        })
    }
}

impl TryFrom<FrameChanges> for StoredChanges {
    type Error = String;

    fn try_from(changes: FrameChanges) -> Result<Self, String> {
        let completed_at = match changes.completed_at {
            None => None,
            Some(None) => Some(None),
            Some(Some(at)) => Some(Some(millis(&at)?)),
        };
        let FrameChanges {
            status,
            model,
            frame_size,
            style,
            ..
        } = changes;
        Ok(StoredChanges {
            status,
            completed_at,
            model,
            frame_size,
            style,
        })
    }
}
