//! Firebase ID tokens and session cookies, verified against keys the test publishes in Google's
//! x509-map shape from a local key server.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

use crate::auth::routes;
use crate::helpers::*;
use crate::identity::*;
use crate::live_client::{LiveClient, live_url};

pub const PROJECT: &str = "demo-livechat";

/// A server accepting Firebase tokens of [`PROJECT`], with the key servers it fetches from.
pub struct FirebaseApp {
    pub app: TestApp,
    pub id_keys: KeyServer,
    pub session_keys: KeyServer,
    /// The key ID tokens are signed with (published by `id_keys`).
    pub key: SigningKey,
    /// The key session cookies are signed with (published by `session_keys`).
    pub session_key: SigningKey,
}

pub async fn firebase_app() -> FirebaseApp {
    firebase_app_with(|_| {}).await
}

pub async fn firebase_app_with(
    configure: impl FnOnce(&mut livechat_sessions::config::ServeConfig),
) -> FirebaseApp {
    let key = SigningKey::rsa("id-key-1");
    let session_key = SigningKey::rsa("session-key-1");
    let id_keys = KeyServer::start(Published::X509Map, &[&key]).await;
    let session_keys = KeyServer::start(Published::X509Map, &[&session_key]).await;
    let (id_url, session_url) = (id_keys.url.clone(), session_keys.url.clone());
    let app = spawn_app_with(move |config| {
        config.auth.firebase_project = Some(PROJECT.to_owned());
        config.auth.firebase_keys_url = id_url;
        config.auth.firebase_session_keys_url = session_url;
        configure(config);
    })
    .await;
    FirebaseApp {
        app,
        id_keys,
        session_keys,
        key,
        session_key,
    }
}

impl FirebaseApp {
    pub fn id_token(&self, uid: &str) -> String {
        self.key.sign(&id_token_claims(PROJECT, uid))
    }

    pub fn session_cookie(&self, uid: &str) -> String {
        self.session_key.sign(&session_cookie_claims(PROJECT, uid))
    }

    /// `GET /` (the caller's sessions) with this token.
    pub async fn list_with(&self, token: &str) -> Reply {
        self.app
            .call_with_token(Method::GET, BASE, token, None)
            .await
    }

    /// Asserts that a request with this token is refused with 401 and changes nothing.
    pub async fn assert_refused(&self, token: &str) {
        let reply = self
            .app
            .call_with_token(
                Method::POST,
                BASE,
                token,
                Some(json!({ "sessionId": "s", "model": "m" })),
            )
            .await;
        reply.assert_error(401, "unauthenticated");
        let listed = self
            .app
            .call_with_token(Method::GET, BASE, &self.id_token("fb-user"), None)
            .await;
        assert_eq!(listed.ok()["sessions"], json!([]), "nothing was created");
    }
}

#[tokio::test]
async fn firebase_id_tokens_are_accepted_on_every_rest_route_with_sub_as_the_uid() {
    let fb = firebase_app().await;
    let token = fb.id_token("fb-user");
    let created = fb
        .app
        .call_with_token(
            Method::POST,
            BASE,
            &token,
            Some(json!({ "sessionId": "first", "model": "m" })),
        )
        .await;
    let id = created.ok()["sessionDocId"].as_str().unwrap().to_owned();
    fb.app
        .call_with_token(
            Method::POST,
            &format!("{BASE}/{id}/messages"),
            &token,
            Some(json!({ "prompt": "p", "images": [image("https://img/1")] })),
        )
        .await
        .ok();
    for (method, path, body) in routes(&id) {
        let reply = fb
            .app
            .call_with_token(method.clone(), &path, &token, body)
            .await;
        assert_eq!(reply.status, 200, "{method} {path}: {reply:#?}");
        if path == format!("{BASE}/{id}") && method == Method::GET {
            assert_eq!(
                reply.ok()["session"]["uid"],
                "fb-user",
                "the uid is the sub"
            );
        }
    }
    let listed = fb.app.get(BASE, "fb-user").await;
    let mut names: Vec<&str> = listed.ok()["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessionId"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["new", "s"],
        "an HS256 token for the same uid sees the sessions the Firebase token made"
    );
}

