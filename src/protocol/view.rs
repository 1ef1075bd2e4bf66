//! The session object as every route and every snapshot shows it, serialized straight from the
//! domain model through borrowing views (no intermediate JSON tree):
//!
//! - nested `messages[].images`, as the seed documents;
//! - the flattened `images` the original web client reads, each with its message's prompt,
//!   timestamp and id, ordered by `order`;
//! - `imageUrls` and `imageOrderMap`, in order.
//!
//! Timestamps are RFC 3339 UTC with milliseconds; optional strings absent are `null`.

use serde::ser::{SerializeMap as _, SerializeSeq as _};
use serde::{Serialize, Serializer};

use crate::domain::model::{FieldChanges, Image, Message, Session, SessionMeta, Status, Summary};
use crate::domain::time::Timestamp;

/// `2025-01-15T10:00:00.000Z`.
pub struct Time(pub Timestamp);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_rfc3339())
    }
}

fn status(status: Status) -> &'static str {
    status.as_str()
}

/// One image, as it appears in `messages[].images` and in pushes.
pub struct ImageView<'a>(pub &'a Image);

impl Serialize for ImageView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let image = self.0;
        let mut map = serializer.serialize_map(Some(6))?;
        image_fields(&mut map, image)?;
        map.end()
    }
}

fn image_fields<M: serde::ser::SerializeMap>(map: &mut M, image: &Image) -> Result<(), M::Error> {
    map.serialize_entry("id", &image.id)?;
    map.serialize_entry("url", &image.url)?;
    map.serialize_entry("storagePath", &image.storage_path)?;
    map.serialize_entry("originalUrl", &image.original_url)?;
    map.serialize_entry("firebaseUrl", &image.firebase_url)?;
    map.serialize_entry("order", &image.order)
}

/// One message with its images.
pub struct MessageView<'a>(pub &'a Message);

impl Serialize for MessageView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let message = self.0;
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("id", &message.id)?;
        map.serialize_entry("prompt", &message.prompt)?;
        map.serialize_entry("timestamp", &Time(message.timestamp))?;
        map.serialize_entry("images", &Seq(&message.images, ImageView))?;
        map.end()
    }
}

/// A slice serialized through a view of each element.
struct Seq<'a, T, V>(&'a [T], fn(&'a T) -> V);

impl<'a, T, V: Serialize> Serialize for Seq<'a, T, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&(self.1)(item))?;
        }
        seq.end()
    }
}

/// The changed fields of an update; a cleared field is `null`.
pub struct ChangesView<'a>(pub &'a FieldChanges);

impl Serialize for ChangesView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let changes = self.0;
        let mut map = serializer.serialize_map(None)?;
        if let Some(value) = changes.status {
            map.serialize_entry("status", status(value))?;
        }
        if let Some(completed_at) = &changes.completed_at {
            map.serialize_entry("completedAt", &completed_at.map(Time))?;
        }
        if let Some(model) = &changes.model {
            map.serialize_entry("model", model)?;
        }
        if let Some(frame_size) = &changes.frame_size {
            map.serialize_entry("frameSize", frame_size)?;
        }
        if let Some(style) = &changes.style {
            map.serialize_entry("style", style)?;
        }
        map.end()
    }
}

/// An image of the flattened list, with its message's prompt, timestamp and id.
struct FlatImage<'a> {
    image: &'a Image,
    message: &'a Message,
}

impl Serialize for FlatImage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(9))?;
        image_fields(&mut map, self.image)?;
        map.serialize_entry("prompt", &self.message.prompt)?;
        map.serialize_entry("timestamp", &Time(self.message.timestamp))?;
        map.serialize_entry("messageId", &self.message.id)?;
        map.end()
    }
}

struct ImageUrls<'a>(&'a [FlatImage<'a>]);

impl Serialize for ImageUrls<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|f| &f.image.url))
    }
}

struct ImageOrderMap<'a>(&'a [FlatImage<'a>]);

impl Serialize for ImageOrderMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|f| (&f.image.url, f.image.order)))
    }
}

/// The session object.
pub struct SessionView<'a>(pub &'a Session);

impl Serialize for SessionView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let session = self.0;
        let meta = &session.meta;
        let mut flat: Vec<FlatImage<'_>> = Vec::with_capacity(meta.total_images as usize);
        for message in &session.messages {
            flat.extend(
                message
                    .images
                    .iter()
                    .map(|image| FlatImage { image, message }),
            );
        }
        // Images added to earlier messages (as generations finish) interleave by order.
        if !flat.is_sorted_by_key(|f| f.image.order) {
            flat.sort_by_key(|f| f.image.order);
        }
        let mut map = serializer.serialize_map(None)?;
        meta_fields(&mut map, meta)?;
        map.serialize_entry("messages", &Seq(&session.messages, MessageView))?;
        map.serialize_entry("images", &flat)?;
        map.serialize_entry("imageUrls", &ImageUrls(&flat))?;
        map.serialize_entry("imageOrderMap", &ImageOrderMap(&flat))?;
        map.serialize_entry("totalImages", &meta.total_images)?;
        map.serialize_entry("seq", &meta.seq)?;
        map.end()
    }
}

/// The fields every view of a session opens with.
fn meta_fields<M: serde::ser::SerializeMap>(
    map: &mut M,
    meta: &SessionMeta,
) -> Result<(), M::Error> {
    map.serialize_entry("id", &meta.id)?;
    map.serialize_entry("sessionId", &meta.session_id)?;
    map.serialize_entry("uid", &meta.uid)?;
    map.serialize_entry("model", &meta.model)?;
    map.serialize_entry("frameSize", &meta.frame_size)?;
    map.serialize_entry("style", &meta.style)?;
    map.serialize_entry("status", status(meta.status))?;
    map.serialize_entry("startedAt", &Time(meta.started_at))?;
    if let Some(completed_at) = meta.completed_at {
        map.serialize_entry("completedAt", &Time(completed_at))?;
    }
    map.serialize_entry("createdAt", &Time(meta.created_at))?;
    map.serialize_entry("updatedAt", &Time(meta.updated_at))
}

/// A session as a history list shows it: its fields, `totalImages`, `seq` and `lastImages`.
pub struct SummaryView<'a>(pub &'a Summary);

impl Serialize for SummaryView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct LastImage<'a> {
            url: &'a str,
            order: u32,
            message_id: &'a str,
        }
        let summary = self.0;
        let mut map = serializer.serialize_map(None)?;
        meta_fields(&mut map, &summary.meta)?;
        map.serialize_entry("totalImages", &summary.meta.total_images)?;
        map.serialize_entry("seq", &summary.meta.seq)?;
        let last: Vec<LastImage<'_>> = summary
            .last_images
            .iter()
            .map(|image| LastImage {
                url: &image.url,
                order: image.order,
                message_id: &image.message_id,
            })
            .collect();
        map.serialize_entry("lastImages", &last)?;
        map.end()
    }
}
