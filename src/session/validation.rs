//! The domain's rules for what clients may ask: the limits, the refusal that names a field,
//! and the validated values (`NewSession`, `NewMessage`, `NewImage`) that the actor and the
//! stores trust without checking again. The wire is parsed into them by
//! the transports' `protocol::input`.

use crate::domain::time::Timestamp;

/// Input limits; each is configurable (see `serve --help`).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_prompt_chars: usize,
    pub max_images_per_message: usize,
    pub max_url_chars: usize,
    /// Ids, `model`, `style` and `frameSize`.
    pub max_field_chars: usize,
    pub max_images_per_session: u32,
    /// A signal's `data`, encoded as JSON.
    pub max_signal_bytes: usize,
}

impl Limits {
    /// A signal's `data`, unless it is larger than allowed (then its encoded size).
    pub fn check_signal(&self, data: serde_json::Value) -> Result<serde_json::Value, usize> {
        let encoded = data.to_string().len();
        if encoded > self.max_signal_bytes {
            return Err(encoded);
        }
        Ok(data)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_prompt_chars: 10_000,
            max_images_per_message: 64,
            max_url_chars: 2_048,
            max_field_chars: 128,
            max_images_per_session: 10_000,
            max_signal_bytes: 4 * 1024,
        }
    }
}

/// Input that cannot be accepted, and the field that makes it so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidInput {
    pub field: String,
    pub message: String,
}

impl InvalidInput {
    /// The same refusal, for a field of the object `parent` (`changes.status`, `image.url`).
    pub fn within(self, parent: &str) -> Self {
        let field = if self.field.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.field)
        };
        let message = match self.message.strip_prefix(self.field.as_str()) {
            Some(rest) if !self.field.is_empty() => format!("{field}{rest}"),
            _ => self.message,
        };
        Self { field, message }
    }

    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A value parsed from input, or why it cannot be.
pub type Parsed<T> = Result<T, InvalidInput>;

/// A request to create a session (`POST /`, `POST /find-or-create`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub session_id: String,
    pub model: String,
    pub frame_size: Option<String>,
    pub style: Option<String>,
    pub started_at: Option<Timestamp>,
}

/// A message to append, with the images generated for it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Idempotency key: a second append with the same id changes nothing.
    pub message_id: Option<String>,
    pub prompt: String,
    pub images: Vec<NewImage>,
    pub timestamp: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewImage {
    pub id: Option<String>,
    pub url: String,
    pub storage_path: Option<String>,
    pub original_url: Option<String>,
    pub firebase_url: Option<String>,
}
