//! A message that validates is stored and read back unchanged, whatever its text: generated
//! prompts, URLs, ids, paths and timestamps go through the server and its store and come back
//! exactly as sent. A fixed number of cases from a fixed seed.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};

use crate::helpers::*;

fn url() -> impl Strategy<Value = String> {
    "https://[a-z]{1,10}\\.example/[A-Za-z0-9_./~%-]{0,40}(\\?[a-z]=[A-Za-z0-9]{0,8})?"
}

/// An image as a client sends it; `n` keeps its url and id unique within the message.
fn image(n: usize) -> impl Strategy<Value = Value> {
    (
        url(),
        proptest::option::of("[A-Za-z0-9_-]{1,12}"),
        proptest::option::of("\\PC{1,40}"),
        proptest::option::of(url()),
        proptest::option::of(url()),
    )
        .prop_map(move |(url, id, storage_path, original_url, firebase_url)| {
            json!({
                "url": format!("{url}#{n}"),
                "id": id.map(|id| format!("{id}-{n}")),
                "storagePath": storage_path,
                "originalUrl": original_url,
                "firebaseUrl": firebase_url,
            })
        })
}

fn message() -> impl Strategy<Value = Value> {
    (
        "\\PC{0,300}",
        (0usize..5).prop_flat_map(|count| (0..count).map(image).collect::<Vec<_>>()),
        proptest::option::of(0i64..4_102_444_800_000),
        proptest::option::of("[A-Za-z0-9._:-]{1,40}"),
    )
        .prop_map(|(prompt, images, millis, message_id)| {
            let timestamp = millis.map(|ms| {
                chrono::DateTime::from_timestamp_millis(ms)
                    .unwrap()
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string()
            });
            json!({ "prompt": prompt, "images": images, "timestamp": timestamp, "messageId": message_id })
        })
}

#[test]
fn a_message_that_validates_is_read_back_exactly_as_sent() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(spawn_app());
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 100,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let cases = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&message(), |sent| {
            let n = cases.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            runtime.block_on(async {
                let id = app.create_session("u", &format!("s-{n}")).await;
                let appended = app.append("u", &id, sent.clone()).await;
                prop_assert_eq!(appended.status, 200, "{:?}", appended.body);
                let session = app.session("u", &id).await;
                let stored = &session["messages"][0];
                prop_assert_eq!(&stored["prompt"], &sent["prompt"]);
                if !sent["messageId"].is_null() {
                    prop_assert_eq!(&stored["id"], &sent["messageId"]);
                }
                if !sent["timestamp"].is_null() {
                    prop_assert_eq!(&stored["timestamp"], &sent["timestamp"]);
                }
                let images = sent["images"].as_array().unwrap();
                prop_assert_eq!(stored["images"].as_array().unwrap().len(), images.len());
                for (at, (back, image)) in stored["images"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(images)
                    .enumerate()
                {
                    for field in ["url", "storagePath", "originalUrl", "firebaseUrl"] {
                        prop_assert_eq!(&back[field], &image[field], "{}", field);
                    }
                    if !image["id"].is_null() {
                        prop_assert_eq!(&back["id"], &image["id"]);
                    }
                    prop_assert_eq!(&back["order"], &json!(at + 1));
                }
                Ok(())
            })
        })
        .unwrap();
}