#[tokio::test]
async fn firebase_id_tokens_attach_a_socket_by_header_and_by_auth_frame() {
    let fb = firebase_app().await;
    let id = fb.app.create_session("fb-user", "s").await;
    let url = live_url(&fb.app.address, &id, None);

    let mut by_header = LiveClient::connect(&url, Some(&fb.id_token("fb-user"))).await;
    assert_eq!(by_header.event().await["type"], "snapshot");

    let mut by_frame = LiveClient::connect(&url, None).await;
    let reply = by_frame
        .request("auth", json!({ "token": fb.id_token("fb-user") }))
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["result"]["uid"], "fb-user");
    assert_eq!(by_frame.event().await["type"], "snapshot");

    let added = by_frame
        .request(
            "message.add",
            json!({ "prompt": "p", "images": [image("https://img/1")] }),
        )
        .await;
    assert_eq!(added["ok"], true, "{added}");
    assert_eq!(by_header.event().await["type"], "message.added");

    // A refresh with a token of another kind for the same uid keeps the socket.
    let refreshed = by_frame
        .request("auth", json!({ "token": fb.app.token("fb-user") }))
        .await;
    assert_eq!(refreshed["ok"], true, "{refreshed}");
    let other = by_frame
        .request("auth", json!({ "token": fb.id_token("someone-else") }))
        .await;
    assert_eq!(other["error"]["code"], "unauthenticated", "{other}");
}

#[tokio::test]
async fn a_firebase_token_for_another_audience_is_401() {
    let fb = firebase_app().await;
    let claims = with(
        id_token_claims(PROJECT, "fb-user"),
        json!({ "aud": "other-project" }),
    );
    fb.assert_refused(&fb.key.sign(&claims)).await;
}

#[tokio::test]
async fn a_firebase_token_of_another_issuer_is_401() {
    let fb = firebase_app().await;
    let claims = with(
        id_token_claims(PROJECT, "fb-user"),
        json!({ "iss": "https://securetoken.google.com/other-project" }),
    );
    fb.assert_refused(&fb.key.sign(&claims)).await;
}

#[tokio::test]
async fn an_expired_firebase_token_is_401() {
    let fb = firebase_app().await;
    let claims = with(
        id_token_claims(PROJECT, "fb-user"),
        json!({ "exp": now() - 1, "iat": now() - 3601, "auth_time": now() - 3601 }),
    );
    fb.assert_refused(&fb.key.sign(&claims)).await;
}

#[tokio::test]
async fn a_firebase_token_issued_in_the_future_is_401() {
    let fb = firebase_app().await;
    let claims = with(
        id_token_claims(PROJECT, "fb-user"),
        json!({ "iat": now() + 3600 }),
    );
    fb.assert_refused(&fb.key.sign(&claims)).await;
}

#[tokio::test]
async fn a_firebase_token_signed_in_in_the_future_is_401() {
    let fb = firebase_app().await;
    let claims = with(
        id_token_claims(PROJECT, "fb-user"),
        json!({ "auth_time": now() + 3600 }),
    );
    fb.assert_refused(&fb.key.sign(&claims)).await;
}

#[tokio::test]
async fn a_firebase_token_without_a_kid_is_401() {
    let fb = firebase_app().await;
    let token = fb.key.sign_with(
        Header::new(Algorithm::RS256),
        &id_token_claims(PROJECT, "fb-user"),
    );
    fb.assert_refused(&token).await;
}

#[tokio::test]
async fn a_firebase_token_of_an_unknown_kid_is_401() {
    let fb = firebase_app().await;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("not-published".into());
    let token = fb
        .key
        .sign_with(header, &id_token_claims(PROJECT, "fb-user"));
    fb.assert_refused(&token).await;
}

#[tokio::test]
async fn a_firebase_token_signed_by_another_key_is_401() {
    let fb = firebase_app().await;
    // Another key claiming to be the published one.
    let impostor = SigningKey::rsa(&fb.key.kid);
    fb.assert_refused(&impostor.sign(&id_token_claims(PROJECT, "fb-user")))
        .await;
}

#[tokio::test]
async fn a_firebase_token_with_an_empty_subject_is_401() {
    let fb = firebase_app().await;
    let claims = with(id_token_claims(PROJECT, ""), json!({}));
    fb.assert_refused(&fb.key.sign(&claims)).await;
}

#[tokio::test]
async fn a_firebase_token_with_a_129_character_subject_is_401() {
    let fb = firebase_app().await;
    let long = "u".repeat(129);
    fb.assert_refused(&fb.key.sign(&id_token_claims(PROJECT, &long)))
        .await;
    // 128 is the limit, not past it.
    let at_limit = fb.key.sign(&id_token_claims(PROJECT, &"u".repeat(128)));
    let reply = fb
        .app
        .call_with_token(Method::GET, BASE, &at_limit, None)
        .await;
    reply.ok();
}

