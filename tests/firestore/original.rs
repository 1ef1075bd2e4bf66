//! Sessions written by the original system: one document each, with inline `images[]`,
//! `messages[]` and `imageUrls[]`, and Firestore Timestamps.

use firestore::{FirestoreDb, FirestoreDbOptions, FirestoreTimestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::helpers::*;
use crate::{emulator_host, firestore_app, new_project};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OriginalSession {
    session_id: String,
    uid: String,
    model: String,
    frame_size: Option<String>,
    style: Option<String>,
    status: String,
    started_at: FirestoreTimestamp,
    completed_at: Option<FirestoreTimestamp>,
    messages: Vec<OriginalMessage>,
    images: Vec<OriginalImage>,
    image_urls: Vec<String>,
    image_order_map: std::collections::BTreeMap<String, i64>,
    total_images: i64,
    created_at: FirestoreTimestamp,
    updated_at: FirestoreTimestamp,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct OriginalMessage {
    prompt: String,
    timestamp: FirestoreTimestamp,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OriginalImage {
    id: String,
    url: String,
    storage_path: String,
    original_url: String,
    firebase_url: String,
    order: i64,
    prompt: String,
    timestamp: FirestoreTimestamp,
}

fn at(text: &str) -> FirestoreTimestamp {
    FirestoreTimestamp(text.parse().unwrap())
}

/// A session of `uid` as the original system stored it: two messages, three images.
pub(crate) fn original_session(uid: &str, session_id: &str, tag: &str) -> OriginalSession {
    let image = |n: i64, prompt: &str, time: &str| OriginalImage {
        id: format!("img-{n}"),
        url: format!("https://zata.ai/{tag}/image{n}.png"),
        storage_path: format!("users/{uid}/image{n}.png"),
        original_url: format!("https://zata.ai/{tag}/original{n}.png"),
        firebase_url: format!("https://firebase.storage/{tag}/image{n}.png"),
        order: n,
        prompt: prompt.to_owned(),
        timestamp: at(time),
    };
    let images = vec![
        image(1, "Initial image", "2025-01-15T10:00:00.250Z"),
        image(2, "Make sky blue", "2025-01-15T10:05:00Z"),
        image(3, "Make sky blue", "2025-01-15T10:05:00Z"),
    ];
    OriginalSession {
        session_id: session_id.to_owned(),
        uid: uid.to_owned(),
        model: "flux-kontext-pro".into(),
        frame_size: Some("1024x1024".into()),
        style: None,
        status: "completed".into(),
        started_at: at("2025-01-15T10:00:00Z"),
        completed_at: Some(at("2025-01-15T10:30:00Z")),
        messages: vec![
            OriginalMessage {
                prompt: "Initial image".into(),
                timestamp: at("2025-01-15T10:00:00.250Z"),
            },
            OriginalMessage {
                prompt: "Make sky blue".into(),
                timestamp: at("2025-01-15T10:05:00Z"),
            },
        ],
        image_urls: images.iter().map(|i| i.url.clone()).collect(),
        image_order_map: images.iter().map(|i| (i.url.clone(), i.order)).collect(),
        total_images: 3,
        images,
        created_at: at("2025-01-15T10:00:00Z"),
        updated_at: at("2025-01-15T10:30:00Z"),
    }
}

pub(crate) async fn write_original(project: &str, id: &str, session: &OriginalSession) {
    emulator_host();
    let db = FirestoreDb::with_options(FirestoreDbOptions::new(project.to_owned()))
        .await
        .unwrap();
    db.fluent()
        .insert()
        .into("liveChatSessions")
        .document_id(id)
        .object(session)
        .execute::<()>()
        .await
        .unwrap();
}

pub(crate) async fn migrate(project: &str, apply: bool) -> String {
    let mut command = Command::new(BIN);
    command
        .arg("migrate-firestore")
        .env("LIVECHAT_FIRESTORE_PROJECT", project)
        .env("FIRESTORE_EMULATOR_HOST", emulator_host());
    if apply {
        command.arg("--apply");
    }
    let output = command.output().await.unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "migrate-firestore failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

pub(crate) fn restore_path(url: &str) -> String {
    format!("{BASE}/by-image-url?imageUrl={}", urlencode(url))
}

#[tokio::test]
async fn original_sessions_are_served_in_the_current_shape() {
    let project = new_project();
    write_original(
        &project,
        "OriginalDocId0000001",
        &original_session("user-123", "session-1", "a"),
    )
    .await;
    let app = firestore_app(&project).await;

    let session = app.session("user-123", "OriginalDocId0000001").await;
    assert_eq!(session["sessionId"], "session-1");
    assert_eq!(session["status"], "completed");
    assert_eq!(session["completedAt"], "2025-01-15T10:30:00.000Z");
    assert_eq!(session["totalImages"], 3);
    assert_eq!(session["seq"], 0);
    let messages = session["messages"].as_array().unwrap();
    assert_eq!(
        messages.len(),
        2,
        "images are grouped into their messages: {session:#}"
    );
    assert_eq!(messages[0]["timestamp"], "2025-01-15T10:00:00.250Z");
    assert_eq!(messages[1]["images"].as_array().unwrap().len(), 2);
    assert_eq!(messages[1]["images"][1]["id"], "img-3");
    assert_eq!(session["images"][1]["prompt"], "Make sky blue");
    assert_eq!(session["imageOrderMap"]["https://zata.ai/a/image3.png"], 3);

    let restored = app
        .get(&restore_path("https://zata.ai/a/image2.png"), "user-123")
        .await;
    assert_eq!(restored.ok()["session"], session);
    app.get(
        &restore_path("https://zata.ai/a/image2.png"),
        "someone-else",
    )
    .await
    .assert_error(404, "not_found");

    let listed = app.get(BASE, "user-123").await;
    assert_eq!(listed.ok()["sessions"], json!([session]));
    // find-or-create finds it rather than making a second session.
    let found = app
        .post(
            &format!("{BASE}/find-or-create"),
            "user-123",
            json!({ "sessionId": "session-1", "model": "m" }),
        )
        .await;
    assert_eq!(found.ok()["sessionDocId"], "OriginalDocId0000001");
}

#[tokio::test]
async fn migration_converts_once_and_keeps_every_session_as_it_was() {
    let project = new_project();
    write_original(
        &project,
        "OriginalDocId0000001",
        &original_session("user-123", "session-1", "a"),
    )
    .await;
    write_original(
        &project,
        "OriginalDocId0000002",
        &original_session("user-456", "session-2", "b"),
    )
    .await;
    let app = firestore_app(&project).await;
    app.create_session("user-123", "current").await;
    let before: Vec<Value> = vec![
        app.session("user-123", "OriginalDocId0000001").await,
        app.session("user-456", "OriginalDocId0000002").await,
    ];

    let dry = migrate(&project, false).await;
    assert!(
        dry.contains("in the original shape:      2 (6 images)"),
        "{dry}"
    );
    assert!(dry.contains("converted:                    0"), "{dry}");
    assert!(dry.contains("dry run"), "{dry}");

    let applied = migrate(&project, true).await;
    assert!(
        applied.contains("sessions scanned:             3"),
        "{applied}"
    );
    assert!(
        applied.contains("converted:                    2"),
        "{applied}"
    );
    let again = migrate(&project, true).await;
    assert!(again.contains("in the original shape:      0"), "{again}");
    assert!(again.contains("converted:                    0"), "{again}");

    let after = vec![
        app.session("user-123", "OriginalDocId0000001").await,
        app.session("user-456", "OriginalDocId0000002").await,
    ];
    assert_eq!(after, before, "a converted session reads exactly as before");
    // Now restore works by any of the image's URLs.
    for url in [
        "https://zata.ai/b/original2.png",
        "https://firebase.storage/b/image2.png",
    ] {
        let restored = app.get(&restore_path(url), "user-456").await;
        assert_eq!(restored.ok()["session"]["id"], "OriginalDocId0000002");
    }
}

#[tokio::test]
async fn an_append_to_an_original_session_converts_it_and_continues_its_orders() {
    let project = new_project();
    write_original(
        &project,
        "OriginalDocId0000003",
        &original_session("user-123", "session-3", "c"),
    )
    .await;
    let app = firestore_app(&project).await;
    let id = "OriginalDocId0000003";

    let reply = app
        .append(
            "user-123",
            id,
            json!({ "prompt": "Add a moon", "images": [image("https://zata.ai/c/image4.png")] }),
        )
        .await;
    assert_eq!(reply.ok()["orders"], json!([4]));
    assert_eq!(reply.ok()["seq"], 1);
    let retry = app
        .append(
            "user-123",
            id,
            json!({ "prompt": "again", "images": [image("https://zata.ai/c/image1.png")] }),
        )
        .await;
    assert_eq!(
        retry.ok()["orders"],
        json!([1]),
        "the original images count for retries"
    );

    let session = app.session("user-123", id).await;
    assert_eq!(session["status"], "active", "the append reactivated it");
    assert_eq!(session["totalImages"], 4);
    assert_eq!(session["messages"].as_array().unwrap().len(), 3);
    let restored = app
        .get(
            &restore_path("https://firebase.storage/c/image1.png"),
            "user-123",
        )
        .await;
    assert_eq!(restored.ok()["session"]["id"], id);
    let summary = migrate(&project, false).await;
    assert!(
        summary.contains("in the original shape:      0"),
        "it was converted: {summary}"
    );
}

#[tokio::test]
async fn an_original_session_with_a_very_large_message_converts_and_restores() {
    let project = new_project();
    // 200 images in one message: 800 writes to convert. (Firestore allows 500 per batch; the
    // emulator does not enforce that, so this shows only that the conversion is complete.)
    let mut session = original_session("user-123", "session-big", "big");
    session.images = (1..=200)
        .map(|n| OriginalImage {
            id: format!("img-{n}"),
            url: format!("https://zata.ai/big/image{n}.png"),
            storage_path: format!("users/user-123/image{n}.png"),
            original_url: format!("https://zata.ai/big/original{n}.png"),
            firebase_url: format!("https://firebase.storage/big/image{n}.png"),
            order: n,
            prompt: "Make sky blue".into(),
            timestamp: at("2025-01-15T10:05:00Z"),
        })
        .collect();
    session.image_urls = session.images.iter().map(|i| i.url.clone()).collect();
    session.total_images = 200;
    write_original(&project, "OriginalDocId0000009", &session).await;
    let app = firestore_app(&project).await;

    let applied = migrate(&project, true).await;
    assert!(
        applied.contains("converted:                    1"),
        "{applied}"
    );
    let restored = app
        .get(
            &restore_path("https://firebase.storage/big/image200.png"),
            "user-123",
        )
        .await;
    assert_eq!(restored.ok()["session"]["totalImages"], 200);
}
