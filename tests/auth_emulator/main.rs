//! The real Firebase Auth emulator: a user signed up through its REST API uses the server with
//! the emulator's own tokens, exactly as a web app under `firebase emulators:start` would. Needs
//! the emulator named by `FIREBASE_AUTH_EMULATOR_HOST` (`scripts/auth-emulator start`, project
//! `demo-livechat`) and fails without it.

// Shared with the behavioural suite; not every helper is used here.
#[allow(dead_code, unused_imports)]
#[path = "../api/helpers/mod.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/live_client.rs"]
mod live_client;

use helpers::*;
use live_client::{LiveClient, live_url};
use reqwest::Method;
use serde_json::{Value, json};

/// The project `scripts/auth-emulator` serves.
const PROJECT: &str = "demo-livechat";

fn emulator_host() -> String {
    std::env::var("FIREBASE_AUTH_EMULATOR_HOST").expect(
        "FIREBASE_AUTH_EMULATOR_HOST must name a running Firebase Auth emulator (scripts/auth-emulator start)",
    )
}

/// A new user signed up with the emulator: its uid and ID token.
async fn sign_up(client: &reqwest::Client) -> (String, String) {
    let url = format!(
        "http://{}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=any-api-key",
        emulator_host()
    );
    let email = format!("{}@example.com", unique("user").to_lowercase());
    let reply: Value = client
        .post(url)
        .json(&json!({ "email": email, "password": "correct horse", "returnSecureToken": true }))
        .send()
        .await
        .expect("the emulator answers")
        .json()
        .await
        .unwrap();
    let uid = reply["localId"].as_str().expect("a uid").to_owned();
    let token = reply["idToken"].as_str().expect("an ID token").to_owned();
    (uid, token)
}

/// A session cookie for the user of `id_token`, made by the emulator.
async fn session_cookie(client: &reqwest::Client, id_token: &str) -> String {
    let url = format!(
        "http://{}/identitytoolkit.googleapis.com/v1/projects/{PROJECT}:createSessionCookie",
        emulator_host()
    );
    let reply: Value = client
        .post(url)
        // The emulator's stand-in for an administrator's credentials.
        .bearer_auth("owner")
        .json(&json!({ "idToken": id_token, "validDuration": 3600 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["sessionCookie"]
        .as_str()
        .unwrap_or_else(|| panic!("a session cookie: {reply}"))
        .to_owned()
}

async fn app_with_emulator(emulator: Option<String>) -> TestApp {
    spawn_app_with(move |config| {
        config.auth.firebase_project = Some(PROJECT.to_owned());
        config.auth.firebase_auth_emulator_host = emulator;
    })
    .await
}

#[tokio::test]
async fn a_user_of_the_emulator_creates_appends_over_the_socket_and_restores_with_its_own_token() {
    let app = app_with_emulator(Some(emulator_host())).await;
    let (uid, token) = sign_up(&app.client).await;

    let created = app
        .call_with_token(
            Method::POST,
            BASE,
            &token,
            Some(json!({ "sessionId": "session-1", "model": "flux-kontext-pro" })),
        )
        .await;
    let id = created.ok()["sessionDocId"].as_str().unwrap().to_owned();

    let mut tab = LiveClient::connect(&live_url(&app.address, &id, None), None).await;
    let auth = tab.request("auth", json!({ "token": token })).await;
    assert_eq!(auth["ok"], true, "{auth}");
    assert_eq!(auth["result"]["uid"], uid.as_str());
    assert_eq!(tab.event().await["type"], "snapshot");
    let added = tab
        .request(
            "message.add",
            json!({ "prompt": "Make the sky blue", "images": [{ "url": "https://img/emulated.png" }] }),
        )
        .await;
    assert_eq!(added["ok"], true, "{added}");
    assert_eq!(tab.event().await["type"], "message.added");

    let restored = app
        .call_with_token(
            Method::GET,
            &format!(
                "{BASE}/by-image-url?imageUrl={}",
                urlencode("https://img/emulated.png")
            ),
            &token,
            None,
        )
        .await;
    let session = &restored.ok()["session"];
    assert_eq!(session["id"], id.as_str());
    assert_eq!(session["uid"], uid.as_str(), "the uid is the emulator's");
    assert_eq!(session["images"][0]["prompt"], "Make the sky blue");

    // The emulator's session cookies work too.
    let cookie = session_cookie(&app.client, &token).await;
    let with_cookie = app
        .send(
            Method::GET,
            &format!("{BASE}/{id}"),
            app.client
                .get(format!("{}{BASE}/{id}", app.address))
                .header("cookie", format!("__session={cookie}")),
        )
        .await;
    assert_eq!(with_cookie.ok()["session"]["uid"], uid.as_str());
}

#[tokio::test]
async fn without_the_emulator_variable_the_emulators_tokens_are_refused() {
    let app = app_with_emulator(None).await;
    let (_, token) = sign_up(&app.client).await;
    for (method, path) in [
        (Method::GET, BASE.to_owned()),
        (Method::POST, BASE.to_owned()),
    ] {
        let reply = app
            .call_with_token(
                method,
                &path,
                &token,
                Some(json!({ "sessionId": "s", "model": "m" })),
            )
            .await;
        reply.assert_error(401, "unauthenticated");
    }
    let id = app.create_session("someone", "s").await;
    let mut tab = LiveClient::connect(&live_url(&app.address, &id, None), None).await;
    tab.send("auth", json!({ "token": token })).await;
    assert_eq!(tab.closed().await, 4001);
}
