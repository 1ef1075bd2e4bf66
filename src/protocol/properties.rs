//! Property tests of frame parsing: any text, any bytes and any JSON never panic, and every
//! refusal of a command names what is wrong (the field, for invalid arguments). A fixed number
//! of cases from a fixed seed, so that CI runs the same ones every time.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};

use super::command::{Command, Refusal};
use crate::session::validation::Limits;

/// A runner of `cases` cases from a fixed seed, so that CI runs the same ones every time.
pub(crate) fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

/// Any JSON value, a few levels deep.
pub(crate) fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::from),
        "https?://[a-z]{1,8}\\.example/[a-z0-9/]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    4 => prop::sample::select(&["url", "id", "status", "completedAt"][..])
                        .prop_map(str::to_owned),
                    4 => field_name(),
                    1 => ".{0,8}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The name of a field some command has.
fn field_name() -> impl Strategy<Value = String> {
    const FIELDS: &[&str] = &[
        "prompt",
        "images",
        "messageId",
        "image",
        "changes",
        "completedAt",
        "timestamp",
        "token",
    ];
    prop::sample::select(FIELDS).prop_map(str::to_owned)
}

/// A command frame: a known or unknown type, an id of any shape, and any other fields.
fn command_frame() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        Just(json!("auth")),
        Just(json!("ping")),
        Just(json!("message.add")),
        Just(json!("image.add")),
        Just(json!("session.complete")),
        Just(json!("session.update")),
        any_json(),
    ];
    let id = prop_oneof![4 => any::<i64>().prop_map(Value::from), 1 => any_json()];
    (
        id,
        kind,
        prop::collection::btree_map(field_name(), any_json(), 0..5),
    )
        .prop_map(|(id, kind, fields)| {
            let mut frame: Map<String, Value> = fields.into_iter().collect();
            frame.insert("id".into(), id);
            frame.insert("type".into(), kind);
            Value::Object(frame)
        })
}

/// The name a field path starts with: `images` of `images[2].url`, `image` of `image.url`.
fn root(field: &str) -> &str {
    field.split(['[', '.']).next().unwrap_or(field)
}

fn check(text: &str, frame: Option<&Value>) -> Result<(), TestCaseError> {
    match Command::parse(text, &Limits::default()) {
        Ok(_) => {}
        Err(Refusal::Malformed { message, .. }) => prop_assert!(!message.is_empty()),
        Err(Refusal::UnknownCommand { kind, .. }) => {
            prop_assert!(!kind.is_empty() || frame.is_some())
        }
        Err(Refusal::Invalid { error, .. }) => {
            prop_assert!(
                !error.field.is_empty(),
                "a refusal without a field: {}",
                error.message
            );
            prop_assert!(!error.message.is_empty());
            if let Some(Value::Object(frame)) = frame {
                let root = root(&error.field);
                // The field is one the frame has, or a required one it lacks.
                let required = ["prompt", "images", "messageId", "image", "changes", "token"];
                prop_assert!(
                    frame.contains_key(&error.field)
                        || frame.contains_key(root)
                        || required.contains(&root),
                    "{} names {root:?}, not in {frame:?}",
                    error.field
                );
            }
        }
    }
    Ok(())
}

#[test]
fn any_text_is_a_command_or_a_refusal_never_a_panic() {
    runner(2_000)
        .run(&".{0,200}", |text| check(&text, None))
        .unwrap();
}

#[test]
fn any_bytes_are_a_command_or_a_refusal_never_a_panic() {
    runner(2_000)
        .run(&prop::collection::vec(any::<u8>(), 0..300), |bytes| {
            check(&String::from_utf8_lossy(&bytes), None)
        })
        .unwrap();
}

#[test]
fn any_command_frame_is_parsed_or_refused_naming_its_field() {
    runner(2_000)
        .run(&command_frame(), |frame| {
            check(&frame.to_string(), Some(&frame))
        })
        .unwrap();
}
