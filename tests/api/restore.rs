//! Restore by image URL: any of the image's URLs, only the caller's sessions, newest first.

use crate::helpers::*;
use serde_json::json;

fn restore_path(url: &str) -> String {
    format!("{BASE}/by-image-url?imageUrl={}", urlencode(url))
}

#[tokio::test]
async fn restore_finds_the_session_by_url_original_url_and_firebase_url() {
    let app = spawn_app().await;
    let id = app.create_session("u", "s").await;
    app.append(
        "u",
        &id,
        json!({ "prompt": "p", "images": [{
        "url": "https://zata.ai/a.png?token=1&x=%20y",
        "originalUrl": "https://zata.ai/original/a.png",
        "firebaseUrl": "https://firebasestorage.googleapis.com/v0/b/x/o/a.png?alt=media"
    }] }),
    )
    .await
    .ok();
    for url in [
        "https://zata.ai/a.png?token=1&x=%20y",
        "https://zata.ai/original/a.png",
        "https://firebasestorage.googleapis.com/v0/b/x/o/a.png?alt=media",
    ] {
        let reply = app.get(&restore_path(url), "u").await;
        assert_eq!(reply.ok()["session"]["id"], id.as_str(), "{url}");
    }
    // Exact match only.
    app.get(&restore_path("https://zata.ai/a.png"), "u")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn restore_never_finds_another_users_session() {
    let app = spawn_app().await;
    app.session_with_image("alice", "s", "https://img/shared.png")
        .await;

    let bob = app
        .get(&restore_path("https://img/shared.png"), "bob")
        .await;
    let unknown = app
        .get(&restore_path("https://img/unknown.png"), "bob")
        .await;
    bob.assert_error(404, "not_found");
    assert_eq!(
        bob.body, unknown.body,
        "another user's image looks exactly like an unknown one"
    );
}

#[tokio::test]
async fn restore_prefers_the_most_recently_updated_session_holding_the_url() {
    let app = spawn_app().await;
    let older = app.create_session("u", "older").await;
    let newer = app.create_session("u", "newer").await;
    let url = "https://img/both.png";
    app.append(
        "u",
        &newer,
        json!({ "prompt": "p", "images": [image(url)] }),
    )
    .await
    .ok();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.append(
        "u",
        &older,
        json!({ "prompt": "p", "images": [image(url)] }),
    )
    .await
    .ok();
    assert_eq!(
        app.get(&restore_path(url), "u").await.ok()["session"]["id"],
        older.as_str()
    );

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.patch(&format!("{BASE}/{newer}"), "u", json!({ "style": "anime" }))
        .await
        .ok();
    assert_eq!(
        app.get(&restore_path(url), "u").await.ok()["session"]["id"],
        newer.as_str()
    );
}

#[tokio::test]
async fn restore_without_an_image_url_is_400() {
    let app = spawn_app().await;
    app.get(&format!("{BASE}/by-image-url"), "u")
        .await
        .assert_invalid("imageUrl");
    app.get(&format!("{BASE}/by-image-url?imageUrl="), "u")
        .await
        .assert_invalid("imageUrl");
}

#[tokio::test]
async fn a_deleted_session_is_no_longer_restored() {
    let app = spawn_app().await;
    let id = app.session_with_image("u", "s", "https://img/1").await;
    let deleted = app
        .call(
            reqwest::Method::DELETE,
            &format!("{BASE}/{id}"),
            Some("u"),
            None,
        )
        .await;
    assert_eq!(deleted.body["message"], "Session deleted");
    app.get(&restore_path("https://img/1"), "u")
        .await
        .assert_error(404, "not_found");
    app.get(&format!("{BASE}/{id}"), "u")
        .await
        .assert_error(404, "not_found");
}
