//! The session as the product knows it: messages in order, each with its images, every image
//! numbered by a session-wide `order` (1, 2, 3, …), and a `seq` that counts committed changes.

use super::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl Session {
    /// A session from its messages (in order, without images) and its images (in `order`, each
    /// with its message's id), as stores keep them apart. An image whose message is not there
    /// is left out.
    pub fn assemble(
        meta: SessionMeta,
        mut messages: Vec<Message>,
        images: impl IntoIterator<Item = (String, Image)>,
    ) -> Self {
        let index: std::collections::HashMap<String, usize> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        for (message_id, image) in images {
            if let Some(&at) = index.get(&message_id) {
                messages[at].images.push(image);
            }
        }
        Self { meta, messages }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    pub prompt: String,
    pub timestamp: Timestamp,
    pub images: Vec<Image>,
}

#[derive(Debug, Clone, PartialEq)]
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

/// One committed change to a session. Each carries the `seq` it produced; a commit holds one or
/// more consecutive events. Appending to a completed or failed session reactivates it as part of
/// the same event (the session's metadata after the commit says so).
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    MessageAdded {
        seq: u64,
        message: Message,
    },
    ImageAdded {
        seq: u64,
        message_id: String,
        image: Image,
    },
    SessionUpdated {
        seq: u64,
        changes: FieldChanges,
    },
}

impl SessionEvent {
    pub fn seq(&self) -> u64 {
        match self {
            SessionEvent::MessageAdded { seq, .. }
            | SessionEvent::ImageAdded { seq, .. }
            | SessionEvent::SessionUpdated { seq, .. } => *seq,
        }
    }
}

/// Images a [`Summary`] shows.
pub const SUMMARY_IMAGES: usize = 6;

/// What a history list shows of a session: its fields and counters, and its last few images.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub meta: SessionMeta,
    /// The last images by `order` (at most [`SUMMARY_IMAGES`]), ascending.
    pub last_images: Vec<SummaryImage>,
}

/// An image of a [`Summary`]: enough for a thumbnail and for restoring it.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryImage {
    pub url: String,
    pub order: u32,
    pub message_id: String,
}

impl Session {
    /// The session as a history list shows it.
    pub fn summary(&self) -> Summary {
        let mut last: Vec<(&Image, &Message)> = Vec::with_capacity(SUMMARY_IMAGES + 1);
        // Images added to earlier messages (as generations finish) may carry later orders than
        // those of later messages: look at every message, keep the greatest orders.
        // A message's images are sorted by order, so each is read from its greatest down, and
        // left once its images can no longer make the cut.
        for message in self.messages.iter().rev() {
            for image in message.images.iter().rev() {
                if last.len() < SUMMARY_IMAGES {
                    last.push((image, message));
                    continue;
                }
                match last.iter_mut().min_by_key(|(i, _)| i.order) {
                    Some(least) if least.0.order < image.order => *least = (image, message),
                    _ => break,
                }
            }
        }
        last.sort_by_key(|(image, _)| image.order);
        Summary {
            meta: self.meta.clone(),
            last_images: last
                .into_iter()
                .map(|(image, message)| SummaryImage {
                    url: image.url.clone(),
                    order: image.order,
                    message_id: message.id.clone(),
                })
                .collect(),
        }
    }
}
