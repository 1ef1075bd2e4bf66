//! Server-Sent Events: the same pushes as a socket's, resumable from `Last-Event-ID`, with
//! heartbeats, ending with `event: close` and the socket's close code, counted as sockets.

use serde_json::json;

use crate::event_stream::Events;
use crate::helpers::*;
use crate::live_client::*;

#[tokio::test]
async fn a_stream_carries_the_same_events_as_a_socket_for_the_same_writes() {
    let app = spawn_app().await;
    let id = app.create_session("u", "sse").await;
    let mut tab = app.tab("u", &id).await;
    let mut stream = Events::open(&app, &format!("{BASE}/{id}/events"), "u", &[]).await;
    assert_eq!(stream.headers["content-type"], "text/event-stream");
    assert_eq!(stream.headers["x-accel-buffering"], "no");
    let snapshot = stream.next().await;
    assert_eq!(
        (snapshot.kind.as_str(), snapshot.id.as_deref()),
        ("snapshot", Some("0"))
    );
    assert_eq!(tab.event().await["type"], "snapshot");

    app.append(
        "u",
        &id,
        json!({ "messageId": "m1", "prompt": "p", "images": [image("https://img/1")] }),
    )
    .await
    .ok();
    let reply = tab
        .request(
            "image.add",
            json!({ "messageId": "m1", "image": image("https://img/2") }),
        )
        .await;
    assert_eq!(reply["ok"], true);
    app.patch(&format!("{BASE}/{id}/complete"), "u", json!({}))
        .await
        .ok();
    for seq in 1..=3u64 {
        let from_socket = tab.event().await;
        let event = stream.next().await;
        assert_eq!(event.data, from_socket, "the same frame");
        assert_eq!(event.kind, from_socket["type"].as_str().unwrap());
        assert_eq!(event.id, Some(seq.to_string()));
    }
    // A signal over REST reaches the stream too, without an id to resume from.
    app.post(
        &format!("{BASE}/{id}/signals"),
        "u",
        json!({ "data": "hi" }),
    )
    .await
    .ok();
    let signal = stream.next().await;
    assert_eq!(
        (signal.kind.as_str(), signal.id.as_deref()),
        ("signal", None)
    );
}

#[tokio::test]
async fn last_event_id_resumes_with_exactly_the_missed_events() {
    let app = spawn_app().await;
    let id = app.create_session("u", "resume").await;
    for n in 1..=4 {
        app.append(
            "u",
            &id,
            json!({ "prompt": "p", "images": [image(&format!("https://img/{n}"))] }),
        )
        .await
        .ok();
    }
    let mut stream = Events::open(
        &app,
        &format!("{BASE}/{id}/events"),
        "u",
        &[("last-event-id", "2")],
    )
    .await;
    let kinds: Vec<(String, Option<String>)> = vec![
        stream.next().await,
        stream.next().await,
        stream.next().await,
    ]
    .into_iter()
    .map(|e| (e.kind, e.id))
    .collect();
    assert_eq!(
        kinds,
        vec![
            ("message.added".into(), Some("3".into())),
            ("message.added".into(), Some("4".into())),
            ("resumed".into(), Some("4".into())),
        ]
    );
    // `sinceSeq` does the same.
    let mut stream = Events::open(&app, &format!("{BASE}/{id}/events?sinceSeq=4"), "u", &[]).await;
    assert_eq!(stream.next().await.kind, "resumed");
    // A bad position is refused before the stream.
    let refused = app
        .get(&format!("{BASE}/{id}/events?sinceSeq=-1"), "u")
        .await;
    refused.assert_invalid("sinceSeq");
}

#[tokio::test]
async fn deletion_and_an_expired_token_end_the_stream_with_the_socket_s_close_code() {
    let app = spawn_app().await;
    let id = app.create_session("u", "doomed").await;
    let mut stream = Events::open(&app, &format!("{BASE}/{id}/events"), "u", &[]).await;
    assert_eq!(stream.next().await.kind, "snapshot");
    app.call(
        reqwest::Method::DELETE,
        &format!("{BASE}/{id}"),
        Some("u"),
        None,
    )
    .await
    .ok();
    assert_eq!(stream.next().await.kind, "session.deleted");
    let close = stream.next().await;
    assert_eq!(
        (close.kind.as_str(), &close.data["code"]),
        ("close", &json!(4004))
    );
    assert!(stream.next_any().await.is_none(), "the stream ends");

    let other = app.create_session("u", "expiring").await;
    let token = livechat_sessions::auth::TokenIssuer::hs256(app.secret.as_bytes())
        .issue("u", 2)
        .unwrap();
    let response = app
        .client
        .get(format!("{}{BASE}/{other}/events", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let mut stream = Events::over(response);
    assert_eq!(stream.next().await.kind, "snapshot");
    let close = stream.next().await;
    assert_eq!(
        (close.kind.as_str(), &close.data["code"]),
        ("close", &json!(4001))
    );
}

#[tokio::test]
async fn a_stream_sends_heartbeats_and_is_never_compressed() {
    let app = spawn_app_with(|config| config.live.ws_ping_ms = 100).await;
    let id = app.create_session("u", "beat").await;
    let mut stream = Events::open(
        &app,
        &format!("{BASE}/{id}/events"),
        "u",
        &[("accept-encoding", "gzip, br")],
    )
    .await;
    assert!(stream.headers.get("content-encoding").is_none());
    assert_eq!(stream.next_any().await.unwrap().kind, "snapshot");
    // No traffic from the reader for longer than the idle timeout does not end it.
    let mut beats = 0;
    while beats < 3 {
        if stream.next_any().await.unwrap().kind == "comment" {
            beats += 1;
        }
    }
}

#[tokio::test]
async fn streams_count_in_the_user_s_socket_quota() {
    let app = spawn_app_with(|config| config.live.ws_max_sockets_per_user = 1).await;
    let id = app.create_session("u", "quota").await;
    let mut stream = Events::open(&app, &format!("{BASE}/{id}/events"), "u", &[]).await;
    assert_eq!(stream.next().await.kind, "snapshot");
    app.get(&format!("{BASE}/{id}/events"), "u")
        .await
        .assert_error(429, "rate_limited");
    let token = format!("Bearer {}", app.token("u"));
    let refused = LiveClient::connect_with(
        &live_url(&app.address, &id, None),
        &[("authorization", &token)],
    )
    .await;
    assert_eq!(refused.err().map(|(status, _)| status), Some(429));
}

#[tokio::test]
async fn the_user_s_list_as_a_stream() {
    let app = spawn_app().await;
    let first = app.create_session("u", "one").await;
    let mut stream = Events::open(&app, &format!("{BASE}/events?limit=5"), "u", &[]).await;
    let page = stream.next().await;
    assert_eq!(page.kind, "sessions");
    assert_eq!(page.data["sessions"][0]["id"], first);
    assert_eq!(page.id, None);
    let second = app.create_session("u", "two").await;
    let changed = stream.next().await;
    assert_eq!(
        (changed.kind.as_str(), &changed.data["id"]),
        ("session.changed", &json!(second))
    );
    assert_eq!(
        changed.id, None,
        "a list's seq is per session: no place to resume from"
    );
    app.get(&format!("{BASE}/events?status=paused"), "u")
        .await
        .assert_invalid("status");
}
