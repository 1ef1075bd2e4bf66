//! The stores' own encoding of events, for the event log and for notices between instances:
//! versioned (`"v": 1`) and independent of the wire, so that a change to a push frame never
//! changes what is stored, and what was stored always decodes.
//!
//! Version 0 is what the log held before it was versioned: the push frames of that time
//! (`{"type":"message.added","seq":7,"message":{…}}`), decoded here as they were written.

mod meta;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::domain::model::{FieldChanges, Image, Message, SessionEvent, Status};
use crate::domain::time::Timestamp;
pub use meta::StoredMeta;

/// The version [`encode`] writes.
pub const VERSION: u64 = 1;

/// The event in the current version.
pub fn encode(event: &SessionEvent) -> String {
    let stored = Versioned {
        v: VERSION,
        event: Stored::from(event),
    };
    // Plain data: serializing it cannot fail.
    serde_json::to_string(&stored).unwrap_or_default()
}

/// An event written by any version.
pub fn decode(text: &str) -> Result<SessionEvent, String> {
    decode_value(serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?)
}

/// An event written by any version, already parsed.
pub fn decode_value(value: Value) -> Result<SessionEvent, String> {
    match value.get("v").and_then(Value::as_u64) {
        Some(1) => serde_json::from_value::<Versioned>(value)
            .map_err(|e| format!("not an event of version 1: {e}"))?
            .event
            .try_into(),
        Some(other) => Err(format!("events of version {other} are not known here")),
        None => Stored::try_from(
            serde_json::from_value::<legacy::Frame>(value)
                .map_err(|e| format!("not an event of version 0: {e}"))?,
        )?
        .try_into(),
    }
}

/// A list of events, encoded one by one (for serde `with`).
pub mod events {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::model::SessionEvent;

    pub fn serialize<S: Serializer>(
        events: &[SessionEvent],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(events.iter().map(super::encode))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<SessionEvent>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|text| super::decode(text).map_err(D::Error::custom))
            .collect()
    }
}

#[derive(Serialize, Deserialize)]
struct Versioned {
    v: u64,
    #[serde(flatten)]
    event: Stored,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Stored {
    Message {
        seq: u64,
        message: StoredMessage,
    },
    Image {
        seq: u64,
        message: String,
        image: StoredImage,
    },
    Update {
        seq: u64,
        changes: StoredChanges,
    },
}

#[derive(Serialize, Deserialize)]
struct StoredMessage {
    id: String,
    prompt: String,
    /// Milliseconds since the Unix epoch.
    at: i64,
    images: Vec<StoredImage>,
}

/// (Version 0 wrote the optional fields in camelCase: read under either name.)
#[derive(Serialize, Deserialize)]
struct StoredImage {
    id: String,
    url: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "storagePath"
    )]
    storage_path: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "originalUrl"
    )]
    original_url: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "firebaseUrl"
    )]
    firebase_url: Option<String>,
    order: u32,
}

/// Absent: unchanged; `null`: cleared.
#[derive(Serialize, Deserialize)]
struct StoredChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    completed_at: Option<Option<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    frame_size: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    style: Option<Option<String>>,
}

/// A field that is present, even as `null`, is `Some`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl From<&Image> for StoredImage {
    fn from(image: &Image) -> Self {
        Self {
            id: image.id.clone(),
            url: image.url.clone(),
            storage_path: image.storage_path.clone(),
            original_url: image.original_url.clone(),
            firebase_url: image.firebase_url.clone(),
            order: image.order,
        }
    }
}

impl From<StoredImage> for Image {
    fn from(image: StoredImage) -> Self {
        Self {
            id: image.id,
            url: image.url,
            storage_path: image.storage_path,
            original_url: image.original_url,
            firebase_url: image.firebase_url,
            order: image.order,
        }
    }
}

impl From<&SessionEvent> for Stored {
    fn from(event: &SessionEvent) -> Self {
        match event {
            SessionEvent::MessageAdded { seq, message } => Stored::Message {
                seq: *seq,
                message: StoredMessage {
                    id: message.id.clone(),
                    prompt: message.prompt.clone(),
                    at: message.timestamp.millis(),
                    images: message.images.iter().map(StoredImage::from).collect(),
                },
            },
            SessionEvent::ImageAdded {
                seq,
                message_id,
                image,
            } => Stored::Image {
                seq: *seq,
                message: message_id.clone(),
                image: image.into(),
            },
            SessionEvent::SessionUpdated { seq, changes } => Stored::Update {
                seq: *seq,
                changes: StoredChanges {
                    status: changes.status.map(|s| s.as_str().to_owned()),
                    completed_at: changes.completed_at.map(|at| at.map(Timestamp::millis)),
                    model: changes.model.clone(),
                    frame_size: changes.frame_size.clone(),
                    style: changes.style.clone(),
                },
            },
        }
    }
}

