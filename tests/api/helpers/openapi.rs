//! `protocol/openapi.yaml` as a checker of what the server answers.

use std::collections::HashMap;
use std::sync::OnceLock;

use reqwest::Method;
use serde_json::{Value, json};

/// `protocol/openapi.yaml`, and the check that a response is one it describes.
pub struct OpenApi {
    doc: Value,
    validators: std::sync::Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

pub fn openapi() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/protocol/openapi.yaml");
        let text = std::fs::read_to_string(path).expect("protocol/openapi.yaml exists");
        let doc: Value = serde_norway::from_str(&text).expect("openapi.yaml is valid YAML");
        OpenApi {
            doc,
            validators: Default::default(),
        }
    })
}

impl OpenApi {
    /// The path template (`/api/live-chat-sessions/{id}`) that a concrete path matches;
    /// literal segments win over parameters.
    fn template(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        let paths = self.doc["paths"].as_object()?;
        paths
            .keys()
            .filter(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == segments.len()
                    && parts
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
            })
            .min_by_key(|template| template.matches('{').count())
            .cloned()
    }

    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                self.resolve(
                    self.doc
                        .pointer(pointer)
                        .unwrap_or_else(|| panic!("dangling $ref {reference}")),
                )
            }
            None => value,
        }
    }

    fn validator(&self, key: &str, schema: &Value) -> std::sync::Arc<jsonschema::Validator> {
        let mut cache = self.validators.lock().unwrap();
        cache
            .entry(key.to_owned())
            .or_insert_with(|| {
                let mut root = schema.clone();
                if let Some(obj) = root.as_object_mut() {
                    obj.insert("components".into(), self.doc["components"].clone());
                }
                std::sync::Arc::new(
                    jsonschema::draft202012::new(&root)
                        .unwrap_or_else(|e| panic!("schema for {key} does not compile: {e}")),
                )
            })
            .clone()
    }

    /// Panics unless `body` is what the description says `method path` answers with `status`.
    #[track_caller]
    pub fn check(&self, method: &Method, path: &str, status: u16, body: &Value) {
        let (key, schema) = match self.template(path) {
            Some(template) => {
                let operation = &self.doc["paths"][&template][method.as_str().to_lowercase()];
                if operation.is_null() {
                    assert_eq!(
                        status, 405,
                        "{method} {template} is not described, yet answered {status}"
                    );
                    (
                        String::from("error"),
                        json!({"$ref": "#/components/schemas/Error"}),
                    )
                } else {
                    let response = operation["responses"]
                        .get(status.to_string())
                        .map(|r| self.resolve(r))
                        .unwrap_or_else(|| {
                            panic!("{method} {template} answered {status}, which the description does not list: {body}")
                        });
                    let schema = self
                        .resolve(&response["content"]["application/json"]["schema"])
                        .clone();
                    (format!("{method} {template} {status}"), schema)
                }
            }
            None => {
                assert!(
                    status >= 400,
                    "{method} {path} is not described, yet answered {status}"
                );
                (
                    String::from("error"),
                    json!({"$ref": "#/components/schemas/Error"}),
                )
            }
        };
        let validator = self.validator(&key, &schema);
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{key}: the response does not match openapi.yaml:\n{}\n{body:#}",
            errors.join("\n")
        );
    }
}
