//! Property tests of request validation: any JSON body is parsed or refused, never a panic, and
//! every refusal names its field: one the body has, or a required one it lacks. A fixed number
//! of cases from a fixed seed. (That what validates is stored and read back unchanged is
//! `tests/api/properties.rs`, through the server.)

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::{InvalidInput, Limits, completion, new_message, new_session, update};
use crate::protocol::properties::{any_json, runner};

/// A body: an object with the route's fields (of any value) and others.
fn body(fields: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        4 => prop::sample::select(fields).prop_map(str::to_owned),
        1 => ".{0,8}",
    ];
    prop::collection::btree_map(key, any_json(), 0..6).prop_map(|m| m.into_iter().collect())
}

fn names_its_field(
    result: Result<(), InvalidInput>,
    body: &Map<String, Value>,
    required: &[&str],
) -> Result<(), TestCaseError> {
    if let Err(error) = result {
        prop_assert!(!error.field.is_empty(), "no field: {}", error.message);
        let root = error.field.split(['[', '.']).next().unwrap_or_default();
        prop_assert!(
            body.contains_key(&error.field)
                || body.contains_key(root)
                || required.contains(&root)
                || (error.field == "\"\"" && body.contains_key("")),
            "{:?} names {root:?}, which the body {body:?} lacks",
            error.field
        );
    }
    Ok(())
}

#[test]
fn any_new_session_body_is_parsed_or_refused_naming_its_field() {
    let fields = &["sessionId", "model", "frameSize", "style", "startedAt"];
    runner(2_000)
        .run(&body(fields), |body| {
            let parsed = new_session(&body, &Limits::default()).map(drop);
            names_its_field(parsed, &body, &["sessionId", "model"])
        })
        .unwrap();
}

#[test]
fn any_new_message_body_is_parsed_or_refused_naming_its_field() {
    let fields = &["prompt", "images", "timestamp", "messageId"];
    runner(2_000)
        .run(&body(fields), |body| {
            let parsed = new_message(&body, &Limits::default()).map(drop);
            names_its_field(parsed, &body, &["prompt", "images"])
        })
        .unwrap();
}

#[test]
fn any_update_or_completion_body_is_parsed_or_refused_naming_its_field() {
    let fields = &[
        "status",
        "completedAt",
        "model",
        "frameSize",
        "style",
        "uid",
    ];
    runner(2_000)
        .run(&body(fields), |body| {
            names_its_field(update(&body, &Limits::default()).map(drop), &body, &[])?;
            names_its_field(completion(&body).map(drop), &body, &[])
        })
        .unwrap();
}