fn status(text: Option<String>) -> Result<Option<Status>, String> {
    text.map(|s| Status::parse(&s).ok_or_else(|| format!("unknown status {s:?}")))
        .transpose()
}

impl TryFrom<Stored> for SessionEvent {
    type Error = String;

    fn try_from(stored: Stored) -> Result<Self, String> {
        Ok(match stored {
            Stored::Message { seq, message } => SessionEvent::MessageAdded {
                seq,
                message: Message {
                    id: message.id,
                    prompt: message.prompt,
                    timestamp: Timestamp::from_millis(message.at),
                    images: message.images.into_iter().map(Image::from).collect(),
                },
            },
            Stored::Image {
                seq,
                message,
                image,
            } => SessionEvent::ImageAdded {
                seq,
                message_id: message,
                image: image.into(),
            },
            Stored::Update { seq, changes } => SessionEvent::SessionUpdated {
                seq,
                changes: FieldChanges {
                    status: status(changes.status)?,
                    completed_at: changes
                        .completed_at
                        .map(|at| at.map(Timestamp::from_millis)),
                    model: changes.model,
                    frame_size: changes.frame_size,
                    style: changes.style,
                },
            },
        })
    }
}

mod legacy;

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<SessionEvent> {
        let image = Image {
            id: "img-2".into(),
            url: "https://img/2".into(),
            storage_path: None,
            original_url: Some("https://orig/2".into()),
            firebase_url: Some("https://fb/2".into()),
            order: 2,
        };
        vec![
            SessionEvent::MessageAdded {
                seq: 1,
                message: Message {
                    id: "m-1".into(),
                    prompt: "Üñï \"q\"\n".into(),
                    timestamp: Timestamp::from_millis(1_736_935_200_123),
                    images: vec![image.clone()],
                },
            },
            SessionEvent::ImageAdded {
                seq: 2,
                message_id: "m-1".into(),
                image,
            },
            SessionEvent::SessionUpdated {
                seq: 3,
                changes: FieldChanges {
                    status: Some(Status::Completed),
                    completed_at: Some(Some(Timestamp::from_millis(5))),
                    model: None,
                    frame_size: Some(None),
                    style: Some(Some("noir".into())),
                },
            },
        ]
    }

    #[test]
    fn every_event_round_trips_through_the_current_version() {
        for event in events() {
            let text = encode(&event);
            assert!(text.starts_with("{\"v\":1,"), "{text}");
            assert_eq!(decode(&text).unwrap(), event);
        }
    }

    #[test]
    fn version_0_frames_decode_to_the_same_events() {
        let frames = [
            r#"{"type":"message.added","seq":1,"message":{"id":"m-1","prompt":"Üñï \"q\"\n","timestamp":"2025-01-15T10:00:00.123Z","images":[{"id":"img-2","url":"https://img/2","storagePath":null,"originalUrl":"https://orig/2","firebaseUrl":"https://fb/2","order":2}]}}"#,
            r#"{"type":"image.added","seq":2,"messageId":"m-1","image":{"id":"img-2","url":"https://img/2","storagePath":null,"originalUrl":"https://orig/2","firebaseUrl":"https://fb/2","order":2}}"#,
            r#"{"type":"session.updated","seq":3,"changes":{"status":"completed","completedAt":"1970-01-01T00:00:00.005Z","frameSize":null,"style":"noir"}}"#,
        ];
        for (frame, event) in frames.iter().zip(events()) {
            assert_eq!(decode(frame).unwrap(), event, "{frame}");
        }
    }

    #[test]
    fn what_is_not_an_event_is_an_error() {
        for text in [
            "",
            "{}",
            r#"{"v":9}"#,
            r#"{"v":1,"kind":"nope"}"#,
            r#"{"type":"x"}"#,
        ] {
            assert!(decode(text).is_err(), "{text}");
        }
    }
}
