//! The session as the product knows it: messages in order, each with its images, every image
//! numbered by a session-wide `order` (1, 2, 3, …), and a `seq` that counts committed changes.

use serde::{Serialize, Serializer};

use super::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Completed,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Status::Active),
            "completed" => Some(Status::Completed),
            "failed" => Some(Status::Failed),
            _ => None,
        }
    }
}

/// Everything about a session but its messages: what a list row or a commit's header holds.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionMeta {
    /// The server-generated document id (`sessionDocId`), unique across users.
    pub id: String,
    /// The client-chosen id, unique per user.
    pub session_id: String,
    pub uid: String,
    pub model: String,
    pub frame_size: Option<String>,
    pub style: Option<String>,
    pub status: Status,
    pub started_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Number of committed changes; a new session has 0.
    pub seq: u64,
    pub total_images: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub meta: SessionMeta,
    /// In the order they were added; each message's images sorted by `order`.
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub id: String,
    pub prompt: String,
    pub timestamp: Timestamp,
    pub images: Vec<Image>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub id: String,
    pub url: String,
    pub storage_path: Option<String>,
    pub original_url: Option<String>,
    pub firebase_url: Option<String>,
    pub order: u32,
}

impl Image {
    /// The distinct URLs under which this image can be restored.
    pub fn lookup_urls(&self) -> impl Iterator<Item = &str> {
        let url = self.url.as_str();
        let original = self.original_url.as_deref().filter(|u| *u != url);
        let firebase = self
            .firebase_url
            .as_deref()
            .filter(|u| *u != url && Some(*u) != original);
        std::iter::once(url).chain(original).chain(firebase)
    }
}

/// The fields a `session.update` (or completion) may change, with their new values.
/// `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldChanges {
    pub status: Option<Status>,
    pub completed_at: Option<Option<Timestamp>>,
    pub model: Option<String>,
    pub frame_size: Option<Option<String>>,
    pub style: Option<Option<String>>,
}

impl FieldChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Only the changed fields; `Some(None)` is written as `null` (the field was cleared).
impl Serialize for FieldChanges {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        if let Some(status) = &self.status {
            map.serialize_entry("status", status)?;
        }
        if let Some(completed_at) = &self.completed_at {
            map.serialize_entry("completedAt", completed_at)?;
        }
        if let Some(model) = &self.model {
            map.serialize_entry("model", model)?;
        }
        if let Some(frame_size) = &self.frame_size {
            map.serialize_entry("frameSize", frame_size)?;
        }
        if let Some(style) = &self.style {
            map.serialize_entry("style", style)?;
        }
        map.end()
    }
}

/// One committed change to a session. Each carries the `seq` it produced; a commit holds one or
/// more consecutive events. Appending to a completed or failed session reactivates it as part of
/// the same event (the session's metadata after the commit says so).
///
/// Serialized, an event is the frame pushed to sockets and kept in the event log:
/// `{"type":"message.added","seq":7,"message":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum SessionEvent {
    #[serde(rename = "message.added")]
    MessageAdded { seq: u64, message: Message },
    #[serde(rename = "image.added", rename_all = "camelCase")]
    ImageAdded {
        seq: u64,
        message_id: String,
        image: Image,
    },
    #[serde(rename = "session.updated")]
    SessionUpdated { seq: u64, changes: FieldChanges },
}

impl SessionEvent {
    pub fn seq(&self) -> u64 {
        match self {
            SessionEvent::MessageAdded { seq, .. }
            | SessionEvent::ImageAdded { seq, .. }
            | SessionEvent::SessionUpdated { seq, .. } => *seq,
        }
    }

    /// The event as the JSON text of its push frame.
    pub fn to_frame(&self) -> String {
        // Serializing plain data into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FlatImage<'a> {
    #[serde(flatten)]
    image: &'a Image,
    prompt: &'a str,
    timestamp: Timestamp,
    message_id: &'a str,
}

/// The session object every route returns: nested `messages[].images`, the flattened `images`
/// the web client reads, `imageUrls` and `imageOrderMap`. Serialized straight from the model,
/// without an intermediate JSON tree.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionView<'a> {
    id: &'a str,
    session_id: &'a str,
    uid: &'a str,
    model: &'a str,
    frame_size: &'a Option<String>,
    style: &'a Option<String>,
    status: Status,
    started_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
    messages: &'a [Message],
    images: &'a [FlatImage<'a>],
    image_urls: ImageUrls<'a>,
    image_order_map: ImageOrderMap<'a>,
    total_images: u32,
    seq: u64,
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

impl Serialize for Session {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let meta = &self.meta;
        let mut flat: Vec<FlatImage<'_>> = Vec::with_capacity(meta.total_images as usize);
        for message in &self.messages {
            flat.extend(message.images.iter().map(|image| FlatImage {
                image,
                prompt: &message.prompt,
                timestamp: message.timestamp,
                message_id: &message.id,
            }));
        }
        // Images added to earlier messages (as generations finish) interleave by order.
        if !flat.is_sorted_by_key(|f| f.image.order) {
            flat.sort_by_key(|f| f.image.order);
        }
        SessionView {
            id: &meta.id,
            session_id: &meta.session_id,
            uid: &meta.uid,
            model: &meta.model,
            frame_size: &meta.frame_size,
            style: &meta.style,
            status: meta.status,
            started_at: meta.started_at,
            completed_at: meta.completed_at,
            created_at: meta.created_at,
            updated_at: meta.updated_at,
            messages: &self.messages,
            images: &flat,
            image_urls: ImageUrls(&flat),
            image_order_map: ImageOrderMap(&flat),
            total_images: meta.total_images,
            seq: meta.seq,
        }
        .serialize(serializer)
    }
}
