//! What one user may take of an instance: sockets per user, REST requests per user, and the
//! presence pushes of a crowded session (coalesced, so that N tabs cost O(N) frames).

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;

use crate::helpers::*;
use crate::live_client::*;

#[tokio::test]
async fn sockets_beyond_the_per_user_limit_are_refused_with_429_and_the_others_keep_working() {
    let app = spawn_app_with(|config| config.live.ws_max_sockets_per_user = 5).await;
    let id = app.create_session("u", "s").await;
    let mut tabs = Vec::new();
    for _ in 0..5 {
        let mut tab = app.tab("u", &id).await;
        // Attached (on Firestore an attach reads the store first) before anything is written.
        assert_eq!(tab.event().await["type"], "snapshot");
        tabs.push(tab);
    }
    let url = live_url(&app.address, &id, None);
    let bearer = format!("Bearer {}", app.token("u"));
    let refused = LiveClient::connect_with(&url, &[("authorization", &bearer)]).await;
    let Err((status, body)) = refused else {
        panic!("a sixth socket was accepted");
    };
    assert_eq!(status, 429);
    assert_eq!(body["data"]["code"], "rate_limited");
    assert!(
        body["message"].as_str().unwrap().contains("5 sockets"),
        "{body}"
    );

    // A socket that authenticates by its first frame is counted once it has: closed with 4029.
    let mut late = LiveClient::connect(&url, None).await;
    late.send("auth", json!({ "token": app.token("u") })).await;
    assert_eq!(late.closed().await, 4029);

    // The five keep working, and another user is not affected.
    app.append(
        "u",
        &id,
        json!({ "prompt": "p", "images": [image("https://x.example/1.png")] }),
    )
    .await
    .ok();
    for tab in &mut tabs {
        assert_eq!(tab.event().await["type"], "message.added");
    }
    let other = app.create_session("v", "s").await;
    let _theirs = app.tab("v", &other).await;

    // A closed socket frees its place.
    tabs.pop().unwrap().close().await;
    let mut again = None;
    for _ in 0..50 {
        if let Ok(tab) = LiveClient::connect_with(&url, &[("authorization", &bearer)]).await {
            again = Some(tab);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        again.is_some(),
        "a socket is accepted again once one closed"
    );
}

#[tokio::test]
async fn five_hundred_tabs_of_one_session_get_coalesced_presence_and_close_within_5_s() {
    let app = spawn_app_with(|config| config.live.ws_max_sockets_per_user = 0).await;
    let id = app.create_session("u", "s").await;
    let url = live_url(&app.address, &id, None);
    let token = app.token("u");
    let mut tabs = Vec::new();
    for _ in 0..10 {
        let batch = join_all((0..50).map(|_| LiveClient::connect(&url, Some(&token)))).await;
        tabs.extend(batch);
    }
    // Every tab learns that 500 are open; on the way it was told only a few counts.
    let counts = join_all(tabs.iter_mut().map(|tab| async move {
        let mut seen = 0;
        while tab.presence().await != 500 {
            seen += 1;
        }
        seen + 1
    }))
    .await;
    let most = counts.iter().max().copied().unwrap_or(0);
    let total: usize = counts.iter().sum();
    assert!(
        total <= 500 * 4,
        "{total} presence frames for 500 tabs (at most {most} for one): not coalesced"
    );

    // An event still reaches all of them.
    app.append("u", &id, json!({ "prompt": "p", "images": [] }))
        .await
        .ok();
    for tab in &mut tabs {
        assert_eq!(tab.event().await["type"], "snapshot");
        assert_eq!(tab.event().await["type"], "message.added");
    }

    let started = Instant::now();
    join_all(tabs.into_iter().map(LiveClient::close)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "500 sockets took {elapsed:?} to close"
    );
}

#[tokio::test]
async fn a_user_over_the_rest_rate_gets_429_with_retry_after_and_another_user_is_not_slowed() {
    let app = spawn_app_with(|config| {
        config.live.rest_rate = 2;
        config.live.rest_burst = 5;
    })
    .await;
    let id = app.create_session("u", "s").await;
    let mut limited = None;
    for _ in 0..20 {
        let response = app
            .client
            .get(format!("{}{BASE}/{id}", app.address))
            .bearer_auth(app.token("u"))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let response = limited.expect("a request over the rate is refused");
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");
    let body: serde_json::Value = response.json().await.unwrap();
    openapi().check(&reqwest::Method::GET, &format!("{BASE}/{id}"), 429, &body);
    assert_eq!(body["data"]["code"], "rate_limited");
    assert_eq!(body["data"]["retryAfter"], retry_after);

    // Another user is served at once, and so is this one once the bucket has refilled.
    let theirs = app.create_session("v", "s").await;
    assert_eq!(app.get(&format!("{BASE}/{theirs}"), "v").await.status, 200);
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(app.get(&format!("{BASE}/{id}"), "u").await.status, 200);
}