#[tokio::test]
async fn an_unsigned_firebase_token_is_401_without_the_emulator_variable() {
    let fb = firebase_app().await;
    fb.assert_refused(&unsigned(&id_token_claims(PROJECT, "fb-user")))
        .await;
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_certificate_as_secret_is_401() {
    let fb = firebase_app().await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(fb.key.kid.clone());
    let token = jsonwebtoken::encode(
        &header,
        &id_token_claims(PROJECT, "fb-user"),
        &EncodingKey::from_secret(fb.key.certificate.as_bytes()),
    )
    .unwrap();
    fb.assert_refused(&token).await;
}

#[tokio::test]
async fn a_session_cookie_whose_issuer_does_not_match_its_keys_is_401() {
    let fb = firebase_app().await;
    // Signed by the session-cookie key but claiming the ID-token issuer…
    let as_id_token = fb.session_key.sign(&id_token_claims(PROJECT, "fb-user"));
    fb.assert_refused(&as_id_token).await;
    // …and signed by an ID-token key but claiming the session-cookie issuer.
    let as_cookie = fb.key.sign(&session_cookie_claims(PROJECT, "fb-user"));
    fb.assert_refused(&as_cookie).await;
    // Either way, in the cookie too.
    for token in [&as_id_token, &as_cookie] {
        let reply = fb
            .app
            .send(
                Method::GET,
                BASE,
                fb.app
                    .client
                    .get(format!("{}{BASE}", fb.app.address))
                    .header("cookie", format!("__session={token}")),
            )
            .await;
        reply.assert_error(401, "unauthenticated");
    }
}

#[tokio::test]
async fn a_session_cookie_works_on_rest_and_on_a_socket_from_a_listed_origin_only() {
    const APP: &str = "https://app.example.com";
    let fb = firebase_app_with(|c| c.auth.cors_origins = Some(APP.to_owned())).await;
    let id = fb.app.create_session("fb-user", "s").await;
    let cookie = format!("theme=dark; __session={}", fb.session_cookie("fb-user"));

    let with_cookie = |origin: Option<&str>| {
        let mut request = fb
            .app
            .client
            .get(format!("{}{BASE}/{id}", fb.app.address))
            .header("cookie", &cookie);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request
    };
    let path = format!("{BASE}/{id}");
    for origin in [Some(APP), None] {
        let reply = fb.app.send(Method::GET, &path, with_cookie(origin)).await;
        assert_eq!(reply.ok()["session"]["uid"], "fb-user", "from {origin:?}");
    }
    let foreign = fb
        .app
        .send(
            Method::GET,
            &path,
            with_cookie(Some("https://evil.example")),
        )
        .await;
    foreign.assert_error(403, "forbidden");

    let url = live_url(&fb.app.address, &id, None);
    let mut tab = LiveClient::connect_with(&url, &[("cookie", &cookie), ("origin", APP)])
        .await
        .unwrap_or_else(|refused| panic!("the upgrade was refused: {refused:?}"));
    assert_eq!(tab.event().await["type"], "snapshot");

    let refused = LiveClient::connect_with(
        &url,
        &[("cookie", &cookie), ("origin", "https://evil.example")],
    )
    .await
    .err()
    .expect("a foreign origin is refused");
    assert_eq!(refused.0, 403);
    assert_eq!(refused.1["data"]["code"], "forbidden");
}

#[tokio::test]
async fn a_cookie_upgrade_without_a_cors_list_is_accepted_only_from_the_servers_own_origin() {
    let fb = firebase_app().await;
    let id = fb.app.create_session("fb-user", "s").await;
    let cookie = format!("__session={}", fb.session_cookie("fb-user"));
    let url = live_url(&fb.app.address, &id, None);
    let own = fb.app.address.clone();
    let mut tab = LiveClient::connect_with(&url, &[("cookie", &cookie), ("origin", &own)])
        .await
        .unwrap_or_else(|refused| panic!("the upgrade was refused: {refused:?}"));
    assert_eq!(tab.event().await["type"], "snapshot");
    let refused = LiveClient::connect_with(
        &url,
        &[("cookie", &cookie), ("origin", "https://other.example")],
    )
    .await
    .err()
    .expect("another site may not use the cookie");
    assert_eq!(refused.0, 403);
    // A bearer token from another site is fine: the page had to hold the token.
    let token = format!("Bearer {}", fb.id_token("fb-user"));
    let mut bearer = LiveClient::connect_with(
        &url,
        &[
            ("authorization", &token),
            ("origin", "https://other.example"),
        ],
    )
    .await
    .unwrap_or_else(|refused| panic!("the upgrade was refused: {refused:?}"));
    assert_eq!(bearer.event().await["type"], "snapshot");
}

/// A token as the Firebase Auth emulator issues it: `alg: none`, no signature.
pub fn unsigned(claims: &Value) -> String {
    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(claims)
    )
}
