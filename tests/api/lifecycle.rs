//! Updates, completion, deletion, and actors leaving memory when idle.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn patch_changes_only_whitelisted_fields_and_counts_one_change() {
    let app = spawn_app().await;
    let id = app.create_session("u", "s").await;
    let path = format!("{BASE}/{id}");

    let reply = app
        .patch(
            &path,
            "u",
            json!({ "model": "flux-pro", "frameSize": "512x512", "style": "anime" }),
        )
        .await;
    assert_eq!(reply.body["message"], "Session updated");
    assert_eq!(reply.ok()["seq"], 1);
    let session = app.session("u", &id).await;
    assert_eq!(
        (&session["model"], &session["frameSize"], &session["style"]),
        (&json!("flux-pro"), &json!("512x512"), &json!("anime"))
    );

    // Clearing an optional field, and a no-op that changes nothing.
    assert_eq!(
        app.patch(&path, "u", json!({ "style": null })).await.ok()["seq"],
        2
    );
    assert_eq!(app.session("u", &id).await["style"], json!(null));
    let before = app.session("u", &id).await;
    assert_eq!(
        app.patch(&path, "u", json!({ "model": "flux-pro" }))
            .await
            .ok()["seq"],
        2
    );
    assert_eq!(app.patch(&path, "u", json!({})).await.ok()["seq"], 2);
    assert_eq!(app.session("u", &id).await, before);
}

#[tokio::test]
async fn status_changes_keep_completed_at_consistent() {
    let app = spawn_app().await;
    let id = app.create_session("u", "s").await;
    let path = format!("{BASE}/{id}");

    app.patch(&path, "u", json!({ "status": "completed" }))
        .await
        .ok();
    let session = app.session("u", &id).await;
    assert_eq!(session["status"], "completed");
    assert!(
        session["completedAt"].is_string(),
        "completed without completedAt sets it to now"
    );

    app.patch(&path, "u", json!({ "status": "active" }))
        .await
        .ok();
    let session = app.session("u", &id).await;
    assert_eq!(session["status"], "active");
    assert!(
        session.get("completedAt").is_none(),
        "active clears completedAt"
    );

    app.patch(
        &path,
        "u",
        json!({ "status": "completed", "completedAt": "2025-01-15T10:30:00+01:00" }),
    )
    .await
    .ok();
    assert_eq!(
        app.session("u", &id).await["completedAt"],
        "2025-01-15T09:30:00.000Z"
    );

    let done = app
        .patch(
            &format!("{path}/complete"),
            "u",
            json!({ "completedAt": "2025-01-16T00:00:00Z" }),
        )
        .await;
    assert_eq!(done.ok()["seq"], 4, "a new completedAt is a change");
    assert_eq!(
        app.session("u", &id).await["completedAt"],
        "2025-01-16T00:00:00.000Z"
    );

    app.patch(&path, "u", json!({ "status": "failed" }))
        .await
        .ok();
    let session = app.session("u", &id).await;
    assert_eq!(session["status"], "failed");
    assert_eq!(session["seq"], 5);
}

#[tokio::test]
async fn a_deleted_session_is_gone_and_its_session_id_free_again() {
    let app = spawn_app().await;
    let id = app.session_with_image("u", "s", "https://img/1").await;
    let path = format!("{BASE}/{id}");

    app.call(Method::DELETE, &path, Some("u"), None).await.ok();
    app.call(Method::DELETE, &path, Some("u"), None)
        .await
        .assert_error(404, "not_found");
    app.append("u", &id, json!({ "prompt": "p", "images": [] }))
        .await
        .assert_error(404, "not_found");
    app.patch(&path, "u", json!({ "style": "x" }))
        .await
        .assert_error(404, "not_found");
    assert_eq!(app.get(BASE, "u").await.ok()["sessions"], json!([]));

    let again = app.create_session("u", "s").await;
    assert_ne!(again, id);
    assert_eq!(app.session("u", &again).await["seq"], 0);
}

#[tokio::test]
async fn idle_actors_leave_memory_and_writes_continue_where_they_stopped() {
    let app = spawn_app_with(|config| config.actor_idle_secs = 1.0).await;
    let mut ids = Vec::new();
    for n in 0..10 {
        let id = app.create_session("u", &format!("s-{n}")).await;
        app.append(
            "u",
            &id,
            json!({ "prompt": "p", "images": [image("https://img/1")] }),
        )
        .await
        .ok();
        ids.push(id);
    }
    assert_eq!(app.server.sessions.live_actors(), 10);

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.server.sessions.live_actors() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "actors were not evicted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let reply = app
        .append(
            "u",
            &ids[0],
            json!({ "prompt": "p", "images": [image("https://img/2")] }),
        )
        .await;
    assert_eq!(reply.ok()["orders"], json!([2]));
    assert_eq!(reply.ok()["seq"], 2);
    assert_eq!(app.server.sessions.live_actors(), 1);
}

#[tokio::test]
async fn a_completed_at_that_contradicts_the_sessions_status_is_409_and_changes_nothing() {
    let app = spawn_app().await;
    let id = app.create_session("u", "s").await;
    let path = format!("{BASE}/{id}");

    // Without a status, the session's own decides: an active session has no completedAt.
    let refused = app
        .patch(&path, "u", json!({ "completedAt": "2025-01-16T00:00:00Z" }))
        .await;
    refused.assert_error(409, "conflict");
    assert_eq!(refused.body["data"]["sessionDocId"], id.as_str());
    app.patch(&format!("{path}/complete"), "u", json!({}))
        .await
        .ok();
    let refused = app.patch(&path, "u", json!({ "completedAt": null })).await;
    refused.assert_error(409, "conflict");
    let session = app.session("u", &id).await;
    assert_eq!(session["seq"], 1, "only the completion changed the session");
    assert!(session["completedAt"].is_string());

    // Asked for in the same request, the contradiction is invalid input.
    app.patch(
        &path,
        "u",
        json!({ "status": "active", "completedAt": "2025-01-16T00:00:00Z" }),
    )
    .await
    .assert_invalid("completedAt");
    app.patch(
        &path,
        "u",
        json!({ "status": "completed", "completedAt": null }),
    )
    .await
    .assert_invalid("completedAt");
}
