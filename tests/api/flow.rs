//! The web client's flow, end to end, checked field by field against the documented shape.

use crate::helpers::*;
use serde_json::{Value, json};

fn is_millis_utc(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    text.len() == 24
        && text.ends_with('Z')
        && text.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

#[tokio::test]
async fn the_web_client_flow_restores_the_whole_session_from_its_second_image() {
    let app = spawn_app().await;
    let uid = "user-123";

    // 1. Starting a live chat: find-or-create.
    let created = app
        .post(
            &format!("{BASE}/find-or-create"),
            uid,
            json!({
                "sessionId": "session-1736935200000",
                "model": "flux-kontext-pro",
                "frameSize": "1024x1024",
                "startedAt": "2025-01-15T12:00:00+02:00"
            }),
        )
        .await;
    assert_eq!(created.body["message"], "OK");
    assert_eq!(created.ok()["created"], true);
    let id = created.ok()["sessionDocId"].as_str().unwrap().to_owned();

    // 2. Three appends after generations, the second with two images.
    let first = app
        .append(
            uid,
            &id,
            json!({
                "prompt": "Initial image",
                "images": [{ "id": "img-1", "url": "https://zata.ai/storage/image1.png",
                             "storagePath": "users/user-123/image1.png" }],
                "timestamp": "2025-01-15T10:00:00Z"
            }),
        )
        .await;
    assert_eq!(first.body["message"], "Message added");
    assert_eq!(first.ok()["orders"], json!([1]));
    assert_eq!(first.ok()["seq"], 1);

    let second = app
        .append(
            uid,
            &id,
            json!({
                "prompt": "Make sky blue",
                "images": [
                    { "id": "img-2", "url": "https://zata.ai/storage/image2.png",
                      "storagePath": "users/user-123/image2.png",
                      "originalUrl": "https://zata.ai/storage/original2.png",
                      "firebaseUrl": "https://firebase.storage/image2.png" },
                    { "id": "img-3", "url": "https://zata.ai/storage/image3.png" }
                ],
                "timestamp": "2025-01-15T10:05:00.250Z"
            }),
        )
        .await;
    assert_eq!(second.ok()["orders"], json!([2, 3]));
    assert_eq!(second.ok()["seq"], 2);
    let second_message_id = second.ok()["messageId"].as_str().unwrap().to_owned();

    let third = app
        .append(
            uid,
            &id,
            json!({
                "prompt": "Add a moon",
                "images": [{ "id": "img-4", "url": "https://zata.ai/storage/image4.png" }]
            }),
        )
        .await;
    assert_eq!(third.ok()["orders"], json!([4]));
    assert_eq!(third.ok()["seq"], 3);

    // 3. Done.
    let completed = app
        .patch(
            &format!("{BASE}/{id}/complete"),
            uid,
            json!({ "completedAt": "2025-01-15T10:30:00.000Z" }),
        )
        .await;
    assert_eq!(completed.body["message"], "Session completed");
    assert_eq!(completed.ok()["seq"], 4);

    // 4. Get, and restore from a click on the second image.
    let fetched = app.session(uid, &id).await;
    let restored = app
        .get(
            &format!(
                "{BASE}/by-image-url?imageUrl={}",
                urlencode("https://zata.ai/storage/image2.png")
            ),
            uid,
        )
        .await;
    assert_eq!(restored.body["message"], "OK");
    let session = &restored.ok()["session"];
    assert_eq!(
        session, &fetched,
        "restore returns the same session object as get"
    );

    assert_eq!(session["id"], id.as_str());
    assert_eq!(session["sessionId"], "session-1736935200000");
    assert_eq!(session["uid"], uid);
    assert_eq!(session["model"], "flux-kontext-pro");
    assert_eq!(session["frameSize"], "1024x1024");
    assert_eq!(
        session["style"],
        Value::Null,
        "absent optional strings are null"
    );
    assert_eq!(session["status"], "completed");
    assert_eq!(
        session["startedAt"], "2025-01-15T10:00:00.000Z",
        "input offsets become UTC"
    );
    assert_eq!(session["completedAt"], "2025-01-15T10:30:00.000Z");
    for field in ["startedAt", "completedAt", "createdAt", "updatedAt"] {
        assert!(
            is_millis_utc(&session[field]),
            "{field}: {}",
            session[field]
        );
    }
    assert_eq!(session["totalImages"], 4);
    assert_eq!(session["seq"], 4);

    let messages = session["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0]["prompt"], "Initial image");
    assert_eq!(messages[0]["timestamp"], "2025-01-15T10:00:00.000Z");
    assert_eq!(messages[1]["id"], second_message_id.as_str());
    assert_eq!(messages[1]["timestamp"], "2025-01-15T10:05:00.250Z");
    assert_eq!(
        messages[1]["images"][0],
        json!({
            "id": "img-2",
            "url": "https://zata.ai/storage/image2.png",
            "storagePath": "users/user-123/image2.png",
            "originalUrl": "https://zata.ai/storage/original2.png",
            "firebaseUrl": "https://firebase.storage/image2.png",
            "order": 2
        })
    );
    assert_eq!(
        messages[1]["images"][1],
        json!({ "id": "img-3", "url": "https://zata.ai/storage/image3.png",
                "storagePath": null, "originalUrl": null, "firebaseUrl": null, "order": 3 })
    );
    assert!(
        is_millis_utc(&messages[2]["timestamp"]),
        "a default timestamp is now"
    );

    let urls: Vec<String> = (1..=4)
        .map(|n| format!("https://zata.ai/storage/image{n}.png"))
        .collect();
    assert_eq!(session["imageUrls"], json!(urls));
    assert_eq!(
        session["imageOrderMap"],
        json!({ &urls[0]: 1, &urls[1]: 2, &urls[2]: 3, &urls[3]: 4 })
    );
    let flat = session["images"].as_array().unwrap();
    assert_eq!(flat.len(), 4);
    assert_eq!(
        flat[1],
        json!({
            "id": "img-2",
            "url": "https://zata.ai/storage/image2.png",
            "storagePath": "users/user-123/image2.png",
            "originalUrl": "https://zata.ai/storage/original2.png",
            "firebaseUrl": "https://firebase.storage/image2.png",
            "order": 2,
            "prompt": "Make sky blue",
            "timestamp": "2025-01-15T10:05:00.250Z",
            "messageId": second_message_id
        })
    );
    let orders: Vec<u64> = flat.iter().map(|i| i["order"].as_u64().unwrap()).collect();
    assert_eq!(orders, [1, 2, 3, 4]);
}

#[tokio::test]
async fn a_new_session_has_seq_zero_and_no_completed_at() {
    let app = spawn_app().await;
    let id = app.create_session("u", "s-1").await;
    let session = app.session("u", &id).await;
    assert_eq!(session["seq"], 0);
    assert_eq!(session["status"], "active");
    assert_eq!(session["totalImages"], 0);
    assert_eq!(session["messages"], json!([]));
    assert_eq!(session["imageOrderMap"], json!({}));
    assert!(
        session.get("completedAt").is_none(),
        "completedAt is absent until set: {session}"
    );
}

#[tokio::test]
async fn the_health_check_needs_no_token() {
    let app = spawn_app().await;
    let reply = app.call(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["status"], "ok");
}

#[tokio::test]
async fn the_openapi_check_refuses_a_session_that_differs_from_the_description() {
    let app = spawn_app().await;
    let id = app.session_with_image("u", "s", "https://img/1").await;
    let reply = app.get(&format!("{BASE}/{id}"), "u").await;
    let path = format!("{BASE}/{id}");

    let mut extra = reply.body.clone();
    extra["data"]["session"]["secret"] = json!("x");
    let mut null_completed = reply.body.clone();
    null_completed["data"]["session"]["completedAt"] = Value::Null;
    let mut seconds_only = reply.body.clone();
    seconds_only["data"]["session"]["updatedAt"] = json!("2025-01-15T10:00:00Z");
    let mut string_order = reply.body.clone();
    string_order["data"]["session"]["images"][0]["order"] = json!("1");
    for (what, body) in [
        ("extra field", extra),
        ("null completedAt", null_completed),
        ("timestamp without millis", seconds_only),
        ("order as string", string_order),
    ] {
        let checked =
            std::panic::catch_unwind(|| openapi().check(&reqwest::Method::GET, &path, 200, &body));
        assert!(checked.is_err(), "the check accepted a session with {what}");
    }
}
