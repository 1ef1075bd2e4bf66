//! Parsing of client input into domain values. Every transport hands the JSON it received to
//! these functions; what they return is valid by construction, so the actor and the store never
//! re-check. Each error names the offending field (`images[2].url`).

use serde_json::{Map, Value};

use super::model::{FieldChanges, Status};
use super::time::Timestamp;

mod list;
#[cfg(test)]
mod properties;

pub use list::{ListPosition, ListQuery};

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

type Parsed<T> = Result<T, InvalidInput>;

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

impl NewSession {
    pub fn parse(body: &Map<String, Value>, limits: &Limits) -> Parsed<Self> {
        let fields = Fields::new(body, "");
        let session_id = fields.required_str("sessionId", limits.max_field_chars)?;
        if !session_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
        {
            return Err(InvalidInput::new(
                "sessionId",
                "sessionId may only contain letters, digits and . _ : -",
            ));
        }
        Ok(Self {
            session_id: session_id.to_owned(),
            model: fields
                .required_str("model", limits.max_field_chars)?
                .to_owned(),
            frame_size: fields.optional_str("frameSize", limits.max_field_chars)?,
            style: fields.optional_str("style", limits.max_field_chars)?,
            started_at: fields.optional_timestamp("startedAt")?,
        })
    }
}

impl NewMessage {
    pub fn parse(body: &Map<String, Value>, limits: &Limits) -> Parsed<Self> {
        let fields = Fields::new(body, "");
        let prompt = fields.string("prompt", true, limits.max_prompt_chars, true)?;
        let images = match body.get("images") {
            Some(Value::Array(items)) => items,
            Some(_) => return Err(InvalidInput::new("images", "images must be an array")),
            None => return Err(InvalidInput::new("images", "images is required")),
        };
        if images.len() > limits.max_images_per_message {
            return Err(InvalidInput::new(
                "images",
                format!(
                    "a message may hold at most {} images",
                    limits.max_images_per_message
                ),
            ));
        }
        let images = images
            .iter()
            .enumerate()
            .map(|(i, item)| NewImage::parse_at(item, &format!("images[{i}]"), limits))
            .collect::<Parsed<Vec<_>>>()?;
        Ok(Self {
            message_id: fields.optional_id("messageId", limits)?,
            prompt: prompt.unwrap_or_default().to_owned(),
            images,
            timestamp: fields.optional_timestamp("timestamp")?,
        })
    }
}

impl NewImage {
    pub fn parse(value: &Value, limits: &Limits) -> Parsed<Self> {
        Self::parse_at(value, "image", limits)
    }

    fn parse_at(value: &Value, field: &str, limits: &Limits) -> Parsed<Self> {
        let Value::Object(obj) = value else {
            return Err(InvalidInput::new(
                field,
                format!("{field} must be an object"),
            ));
        };
        let fields = Fields::new(obj, field);
        Ok(Self {
            id: fields.optional_id("id", limits)?,
            url: fields.required_url("url", limits.max_url_chars)?,
            storage_path: fields.optional_str("storagePath", limits.max_url_chars)?,
            original_url: fields.optional_url("originalUrl", limits.max_url_chars)?,
            firebase_url: fields.optional_url("firebaseUrl", limits.max_url_chars)?,
        })
    }
}

/// `PATCH /:id`: only these fields may change; anything else in the body is refused.
pub fn parse_update(body: &Map<String, Value>, limits: &Limits) -> Parsed<FieldChanges> {
    const ALLOWED: [&str; 5] = ["status", "completedAt", "model", "frameSize", "style"];
    if let Some(key) = body.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        // An empty key is named as JSON writes it, so that the refusal still names something.
        let key = if key.is_empty() { "\"\"" } else { key.as_str() };
        return Err(InvalidInput::new(
            key,
            format!(
                "{key} cannot be changed; only status, completedAt, model, frameSize and style can"
            ),
        ));
    }
    let fields = Fields::new(body, "");
    let status = match fields.optional_str("status", limits.max_field_chars)? {
        Some(text) => Some(Status::parse(&text).ok_or_else(|| {
            InvalidInput::new("status", "status must be one of active, completed, failed")
        })?),
        None if body.contains_key("status") => {
            return Err(InvalidInput::new("status", "status cannot be null"));
        }
        None => None,
    };
    let model = match body.get("model") {
        None => None,
        Some(Value::Null) => return Err(InvalidInput::new("model", "model cannot be null")),
        Some(_) => Some(
            fields
                .required_str("model", limits.max_field_chars)?
                .to_owned(),
        ),
    };
    let present = |name: &str| body.contains_key(name);
    Ok(FieldChanges {
        status,
        completed_at: if present("completedAt") {
            Some(fields.optional_timestamp("completedAt")?)
        } else {
            None
        },
        model,
        frame_size: if present("frameSize") {
            Some(fields.optional_str("frameSize", limits.max_field_chars)?)
        } else {
            None
        },
        style: if present("style") {
            Some(fields.optional_str("style", limits.max_field_chars)?)
        } else {
            None
        },
    })
}

