//! Version 0 of the event encoding: the push frames of the time, as they were written.
use serde::Deserialize;

use super::{present, status};
use crate::domain::model::{FieldChanges, Image, Message, SessionEvent};
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
        image: FrameImage,
    },
    #[serde(rename = "session.updated")]
    SessionUpdated { seq: u64, changes: FrameChanges },
}

#[derive(Deserialize)]
pub(super) struct FrameMessage {
    id: String,
    prompt: String,
    timestamp: String,
    images: Vec<FrameImage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FrameImage {
    id: String,
    url: String,
    #[serde(default)]
    storage_path: Option<String>,
    #[serde(default)]
    original_url: Option<String>,
    #[serde(default)]
    firebase_url: Option<String>,
    order: u32,
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

fn time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text).ok_or_else(|| format!("not a timestamp: {text:?}"))
}

impl From<FrameImage> for Image {
    fn from(image: FrameImage) -> Self {
        Image {
            id: image.id,
            url: image.url,
            storage_path: image.storage_path,
            original_url: image.original_url,
            firebase_url: image.firebase_url,
            order: image.order,
        }
    }
}

impl TryFrom<Frame> for SessionEvent {
    type Error = String;

    fn try_from(frame: Frame) -> Result<Self, String> {
        Ok(match frame {
            Frame::MessageAdded { seq, message } => SessionEvent::MessageAdded {
                seq,
                message: Message {
                    timestamp: time(&message.timestamp)?,
                    id: message.id,
                    prompt: message.prompt,
                    images: message.images.into_iter().map(Image::from).collect(),
                },
            },
            Frame::ImageAdded {
                seq,
                message_id,
                image,
            } => SessionEvent::ImageAdded {
                seq,
                message_id,
                image: image.into(),
            },
            Frame::SessionUpdated { seq, changes } => SessionEvent::SessionUpdated {
                seq,
                changes: FieldChanges {
                    status: status(changes.status)?,
                    completed_at: match changes.completed_at {
                        None => None,
                        Some(None) => Some(None),
                        Some(Some(at)) => Some(Some(time(&at)?)),
                    },
                    model: changes.model,
                    frame_size: changes.frame_size,
                    style: changes.style,
                },
            },
        })
    }
}
