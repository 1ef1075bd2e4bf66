//! Every invalid input gets its 4xx naming the field, and changes nothing.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

fn long(n: usize) -> String {
    "x".repeat(n)
}

fn long_url(n: usize) -> String {
    let prefix = "https://img/";
    format!("{prefix}{}", "a".repeat(n - prefix.len()))
}

fn with_image(image: Value) -> Value {
    json!({ "prompt": "p", "images": [image] })
}

/// Sends each `(body, field)` and asserts a 400 naming the field, with the session unchanged.
async fn assert_all_refused(
    app: &TestApp,
    method: Method,
    path: &str,
    id: &str,
    cases: Vec<(Value, &str)>,
) {
    let before = app.session("u", id).await;
    for (body, field) in cases {
        let reply = app
            .call(method.clone(), path, Some("u"), Some(body.clone()))
            .await;
        assert_eq!(reply.status, 400, "{body} → {reply:?}");
        reply.assert_invalid(field);
        assert_eq!(
            app.session("u", id).await,
            before,
            "{body} changed the session"
        );
    }
}

async fn session_with_one_message(app: &TestApp) -> String {
    let id = app.create_session("u", "s").await;
    app.append("u", &id, with_image(json!({ "url": "https://img/0" })))
        .await
        .ok();
    id
}

#[tokio::test]
async fn invalid_appends_are_400_naming_the_field() {
    let app = spawn_app().await;
    let id = session_with_one_message(&app).await;
    let too_many: Vec<Value> = (0..65)
        .map(|n| image(&format!("https://img/{n}")))
        .collect();
    let cases = vec![
        (json!({ "images": [] }), "prompt"),
        (json!({ "prompt": 123, "images": [] }), "prompt"),
        (json!({ "prompt": null, "images": [] }), "prompt"),
        (json!({ "prompt": long(10_001), "images": [] }), "prompt"),
        (json!({ "prompt": "p" }), "images"),
        (
            json!({ "prompt": "p", "images": "https://img/1" }),
            "images",
        ),
        (json!({ "prompt": "p", "images": null }), "images"),
        (json!({ "prompt": "p", "images": too_many }), "images"),
        (
            json!({ "prompt": "p", "images": ["https://img/1"] }),
            "images[0]",
        ),
        (with_image(json!({})), "images[0].url"),
        (with_image(json!({ "url": "" })), "images[0].url"),
        (with_image(json!({ "url": 7 })), "images[0].url"),
        (with_image(json!({ "url": "not a url" })), "images[0].url"),
        (
            with_image(json!({ "url": "relative/path.png" })),
            "images[0].url",
        ),
        (
            with_image(json!({ "url": long_url(2_049) })),
            "images[0].url",
        ),
        (
            json!({ "prompt": "p", "images": [image("https://img/ok"), { "url": "https://img/x", "id": long(129) }] }),
            "images[1].id",
        ),
        (
            with_image(json!({ "url": "https://img/x", "id": 5 })),
            "images[0].id",
        ),
        (
            with_image(json!({ "url": "https://img/x", "id": "" })),
            "images[0].id",
        ),
        (
            with_image(json!({ "url": "https://img/x", "storagePath": long(2_049) })),
            "images[0].storagePath",
        ),
        (
            with_image(json!({ "url": "https://img/x", "storagePath": ["a"] })),
            "images[0].storagePath",
        ),
        (
            with_image(json!({ "url": "https://img/x", "originalUrl": "nope" })),
            "images[0].originalUrl",
        ),
        (
            with_image(json!({ "url": "https://img/x", "firebaseUrl": long_url(2_049) })),
            "images[0].firebaseUrl",
        ),
        (
            json!({ "prompt": "p", "images": [], "timestamp": "yesterday" }),
            "timestamp",
        ),
        (
            json!({ "prompt": "p", "images": [], "timestamp": "2025-01-15" }),
            "timestamp",
        ),
        (
            json!({ "prompt": "p", "images": [], "timestamp": "9999-12-31T23:59:59-01:00" }),
            "timestamp",
        ),
        (
            json!({ "prompt": "p", "images": [], "timestamp": 1736935200000u64 }),
            "timestamp",
        ),
        (
            json!({ "prompt": "p", "images": [], "messageId": long(129) }),
            "messageId",
        ),
        (
            json!({ "prompt": "p", "images": [], "messageId": 42 }),
            "messageId",
        ),
        (json!([1, 2]), "body"),
        (json!("text"), "body"),
    ];
    assert_all_refused(
        &app,
        Method::POST,
        &format!("{BASE}/{id}/messages"),
        &id,
        cases,
    )
    .await;

    // Limits are inclusive: exactly at the limit is accepted.
    let at_limit: Vec<Value> = (0..64)
        .map(|n| image(&format!("https://img/at/{n}")))
        .collect();
    let accepted = app
        .append(
            "u",
            &id,
            json!({ "prompt": long(10_000), "images": at_limit }),
        )
        .await;
    assert_eq!(accepted.ok()["orders"].as_array().unwrap().len(), 64);
    app.append(
        "u",
        &id,
        with_image(json!({ "url": long_url(2_048), "id": long(128) })),
    )
    .await
    .ok();
}

