//! Signals: ephemeral messages to a session's other sockets, from a socket or over REST.
//! Never stored, never replayed, never echoed, within their size and the rate limits.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::live_client::*;

async fn attached(app: &TestApp, uid: &str, id: &str) -> LiveClient {
    let mut tab = app.tab(uid, id).await;
    assert_eq!(tab.event().await["type"], "snapshot");
    tab
}

/// The next push that is a signal.
async fn signal(tab: &mut LiveClient) -> Value {
    let frame = tab.event().await;
    assert_eq!(frame["type"], "signal", "{frame}");
    frame
}

#[tokio::test]
async fn a_signal_reaches_the_sessions_other_sockets_only_and_changes_nothing() {
    let app = spawn_app().await;
    let id = app.session_with_image("u", "sig", "https://img/1").await;
    let other = app.create_session("u", "other").await;
    let (mut sender, mut peer) = (
        attached(&app, "u", &id).await,
        attached(&app, "u", &id).await,
    );
    let mut elsewhere = attached(&app, "u", &other).await;
    let before = app.session("u", &id).await;
    let stored = app.settled_store_counts().await;
    assert!(
        stored.values().any(|count| *count > 0),
        "the counts see the session: {stored:?}"
    );

    let data =
        json!({ "kind": "generation", "generation": "g1", "state": "progress", "progress": 0.4 });
    let reply = sender.request("signal", json!({ "data": data })).await;
    assert_eq!(reply["result"], json!({ "seq": 1 }), "{reply}");
    let received = signal(&mut peer).await;
    assert_eq!(received["data"], data);
    assert_eq!(received["seq"], 1);
    let from = received["from"].as_str().unwrap().to_owned();
    assert!(!from.is_empty() && from != "rest");

    // Over REST, to both sockets, from "rest".
    let sent = app
        .post(
            &format!("{BASE}/{id}/signals"),
            "u",
            json!({ "data": "preview" }),
        )
        .await;
    assert_eq!(sent.ok()["seq"], 1);
    for tab in [&mut sender, &mut peer] {
        let received = signal(tab).await;
        assert_eq!(
            (received["from"].as_str(), &received["data"]),
            (Some("rest"), &json!("preview"))
        );
    }
    for n in 0..20 {
        sender.request("signal", json!({ "data": n })).await;
        app.post(&format!("{BASE}/{id}/signals"), "u", json!({ "data": n }))
            .await
            .ok();
    }
    for _ in 0..40 {
        signal(&mut peer).await;
    }
    for _ in 0..20 {
        assert_eq!(signal(&mut sender).await["from"], "rest", "never its own");
    }
    assert_eq!(
        app.settled_store_counts().await,
        stored,
        "no row, document or byte of the store changed"
    );

    // A write after them is the next event everywhere: the sender never got its own signal,
    // the other session got none.
    app.append("u", &id, json!({ "prompt": "p", "images": [] }))
        .await
        .ok();
    app.append("u", &other, json!({ "prompt": "p", "images": [] }))
        .await
        .ok();
    assert_eq!(sender.event().await["type"], "message.added");
    assert_eq!(peer.event().await["type"], "message.added");
    assert_eq!(elsewhere.event().await["type"], "message.added");
    assert!(
        sender
            .log
            .iter()
            .filter(|f| f["type"] == "signal")
            .all(|f| f["from"] == "rest")
    );

    // Nothing of them was stored: the session moved by the one append only.
    let after = app.session("u", &id).await;
    assert_eq!(after["seq"], before["seq"].as_u64().unwrap() + 1);
    assert_eq!(after["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_resume_does_not_replay_signals() {
    let app = spawn_app().await;
    let id = app.create_session("u", "sig").await;
    let mut sender = attached(&app, "u", &id).await;
    sender
        .request("signal", json!({ "data": { "state": "started" } }))
        .await;
    app.append("u", &id, json!({ "prompt": "p", "images": [] }))
        .await
        .ok();
    sender
        .request("signal", json!({ "data": { "state": "done" } }))
        .await;
    let frames = replay(&app.address, &id, &app.token("u"), 0).await;
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["message.added", "resumed"]);
}

#[tokio::test]
async fn a_signal_over_its_size_limit_or_without_data_is_refused_naming_data() {
    let app = spawn_app_with(|config| config.limits.max_signal_bytes = 64).await;
    let id = app.create_session("u", "sig").await;
    let mut tab = attached(&app, "u", &id).await;
    let mut peer = attached(&app, "u", &id).await;
    let big = json!({ "text": "x".repeat(64) });
    let reply = tab.request("signal", json!({ "data": big })).await;
    assert_eq!(
        (
            reply["error"]["code"].as_str(),
            reply["error"]["field"].as_str()
        ),
        (Some("invalid_argument"), Some("data"))
    );
    let reply = tab.request("signal", json!({})).await;
    assert_eq!(reply["error"]["field"], "data");

    app.post(&format!("{BASE}/{id}/signals"), "u", json!({ "data": big }))
        .await
        .assert_error(413, "payload_too_large");
    app.post(&format!("{BASE}/{id}/signals"), "u", json!({ "date": 1 }))
        .await
        .assert_invalid("data");
    // Exactly at the limit passes: 64 bytes of JSON.
    let fits = json!("x".repeat(62));
    assert_eq!(fits.to_string().len(), 64);
    let reply = tab.request("signal", json!({ "data": fits })).await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(
        signal(&mut peer).await["data"],
        fits,
        "only the one that fits went out"
    );
}

#[tokio::test]
async fn another_users_session_cannot_be_signalled() {
    let app = spawn_app().await;
    let id = app.create_session("alice", "sig").await;
    app.post(&format!("{BASE}/{id}/signals"), "bob", json!({ "data": 1 }))
        .await
        .assert_error(404, "not_found");
    app.post(
        &format!("{BASE}/nosuchsession0000000/signals"),
        "alice",
        json!({ "data": 1 }),
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn signals_count_against_the_socket_command_rate_and_the_rest_quota() {
    let app = spawn_app_with(|config| {
        config.live.ws_rate = 1;
        config.live.ws_burst = 2;
        config.live.rest_rate = 1;
        config.live.rest_burst = 3;
    })
    .await;
    let id = app.create_session("u", "sig").await;
    let mut tab = attached(&app, "u", &id).await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let reply = tab.request("signal", json!({ "data": 1 })).await;
        codes.push(reply["error"]["code"].as_str().unwrap_or("ok").to_owned());
    }
    assert_eq!(codes, vec!["ok", "ok", "rate_limited"]);
    // The create took one request of the REST burst; two more signals, then 429.
    for _ in 0..2 {
        app.post(&format!("{BASE}/{id}/signals"), "u", json!({ "data": 1 }))
            .await
            .ok();
    }
    app.post(&format!("{BASE}/{id}/signals"), "u", json!({ "data": 1 }))
        .await
        .assert_error(429, "rate_limited");
}
