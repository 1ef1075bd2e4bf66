//! The documents of the Firestore layout, and their mapping to the model.
//!
//! ```text
//! liveChatSessions/{id}                      metadata and counters (layout 2)
//! liveChatSessions/{id}/messages/{position}  one per message, in order
//! liveChatSessions/{id}/images/{order}       one per image, in order
//! liveChatSessions/{id}/events/{seq}         recent events, for resuming sockets
//! liveChatSessionKeys/{sha256(uid, sessionId)}   makes (uid, sessionId) unique
//! liveChatImageLookups/{sha256(uid, url)}        the user's sessions holding an image URL
//! ```
//!
//! Sessions written by the original system live in one `liveChatSessions` document with inline
//! `images[]`, `messages[]` and `imageUrls[]` (layout 0); they are read as they are and converted
//! to layout 2 by the migration or by their first write.

use std::collections::BTreeMap;

use firestore::{FirestoreInstant, FirestoreTimestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::model::{Image, Message, Session, SessionEvent, SessionMeta, Status};
use crate::domain::time::Timestamp;
use crate::store::codec;

pub const SESSIONS: &str = "liveChatSessions";
pub const MESSAGES: &str = "messages";
pub const IMAGES: &str = "images";
pub const EVENTS: &str = "events";
pub const SESSION_KEYS: &str = "liveChatSessionKeys";
/// The field of a session document naming the writer whose commit goes next (see `turn`).
pub const TURN: &str = "turn";
pub const IMAGE_LOOKUPS: &str = "liveChatImageLookups";

/// The fields the store's queries filter or order on, by collection. Every other field it or
/// the original system writes is exempt from indexing in `firestore.indexes.json` (a test
/// holds the two together): Firestore indexes every field unless told otherwise, and index
/// entries are what a write waits for.
#[cfg(test)]
pub const QUERIED_FIELDS: &[(&str, &str)] = &[
    (SESSIONS, "uid"),
    (SESSIONS, "sessionId"),
    (SESSIONS, "status"),
    (SESSIONS, "updatedAt"),
    (SESSIONS, "imageUrls"),
    (MESSAGES, "position"),
    (IMAGES, "order"),
    (EVENTS, "seq"),
];

/// The fields of the original system's session documents, which are read, never written here.
#[cfg(test)]
pub const ORIGINAL_FIELDS: &[&str] = &[
    "sessionId",
    "uid",
    "model",
    "frameSize",
    "style",
    "status",
    "startedAt",
    "completedAt",
    "messages",
    "images",
    "imageUrls",
    "imageOrderMap",
    "totalImages",
    "createdAt",
    "updatedAt",
];

/// The current layout; documents without a `layout` field are the original system's.
pub const LAYOUT: i64 = 2;

pub fn to_firestore(t: Timestamp) -> FirestoreTimestamp {
    FirestoreTimestamp(FirestoreInstant::from_millisecond(t.millis()).unwrap_or_default())
}

pub fn from_firestore(t: &FirestoreTimestamp) -> Timestamp {
    Timestamp::from_millis(t.0.as_millisecond())
}

fn hash_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn session_key_id(uid: &str, session_id: &str) -> String {
    hash_id(&[uid, session_id])
}

pub fn lookup_id(uid: &str, url: &str) -> String {
    hash_id(&[uid, url])
}

/// Zero-padded so that document ids sort like the numbers.
pub fn numbered_id(n: u64) -> String {
    format!("{n:012}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDoc {
    pub uid: String,
    pub session_id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub frame_size: Option<String>,
    #[serde(default)]
    pub style: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub started_at: Option<FirestoreTimestamp>,
    #[serde(default)]
    pub completed_at: Option<FirestoreTimestamp>,
    #[serde(default)]
    pub created_at: Option<FirestoreTimestamp>,
    #[serde(default)]
    pub updated_at: Option<FirestoreTimestamp>,
    #[serde(default)]
    pub seq: i64,
    #[serde(default)]
    pub total_images: i64,
    #[serde(default)]
    pub message_count: i64,
    #[serde(default)]
    pub layout: i64,
    /// The original system's inline arrays (layout 0 only; never written).
    #[serde(default, skip_serializing)]
    pub messages: Option<Vec<LegacyMessage>>,
    #[serde(default, skip_serializing)]
    pub images: Option<Vec<LegacyImage>>,
    /// The claim of the writer whose commit goes next, while several contend (see `turn`);
    /// never written with the document, so every commit clears it.
    #[serde(default, skip_serializing)]
    pub turn: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyMessage {
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub timestamp: Option<FirestoreTimestamp>,
    #[serde(default)]
    pub images: Option<Vec<LegacyImage>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyImage {
    #[serde(default)]
    pub id: Option<String>,
    pub url: String,
    #[serde(default)]
    pub storage_path: Option<String>,
    #[serde(default)]
    pub original_url: Option<String>,
    #[serde(default)]
    pub firebase_url: Option<String>,
    #[serde(default)]
    pub order: Option<i64>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub timestamp: Option<FirestoreTimestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageDoc {
    pub position: i64,
    pub message_id: String,
    pub prompt: String,
    pub timestamp: FirestoreTimestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageDoc {
    pub order: i64,
    pub message_id: String,
    pub id: String,
    pub url: String,
    pub storage_path: Option<String>,
    pub original_url: Option<String>,
    pub firebase_url: Option<String>,
}

/// One event of the log, in the store's encoding (`event`). Documents written before the log
/// was versioned hold the push frame of the time in `frame` instead.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventDoc {
    pub seq: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<String>,
}

impl EventDoc {
    pub fn new(event: &SessionEvent) -> Self {
        Self {
            seq: event.seq() as i64,
            event: Some(codec::encode(event)),
            frame: None,
        }
    }

    pub fn event(&self) -> Result<SessionEvent, String> {
        match (&self.event, &self.frame) {
            (Some(text), _) | (None, Some(text)) => codec::decode(text),
            (None, None) => Err("an event document holds no event".into()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionKeyDoc {
    pub uid: String,
    pub session_id: String,
    pub session_doc_id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LookupDoc {
    pub uid: String,
    pub url: String,
    /// Session id → true, for each of the user's sessions holding the URL.
    #[serde(default)]
    pub sessions: BTreeMap<String, bool>,
}

impl SessionDoc {
    pub fn is_legacy(&self) -> bool {
        self.layout < LAYOUT
    }

    pub fn from_meta(meta: &SessionMeta, message_count: usize) -> Self {
        Self {
            uid: meta.uid.clone(),
            session_id: meta.session_id.clone(),
            model: meta.model.clone(),
            frame_size: meta.frame_size.clone(),
            style: meta.style.clone(),
            status: Some(meta.status.as_str().to_owned()),
            started_at: Some(to_firestore(meta.started_at)),
            completed_at: meta.completed_at.map(to_firestore),
            created_at: Some(to_firestore(meta.created_at)),
            updated_at: Some(to_firestore(meta.updated_at)),
            seq: meta.seq as i64,
            total_images: i64::from(meta.total_images),
            message_count: message_count as i64,
            layout: LAYOUT,
            messages: None,
            images: None,
            turn: None,
        }
    }

    pub fn meta(&self, id: &str) -> SessionMeta {
        let created_at = self.created_at.as_ref().map(from_firestore);
        let updated_at = self.updated_at.as_ref().map(from_firestore);
        let started_at = self.started_at.as_ref().map(from_firestore);
        let fallback = created_at
            .or(started_at)
            .or(updated_at)
            .unwrap_or(Timestamp::from_millis(0));
        SessionMeta {
            id: id.to_owned(),
            session_id: self.session_id.clone(),
            uid: self.uid.clone(),
            model: self.model.clone(),
            frame_size: self.frame_size.clone().filter(|s| !s.is_empty()),
            style: self.style.clone().filter(|s| !s.is_empty()),
            status: self
                .status
                .as_deref()
                .and_then(Status::parse)
                .unwrap_or(Status::Active),
            started_at: started_at.unwrap_or(fallback),
            completed_at: self.completed_at.as_ref().map(from_firestore),
            created_at: created_at.unwrap_or(fallback),
            updated_at: updated_at.unwrap_or(fallback),
            seq: self.seq.max(0) as u64,
            total_images: self.total_images.max(0) as u32,
        }
    }

    /// A session in the original one-document shape, as the model. Its messages and images get
    /// ids derived from their positions (stable, so the conversion writes the same ids), and
    /// images are grouped into the message with their prompt and timestamp.
    pub fn legacy_session(&self, id: &str) -> Session {
        let mut meta = self.meta(id);
        let mut messages: Vec<Message> = Vec::new();
        let mut loose: Vec<LegacyImage> = self.images.clone().unwrap_or_default();
        for (index, legacy) in self.messages.iter().flatten().enumerate() {
            let timestamp = legacy
                .timestamp
                .as_ref()
                .map(from_firestore)
                .unwrap_or(meta.created_at);
            loose.extend(legacy.images.iter().flatten().cloned().map(|mut image| {
                image
                    .prompt
                    .get_or_insert_with(|| legacy.prompt.clone().unwrap_or_default());
                image
                    .timestamp
                    .get_or_insert_with(|| to_firestore(timestamp));
                image
            }));
            messages.push(Message {
                id: format!("legacy-{}", index + 1),
                prompt: legacy.prompt.clone().unwrap_or_default(),
                timestamp,
                images: Vec::new(),
            });
        }
        loose.sort_by_key(|image| image.order.unwrap_or(i64::MAX));
        let mut seen = std::collections::HashSet::new();
        let mut order = 0;
        for image in loose {
            if !seen.insert(image.url.clone()) {
                continue;
            }
            order += 1;
            let prompt = image.prompt.clone().unwrap_or_default();
            let timestamp = image
                .timestamp
                .as_ref()
                .map(from_firestore)
                .unwrap_or(meta.created_at);
            let at = match messages
                .iter()
                .position(|m| m.prompt == prompt && m.timestamp == timestamp)
            {
                Some(at) => at,
                None => {
                    messages.push(Message {
                        id: format!("legacy-{}", messages.len() + 1),
                        prompt,
                        timestamp,
                        images: Vec::new(),
                    });
                    messages.len() - 1
                }
            };
            messages[at].images.push(Image {
                id: image
                    .id
                    .clone()
                    .filter(|i| !i.is_empty())
                    .unwrap_or_else(|| format!("legacy-image-{order}")),
                url: image.url,
                storage_path: image.storage_path.filter(|s| !s.is_empty()),
                original_url: image.original_url.filter(|s| !s.is_empty()),
                firebase_url: image.firebase_url.filter(|s| !s.is_empty()),
                order,
            });
        }
        meta.total_images = order;
        Session { meta, messages }
    }
}

impl MessageDoc {
    pub fn new(position: usize, message: &Message) -> Self {
        Self {
            position: position as i64,
            message_id: message.id.clone(),
            prompt: message.prompt.clone(),
            timestamp: to_firestore(message.timestamp),
        }
    }
}

impl ImageDoc {
    pub fn new(message_id: &str, image: &Image) -> Self {
        Self {
            order: i64::from(image.order),
            message_id: message_id.to_owned(),
            id: image.id.clone(),
            url: image.url.clone(),
            storage_path: image.storage_path.clone(),
            original_url: image.original_url.clone(),
            firebase_url: image.firebase_url.clone(),
        }
    }

    pub fn image(&self) -> Image {
        Image {
            id: self.id.clone(),
            url: self.url.clone(),
            storage_path: self.storage_path.clone(),
            original_url: self.original_url.clone(),
            firebase_url: self.firebase_url.clone(),
            order: self.order.max(0) as u32,
        }
    }
}

/// Puts images (in `order`) into their messages (in position order).
pub fn assemble(meta: SessionMeta, messages: Vec<MessageDoc>, images: Vec<ImageDoc>) -> Session {
    let messages = messages
        .into_iter()
        .map(|doc| Message {
            id: doc.message_id,
            prompt: doc.prompt,
            timestamp: from_firestore(&doc.timestamp),
            images: Vec::new(),
        })
        .collect();
    let images = images.into_iter().map(|doc| {
        let image = doc.image();
        (doc.message_id, image)
    });
    Session::assemble(meta, messages, images)
}