#[tokio::test]
async fn invalid_creates_are_400_and_create_nothing() {
    let app = spawn_app().await;
    let cases = vec![
        (json!({ "model": "m" }), "sessionId"),
        (json!({ "sessionId": 17, "model": "m" }), "sessionId"),
        (json!({ "sessionId": "", "model": "m" }), "sessionId"),
        (
            json!({ "sessionId": "has space", "model": "m" }),
            "sessionId",
        ),
        (json!({ "sessionId": "a/b", "model": "m" }), "sessionId"),
        (json!({ "sessionId": long(129), "model": "m" }), "sessionId"),
        (json!({ "sessionId": "s" }), "model"),
        (json!({ "sessionId": "s", "model": "" }), "model"),
        (json!({ "sessionId": "s", "model": null }), "model"),
        (json!({ "sessionId": "s", "model": long(129) }), "model"),
        (json!({ "sessionId": "s", "model": ["m"] }), "model"),
        (
            json!({ "sessionId": "s", "model": "m", "frameSize": long(129) }),
            "frameSize",
        ),
        (
            json!({ "sessionId": "s", "model": "m", "style": 3 }),
            "style",
        ),
        (
            json!({ "sessionId": "s", "model": "m", "startedAt": "2025-01-15 10:00" }),
            "startedAt",
        ),
        (
            json!({ "sessionId": "s", "model": "m", "startedAt": true }),
            "startedAt",
        ),
    ];
    for path in [BASE.to_owned(), format!("{BASE}/find-or-create")] {
        for (body, field) in &cases {
            app.post(&path, "u", body.clone())
                .await
                .assert_invalid(field);
        }
    }
    let listed = app.get(BASE, "u").await;
    assert_eq!(listed.ok()["sessions"], json!([]), "nothing was created");
    // At the limits, accepted.
    app.post(
        BASE,
        "u",
        json!({ "sessionId": format!("a.b_c:d-{}", long(120)), "model": long(128) }),
    )
    .await
    .ok();
}