/// `PATCH /:id/complete`: `completedAt` is optional and defaults to now.
pub fn parse_completion(body: &Map<String, Value>) -> Parsed<Option<Timestamp>> {
    Fields::new(body, "").optional_timestamp("completedAt")
}

/// Typed reads of one JSON object's fields, naming each field in errors.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    prefix: &'a str,
}

impl<'a> Fields<'a> {
    fn new(obj: &'a Map<String, Value>, prefix: &'a str) -> Self {
        Self { obj, prefix }
    }

    fn name(&self, field: &str) -> String {
        if self.prefix.is_empty() {
            field.to_owned()
        } else {
            format!("{}.{field}", self.prefix)
        }
    }

    fn invalid(&self, field: &str, message: impl std::fmt::Display) -> InvalidInput {
        let name = self.name(field);
        InvalidInput::new(name.clone(), format!("{name} {message}"))
    }

    /// A string field: `None` when absent or null (unless required). `allow_empty` lets an
    /// empty string through (prompts may be empty; identifiers may not).
    fn string(
        &self,
        field: &str,
        required: bool,
        max_chars: usize,
        allow_empty: bool,
    ) -> Parsed<Option<&'a str>> {
        let text = match self.obj.get(field) {
            None | Some(Value::Null) if required => {
                return Err(self.invalid(field, "is required"));
            }
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(text)) => text.as_str(),
            Some(_) => return Err(self.invalid(field, "must be a string")),
        };
        if text.is_empty() && !allow_empty {
            return Err(self.invalid(field, "must not be empty"));
        }
        if text.chars().count() > max_chars {
            return Err(self.invalid(field, format!("must be at most {max_chars} characters")));
        }
        Ok(Some(text))
    }

    fn required_str(&self, field: &str, max_chars: usize) -> Parsed<&'a str> {
        Ok(self
            .string(field, true, max_chars, false)?
            .unwrap_or_default())
    }

    /// Optional text; an empty string counts as absent (clients send `""` for "none").
    fn optional_str(&self, field: &str, max_chars: usize) -> Parsed<Option<String>> {
        Ok(self
            .string(field, false, max_chars, true)?
            .filter(|t| !t.is_empty())
            .map(str::to_owned))
    }

    fn optional_id(&self, field: &str, limits: &Limits) -> Parsed<Option<String>> {
        let id = self.string(field, false, limits.max_field_chars, false)?;
        if id.is_some_and(|id| id.chars().any(char::is_control)) {
            return Err(self.invalid(field, "must not contain control characters"));
        }
        Ok(id.map(str::to_owned))
    }

    fn check_url(&self, field: &str, text: &str) -> Parsed<()> {
        match url::Url::parse(text) {
            Ok(_) if !text.chars().any(|c| c.is_whitespace() || c.is_control()) => Ok(()),
            _ => Err(self.invalid(field, "must be an absolute URL")),
        }
    }

    fn required_url(&self, field: &str, max_chars: usize) -> Parsed<String> {
        let text = self.required_str(field, max_chars)?;
        self.check_url(field, text)?;
        Ok(text.to_owned())
    }

    fn optional_url(&self, field: &str, max_chars: usize) -> Parsed<Option<String>> {
        let text = self.optional_str(field, max_chars)?;
        if let Some(text) = &text {
            self.check_url(field, text)?;
        }
        Ok(text)
    }

    fn optional_timestamp(&self, field: &str) -> Parsed<Option<Timestamp>> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Timestamp::parse_rfc3339(text)
                .map(Some)
                .ok_or_else(|| self.invalid(field, "must be an RFC 3339 timestamp")),
            Some(_) => Err(self.invalid(field, "must be an RFC 3339 timestamp string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn image_errors_name_the_nested_field() {
        let body = obj(json!({"prompt": "p", "images": [{"url": "https://a/1"}, {"url": 3}]}));
        let err = NewMessage::parse(&body, &Limits::default()).unwrap_err();
        assert_eq!(err.field, "images[1].url");
    }

    #[test]
    fn update_refuses_fields_outside_the_whitelist() {
        let err = parse_update(&obj(json!({"uid": "x"})), &Limits::default()).unwrap_err();
        assert_eq!(err.field, "uid");
    }
}
