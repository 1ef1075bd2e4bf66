//! The signing-key cache, seen from outside: rotation, floods of unknown key ids, a key server
//! that goes down, and one that was never up.

use std::time::Duration;

use futures::future::join_all;
use jsonwebtoken::{Algorithm, Header};
use reqwest::Method;
use serde_json::json;

use crate::firebase::{PROJECT, firebase_app, firebase_app_with};
use crate::helpers::*;
use crate::identity::*;
use crate::live_client::{LiveClient, live_url};

#[tokio::test]
async fn a_newly_published_key_is_accepted_after_one_refetch() {
    let fb = firebase_app().await;
    fb.list_with(&fb.id_token("u")).await.ok();
    let before = fb.id_keys.fetches();
    assert_eq!(before, 1, "the keys were fetched once, at start");

    let rotated = SigningKey::rsa("id-key-2");
    fb.id_keys.publish(&[&fb.key, &rotated]);
    let token = rotated.sign(&id_token_claims(PROJECT, "u"));
    fb.list_with(&token).await.ok();
    assert_eq!(fb.id_keys.fetches(), before + 1, "exactly one refetch");
    // Known from now on: no further fetch.
    fb.list_with(&token).await.ok();
    assert_eq!(fb.id_keys.fetches(), before + 1);
}

#[tokio::test]
async fn forty_tokens_of_random_unknown_kids_cause_at_most_one_fetch() {
    let fb = firebase_app().await;
    fb.list_with(&fb.id_token("u")).await.ok();
    let before = fb.id_keys.fetches();
    let tokens: Vec<String> = (0..40)
        .map(|_| {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(unique("kid"));
            fb.key.sign_with(header, &id_token_claims(PROJECT, "u"))
        })
        .collect();
    let replies = join_all(
        tokens
            .iter()
            .map(|token| fb.app.call_with_token(Method::GET, BASE, token, None)),
    )
    .await;
    for reply in &replies {
        reply.assert_error(401, "unauthenticated");
    }
    // And one after another, later in the same 30 s.
    for token in &tokens[..5] {
        fb.list_with(token)
            .await
            .assert_error(401, "unauthenticated");
    }
    let refetches = fb.id_keys.fetches() - before;
    assert!(refetches <= 1, "{refetches} fetches for 45 unknown kids");
}

#[tokio::test]
async fn tokens_of_known_keys_keep_working_while_the_key_server_is_down() {
    let fb = firebase_app().await;
    let token = fb.id_token("u");
    fb.list_with(&token).await.ok();
    fb.id_keys.set_up(false);
    // An unknown kid makes the server try to fetch again, and fail.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rotated-away".into());
    let unknown = fb.key.sign_with(header, &id_token_claims(PROJECT, "u"));
    let fetches = fb.id_keys.fetches();
    fb.list_with(&unknown)
        .await
        .assert_error(401, "unauthenticated");
    assert_eq!(fb.id_keys.fetches(), fetches + 1, "it did try");
    for n in 0..3 {
        fb.list_with(&token).await.ok();
        // A token the server has never seen, of a key it fetched before the outage: checked
        // against the keys it kept, not answered from the tokens it verified before.
        fb.list_with(&fb.id_token(&format!("signed-during-the-outage-{n}")))
            .await
            .ok();
    }
    assert_eq!(
        fb.id_keys.fetches(),
        fetches + 1,
        "no fetch for a known kid"
    );
}

#[tokio::test]
async fn a_server_that_never_got_keys_answers_503_and_still_takes_its_own_tokens() {
    let fb = firebase_app_with(|config| {
        // Nothing listens here.
        config.auth.firebase_keys_url = "http://127.0.0.1:9/keys".into();
    })
    .await;
    let reply = fb
        .app
        .call_with_token(Method::GET, BASE, &fb.id_token("u"), None)
        .await;
    reply.assert_error(503, "unavailable");
    assert_eq!(reply.body["data"]["retryable"], true);
    fb.app.get(BASE, "u").await.ok();

    // On a socket: the auth frame is not refused as a bad token, the client is told to retry.
    let id = fb.app.create_session("u", "s").await;
    let mut tab = LiveClient::connect(&live_url(&fb.app.address, &id, None), None).await;
    tab.send("auth", json!({ "token": fb.id_token("u") })).await;
    assert_eq!(tab.closed().await, 1011, "reconnect, not 4001");
}

#[tokio::test]
async fn a_key_server_that_comes_up_late_is_used_once_it_answers() {
    let key = SigningKey::rsa("late");
    let keys = KeyServer::start(Published::X509Map, &[&key]).await;
    keys.set_up(false);
    let url = keys.url.clone();
    let app = spawn_app_with(move |config| {
        config.auth.firebase_project = Some(PROJECT.to_owned());
        config.auth.firebase_keys_url = url;
        config.auth.firebase_session_keys_url = "http://127.0.0.1:9/keys".into();
    })
    .await;
    let token = key.sign(&id_token_claims(PROJECT, "u"));
    app.call_with_token(Method::GET, BASE, &token, None)
        .await
        .assert_error(503, "unavailable");
    keys.set_up(true);
    // The background refresh retries a failed fetch within seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reply = app.call_with_token(Method::GET, BASE, &token, None).await;
        if reply.status == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{reply:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