#[tokio::test]
async fn invalid_updates_are_400_and_change_nothing() {
    let app = spawn_app().await;
    let id = session_with_one_message(&app).await;
    let cases = vec![
        (json!({ "uid": "someone-else" }), "uid"),
        (json!({ "status": "completed", "images": [] }), "images"),
        (json!({ "seq": 0 }), "seq"),
        (json!({ "sessionId": "other" }), "sessionId"),
        (json!({ "status": "done" }), "status"),
        (json!({ "status": null }), "status"),
        (json!({ "status": 1 }), "status"),
        (json!({ "completedAt": "not a time" }), "completedAt"),
        (
            json!({ "status": "active", "completedAt": "2025-01-15T10:30:00Z" }),
            "completedAt",
        ),
        (json!({ "model": null }), "model"),
        (json!({ "model": "" }), "model"),
        (json!({ "model": long(129) }), "model"),
        (json!({ "frameSize": 1024 }), "frameSize"),
        (json!({ "style": long(129) }), "style"),
        (json!(["status"]), "body"),
    ];
    assert_all_refused(&app, Method::PATCH, &format!("{BASE}/{id}"), &id, cases).await;

    let completions = vec![
        (json!({ "completedAt": "tomorrow" }), "completedAt"),
        (json!({ "completedAt": 1736935200 }), "completedAt"),
    ];
    assert_all_refused(
        &app,
        Method::PATCH,
        &format!("{BASE}/{id}/complete"),
        &id,
        completions,
    )
    .await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_and_changes_nothing() {
    let app = spawn_app().await;
    let id = session_with_one_message(&app).await;
    let before = app.session("u", &id).await;
    for (method, path) in [
        (Method::POST, format!("{BASE}/{id}/messages")),
        (Method::PATCH, format!("{BASE}/{id}")),
        (Method::PATCH, format!("{BASE}/{id}/complete")),
        (Method::POST, BASE.to_owned()),
    ] {
        for text in ["{\"prompt\": \"p\"", "prompt=p", "\u{0}\u{1}"] {
            let request = app
                .client
                .request(method.clone(), format!("{}{path}", app.address))
                .bearer_auth(app.token("u"))
                .body(text);
            app.send(method.clone(), &path, request)
                .await
                .assert_invalid("body");
        }
    }
    assert_eq!(app.session("u", &id).await, before);
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413_and_changes_nothing() {
    let app = spawn_app().await;
    let id = session_with_one_message(&app).await;
    let before = app.session("u", &id).await;
    let body = json!({ "prompt": "x".repeat(1024 * 1024), "images": [] });
    let path = format!("{BASE}/{id}/messages");
    let reply = app.post(&path, "u", body).await;
    reply.assert_error(413, "payload_too_large");

    // Without a Content-Length the limit still holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..17).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let stream = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let request = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(app.token("u"))
        .body(stream);
    app.send(Method::POST, &path, request)
        .await
        .assert_error(413, "payload_too_large");
    assert_eq!(app.session("u", &id).await, before);
}

#[tokio::test]
async fn a_full_session_refuses_more_images_with_409() {
    let app = spawn_app_with(|config| config.limits.max_images_per_session = 3).await;
    let id = app.create_session("u", "s").await;
    app.append(
        "u",
        &id,
        json!({ "prompt": "p", "images": [image("https://img/1"), image("https://img/2")] }),
    )
    .await
    .ok();
    let before = app.session("u", &id).await;
    let over = app
        .append(
            "u",
            &id,
            json!({ "prompt": "p", "images": [image("https://img/3"), image("https://img/4")] }),
        )
        .await;
    over.assert_error(409, "session_full");
    assert_eq!(
        app.session("u", &id).await,
        before,
        "nothing of the refused message was kept"
    );
    // What still fits is accepted; a retry of a full session's image is still a retry.
    app.append(
        "u",
        &id,
        json!({ "prompt": "p", "images": [image("https://img/3")] }),
    )
    .await
    .ok();
    let retry = app
        .append(
            "u",
            &id,
            json!({ "prompt": "p", "images": [image("https://img/3")] }),
        )
        .await;
    assert_eq!(retry.ok()["orders"], json!([3]));
    app.append(
        "u",
        &id,
        json!({ "prompt": "p", "images": [image("https://img/5")] }),
    )
    .await
    .assert_error(409, "session_full");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_with_the_error_envelope() {
    let app = spawn_app().await;
    let id = app.create_session("u", "s").await;
    app.get("/api/nothing-here", "u")
        .await
        .assert_error(404, "not_found");
    app.call(
        Method::PUT,
        &format!("{BASE}/{id}"),
        Some("u"),
        Some(json!({})),
    )
    .await
    .assert_error(405, "method_not_allowed");
    for odd in ["not-an-id!", "%F0%9F%98%80", "a.b"] {
        app.get(&format!("{BASE}/{odd}"), "u")
            .await
            .assert_error(404, "not_found");
    }
}

#[tokio::test]
async fn the_live_route_without_a_websocket_upgrade_is_400_naming_the_upgrade() {
    let app = spawn_app().await;
    let id = app.create_session("u", "s").await;
    let reply = app.get(&format!("{BASE}/{id}/live"), "u").await;
    reply.assert_invalid("Upgrade");
}
