//! `ETag` and `If-None-Match` on `GET /:id` and restore: a client that holds the session as it
//! stands is answered `304` with no body; any change gives a new tag; a tag never opens
//! another user's session.

use serde_json::{Value, json};

use crate::helpers::*;

/// A `GET` with `uid`'s token and, when given, `If-None-Match`: status, `ETag`,
/// `Cache-Control` and body.
async fn conditional_get(
    app: &TestApp,
    path: &str,
    uid: &str,
    if_none_match: Option<&str>,
) -> (u16, Option<String>, Option<String>, String) {
    let mut request = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(app.token(uid));
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (etag, cache) = (header("etag"), header("cache-control"));
    let status = response.status().as_u16();
    (status, etag, cache, response.text().await.unwrap())
}

fn restore_path(url: &str) -> String {
    format!("{BASE}/by-image-url?imageUrl={}", urlencode(url))
}

#[tokio::test]
async fn a_session_answers_304_to_its_own_tag_and_a_new_tag_once_it_changes() {
    let app = spawn_app().await;
    let id = app.session_with_image("alice", "s1", "https://img/1").await;
    for path in [format!("{BASE}/{id}"), restore_path("https://img/1")] {
        let (status, etag, cache, body) = conditional_get(&app, &path, "alice", None).await;
        assert_eq!(status, 200, "{path}: {body}");
        let etag = etag.expect("an ETag");
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        assert_eq!(cache.as_deref(), Some("private, no-cache"));
        let session: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(session["data"]["session"]["seq"], 1);

        let (status, again, _, body) = conditional_get(&app, &path, "alice", Some(&etag)).await;
        assert_eq!(status, 304, "{path}");
        assert_eq!(body, "", "a 304 has no body");
        assert_eq!(again.as_deref(), Some(etag.as_str()));
        // Weak comparison, and a list of tags, as browsers send them.
        let listed = format!("\"other\", W/{etag}");
        let (status, _, _, _) = conditional_get(&app, &path, "alice", Some(&listed)).await;
        assert_eq!(status, 304, "{path}");
    }

    let (_, before, _, _) = conditional_get(&app, &format!("{BASE}/{id}"), "alice", None).await;
    let before = before.unwrap();
    app.append(
        "alice",
        &id,
        json!({ "prompt": "p2", "images": [image("https://img/2")] }),
    )
    .await
    .ok();
    for path in [format!("{BASE}/{id}"), restore_path("https://img/1")] {
        let (status, etag, _, body) = conditional_get(&app, &path, "alice", Some(&before)).await;
        assert_eq!(status, 200, "{path}: the session changed");
        assert_ne!(etag.as_deref(), Some(before.as_str()));
        let session: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(session["data"]["session"]["seq"], 2);
        assert_eq!(session["data"]["session"]["totalImages"], 2);
    }

    // A field update changes the tag too.
    let (_, tagged, _, _) = conditional_get(&app, &format!("{BASE}/{id}"), "alice", None).await;
    app.patch(&format!("{BASE}/{id}/complete"), "alice", json!({}))
        .await
        .ok();
    let (status, etag, _, body) =
        conditional_get(&app, &format!("{BASE}/{id}"), "alice", tagged.as_deref()).await;
    assert_eq!(status, 200);
    assert_ne!(etag, tagged);
    let session: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(session["data"]["session"]["status"], "completed");
}

#[tokio::test]
async fn another_users_tag_never_opens_a_session() {
    let app = spawn_app().await;
    let id = app.session_with_image("alice", "s1", "https://img/a").await;
    let (_, etag, _, _) = conditional_get(&app, &format!("{BASE}/{id}"), "alice", None).await;
    let etag = etag.unwrap();
    for tag in [etag.as_str(), "*"] {
        let (status, etag, _, body) =
            conditional_get(&app, &format!("{BASE}/{id}"), "mallory", Some(tag)).await;
        assert_eq!(status, 404, "{body}");
        assert!(etag.is_none());
        assert!(!body.contains("https://img/a"));
        let (status, _, _, body) =
            conditional_get(&app, &restore_path("https://img/a"), "mallory", Some(tag)).await;
        assert_eq!(status, 404, "{body}");
    }
    // Bob's session of the same URL has a tag of its own.
    let bobs = app.session_with_image("bob", "s1", "https://img/a").await;
    let (status, bob_tag, _, body) =
        conditional_get(&app, &restore_path("https://img/a"), "bob", Some(&etag)).await;
    assert_eq!(status, 200, "alice's tag does not match bob's session");
    assert_ne!(bob_tag.as_deref(), Some(etag.as_str()));
    let session: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(session["data"]["session"]["id"], bobs.as_str());
}

#[tokio::test]
async fn the_tag_follows_the_session_a_url_restores() {
    let app = spawn_app().await;
    let first = app
        .session_with_image("alice", "s1", "https://img/shared")
        .await;
    let path = restore_path("https://img/shared");
    let (_, etag, _, _) = conditional_get(&app, &path, "alice", None).await;
    // A more recent session of the same user now holds the URL: the restore answers it.
    let second = app
        .session_with_image("alice", "s2", "https://img/shared")
        .await;
    let (status, _, _, body) = conditional_get(&app, &path, "alice", etag.as_deref()).await;
    assert_eq!(status, 200);
    let session: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(session["data"]["session"]["id"], second.as_str());
    assert_ne!(first, second);
}
