//! The wire's input parsed into the domain's validated values: request bodies and command
//! fields (this file), the list's query and cursor ([`list`]). What they return is valid by
//! construction, so the actor and the stores never check again; each refusal names the
//! offending field (`images[2].url`).

use serde_json::{Map, Value};

use crate::domain::model::{FieldChanges, Status};
use crate::domain::time::Timestamp;
use crate::session::validation::{InvalidInput, Limits, NewImage, NewMessage, NewSession, Parsed};

mod list;
#[cfg(test)]
mod properties;

pub use list::{cursor, followed_list_query, list_query};

/// `POST /`, `POST /find-or-create`.
pub fn new_session(body: &Map<String, Value>, limits: &Limits) -> Parsed<NewSession> {
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
    Ok(NewSession {
        session_id: session_id.to_owned(),
        model: fields
            .required_str("model", limits.max_field_chars)?
            .to_owned(),
        frame_size: fields.optional_str("frameSize", limits.max_field_chars)?,
        style: fields.optional_str("style", limits.max_field_chars)?,
        started_at: fields.optional_timestamp("startedAt")?,
    })
}

/// `POST /:id/messages`, `message.add`.
pub fn new_message(body: &Map<String, Value>, limits: &Limits) -> Parsed<NewMessage> {
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
        .map(|(i, item)| image_at(item, &format!("images[{i}]"), limits))
        .collect::<Parsed<Vec<_>>>()?;
    Ok(NewMessage {
        message_id: fields.optional_id("messageId", limits)?,
        prompt: prompt.unwrap_or_default().to_owned(),
        images,
        timestamp: fields.optional_timestamp("timestamp")?,
    })
}

/// The `image` of `image.add`.
pub fn new_image(value: &Value, limits: &Limits) -> Parsed<NewImage> {
    image_at(value, "image", limits)
}

fn image_at(value: &Value, field: &str, limits: &Limits) -> Parsed<NewImage> {
    let Value::Object(obj) = value else {
        return Err(InvalidInput::new(
            field,
            format!("{field} must be an object"),
        ));
    };
    let fields = Fields::new(obj, field);
    Ok(NewImage {
        id: fields.optional_id("id", limits)?,
        url: fields.required_url("url", limits.max_url_chars)?,
        storage_path: fields.optional_str("storagePath", limits.max_url_chars)?,
        original_url: fields.optional_url("originalUrl", limits.max_url_chars)?,
        firebase_url: fields.optional_url("firebaseUrl", limits.max_url_chars)?,
    })
}

/// `PATCH /:id`: only these fields may change; anything else in the body is refused.
pub fn update(body: &Map<String, Value>, limits: &Limits) -> Parsed<FieldChanges> {
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
pub fn completion(body: &Map<String, Value>) -> Parsed<Option<Timestamp>> {
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
        let err = new_message(&body, &Limits::default()).unwrap_err();
        assert_eq!(err.field, "images[1].url");
    }

    #[test]
    fn update_refuses_fields_outside_the_whitelist() {
        let err = update(&obj(json!({"uid": "x"})), &Limits::default()).unwrap_err();
        assert_eq!(err.field, "uid");
    }
}
